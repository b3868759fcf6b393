package api_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"runtime/debug"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"golang.org/x/net/http/httpguts"
)

// TestSpecFuzz is the spec-driven fuzz test. For every operation of
// openapi.yaml it builds requests from the spec's schemas (a seeded
// generator: the same seed sends the same requests to the same server),
// with the ids, names and addresses of real objects (fixtures created
// through the API first, then whatever the run creates), and sends most of
// them mutated: odd ids, wrong types, missing and extra fields, nulls,
// huge and hostile strings, numbers out of range, malformed JSON, wrong
// content types, no body. Mostly as the sysadmin (who passes every access
// check, so requests reach the handlers), sometimes with no token, a bad
// one, a domain administrator's or an end user's.
//
// Every response must be below 500, except the 501 of an operation not
// built yet; its status must be declared for its operation and its body
// must match the operation's schema (validateResponse, as e.do); every 4xx
// must be problem+json.
//
// Bounds, from the environment (the ordinary test run uses the defaults;
// `go tool task fuzz` is the long run):
//
//	CLEANMAIL_FUZZ_REQUESTS  requests per database (default 1500, 300 with -short)
//	CLEANMAIL_FUZZ_TIME      wall-time limit per database (default 40s)
//	CLEANMAIL_FUZZ_SEED      seed (default 1; "random" picks one, printed)
//	CLEANMAIL_FUZZ_OPS       regular expression: fuzz only the operations whose id matches
//	CLEANMAIL_FUZZ_DEBUG     1: statuses by operation, and the pool; 2: also every
//	                         unmutated sysadmin request answered 4xx (to tune the generator)
//
// Requests are sent one at a time, and request i draws from its own
// source (seed, i): for a given seed and database a run is the same run.
// The sysadmin's own account is never the target of a write (it would
// lock the run out); every other object may be changed or deleted, and
// is made again when a request needs one.
//
// A failure prints the seed, the request's number, and the request and
// response (bodies truncated); failures of one kind are counted together.
func TestSpecFuzz(t *testing.T) {
	cfg := fuzzConfigFromEnv(t)
	forEachDBWithJobs(t, nil, func(t *testing.T, e *env) {
		fz := newFuzzer(t, e, cfg)
		fz.setup()
		fz.run()
		fz.report()
	})
}

type fuzzConfig struct {
	requests int
	limit    time.Duration
	seed     uint64
	ops      *regexp.Regexp
}

func fuzzConfigFromEnv(t *testing.T) fuzzConfig {
	cfg := fuzzConfig{requests: 1500, limit: 40 * time.Second, seed: 1}
	if testing.Short() {
		cfg.requests = 300
	}
	if v := os.Getenv("CLEANMAIL_FUZZ_REQUESTS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			t.Fatalf("CLEANMAIL_FUZZ_REQUESTS=%q: want a number of requests", v)
		}
		cfg.requests = n
	}
	if v := os.Getenv("CLEANMAIL_FUZZ_TIME"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			t.Fatalf("CLEANMAIL_FUZZ_TIME=%q: %v", v, err)
		}
		cfg.limit = d
	}
	switch v := os.Getenv("CLEANMAIL_FUZZ_SEED"); v {
	case "":
	case "random":
		cfg.seed = uint64(time.Now().UnixNano())
	default:
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			t.Fatalf("CLEANMAIL_FUZZ_SEED=%q: want a number or \"random\"", v)
		}
		cfg.seed = n
	}
	if v := os.Getenv("CLEANMAIL_FUZZ_OPS"); v != "" {
		re, err := regexp.Compile(v)
		if err != nil {
			t.Fatalf("CLEANMAIL_FUZZ_OPS=%q: %v", v, err)
		}
		cfg.ops = re
	}
	return cfg
}

// fuzzOp is an operation of the spec, with what the generator needs.
type fuzzOp struct {
	operation
	params       []*openapi3.Parameter // path, query and header, in the spec's order
	pathParams   []string              // names, in the path's order
	bodyType     string                // "application/json", "multipart/form-data" or ""
	body         *openapi3.SchemaRef
	bodyRequired bool
	built        bool // delivered: anything but a 501
	weight       int
}

