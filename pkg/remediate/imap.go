package remediate

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net/textproto"
	"strconv"
	"strings"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

// masterSeparator joins the mailbox and the master user in the login.
const masterSeparator = "*"

// imapLogin is the login that reaches mailbox with the target's login.
func imapLogin(login, mailbox string) (string, error) {
	if login == "" {
		return "", errors.New("the IMAP settings have no login")
	}
	_, master, ok := strings.Cut(login, masterSeparator)
	switch {
	case ok && master == "":
		return "", fmt.Errorf("the login %q names no master user after %q", login, masterSeparator)
	case ok:
		return mailbox + masterSeparator + master, nil
	case strings.EqualFold(login, mailbox):
		return login, nil
	}
	return mailbox + masterSeparator + login, nil
}

// imap remediates over IMAP: one connection, logged in for the mailbox,
// closed when ctx ends (which bounds every command: go-imap's client sets
// its own deadlines on the connection).
func (r *Remediator) imap(ctx context.Context, t Target, id string, action Action, res *Result) error {
	login, err := imapLogin(t.Login, res.Mailbox)
	if err != nil {
		return err
	}
	port := t.Port
	if port == 0 {
		port = 143
		if t.TLS {
			port = 993
		}
	}
	ip, err := r.guard.Vet(ctx, t.Host)
	if err != nil {
		return err
	}
	addr := hostPort(ip.String(), port, port)
	if !t.TLS && !loopback(ip) {
		return fmt.Errorf("refusing to send the IMAP password to %s unencrypted (set useSsl)", addr)
	}
	conn, err := r.guard.Dial(ctx, ip, port)
	if err != nil {
		return fmt.Errorf("cannot connect to the IMAP server %s: %w", addr, err)
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	if t.TLS {
		tc := tls.Client(conn, &tls.Config{ServerName: t.Host, RootCAs: r.opts.RootCAs, MinVersion: tls.VersionTLS12})
		if err := tc.HandshakeContext(ctx); err != nil {
			return fmt.Errorf("TLS with the IMAP server %s: %w", addr, err)
		}
		conn = tc
	}
	c := imapclient.New(conn, nil)
	defer c.Close()
	if err := c.WaitGreeting(); err != nil {
		return fmt.Errorf("no greeting from the IMAP server %s: %w", addr, err)
	}
	if err := c.Login(login, t.Password).Wait(); err != nil {
		return fmt.Errorf("the IMAP server %s refused the login %s: %w", addr, login, err)
	}
	caps, err := c.Capability().Wait()
	if err != nil {
		return fmt.Errorf("CAPABILITY: %w", err)
	}
	folders, err := c.List("", "*", nil).Collect()
	if err != nil {
		return fmt.Errorf("LIST: %w", err)
	}
	s := imapSession{c: c, uidPlus: caps.Has(imap.CapUIDPlus) || caps.Has(imap.CapIMAP4rev2), id: id, action: action}
	// A folder that fails is reported and the others still done, as long
	// as the connection lives.
	var errs []error
	for _, f := range folders {
		if !selectable(f) {
			continue
		}
		if err := s.folder(f.Mailbox, res); err != nil {
			errs = append(errs, fmt.Errorf("folder %s: %w", f.Mailbox, err))
			select {
			case <-c.Closed():
				return errors.Join(errs...)
			case <-ctx.Done():
				return errors.Join(errs...)
			default:
			}
		}
	}
	_ = c.Logout().Wait()
	return errors.Join(errs...)
}

func selectable(f *imap.ListData) bool {
	for _, a := range f.Attrs {
		if a == imap.MailboxAttrNoSelect || a == imap.MailboxAttrNonExistent {
			return false
		}
	}
	return true
}

// imapSession is one logged-in remediation.
type imapSession struct {
	c       *imapclient.Client
	uidPlus bool
	id      string
	action  Action
}

// idSection is the header field a match is checked by.
var idSection = &imap.FetchItemBodySection{Specifier: imap.PartSpecifierHeader, HeaderFields: []string{"Message-ID"}, Peek: true}

// folder remediates the copies in folder, adding them to res.
func (s imapSession) folder(folder string, res *Result) error {
	if _, err := s.c.Select(folder, nil).Wait(); err != nil {
		return err
	}
	found, err := s.c.UIDSearch(&imap.SearchCriteria{
		Header: []imap.SearchCriteriaHeaderField{{Key: "Message-ID", Value: s.id}},
	}, nil).Wait()
	if err != nil {
		return err
	}
	uids := found.AllUIDs()
	if len(uids) == 0 {
		return nil
	}
	msgs, err := s.c.Fetch(imap.UIDSetNum(uids...), &imap.FetchOptions{
		UID: true, Envelope: true, RFC822Size: true, BodySection: []*imap.FetchItemBodySection{idSection},
	}).Collect()
	if err != nil {
		return err
	}
	// Removed marks the copies to remove until they are.
	var matches []Found
	var set imap.UIDSet
	var skipped []error
	for _, m := range msgs {
		// SEARCH HEADER matches substrings: keep the message whose id it is.
		if !sameID(headerValue(m.FindBodySection(idSection), "Message-Id"), s.id) {
			continue
		}
		f := Found{Folder: folder, ID: strconv.FormatUint(uint64(m.UID), 10), Removed: true}
		if m.Envelope != nil {
			f.Subject = m.Envelope.Subject
		}
		if s.action == Quarantine && m.RFC822Size > MaxRaw {
			f.Removed = false
			skipped = append(skipped, fmt.Errorf("UID %d is larger than %d bytes: left in place, not quarantined", m.UID, MaxRaw))
		} else if s.action == Quarantine {
			if f.Raw, err = s.source(m.UID); err != nil {
				return notRemoved(res, append(matches, f), err)
			}
			if err := res.kept(f); err != nil {
				return notRemoved(res, append(matches, f), err)
			}
		}
		matches = append(matches, f)
		if f.Removed {
			set.AddNum(m.UID)
		}
	}
	if len(set) > 0 {
		deleted := &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagDeleted}}
		if err := s.c.Store(set, deleted, nil).Close(); err != nil {
			return notRemoved(res, matches, err)
		}
		if s.uidPlus {
			err = s.c.UIDExpunge(set).Close()
		} else {
			err = s.c.Expunge().Close()
		}
		if err != nil {
			return notRemoved(res, matches, err)
		}
	}
	res.Found = append(res.Found, matches...)
	return errors.Join(skipped...)
}

// notRemoved records the copies found as not removed, and returns err.
func notRemoved(res *Result, found []Found, err error) error {
	for _, f := range found {
		f.Removed = false
		res.Found = append(res.Found, f)
	}
	return err
}

// source fetches the whole message uid of the selected folder.
func (s imapSession) source(uid imap.UID) ([]byte, error) {
	whole := &imap.FetchItemBodySection{Peek: true}
	msgs, err := s.c.Fetch(imap.UIDSetNum(uid), &imap.FetchOptions{UID: true, BodySection: []*imap.FetchItemBodySection{whole}}).Collect()
	if err != nil {
		return nil, err
	}
	if len(msgs) == 0 || msgs[0].FindBodySection(whole) == nil {
		return nil, fmt.Errorf("UID %d: the server sent no source", uid)
	}
	return msgs[0].FindBodySection(whole), nil
}

// headerValue is the first value of the field key in a header section.
func headerValue(section []byte, key string) string {
	h, err := textproto.NewReader(bufio.NewReader(bytes.NewReader(section))).ReadMIMEHeader()
	if err != nil && len(h) == 0 {
		return ""
	}
	return h.Get(key)
}
