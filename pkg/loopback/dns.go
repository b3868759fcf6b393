package loopback

import (
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"

	"github.com/miekg/dns"
)

// DNSOptions configure an in-process DNS server.
type DNSOptions struct {
	// Addr is where it listens, on UDP and TCP; "127.0.0.1:0" when empty.
	Addr string
	// Records are its answers, in zone file syntax ("example.net. 300 IN
	// MX 10 mx.example.net."). A name with no record of the asked type is
	// NOERROR with no answer; a name with no record at all is NXDOMAIN.
	Records []string
	// TruncateUDP answers every UDP query with an empty, truncated reply,
	// so that a client must retry over TCP.
	TruncateUDP bool
	// Silent reads the queries and answers none.
	Silent bool
}

// DNSServer is a DNS server on loopback serving fixed records.
type DNSServer struct {
	udp, tcp *dns.Server
	addr     string

	mu      sync.Mutex
	records map[string][]dns.RR // by lower-case owner name
	queries int
}

// StartDNS starts a DNS server on loopback; UDP and TCP share the port.
func StartDNS(opts DNSOptions) (*DNSServer, error) {
	if opts.Addr == "" {
		opts.Addr = "127.0.0.1:0"
	}
	s := &DNSServer{records: map[string][]dns.RR{}}
	if err := s.Set(opts.Records...); err != nil {
		return nil, err
	}
	pc, ln, err := listenBoth(opts.Addr)
	if err != nil {
		return nil, err
	}
	s.addr = pc.LocalAddr().String()
	handler := dns.HandlerFunc(func(w dns.ResponseWriter, q *dns.Msg) {
		s.mu.Lock()
		s.queries++
		s.mu.Unlock()
		if opts.Silent {
			return
		}
		m := new(dns.Msg)
		m.SetReply(q)
		m.Authoritative = true
		if _, udp := w.RemoteAddr().(*net.UDPAddr); udp && opts.TruncateUDP {
			m.Truncated = true
			_ = w.WriteMsg(m)
			return
		}
		if len(q.Question) == 1 {
			s.answer(m, q.Question[0])
		}
		_ = w.WriteMsg(m)
	})
	started := make(chan error, 2)
	s.udp = &dns.Server{PacketConn: pc, Handler: handler, NotifyStartedFunc: func() { started <- nil }}
	s.tcp = &dns.Server{Listener: ln, Handler: handler, NotifyStartedFunc: func() { started <- nil }}
	for _, srv := range []*dns.Server{s.udp, s.tcp} {
		go func() {
			if err := srv.ActivateAndServe(); err != nil {
				started <- err
			}
		}()
	}
	for range 2 {
		if err := <-started; err != nil {
			s.Close()
			return nil, err
		}
	}
	return s, nil
}

// listenBoth listens on UDP and TCP on one port: a free UDP port may be
// taken on TCP, so a few are tried when the port is chosen by the system.
func listenBoth(addr string) (net.PacketConn, net.Listener, error) {
	var last error
	for range 10 {
		pc, err := net.ListenPacket("udp", addr)
		if err != nil {
			return nil, nil, fmt.Errorf("loopback: DNS listen: %w", err)
		}
		ln, err := net.Listen("tcp", pc.LocalAddr().String())
		if err == nil {
			return pc, ln, nil
		}
		pc.Close()
		last = err
		if _, port, _ := net.SplitHostPort(addr); port != "0" {
			break
		}
	}
	return nil, nil, fmt.Errorf("loopback: DNS listen on TCP: %w", last)
}

// Set replaces the records (zone file syntax).
func (s *DNSServer) Set(records ...string) error {
	by := map[string][]dns.RR{}
	for _, r := range records {
		rr, err := dns.NewRR(r)
		if err != nil {
			return fmt.Errorf("loopback: DNS record %q: %w", r, err)
		}
		if rr == nil {
			return errors.New("loopback: an empty DNS record")
		}
		name := strings.ToLower(rr.Header().Name)
		by[name] = append(by[name], rr)
	}
	s.mu.Lock()
	s.records = by
	s.mu.Unlock()
	return nil
}

func (s *DNSServer) answer(m *dns.Msg, q dns.Question) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rrs, ok := s.records[strings.ToLower(q.Name)]
	if !ok {
		m.Rcode = dns.RcodeNameError
		return
	}
	for _, rr := range rrs {
		if rr.Header().Rrtype == q.Qtype {
			m.Answer = append(m.Answer, dns.Copy(rr))
		}
	}
}

// Addr is the server's host:port (UDP and TCP).
func (s *DNSServer) Addr() string { return s.addr }

// Queries counts the queries received so far.
func (s *DNSServer) Queries() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.queries
}

// Close stops the server.
func (s *DNSServer) Close() error {
	return errors.Join(s.udp.Shutdown(), s.tcp.Shutdown())
}
