package client_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/oapi-codegen/nullable"

	"github.com/cleanmail/cleanmail/db"
	"github.com/cleanmail/cleanmail/db/dbtest"
	"github.com/cleanmail/cleanmail/pkg/api"
	"github.com/cleanmail/cleanmail/pkg/client"
	"github.com/cleanmail/cleanmail/pkg/ids"
)

// The generated Go client against the real server, in-process on a fresh
// database of each kind, as pkg/api's tests run it.

const sysadminToken = "0123456789abcdef0123456789abcdef"

// serve starts the server on dbURL and returns a client of it, sending
// the sysadmin's token.
func serve(t *testing.T, dbURL string) *client.ClientWithResponses {
	t.Helper()
	store, err := db.Open(db.Options{URL: dbURL})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	if _, err := store.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	if _, _, err := store.Bootstrap(t.Context(), sysadminToken); err != nil {
		t.Fatal(err)
	}
	codec, err := ids.New(ids.Options{Salt: "client-test"})
	if err != nil {
		t.Fatal(err)
	}
	h, err := api.New(api.Options{Store: store, IDs: codec, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), PurgeDelay: 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	c, err := client.NewClientWithResponses(srv.URL, client.WithRequestEditorFn(func(_ context.Context, r *http.Request) error {
		r.Header.Set("Authorization", "Bearer "+sysadminToken)
		return nil
	}))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// value unwraps a field of the generated models, whichever way the spec
// declares it: a plain value (required), a pointer (optional) or a
// nullable.Nullable (nullable; ok is false for null). The test reads the
// same way whether or not a field is marked required yet.
func value[T any](t *testing.T, field any) (v T, ok bool) {
	t.Helper()
	switch f := field.(type) {
	case T:
		return f, true
	case *T:
		if f == nil {
			return v, false
		}
		return *f, true
	case nullable.Nullable[T]:
		if !f.IsSpecified() || f.IsNull() {
			return v, false
		}
		return f.MustGet(), true
	}
	t.Fatalf("value: a %T is not a %T", field, v)
	return v, false
}

// must is value for a field that must be there.
func must[T any](t *testing.T, field any, what string) T {
	t.Helper()
	v, ok := value[T](t, field)
	if !ok {
		t.Fatalf("%s: absent or null", what)
	}
	return v
}

// status fails the test unless r answered want, printing the body.
func status(t *testing.T, r interface{ StatusCode() int }, body []byte, want int) {
	t.Helper()
	if got := r.StatusCode(); got != want {
		t.Fatalf("status %d, want %d\nbody: %s", got, want, body)
	}
}

func TestDomainLifecycle(t *testing.T) {
	for _, db := range []struct {
		name string
		url  func(testing.TB) string
	}{{"sqlite", dbtest.SQLite}, {"postgres", dbtest.Postgres}} {
		t.Run(db.name, func(t *testing.T) {
			domainLifecycle(t, serve(t, db.url(t)))
		})
	}
}

// domainLifecycle creates a domain with a relay, reads it, clears its
// description and the relay's fallback with PATCHes that send null, lists
// it, deletes it and restores it.
func domainLifecycle(t *testing.T, c *client.ClientWithResponses) {
	ctx := t.Context()

	created, err := c.CreateDomainWithResponse(ctx, client.DomainAdd{
		Name:            "north.example",
		Description:     ptr("The North"),
		Status:          client.DomainStatusENABLED,
		Quarantine:      true,
		Retention:       false,
		Archive:         false,
		DefaultLanguage: client.LanguageEN,
		ExternalId:      ptr("DOM-7"),
		Platforms: &[]client.PlatformAdd{{
			Name: "winterfell relay", TransportDest: "mx.north.example", TransportType: client.TransportTypeSMTP, TransportPort: 25,
			FallbackTransportDest: nullable.NewNullableWithValue("mx2.north.example"),
			FallbackTransportType: nullable.NewNullableWithValue(client.TransportTypeSMTP),
			FallbackTransportPort: nullable.NewNullableWithValue[int32](2525),
		}},
	})
	if err != nil {
		t.Fatal(err)
	}
	status(t, created, created.Body, http.StatusCreated)
	if created.JSON201 == nil {
		t.Fatalf("201 without a Domain: %s", created.Body)
	}
	id := must[string](t, created.JSON201.Id, "domain id")
	if loc := created.HTTPResponse.Header.Get("Location"); loc != "/domains/"+id {
		t.Errorf("Location %q, want /domains/%s", loc, id)
	}

	got, err := c.GetDomainWithResponse(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	status(t, got, got.Body, http.StatusOK)
	d := got.JSON200
	if d.Name != "north.example" || must[string](t, d.Description, "description") != "The North" || d.Status != client.DomainStatusENABLED {
		t.Errorf("read back %q %v %q, want north.example, The North, ENABLED", d.Name, d.Description, d.Status)
	}
	if deleted, set := value[int64](t, d.DeletionDate); set {
		t.Errorf("a live domain has deletionDate %d, want null", deleted)
	}
	platforms := must[[]client.Platform](t, d.Platforms, "platforms")
	if len(platforms) != 1 {
		t.Fatalf("platforms %+v, want the one created", platforms)
	}
	relay := platforms[0]
	relayID := must[string](t, relay.Id, "platform id")
	if dest := must[string](t, relay.FallbackTransportDest, "fallback"); dest != "mx2.north.example" {
		t.Errorf("fallback %q, want mx2.north.example", dest)
	}

	// PATCH with null: the description is cleared, the external id is
	// changed, everything else is left as it was.
	patched, err := c.UpdateDomainWithResponse(ctx, id, nil, client.DomainUpdate{
		Description: nullable.NewNullNullable[string](),
		ExternalId:  nullable.NewNullableWithValue("DOM-7b"),
	})
	if err != nil {
		t.Fatal(err)
	}
	status(t, patched, patched.Body, http.StatusNoContent)
	got, err = c.GetDomainWithResponse(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	status(t, got, got.Body, http.StatusOK)
	d = got.JSON200
	if !d.Description.IsSpecified() || !d.Description.IsNull() {
		t.Errorf("description after PATCH null: %+v, want null", d.Description)
	}
	if ext := must[string](t, d.ExternalId, "externalId"); ext != "DOM-7b" {
		t.Errorf("externalId %q, want DOM-7b", ext)
	}
	if d.Name != "north.example" || d.DefaultLanguage != client.LanguageEN {
		t.Errorf("PATCH changed what it did not name: %q %q", d.Name, d.DefaultLanguage)
	}

	// The relay's fallback, three nullable fields, cleared with null.
	cleared, err := c.UpdatePlatformWithResponse(ctx, relayID, client.PlatformUpdate{
		FallbackTransportDest: nullable.NewNullNullable[string](),
		FallbackTransportType: nullable.NewNullNullable[client.TransportType](),
		FallbackTransportPort: nullable.NewNullNullable[int32](),
	})
	if err != nil {
		t.Fatal(err)
	}
	status(t, cleared, cleared.Body, http.StatusNoContent)
	p, err := c.GetPlatformWithResponse(ctx, relayID)
	if err != nil {
		t.Fatal(err)
	}
	status(t, p, p.Body, http.StatusOK)
	for what, n := range map[string]bool{
		"fallbackTransportDest": p.JSON200.FallbackTransportDest.IsNull(),
		"fallbackTransportType": p.JSON200.FallbackTransportType.IsNull(),
		"fallbackTransportPort": p.JSON200.FallbackTransportPort.IsNull(),
	} {
		if !n {
			t.Errorf("%s after PATCH null: not null (%s)", what, p.Body)
		}
	}
	if p.JSON200.TransportDest != "mx.north.example" {
		t.Errorf("transportDest %q, want it unchanged", p.JSON200.TransportDest)
	}

	// A second domain, then the list filtered by name.
	other, err := c.CreateDomainWithResponse(ctx, client.DomainAdd{Name: "south.example", Status: client.DomainStatusENABLED, DefaultLanguage: client.LanguageFR})
	if err != nil {
		t.Fatal(err)
	}
	status(t, other, other.Body, http.StatusCreated)
	list, err := c.ListDomainsWithResponse(ctx, &client.ListDomainsParams{Name: ptr("north*")})
	if err != nil {
		t.Fatal(err)
	}
	status(t, list, list.Body, http.StatusOK)
	if n := len(*list.JSON200); n != 1 || must[string](t, (*list.JSON200)[0].Id, "listed id") != id {
		t.Errorf("domains named north*: %s, want north.example alone", list.Body)
	}
	if total := list.HTTPResponse.Header.Get("X-Total-Count"); total != "1" {
		t.Errorf("X-Total-Count %q, want 1", total)
	}
	all, err := c.ListDomainsWithResponse(ctx, &client.ListDomainsParams{PageSize: ptr[client.PageSize](1), Offset: ptr[client.Offset](1)})
	if err != nil {
		t.Fatal(err)
	}
	status(t, all, all.Body, http.StatusOK)
	if len(*all.JSON200) != 1 || all.HTTPResponse.Header.Get("X-Total-Count") != "2" {
		t.Errorf("second page of one: %s (X-Total-Count %s), want one of two", all.Body, all.HTTPResponse.Header.Get("X-Total-Count"))
	}

	// Deleted: DELETED with its dates, then restored.
	del, err := c.DeleteDomainWithResponse(ctx, id, nil)
	if err != nil {
		t.Fatal(err)
	}
	status(t, del, del.Body, http.StatusNoContent)
	got, err = c.GetDomainWithResponse(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	status(t, got, got.Body, http.StatusOK)
	deletedAt, purgeAt := must[int64](t, got.JSON200.DeletionDate, "deletionDate"), must[int64](t, got.JSON200.PurgeDate, "purgeDate")
	if got.JSON200.Status != client.DomainStatusDELETED || purgeAt <= deletedAt {
		t.Errorf("deleted domain: status %s, deletionDate %d, purgeDate %d", got.JSON200.Status, deletedAt, purgeAt)
	}
	again, err := c.DeleteDomainWithResponse(ctx, id, nil)
	if err != nil {
		t.Fatal(err)
	}
	status(t, again, again.Body, http.StatusUnprocessableEntity)
	if again.ApplicationproblemJSON422 == nil {
		t.Errorf("422 without a problem document: %s", again.Body)
	}
	restored, err := c.UpdateDomainWithResponse(ctx, id, nil, client.DomainUpdate{Status: ptr(client.DomainStatusENABLED)})
	if err != nil {
		t.Fatal(err)
	}
	status(t, restored, restored.Body, http.StatusNoContent)

	missing, err := c.GetDomainWithResponse(ctx, "nope0")
	if err != nil {
		t.Fatal(err)
	}
	status(t, missing, missing.Body, http.StatusNotFound)
	if missing.ApplicationproblemJSON404 == nil {
		t.Errorf("404 without a problem document: %s", missing.Body)
	}
}

func ptr[T any](v T) *T { return &v }
