package loopback

import (
	"net"
	"sync"
)

// SilentServer accepts TCP connections on loopback and never writes a
// byte: the peer that hangs, against which every client's deadline is
// tested.
type SilentServer struct {
	ln   net.Listener
	done chan struct{}

	mu       sync.Mutex
	conns    []net.Conn
	accepted int
}

// StartSilent starts a silent server on a free loopback port.
func StartSilent() (*SilentServer, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &SilentServer{ln: ln, done: make(chan struct{})}
	go func() {
		defer close(s.done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.mu.Lock()
			s.conns = append(s.conns, c)
			s.accepted++
			s.mu.Unlock()
		}
	}()
	return s, nil
}

// Addr is the server's host:port.
func (s *SilentServer) Addr() string { return s.ln.Addr().String() }

// Accepted counts the connections accepted so far.
func (s *SilentServer) Accepted() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.accepted
}

// Close stops accepting and closes the connections it holds.
func (s *SilentServer) Close() error {
	err := s.ln.Close()
	<-s.done
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.conns {
		c.Close()
	}
	return err
}
