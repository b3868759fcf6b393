package peertest

import (
	"bytes"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

// dialIMAP logs in to d as user through the master user, every exchange
// bounded by one deadline on the connection.
func dialIMAP(t *testing.T, d *Dovecot, user string) *imapclient.Client {
	t.Helper()
	conn, err := net.DialTimeout("tcp", d.IMAPAddr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if err := conn.SetDeadline(time.Now().Add(30 * time.Second)); err != nil {
		t.Fatal(err)
	}
	c := imapclient.New(conn, nil)
	t.Cleanup(func() { c.Close() })
	if err := c.Login(user+d.Separator+d.MasterUser, d.MasterPassword).Wait(); err != nil {
		t.Fatalf("login as %s%s%s: %v", user, d.Separator, d.MasterUser, err)
	}
	return c
}

func TestDovecotMasterLoginDeliverFetch(t *testing.T) {
	t.Parallel()
	d := StartDovecot(t)
	const user = "user@example.net"
	c := dialIMAP(t, d, user)

	caps, err := c.Capability().Wait()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []imap.Cap{imap.CapSort, imap.CapESort} {
		if !caps.Has(want) {
			t.Errorf("capabilities %v lack %s", caps, want)
		}
	}

	// Bytes that a careless store would change: a long header folded over
	// two lines, trailing spaces, a lone dot, 8-bit text, no final CRLF.
	raw := []byte("From: Alice <alice@example.com>\r\n" +
		"To: user@example.net\r\n" +
		"Subject: Peer test\r\n" +
		"X-Long: one\r\n two  \r\n" +
		"Message-ID: <deliver-1@example.com>\r\n" +
		"Content-Type: text/plain; charset=utf-8\r\n" +
		"\r\n" +
		"Bonjour, ça va ?\r\n.\r\nlast line")
	d.Deliver(t, user, "Archive/2026", raw)

	if _, err := c.Select("Archive/2026", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	found, err := c.UIDSearch(&imap.SearchCriteria{
		Header: []imap.SearchCriteriaHeaderField{{Key: "Message-ID", Value: "<deliver-1@example.com>"}},
	}, nil).Wait()
	if err != nil {
		t.Fatal(err)
	}
	uids := found.AllUIDs()
	if len(uids) != 1 {
		t.Fatalf("UID SEARCH found %v, want one message", uids)
	}
	msgs, err := c.Fetch(imap.UIDSetNum(uids[0]), &imap.FetchOptions{
		UID:         true,
		BodySection: []*imap.FetchItemBodySection{{Peek: true}},
	}).Collect()
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 1 {
		t.Fatalf("FETCH returned %d messages, want 1", len(msgs))
	}
	if got := msgs[0].FindBodySection(&imap.FetchItemBodySection{Peek: true}); !bytes.Equal(got, raw) {
		t.Errorf("FETCH BODY[] =\n%q\nwant\n%q", got, raw)
	}
	if got := d.Messages(t, user, "Archive/2026"); len(got) != 1 || !bytes.Equal(got[0], raw) {
		t.Errorf("Messages = %q, want [%q]", got, raw)
	}

	// The users' own password works too, and a wrong one does not.
	c2, err := imapclient.DialInsecure(d.IMAPAddr, &imapclient.Options{Dialer: &net.Dialer{Timeout: 5 * time.Second}})
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	if err := c2.Login(user+d.Separator+d.MasterUser, "wrong").Wait(); err == nil {
		t.Error("master login with a wrong password succeeded")
	}
	if err := c2.Login(user, UserPassword).Wait(); err != nil {
		t.Errorf("login as %s with UserPassword: %v", user, err)
	}
}

func TestDovecotFill(t *testing.T) {
	t.Parallel()
	d := StartDovecot(t)
	const user, n = "bulk@example.net", 1000
	msg := func(i int) []byte {
		return fmt.Appendf(nil, "From: sender%d@example.com\r\nSubject: message %d\r\nMessage-ID: <fill-%d@example.com>\r\n\r\nbody %d\r\n", i, i, i, i)
	}
	d.Deliver(t, user, "INBOX", msg(-1))
	start := time.Now()
	d.Fill(t, user, "INBOX", n, msg)
	t.Logf("Fill(%d) took %v", n, time.Since(start))

	c := dialIMAP(t, d, user)
	st, err := c.Status("INBOX", &imap.StatusOptions{NumMessages: true, NumUnseen: true, UIDNext: true}).Wait()
	if err != nil {
		t.Fatal(err)
	}
	if st.NumMessages == nil || *st.NumMessages != n+1 {
		t.Errorf("STATUS MESSAGES = %v, want %d", st.NumMessages, n+1)
	}
	if st.NumUnseen == nil || *st.NumUnseen != n+1 {
		t.Errorf("STATUS UNSEEN = %v, want %d", st.NumUnseen, n+1)
	}
	if st.UIDNext != imap.UID(n+2) {
		t.Errorf("STATUS UIDNEXT = %d, want %d", st.UIDNext, n+2)
	}

	// Order of arrival is i: UID i+2 is msg(i), through IMAP and on disk.
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	for _, i := range []int{0, 1, 9, 10, 99, 500, n - 1} {
		msgs, err := c.Fetch(imap.UIDSetNum(imap.UID(i+2)), &imap.FetchOptions{BodySection: []*imap.FetchItemBodySection{{Peek: true}}}).Collect()
		if err != nil {
			t.Fatal(err)
		}
		if len(msgs) != 1 {
			t.Fatalf("UID FETCH %d: %d messages", i+2, len(msgs))
		}
		if got := msgs[0].FindBodySection(&imap.FetchItemBodySection{Peek: true}); !bytes.Equal(got, msg(i)) {
			t.Errorf("UID %d = %q, want %q", i+2, got, msg(i))
		}
	}
	all := d.Messages(t, user, "INBOX")
	if len(all) != n+1 {
		t.Fatalf("Messages: %d, want %d", len(all), n+1)
	}
	for i, m := range all {
		if !bytes.Equal(m, msg(i-1)) {
			t.Fatalf("Messages[%d] = %q, want %q", i, m, msg(i-1))
		}
	}
}
