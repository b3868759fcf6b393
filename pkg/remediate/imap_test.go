package remediate_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-imap/v2/imapserver"
	"github.com/emersion/go-imap/v2/imapserver/imapmemserver"

	"github.com/cleanmail/cleanmail/pkg/loopback"
	"github.com/cleanmail/cleanmail/pkg/relaycheck"
	"github.com/cleanmail/cleanmail/pkg/remediate"
)

const (
	master   = "master"
	masterPW = "m4ster-s3cret"
)

// startIMAP starts an in-memory IMAP server with Dovecot-style master
// logins, holding for alice the message in INBOX and in a subfolder, and
// other messages beside, and for bob the message too.
func startIMAP(t *testing.T, opts loopback.IMAPOptions) *loopback.IMAPServer {
	t.Helper()
	opts.MasterUser, opts.MasterPassword = master, masterPW
	srv, err := loopback.StartIMAP(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	at := time.Now()
	for _, d := range []struct {
		user, folder string
		raw          []byte
	}{
		{alice, "INBOX", mail(badID, "Your invoice")},
		{alice, "INBOX", mail(lookalike, "Not the one")},
		{alice, "INBOX", mail("ok-1@example.net", "Lunch")},
		{alice, "Archive", mail("ok-2@example.net", "Minutes")},
		{alice, "Archive/2026", mail(badID, "Your invoice")},
		{bob, "INBOX", mail(badID, "Your invoice")},
	} {
		if err := srv.Deliver(d.user, d.folder, d.raw, at); err != nil {
			t.Fatal(err)
		}
	}
	return srv
}

func imapTarget(addr string) remediate.Target {
	host, port, _ := net.SplitHostPort(addr)
	p, _ := strconv.Atoi(port)
	return remediate.Target{Type: remediate.TypeIMAP, Host: host, Port: p, Login: master, Password: masterPW}
}

// contents reads user's mailbox through the master user: folder → the
// Message-IDs there.
func contents(t *testing.T, addr, login, password string) map[string][]string {
	t.Helper()
	c, err := imapclient.DialInsecure(addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Login(login, password).Wait(); err != nil {
		t.Fatal(err)
	}
	list, err := c.List("", "*", nil).Collect()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]string{}
	for _, l := range list {
		sel, err := c.Select(l.Mailbox, &imap.SelectOptions{ReadOnly: true}).Wait()
		if err != nil {
			t.Fatal(err)
		}
		var msgs []*imapclient.FetchMessageBuffer
		if sel.NumMessages > 0 {
			var all imap.SeqSet
			all.AddRange(1, 0)
			if msgs, err = c.Fetch(all, &imap.FetchOptions{Envelope: true}).Collect(); err != nil {
				t.Fatal(err)
			}
		}
		ids := []string{}
		for _, m := range msgs {
			ids = append(ids, m.Envelope.MessageID)
		}
		slices.Sort(ids)
		out[l.Mailbox] = ids
	}
	return out
}

func TestIMAPDeleteRemovesEveryCopyAndNothingElse(t *testing.T) {
	srv := startIMAP(t, loopback.IMAPOptions{})
	r := remediate.New(remediate.Options{AllowPrivate: true, Timeout: 5 * time.Second})
	res, err := r.Remediate(context.Background(), imapTarget(srv.Addr()), alice, badID, remediate.Delete)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := folders(res), []string{"Archive/2026", "INBOX"}; !slices.Equal(got, want) || res.Removed() != 2 {
		t.Fatalf("found in %v, removed %d; want %v, 2", got, res.Removed(), want)
	}
	for _, f := range res.Found {
		if f.Subject != "Your invoice" || f.ID == "" || f.Raw != nil {
			t.Errorf("found %+v: want its subject and UID, and no source for DELETE", f)
		}
	}
	want := map[string][]string{
		"INBOX":        {lookalike, "ok-1@example.net"},
		"Archive":      {"ok-2@example.net"},
		"Archive/2026": {},
	}
	if got := contents(t, srv.Addr(), alice+"*"+master, masterPW); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("alice's mailbox after DELETE:\n got %v\nwant %v", got, want)
	}
	if got := contents(t, srv.Addr(), bob+"*"+master, masterPW); fmt.Sprint(got["INBOX"]) != fmt.Sprint([]string{badID}) {
		t.Errorf("bob's INBOX: %v; another mailbox must not be touched", got["INBOX"])
	}
}

