package loopback

import (
	"bufio"
	"errors"
	"io"
	"log"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

var quiet = log.New(io.Discard, "", 0)

func startSMTP(t *testing.T, opts SMTPOptions) *SMTPServer {
	t.Helper()
	opts.ErrorLog = quiet
	s, err := StartSMTP(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// dial is a go-smtp client of s, bounded in time.
func dial(t *testing.T, s *SMTPServer) *smtp.Client {
	t.Helper()
	conn, err := net.DialTimeout("tcp", s.Addr(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	c := smtp.NewClient(conn)
	c.CommandTimeout, c.SubmissionTimeout = 5*time.Second, 5*time.Second
	t.Cleanup(func() { c.Close() })
	return c
}

const data = "Subject: x\r\n\r\n.dot line\r\nbody\r\n"

func send(c *smtp.Client, from string, to []string) error {
	return c.SendMail(from, to, strings.NewReader(data))
}

func TestSMTPRecords(t *testing.T) {
	s := startSMTP(t, SMTPOptions{})
	if !strings.HasPrefix(s.Addr(), "127.0.0.1:") {
		t.Errorf("Addr = %s, want 127.0.0.1:port", s.Addr())
	}
	c := dial(t, s)
	if err := send(c, "a@example.com", []string{"b@example.net", "c@example.net"}); err != nil {
		t.Fatal(err)
	}
	if err := send(c, "", []string{"d@example.net"}); err != nil {
		t.Fatal(err)
	}
	got := s.Received()
	if len(got) != 2 || got[0].From != "a@example.com" || strings.Join(got[0].To, ",") != "b@example.net,c@example.net" ||
		string(got[0].Data) != data || got[0].TLS || got[1].From != "" || got[1].To[0] != "d@example.net" {
		t.Fatalf("Received = %+v", got)
	}
	// A copy: changing it changes nothing recorded.
	got[0].Data[0] = 'X'
	got[0].To[0] = "x"
	if again := s.Received(); again[0].Data[0] != 'S' || again[0].To[0] != "b@example.net" {
		t.Error("Received gives the recorded slices themselves")
	}
}

func TestSMTPDeliver(t *testing.T) {
	var delivered []string
	s := startSMTP(t, SMTPOptions{
		Deliver: func(from string, to []string, b []byte) error {
			switch to[0] {
			case "full@example.net":
				return &smtp.SMTPError{Code: 552, EnhancedCode: smtp.EnhancedCode{5, 2, 2}, Message: "Mailbox full"}
			case "broken@example.net":
				return errors.New("the store is down")
			}
			delivered = append(delivered, from+">"+strings.Join(to, ",")+":"+string(b))
			return nil
		},
		Reject: func(rcpt string) bool { return strings.HasPrefix(rcpt, "nobody@") },
	})
	c := dial(t, s)
	if err := send(c, "a@example.com", []string{"b@example.net"}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		rcpt string
		code int
	}{{"full@example.net", 552}, {"broken@example.net", 451}, {"nobody@example.net", 550}} {
		var smtpErr *smtp.SMTPError
		if err := send(c, "a@example.com", []string{tc.rcpt}); !errors.As(err, &smtpErr) || smtpErr.Code != tc.code {
			t.Errorf("to %s: %v, want %d", tc.rcpt, err, tc.code)
		}
		c.Reset()
	}
	if len(delivered) != 1 || delivered[0] != "a@example.com>b@example.net:"+data {
		t.Errorf("delivered %q", delivered)
	}
	if n := len(s.Received()); n != 1 {
		t.Errorf("%d recorded, want the one delivered", n)
	}
}

func TestSMTPAuth(t *testing.T) {
	s := startSMTP(t, SMTPOptions{Username: "u", Password: "pw"})
	c := dial(t, s)
	var smtpErr *smtp.SMTPError
	if err := send(c, "a@example.com", []string{"b@example.net"}); !errors.As(err, &smtpErr) || smtpErr.EnhancedCode != (smtp.EnhancedCode{5, 7, 0}) {
		t.Errorf("without AUTH: %v, want authentication required", err)
	}
	if err := c.Auth(sasl.NewPlainClient("", "u", "wrong")); err == nil {
		t.Error("AUTH with a wrong password succeeded")
	}
	c = dial(t, s)
	if err := c.Auth(sasl.NewPlainClient("", "u", "pw")); err != nil {
		t.Fatal(err)
	}
	if err := send(c, "a@example.com", []string{"b@example.net"}); err != nil {
		t.Fatal(err)
	}
	if n := len(s.Received()); n != 1 {
		t.Errorf("%d received", n)
	}
}

func TestSMTPLimits(t *testing.T) {
	s := startSMTP(t, SMTPOptions{MaxRecipients: 2, MaxMessageBytes: 16, Timeout: 200 * time.Millisecond})
	c := dial(t, s)
	if err := send(c, "a@example.com", []string{"1@example.net", "2@example.net", "3@example.net"}); err == nil {
		t.Error("a third recipient was accepted")
	}
	c.Reset()
	if err := send(c, "a@example.com", []string{"1@example.net"}); err == nil {
		t.Error("a message over MaxMessageBytes was accepted")
	}
	// An idle client is let go after Timeout.
	conn, err := net.Dial("tcp", s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	r := bufio.NewReader(conn)
	begin := time.Now()
	greeting, _ := r.ReadString('\n')
	bye, _ := r.ReadString('\n')
	if _, err := r.ReadByte(); err == nil || time.Since(begin) > 3*time.Second ||
		!strings.HasPrefix(greeting, "220 localhost") || !strings.HasPrefix(bye, "421") {
		t.Errorf("idle connection: %q, %q, %v after %v", greeting, bye, err, time.Since(begin))
	}
	if n := len(s.Received()); n != 0 {
		t.Errorf("%d received", n)
	}
}

func TestSMTPClose(t *testing.T) {
	s, err := StartSMTP(SMTPOptions{ErrorLog: quiet, Domain: "mx.test"})
	if err != nil {
		t.Fatal(err)
	}
	c := dial(t, s)
	if err := c.Noop(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if err := c.Noop(); err == nil {
		t.Error("a connection outlived Close")
	}
	if conn, err := net.DialTimeout("tcp", s.Addr(), time.Second); err == nil {
		conn.Close()
		t.Error("the server still listens after Close")
	}
	if _, err := StartSMTP(SMTPOptions{ImplicitTLS: true}); err == nil {
		t.Error("ImplicitTLS without TLS started")
	}
}
