package relaycheck

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"syscall"
	"time"
)

// Refused is the error of a target the guard does not let the checks
// reach: its text says why, in words safe to show.
type Refused struct {
	Host string
	Addr netip.Addr
	Why  string
}

func (e *Refused) Error() string {
	if e.Host != "" && e.Host != e.Addr.String() {
		return fmt.Sprintf("%s (%s) is %s: refused", e.Host, e.Addr, e.Why)
	}
	return fmt.Sprintf("%s is %s: refused", e.Addr, e.Why)
}

var (
	thisNetwork = netip.MustParsePrefix("0.0.0.0/8")      // "this network" (RFC 791)
	sharedSpace = netip.MustParsePrefix("100.64.0.0/10")  // carrier-grade NAT (RFC 6598)
	broadcast   = netip.MustParseAddr("255.255.255.255")  // limited broadcast
	benchmark   = netip.MustParsePrefix("198.18.0.0/15")  // network benchmarks (RFC 2544)
	reserved    = netip.MustParsePrefix("240.0.0.0/4")    // reserved (RFC 1112)
	nat64Local  = netip.MustParsePrefix("64:ff9b:1::/48") // local-use NAT64 (RFC 8215)
)

// Guard is the target guard, for the checks here and for whatever else
// connects to a customer's servers (pkg/remediate): it resolves a host,
// refuses the addresses it may not reach, and connects to the vetted
// address itself, with a deadline on the connection.
type Guard struct {
	// AllowPrivate lets it reach loopback, link-local and private
	// addresses (CLEANMAIL_ALLOW_PRIVATE_TARGETS); refused when false.
	AllowPrivate bool
	// Only, when set, narrows it further: an address it refuses is
	// refused too.
	Only func(netip.Addr) bool
	// Timeout bounds a lookup, a connection attempt, and the deadline set
	// on the connection; 10 seconds when 0.
	Timeout time.Duration
	// Resolver resolves host names; net.DefaultResolver when nil.
	Resolver *net.Resolver
}

// guard is the Checker's guard, from its options.
func (c *Checker) guard() Guard {
	return Guard{AllowPrivate: c.opts.AllowPrivate, Only: c.opts.Only, Timeout: c.timeout(), Resolver: c.opts.Resolver}
}

func (c *Checker) vet(ctx context.Context, host string) (netip.Addr, error) {
	return c.guard().Vet(ctx, host)
}

func (c *Checker) dial(ctx context.Context, addr netip.Addr, port int) (net.Conn, error) {
	return c.guard().Dial(ctx, addr, port)
}

func (g Guard) timeout() time.Duration {
	if g.Timeout > 0 {
		return g.Timeout
	}
	return 10 * time.Second
}

// Forbidden says why the guard may not reach addr ("" when it may).
// Loopback, link-local and private addresses (and the other internal
// ranges) are let through by AllowPrivate; unspecified, multicast and
// broadcast addresses never are (no TCP peer is there).
func (g Guard) Forbidden(addr netip.Addr) string {
	if why := forbidden(addr, g.AllowPrivate); why != "" {
		return why
	}
	if g.Only != nil && !g.Only(addr.Unmap()) {
		return "outside the targets this server may reach"
	}
	return ""
}

func forbidden(addr netip.Addr, allowPrivate bool) string {
	addr = addr.Unmap() // ::ffff:127.0.0.1 is 127.0.0.1
	switch {
	case !addr.IsValid():
		return "not an address"
	case addr.IsUnspecified():
		return "an unspecified address"
	case addr.IsMulticast() || addr == broadcast:
		return "a multicast or broadcast address"
	case allowPrivate:
		return ""
	case addr.IsLoopback():
		return "a loopback address"
	case addr.IsLinkLocalUnicast():
		return "a link-local address"
	case addr.IsPrivate():
		return "a private address"
	case thisNetwork.Contains(addr) || sharedSpace.Contains(addr) || benchmark.Contains(addr) ||
		reserved.Contains(addr) || nat64Local.Contains(addr):
		return "an internal or reserved address"
	}
	return ""
}

// Vet resolves host (an IP address or a name) within the guard's Timeout
// and returns the first of its addresses the guard lets through; when
// none is, a *Refused naming the first address found.
func (g Guard) Vet(ctx context.Context, host string) (netip.Addr, error) {
	if ip, err := netip.ParseAddr(host); err == nil {
		if why := g.Forbidden(ip); why != "" {
			return netip.Addr{}, &Refused{Host: host, Addr: ip.Unmap(), Why: why}
		}
		return ip.Unmap(), nil
	}
	ctx, cancel := context.WithTimeout(ctx, g.timeout())
	defer cancel()
	addrs, err := g.resolver().LookupNetIP(ctx, "ip", host)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("cannot resolve %s: %w", host, err)
	}
	if len(addrs) == 0 {
		return netip.Addr{}, fmt.Errorf("%s has no address", host)
	}
	for _, a := range addrs {
		if g.Forbidden(a) == "" {
			return a.Unmap(), nil
		}
	}
	return netip.Addr{}, &Refused{Host: host, Addr: addrs[0].Unmap(), Why: g.Forbidden(addrs[0])}
}

// Dial connects to the vetted address itself (no second lookup), the
// socket checked once more before it connects, and sets the connection's
// deadline: every exchange on it ends within the guard's Timeout (or
// the context's deadline, when sooner).
func (g Guard) Dial(ctx context.Context, addr netip.Addr, port int) (net.Conn, error) {
	d := net.Dialer{
		Timeout: g.timeout(),
		ControlContext: func(_ context.Context, _, address string, _ syscall.RawConn) error {
			ap, err := netip.ParseAddrPort(address)
			if err != nil {
				return err
			}
			if why := g.Forbidden(ap.Addr()); why != "" {
				return &Refused{Addr: ap.Addr(), Why: why}
			}
			return nil
		},
	}
	conn, err := d.DialContext(ctx, "tcp", netip.AddrPortFrom(addr, uint16(port)).String())
	if err != nil {
		return nil, err
	}
	end := time.Now().Add(g.timeout())
	if dl, ok := ctx.Deadline(); ok && dl.Before(end) {
		end = dl
	}
	_ = conn.SetDeadline(end)
	return conn, nil
}

// DialContext vets the host of address (host:port) and dials the address
// it vetted: an http.Transport's DialContext, so that every connection of
// an HTTP client, a redirect's too, goes through the guard.
func (g Guard) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	host, p, err := net.SplitHostPort(address)
	if err != nil {
		return nil, err
	}
	port, err := strconv.Atoi(p)
	if err != nil || port <= 0 || port > 65535 {
		return nil, fmt.Errorf("%q: not a port", p)
	}
	ip, err := g.Vet(ctx, host)
	if err != nil {
		return nil, err
	}
	conn, err := g.Dial(ctx, ip, port)
	if err != nil {
		return nil, err
	}
	// An HTTP client bounds each request itself (http.Client.Timeout); a
	// deadline left on the connection would break its reuse.
	_ = conn.SetDeadline(time.Time{})
	return conn, nil
}

func (g Guard) resolver() *net.Resolver {
	if g.Resolver != nil {
		return g.Resolver
	}
	return net.DefaultResolver
}
