// Package dnscheck checks a domain's DNS against what the gateway needs:
// its MX records pointing to the gateway, its DKIM key published, its SPF
// record including the gateway's senders, a DMARC record. It asks one
// resolver (miekg/dns), over UDP and again over TCP when the answer is
// truncated, with a deadline on every query; a resolver that does not
// answer is reported in the entries, never a hung request.
package dnscheck

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// Resolver asks the DNS servers of one resolver, in turn.
type Resolver struct {
	servers []string
	timeout time.Duration
}

// NewResolver asks addr (host:port), or the system's resolvers
// (/etc/resolv.conf) when addr is empty; timeout bounds each query (5 s
// when zero).
func NewResolver(addr string, timeout time.Duration) (*Resolver, error) {
	if timeout <= 0 {
		timeout = 5 * time.Second
	}
	r := &Resolver{timeout: timeout}
	if addr != "" {
		if _, _, err := net.SplitHostPort(addr); err != nil {
			return nil, fmt.Errorf("dnscheck: the resolver %q is not host:port", addr)
		}
		r.servers = []string{addr}
		return r, nil
	}
	conf, err := dns.ClientConfigFromFile("/etc/resolv.conf")
	if err != nil || len(conf.Servers) == 0 {
		return nil, fmt.Errorf("dnscheck: no resolver given and none in /etc/resolv.conf: %v", err)
	}
	for _, s := range conf.Servers {
		r.servers = append(r.servers, net.JoinHostPort(s, conf.Port))
	}
	return r, nil
}

// ErrNoAnswer is a resolver that did not answer, or failed (SERVFAIL,
// REFUSED): the name's records are not known.
var ErrNoAnswer = errors.New("the DNS resolver did not answer")

// lookup returns the records of type qtype at name: none for a name that
// does not exist (NXDOMAIN) or has none of that type, ErrNoAnswer (wrapped,
// with the reason) when no server answered.
func (r *Resolver) lookup(ctx context.Context, name string, qtype uint16) ([]dns.RR, error) {
	q := new(dns.Msg)
	q.SetQuestion(dns.Fqdn(name), qtype)
	q.RecursionDesired = true
	var last error = ErrNoAnswer
	for _, server := range r.servers {
		m, err := r.exchange(ctx, q, server)
		if err != nil {
			last = fmt.Errorf("%w (%s)", ErrNoAnswer, reason(err))
			continue
		}
		switch m.Rcode {
		case dns.RcodeSuccess, dns.RcodeNameError:
			var out []dns.RR
			for _, rr := range m.Answer {
				if rr.Header().Rrtype == qtype {
					out = append(out, rr)
				}
			}
			return out, nil
		default:
			last = fmt.Errorf("%w (%s)", ErrNoAnswer, dns.RcodeToString[m.Rcode])
		}
		if ctx.Err() != nil {
			break
		}
	}
	return nil, last
}

// exchange asks one server over UDP, then over TCP if the answer was cut.
func (r *Resolver) exchange(ctx context.Context, q *dns.Msg, server string) (*dns.Msg, error) {
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	m, _, err := (&dns.Client{Net: "udp", Timeout: r.timeout}).ExchangeContext(ctx, q, server)
	if err == nil && !m.Truncated {
		return m, nil
	}
	if err != nil && !errors.Is(err, dns.ErrBuf) {
		return nil, err
	}
	m, _, err = (&dns.Client{Net: "tcp", Timeout: r.timeout}).ExchangeContext(ctx, q, server)
	return m, err
}

func reason(err error) string {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, context.DeadlineExceeded) {
		return "timeout"
	}
	if errors.Is(err, context.Canceled) {
		return "canceled"
	}
	var oe *net.OpError
	if errors.As(err, &oe) {
		return oe.Op + " failed"
	}
	return "no answer"
}

// txt returns the TXT records at name, each one's strings joined (a long
// record is split into strings of 255 bytes).
func (r *Resolver) txt(ctx context.Context, name string) ([]string, error) {
	rrs, err := r.lookup(ctx, name, dns.TypeTXT)
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(rrs))
	for _, rr := range rrs {
		out = append(out, strings.Join(rr.(*dns.TXT).Txt, ""))
	}
	return out, nil
}

// mx returns the targets of the MX records of name, lower-case, without
// the final dot.
func (r *Resolver) mx(ctx context.Context, name string) ([]string, error) {
	rrs, err := r.lookup(ctx, name, dns.TypeMX)
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(rrs))
	for _, rr := range rrs {
		out = append(out, strings.TrimSuffix(strings.ToLower(rr.(*dns.MX).Mx), "."))
	}
	return out, nil
}
