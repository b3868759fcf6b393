// Package mailstore is the API's access to the users' mailboxes (their
// quarantine, retention and archive folders): an IMAP server, Dovecot in
// production, on which it logs in as each user through a master user
// ("user*master"). Connections are kept per user and reused, every exchange
// has a deadline, and a server that is down, slow or refusing is a
// fault.PeerFailure (the doc's 500), never a hung request.
package mailstore

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/cleanmail/cleanmail/pkg/fault"
)

// Options configure a Store.
type Options struct {
	// URL of the IMAP server: imap://host:port (plain), imaps://host:port
	// (implicit TLS), imap://host:port?starttls=true (STARTTLS required).
	URL string
	// MasterUser and MasterPassword log in as any user: the login is the
	// user's e-mail address, Separator, and MasterUser.
	MasterUser, MasterPassword string
	// Separator joins the user and the master user; "*" when empty
	// (Dovecot's auth_master_user_separator).
	Separator string
	// Timeout bounds each exchange: connecting and logging in, and each
	// command. 10 s when zero.
	Timeout time.Duration
	// IdleTimeout closes a connection kept for reuse after so long unused;
	// 60 s when zero.
	IdleTimeout time.Duration
	// PerUser is how many idle connections are kept per user; 2 when zero.
	PerUser int
	// MaxPerUser bounds the connections of one user at once, in use or
	// kept (Dovecot limits them too: mail_max_userip_connections); a call
	// beyond it waits for one, as long as Timeout and its context allow.
	// 4 when zero.
	MaxPerUser int
	// TLSConfig for imaps:// and STARTTLS; nil: the system's roots, the
	// URL's host as server name.
	TLSConfig *tls.Config
}

// Store talks to the mail store. It is safe for concurrent use.
type Store struct {
	opts     Options
	addr     string
	security security

	mu     sync.Mutex
	idle   map[string][]*conn
	slots  map[string]chan struct{} // per user, one token per connection
	closed bool
	stop   chan struct{}
}

type security int

const (
	plain security = iota
	implicitTLS
	startTLS
)

// peer names the mail store in the failures the client is shown.
const peer = "the mail store (IMAP)"

// New checks the options and returns a Store; it connects only when asked.
func New(opts Options) (*Store, error) {
	u, err := url.Parse(opts.URL)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("mailstore: the IMAP URL %q is not imap://host:port or imaps://host:port", opts.URL)
	}
	s := &Store{opts: opts, addr: u.Host, idle: map[string][]*conn{}, slots: map[string]chan struct{}{}, stop: make(chan struct{})}
	port := "143"
	switch u.Scheme {
	case "imap":
		if v := u.Query().Get("starttls"); v == "true" || v == "required" {
			s.security = startTLS
		}
	case "imaps":
		s.security, port = implicitTLS, "993"
	default:
		return nil, fmt.Errorf("mailstore: the IMAP URL's scheme must be imap or imaps, not %q", u.Scheme)
	}
	if u.Port() == "" {
		s.addr = net.JoinHostPort(u.Hostname(), port)
	}
	if opts.MasterUser == "" || opts.MasterPassword == "" {
		return nil, errors.New("mailstore: the master user and its password are required")
	}
	if s.opts.Separator == "" {
		s.opts.Separator = "*"
	}
	if s.opts.Timeout <= 0 {
		s.opts.Timeout = 10 * time.Second
	}
	if s.opts.IdleTimeout <= 0 {
		s.opts.IdleTimeout = time.Minute
	}
	if s.opts.PerUser <= 0 {
		s.opts.PerUser = 2
	}
	if s.opts.MaxPerUser <= 0 {
		s.opts.MaxPerUser = max(4, s.opts.PerUser)
	}
	if s.opts.TLSConfig == nil {
		s.opts.TLSConfig = &tls.Config{ServerName: u.Hostname(), MinVersion: tls.VersionTLS12}
	}
	go s.reap()
	return s, nil
}

// Close closes every kept connection; the Store is not used after.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	close(s.stop)
	for user, conns := range s.idle {
		for _, c := range conns {
			c.close()
		}
		delete(s.idle, user)
	}
	return nil
}