func (o *fuzzOp) param(in, name string) *openapi3.Parameter {
	for _, p := range o.params {
		if p.In == in && p.Name == name {
			return p
		}
	}
	return nil
}

func (o *fuzzOp) method() string { return strings.ToUpper(o.operation.method) }

// fuzzReq is one request: built valid, then maybe mutated.
type fuzzReq struct {
	n         int
	op        *fuzzOp
	caller    string
	auth      string // the Authorization header; "" sends none
	path      string // escaped
	query     []fzQuery
	rawQuery  string // replaces query when set
	header    [][2]string
	value     any    // the JSON body, before serialisation
	hasValue  bool   // value is a JSON body (even null)
	raw       []byte // the body as sent, when not value's serialisation
	hasRaw    bool
	ctype     string // Content-Type; "" sends none
	mutations []string
	specValid bool // the unmutated request passed the spec's request validation

	// What the valid request was built on, to learn from the response.
	objs     map[string]*fzObj // by path parameter name
	scope    map[string]*fzObj // the domain, user, group, admin it is about
	pathVals map[string]string // decoded path parameters
}

type fzQuery struct {
	name, value string
	raw         bool // value is already escaped
}

func (fr *fuzzReq) body() ([]byte, bool) {
	if fr.hasRaw {
		return fr.raw, true
	}
	if !fr.hasValue {
		return nil, false
	}
	return marshalJSON(fr.value), true
}

func (fr *fuzzReq) encodedQuery() string {
	if fr.rawQuery != "" {
		return fr.rawQuery
	}
	parts := make([]string, 0, len(fr.query))
	for _, q := range fr.query {
		v := q.value
		if !q.raw {
			v = url.QueryEscape(v)
		}
		parts = append(parts, url.QueryEscape(q.name)+"="+v)
	}
	return strings.Join(parts, "&")
}

func (fr *fuzzReq) httpRequest(base string) (*http.Request, []byte, error) {
	u := base + fr.path
	if q := fr.encodedQuery(); q != "" {
		u += "?" + q
	}
	if len(u) > maxURL {
		return nil, nil, fmt.Errorf("URL of %d bytes", len(u))
	}
	body, has := fr.body()
	if len(body) > maxBody+maxBody/4 {
		// The mutations keep to maxBody: this is the fuzzer's bug.
		return nil, nil, fmt.Errorf("body of %d bytes", len(body))
	}
	var rd io.Reader
	if has {
		rd = bytes.NewReader(body)
	}
	hr, err := http.NewRequestWithContext(context.Background(), fr.op.method(), u, rd)
	if err != nil {
		return nil, nil, err
	}
	if fr.ctype != "" {
		hr.Header.Set("Content-Type", fr.ctype)
	}
	if fr.auth != "" {
		hr.Header.Set("Authorization", fr.auth)
	}
	for _, h := range fr.header {
		hr.Header.Set(h[0], h[1])
	}
	for k, vs := range hr.Header {
		for _, v := range vs {
			if !httpguts.ValidHeaderFieldValue(v) {
				return nil, nil, fmt.Errorf("header %s: not a valid header value", k)
			}
		}
	}
	return hr, body, nil
}

// dump describes the request for a failure report.
func (fr *fuzzReq) dump() string {
	var b strings.Builder
	fmt.Fprintf(&b, "request #%d %s by %s, mutations %v\n", fr.n, fr.op.id, fr.caller, fr.mutations)
	u := fr.path
	if q := fr.encodedQuery(); q != "" {
		u += "?" + q
	}
	fmt.Fprintf(&b, "  %s %s\n", fr.op.method(), truncate(u, 400))
	if fr.auth != "" {
		fmt.Fprintf(&b, "  Authorization: %s\n", truncate(fr.auth, 80))
	}
	if fr.ctype != "" {
		fmt.Fprintf(&b, "  Content-Type: %s\n", fr.ctype)
	}
	for _, h := range fr.header {
		fmt.Fprintf(&b, "  %s: %s\n", h[0], truncate(h[1], 120))
	}
	if body, ok := fr.body(); ok {
		fmt.Fprintf(&b, "  body (%d bytes): %s\n", len(body), truncate(string(body), 600))
	} else {
		b.WriteString("  no body\n")
	}
	return b.String()
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return strconv.Quote(s)
	}
	return strconv.Quote(s[:n]) + fmt.Sprintf("… (%d bytes)", len(s))
}

