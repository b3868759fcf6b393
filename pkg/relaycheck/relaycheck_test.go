package relaycheck

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"log"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cleanmail/cleanmail/pkg/loopback"
	"github.com/cleanmail/cleanmail/pkg/submit"
)

// certs is a self-signed certificate (loopback.SelfSigned): the server's
// configuration and the pool that trusts it alone.
func certs(t *testing.T) (*tls.Config, *x509.CertPool) {
	t.Helper()
	server, roots, err := loopback.SelfSigned()
	if err != nil {
		t.Fatal(err)
	}
	return server, roots
}

func startSMTP(t *testing.T, opts loopback.SMTPOptions) Target {
	t.Helper()
	opts.ErrorLog = log.New(io.Discard, "", 0)
	s, err := loopback.StartSMTP(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return target(t, s.Addr())
}

func target(t *testing.T, addr string) Target {
	t.Helper()
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	n, _ := strconv.Atoi(port)
	return Target{Host: host, Port: n}
}

// counting is a silent server (loopback.StartSilent), which accepts and
// never answers, and counts what it accepts.
func counting(t *testing.T) (Target, *loopback.SilentServer) {
	t.Helper()
	srv, err := loopback.StartSilent()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return target(t, srv.Addr()), srv
}

func lines(e Entry) string { return strings.Join(e.Output, "\n") }

func wantResult(t *testing.T, e Entry, result string, contains ...string) {
	t.Helper()
	if e.Result != result {
		t.Errorf("result %s, want %s; output:\n%s", e.Result, result, lines(e))
	}
	last := e.Output[len(e.Output)-1]
	if result == OK && last != "Passed" || result == Error && !strings.HasPrefix(last, "Fail: ") {
		t.Errorf("last line %q for %s", last, result)
	}
	for _, s := range contains {
		if !strings.Contains(lines(e), s) {
			t.Errorf("output lacks %q:\n%s", s, lines(e))
		}
	}
}

var allowed = Options{AllowPrivate: true, Timeout: 3 * time.Second}

func TestSMTPPlain(t *testing.T) {
	tg := startSMTP(t, loopback.SMTPOptions{Domain: "mx.stark.net"})
	tg.Security = submit.Plain
	e := New(allowed).SMTP(context.Background(), TypeSMTP, tg, "postmaster@stark.net")
	if e.Type != TypeSMTP {
		t.Errorf("type %q", e.Type)
	}
	wantResult(t, e, OK, "Check of the SMTP relay "+tg.Host, "(SMTP, plain)", "Connected to "+tg.Host,
		"Banner (", "220 mx.stark.net", "EHLO localhost (", "250 ", "MAIL FROM:<> (", "RCPT TO:<postmaster@stark.net> (", "RSET (")
	if strings.Contains(lines(e), "STARTTLS") {
		t.Errorf("plain check mentions STARTTLS:\n%s", lines(e))
	}
}

func TestSMTPStartTLS(t *testing.T) {
	server, pool := certs(t)
	tg := startSMTP(t, loopback.SMTPOptions{TLS: server})
	for _, sec := range []submit.Security{submit.StartTLS, submit.StartTLSMay} {
		tg.Security = sec
		opts := allowed
		opts.RootCAs = pool
		opts.Sender = "postmaster@cleanmail.example"
		e := New(opts).SMTP(context.Background(), TypeSMTP, tg, "postmaster@stark.net")
		wantResult(t, e, OK, "STARTTLS (", "220 ", "TLS 1.3", "certificate for 127.0.0.1 verified", "MAIL FROM:<postmaster@cleanmail.example>")
		if n := strings.Count(lines(e), "EHLO localhost"); n != 2 {
			t.Errorf("%v: %d EHLO, want 2 (before and after STARTTLS):\n%s", sec, n, lines(e))
		}
	}
	// A certificate nobody vouches for fails: the system roots do not
	// know this one, and nothing skips verification.
	tg.Security = submit.StartTLS
	e := New(allowed).SMTP(context.Background(), TypeSMTP, tg, "postmaster@stark.net")
	wantResult(t, e, Error, "Fail: TLS handshake", "certificate")
}

func TestSMTPStartTLSNotOffered(t *testing.T) {
	tg := startSMTP(t, loopback.SMTPOptions{})
	tg.Security = submit.StartTLS
	e := New(allowed).SMTP(context.Background(), TypeSMTP, tg, "postmaster@stark.net")
	wantResult(t, e, Error, "does not offer STARTTLS")
	if strings.Contains(lines(e), "MAIL FROM") {
		t.Errorf("went on without the TLS required:\n%s", lines(e))
	}
	tg.Security = submit.StartTLSMay
	e = New(allowed).SMTP(context.Background(), TypeSMTP, tg, "postmaster@stark.net")
	wantResult(t, e, OK, "STARTTLS not offered", "RSET")
}

func TestSMTPRecipientRefused(t *testing.T) {
	tg := startSMTP(t, loopback.SMTPOptions{Reject: func(rcpt string) bool { return rcpt == "nobody@stark.net" }})
	e := New(allowed).SMTP(context.Background(), TypeSMTP, tg, "nobody@stark.net")
	wantResult(t, e, Error, "RCPT TO:<nobody@stark.net> (", "550 5.1.1 No such recipient here",
		"Fail: the server refused RCPT TO: 550 5.1.1 No such recipient here")
}

func TestSMTPClosedPort(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tg := target(t, ln.Addr().String())
	ln.Close()
	e := New(allowed).SMTP(context.Background(), TypeSMTP, tg, "postmaster@stark.net")
	wantResult(t, e, Error, "Fail: cannot connect to "+ln.Addr().String(), "refused")
}

func TestSMTPSilent(t *testing.T) {
	tg, accepted := counting(t)
	opts := allowed
	opts.Timeout = 300 * time.Millisecond
	start := time.Now()
	e := New(opts).SMTP(context.Background(), TypeSMTP, tg, "postmaster@stark.net")
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("a silent relay held the check %v (timeout %v)", took, opts.Timeout)
	}
	wantResult(t, e, Error, "Fail: Banner: no reply", "timed out after 300ms")
	if accepted.Accepted() != 1 {
		t.Errorf("%d connections, want 1", accepted.Accepted())
	}
	// The caller's context bounds it too.
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	opts.Timeout = time.Minute
	start = time.Now()
	e = New(opts).SMTP(ctx, TypeSMTP, tg, "postmaster@stark.net")
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("the context's end did not end the check: %v", took)
	}
	wantResult(t, e, Error, "no reply")
}

