package remediate_test

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cleanmail/cleanmail/pkg/relaycheck"
	"github.com/cleanmail/cleanmail/pkg/remediate"
)

// fakeGraph is Entra ID's token endpoint (client credentials) and the
// part of Microsoft Graph v1.0 that remediation uses (messages filtered
// on internetMessageId, $value, permanentDelete, DELETE), as their
// documentation has them, over TLS on loopback, one server for both.
type fakeGraph struct {
	srv                      *httptest.Server
	tenant, clientID, secret string

	mu      sync.Mutex
	tokens  map[string]bool // the valid access tokens
	issued  int
	users   map[string][]*graphMsg
	deletes []string // the plain DELETEs, which move to Deleted Items
	// foreignNext makes the lists link their next page to another host.
	foreignNext bool
}

type graphMsg struct {
	id, folder, subject, messageID string
	raw                            []byte
}

func startGraph(t *testing.T) *fakeGraph {
	t.Helper()
	g := &fakeGraph{tenant: "contoso.onmicrosoft.com", clientID: "6731de76-14a6-49ae-97bc-6eba6914391e", secret: "qWgdYAmab0YSkuL1qKv5bPX~",
		tokens: map[string]bool{}, users: map[string][]*graphMsg{}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /{tenant}/oauth2/v2.0/token", g.token)
	mux.HandleFunc("GET /v1.0/users/{user}/messages", g.authorized(g.list))
	mux.HandleFunc("GET /v1.0/users/{user}/messages/{id}/$value", g.authorized(g.value))
	mux.HandleFunc("POST /v1.0/users/{user}/messages/{id}/permanentDelete", g.authorized(g.purge))
	mux.HandleFunc("DELETE /v1.0/users/{user}/messages/{id}", g.authorized(g.delete))
	g.srv = startTLS(t, mux)
	return g
}

func (g *fakeGraph) options() remediate.Options {
	pool := x509.NewCertPool()
	pool.AddCert(g.srv.Certificate())
	return remediate.Options{AllowPrivate: true, RootCAs: pool, Timeout: 5 * time.Second, GraphURL: g.srv.URL, LoginURL: g.srv.URL}
}

func (g *fakeGraph) target() remediate.Target {
	return remediate.Target{Type: remediate.TypeO365, TenantID: g.tenant, ClientID: g.clientID, ClientSecret: g.secret}
}

func (g *fakeGraph) add(user, folder, messageID, subject string, raw []byte) {
	g.mu.Lock()
	defer g.mu.Unlock()
	n := len(g.users[user]) + 1
	g.users[user] = append(g.users[user], &graphMsg{id: fmt.Sprintf("AAMkAGI2TG93AAA=%d-%s", n, folder), folder: folder, subject: subject, messageID: messageID, raw: raw})
}

// left is folder → the internetMessageIds of user.
func (g *fakeGraph) left(user string) map[string][]string {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := map[string][]string{}
	for _, m := range g.users[user] {
		out[m.folder] = append(out[m.folder], m.messageID)
	}
	for _, ids := range out {
		slices.Sort(ids)
	}
	return out
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func graphError(w http.ResponseWriter, status int, code, message string) {
	writeJSON(w, status, map[string]any{"error": map[string]string{"code": code, "message": message}})
}

// token is the v2.0 token endpoint's client credentials grant, the
// secret in the form (client_secret_post).
func (g *fakeGraph) token(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_request", "error_description": err.Error()})
		return
	}
	f := r.PostForm
	switch tenant := r.PathValue("tenant"); {
	case tenant == "echo.onmicrosoft.com":
		// A server that quotes what it was sent: the secret must not
		// reach the caller's error.
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "invalid_client", "error_description": "bad secret " + f.Get("client_secret")})
	case tenant != g.tenant:
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_request", "error_description": "AADSTS90002: Tenant '" + tenant + "' not found."})
	case f.Get("grant_type") != "client_credentials" || f.Get("scope") != g.srv.URL+"/.default":
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_request", "error_description": fmt.Sprintf("AADSTS900144: grant_type %q, scope %q", f.Get("grant_type"), f.Get("scope"))})
	case f.Get("client_id") != g.clientID || f.Get("client_secret") != g.secret:
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "invalid_client",
			"error_description": "AADSTS7000215: Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID."})
	default:
		g.mu.Lock()
		g.issued++
		tok := "eyJ0eXAiOiJKV1Qi." + strconv.Itoa(g.issued)
		g.tokens[tok] = true
		g.mu.Unlock()
		writeJSON(w, http.StatusOK, map[string]any{"token_type": "Bearer", "expires_in": 3599, "ext_expires_in": 3599, "access_token": tok})
	}
}

