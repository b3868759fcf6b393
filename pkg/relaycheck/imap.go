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
	port := t.Port
	if port == 0 {
		port = 143
		if t.TLS {
			port = 993
		}
	}
	mode := "plain"
	if t.TLS {
		mode = "TLS"
	}
	r := newReport(typ, fmt.Sprintf("Check of the IMAP server %s (%s)", hostPort(t.Host, port), mode))
	// go-imap's client sets its own deadlines on the connection: the
	// context's end, which closes it, is what bounds the whole check.
	ctx, cancel := context.WithTimeout(ctx, c.timeout())
	defer cancel()
	failure := func(err error, addr string) string {
		if ctx.Err() != nil {
			return "timed out after " + c.timeout().String() + " at " + addr
		}
		return c.failure(err, addr)
	}
	conn, ip, failed := c.open(ctx, r, t.Host, port, t.TLS, t.CertPEM, failure)
	if failed != nil {
		return *failed
	}
	defer conn.Close()
	addr := hostPort(ip.String(), port)
	start := time.Now()
	client := imapclient.New(conn, nil)
	defer client.Close()
	if err := client.WaitGreeting(); err != nil {
		return r.fail(fmt.Sprintf("greeting: no greeting from %s: %s", addr, failure(err, addr)))
	}
	r.line(fmt.Sprintf("Greeting (%s)", since(start)))
	start = time.Now()
	caps, err := client.Capability().Wait()
	if err != nil {
		return r.fail(fmt.Sprintf("CAPABILITY: %s", failure(err, addr)))
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
		return r.fail(fmt.Sprintf("LOGIN %s refused: %s", t.Login, failure(err, addr)))
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

// open connects to host:port (vetted like every target), reports it on r,
// and over TLS when tlsOn (certPEM, when set, the roots that verify the
// server's certificate instead of the options'). The context's end closes
// the connection, which ends whatever waits on it. On failure it returns
// the failed entry.
func (c *Checker) open(ctx context.Context, r *report, host string, port int, tlsOn bool, certPEM string, failure func(error, string) string) (net.Conn, netip.Addr, *Entry) {
	fail := func(why string) (net.Conn, netip.Addr, *Entry) {
		e := r.fail(why)
		return nil, netip.Addr{}, &e
	}
	start := time.Now()
	ip, err := c.vet(ctx, host)
	if err != nil {
		return fail(c.failure(err, host))
	}
	addr := hostPort(ip.String(), port)
	conn, err := c.dial(ctx, ip, port)
	if err != nil {
		return fail(fmt.Sprintf("cannot connect to %s: %s", addr, c.failure(err, addr)))
	}
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	closing := func(why string) (net.Conn, netip.Addr, *Entry) {
		stop()
		conn.Close()
		return fail(why)
	}
	r.line(fmt.Sprintf("Connected to %s (%s)", addr, since(start)))
	roots := c.opts.RootCAs
	if certPEM != "" {
		roots = x509.NewCertPool()
		if !roots.AppendCertsFromPEM([]byte(certPEM)) {
			return closing("the certificate (cert_pem) is not PEM")
		}
	}
	if tlsOn {
		start = time.Now()
		tc := tls.Client(conn, &tls.Config{ServerName: host, RootCAs: roots})
		if err := tc.HandshakeContext(ctx); err != nil {
			return closing(fmt.Sprintf("TLS handshake with %s: %s", addr, failure(err, addr)))
		}
		st := tc.ConnectionState()
		r.line(fmt.Sprintf("%s, %s, certificate for %s verified (%s)", tls.VersionName(st.Version),
			tls.CipherSuiteName(st.CipherSuite), host, since(start)))
		conn = tc
	}
	return conn, ip, nil
}
