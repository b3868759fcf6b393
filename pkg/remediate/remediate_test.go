package remediate_test

import (
	"bytes"
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/cleanmail/cleanmail/pkg/remediate"
)

const (
	alice = "alice@example.net"
	bob   = "bob@example.net"
	// badID is the message remediated; lookalike's id contains it, which
	// IMAP's SEARCH HEADER (a substring match) finds too.
	badID     = "bad-1@evil.example"
	lookalike = "bad-1@evil.example.org"
)

// mail is a message with CRLF line ends, as stored.
func mail(id, subject string) []byte {
	return []byte("From: Mallory <mallory@evil.example>\r\nTo: alice@example.net\r\nSubject: " + subject +
		"\r\nMessage-ID: <" + id + ">\r\nDate: Mon, 02 Nov 2026 10:00:00 +0000\r\n\r\nClick here.\r\n")
}

// folders is where the copies were found, sorted.
func folders(res remediate.Result) []string {
	var out []string
	for _, f := range res.Found {
		out = append(out, f.Folder)
	}
	slices.Sort(out)
	return out
}

// quarantined checks that res found n copies of badID and removed them,
// each with its source as delivered.
func quarantined(t *testing.T, res remediate.Result, n int) {
	t.Helper()
	if len(res.Found) != n || res.Removed() != n {
		t.Fatalf("found %d, removed %d; want %d, %[3]d", len(res.Found), res.Removed(), n)
	}
	for _, f := range res.Found {
		if want := mail(badID, "Your invoice"); !bytes.Equal(f.Raw, want) {
			t.Errorf("%s: source\n%q\nwant what was delivered\n%q", f.Folder, f.Raw, want)
		}
	}
}

// refusal is a call that must fail: its error says want, and no secret.
type refusal struct {
	name    string
	target  remediate.Target
	mailbox string
	want    string
}

func refused(t *testing.T, r *remediate.Remediator, cases []refusal) {
	t.Helper()
	for _, c := range cases {
		res, err := r.Remediate(context.Background(), c.target, c.mailbox, badID, remediate.Delete)
		if err == nil || !strings.Contains(err.Error(), c.want) || len(res.Found) != 0 {
			t.Errorf("%s: %v, found %v; want an error with %q", c.name, err, res.Found, c.want)
			continue
		}
		for _, secret := range []string{c.target.Password, c.target.ClientSecret} {
			if secret != "" && strings.Contains(err.Error(), secret) {
				t.Errorf("%s: the secret is in the error %q", c.name, err)
			}
		}
	}
}
