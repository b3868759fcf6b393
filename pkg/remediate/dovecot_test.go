package remediate_test

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/cleanmail/cleanmail/pkg/peertest"
	"github.com/cleanmail/cleanmail/pkg/remediate"
)

// Against a real Dovecot: the master user's login, Dovecot's SEARCH and
// UID EXPUNGE, Maildir read back from the disk.
func TestDovecotDeleteThroughTheMasterUser(t *testing.T) {
	d := peertest.StartDovecot(t)
	for _, m := range []struct {
		folder string
		raw    []byte
	}{
		{"INBOX", mail(badID, "Your invoice")},
		{"INBOX", mail(lookalike, "Not the one")},
		{"INBOX", mail("ok-1@example.net", "Lunch")},
		{"Archive/2026", mail(badID, "Your invoice")},
		{"Archive/2026", mail("ok-2@example.net", "Minutes")},
	} {
		d.Deliver(t, alice, m.folder, m.raw)
	}
	d.Deliver(t, bob, "INBOX", mail(badID, "Your invoice"))
	r := remediate.New(remediate.Options{AllowPrivate: true, Timeout: 10 * time.Second})
	tg := imapTarget(d.IMAPAddr)
	tg.Login, tg.Password = d.MasterUser, d.MasterPassword
	res, err := r.Remediate(context.Background(), tg, alice, badID, remediate.Quarantine)
	if err != nil {
		t.Fatal(err)
	}
	quarantined(t, res, 2)
	for folder, want := range map[string][][]byte{
		"INBOX":        {mail(lookalike, "Not the one"), mail("ok-1@example.net", "Lunch")},
		"Archive/2026": {mail("ok-2@example.net", "Minutes")},
	} {
		if got := d.Messages(t, alice, folder); !equalAll(got, want) {
			t.Errorf("%s after QUARANTINE: %q\nwant %q", folder, got, want)
		}
	}
	if got := d.Messages(t, bob, "INBOX"); len(got) != 1 {
		t.Errorf("bob's INBOX holds %d messages; another mailbox must not be touched", len(got))
	}

	// The mailbox's own login (no master user) reaches it too.
	tg.Login, tg.Password = bob, peertest.UserPassword
	res, err = r.Remediate(context.Background(), tg, bob, badID, remediate.Delete)
	if err != nil || res.Removed() != 1 {
		t.Fatalf("as bob: removed %d, %v; want 1", res.Removed(), err)
	}
	if got := d.Messages(t, bob, "INBOX"); len(got) != 0 {
		t.Errorf("bob's INBOX holds %d messages after DELETE", len(got))
	}
}

func equalAll(a, b [][]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !bytes.Equal(a[i], b[i]) {
			return false
		}
	}
	return true
}