// maxURL bounds the request line well below Go's 1 MiB limit on headers,
// whose 431 is net/http's own (text/plain) answer, out of the API's reach.
const maxURL = 256 << 10

// fuzzer is one run on one database.
type fuzzer struct {
	t      *testing.T
	e      *env
	cfg    fuzzConfig
	ops    []*fuzzOp
	total  int
	router routers.Router
	client *http.Client

	pool    *fzPool
	catalog []fzOption
	n       int // for unique names

	sysadminID  string // the bootstrap admin: never disabled, deleted or demoted
	domainAdmin *fzCaller
	endUser     *fzCaller
	badTokens   []string

	stats    fzStats
	failures map[string]*fzFailure
	order    []string
}

type fzCaller struct {
	token  string
	admin  string // admin id
	domain string // domain id
	user   string // user id
}

type fzStats struct {
	requests, setup, mutated, valid, specValid, unsendable int
	status                                                 map[int]int
	callers, mutations                                     map[string]int
	ok                                                     map[string]int // 2xx by operation
	byOp                                                   map[string]map[int]int
	opTime                                                 map[string]time.Duration
	slowest                                                time.Duration
	slowestReq                                             string
	rejected                                               int // mutated requests the spec's validation refuses
	elapsed                                                time.Duration
	stoppedByTime                                          bool
}

type fzFailure struct {
	kind, example string
	count         int
	ops           map[string]int
	others        []string // the next ones, in one line each
}

func newFuzzer(t *testing.T, e *env, cfg fuzzConfig) *fuzzer {
	fz := &fuzzer{t: t, e: e, cfg: cfg, router: loadSpec(t), pool: &fzPool{},
		client:   &http.Client{Timeout: 60 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }},
		failures: map[string]*fzFailure{},
		stats: fzStats{status: map[int]int{}, callers: map[string]int{}, mutations: map[string]int{}, ok: map[string]int{},
			byOp: map[string]map[int]int{}, opTime: map[string]time.Duration{}},
	}
	for _, o := range specOperations(t) {
		if cfg.ops != nil && !cfg.ops.MatchString(o.id) {
			continue
		}
		fo := &fuzzOp{operation: o, built: delivered(o.id), weight: 1}
		for _, p := range o.op.Parameters {
			fo.params = append(fo.params, p.Value)
		}
		for _, m := range regexp.MustCompile(`\{([^}]+)\}`).FindAllStringSubmatch(o.path, -1) {
			fo.pathParams = append(fo.pathParams, m[1])
		}
		if rb := o.op.RequestBody; rb != nil {
			fo.bodyRequired = rb.Value.Required
			if mt := rb.Value.Content.Get("application/json"); mt != nil {
				fo.bodyType, fo.body = "application/json", mt.Schema
			} else if mt := rb.Value.Content.Get("multipart/form-data"); mt != nil {
				fo.bodyType, fo.body = "multipart/form-data", mt.Schema
			}
		}
		// Built operations reach handlers and the database: most requests
		// go there. The others stop at the validator (then 501).
		if fo.built {
			fo.weight = 4
		}
		fz.ops = append(fz.ops, fo)
		fz.total += fo.weight
	}
	if len(fz.ops) == 0 {
		t.Fatalf("CLEANMAIL_FUZZ_OPS=%s matches no operation", cfg.ops)
	}
	return fz
}

func (fz *fuzzer) pickOp(r *rand.Rand) *fuzzOp {
	n := r.IntN(fz.total)
	for _, o := range fz.ops {
		if n < o.weight {
			return o
		}
		n -= o.weight
	}
	return fz.ops[len(fz.ops)-1]
}

