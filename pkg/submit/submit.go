// Package submit submits messages over SMTP (go-smtp's client) to the
// relays the gateway sends through: release, send, and the relay checks'
// probes. A relay that cannot take the message now (down, slow, without
// the TLS it must have, refusing us for the time being) gives way to the
// next; a refusal of the message or of a recipient ends the submission
// there. Failures are *fault.Error.
package submit

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/cleanmail/cleanmail/pkg/fault"
	"github.com/cleanmail/cleanmail/pkg/names"
)

// Peer is the name the failures of the relays give them.
const Peer = "the SMTP relay"

// Security is how a connection to a relay is protected.
type Security int

const (
	// Plain: no TLS (the zero value; smtp:// without starttls).
	Plain Security = iota
	// StartTLS: STARTTLS required; a relay that does not offer it is
	// unreachable (?starttls=required).
	StartTLS
	// StartTLSMay: STARTTLS when the relay offers it, plain otherwise
	// (?starttls=may). When offered, the certificate is verified as for
	// StartTLS.
	StartTLSMay
	// TLS: implicit TLS from the first byte (smtps://).
	TLS
)

func (s Security) String() string {
	switch s {
	case Plain:
		return "plain"
	case StartTLS:
		return "STARTTLS"
	case StartTLSMay:
		return "STARTTLS when offered"
	case TLS:
		return "TLS"
	}
	return "security " + strconv.Itoa(int(s))
}

// Relay is an SMTP server to submit to.
type Relay struct {
	Host     string
	Port     int // 25 when 0 (465 with TLS)
	Security Security
	// Username and Password, when Username is set, authenticate with AUTH
	// PLAIN. They are never sent unencrypted to a host other than a
	// loopback address: such a relay fails as unreachable.
	Username, Password string
	// TLSConfig is used for STARTTLS and TLS; nil means the system roots
	// and ServerName Host (a ServerName left empty is Host too).
	TLSConfig *tls.Config
}

func (r Relay) addr() string {
	port := r.Port
	if port == 0 {
		port = 25
		if r.Security == TLS {
			port = 465
		}
	}
	return net.JoinHostPort(r.Host, strconv.Itoa(port))
}

func (r Relay) tlsConfig() *tls.Config {
	if r.TLSConfig == nil {
		return &tls.Config{ServerName: r.Host}
	}
	c := r.TLSConfig.Clone()
	if c.ServerName == "" {
		c.ServerName = r.Host
	}
	return c
}

// ParseURL reads a relay's URL: smtp://[user:pass@]host[:port][?starttls=
// required|may] (port 25 by default, Plain without starttls) or
// smtps://[user:pass@]host[:port] (implicit TLS, port 465 by default). The
// user and password are percent-decoded; host is a host name or an IP
// address ([::1] for IPv6). Anything else is a fault.Invalid on "url".
func ParseURL(s string) (Relay, error) {
	bad := func(format string, args ...any) (Relay, error) {
		return Relay{}, fault.Invalidf("url", format, args...)
	}
	if strings.ContainsAny(s, "\r\n\x00") {
		return bad("The relay URL may not contain a line break or a NUL.")
	}
	u, err := url.Parse(s)
	if err != nil {
		return bad("%q is not a valid relay URL (smtp://host:port or smtps://host:port).", s)
	}
	var r Relay
	switch strings.ToLower(u.Scheme) {
	case "smtp":
		r.Security = Plain
	case "smtps":
		r.Security = TLS
	default:
		return bad("The relay URL %q has the scheme %q, not smtp or smtps.", s, u.Scheme)
	}
	if u.Opaque != "" || (u.Path != "" && u.Path != "/") || u.Fragment != "" {
		return bad("The relay URL %q has a path; only smtp://host:port is allowed.", s)
	}
	host := u.Hostname()
	if ip, err := netip.ParseAddr(host); err == nil {
		r.Host = ip.String()
	} else if h, err := names.Host(host); err == nil {
		r.Host = h
	} else {
		return bad("The relay URL %q has no valid host: %v", s, err)
	}
	if p := u.Port(); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return bad("The relay URL %q has an invalid port %q.", s, p)
		}
		r.Port = n
	} else if strings.HasSuffix(u.Host, ":") {
		return bad("The relay URL %q has an empty port.", s)
	}
	if u.User != nil {
		r.Username = u.User.Username()
		r.Password, _ = u.User.Password()
		if r.Username == "" {
			return bad("The relay URL %q has a password but no user name.", s)
		}
	}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return bad("The relay URL %q has an invalid query.", s)
	}
	for k, v := range q {
		if k != "starttls" || len(v) != 1 {
			return bad("The relay URL %q has an unknown parameter %q (only starttls=required or starttls=may).", s, k)
		}
		if r.Security == TLS {
			return bad("The relay URL %q asks for STARTTLS over smtps, which is TLS already.", s)
		}
		switch strings.ToLower(v[0]) {
		case "required":
			r.Security = StartTLS
		case "may":
			r.Security = StartTLSMay
		default:
			return bad("The relay URL %q has starttls=%q, not required or may.", s, v[0])
		}
	}
	return r, nil
}

