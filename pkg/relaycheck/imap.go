package relaycheck

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/emersion/go-imap/v2/imapclient"
)

// IMAPTarget is an IMAP server to log in to: an authentication provider
// (authType imap: no account, so no login) or a remediation API (apiType
// IMAP: its login and password).
type IMAPTarget struct {
	Host string
	Port int // 993 with TLS, else 143, when 0
	TLS  bool
	// CertPEM, when set, are the roots that verify the server's
	// certificate instead of the options' (a platform's cert_pem).
	CertPEM string
	// Login and Password, when Login is set, are tried (LOGIN); a password
	// is sent only over TLS, or in clear to loopback.
	Login, Password string
}

// IMAP connects to t (vetted like every target), reads the greeting,
// asks for the capabilities and, when t has a login, logs in and out.
func (c *Checker) IMAP(ctx context.Context, typ string, t IMAPTarget) Entry {
	// go-imap's client sets its own deadlines on the connection: the
	// probe's end, which closes it, is what bounds the whole check.
	ss, failed := c.start(ctx, typ, server{kind: "IMAP", host: t.Host, port: t.Port, plainPort: 143, tlsPort: 993, tls: t.TLS, certPEM: t.CertPEM})
	if failed != nil {
		return *failed
	}
	defer ss.close()
	r, addr, conn, ip := ss.r, ss.addr, ss.conn, ss.ip
	start := time.Now()
	client := imapclient.New(conn, nil)
	defer client.Close()
	if err := client.WaitGreeting(); err != nil {
		return r.fail(fmt.Sprintf("greeting: no greeting from %s: %s", addr, ss.failure(err)))
	}
	r.line(fmt.Sprintf("Greeting (%s)", since(start)))
	start = time.Now()
	caps, err := client.Capability().Wait()
	if err != nil {
		return r.fail(fmt.Sprintf("CAPABILITY: %s", ss.failure(err)))
	}
	list := ""
	for cp := range caps {
		list += " " + string(cp)
	}
	r.line(fmt.Sprintf("CAPABILITY (%s):%s", since(start), list))
	if t.Login == "" {
		r.line("No login tried: the settings name no account")
		_ = client.Logout().Wait()
		return r.pass()
	}
	if !t.TLS && !ip.IsLoopback() {
		return r.fail("refusing to send the password unencrypted (set use_ssl)")
	}
	start = time.Now()
	if err := client.Login(t.Login, t.Password).Wait(); err != nil {
		return r.fail(fmt.Sprintf("LOGIN %s refused: %s", t.Login, ss.failure(err)))
	}
	r.line(fmt.Sprintf("LOGIN %s (%s): OK", t.Login, since(start)))
	_ = client.Logout().Wait()
	return r.pass()
}

// NotChecked is the entry of a check not performed (an ldap, oidc or
// entra provider, an EXCHANGE or O365 API, settings without a host):
// neither OK nor ERROR, saying why.
func NotChecked(typ, what, why string) Entry {
	return Entry{Type: typ, Result: NotCheckedResult, Output: []string{
		"Check of the " + what,
		"Not checked: " + why,
	}}
}

// probe is a login check's connection to one server: its report, its
// context (the check's deadline; its end closes the connection, which
// ends whatever waits on it) and the vetted address connected to.
type probe struct {
	c      *Checker
	ctx    context.Context
	cancel context.CancelFunc
	r      *report
	conn   net.Conn
	ip     netip.Addr
	addr   string
}

// close closes the connection and ends the probe's context.
func (s *probe) close() {
	if s.conn != nil {
		s.conn.Close()
	}
	s.cancel()
}

// failure words an error of the probe for a Fail line. The
// connection's deadline is the context's: past it, whatever the error
// says (go-ldap flattens the network error into text), the check ran out
// of time.
func (s *probe) failure(err error) string {
	if s.timedOut() {
		return "timed out after " + s.c.timeout().String() + " at " + s.addr
	}
	return s.c.failure(err, s.addr)
}

// timedOut tells whether the probe's deadline has passed.
func (s *probe) timedOut() bool {
	dl, ok := s.ctx.Deadline()
	return s.ctx.Err() != nil || ok && !time.Now().Before(dl)
}

// server is what a login check connects to: the server's kind for the
// report ("IMAP", "LDAP"), its host and port (the kind's plain or TLS
// port when 0), TLS from the first byte, and cert_pem, the roots that
// verify its certificate instead of the options' when set.
type server struct {
	kind               string
	host               string
	port               int
	plainPort, tlsPort int
	tls                bool
	certPEM            string
}

// start opens the probe of s: the report's first line, the lookup of its
// host (vetted like every target), the connection, the TLS handshake,
// each reported. On failure it returns the failed entry; otherwise the
// caller closes the probe.
func (c *Checker) start(ctx context.Context, typ string, s server) (*probe, *Entry) {
	if s.port == 0 {
		s.port = s.plainPort
		if s.tls {
			s.port = s.tlsPort
		}
	}
	mode := "plain"
	if s.tls {
		mode = "TLS"
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout())
	ss := &probe{c: c, ctx: ctx, cancel: cancel, r: newReport(typ, fmt.Sprintf("Check of the %s server %s (%s)", s.kind, hostPort(s.host, s.port), mode))}
	fail := func(why string) (*probe, *Entry) {
		ss.close()
		e := ss.r.fail(why)
		return nil, &e
	}
	begin := time.Now()
	ip, err := c.vet(ctx, s.host)
	if err != nil {
		return fail(c.failure(err, s.host))
	}
	ss.ip, ss.addr = ip, hostPort(ip.String(), s.port)
	conn, err := c.dial(ctx, ip, s.port)
	if err != nil {
		return fail(fmt.Sprintf("cannot connect to %s: %s", ss.addr, c.failure(err, ss.addr)))
	}
	ss.conn = conn
	context.AfterFunc(ctx, func() { conn.Close() }) // ctx ends at close, at the latest
	ss.r.line(fmt.Sprintf("Connected to %s (%s)", ss.addr, since(begin)))
	roots := c.opts.RootCAs
	if s.certPEM != "" {
		roots = x509.NewCertPool()
		if !roots.AppendCertsFromPEM([]byte(s.certPEM)) {
			return fail("the certificate (cert_pem) is not PEM")
		}
	}
	if s.tls {
		begin = time.Now()
		tc := tls.Client(conn, &tls.Config{ServerName: s.host, RootCAs: roots})
		if err := tc.HandshakeContext(ctx); err != nil {
			return fail(fmt.Sprintf("TLS handshake with %s: %s", ss.addr, ss.failure(err)))
		}
		st := tc.ConnectionState()
		ss.r.line(fmt.Sprintf("%s, %s, certificate for %s verified (%s)", tls.VersionName(st.Version),
			tls.CipherSuiteName(st.CipherSuite), s.host, since(begin)))
		ss.conn = tc
	}
	return ss, nil
}
