package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"

	"github.com/cleanmail/cleanmail/db"
	"github.com/cleanmail/cleanmail/db/dbtest"
	"github.com/cleanmail/cleanmail/pkg/api"
	"github.com/cleanmail/cleanmail/pkg/dkim"
	"github.com/cleanmail/cleanmail/pkg/dnscheck"
	"github.com/cleanmail/cleanmail/pkg/ids"
	"github.com/cleanmail/cleanmail/pkg/loopback"
	"github.com/cleanmail/cleanmail/pkg/mailstore"
	"github.com/cleanmail/cleanmail/pkg/relaycheck"
	"github.com/cleanmail/cleanmail/pkg/remediate"
	"github.com/cleanmail/cleanmail/pkg/submit"
)

// The tests run every HTTP case on SQLite (a file in a temporary folder)
// and on PostgreSQL: CLEANMAIL_TEST_DATABASE_URL, or the local server when
// it answers. With CLEANMAIL_TEST_DATABASE_URL set, an unreachable
// PostgreSQL fails the tests instead of skipping them.

const adminToken = "0123456789abcdef0123456789abcdef"

var (
	specOnce   sync.Once
	specRouter routers.Router
	specErr    error
)

func loadSpec(t testing.TB) routers.Router {
	specOnce.Do(func() {
		loader := openapi3.NewLoader()
		var spec *openapi3.T
		spec, specErr = loader.LoadFromFile("../../openapi.yaml")
		if specErr != nil {
			return
		}
		if specErr = spec.Validate(context.Background()); specErr != nil {
			return
		}
		spec.Servers = nil
		specRouter, specErr = gorillamux.NewRouter(spec)
	})
	if specErr != nil {
		t.Fatalf("openapi.yaml: %v", specErr)
	}
	return specRouter
}

// databases lists the database URLs a test runs on, by subtest name.
func databases(t testing.TB) map[string]func(testing.TB) string {
	return map[string]func(testing.TB) string{
		"sqlite":   dbtest.SQLite,
		"postgres": dbtest.Postgres,
	}
}

// env is one running server on one fresh database.
type env struct {
	t     testing.TB
	srv   *httptest.Server
	store *db.Store
	ids   *ids.Codec
	token string
	// imap is the mail store of this server: an in-memory IMAP server on
	// loopback, which the server reaches over TCP as it would Dovecot.
	imap *loopback.IMAPServer
	// dns is the DNS of the domains' diagnostics: an in-process server on
	// loopback whose records a test sets (e.dns.Set).
	dns *loopback.DNSServer
	// smtp is the outgoing relay of this server: a recording SMTP server
	// on loopback.
	smtp *loopback.SMTPServer
}

// forEachDB runs fn as a subtest on SQLite and on PostgreSQL, the two at
// once: each has its own database and server, and fn must share nothing
// else between them (go test -race tells).
func forEachDB(t *testing.T, fn func(t *testing.T, e *env)) { forEachDBWith(t, nil, fn) }

// forEachDBWith is forEachDB with options of the server changed by set.
func forEachDBWith(t *testing.T, set func(*api.Options), fn func(t *testing.T, e *env)) {
	for _, name := range []string{"sqlite", "postgres"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			fn(t, newEnvWith(t, databases(t)[name](t), set))
		})
	}
}

// forEachDBInTurn is forEachDB one database after the other, for the tests
// that load the machine on purpose and bound the time of what follows.
func forEachDBInTurn(t *testing.T, fn func(t *testing.T, e *env)) {
	for _, name := range []string{"sqlite", "postgres"} {
		t.Run(name, func(t *testing.T) {
			fn(t, newEnv(t, databases(t)[name](t)))
		})
	}
}

func newEnv(t testing.TB, dbURL string) *env { return newEnvWith(t, dbURL, nil) }