// Sender submits messages.
type Sender struct {
	// Timeout bounds the whole exchange with one relay (connection, TLS,
	// the message); 30 seconds when 0. The context given to Send bounds
	// it too, whichever ends first.
	Timeout time.Duration
	// HelloName is the name given in EHLO; "localhost" when empty.
	HelloName string
}

// Send submits msg (the message as it is to be received, with CRLF line
// endings: go-smtp's writer sends a bare LF as CRLF, and does the
// dot-stuffing) from the envelope sender from ("" for
// the null sender) to the recipients to, through the first relay of
// relays that takes it.
//
// A relay is passed over for the next when it is unreachable: the
// connection refused or cut before the message was accepted, the time
// out, TLS required but not offered or failing, AUTH refused or required
// (530, 5.7.0 at MAIL), or a temporary (4xx) answer to any command. All of them passed over is
// fault.PeerFailure(Peer, …), as is the end of ctx.
//
// A permanent refusal (5xx) of the sender, of a recipient or of the
// message (its size, at MAIL or after the data) ends Send at once with a fault.Unprocessable: the input was
// well-formed, and the relay would not take it (a 5xx of a recipient is
// the relay's verdict on an address, not the caller's mistake). Its Field
// is "from", "to.N" (N indexing to) or "" for the message, its Detail the
// reply code, the relay's text in the log only. Nothing is sent when any
// recipient is refused: the transaction is abandoned.
//
// from and to are checked first (names.Mailbox): a bad one is a
// fault.Invalid, as is an empty to.
func (s *Sender) Send(ctx context.Context, relays []Relay, from string, to []string, msg []byte) error {
	if from != "" {
		if _, err := names.Mailbox(from); err != nil || strings.TrimSpace(from) != from {
			return fault.Invalidf("from", "%q is not a valid e-mail address.", from)
		}
	}
	if len(to) == 0 {
		return fault.Invalidf("to", "The message needs at least one recipient.")
	}
	for i, rcpt := range to {
		if _, err := names.Mailbox(rcpt); err != nil || strings.TrimSpace(rcpt) != rcpt {
			return fault.Invalidf(fmt.Sprintf("to.%d", i), "%q is not a valid e-mail address.", rcpt)
		}
	}
	if len(relays) == 0 {
		return fault.PeerFailure(Peer, errors.New("no SMTP relay is configured"))
	}
	var failures []error
	for _, r := range relays {
		err := s.sendOne(ctx, r, from, to, msg)
		if err == nil {
			return nil
		}
		var refused *fault.Error
		if errors.As(err, &refused) {
			return refused
		}
		failures = append(failures, fmt.Errorf("%s (%s): %w", r.addr(), r.Security, err))
		if ctx.Err() != nil {
			break
		}
	}
	return fault.PeerFailure(Peer, errors.Join(failures...))
}