func (fz *fuzzer) run() {
	start := time.Now()
	for i := 0; i < fz.cfg.requests; i++ {
		if time.Since(start) > fz.cfg.limit {
			fz.stats.stoppedByTime = true
			break
		}
		r := rand.New(rand.NewPCG(fz.cfg.seed, uint64(i)))
		fz.one(r, i)
	}
	fz.stats.elapsed = time.Since(start)
}

// one builds, mutates, sends and checks request number i.
func (fz *fuzzer) one(r *rand.Rand, i int) {
	op := fz.pickOp(r)
	defer func() {
		// A bug of the fuzzer's own: reported, and the run goes on.
		if v := recover(); v != nil {
			fz.t.Errorf("fuzzer bug: seed %d, request #%d (%s): panic: %v\n%s", fz.cfg.seed, i, op.id, v, debug.Stack())
		}
	}()
	fr := fz.build(r, op)
	fr.n = i
	fr.specValid = fz.specValid(fr)
	fz.stats.valid++
	if fr.specValid {
		fz.stats.specValid++
	}
	if r.IntN(100) < 60 {
		fz.mutate(r, fr)
		fz.stats.mutated++
		if !fz.specValid(fr) {
			fz.stats.rejected++
		}
	}
	fz.pickCaller(r, fr)

	hr, reqBody, err := fr.httpRequest(fz.e.srv.URL)
	if err != nil {
		if strings.HasPrefix(err.Error(), "body of") {
			fz.t.Errorf("fuzzer bug: seed %d, request #%d (%s, mutations %v): %v", fz.cfg.seed, i, op.id, fr.mutations, err)
		}
		fz.stats.unsendable++ // a header or URL Go refuses to send, or too long a URL
		return
	}
	fz.stats.requests++
	fz.stats.callers[fr.caller]++
	for _, m := range fr.mutations {
		fz.stats.mutations[m]++
	}
	sent := time.Now()
	res, err := fz.client.Do(hr)
	took := time.Since(sent)
	fz.stats.opTime[op.id] += took
	if took > fz.stats.slowest {
		fz.stats.slowest, fz.stats.slowestReq = took, fr.dump()
	}
	if err != nil {
		fz.fail(fr, "transport", "no response: "+err.Error(), 0, nil, nil)
		return
	}
	body, err := io.ReadAll(res.Body)
	res.Body.Close()
	if err != nil {
		fz.fail(fr, "transport", "response body: "+err.Error(), res.StatusCode, res.Header, body)
		return
	}
	fz.stats.status[res.StatusCode]++
	if fz.stats.byOp[op.id] == nil {
		fz.stats.byOp[op.id] = map[int]int{}
	}
	fz.stats.byOp[op.id][res.StatusCode]++
	fz.check(fr, hr, reqBody, res, body)
	if res.StatusCode >= 400 && len(fr.mutations) == 0 && fr.caller == "sysadmin" && os.Getenv("CLEANMAIL_FUZZ_DEBUG") == "2" {
		fz.t.Logf("unmutated %s answered %d: %.300s\n%s", op.id, res.StatusCode, body, fr.dump())
	}
	if res.StatusCode/100 == 2 {
		fz.stats.ok[op.id]++
		fz.learn(fr, res.StatusCode, body)
	}
	if res.StatusCode == 401 {
		fz.forget(fr.caller)
	}
}

// specValid runs the spec's request validation on the unmutated request:
// a measure of the generator, not of the server.
func (fz *fuzzer) specValid(fr *fuzzReq) bool {
	hr, _, err := fr.httpRequest("")
	if err != nil {
		return false
	}
	route, params, err := fz.router.FindRoute(hr)
	if err != nil {
		return false
	}
	in := &openapi3filter.RequestValidationInput{Request: hr, PathParams: params, Route: route,
		Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc, MultiError: true}}
	err = openapi3filter.ValidateRequest(context.Background(), in)
	if err != nil && len(fr.mutations) == 0 && os.Getenv("CLEANMAIL_FUZZ_DEBUG") != "" {
		fz.t.Logf("generated request not valid: %s%v", fr.dump(), err)
	}
	return err == nil
}