// conn is one logged-in connection of one user.
type conn struct {
	c        *imapclient.Client
	raw      *boundedConn
	caps     imap.CapSet
	delim    rune // the hierarchy delimiter, once asked (0: not yet)
	lastUsed time.Time
}

func (c *conn) close() { _ = c.c.Close() }

// with runs fn on a connection of user, bounded by the Store's Timeout and
// by ctx: the connection's deadline is set, and ctx's end cuts it. A
// connection that failed is closed, a healthy one kept for the next call.
// Failures of the server or of the network are PeerFailures; the server's
// NO and BAD answers are given to the caller as they are (*imap.Error),
// for it to word.
func (s *Store) with(ctx context.Context, user string, fn func(c *conn) error) error {
	if err := ctx.Err(); err != nil {
		return fault.PeerFailure(peer, err)
	}
	slots := s.slotsOf(user)
	wait := time.NewTimer(s.opts.Timeout)
	select {
	case slots <- struct{}{}:
		wait.Stop()
	case <-wait.C:
		return fault.PeerFailure(peer, fmt.Errorf("%d connections of %s busy for %v", cap(slots), user, s.opts.Timeout))
	case <-ctx.Done():
		wait.Stop()
		return fault.PeerFailure(peer, ctx.Err())
	}
	defer func() { <-slots }()
	c, err := s.acquire(ctx, user)
	if err != nil {
		return err
	}
	deadline := time.Now().Add(s.opts.Timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	c.raw.bound(deadline)
	stop := context.AfterFunc(ctx, func() { c.raw.bound(time.Unix(1, 0)) })
	err = fn(c)
	cut := !stop()
	// The server's NO and BAD, and our own verdicts (a missing folder),
	// leave the connection as good as it was; anything else broke it.
	var imapErr *imap.Error
	_, verdict := fault.As(err)
	broken := cut || err != nil && !verdict && !errors.As(err, &imapErr)
	select {
	case <-c.c.Closed():
		broken = true
	default:
	}
	if !broken {
		c.raw.bound(time.Time{})
		s.release(user, c)
		return err
	}
	c.close()
	if err == nil {
		err = errors.New("the connection closed")
	}
	return fault.PeerFailure(peer, err)
}

// slotsOf is the connection tokens of user.
func (s *Store) slotsOf(user string) chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.slots[user]
	if !ok {
		c = make(chan struct{}, s.opts.MaxPerUser)
		s.slots[user] = c
	}
	return c
}

// acquire takes a kept connection of user, or opens and logs in a new one.
func (s *Store) acquire(ctx context.Context, user string) (*conn, error) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil, fault.PeerFailure(peer, errors.New("the mail store client is closed"))
	}
	conns := s.idle[user]
	for len(conns) > 0 {
		c := conns[len(conns)-1]
		conns = conns[:len(conns)-1]
		select {
		case <-c.c.Closed(): // the server hung up meanwhile
			continue
		default:
		}
		s.idle[user] = conns
		s.mu.Unlock()
		return c, nil
	}
	delete(s.idle, user)
	s.mu.Unlock()
	return s.dial(ctx, user)
}

func (s *Store) release(user string, c *conn) {
	c.lastUsed = time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || len(s.idle[user]) >= s.opts.PerUser {
		go c.close()
		return
	}
	s.idle[user] = append(s.idle[user], c)
}

// reap closes the connections kept longer than IdleTimeout unused.
func (s *Store) reap() {
	t := time.NewTicker(max(s.opts.IdleTimeout/4, time.Second))
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case now := <-t.C:
			s.mu.Lock()
			for user, conns := range s.idle {
				kept := conns[:0]
				for _, c := range conns {
					if now.Sub(c.lastUsed) > s.opts.IdleTimeout {
						go c.close()
					} else {
						kept = append(kept, c)
					}
				}
				if len(kept) == 0 {
					delete(s.idle, user)
				} else {
					s.idle[user] = kept
				}
			}
			// The tokens of users with no connection at all go too (a
			// call that took the map's channel just before keeps it; the
			// bound may then be passed by one, once).
			for user, c := range s.slots {
				if len(c) == 0 && len(s.idle[user]) == 0 {
					delete(s.slots, user)
				}
			}
			s.mu.Unlock()
		}
	}
}

