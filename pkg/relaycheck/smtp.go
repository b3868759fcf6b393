package relaycheck

import (
	"context"
	"crypto/tls"
	"fmt"
	"net/textproto"
	"strings"
	"time"

	"github.com/cleanmail/cleanmail/pkg/submit"
)

// The probe speaks SMTP over net/textproto rather than go-smtp's client:
// a diagnostic reports every reply, the successful ones too, which
// go-smtp's client does not return.

// SMTP probes the transport t (typ: TypeSMTP or TypeSMTPFallback): it
// resolves and vets the host, connects to the vetted address, reads the
// banner, says EHLO, starts TLS when t.Security requires it (StartTLS) or
// the server offers it (StartTLSMay) and says EHLO again, then MAIL FROM
// the options' Sender and RCPT TO rcpt, and RSET before any DATA: nothing
// is sent. Each step is a line with its time and the server's reply. The
// connection ends within the options' Timeout whatever the server does.
func (c *Checker) SMTP(ctx context.Context, typ string, t Target, rcpt string) Entry {
	r := newReport(typ, fmt.Sprintf("Check of the SMTP relay %s (%s)", hostPort(t.Host, t.port()), transportName(t.Security)))
	if t.Security == submit.TLS {
		return r.fail("implicit TLS is not a transport type of a platform")
	}
	start := time.Now()
	ip, err := c.vet(ctx, t.Host)
	if err != nil {
		return r.fail(c.failure(err, t.Host))
	}
	if ip.String() != t.Host {
		r.line(fmt.Sprintf("Resolved %s to %s (%s)", t.Host, ip, since(start)))
	}
	addr := hostPort(ip.String(), t.port())
	start = time.Now()
	conn, err := c.dial(ctx, ip, t.port())
	if err != nil {
		return r.fail(fmt.Sprintf("cannot connect to %s: %s", addr, c.failure(err, addr)))
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	r.line(fmt.Sprintf("Connected to %s (%s)", addr, since(start)))

	s := &session{c: c, r: r, addr: addr, text: textproto.NewConn(conn)}
	if _, ok := s.step("Banner", "", 220); !ok {
		return r.Entry
	}
	hello := c.opts.HelloName
	if hello == "" {
		hello = "localhost"
	}
	ehlo, ok := s.step("EHLO", "EHLO "+hello, 25)
	if !ok {
		return r.Entry
	}
	offered := hasExtension(ehlo, "STARTTLS")
	switch {
	case t.Security == submit.StartTLS && !offered:
		s.quit()
		return r.fail("the server does not offer STARTTLS, which the transport type requires")
	case t.Security == submit.StartTLSMay && !offered:
		r.line("STARTTLS not offered: the session stays unencrypted (STARTTLS when offered)")
	case t.Security == submit.StartTLS || t.Security == submit.StartTLSMay:
		if _, ok := s.step("STARTTLS", "STARTTLS", 220); !ok {
			return r.Entry
		}
		start := time.Now()
		tc := tls.Client(conn, &tls.Config{ServerName: t.Host, RootCAs: c.opts.RootCAs})
		if err := tc.HandshakeContext(ctx); err != nil {
			return r.fail(fmt.Sprintf("TLS handshake with %s: %s", addr, c.failure(err, addr)))
		}
		st := tc.ConnectionState()
		r.line(fmt.Sprintf("%s, %s, certificate for %s verified (%s)", tls.VersionName(st.Version),
			tls.CipherSuiteName(st.CipherSuite), t.Host, since(start)))
		s.text = textproto.NewConn(tc)
		if _, ok := s.step("EHLO", "EHLO "+hello, 25); !ok {
			return r.Entry
		}
	}
	if _, ok := s.step("MAIL FROM", "MAIL FROM:<"+c.opts.Sender+">", 25); !ok {
		return r.Entry
	}
	if _, ok := s.step("RCPT TO", "RCPT TO:<"+rcpt+">", 25); !ok {
		return r.Entry
	}
	if _, ok := s.step("RSET", "RSET", 25); !ok {
		return r.Entry
	}
	s.quit()
	return r.pass()
}

// session is one probe's dialogue.
type session struct {
	c    *Checker
	r    *report
	addr string
	text *textproto.Conn
}

// step sends cmd (none for the banner), reads the reply, and reports it:
// a line with its time and the reply when it has code, else the Fail line
// (the session then ends: QUIT when the server still answers).
func (s *session) step(name, cmd string, code int) (string, bool) {
	start := time.Now()
	if cmd != "" {
		if err := s.text.PrintfLine("%s", cmd); err != nil {
			s.r.fail(fmt.Sprintf("%s: %s", name, s.c.failure(err, s.addr)))
			return "", false
		}
	}
	got, msg, err := s.text.ReadResponse(code)
	reply := replyText(got, msg)
	if err != nil {
		if _, isProto := err.(*textproto.Error); isProto {
			s.r.line(fmt.Sprintf("%s (%s): %s", label(name, cmd), since(start), reply))
			s.quit()
			s.r.fail(fmt.Sprintf("the server refused %s: %s", name, reply))
			return msg, false
		}
		s.r.fail(fmt.Sprintf("%s: no reply from %s: %s", name, s.addr, s.c.failure(err, s.addr)))
		return "", false
	}
	s.r.line(fmt.Sprintf("%s (%s): %s", label(name, cmd), since(start), reply))
	return msg, true
}

// quit ends the session politely, its reply unreported.
func (s *session) quit() {
	if s.text.PrintfLine("QUIT") == nil {
		_, _, _ = s.text.ReadResponse(221)
	}
}

// label names a step in its line: the command sent, or the step's name.
func label(name, cmd string) string {
	if cmd != "" {
		return cmd
	}
	return name
}

// replyText is a reply on one line: its code, then its lines joined.
func replyText(code int, msg string) string {
	lines := strings.Split(msg, "\n")
	return fmt.Sprintf("%d %s", code, strings.Join(lines, " | "))
}

// hasExtension tells whether an EHLO reply (its lines after the first)
// lists ext.
func hasExtension(ehlo, ext string) bool {
	lines := strings.Split(ehlo, "\n")
	for _, l := range lines[1:] {
		if f := strings.Fields(l); len(f) > 0 && strings.EqualFold(f[0], ext) {
			return true
		}
	}
	return false
}

// transportName is the transport type as a platform spells it.
func transportName(s submit.Security) string {
	switch s {
	case submit.Plain:
		return "SMTP, plain"
	case submit.StartTLS:
		return "SMTPS_ENCRYPT, STARTTLS required"
	case submit.StartTLSMay:
		return "SMTPS_MAY, STARTTLS when offered"
	}
	return s.String()
}

// Transports probes a platform's transport and, when it has one, its
// fallback (checked whatever the first gave: both must work), each an
// entry of its own.
func (c *Checker) Transports(ctx context.Context, main Target, fallback *Target, rcpt string) []Entry {
	out := []Entry{c.SMTP(ctx, TypeSMTP, main, rcpt)}
	if fallback != nil {
		out = append(out, c.SMTP(ctx, TypeSMTPFallback, *fallback, rcpt))
	}
	return out
}
