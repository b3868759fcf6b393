package submit

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cleanmail/cleanmail/pkg/fault"
	"github.com/cleanmail/cleanmail/pkg/loopback"
)

// certs is a self-signed certificate (loopback.SelfSigned): the server's
// configuration and a client's that trusts it alone.
func certs(t *testing.T) (server, client *tls.Config) {
	t.Helper()
	server, roots, err := loopback.SelfSigned()
	if err != nil {
		t.Fatal(err)
	}
	return server, &tls.Config{RootCAs: roots}
}

var quiet = log.New(io.Discard, "", 0)

func start(t *testing.T, opts loopback.SMTPOptions) *loopback.SMTPServer {
	t.Helper()
	opts.ErrorLog = quiet
	s, err := loopback.StartSMTP(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// relay is the Relay of a loopback server.
func relay(t *testing.T, addr string, sec Security, tlsConfig *tls.Config) Relay {
	t.Helper()
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	n, _ := strconv.Atoi(port)
	return Relay{Host: host, Port: n, Security: sec, TLSConfig: tlsConfig}
}

// closedPort is an address nothing listens on.
func closedPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// The message: CRLF, and lines that dot-stuffing must carry.
var msg = []byte("From: a@example.com\r\nTo: b@example.net\r\nSubject: dots\r\n\r\n.hidden line\r\n..two dots\r\n.\r\nlast line\r\n")

var sender = &Sender{Timeout: 5 * time.Second, HelloName: "cleanmail.test"}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return c
}

func receivedOne(t *testing.T, s *loopback.SMTPServer, overTLS bool) {
	t.Helper()
	got := s.Received()
	if len(got) != 1 {
		t.Fatalf("%d messages received, want 1", len(got))
	}
	e := got[0]
	// Byte for byte: the dot-stuffing of the client undone by the server.
	if string(e.Data) != string(msg) {
		t.Errorf("received\n%q\nwant\n%q", e.Data, msg)
	}
	if e.From != "a@example.com" || strings.Join(e.To, ",") != "b@example.net,c@example.org" {
		t.Errorf("envelope %s → %v", e.From, e.To)
	}
	if e.TLS != overTLS {
		t.Errorf("over TLS: %v, want %v", e.TLS, overTLS)
	}
}

var to = []string{"b@example.net", "c@example.org"}

func TestSendPlain(t *testing.T) {
	s := start(t, loopback.SMTPOptions{})
	if err := sender.Send(ctx(t), []Relay{relay(t, s.Addr(), Plain, nil)}, "a@example.com", to, msg); err != nil {
		t.Fatal(err)
	}
	receivedOne(t, s, false)
}

func TestSendTLS(t *testing.T) {
	serverTLS, clientTLS := certs(t)
	for _, tc := range []struct {
		name     string
		opts     loopback.SMTPOptions
		security Security
		overTLS  bool
	}{
		{"STARTTLS required", loopback.SMTPOptions{TLS: serverTLS}, StartTLS, true},
		{"STARTTLS may, offered", loopback.SMTPOptions{TLS: serverTLS}, StartTLSMay, true},
		{"STARTTLS may, not offered", loopback.SMTPOptions{}, StartTLSMay, false},
		{"implicit TLS", loopback.SMTPOptions{TLS: serverTLS, ImplicitTLS: true}, TLS, true},
		{"AUTH PLAIN over STARTTLS", loopback.SMTPOptions{TLS: serverTLS, Username: "u", Password: "p w"}, StartTLS, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := start(t, tc.opts)
			r := relay(t, s.Addr(), tc.security, clientTLS)
			r.Username, r.Password = tc.opts.Username, tc.opts.Password
			if err := sender.Send(ctx(t), []Relay{r}, "a@example.com", to, msg); err != nil {
				t.Fatal(err)
			}
			receivedOne(t, s, tc.overTLS)
		})
	}
	t.Run("untrusted certificate", func(t *testing.T) {
		s := start(t, loopback.SMTPOptions{TLS: serverTLS})
		err := sender.Send(ctx(t), []Relay{relay(t, s.Addr(), StartTLS, nil)}, "a@example.com", to, msg)
		if fault.KindOf(err) != fault.PeerFailed || len(s.Received()) != 0 {
			t.Errorf("Send: %v, want a PeerFailed and nothing sent", err)
		}
	})
}

