package mailstore_test

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/cleanmail/cleanmail/pkg/mailstore"
	"github.com/cleanmail/cleanmail/pkg/peertest"
)

// dovecot starts a Dovecot and a Store on it, as a master user.
func dovecot(t *testing.T) (*peertest.Dovecot, *mailstore.Store) {
	t.Helper()
	d := peertest.StartDovecot(t)
	st, err := mailstore.New(mailstore.Options{URL: "imap://" + d.IMAPAddr, MasterUser: d.MasterUser, MasterPassword: d.MasterPassword,
		Separator: d.Separator, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return d, st
}

// appendAt stores raw in user's folder on d as received at when (IMAP
// APPEND through the master user; the folder created when missing).
func appendAt(t *testing.T, d *peertest.Dovecot, folder string, raw []byte, when time.Time) error {
	t.Helper()
	c, err := imapclient.DialInsecure(d.IMAPAddr, nil)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.Login(user+d.Separator+d.MasterUser, d.MasterPassword).Wait(); err != nil {
		return err
	}
	_ = c.Create(folder, nil).Wait() // exists already: fine
	cmd := c.Append(folder, int64(len(raw)), &imap.AppendOptions{Time: when})
	if _, err := cmd.Write(raw); err != nil {
		return err
	}
	if err := cmd.Close(); err != nil {
		return err
	}
	_, err = cmd.Wait()
	return err
}

// Against Dovecot, which has SORT: the same searches, sorts and pages as
// against the embedded store.
func TestDovecotSearchSortsAndPages(t *testing.T) {
	d, st := dovecot(t)
	searchCases(t, st, func(folder string, raw []byte, at time.Time) error { return appendAt(t, d, folder, raw, at) })
}

func TestDovecotFoldersAndMessages(t *testing.T) {
	d, st := dovecot(t)
	ctx := context.Background()
	raw := msg("a@x.example", user, "held", "abc@x", "body", "X-Fuglu-Id: f-123")
	d.Deliver(t, user, "Quarantine/Old", raw)
	d.Deliver(t, user, "Quarantine/Überfällig", msg("a@x.example", user, "late", "late@x", "x"))
	top, err := st.Folders(ctx, user, "", true)
	if err != nil {
		t.Fatal(err)
	}
	var q *mailstore.Folder
	for i := range top {
		if top[i].Path == "Quarantine" {
			q = &top[i]
		}
	}
	if q == nil || !q.HasChildren {
		t.Fatalf("top folders: %+v", top)
	}
	kids, err := st.Folders(ctx, user, "Quarantine", true)
	if err != nil || len(kids) != 2 {
		t.Fatalf("children: %+v, %v", kids, err)
	}
	for _, k := range kids {
		if k.Messages == nil || *k.Messages != 1 || k.HasChildren {
			t.Errorf("child %+v", k)
		}
		if k.Path != "Quarantine/Old" && k.Path != "Quarantine/Überfällig" {
			t.Errorf("child path %q", k.Path)
		}
	}
	for _, id := range []string{"1", "abc@x", "f-123"} {
		m, src, err := st.Raw(ctx, user, "Quarantine/Old", id)
		if err != nil || m.Subject != "held" || !bytes.Equal(src, raw) {
			t.Errorf("Raw(%q) = %+v, %d bytes, %v", id, m, len(src), err)
		}
	}
	if err := st.AddFlag(ctx, user, "Quarantine/Old", 1, mailstore.Released); err != nil {
		t.Fatal(err)
	}
	if m, err := st.Find(ctx, user, "Quarantine/Old", "abc@x"); err != nil || !m.Has(mailstore.Released) {
		t.Errorf("after AddFlag: %+v, %v", m, err)
	}
}
