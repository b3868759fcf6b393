package remediate_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/cleanmail/cleanmail/pkg/relaycheck"
	"github.com/cleanmail/cleanmail/pkg/remediate"
	"github.com/cleanmail/cleanmail/pkg/remediate/remediatetest"
)

// quoted is a Message-ID with a single quote, which OData doubles.
const quoted = "o'brien.7@evil.example"

func graphWithMail(t *testing.T) *remediatetest.Graph {
	g := remediatetest.StartGraph(t)
	g.Add(alice, "inbox", mail(badID, "Your invoice"))
	g.Add(alice, "inbox", mail(lookalike, "Not the one"))
	g.Add(alice, "inbox", mail("ok-1@example.net", "Lunch"))
	g.Add(alice, "archive", mail(badID, "Your invoice"))
	g.Add(alice, "archive", mail(quoted, "Quoted"))
	g.Add(bob, "inbox", mail(badID, "Your invoice"))
	return g
}
func TestGraphDelete(t *testing.T) {
	g := graphWithMail(t)
	r := remediate.New(g.Options())
	res, err := r.Remediate(context.Background(), g.Target(), alice, badID, remediate.Delete)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := folders(res), []string{"archive", "inbox"}; !slices.Equal(got, want) || res.Removed() != 2 {
		t.Fatalf("found in %v, removed %d; want %v, 2", got, res.Removed(), want)
	}
	if f := res.Found[0]; f.Subject != "Your invoice" || f.ID == "" || f.Raw != nil {
		t.Errorf("found %+v: want its subject and id, no source", f)
	}
	want := map[string][]string{"inbox": {"<" + lookalike + ">", "<ok-1@example.net>"}, "archive": {"<" + quoted + ">"}}
	if got := g.Left(alice); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("alice's mailbox after DELETE:\n got %v\nwant %v", got, want)
	}
	if moved := g.MovedToDeletedItems(); len(moved) != 0 {
		t.Errorf("plain DELETEs %v: they only move to Deleted Items", moved)
	}
	// Another mailbox of the same application: the token is reused.
	if res, err := r.Remediate(context.Background(), g.Target(), bob, badID, remediate.Delete); err != nil || res.Removed() != 1 {
		t.Fatalf("bob: removed %d, %v; want 1", res.Removed(), err)
	}
	if n := g.Issued(); n != 1 {
		t.Errorf("%d tokens issued for two calls; want one, reused", n)
	}
}

func TestGraphQuarantine(t *testing.T) {
	g := graphWithMail(t)
	r := remediate.New(g.Options())
	for _, id := range []string{"<" + badID + ">", quoted} {
		res, err := r.Remediate(context.Background(), g.Target(), alice, id, remediate.Quarantine)
		if err != nil {
			t.Fatalf("%s: %v", id, err)
		}
		if len(res.Found) == 0 || res.Removed() != len(res.Found) {
			t.Fatalf("%s: found %d, removed %d", id, len(res.Found), res.Removed())
		}
		for _, f := range res.Found {
			if want := mail(strings.Trim(id, "<>"), f.Subject); !bytes.Equal(f.Raw, want) {
				t.Errorf("%s in %s: source %q, want %q", id, f.Folder, f.Raw, want)
			}
		}
	}
	if got, want := g.Left(alice), map[string][]string{"inbox": {"<" + lookalike + ">", "<ok-1@example.net>"}}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("alice's mailbox after QUARANTINE: %v, want %v", got, want)
	}
}

func TestGraphRefusals(t *testing.T) {
	g := graphWithMail(t)
	r := remediate.New(g.Options())
	wrong := g.Target()
	wrong.ClientSecret = "not-the-secret-1234"
	echo := g.Target()
	echo.TenantID = remediatetest.EchoTenant
	refused(t, r, []refusal{
		{"wrong secret", wrong, alice, "(401 Unauthorized): invalid_client: AADSTS7000215: Invalid client secret provided."},
		{"no such tenant", func() remediate.Target { t := g.Target(); t.TenantID = "fabrikam.example"; return t }(), alice, "AADSTS90002"},
		{"no such user", g.Target(), "carol@example.net", "404 Not Found to GET /v1.0/users/carol@example.net/messages: ErrorInvalidUser"},
		{"a server quoting the secret", echo, alice, "bad secret [redacted]"},
	})
	// Loopback is refused unless allowed.
	opts := g.Options()
	opts.AllowPrivate = false
	var guard *relaycheck.Refused
	if _, err := remediate.New(opts).Remediate(context.Background(), g.Target(), alice, badID, remediate.Delete); !errors.As(err, &guard) {
		t.Errorf("loopback without AllowPrivate: %v; want refused by the guard", err)
	}
	// A token Graph stops accepting is forgotten: the next call asks anew.
	if _, err := r.Remediate(context.Background(), g.Target(), bob, "nothing@example.net", remediate.Delete); err != nil {
		t.Fatal(err)
	}
	g.RevokeTokens()
	if _, err := r.Remediate(context.Background(), g.Target(), alice, badID, remediate.Delete); err == nil || !strings.Contains(err.Error(), "401 Unauthorized") {
		t.Errorf("a revoked token: %v; want Graph's 401", err)
	}
	if res, err := r.Remediate(context.Background(), g.Target(), alice, badID, remediate.Delete); err != nil || res.Removed() != 2 {
		t.Errorf("after the 401: removed %d, %v; want 2 with a new token", res.Removed(), err)
	}
	// A next page elsewhere would take the token there: refused.
	g.LinkNextPagesElsewhere()
	if _, err := r.Remediate(context.Background(), g.Target(), bob, badID, remediate.Delete); err == nil || !strings.Contains(err.Error(), "outside "+g.URL()) {
		t.Errorf("a next page on another host: %v; want refused", err)
	}
}