func TestIMAPQuarantineReturnsTheSource(t *testing.T) {
	srv := startIMAP(t, loopback.IMAPOptions{})
	r := remediate.New(remediate.Options{AllowPrivate: true, Timeout: 5 * time.Second})
	// The id in angle brackets finds the same messages; the login names
	// the master user after "*", whatever stands before it.
	tg := imapTarget(srv.Addr())
	tg.Login = "admin@example.net*" + master
	res, err := r.Remediate(context.Background(), tg, alice, "<"+badID+">", remediate.Quarantine)
	if err != nil {
		t.Fatal(err)
	}
	quarantined(t, res, 2)
	if got := contents(t, srv.Addr(), alice+"*"+master, masterPW); len(got["INBOX"]) != 2 || len(got["Archive/2026"]) != 0 {
		t.Errorf("alice's mailbox after QUARANTINE: %v", got)
	}
}

func TestIMAPUnknownMessageFindsNothing(t *testing.T) {
	srv := startIMAP(t, loopback.IMAPOptions{})
	r := remediate.New(remediate.Options{AllowPrivate: true, Timeout: 5 * time.Second})
	before := contents(t, srv.Addr(), alice+"*"+master, masterPW)
	// "evil.example" is a part of badID's, which SEARCH finds: it is not
	// its Message-ID.
	for _, id := range []string{"nobody@nowhere.example", "evil.example"} {
		res, err := r.Remediate(context.Background(), imapTarget(srv.Addr()), alice, id, remediate.Delete)
		if err != nil || len(res.Found) != 0 {
			t.Errorf("%s: found %v, %v; want nothing, no error", id, res.Found, err)
		}
	}
	if after := contents(t, srv.Addr(), alice+"*"+master, masterPW); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Errorf("mailbox changed: %v, was %v", after, before)
	}
}

func TestIMAPWrongPassword(t *testing.T) {
	srv := startIMAP(t, loopback.IMAPOptions{})
	r := remediate.New(remediate.Options{AllowPrivate: true, Timeout: 5 * time.Second})
	tg := imapTarget(srv.Addr())
	tg.Password = "wrong-pa55word"
	refused(t, r, []refusal{{"wrong password", tg, alice, "refused the login " + alice + "*" + master}})
}

func TestIMAPSilentServerTimesOut(t *testing.T) {
	silent, err := loopback.StartSilent()
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	r := remediate.New(remediate.Options{AllowPrivate: true, Timeout: 300 * time.Millisecond})
	start := time.Now()
	_, err = r.Remediate(context.Background(), imapTarget(silent.Addr()), alice, badID, remediate.Delete)
	if err == nil || !strings.Contains(err.Error(), "timed out after 300ms") {
		t.Fatalf("error %v; want a timeout", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("took %v; the timeout is 300ms", d)
	}
	if silent.Accepted() != 1 {
		t.Errorf("%d connections; want 1", silent.Accepted())
	}
}

func TestIMAPGuard(t *testing.T) {
	srv := startIMAP(t, loopback.IMAPOptions{})
	// Loopback is refused unless allowed: nothing is attempted.
	r := remediate.New(remediate.Options{Timeout: 5 * time.Second})
	_, err := r.Remediate(context.Background(), imapTarget(srv.Addr()), alice, badID, remediate.Delete)
	var refused *relaycheck.Refused
	if !errors.As(err, &refused) || !strings.Contains(err.Error(), "CLEANMAIL_ALLOW_PRIVATE_TARGETS") || srv.Logins() != 0 {
		t.Errorf("loopback without AllowPrivate: %v, %d logins; want refused, none", err, srv.Logins())
	}
	// The password goes in clear to loopback only (10.0.0.1 is never
	// dialled: the refusal comes first).
	r = remediate.New(remediate.Options{AllowPrivate: true, Timeout: 5 * time.Second})
	_, err = r.Remediate(context.Background(), remediate.Target{Type: "imap", Host: "10.0.0.1", Login: master, Password: masterPW}, alice, badID, remediate.Delete)
	if err == nil || !strings.Contains(err.Error(), "unencrypted (set useSsl)") {
		t.Errorf("plain IMAP to 10.0.0.1: %v; want refused", err)
	}
}

func TestIMAPOverTLS(t *testing.T) {
	server, roots, err := loopback.SelfSigned()
	if err != nil {
		t.Fatal(err)
	}
	srv := startIMAP(t, loopback.IMAPOptions{TLS: server, ImplicitTLS: true})
	tg := imapTarget(srv.Addr())
	tg.TLS = true
	// Not trusted: the system's roots do not know the certificate.
	r := remediate.New(remediate.Options{AllowPrivate: true, Timeout: 5 * time.Second})
	if _, err := r.Remediate(context.Background(), tg, alice, badID, remediate.Delete); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("an untrusted certificate: %v; want a TLS error", err)
	}
	r = remediate.New(remediate.Options{AllowPrivate: true, Timeout: 5 * time.Second, RootCAs: roots})
	res, err := r.Remediate(context.Background(), tg, alice, badID, remediate.Delete)
	if err != nil || res.Removed() != 2 {
		t.Errorf("over TLS: removed %d, %v; want 2", res.Removed(), err)
	}
}

// Without UIDPLUS (nor IMAP4rev2) the copies go with EXPUNGE.
func TestIMAPWithoutUIDPlus(t *testing.T) {
	mem := imapmemserver.New()
	login := alice + "*" + master
	u := imapmemserver.NewUser(login, masterPW)
	for _, f := range []string{"INBOX", "Junk"} {
		if err := u.Create(f, nil); err != nil {
			t.Fatal(err)
		}
	}
	mem.AddUser(u)
	for _, d := range []struct {
		folder string
		raw    []byte
	}{{"INBOX", mail(badID, "Your invoice")}, {"INBOX", mail("ok-1@example.net", "Lunch")}, {"Junk", mail(badID, "Your invoice")}} {
		if _, err := u.Append(d.folder, literal{bytes.NewReader(d.raw)}, &imap.AppendOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := imapserver.New(&imapserver.Options{
		NewSession: func(*imapserver.Conn) (imapserver.Session, *imapserver.GreetingData, error) {
			return mem.NewSession(), nil, nil
		},
		Caps:         imap.CapSet{imap.CapIMAP4rev1: {}},
		InsecureAuth: true,
	})
	go srv.Serve(ln) //nolint:errcheck // ends with Close
	t.Cleanup(func() { srv.Close() })
	r := remediate.New(remediate.Options{AllowPrivate: true, Timeout: 5 * time.Second})
	res, err := r.Remediate(context.Background(), imapTarget(ln.Addr().String()), alice, badID, remediate.Delete)
	if err != nil || res.Removed() != 2 {
		t.Fatalf("removed %d, %v; want 2", res.Removed(), err)
	}
	got := contents(t, ln.Addr().String(), login, masterPW)
	if want := map[string][]string{"INBOX": {"ok-1@example.net"}, "Junk": {}}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("after DELETE: %v, want %v", got, want)
	}
}

type literal struct{ *bytes.Reader }

func (l literal) Size() int64 { return int64(l.Len()) }

// TestIMAPKeepFirst: a copy whose source could not be kept (the
// quarantine store failing) stays in the mailbox: nothing is lost.
func TestIMAPKeepFirst(t *testing.T) {
	srv := startIMAP(t, loopback.IMAPOptions{})
	r := remediate.New(remediate.Options{AllowPrivate: true, Timeout: 5 * time.Second})
	var kept [][]byte
	keep := func(f remediate.Found) error {
		if len(kept) == 1 {
			return errors.New("the quarantine store is down")
		}
		kept = append(kept, f.Raw)
		return nil
	}
	res, err := r.RemediateKeeping(context.Background(), imapTarget(srv.Addr()), alice, badID, remediate.Quarantine, keep)
	if err == nil || !strings.Contains(err.Error(), "quarantine store is down") {
		t.Fatalf("err %v", err)
	}
	// The first copy was kept, then removed; the second, not kept, stays.
	if res.Removed() != 1 || len(kept) != 1 {
		t.Errorf("%d removed, %d kept", res.Removed(), len(kept))
	}
	got := contents(t, srv.Addr(), alice+"*"+master, masterPW)
	if n := len(got["INBOX"]) + len(got["Archive/2026"]); n != 3 {
		t.Errorf("alice's mailbox after a failed keep: %v", got)
	}
	// Kept this time: the last copy goes, its source handed over first.
	kept = nil
	keepAll := func(f remediate.Found) error { kept = append(kept, f.Raw); return nil }
	res, err = r.RemediateKeeping(context.Background(), imapTarget(srv.Addr()), alice, badID, remediate.Quarantine, keepAll)
	if err != nil || res.Removed() != 1 || len(kept) != 1 {
		t.Errorf("%v, %d removed, %d kept", err, res.Removed(), len(kept))
	}
	if got := contents(t, srv.Addr(), alice+"*"+master, masterPW); len(got["INBOX"])+len(got["Archive/2026"]) != 2 {
		t.Errorf("alice's mailbox at the end: %v", got)
	}
}