func TestTransports(t *testing.T) {
	main := startSMTP(t, loopback.SMTPOptions{})
	fallback, _ := counting(t)
	entries := New(Options{AllowPrivate: true, Timeout: 300 * time.Millisecond}).Transports(context.Background(),
		main, &fallback, "postmaster@stark.net")
	if len(entries) != 2 || entries[0].Type != TypeSMTP || entries[1].Type != TypeSMTPFallback {
		t.Fatalf("entries %+v", entries)
	}
	wantResult(t, entries[0], OK)
	wantResult(t, entries[1], Error, "timed out")
	if Passed(entries) {
		t.Error("Passed with a failing fallback")
	}
	if entries := New(allowed).Transports(context.Background(), main, nil, "postmaster@stark.net"); len(entries) != 1 || !Passed(entries) {
		t.Errorf("without a fallback: %+v", entries)
	}
}

func TestGuard(t *testing.T) {
	tg, accepted := counting(t)
	checker := New(Options{Timeout: time.Second})
	for _, host := range []string{"10.0.0.1", "127.0.0.1", "169.254.1.1", "::1", "::ffff:127.0.0.1", "192.168.1.1", "172.16.0.1", "fe80::1", "fc00::1", "100.64.0.1", "0.0.0.0", "224.0.0.1", "localhost"} {
		e := checker.SMTP(context.Background(), TypeSMTP, Target{Host: host, Port: tg.Port}, "postmaster@stark.net")
		wantResult(t, e, Error, ": refused", "CLEANMAIL_ALLOW_PRIVATE_TARGETS")
	}
	// Even our own listener, on loopback, was not reached.
	if n := accepted.Accepted(); n != 0 {
		t.Fatalf("the guard let %d connections through", n)
	}
	// Allowed, loopback is reached; unspecified and multicast never are.
	e := New(Options{AllowPrivate: true, Timeout: 200 * time.Millisecond}).SMTP(context.Background(), TypeSMTP, tg, "postmaster@stark.net")
	wantResult(t, e, Error, "timed out")
	if n := accepted.Accepted(); n != 1 {
		t.Errorf("allowed: %d connections, want 1", n)
	}
	for _, a := range []string{"0.0.0.0", "::", "224.0.0.1", "ff02::1", "255.255.255.255"} {
		if forbidden(netip.MustParseAddr(a), true) == "" {
			t.Errorf("%s allowed with AllowPrivate", a)
		}
	}
	for _, a := range []string{"192.0.2.1", "8.8.8.8", "2001:db8::1", "2a00:1450::1"} {
		if why := forbidden(netip.MustParseAddr(a), false); why != "" {
			t.Errorf("%s refused: %s", a, why)
		}
	}
}