// captureTB collects what validateResponse reports instead of failing the
// test at once, so that the failure can be reported with its request.
type captureTB struct {
	testing.TB
	errs []string
}

func (c *captureTB) Helper() {}
func (c *captureTB) Errorf(format string, args ...any) {
	c.errs = append(c.errs, fmt.Sprintf(format, args...))
}

// check applies the fuzz test's assertions to one response.
func (fz *fuzzer) check(fr *fuzzReq, hr *http.Request, reqBody []byte, res *http.Response, body []byte) {
	status := res.StatusCode
	ct := res.Header.Get("Content-Type")
	switch {
	case status == 501 && !fr.op.built:
	case status == 501:
		fz.fail(fr, "501 from a built operation", "", status, res.Header, body)
	case status >= 500:
		fz.fail(fr, fmt.Sprintf("status %d", status), "", status, res.Header, body)
	}
	if status >= 400 {
		p := struct {
			Status *int `json:"status"`
		}{}
		switch {
		case !strings.HasPrefix(ct, "application/problem+json"):
			fz.fail(fr, "not problem+json", "Content-Type "+strconv.Quote(ct), status, res.Header, body)
		case unmarshalJSON(body, &p) != nil || p.Status == nil || *p.Status != status:
			fz.fail(fr, "bad problem document", "", status, res.Header, body)
		}
	}
	c := &captureTB{TB: fz.t}
	rs := &resp{t: c, method: hr.Method, path: hr.URL.RequestURI(), Status: status, Header: res.Header, Body: body}
	validateResponse(c, hr, reqBody, rs)
	for _, msg := range c.errs {
		// The first line names the problem; the body follows.
		head, _, _ := strings.Cut(msg, "\nbody:")
		if i := strings.Index(head, ": response "); i >= 0 {
			head = head[i+2:]
		}
		fz.fail(fr, "response does not conform to openapi.yaml", head, status, res.Header, body)
	}
}

// fail records a failure. Failures of one kind with one status are
// counted together (those of the contract across operations, 5xx per
// operation, since one status hides different causes), and the first is
// kept as the example.
func (fz *fuzzer) fail(fr *fuzzReq, kind, detail string, status int, h http.Header, body []byte) {
	sig := fmt.Sprintf("%s → %d: %s", kind, status, firstLine(detail, 160))
	if status >= 500 || status == 0 {
		sig = fr.op.id + " " + sig
	}
	f := fz.failures[sig]
	if f == nil {
		var b strings.Builder
		b.WriteString(fr.dump())
		if detail != "" {
			fmt.Fprintf(&b, "  problem: %s\n", truncate(detail, 2000))
		}
		if status != 0 {
			fmt.Fprintf(&b, "  response %d %s: %s\n", status, h.Get("Content-Type"), truncate(string(body), 600))
		}
		f = &fzFailure{kind: kind, example: b.String(), ops: map[string]int{}}
		fz.failures[sig] = f
		fz.order = append(fz.order, sig)
	}
	f.count++
	f.ops[fr.op.id]++
	if f.count > 1 && len(f.others) < 20 {
		u := fr.path
		if q := fr.encodedQuery(); q != "" {
			u += "?" + q
		}
		f.others = append(f.others, fmt.Sprintf("#%d %s %s by %s %v", fr.n, fr.op.method(), truncate(u, 100), fr.caller, fr.mutations))
	}
}

func firstLine(s string, n int) string {
	s, _, _ = strings.Cut(s, "\n")
	if len(s) > n {
		s = s[:n] + "…"
	}
	return s
}

// forget drops a caller whose token stopped working (its account was
// disabled, deleted, or lost its access): it is made again when needed.
func (fz *fuzzer) forget(caller string) {
	switch caller {
	case "domainAdmin":
		fz.domainAdmin = nil
	case "endUser":
		fz.endUser = nil
	case "sysadmin":
		// The bootstrap account is never a target of a destructive request
		// (see guardSysadmin): its token failing is a failure of its own.
		fz.t.Errorf("the sysadmin's token stopped working")
	}
}

