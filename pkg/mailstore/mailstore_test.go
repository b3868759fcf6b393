package mailstore_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cleanmail/cleanmail/pkg/fault"
	"github.com/cleanmail/cleanmail/pkg/listing"
	"github.com/cleanmail/cleanmail/pkg/loopback"
	"github.com/cleanmail/cleanmail/pkg/mailstore"
)

const user = "ned@stark.example"

func start(t *testing.T) (*loopback.IMAPServer, *mailstore.Store) {
	t.Helper()
	srv, err := loopback.StartIMAP(loopback.IMAPOptions{MasterUser: "master", MasterPassword: "m4ster", Folders: []string{"Quarantine", "Quarantine/Old", "Archive"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	st, err := mailstore.New(mailstore.Options{URL: "imap://" + srv.Addr(), MasterUser: "master", MasterPassword: "m4ster", Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return srv, st
}

func msg(from, to, subject, id, body string, extra ...string) []byte {
	h := fmt.Sprintf("From: %s\r\nTo: %s\r\nSubject: %s\r\nMessage-ID: <%s>\r\nDate: Mon, 02 Nov 2026 10:00:00 +0000\r\n", from, to, subject, id)
	for _, e := range extra {
		h += e + "\r\n"
	}
	return []byte(h + "\r\n" + body + "\r\n")
}

func TestFolders(t *testing.T) {
	srv, st := start(t)
	ctx := context.Background()
	if err := srv.Deliver(user, "Quarantine", msg("a@x.example", user, "one", "1@x", "hello"), time.Now()); err != nil {
		t.Fatal(err)
	}
	top, err := st.Folders(ctx, user, "", true)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]mailstore.Folder{}
	for _, f := range top {
		got[f.Path] = f
	}
	q, ok := got["Quarantine"]
	if len(top) != 3 || !ok || q.Messages == nil || *q.Messages != 1 || *q.Unseen != 1 || !q.HasChildren {
		t.Fatalf("top folders: %+v", top)
	}
	kids, err := st.Folders(ctx, user, "Quarantine", false)
	if err != nil || len(kids) != 1 || kids[0].Path != "Quarantine/Old" || kids[0].Name != "Old" || kids[0].Messages != nil {
		t.Fatalf("children of Quarantine: %+v, %v", kids, err)
	}
	if _, err := st.Folders(ctx, user, "Nope", false); fault.KindOf(err) != fault.NotFound {
		t.Errorf("children of a missing folder: %v, want not found", err)
	}
}

func TestSearchSortsAndPages(t *testing.T) {
	srv, st := start(t)
	searchCases(t, st, func(folder string, raw []byte, at time.Time) error { return srv.Deliver(user, folder, raw, at) })
}

// searchCases fills a Quarantine through deliver and checks the searches,
// sorts and pages of st on it: the same cases for every mail store (the
// embedded one sorts here, Dovecot with SORT).
func searchCases(t *testing.T, st *mailstore.Store, deliver func(folder string, raw []byte, at time.Time) error) {
	ctx := context.Background()
	base := time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
	subjects := []string{"Invoice 7", "Re: budget", "lunch", "Invoice 9", "weekly report"}
	for i, s := range subjects {
		from := fmt.Sprintf("%c@sender.example", 'e'-i) // e, d, c, b, a
		body := "nothing"
		if i%2 == 0 {
			body = "the invoice is attached"
		}
		if err := deliver("Quarantine", msg(from, user, s, fmt.Sprintf("m%d@x", i), body), base.Add(time.Duration(i)*time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
	subjectsOf := func(p mailstore.Page) string {
		var out []string
		for _, m := range p.Messages {
			out = append(out, m.Subject)
		}
		return strings.Join(out, "|")
	}
	for _, tc := range []struct {
		q     mailstore.Query
		p     listing.Page
		want  string
		total int
	}{
		{mailstore.Query{}, listing.Page{PageSize: 10, Sort: "receivedDate"}, "Invoice 7|Re: budget|lunch|Invoice 9|weekly report", 5},
		{mailstore.Query{}, listing.Page{PageSize: 2, Offset: 1, Sort: "-receivedDate"}, "Invoice 9|lunch", 5},
		{mailstore.Query{}, listing.Page{PageSize: 10, Sort: "from"}, "weekly report|Invoice 9|lunch|Re: budget|Invoice 7", 5},
		{mailstore.Query{}, listing.Page{PageSize: 10, Sort: "subject"}, "Re: budget|Invoice 7|Invoice 9|lunch|weekly report", 5},
		{mailstore.Query{}, listing.Page{PageSize: 10, Sort: "-size"}, "weekly report|Invoice 7|lunch|Re: budget|Invoice 9", 5},
		{mailstore.Query{Subject: "invoice"}, listing.Page{PageSize: 10, Sort: "receivedDate"}, "Invoice 7|Invoice 9", 2},
		{mailstore.Query{Subject: "invoice", Body: "attached"}, listing.Page{PageSize: 10, Sort: "receivedDate"}, "Invoice 7", 1},
		{mailstore.Query{Subject: "invoice", Body: "attached", Operator: mailstore.Or}, listing.Page{PageSize: 10, Sort: "receivedDate"}, "Invoice 7|lunch|Invoice 9|weekly report", 4},
		{mailstore.Query{Subject: "invoice", Operator: mailstore.Not}, listing.Page{PageSize: 10, Sort: "receivedDate"}, "Re: budget|lunch|weekly report", 3},
		{mailstore.Query{ID: "m2@x"}, listing.Page{PageSize: 10}, "lunch", 1},
		{mailstore.Query{From: "b@sender"}, listing.Page{PageSize: 10}, "Invoice 9", 1},
		// Exact instants: 10:00 is the second message, 12:00 the fourth.
		{mailstore.Query{ReceivedAfter: ptr(base.Add(time.Hour)), ReceivedBefore: ptr(base.Add(3 * time.Hour))}, listing.Page{PageSize: 10, Sort: "receivedDate"}, "Re: budget|lunch", 2},
	} {
		p, err := st.Search(ctx, user, "Quarantine", tc.q, tc.p)
		if err != nil {
			t.Fatal(err)
		}
		if got := subjectsOf(p); got != tc.want || p.Total != tc.total {
			t.Errorf("Search(%+v, %+v) = %q (%d), want %q (%d)", tc.q, tc.p, got, p.Total, tc.want, tc.total)
		}
	}
	if _, err := st.Search(ctx, user, "Nope", mailstore.Query{}, listing.Page{PageSize: 1}); fault.KindOf(err) != fault.NotFound {
		t.Errorf("a missing folder: %v", err)
	}
	if _, err := st.Search(ctx, user, "Quarantine", mailstore.Query{}, listing.Page{PageSize: 1, Sort: "color"}); fault.KindOf(err) != fault.Invalid {
		t.Errorf("sort=color: %v", err)
	}
}

func ptr[T any](v T) *T { return &v }

func TestFindAndRaw(t *testing.T) {
	srv, st := start(t)
	ctx := context.Background()
	raw := msg("a@x.example", user, "held", "abc@x", "body", "X-Fuglu-Id: f-123", "Importance: high",
		"Content-Type: multipart/mixed; boundary=b")
	raw = append(raw[:len(raw)-len("body\r\n")], []byte("--b\r\nContent-Type: text/plain\r\n\r\nhi\r\n--b\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; filename=\"a.pdf\"\r\n\r\n%PDF\r\n--b--\r\n")...)
	if err := srv.Deliver(user, "Quarantine", msg("a@x.example", user, "other", "abcd@x", "x"), time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := srv.Deliver(user, "Quarantine", raw, time.Now()); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"2", "abc@x", "<abc@x>", "f-123"} {
		m, src, err := st.Raw(ctx, user, "Quarantine", id)
		if err != nil || m.Subject != "held" || string(src) != string(raw) || !m.HasAttachments || !m.Important {
			t.Errorf("Raw(%q) = %+v, %d bytes, %v", id, m, len(src), err)
		}
	}
	for _, id := range []string{"3", "ab", "f-12", "nothing"} {
		if _, err := st.Find(ctx, user, "Quarantine", id); fault.KindOf(err) != fault.NotFound {
			t.Errorf("Find(%q) = %v, want not found", id, err)
		}
	}
}

// A message larger than MaxRaw is not read into memory: TooLarge (413),
// decided from its size; one of MaxRaw bytes is read.
func TestRawIsBounded(t *testing.T) {
	srv, st := start(t)
	ctx := context.Background()
	head := msg("a@x.example", user, "big", "big@x", "")
	for uid, size := range []int{mailstore.MaxRaw + 1, mailstore.MaxRaw} {
		raw := append(append([]byte{}, head...), bytes.Repeat([]byte("x"), size-len(head))...)
		if err := srv.Deliver(user, "Archive", raw, time.Now()); err != nil {
			t.Fatal(err)
		}
		_, src, err := st.Raw(ctx, user, "Archive", fmt.Sprint(uid+1))
		if size > mailstore.MaxRaw {
			if fault.KindOf(err) != fault.TooLarge || src != nil {
				t.Errorf("Raw of %d bytes: %d bytes, %v; want TooLarge", size, len(src), err)
			}
		} else if err != nil || len(src) != size {
			t.Errorf("Raw of %d bytes: %d bytes, %v", size, len(src), err)
		}
	}
}

// A page does not pay a login: connections are kept per user.
func TestConnectionsAreReused(t *testing.T) {
	srv, st := start(t)
	ctx := context.Background()
	for range 5 {
		if _, err := st.Folders(ctx, user, "", false); err != nil {
			t.Fatal(err)
		}
	}
	if n := srv.Logins(); n != 1 {
		t.Errorf("%d logins for 5 sequential calls, want 1", n)
	}
}

// A server that is down, silent or refusing ends the call within the
// timeout, as a peer failure.
func TestUnavailableMailStore(t *testing.T) {
	ctx := context.Background()
	silent, err := loopback.StartSilent()
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	closed, _ := net.Listen("tcp", "127.0.0.1:0")
	closedAddr := closed.Addr().String()
	closed.Close()
	srv, _ := start(t)
	for name, o := range map[string]mailstore.Options{
		"silent":       {URL: "imap://" + silent.Addr(), MasterUser: "m", MasterPassword: "p"},
		"closed":       {URL: "imap://" + closedAddr, MasterUser: "m", MasterPassword: "p"},
		"bad password": {URL: "imap://" + srv.Addr(), MasterUser: "master", MasterPassword: "wrong"},
	} {
		o.Timeout = 500 * time.Millisecond
		st, err := mailstore.New(o)
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		_, err = st.Folders(ctx, user, "", false)
		if fault.KindOf(err) != fault.PeerFailed || time.Since(start) > 5*time.Second {
			t.Errorf("%s: %v after %v, want a peer failure within the timeout", name, err, time.Since(start))
		}
		st.Close()
	}
}

// selfSigned is a certificate for 127.0.0.1 and the pool that trusts it.
func selfSigned(t *testing.T) (*tls.Config, *x509.CertPool) {
	t.Helper()
	server, roots, err := loopback.SelfSigned()
	if err != nil {
		t.Fatal(err)
	}
	return server, roots
}

// The mail store over TLS: STARTTLS (imap://…?starttls=true) and implicit
// TLS (imaps://), the server's certificate checked.
func TestTLS(t *testing.T) {
	server, roots := selfSigned(t)
	for _, tc := range []struct {
		scheme   string
		implicit bool
	}{{"imap://%s?starttls=true", false}, {"imaps://%s", true}} {
		srv, err := loopback.StartIMAP(loopback.IMAPOptions{MasterUser: "master", MasterPassword: "m4ster", TLS: server, ImplicitTLS: tc.implicit})
		if err != nil {
			t.Fatal(err)
		}
		defer srv.Close()
		url := fmt.Sprintf(tc.scheme, srv.Addr())
		trusted, _ := mailstore.New(mailstore.Options{URL: url, MasterUser: "master", MasterPassword: "m4ster", Timeout: 2 * time.Second,
			TLSConfig: &tls.Config{RootCAs: roots, ServerName: "127.0.0.1"}})
		defer trusted.Close()
		if _, err := trusted.Folders(context.Background(), user, "", false); err != nil {
			t.Errorf("%s: %v", url, err)
		}
		// A certificate the client does not trust: a peer failure, never
		// a login in clear.
		untrusted, _ := mailstore.New(mailstore.Options{URL: url, MasterUser: "master", MasterPassword: "m4ster", Timeout: 2 * time.Second})
		defer untrusted.Close()
		if _, err := untrusted.Folders(context.Background(), user, "", false); fault.KindOf(err) != fault.PeerFailed {
			t.Errorf("%s with an untrusted certificate: %v", url, err)
		}
	}
}

// Kept connections are closed once idle for IdleTimeout: the next call
// logs in again.
func TestIdleConnectionsAreClosed(t *testing.T) {
	srv, err := loopback.StartIMAP(loopback.IMAPOptions{MasterUser: "master", MasterPassword: "m4ster"})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	st, _ := mailstore.New(mailstore.Options{URL: "imap://" + srv.Addr(), MasterUser: "master", MasterPassword: "m4ster", IdleTimeout: time.Second})
	defer st.Close()
	ctx := context.Background()
	if _, err := st.Folders(ctx, user, "", false); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Folders(ctx, user, "", false); err != nil || srv.Logins() != 1 {
		t.Fatalf("at once: %d logins, %v", srv.Logins(), err)
	}
	time.Sleep(2500 * time.Millisecond)
	if _, err := st.Folders(ctx, user, "", false); err != nil || srv.Logins() != 2 {
		t.Errorf("after 2.5 s idle: %d logins (want 2), %v", srv.Logins(), err)
	}
}

// Concurrent calls of one user share at most MaxPerUser connections.
func TestConnectionsPerUserAreBounded(t *testing.T) {
	srv, err := loopback.StartIMAP(loopback.IMAPOptions{MasterUser: "master", MasterPassword: "m4ster"})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	st, _ := mailstore.New(mailstore.Options{URL: "imap://" + srv.Addr(), MasterUser: "master", MasterPassword: "m4ster", MaxPerUser: 2, Timeout: 5 * time.Second})
	defer st.Close()
	var wg sync.WaitGroup
	errs := make(chan error, 12)
	for range 12 {
		wg.Go(func() {
			_, err := st.Folders(context.Background(), user, "", true)
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	if n := srv.Logins(); n < 1 || n > 2 {
		t.Errorf("%d logins for 12 concurrent calls, want at most 2", n)
	}
}
