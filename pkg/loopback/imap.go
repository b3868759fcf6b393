package loopback

import (
	"bytes"
	"crypto/subtle"
	"crypto/tls"
	"errors"
	"fmt"
	"log"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"
	"github.com/emersion/go-imap/v2/imapserver/imapmemserver"
)

// IMAPOptions configure an in-memory IMAP server.
type IMAPOptions struct {
	// Addr is where it listens; "127.0.0.1:0" (a free port) when empty.
	Addr string
	// MasterUser and MasterPassword log in as any user, Dovecot's way:
	// "<user>" + Separator + MasterUser. Required.
	MasterUser, MasterPassword string
	// Separator joins the user and the master user ("*" when empty).
	Separator string
	// Folders are created for every user on first use (INBOX always).
	Folders []string
	// Logger receives the server's errors; nil discards them.
	Logger *log.Logger
	// TLS, when set, is offered through STARTTLS; with ImplicitTLS the
	// server speaks TLS from the first byte (imaps) instead.
	TLS         *tls.Config
	ImplicitTLS bool
}

// IMAPServer is an IMAP server over go-imap's in-memory store: every user
// exists (created at its first login or delivery, with its folders), and
// nothing is kept after Close. Its hierarchy delimiter is "/"; it has no
// SORT (go-imap's server does not implement it).
type IMAPServer struct {
	opts IMAPOptions
	ln   net.Listener
	srv  *imapserver.Server

	mu     sync.Mutex
	users  map[string]*imapmemserver.User
	logins int
}

// StartIMAP starts an IMAP server on loopback.
func StartIMAP(opts IMAPOptions) (*IMAPServer, error) {
	if opts.MasterUser == "" || opts.MasterPassword == "" {
		return nil, errors.New("loopback: an IMAP server needs master credentials")
	}
	if opts.Separator == "" {
		opts.Separator = "*"
	}
	if opts.Addr == "" {
		opts.Addr = "127.0.0.1:0"
	}
	logger := opts.Logger
	if logger == nil {
		logger = log.New(discard{}, "", 0)
	}
	ln, err := net.Listen("tcp", opts.Addr)
	if err != nil {
		return nil, fmt.Errorf("loopback: IMAP listen: %w", err)
	}
	starttls := opts.TLS
	if opts.TLS != nil && opts.ImplicitTLS {
		ln, starttls = tls.NewListener(ln, opts.TLS), nil
	}
	s := &IMAPServer{opts: opts, ln: ln, users: map[string]*imapmemserver.User{}}
	s.srv = imapserver.New(&imapserver.Options{
		NewSession: func(*imapserver.Conn) (imapserver.Session, *imapserver.GreetingData, error) {
			return &imapSession{server: s}, nil, nil
		},
		Caps: imap.CapSet{
			imap.CapIMAP4rev1: {}, imap.CapIMAP4rev2: {},
			imap.CapLiteralPlus: {}, imap.CapUIDPlus: {}, imap.CapESearch: {}, imap.CapListStatus: {},
			imap.CapMove: {}, imap.CapNamespace: {}, imap.CapListExtended: {},
		},
		InsecureAuth: true, // loopback only
		TLSConfig:    starttls,
		Logger:       logger,
	})
	go s.srv.Serve(ln) //nolint:errcheck // ends with Close
	return s, nil
}

// Addr is the address the server listens on.
func (s *IMAPServer) Addr() string { return s.ln.Addr().String() }

// Logins counts the successful logins so far.
func (s *IMAPServer) Logins() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.logins
}

// Close stops the server; its mail is gone.
func (s *IMAPServer) Close() error { return s.srv.Close() }

// user is the store of name, created with its folders on first use.
func (s *IMAPServer) user(name string) *imapmemserver.User {
	name = strings.ToLower(name)
	s.mu.Lock()
	defer s.mu.Unlock()
	if u, ok := s.users[name]; ok {
		return u
	}
	u := imapmemserver.NewUser(name, "")
	for _, f := range append([]string{"INBOX"}, s.opts.Folders...) {
		_ = u.Create(f, nil) // a fresh user: only a repeated name fails, and that is fine
	}
	s.users[name] = u
	return u
}

// Deliver stores raw in user's folder (created when missing), as received
// at when.
func (s *IMAPServer) Deliver(user, folder string, raw []byte, when time.Time) error {
	u := s.user(user)
	if folder == "" {
		folder = "INBOX"
	}
	if _, err := u.Status(folder, &imap.StatusOptions{NumMessages: true}); err != nil {
		if err := u.Create(folder, nil); err != nil {
			return err
		}
	}
	_, err := u.Append(folder, literal{bytes.NewReader(raw)}, &imap.AppendOptions{Time: when})
	return err
}

type literal struct{ *bytes.Reader }

func (l literal) Size() int64 { return int64(l.Len()) }

// imapSession logs in with the master credentials only, as any user.
type imapSession struct {
	*imapmemserver.UserSession
	server *IMAPServer
}

func (sess *imapSession) Login(username, password string) error {
	o := sess.server.opts
	user, master, ok := strings.Cut(username, o.Separator)
	if !ok || user == "" || master != o.MasterUser ||
		subtle.ConstantTimeCompare([]byte(password), []byte(o.MasterPassword)) != 1 {
		return imapserver.ErrAuthFailed
	}
	sess.UserSession = imapmemserver.NewUserSession(sess.server.user(user))
	sess.server.mu.Lock()
	sess.server.logins++
	sess.server.mu.Unlock()
	return nil
}

func (sess *imapSession) Close() error {
	if sess.UserSession == nil {
		return nil
	}
	return sess.UserSession.Close()
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }
