// Package relaycheck implements the health checks of a platform's mail
// servers (5.11.2, 5.11.5, 5.11.6): an SMTP probe of its transport and of
// its fallback (connect, banner, EHLO, STARTTLS, MAIL FROM, RCPT TO, RSET:
// nothing is ever sent), and a login to its IMAP servers, each reported as
// an Entry worded like the doc's diagnostics. Every target goes through a
// guard first: loopback, link-local and private addresses are refused
// unless Options.AllowPrivate, so that the checks cannot be used to scan
// the internal network; the connection goes to the vetted address itself.
package relaycheck

import (
	"context"
	"crypto/x509"
	"errors"
	"net"
	"net/netip"
	"os"
	"strconv"
	"time"

	"github.com/cleanmail/cleanmail/pkg/submit"
)

// The results of an Entry, as the doc spells them.
const (
	OK    = "OK"
	Error = "ERROR"
	// NotCheckedResult: the check is not performed (NotChecked); it does
	// not fail the report, and says so.
	NotCheckedResult = "NOT_CHECKED"
)

// The types of the entries.
const (
	TypeSMTP         = "SMTP"          // the platform's transport
	TypeSMTPFallback = "SMTP_FALLBACK" // its fallback transport
	TypeAuth         = "AUTH"          // its authentication provider (authType)
	TypeAPI          = "API"           // its remediation API (apiType)
)

// Entry is one check's report: its type, OK or ERROR, and what was done,
// one line a step, the last "Passed" or "Fail: …" (the doc's wording).
type Entry struct {
	Type   string
	Result string
	Output []string
}

// Options configure a Checker.
type Options struct {
	// AllowPrivate lets the checks reach loopback, link-local and private
	// addresses (CLEANMAIL_ALLOW_PRIVATE_TARGETS); refused when false.
	AllowPrivate bool
	// Timeout bounds each connection, from the lookup of its host to its
	// last reply; 10 seconds when 0.
	Timeout time.Duration
	// HelloName is the name given in EHLO; "localhost" when empty.
	HelloName string
	// Sender is the probe's envelope sender (MAIL FROM); the null sender
	// <> when empty, as address verification callouts use.
	Sender string
	// RootCAs verify the servers' certificates; the system roots when nil.
	// (Tests trust their self-signed certificate through it; there is no
	// way to skip verification.)
	RootCAs *x509.CertPool
	// Resolver resolves host names; net.DefaultResolver when nil.
	Resolver *net.Resolver
	// EntraAuthority is where the entra checks find their tenants'
	// configurations; EntraAuthority (Microsoft's) when empty.
	EntraAuthority string
	// Only, when set, narrows the guard further: an address it refuses is
	// refused too (the tests keep every check on loopback with it).
	Only func(netip.Addr) bool
}

// Checker runs the checks.
type Checker struct{ opts Options }

// New returns a Checker with opts.
func New(opts Options) *Checker { return &Checker{opts: opts} }

func (c *Checker) timeout() time.Duration {
	if c.opts.Timeout > 0 {
		return c.opts.Timeout
	}
	return 10 * time.Second
}

// Target is an SMTP server to probe.
type Target struct {
	Host     string
	Port     int // 25 when 0
	Security submit.Security
}

func (t Target) port() int {
	if t.Port == 0 {
		return 25
	}
	return t.Port
}

// Passed is true when no entry is an ERROR: the report's status (a check
// not performed neither passes nor fails it).
func Passed(entries []Entry) bool {
	for _, e := range entries {
		if e.Result == Error {
			return false
		}
	}
	return true
}

// report accumulates the lines of one entry.
type report struct {
	Entry
	start time.Time
}

func newReport(typ, first string) *report {
	return &report{Entry: Entry{Type: typ, Result: Error, Output: []string{first}}, start: time.Now()}
}

func (r *report) line(s string) { r.Output = append(r.Output, s) }

func (r *report) pass() Entry {
	r.Result = OK
	r.line("Passed")
	return r.Entry
}

func (r *report) fail(why string) Entry {
	r.Result = Error
	r.line("Fail: " + why)
	return r.Entry
}

// since is the time a step took, as the lines show it.
func since(t time.Time) string {
	d := time.Since(t)
	if d >= time.Millisecond {
		return d.Round(100 * time.Microsecond).String()
	}
	return d.Round(time.Microsecond).String()
}

// failure words a connection's error for a Fail line.
func (c *Checker) failure(err error, addr string) string {
	var refused *Refused
	switch {
	case errors.As(err, &refused):
		return refused.Error() + " (set CLEANMAIL_ALLOW_PRIVATE_TARGETS to allow internal targets)"
	case errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, context.DeadlineExceeded):
		return "timed out after " + c.timeout().String() + " at " + addr
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return "timed out after " + c.timeout().String() + " at " + addr
	}
	return err.Error()
}

func hostPort(host string, port int) string { return net.JoinHostPort(host, strconv.Itoa(port)) }
