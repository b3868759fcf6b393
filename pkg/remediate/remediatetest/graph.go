package remediatetest

import (
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/cleanmail/cleanmail/pkg/remediate"
)

// Graph is Entra ID's v2.0 token endpoint (the client credentials grant,
// the secret in the form) and the part of Microsoft Graph v1.0 that
// remediation uses (a user's messages filtered on internetMessageId, one
// a page with @odata.nextLink; $value; permanentDelete; a plain DELETE,
// which moves to Deleted Items), as their documentation has them, one
// server for both at URL. Its tokens last an hour, until RevokeTokens.
type Graph struct {
	// Tenant, ClientID and Secret are the one application it knows
	// (Target's; change them there to be refused).
	Tenant, ClientID, Secret string

	srv *httptest.Server

	mu      sync.Mutex
	tokens  map[string]bool // the valid access tokens
	issued  int
	users   map[string][]*graphMessage
	deletes []string // the plain DELETEs, which move to Deleted Items
	// foreignNext makes the lists link their next page to another host.
	foreignNext bool
}

// EchoTenant is a tenant whose token endpoint refuses every application,
// quoting the secret it was sent in its error, as a careless server
// might: the secret must not reach the caller's error.
const EchoTenant = "echo.onmicrosoft.com"

type graphMessage struct {
	id, folder, subject, messageID string
	raw                            []byte
}

// StartGraph starts a Graph with no user, closed when the test ends.
func StartGraph(t testing.TB) *Graph {
	t.Helper()
	g := &Graph{Tenant: "contoso.onmicrosoft.com", ClientID: "6731de76-14a6-49ae-97bc-6eba6914391e", Secret: "qWgdYAmab0YSkuL1qKv5bPX~",
		tokens: map[string]bool{}, users: map[string][]*graphMessage{}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /{tenant}/oauth2/v2.0/token", g.token)
	mux.HandleFunc("GET /v1.0/users/{user}/messages", g.authorized(g.list))
	mux.HandleFunc("GET /v1.0/users/{user}/messages/{id}/$value", g.authorized(g.value))
	mux.HandleFunc("POST /v1.0/users/{user}/messages/{id}/permanentDelete", g.authorized(g.purge))
	mux.HandleFunc("DELETE /v1.0/users/{user}/messages/{id}", g.authorized(g.delete))
	g.srv = startTLS(t, mux)
	return g
}

// URL is https://127.0.0.1:<port>, the base of both Graph and the token
// endpoint (Options' GraphURL and LoginURL).
func (g *Graph) URL() string { return g.srv.URL }

// Options reach g: GraphURL and LoginURL on it, private addresses
// allowed, its certificate trusted, a Timeout of 5 seconds.
func (g *Graph) Options() remediate.Options {
	o := options(g.srv)
	o.GraphURL, o.LoginURL = g.srv.URL, g.srv.URL
	return o
}

// Certificate is the certificate g serves, for a pool that trusts other
// servers too.
func (g *Graph) Certificate() *x509.Certificate { return g.srv.Certificate() }

// Target is the O365 remediation API of g's application.
func (g *Graph) Target() remediate.Target {
	return remediate.Target{Type: remediate.TypeO365, TenantID: g.Tenant, ClientID: g.ClientID, ClientSecret: g.Secret}
}

// AddMailbox creates the user mailbox, empty, if it is not there yet
// (Graph answers ErrorInvalidUser for any other).
func (g *Graph) AddMailbox(user string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if _, ok := g.users[user]; !ok {
		g.users[user] = []*graphMessage{}
	}
}

// Add stores the message raw in user's folder (the parentFolderId
// listed), the mailbox created when missing. Its Message-ID and Subject
// headers are its internetMessageId and subject.
func (g *Graph) Add(user, folder string, raw []byte) {
	messageID, subject := headers(raw)
	g.mu.Lock()
	defer g.mu.Unlock()
	n := len(g.users[user]) + 1
	g.users[user] = append(g.users[user], &graphMessage{id: fmt.Sprintf("AAMkAGI2TG93AAA=%d-%s", n, folder), folder: folder, subject: subject, messageID: messageID, raw: raw})
}

// Left is folder → the internetMessageIds (in their angle brackets,
// sorted) of what user's mailbox holds.
func (g *Graph) Left(user string) map[string][]string {
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

// Issued counts the access tokens issued.
func (g *Graph) Issued() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.issued
}

// RevokeTokens makes Graph refuse every token issued so far (401
// InvalidAuthenticationToken), as when a secret is rotated.
func (g *Graph) RevokeTokens() {
	g.mu.Lock()
	defer g.mu.Unlock()
	clear(g.tokens)
}

// MovedToDeletedItems lists the messages removed with a plain DELETE,
// which only moves them to Deleted Items (by id, in order).
func (g *Graph) MovedToDeletedItems() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return slices.Clone(g.deletes)
}

// LinkNextPagesElsewhere makes every list of messages from now on link
// its next page to another host, which a client must not follow with its
// token.
func (g *Graph) LinkNextPagesElsewhere() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.foreignNext = true
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
func (g *Graph) token(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_request", "error_description": err.Error()})
		return
	}
	f := r.PostForm
	switch tenant := r.PathValue("tenant"); {
	case tenant == EchoTenant:
		// A server that quotes what it was sent: the secret must not
		// reach the caller's error.
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "invalid_client", "error_description": "bad secret " + f.Get("client_secret")})
	case tenant != g.Tenant:
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_request", "error_description": "AADSTS90002: Tenant '" + tenant + "' not found."})
	case f.Get("grant_type") != "client_credentials" || f.Get("scope") != g.srv.URL+"/.default":
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_request", "error_description": fmt.Sprintf("AADSTS900144: grant_type %q, scope %q", f.Get("grant_type"), f.Get("scope"))})
	case f.Get("client_id") != g.ClientID || f.Get("client_secret") != g.Secret:
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
func (g *Graph) authorized(h func(w http.ResponseWriter, r *http.Request, msgs []*graphMessage)) http.HandlerFunc {
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
func (g *Graph) list(w http.ResponseWriter, r *http.Request, msgs []*graphMessage) {
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

func findMessage(msgs []*graphMessage, id string) *graphMessage {
	for _, m := range msgs {
		if m.id == id {
			return m
		}
	}
	return nil
}

func (g *Graph) value(w http.ResponseWriter, r *http.Request, msgs []*graphMessage) {
	m := findMessage(msgs, r.PathValue("id"))
	if m == nil {
		graphError(w, http.StatusNotFound, "ErrorItemNotFound", "The specified object was not found in the store.")
		return
	}
	w.Header().Set("Content-Type", "text/plain")
	_, _ = w.Write(m.raw)
}

func (g *Graph) purge(w http.ResponseWriter, r *http.Request, msgs []*graphMessage) {
	m := findMessage(msgs, r.PathValue("id"))
	if m == nil {
		graphError(w, http.StatusNotFound, "ErrorItemNotFound", "The specified object was not found in the store.")
		return
	}
	user := r.PathValue("user")
	g.users[user] = slices.DeleteFunc(msgs, func(x *graphMessage) bool { return x == m })
	w.WriteHeader(http.StatusNoContent)
}

func (g *Graph) delete(w http.ResponseWriter, r *http.Request, msgs []*graphMessage) {
	m := findMessage(msgs, r.PathValue("id"))
	if m == nil {
		graphError(w, http.StatusNotFound, "ErrorItemNotFound", "The specified object was not found in the store.")
		return
	}
	m.folder = "deleteditems"
	g.deletes = append(g.deletes, m.id)
	w.WriteHeader(http.StatusNoContent)
}