// authorized checks the bearer token and the user before h, which runs
// with the lock held and the user's messages.
func (g *fakeGraph) authorized(h func(w http.ResponseWriter, r *http.Request, msgs []*graphMsg)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		g.mu.Lock()
		defer g.mu.Unlock()
		tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || !g.tokens[tok] {
			graphError(w, http.StatusUnauthorized, "InvalidAuthenticationToken", "Access token validation failure. Invalid audience.")
			return
		}
		msgs, ok := g.users[r.PathValue("user")]
		if !ok {
			graphError(w, http.StatusNotFound, "ErrorInvalidUser", "The requested user '"+r.PathValue("user")+"' is invalid.")
			return
		}
		h(w, r, msgs)
	}
}

var filterRE = regexp.MustCompile(`^internetMessageId eq '((?:[^']|'')*)'$`)

// list answers one message a page, with @odata.nextLink, to walk the
// caller's paging.
func (g *fakeGraph) list(w http.ResponseWriter, r *http.Request, msgs []*graphMsg) {
	q := r.URL.Query()
	m := filterRE.FindStringSubmatch(q.Get("$filter"))
	if m == nil {
		graphError(w, http.StatusBadRequest, "BadRequest", "Invalid filter clause: "+q.Get("$filter"))
		return
	}
	id := strings.ReplaceAll(m[1], "''", "'")
	selected := strings.Split(q.Get("$select"), ",")
	var matches []map[string]string
	for _, msg := range msgs {
		if msg.messageID != id {
			continue
		}
		v := map[string]string{}
		for k, val := range map[string]string{"id": msg.id, "subject": msg.subject, "internetMessageId": msg.messageID, "parentFolderId": msg.folder} {
			if slices.Contains(selected, k) {
				v[k] = val
			}
		}
		matches = append(matches, v)
	}
	skip, _ := strconv.Atoi(q.Get("$skip"))
	body := map[string]any{"value": matches[min(skip, len(matches)):min(skip+1, len(matches))]}
	q.Set("$skip", strconv.Itoa(skip+1))
	switch next := r.URL.Path + "?" + q.Encode(); {
	case g.foreignNext:
		body["@odata.nextLink"] = "https://graph.evil.example" + next
	case skip+1 < len(matches):
		body["@odata.nextLink"] = g.srv.URL + next
	}
	writeJSON(w, http.StatusOK, body)
}

func find(msgs []*graphMsg, id string) *graphMsg {
	for _, m := range msgs {
		if m.id == id {
			return m
		}
	}
	return nil
}

func (g *fakeGraph) value(w http.ResponseWriter, r *http.Request, msgs []*graphMsg) {
	m := find(msgs, r.PathValue("id"))
	if m == nil {
		graphError(w, http.StatusNotFound, "ErrorItemNotFound", "The specified object was not found in the store.")
		return
	}
	w.Header().Set("Content-Type", "text/plain")
	_, _ = w.Write(m.raw)
}

func (g *fakeGraph) purge(w http.ResponseWriter, r *http.Request, msgs []*graphMsg) {
	m := find(msgs, r.PathValue("id"))
	if m == nil {
		graphError(w, http.StatusNotFound, "ErrorItemNotFound", "The specified object was not found in the store.")
		return
	}
	user := r.PathValue("user")
	g.users[user] = slices.DeleteFunc(msgs, func(x *graphMsg) bool { return x == m })
	w.WriteHeader(http.StatusNoContent)
}

func (g *fakeGraph) delete(w http.ResponseWriter, r *http.Request, msgs []*graphMsg) {
	m := find(msgs, r.PathValue("id"))
	if m == nil {
		graphError(w, http.StatusNotFound, "ErrorItemNotFound", "The specified object was not found in the store.")
		return
	}
	m.folder = "deleteditems"
	g.deletes = append(g.deletes, m.id)
	w.WriteHeader(http.StatusNoContent)
}

// quoted is a Message-ID with a single quote, which OData doubles.
const quoted = "o'brien.7@evil.example"

