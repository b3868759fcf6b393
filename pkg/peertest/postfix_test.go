package peertest

import (
	"bytes"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
)

func TestPostfixDeliversToDovecot(t *testing.T) {
	t.Parallel()
	d := StartDovecot(t)
	p := StartPostfix(t, d)

	// A lone dot and a dot-led line (dot-stuffed on the wire), 8-bit text,
	// a folded header, trailing spaces.
	raw := []byte("From: Alice <alice@example.com>\r\n" +
		"To: someone@example.org, other@another.test\r\n" +
		"Subject: Through Postfix\r\n" +
		"X-Folded: a\r\n\tb  \r\n" +
		"Message-ID: <postfix-1@example.com>\r\n" +
		"Content-Type: text/plain; charset=utf-8\r\n" +
		"\r\n" +
		"Déjà vu.\r\n.\r\n..two dots\r\nend\r\n")
	recipients := []string{"someone@example.org", "other@another.test"}

	conn, err := net.DialTimeout("tcp", p.SMTPAddr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if err := conn.SetDeadline(time.Now().Add(30 * time.Second)); err != nil {
		t.Fatal(err)
	}
	c := smtp.NewClient(conn)
	defer c.Close()
	if err := c.Hello("client.example.com"); err != nil {
		t.Fatal(err)
	}
	if err := c.Mail("alice@example.com", nil); err != nil {
		t.Fatal(err)
	}
	for _, r := range recipients {
		if err := c.Rcpt(r, nil); err != nil {
			t.Fatalf("RCPT TO:<%s>: %v", r, err)
		}
	}
	w, err := c.Data()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(raw); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.Quit(); err != nil {
		t.Fatal(err)
	}
	submitted := time.Now()

	for _, r := range recipients {
		var got [][]byte
		for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(50 * time.Millisecond) {
			if got = d.Messages(t, r, "INBOX"); len(got) > 0 || time.Now().After(deadline) {
				break
			}
		}
		if len(got) != 1 {
			t.Fatalf("%s's INBOX has %d messages %v after submission, want 1", r, len(got), time.Since(submitted))
		}
		t.Logf("in %s's INBOX %v after submission", r, time.Since(submitted).Round(time.Millisecond))
		stored := got[0]
		trace, ok := bytes.CutSuffix(stored, raw)
		if !ok {
			t.Fatalf("%s's copy does not end with the message sent:\n%s", r, stored)
		}
		names := headerNames(string(trace))
		t.Logf("prepended: %v", names)
		for _, n := range names {
			if !slices.Contains([]string{"Return-Path", "Delivered-To", "Received"}, n) {
				t.Errorf("prepended header %s is not a trace header:\n%s", n, trace)
			}
		}
		if names[0] != "Return-Path" || !strings.Contains(string(trace), "(Postfix) with ESMTP") || !strings.Contains(string(trace), "with LMTP") {
			t.Errorf("%s: want Return-Path first, Postfix's and Dovecot's Received:\n%s", r, trace)
		}
	}
}

// headerNames returns the field names of a header block, in order.
func headerNames(header string) []string {
	var names []string
	for _, line := range strings.SplitAfter(header, "\r\n") {
		if line == "" || line[0] == ' ' || line[0] == '\t' {
			continue
		}
		name, _, _ := strings.Cut(line, ":")
		names = append(names, name)
	}
	return names
}
