package relaycheck

import (
	"context"
	"fmt"
	"net"
	"net/netip"
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

// forbidden says why the checks may not reach addr ("" when they may).
// Loopback, link-local and private addresses (and the other internal
// ranges) are let through by allowPrivate; unspecified, multicast and
// broadcast addresses never are (no TCP peer is there).
func (c *Checker) forbidden(addr netip.Addr) string {
	if why := forbidden(addr, c.opts.AllowPrivate); why != "" {
		return why
	}
	if c.opts.Only != nil && !c.opts.Only(addr.Unmap()) {
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

// vet resolves host (an IP address or a name) within the options' timeout
// and returns the first of its addresses the guard lets through; when
// none is, a *Refused naming the first address found.
func (c *Checker) vet(ctx context.Context, host string) (netip.Addr, error) {
	if ip, err := netip.ParseAddr(host); err == nil {
		if why := c.forbidden(ip); why != "" {
			return netip.Addr{}, &Refused{Host: host, Addr: ip.Unmap(), Why: why}
		}
		return ip.Unmap(), nil
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout())
	defer cancel()
	addrs, err := c.resolver().LookupNetIP(ctx, "ip", host)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("cannot resolve %s: %w", host, err)
	}
	if len(addrs) == 0 {
		return netip.Addr{}, fmt.Errorf("%s has no address", host)
	}
	for _, a := range addrs {
		if c.forbidden(a) == "" {
			return a.Unmap(), nil
		}
	}
	return netip.Addr{}, &Refused{Host: host, Addr: addrs[0].Unmap(), Why: c.forbidden(addrs[0])}
}

// dial connects to the vetted address itself (no second lookup), the
// socket checked once more before it connects, and sets the connection's
// deadline: every exchange on it ends within the options' timeout.
func (c *Checker) dial(ctx context.Context, addr netip.Addr, port int) (net.Conn, error) {
	d := net.Dialer{
		Timeout: c.timeout(),
		ControlContext: func(_ context.Context, _, address string, _ syscall.RawConn) error {
			ap, err := netip.ParseAddrPort(address)
			if err != nil {
				return err
			}
			if why := c.forbidden(ap.Addr()); why != "" {
				return &Refused{Addr: ap.Addr(), Why: why}
			}
			return nil
		},
	}
	conn, err := d.DialContext(ctx, "tcp", netip.AddrPortFrom(addr, uint16(port)).String())
	if err != nil {
		return nil, err
	}
	end := time.Now().Add(c.timeout())
	if dl, ok := ctx.Deadline(); ok && dl.Before(end) {
		end = dl
	}
	_ = conn.SetDeadline(end)
	return conn, nil
}