// sendOne submits through one relay. A refusal that ends Send is a
// *fault.Error; any other error passes the relay over.
func (s *Sender) sendOne(ctx context.Context, r Relay, from string, to []string, msg []byte) error {
	timeout := s.Timeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	c, err := s.connect(ctx, r, r.Security)
	if err != nil {
		return err
	}
	defer c.Close()
	if r.Security == StartTLSMay {
		if ok, _ := c.Extension("STARTTLS"); ok {
			// Offered: go-smtp starts TLS on a new connection only.
			_ = c.Quit()
			if c, err = s.connect(ctx, r, StartTLS); err != nil {
				return err
			}
			defer c.Close()
		}
	}
	_, encrypted := c.TLSConnectionState()
	if r.Username != "" {
		if !encrypted && !isLoopback(r.Host) {
			return errors.New("refusing to send the relay's credentials unencrypted")
		}
		if err := c.Auth(sasl.NewPlainClient("", r.Username, r.Password)); err != nil {
			return fmt.Errorf("AUTH PLAIN: %w", err)
		}
	}
	if err := c.Mail(from, &smtp.MailOptions{Size: int64(len(msg))}); err != nil {
		var smtpErr *smtp.SMTPError
		if errors.As(err, &smtpErr) {
			switch {
			case smtpErr.Code == 530 || smtpErr.EnhancedCode == smtp.EnhancedCode{5, 7, 0}:
				// Authentication required: our configuration of the
				// relay, not the sender, is at fault.
				return err
			case smtpErr.Code == 552:
				// The SIZE declared is over the relay's limit.
				return refusal(err, "", "the message")
			}
		}
		return refusal(err, "from", "the sender <"+from+">")
	}
	for i, rcpt := range to {
		if err := c.Rcpt(rcpt, nil); err != nil {
			return refusal(err, fmt.Sprintf("to.%d", i), "the recipient <"+rcpt+">")
		}
	}
	w, err := c.Data()
	if err != nil {
		return refusal(err, "", "the message")
	}
	if _, err := w.Write(msg); err != nil {
		return fmt.Errorf("writing the message: %w", err)
	}
	if err := w.Close(); err != nil {
		return refusal(err, "", "the message")
	}
	_ = c.Quit() // the message is accepted: the rest is courtesy
	return nil
}

// connect opens an SMTP session with r, greeted and introduced, under
// security (Plain for a first look at a StartTLSMay relay). The
// connection is closed when ctx ends, which bounds every exchange on it.
func (s *Sender) connect(ctx context.Context, r Relay, security Security) (*smtp.Client, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", r.addr())
	if err != nil {
		return nil, err
	}
	// go-smtp sets its own deadline per command: closing the connection
	// is what holds the whole exchange to ctx.
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	fail := func(err error) (*smtp.Client, error) {
		stop()
		conn.Close()
		if ctx.Err() != nil {
			return nil, fmt.Errorf("%w (%v)", ctx.Err(), err)
		}
		return nil, err
	}
	left := time.Until(deadline(ctx))
	var c *smtp.Client
	switch security {
	case TLS:
		tc := tls.Client(conn, r.tlsConfig())
		if err := tc.HandshakeContext(ctx); err != nil {
			return fail(fmt.Errorf("TLS: %w", err))
		}
		c = smtp.NewClient(tc)
	case StartTLS:
		c, err = smtp.NewClientStartTLS(conn, r.tlsConfig())
		if err != nil {
			return fail(fmt.Errorf("STARTTLS: %w", err))
		}
	default:
		c = smtp.NewClient(conn)
	}
	c.CommandTimeout, c.SubmissionTimeout = left, left
	name := s.HelloName
	if name == "" {
		name = "localhost"
	}
	if err := c.Hello(name); err != nil {
		// After STARTTLS, this EHLO is the first exchange under TLS: a
		// failed handshake shows here.
		return fail(err)
	}
	return c, nil
}

func deadline(ctx context.Context) time.Time {
	d, _ := ctx.Deadline() // always set: sendOne bounds ctx
	return d
}

// refusal is what an error of a command means: a permanent refusal (5xx)
// of what, reported at once, or a failure of the relay.
func refusal(err error, field, what string) error {
	var smtpErr *smtp.SMTPError
	if !errors.As(err, &smtpErr) || smtpErr.Code < 500 || smtpErr.Code > 599 {
		return err
	}
	code := strconv.Itoa(smtpErr.Code)
	if e := smtpErr.EnhancedCode; e != smtp.EnhancedCodeNotSet && e != smtp.NoEnhancedCode {
		code += fmt.Sprintf(" %d.%d.%d", e[0], e[1], e[2])
	}
	return &fault.Error{
		Kind:   fault.Unprocessable,
		Field:  field,
		Detail: fmt.Sprintf("The SMTP relay refused %s (%s).", what, code),
		Err:    err,
	}
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}