func (fz *fuzzer) report() {
	t, s := fz.t, fz.stats
	name := t.Name()
	rate := float64(s.requests) / s.elapsed.Seconds()
	var statuses []string
	for _, k := range sortedInts(s.status) {
		statuses = append(statuses, fmt.Sprintf("%d:%d", k, s.status[k]))
	}
	failures := 0
	for _, f := range fz.failures {
		failures += f.count
	}
	var never []string
	for _, o := range fz.ops {
		if o.built && s.ok[o.id] == 0 {
			never = append(never, o.id)
		}
	}
	stopped := ""
	if s.stoppedByTime {
		stopped = fmt.Sprintf(" (stopped by CLEANMAIL_FUZZ_TIME=%s)", fz.cfg.limit)
	}
	t.Logf("fuzz %s: seed %d, %d requests in %s%s, %.0f requests/s, %d failures (%d kinds)",
		name, fz.cfg.seed, s.requests, s.elapsed.Round(time.Millisecond), stopped, rate, failures, len(fz.failures))
	t.Logf("  statuses: %s", strings.Join(statuses, " "))
	t.Logf("  generated: %d requests, %d (%.0f%%) valid per the spec before mutation; %d mutated, %d of them invalid per the spec; %d fixtures and callers made; %d not sendable",
		s.valid, s.specValid, 100*float64(s.specValid)/float64(max(s.valid, 1)), s.mutated, s.rejected, s.setup, s.unsendable)
	t.Logf("  callers: %s", countsString(s.callers))
	t.Logf("  mutations: %s", countsString(s.mutations))
	if os.Getenv("CLEANMAIL_FUZZ_DEBUG") != "" {
		kinds := map[string]int{}
		for _, o := range fz.pool.objs {
			k := o.kind
			if o.dead {
				k += "(dead)"
			}
			kinds[k]++
		}
		t.Logf("  pool: %s; %d deleted ids", countsString(kinds), len(fz.pool.deleted))
		for _, o := range fz.ops {
			var parts []string
			for _, k := range sortedInts(s.byOp[o.id]) {
				parts = append(parts, fmt.Sprintf("%d:%d", k, s.byOp[o.id][k]))
			}
			t.Logf("  %-28s %6s  %s", o.id, s.opTime[o.id].Round(time.Millisecond), strings.Join(parts, " "))
		}
	}
	t.Logf("  slowest request: %s, %s", s.slowest.Round(time.Millisecond), s.slowestReq)
	if len(never) > 0 {
		t.Logf("  built operations never answered 2xx in this run: %s", strings.Join(never, " "))
	}
	for i, sig := range fz.order {
		f := fz.failures[sig]
		if i >= 40 {
			t.Errorf("… and %d more kinds of failure", len(fz.order)-i)
			break
		}
		others := ""
		if len(f.others) > 0 {
			others = "  then: " + strings.Join(f.others, "\n        ") + "\n"
			if n := f.count - 1 - len(f.others); n > 0 {
				others += fmt.Sprintf("        … and %d more\n", n)
			}
		}
		t.Errorf("fuzz failure (%d×, %s) %s\nfirst: %s%s", f.count, countsString(f.ops), sig, f.example, others)
	}
	if len(fz.order) > 0 {
		t.Logf("reproduce with: CLEANMAIL_FUZZ_SEED=%d CLEANMAIL_FUZZ_REQUESTS=%d go test ./pkg/api -run '^%s$' -count=1 -v",
			fz.cfg.seed, fz.cfg.requests, strings.ReplaceAll(name, "/", "$/^"))
	}
}

func sortedInts(m map[int]int) []int {
	keys := make([]int, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func countsString(m map[string]int) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return m[keys[i]] > m[keys[j]] || m[keys[i]] == m[keys[j]] && keys[i] < keys[j] })
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s:%d", k, m[k])
	}
	return strings.Join(parts, " ")
}