func TestIMAP(t *testing.T) {
	srv, err := loopback.StartIMAP(loopback.IMAPOptions{MasterUser: "cleanmail", MasterPassword: "secret"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	tg := target(t, srv.Addr())
	checker := New(allowed)
	in := IMAPTarget{Host: tg.Host, Port: tg.Port, Login: "ned@stark.net*cleanmail", Password: "secret"}
	wantResult(t, checker.IMAP(context.Background(), TypeAPI, in), OK, "Greeting (", "CAPABILITY (", "IMAP4rev1", "LOGIN ned@stark.net*cleanmail (")
	if srv.Logins() != 1 {
		t.Errorf("%d logins, want 1", srv.Logins())
	}
	in.Password = "wrong"
	wantResult(t, checker.IMAP(context.Background(), TypeAPI, in), Error, "Fail: LOGIN ned@stark.net*cleanmail refused")
	in.Login = ""
	wantResult(t, checker.IMAP(context.Background(), TypeAuth, in), OK, "No login tried")
	silent, _ := counting(t)
	quick := New(Options{AllowPrivate: true, Timeout: 200 * time.Millisecond})
	wantResult(t, quick.IMAP(context.Background(), TypeAuth, IMAPTarget{Host: silent.Host, Port: silent.Port}), Error, "timed out")
	wantResult(t, New(Options{}).IMAP(context.Background(), TypeAuth, IMAPTarget{Host: "127.0.0.1", Port: tg.Port}), Error, "refused")
	if e := NotChecked(TypeAuth, "ldap authentication provider", "not yet"); e.Result != NotCheckedResult || !Passed([]Entry{e}) || Passed([]Entry{e, {Result: Error}}) {
		t.Errorf("NotChecked %+v", e)
	}
}

// Guard.DialContext, an HTTP transport's dialer: the host vetted, the
// vetted address dialled, no deadline left on the connection.
func TestGuardDialContext(t *testing.T) {
	silent, accepted := counting(t)
	addr := net.JoinHostPort(silent.Host, strconv.Itoa(silent.Port))
	if _, err := (Guard{}).DialContext(context.Background(), "tcp", addr); err == nil || !strings.Contains(err.Error(), "a loopback address: refused") {
		t.Errorf("loopback without AllowPrivate: %v; want refused", err)
	}
	if _, err := (Guard{AllowPrivate: true}).DialContext(context.Background(), "tcp", "127.0.0.1:http-alt"); err == nil {
		t.Error("a port that is no number: dialled")
	}
	if n := accepted.Accepted(); n != 0 {
		t.Fatalf("the guard let %d connections through", n)
	}
	conn, err := (Guard{AllowPrivate: true, Timeout: 50 * time.Millisecond}).DialContext(context.Background(), "tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// Past the guard's Timeout the connection still waits: the HTTP
	// client bounds its requests itself.
	done := make(chan error, 1)
	go func() {
		_, err := conn.Read(make([]byte, 1))
		done <- err
	}()
	select {
	case err := <-done:
		t.Errorf("the read ended (%v) with the connection open: a deadline was left on it", err)
	case <-time.After(200 * time.Millisecond):
		conn.Close()
		<-done
	}
	if n := accepted.Accepted(); n != 1 {
		t.Errorf("allowed: %d connections, want 1", n)
	}
}