// newEnvWith is newEnv with options of the server changed by set.
func newEnvWith(t testing.TB, dbURL string, set func(*api.Options)) *env {
	loadSpec(t)
	store, err := db.Open(db.Options{URL: dbURL})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	ctx := context.Background()
	if _, err := store.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	// Whatever the test wrote, the kept row counts (the lists' totals)
	// still agree with the rows (a store the test took down aside).
	t.Cleanup(func() {
		if err := store.CheckCounts(ctx); errors.Is(err, db.ErrCountsDiffer) {
			t.Error(err)
		}
	})
	if _, _, err := store.Bootstrap(ctx, adminToken); err != nil {
		t.Fatal(err)
	}
	codec, err := ids.New(ids.Options{Salt: "test"})
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	}
	imapSrv, err := loopback.StartIMAP(loopback.IMAPOptions{MasterUser: "master", MasterPassword: "m4ster",
		Folders: []string{"Quarantine", "Sent", "Drafts"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { imapSrv.Close() })
	mail, err := mailstore.New(mailstore.Options{URL: "imap://" + imapSrv.Addr(), MasterUser: "master", MasterPassword: "m4ster",
		Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { mail.Close() })
	smtpSrv, err := loopback.StartSMTP(loopback.SMTPOptions{Timeout: 5 * time.Second, ErrorLog: slog.NewLogLogger(slog.DiscardHandler, slog.LevelError)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { smtpSrv.Close() })
	relay, err := submit.ParseURL("smtp://" + smtpSrv.Addr())
	if err != nil {
		t.Fatal(err)
	}
	dnsSrv, err := loopback.StartDNS(loopback.DNSOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dnsSrv.Close() })
	resolver, err := dnscheck.NewResolver(dnsSrv.Addr(), 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	// The relay checks and remediation reach the loopback servers of the
	// tests only, and resolve nothing through DNS (the fuzz test sends any
	// host, and any platform's settings).
	noDNS := &net.Resolver{PreferGo: true, Dial: func(context.Context, string, string) (net.Conn, error) {
		return nil, errors.New("no DNS in tests")
	}}
	// Many tests send bad tokens on purpose: throttling has its own test.
	opts := api.Options{Store: store, IDs: codec, Logger: log, PurgeDelay: 30 * 24 * time.Hour,
		Limits: api.Limits{AuthFailuresPerMinute: -1}, Mail: mail, DNS: resolver,
		Submit: &submit.Sender{Timeout: 5 * time.Second}, Relays: []submit.Relay{relay},
		Checks:      relaycheck.Options{AllowPrivate: true, Timeout: 5 * time.Second, Only: netip.Addr.IsLoopback, Resolver: noDNS},
		Remediation: remediate.Options{AllowPrivate: true, Timeout: 5 * time.Second, Only: netip.Addr.IsLoopback, Resolver: noDNS},
		DKIMSealer:  testSealer(t), DKIMKeyBits: 1024}
	if set != nil {
		set(&opts)
	}
	h, err := api.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return &env{t: t, srv: srv, store: store, ids: codec, token: adminToken, imap: imapSrv, smtp: smtpSrv, dns: dnsSrv}
}

// testSealer is the DKIM sealer of every test server (a fresh secret key).
func testSealer(t testing.TB) *dkim.Sealer {
	key, err := dkim.ParseSecretKey(dkim.NewSecretKey())
	if err != nil {
		t.Fatal(err)
	}
	s, err := dkim.NewSealer(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// resp is a response whose conformance to openapi.yaml was checked.
type resp struct {
	t      testing.TB
	method string
	path   string
	Status int
	Header http.Header
	Body   []byte
}

// req describes a request; Token "" uses the sysadmin's, "-" sends none.
type req struct {
	Method string
	Path   string
	Body   any
	Token  string
	Header map[string]string
}

// do sends r and validates the response against openapi.yaml: its status
// must be declared for the operation, and its body must match the schema.
func (e *env) do(r req) *resp {
	e.t.Helper()
	var body io.Reader
	var raw []byte
	switch b := r.Body.(type) {
	case nil:
	case string:
		raw = []byte(b)
	case []byte:
		raw = b
	default:
		var err error
		if raw, err = json.Marshal(b); err != nil {
			e.t.Fatal(err)
		}
	}
	if raw != nil {
		body = bytes.NewReader(raw)
	}
	hr, err := http.NewRequest(r.Method, e.srv.URL+r.Path, body)
	if err != nil {
		e.t.Fatal(err)
	}
	if raw != nil {
		hr.Header.Set("Content-Type", "application/json")
	}
	switch r.Token {
	case "":
		hr.Header.Set("Authorization", "Bearer "+e.token)
	case "-":
	default:
		hr.Header.Set("Authorization", "Bearer "+r.Token)
	}
	for k, v := range r.Header {
		hr.Header.Set(k, v)
	}
	res, err := http.DefaultClient.Do(hr)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	out, err := io.ReadAll(res.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	rs := &resp{t: e.t, method: r.Method, path: r.Path, Status: res.StatusCode, Header: res.Header, Body: out}
	validateResponse(e.t, hr, raw, rs)
	e.followLocation(rs)
	return rs
}

// followLocation checks that a Location names a resource that answers
// GET (as the sysadmin, who may read anything): the contract's promise.
func (e *env) followLocation(rs *resp) {
	e.t.Helper()
	loc := rs.Header.Get("Location")
	if loc == "" || rs.method == http.MethodGet || rs.Status >= 300 {
		return
	}
	if u, err := url.Parse(loc); err == nil && u.IsAbs() {
		loc = u.RequestURI() // under a configured public URL
	}
	hr, err := http.NewRequest(http.MethodGet, e.srv.URL+loc, nil)
	if err != nil {
		e.t.Fatalf("%s %s: Location %q: %v", rs.method, rs.path, loc, err)
	}
	hr.Header.Set("Authorization", "Bearer "+e.token)
	res, err := http.DefaultClient.Do(hr)
	if err != nil {
		e.t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		e.t.Errorf("%s %s: its Location %s answers GET with %d, want 200", rs.method, rs.path, loc, res.StatusCode)
	}
}

func validateResponse(t testing.TB, hr *http.Request, reqBody []byte, rs *resp) {
	t.Helper()
	router := loadSpec(t)
	vr := hr.Clone(context.Background())
	vr.URL.Host, vr.URL.Scheme, vr.Host = "", "", ""
	if reqBody != nil {
		vr.Body = io.NopCloser(bytes.NewReader(reqBody))
	}
	route, params, err := router.FindRoute(vr)
	if err != nil {
		return // not an API operation (docs, spec), or an unknown path: nothing to check
	}
	for k, v := range params {
		if u, err := url.PathUnescape(v); err == nil {
			params[k] = u
		}
	}
	in := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{Request: vr, PathParams: params, Route: route,
			Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc}},
		Status:  rs.Status,
		Header:  rs.Header,
		Options: &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true},
	}
	in.SetBodyBytes(rs.Body)
	if err := openapi3filter.ValidateResponse(context.Background(), in); err != nil {
		t.Errorf("%s %s: response %d does not conform to openapi.yaml: %v\nbody: %s", rs.method, rs.path, rs.Status, err, rs.Body)
	}
}

// expect fails the test when the status differs, printing the body.
func (r *resp) expect(status int) *resp {
	r.t.Helper()
	if r.Status != status {
		r.t.Fatalf("%s %s: status %d, want %d\nbody: %s", r.method, r.path, r.Status, status, r.Body)
	}
	return r
}

// json decodes the body into a generic value.
func (r *resp) json() map[string]any {
	r.t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.Body, &m); err != nil {
		r.t.Fatalf("%s %s: body is not a JSON object: %v\n%s", r.method, r.path, err, r.Body)
	}
	return m
}

func (r *resp) list() []map[string]any {
	r.t.Helper()
	var m []map[string]any
	if err := json.Unmarshal(r.Body, &m); err != nil {
		r.t.Fatalf("%s %s: body is not a JSON array: %v\n%s", r.method, r.path, err, r.Body)
	}
	return m
}

func (r *resp) decode(v any) {
	r.t.Helper()
	if err := json.Unmarshal(r.Body, v); err != nil {
		r.t.Fatalf("%s %s: %v\n%s", r.method, r.path, err, r.Body)
	}
}

// problem checks a problem+json error: its status, and that some field
// error (or the detail) mentions want.
func (r *resp) problem(status int, want string) {
	r.t.Helper()
	r.expect(status)
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/problem+json") {
		r.t.Errorf("%s %s: Content-Type %q, want application/problem+json", r.method, r.path, ct)
	}
	p := r.json()
	if int(p["status"].(float64)) != status {
		r.t.Errorf("problem status %v, want %d", p["status"], status)
	}
	if want == "" {
		return
	}
	text := fmt.Sprint(p["detail"], p["errors"])
	if !strings.Contains(text, want) {
		r.t.Errorf("%s %s: problem does not mention %q: %s", r.method, r.path, want, r.Body)
	}
}

// race sends n requests at once (build makes the i-th) and checks that
// exactly one is answered once and every other one rest: what a database
// key must decide when several callers create the same thing together.
func (e *env) race(t *testing.T, n, once, rest int, build func(i int) req) {
	t.Helper()
	statuses := make([]int, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			statuses[i] = e.do(build(i)).Status
		}()
	}
	wg.Wait()
	counts := map[int]int{}
	for _, s := range statuses {
		counts[s]++
	}
	if counts[once] != 1 || counts[rest] != n-1 {
		t.Errorf("statuses %v: want one %d and %d %d", statuses, once, n-1, rest)
	}
}