func graphWithMail(t *testing.T) *fakeGraph {
	g := startGraph(t)
	g.add(alice, "inbox", "<"+badID+">", "Your invoice", mail(badID, "Your invoice"))
	g.add(alice, "inbox", "<"+lookalike+">", "Not the one", mail(lookalike, "Not the one"))
	g.add(alice, "inbox", "<ok-1@example.net>", "Lunch", mail("ok-1@example.net", "Lunch"))
	g.add(alice, "archive", "<"+badID+">", "Your invoice", mail(badID, "Your invoice"))
	g.add(alice, "archive", "<"+quoted+">", "Quoted", mail(quoted, "Quoted"))
	g.add(bob, "inbox", "<"+badID+">", "Your invoice", mail(badID, "Your invoice"))
	return g
}

func TestGraphDelete(t *testing.T) {
	g := graphWithMail(t)
	r := remediate.New(g.options())
	res, err := r.Remediate(context.Background(), g.target(), alice, badID, remediate.Delete)
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
	if got := g.left(alice); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("alice's mailbox after DELETE:\n got %v\nwant %v", got, want)
	}
	if len(g.deletes) != 0 {
		t.Errorf("plain DELETEs %v: they only move to Deleted Items", g.deletes)
	}
	// Another mailbox of the same application: the token is reused.
	if res, err := r.Remediate(context.Background(), g.target(), bob, badID, remediate.Delete); err != nil || res.Removed() != 1 {
		t.Fatalf("bob: removed %d, %v; want 1", res.Removed(), err)
	}
	if g.issued != 1 {
		t.Errorf("%d tokens issued for two calls; want one, reused", g.issued)
	}
}

func TestGraphQuarantine(t *testing.T) {
	g := graphWithMail(t)
	r := remediate.New(g.options())
	for _, id := range []string{"<" + badID + ">", quoted} {
		res, err := r.Remediate(context.Background(), g.target(), alice, id, remediate.Quarantine)
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
	if got, want := g.left(alice), map[string][]string{"inbox": {"<" + lookalike + ">", "<ok-1@example.net>"}}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("alice's mailbox after QUARANTINE: %v, want %v", got, want)
	}
}

func TestGraphRefusals(t *testing.T) {
	g := graphWithMail(t)
	r := remediate.New(g.options())
	wrong := g.target()
	wrong.ClientSecret = "not-the-secret-1234"
	echo := g.target()
	echo.TenantID = "echo.onmicrosoft.com"
	refused(t, r, []refusal{
		{"wrong secret", wrong, alice, "(401 Unauthorized): invalid_client: AADSTS7000215: Invalid client secret provided."},
		{"no such tenant", func() remediate.Target { t := g.target(); t.TenantID = "fabrikam.example"; return t }(), alice, "AADSTS90002"},
		{"no such user", g.target(), "carol@example.net", "404 Not Found to GET /v1.0/users/carol@example.net/messages: ErrorInvalidUser"},
		{"a server quoting the secret", echo, alice, "bad secret [redacted]"},
	})
	// Loopback is refused unless allowed.
	opts := g.options()
	opts.AllowPrivate = false
	var guard *relaycheck.Refused
	if _, err := remediate.New(opts).Remediate(context.Background(), g.target(), alice, badID, remediate.Delete); !errors.As(err, &guard) {
		t.Errorf("loopback without AllowPrivate: %v; want refused by the guard", err)
	}
	// A token Graph stops accepting is forgotten: the next call asks anew.
	if _, err := r.Remediate(context.Background(), g.target(), bob, "nothing@example.net", remediate.Delete); err != nil {
		t.Fatal(err)
	}
	g.mu.Lock()
	clear(g.tokens)
	g.mu.Unlock()
	if _, err := r.Remediate(context.Background(), g.target(), alice, badID, remediate.Delete); err == nil || !strings.Contains(err.Error(), "401 Unauthorized") {
		t.Errorf("a revoked token: %v; want Graph's 401", err)
	}
	if res, err := r.Remediate(context.Background(), g.target(), alice, badID, remediate.Delete); err != nil || res.Removed() != 2 {
		t.Errorf("after the 401: removed %d, %v; want 2 with a new token", res.Removed(), err)
	}
	// A next page elsewhere would take the token there: refused.
	g.mu.Lock()
	g.foreignNext = true
	g.mu.Unlock()
	if _, err := r.Remediate(context.Background(), g.target(), bob, badID, remediate.Delete); err == nil || !strings.Contains(err.Error(), "outside "+g.srv.URL) {
		t.Errorf("a next page on another host: %v; want refused", err)
	}
}