// dial connects, secures and logs in as user, all within one Timeout.
func (s *Store) dial(ctx context.Context, user string) (*conn, error) {
	ctx, cancel := context.WithTimeout(ctx, s.opts.Timeout)
	defer cancel()
	tcp, err := (&net.Dialer{}).DialContext(ctx, "tcp", s.addr)
	if err != nil {
		return nil, fault.PeerFailure(peer, err)
	}
	raw := &boundedConn{Conn: tcp}
	deadline, _ := ctx.Deadline()
	raw.bound(deadline)
	stop := context.AfterFunc(ctx, func() { raw.bound(time.Unix(1, 0)) })
	defer stop()
	fail := func(c io.Closer, err error) (*conn, error) {
		c.Close()
		return nil, fault.PeerFailure(peer, err)
	}
	opts := &imapclient.Options{TLSConfig: s.opts.TLSConfig}
	var c *imapclient.Client
	switch s.security {
	case implicitTLS:
		tc := tls.Client(raw, s.opts.TLSConfig)
		if err := tc.HandshakeContext(ctx); err != nil {
			return fail(raw, err)
		}
		c = imapclient.New(tc, opts)
	case startTLS:
		if c, err = imapclient.NewStartTLS(raw, opts); err != nil {
			return fail(raw, err)
		}
	default:
		c = imapclient.New(raw, opts)
	}
	if err := c.WaitGreeting(); err != nil {
		return fail(c, err)
	}
	if err := c.Login(user+s.opts.Separator+s.opts.MasterUser, s.opts.MasterPassword).Wait(); err != nil {
		return fail(c, fmt.Errorf("log in as %s through the master user: %w", user, err))
	}
	caps := c.Caps()
	if !caps.Has(imap.CapIMAP4rev1) && !caps.Has(imap.CapIMAP4rev2) {
		if caps, err = c.Capability().Wait(); err != nil {
			return fail(c, err)
		}
	}
	raw.bound(time.Time{})
	return &conn{c: c, raw: raw, caps: caps}, nil
}

// boundedConn caps the deadlines that the IMAP client sets for itself (30 s
// a response, 5 min a literal) at the bound of the exchange in progress, so
// that no exchange outlives the Store's Timeout or its context.
type boundedConn struct {
	net.Conn
	mu          sync.Mutex
	limit       time.Time // zero: none
	read, write time.Time // the client's own
}

func earliest(a, b time.Time) time.Time {
	if a.IsZero() || !b.IsZero() && b.Before(a) {
		return b
	}
	return a
}

func (b *boundedConn) SetDeadline(t time.Time) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.read, b.write = t, t
	return b.Conn.SetDeadline(earliest(t, b.limit))
}

func (b *boundedConn) SetReadDeadline(t time.Time) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.read = t
	return b.Conn.SetReadDeadline(earliest(t, b.limit))
}

func (b *boundedConn) SetWriteDeadline(t time.Time) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.write = t
	return b.Conn.SetWriteDeadline(earliest(t, b.limit))
}

// bound sets the limit of every deadline (zero: none) and applies it now.
func (b *boundedConn) bound(limit time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.limit = limit
	_ = b.Conn.SetReadDeadline(earliest(b.read, limit))
	_ = b.Conn.SetWriteDeadline(earliest(b.write, limit))
}

// isNonExistent tells the server's "no such mailbox".
func isNonExistent(err error) bool {
	var e *imap.Error
	if !errors.As(err, &e) || e.Type != imap.StatusResponseTypeNo {
		return false
	}
	if e.Code == imap.ResponseCodeNonExistent || e.Code == imap.ResponseCodeTryCreate {
		return true
	}
	// Servers that send no code: go-imap's "No such mailbox", Dovecot's
	// "Mailbox doesn't exist".
	text := strings.ToLower(e.Text)
	return strings.Contains(text, "no such mailbox") || strings.Contains(text, "doesn't exist") || strings.Contains(text, "does not exist")
}

// answer turns the server's NO or BAD of a command into a failure.
func answer(err error) error {
	var e *imap.Error
	if errors.As(err, &e) {
		return fault.PeerFailure(peer, err)
	}
	return err
}
