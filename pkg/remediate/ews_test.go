package remediate_test

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/cleanmail/cleanmail/pkg/relaycheck"
	"github.com/cleanmail/cleanmail/pkg/remediate"
	"github.com/cleanmail/cleanmail/pkg/remediate/remediatetest"
)

// exchangeWithMail holds for alice the message in Inbox and in a
// subfolder (with others beside), a calendar and a search folder, and
// the message in bob's Inbox.
func exchangeWithMail(t *testing.T) *remediatetest.Exchange {
	x := remediatetest.StartExchange(t)
	x.Add(alice, "Inbox", mail(badID, "Your invoice"))
	x.Add(alice, "Inbox", mail(lookalike, "Not the one"))
	x.Add(alice, "Inbox", mail("ok-1@example.net", "Lunch"))
	x.AddFolder(alice, "Calendar", "CalendarFolder")
	x.AddFolder(alice, "Deleted Items", "Folder")
	x.Add(alice, "Projects", mail("ok-2@example.net", "Minutes"))
	x.Add(alice, "Projects 2026", mail(badID, "Your invoice"))
	x.AddFolder(alice, "AllItems", "SearchFolder")
	x.Add(bob, "Inbox", mail(badID, "Your invoice"))
	return x
}

func TestEWSDelete(t *testing.T) {
	x := exchangeWithMail(t)
	r := remediate.New(x.Options())
	res, err := r.Remediate(context.Background(), x.Target(), alice, badID, remediate.Delete)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := folders(res), []string{"Inbox", "Projects 2026"}; !slices.Equal(got, want) || res.Removed() != 2 {
		t.Fatalf("found in %v, removed %d; want %v, 2", got, res.Removed(), want)
	}
	if f := res.Found[0]; f.Subject != "Your invoice" || !strings.HasPrefix(f.ID, "AAMkItem") || f.Raw != nil {
		t.Errorf("found %+v: want its subject and ItemId, no source", f)
	}
	want := map[string][]string{
		"Inbox":    {"<" + lookalike + ">", "<ok-1@example.net>"},
		"Calendar": {}, "Deleted Items": {}, "AllItems": {},
		"Projects":      {"<ok-2@example.net>"},
		"Projects 2026": {},
	}
	if got := x.Left(alice); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("alice's mailbox after DELETE:\n got %v\nwant %v", got, want)
	}
	if n := x.SoftDeleted(alice); n != 0 {
		t.Errorf("%d items soft-deleted; want a hard delete", n)
	}
	if searched := x.Searched(); slices.Contains(searched, "Calendar") || slices.Contains(searched, "AllItems") {
		t.Errorf("searched %v: the calendar and the search folder are not mail folders", searched)
	}
	if got := x.Left(bob); len(got["Inbox"]) != 1 {
		t.Errorf("bob's Inbox was touched: %v", got)
	}
}

func TestEWSQuarantine(t *testing.T) {
	x := exchangeWithMail(t)
	r := remediate.New(x.Options())
	res, err := r.Remediate(context.Background(), x.Target(), alice, "<"+badID+">", remediate.Quarantine)
	if err != nil {
		t.Fatal(err)
	}
	quarantined(t, res, 2)
	if got := x.Left(alice); len(got["Inbox"]) != 2 || len(got["Projects 2026"]) != 0 {
		t.Errorf("alice's mailbox after QUARANTINE: %v", got)
	}
	// Nothing left: a second run finds nothing.
	res, err = r.Remediate(context.Background(), x.Target(), alice, badID, remediate.Quarantine)
	if err != nil || len(res.Found) != 0 {
		t.Errorf("again: found %v, %v; want nothing", res.Found, err)
	}
}

func TestEWSRefusals(t *testing.T) {
	x := exchangeWithMail(t)
	x.Deny(bob)
	r := remediate.New(x.Options())
	bad := x.Target()
	bad.Password = "wrong-ews-pa55"
	refused(t, r, []refusal{
		{"wrong password", bad, alice, "refused the login CORP\\svc-remediate (401 Unauthorized)"},
		{"impersonation denied", x.Target(), bob, "ErrorImpersonateUserDenied: The account does not have permission to impersonate the requested user."},
		{"no such mailbox", x.Target(), "carol@example.net", "ErrorNonExistentMailbox"},
	})
	// Loopback is refused unless allowed.
	opts := x.Options()
	opts.AllowPrivate = false
	var guard *relaycheck.Refused
	if _, err := remediate.New(opts).Remediate(context.Background(), x.Target(), alice, badID, remediate.Delete); !errors.As(err, &guard) {
		t.Errorf("loopback without AllowPrivate: %v; want refused by the guard", err)
	}
	// Only narrows the guard: loopback allowed, but not by Only.
	opts = x.Options()
	opts.Only = func(netip.Addr) bool { return false }
	if _, err := remediate.New(opts).Remediate(context.Background(), x.Target(), alice, badID, remediate.Delete); !errors.As(err, &guard) {
		t.Errorf("loopback refused by Only: %v; want refused by the guard", err)
	}
	// The fake's certificate is not trusted without its pool.
	opts = x.Options()
	opts.RootCAs = nil
	if _, err := remediate.New(opts).Remediate(context.Background(), x.Target(), alice, badID, remediate.Delete); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("an untrusted certificate: %v; want a TLS error", err)
	}
	if got := x.Left(alice); len(got["Inbox"]) != 3 {
		t.Errorf("alice's Inbox changed by refused calls: %v", got["Inbox"])
	}
}
