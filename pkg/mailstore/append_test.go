package mailstore_test

import (
	"context"
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/cleanmail/cleanmail/pkg/fault"
	"github.com/cleanmail/cleanmail/pkg/loopback"
	"github.com/cleanmail/cleanmail/pkg/mailstore"
)

func TestAppendAndDelete(t *testing.T) {
	_, st := start(t)
	ctx := context.Background()
	raw := msg("ned@stark.example", "arya@stark.example", "sent", "s1@stark.example", "hello")
	uid, err := st.Append(ctx, user, "Archive", raw, []imap.Flag{imap.FlagSeen})
	if err != nil {
		t.Fatal(err)
	}
	if uid == 0 {
		t.Fatal("no UID from APPEND (the server has UIDPLUS)")
	}
	m, got, err := st.Raw(ctx, user, "Archive", "s1@stark.example")
	if err != nil {
		t.Fatal(err)
	}
	if m.UID != uid || string(got) != string(raw) || !m.Has(imap.FlagSeen) {
		t.Errorf("appended: UID %d (want %d), seen %v, source %q", m.UID, uid, m.Has(imap.FlagSeen), got)
	}
	// Another message stays when the first is deleted.
	other, err := st.Append(ctx, user, "Archive", msg("a@x.example", user, "kept", "k1@x.example", "hi"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Delete(ctx, user, "Archive", uid); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Find(ctx, user, "Archive", strconv.FormatUint(uint64(uid), 10)); !errors.Is(err, fault.ErrNotFound) {
		t.Errorf("the deleted message is still found: %v", err)
	}
	if m, err := st.Find(ctx, user, "Archive", "k1@x.example"); err != nil || m.UID != other || m.Has(imap.FlagDeleted) {
		t.Errorf("the other message: %+v, %v", m, err)
	}
	if err := st.Delete(ctx, user, "Archive", uid); !errors.Is(err, fault.ErrNotFound) {
		t.Errorf("deleting it again: %v, want a NotFound", err)
	}
	if _, err := st.Append(ctx, user, "Nope", raw, nil); !errors.Is(err, fault.ErrNotFound) {
		t.Errorf("APPEND to a missing folder: %v, want a NotFound", err)
	}
	if err := st.Delete(ctx, user, "Nope", 1); !errors.Is(err, fault.ErrNotFound) {
		t.Errorf("delete in a missing folder: %v, want a NotFound", err)
	}
}

func TestAppendToSilentServer(t *testing.T) {
	silent, err := loopback.StartSilent()
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	st, err := mailstore.New(mailstore.Options{URL: "imap://" + silent.Addr(), MasterUser: "m", MasterPassword: "p", Timeout: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	begin := time.Now()
	_, err = st.Append(context.Background(), user, "Sent", []byte("Subject: x\r\n\r\nx\r\n"), nil)
	if e, ok := fault.As(err); !ok || e.Kind != fault.PeerFailed {
		t.Errorf("APPEND to a silent server: %v, want a peer failure", err)
	}
	if d := time.Since(begin); d > 2*time.Second {
		t.Errorf("APPEND to a silent server took %v", d)
	}
}