func TestSendFallback(t *testing.T) {
	noTLS := start(t, loopback.SMTPOptions{})
	fallback := start(t, loopback.SMTPOptions{})
	for _, tc := range []struct {
		name  string
		first Relay
	}{
		{"STARTTLS required but not offered", relay(t, noTLS.Addr(), StartTLS, nil)},
		{"port closed", relay(t, closedPort(t), Plain, nil)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := len(fallback.Received())
			err := sender.Send(ctx(t), []Relay{tc.first, relay(t, fallback.Addr(), Plain, nil)}, "a@example.com", to, msg)
			if err != nil {
				t.Fatal(err)
			}
			if n := len(fallback.Received()); n != before+1 {
				t.Errorf("the fallback received %d messages, want %d", n, before+1)
			}
			if n := len(noTLS.Received()); n != 0 {
				t.Errorf("the first relay received %d messages", n)
			}
		})
	}
	t.Run("all unreachable", func(t *testing.T) {
		err := sender.Send(ctx(t), []Relay{relay(t, closedPort(t), Plain, nil), relay(t, noTLS.Addr(), StartTLS, nil)}, "a@example.com", to, msg)
		e, ok := fault.As(err)
		if !ok || e.Kind != fault.PeerFailed || e.Detail != "Unable to reach the SMTP relay; please retry later." {
			t.Errorf("Send: %v, want the SMTP relay's PeerFailure", err)
		}
		if !strings.Contains(err.Error(), "STARTTLS") || !strings.Contains(err.Error(), "refused") {
			t.Errorf("the cause does not tell each relay's failure: %v", err)
		}
	})
	t.Run("no relay", func(t *testing.T) {
		if err := sender.Send(ctx(t), nil, "a@example.com", to, msg); fault.KindOf(err) != fault.PeerFailed {
			t.Errorf("Send: %v, want a PeerFailed", err)
		}
	})
}

// silent accepts connections and never writes; it holds them until the
// test ends.
func silent(t *testing.T) string {
	t.Helper()
	srv, err := loopback.StartSilent()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return srv.Addr()
}

func TestSendSilentRelay(t *testing.T) {
	addr := silent(t)
	fallback := start(t, loopback.SMTPOptions{})
	for _, tc := range []struct {
		name     string
		timeout  time.Duration
		ctx      time.Duration
		fallback bool
	}{
		{"Sender.Timeout", 300 * time.Millisecond, 10 * time.Second, false},
		{"the context's deadline", 10 * time.Second, 300 * time.Millisecond, false},
		{"Sender.Timeout, then the fallback", 300 * time.Millisecond, 10 * time.Second, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, cancel := context.WithTimeout(context.Background(), tc.ctx)
			defer cancel()
			relays := []Relay{relay(t, addr, Plain, nil)}
			if tc.fallback {
				relays = append(relays, relay(t, fallback.Addr(), Plain, nil))
			}
			begin := time.Now()
			err := (&Sender{Timeout: tc.timeout}).Send(c, relays, "a@example.com", to, msg)
			took := time.Since(begin)
			if took > 3*time.Second {
				t.Errorf("Send took %v", took)
			}
			if tc.fallback {
				if err != nil || len(fallback.Received()) != 1 {
					t.Errorf("Send: %v; the fallback received %d", err, len(fallback.Received()))
				}
				return
			}
			if fault.KindOf(err) != fault.PeerFailed {
				t.Errorf("Send: %v, want a PeerFailed", err)
			}
			if took < 250*time.Millisecond {
				t.Errorf("Send ended after %v, before its deadline", took)
			}
		})
	}
}

func TestSendRefused(t *testing.T) {
	s := start(t, loopback.SMTPOptions{Reject: func(rcpt string) bool { return rcpt == "c@example.org" }})
	fallback := start(t, loopback.SMTPOptions{})
	relays := []Relay{relay(t, s.Addr(), Plain, nil), relay(t, fallback.Addr(), Plain, nil)}
	err := sender.Send(ctx(t), relays, "a@example.com", to, msg)
	e, ok := fault.As(err)
	if !ok || e.Kind != fault.Unprocessable || e.Field != "to.1" || e.Detail != "The SMTP relay refused the recipient <c@example.org> (550 5.1.1)." {
		t.Errorf("Send: %#v, want an Unprocessable on to.1", err)
	}
	if len(s.Received()) != 0 || len(fallback.Received()) != 0 {
		t.Errorf("a message was delivered: %d, %d", len(s.Received()), len(fallback.Received()))
	}

	// A refusal of the data itself: over the size limit.
	small := start(t, loopback.SMTPOptions{MaxMessageBytes: 10})
	err = sender.Send(ctx(t), []Relay{relay(t, small.Addr(), Plain, nil), relay(t, fallback.Addr(), Plain, nil)}, "a@example.com", to, msg)
	if e, ok := fault.As(err); !ok || e.Kind != fault.Unprocessable || e.Field != "" || !strings.Contains(e.Detail, "the message (552") {
		t.Errorf("Send of a message too large: %v, want an Unprocessable", err)
	}
	if len(fallback.Received()) != 0 {
		t.Error("the fallback was tried after a permanent refusal")
	}
}

