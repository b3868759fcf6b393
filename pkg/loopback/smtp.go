package loopback

import (
	"bytes"
	"crypto/tls"
	"errors"
	"io"
	"log"
	"net"
	"slices"
	"strings"
	"sync"
	"time"

	gomail "github.com/emersion/go-message/mail"
	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// SMTPOptions configure StartSMTP.
type SMTPOptions struct {
	// Addr is the address to listen on; "127.0.0.1:0" (a free port) when
	// empty.
	Addr string
	// Deliver, when set, is given each message accepted; an error it
	// returns refuses the message (an *smtp.SMTPError as it is, any other
	// as a temporary 451). When nil, messages are only recorded.
	Deliver func(from string, to []string, data []byte) error
	// Reject, when set, refuses the recipients it returns true for, with a
	// 550 (5.1.1).
	Reject func(rcpt string) bool
	// TLS, when set, makes the server offer STARTTLS, or speak TLS from
	// the first byte when ImplicitTLS is set (as on port 465).
	TLS         *tls.Config
	ImplicitTLS bool
	// Username and Password, when Username is set, make AUTH PLAIN
	// required before MAIL (allowed without TLS: this is loopback).
	Username, Password string
	// Domain is the name the server greets with; "localhost" when empty.
	Domain string
	// MaxMessageBytes bounds a message (32 MiB when 0); MaxRecipients the
	// recipients of one (100 when 0).
	MaxMessageBytes int64
	MaxRecipients   int
	// Timeout bounds each read and each write on a connection (one minute
	// when 0).
	Timeout time.Duration
	// ErrorLog receives the server's connection errors; log.Default()
	// when nil.
	ErrorLog *log.Logger
}

// Envelope is a message received: its envelope sender and recipients, its
// bytes as the client sent them (dot-stuffing undone, CRLF kept), and
// whether it came over TLS (STARTTLS or implicit).
type Envelope struct {
	From string
	To   []string
	Data []byte
	TLS  bool
}

// Text is the message's text: its text/plain parts, in order.
func (e Envelope) Text() (string, error) {
	mr, err := gomail.CreateReader(bytes.NewReader(e.Data))
	if err != nil {
		return "", err
	}
	var text strings.Builder
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			return text.String(), nil
		}
		if err != nil {
			return "", err
		}
		if h, ok := p.Header.(*gomail.InlineHeader); ok {
			if ct, _, _ := h.ContentType(); ct == "text/plain" {
				if _, err := io.Copy(&text, p.Body); err != nil {
					return "", err
				}
			}
		}
	}
}

// SMTPServer is an SMTP server on loopback that records what it accepts.
type SMTPServer struct {
	opts   SMTPOptions
	server *smtp.Server
	ln     net.Listener
	served chan struct{}

	mu       sync.Mutex
	received []Envelope
}

// StartSMTP starts an SMTP server with opts, serving until Close.
func StartSMTP(opts SMTPOptions) (*SMTPServer, error) {
	if opts.Addr == "" {
		opts.Addr = "127.0.0.1:0"
	}
	if opts.Domain == "" {
		opts.Domain = "localhost"
	}
	if opts.MaxMessageBytes == 0 {
		opts.MaxMessageBytes = 32 << 20
	}
	if opts.MaxRecipients == 0 {
		opts.MaxRecipients = 100
	}
	if opts.Timeout == 0 {
		opts.Timeout = time.Minute
	}
	if opts.ImplicitTLS && opts.TLS == nil {
		return nil, errors.New("loopback: ImplicitTLS without a TLS configuration")
	}
	ln, err := net.Listen("tcp", opts.Addr)
	if err != nil {
		return nil, err
	}
	if opts.ImplicitTLS {
		ln = tls.NewListener(ln, opts.TLS)
	}
	s := &SMTPServer{opts: opts, ln: ln, served: make(chan struct{})}
	srv := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		return &session{server: s, conn: c}, nil
	}))
	srv.Domain = opts.Domain
	if !opts.ImplicitTLS {
		srv.TLSConfig = opts.TLS
	}
	srv.AllowInsecureAuth = true
	srv.MaxMessageBytes = opts.MaxMessageBytes
	srv.MaxRecipients = opts.MaxRecipients
	srv.ReadTimeout = opts.Timeout
	srv.WriteTimeout = opts.Timeout
	if opts.ErrorLog != nil {
		srv.ErrorLog = opts.ErrorLog
	} else {
		srv.ErrorLog = log.Default()
	}
	s.server = srv
	go func() {
		defer close(s.served)
		_ = srv.Serve(ln)
	}()
	return s, nil
}

// Addr is the address the server listens on ("127.0.0.1:40123").
func (s *SMTPServer) Addr() string { return s.ln.Addr().String() }

// Received is a copy of the messages accepted so far, in order.
func (s *SMTPServer) Received() []Envelope {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Envelope, len(s.received))
	for i, e := range s.received {
		out[i] = Envelope{From: e.From, To: slices.Clone(e.To), Data: bytes.Clone(e.Data), TLS: e.TLS}
	}
	return out
}

// Close stops the server: the listener and every connection are closed.
func (s *SMTPServer) Close() error {
	err := s.server.Close()
	// Serve may not have taken the listener yet (a Close right after
	// StartSMTP): closed here, it returns at its first Accept.
	_ = s.ln.Close()
	<-s.served
	if errors.Is(err, smtp.ErrServerClosed) || errors.Is(err, net.ErrClosed) {
		return nil
	}
	return err
}

// session is one SMTP connection's state.
type session struct {
	server *SMTPServer
	conn   *smtp.Conn
	authed bool
	from   string
	to     []string
}

var _ smtp.AuthSession = (*session)(nil)

func (s *session) AuthMechanisms() []string {
	if s.server.opts.Username == "" {
		return nil
	}
	return []string{sasl.Plain}
}

func (s *session) Auth(mech string) (sasl.Server, error) {
	if mech != sasl.Plain || s.server.opts.Username == "" {
		return nil, smtp.ErrAuthUnknownMechanism
	}
	return sasl.NewPlainServer(func(identity, username, password string) error {
		o := s.server.opts
		if (identity != "" && identity != username) || username != o.Username || password != o.Password {
			return smtp.ErrAuthFailed
		}
		s.authed = true
		return nil
	}), nil
}

func (s *session) Mail(from string, _ *smtp.MailOptions) error {
	if s.server.opts.Username != "" && !s.authed {
		return smtp.ErrAuthRequired
	}
	s.from, s.to = from, nil
	return nil
}

func (s *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	if reject := s.server.opts.Reject; reject != nil && reject(to) {
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "No such recipient here"}
	}
	s.to = append(s.to, to)
	return nil
}

func (s *session) Data(r io.Reader) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return err // too large, or the connection's failure
	}
	if deliver := s.server.opts.Deliver; deliver != nil {
		if err := deliver(s.from, slices.Clone(s.to), bytes.Clone(data)); err != nil {
			var smtpErr *smtp.SMTPError
			if errors.As(err, &smtpErr) {
				return smtpErr
			}
			s.server.server.ErrorLog.Printf("loopback: delivering a message from <%s>: %v", s.from, err)
			return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "Delivery failed; try again later"}
		}
	}
	_, overTLS := s.conn.TLSConnectionState()
	s.server.mu.Lock()
	s.server.received = append(s.server.received, Envelope{From: s.from, To: slices.Clone(s.to), Data: data, TLS: overTLS})
	s.server.mu.Unlock()
	return nil
}

func (s *session) Reset() { s.from, s.to = "", nil }

func (s *session) Logout() error { return nil }