func TestSendAuth(t *testing.T) {
	s := start(t, loopback.SMTPOptions{Username: "relay-user", Password: "s3cret"})
	r := relay(t, s.Addr(), Plain, nil)
	r.Username, r.Password = "relay-user", "s3cret"
	if err := sender.Send(ctx(t), []Relay{r}, "a@example.com", to, msg); err != nil {
		t.Fatal(err)
	}
	receivedOne(t, s, false)

	r.Password = "wrong"
	if err := sender.Send(ctx(t), []Relay{r}, "a@example.com", to, msg); fault.KindOf(err) != fault.PeerFailed {
		t.Errorf("Send with a wrong password: %v, want a PeerFailed", err)
	}
	r.Username = ""
	if err := sender.Send(ctx(t), []Relay{r}, "a@example.com", to, msg); fault.KindOf(err) != fault.PeerFailed {
		t.Errorf("Send without credentials: %v, want a PeerFailed", err)
	}
	// Credentials are sent in clear text to loopback only.
	if !isLoopback("127.0.0.1") || !isLoopback("::1") || !isLoopback("localhost") || isLoopback("relay.example.com") || isLoopback("10.0.0.1") {
		t.Error("isLoopback is wrong")
	}
	if n := len(s.Received()); n != 1 {
		t.Errorf("%d messages received", n)
	}
}

func TestSendInvalid(t *testing.T) {
	r := []Relay{{Host: "127.0.0.1", Port: 1}}
	for _, tc := range []struct {
		from  string
		to    []string
		field string
	}{
		{"a@example.com\r\nRCPT TO:<x@y.z>", to, "from"},
		{"not an address", to, "from"},
		{"a@example.com", nil, "to"},
		{"a@example.com", []string{"b@example.net", "c@example.org>\r\nDATA"}, "to.1"},
		{"a@example.com", []string{" b@example.net"}, "to.0"},
	} {
		err := sender.Send(ctx(t), r, tc.from, tc.to, msg)
		if e, ok := fault.As(err); !ok || e.Kind != fault.Invalid || e.Field != tc.field {
			t.Errorf("Send(%q, %q): %v, want an Invalid on %s", tc.from, tc.to, err, tc.field)
		}
	}
	// The null sender is allowed (a bounce).
	s := start(t, loopback.SMTPOptions{})
	if err := sender.Send(ctx(t), []Relay{relay(t, s.Addr(), Plain, nil)}, "", to[:1], msg); err != nil {
		t.Errorf("Send from <>: %v", err)
	}
}

func TestParseURL(t *testing.T) {
	for _, tc := range []struct {
		url  string
		want Relay
		addr string
	}{
		{"smtp://relay.example.com", Relay{Host: "relay.example.com"}, "relay.example.com:25"},
		{"SMTP://Relay.Example.COM:587?starttls=required", Relay{Host: "relay.example.com", Port: 587, Security: StartTLS}, "relay.example.com:587"},
		{"smtp://u%40x:p%3Aw@10.0.0.1:2525/?starttls=may", Relay{Host: "10.0.0.1", Port: 2525, Security: StartTLSMay, Username: "u@x", Password: "p:w"}, "10.0.0.1:2525"},
		{"smtps://user:pw@[::1]", Relay{Host: "::1", Security: TLS, Username: "user", Password: "pw"}, "[::1]:465"},
		{"smtp://user@relay", Relay{Host: "relay", Username: "user"}, "relay:25"},
	} {
		got, err := ParseURL(tc.url)
		if err != nil || got != tc.want || got.addr() != tc.addr {
			t.Errorf("ParseURL(%q) = %+v (%s), %v; want %+v (%s)", tc.url, got, got.addr(), err, tc.want, tc.addr)
		}
	}
	for _, bad := range []string{
		"", "relay.example.com", "http://relay.example.com", "smtp://", "smtp://relay:0", "smtp://relay:65536", "smtp://relay:x",
		"smtp://relay:", "smtp://relay/path", "smtp://relay?starttls=yes", "smtp://relay?tls=1", "smtps://relay?starttls=may",
		"smtp://-bad-.example.com", "smtp://:pw@relay", "smtp://relay\r\n", "smtp://relay#frag", "smtp://relay?starttls=may&starttls=required",
	} {
		if _, err := ParseURL(bad); !errors.Is(err, fault.ErrInvalid) {
			t.Errorf("ParseURL(%q): %v, want an Invalid", bad, err)
		}
	}
}
