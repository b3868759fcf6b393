package api_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cleanmail/cleanmail/pkg/api"
)

// endlessBody is a request body that sends a little, then nothing, until
// the test ends: a server that waits for it never answers.
func endlessBody(t *testing.T) io.Reader {
	pr, pw := io.Pipe()
	go func() { _, _ = pw.Write([]byte(`{"name":"`)) }()
	t.Cleanup(func() { pw.Close() })
	return pr
}

// send makes a raw request with a deadline and returns its status,
// headers and body.
func (e *env) send(t *testing.T, method, path, token string, body io.Reader, length int64, header map[string]string) (int, http.Header, []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	hr, err := http.NewRequestWithContext(ctx, method, e.srv.URL+path, body)
	if err != nil {
		t.Fatal(err)
	}
	hr.ContentLength = length
	hr.Header.Set("Content-Type", "application/json")
	if token != "" {
		hr.Header.Set("Authorization", "Bearer "+token)
	}
	for k, v := range header {
		hr.Header.Set(k, v)
	}
	if h, ok := header["Host"]; ok {
		hr.Host = h
	}
	res, err := http.DefaultClient.Do(hr)
	if err != nil {
		t.Fatalf("%s %s: %v (the server did not answer)", method, path, err)
	}
	defer res.Body.Close()
	out, _ := io.ReadAll(res.Body)
	return res.StatusCode, res.Header, out
}

// A caller that may not act gets its answer without the server reading
// its body: no token, or a token without the right, answers at once even
// when the body never ends.
func TestBodyIsNotReadBeforeAccess(t *testing.T) {
	forEachDB(t, func(t *testing.T, e *env) {
		stark := e.newDomain("stark.net")
		_, ned := e.domainAdmin(stark, "ned", "DOMAIN_READ")
		for _, c := range []struct {
			name, method, path, token string
			want                      int
		}{
			{"no token", "POST", "/domains", "", 401},
			{"bad token", "POST", "/domains", "0123456789abcdef0123456789abcdee", 401},
			{"not a sysadmin", "POST", "/domains", ned, 403},
			{"no FILTER_EDIT", "PUT", "/domains/" + stark + "/wblist", ned, 403},
			{"another tenant's domain", "PATCH", "/domains/" + e.newDomain("lannister.net"), ned, 404},
		} {
			start := time.Now()
			status, _, body := e.send(t, c.method, c.path, c.token, endlessBody(t), 100<<20, nil)
			if status != c.want {
				t.Errorf("%s: status %d, want %d: %s", c.name, status, c.want, body)
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("%s: answered after %v", c.name, d)
			}
		}
	})
}

// A body larger than the limit is a 413, whether it announces its length
// or not; one within it is served.
func TestBodyLimit(t *testing.T) {
	forEachDBWith(t, func(o *api.Options) { o.Limits.MaxBody = 4096 }, func(t *testing.T, e *env) {
		{
			big := fmt.Sprintf(`{"name":"big","description":%q}`, strings.Repeat("x", 5000))
			// Announced: refused before reading.
			e.do(req{Method: "POST", Path: "/brokers", Body: big}).problem(413, "4096")
			// Chunked, no length: refused once the limit is crossed.
			status, h, body := e.send(t, "POST", "/brokers", e.token, io.MultiReader(strings.NewReader(big)), -1, nil)
			if status != 413 || !strings.HasPrefix(h.Get("Content-Type"), "application/problem+json") {
				t.Errorf("chunked body over the limit: %d %s", status, body)
			}
			e.do(req{Method: "POST", Path: "/brokers", Body: `{"name":"small"}`}).expect(201)
		}
	})
}

func TestDefaultBodyLimitIsOneMebibyte(t *testing.T) {
	if api.DefaultLimits.MaxBody != 1<<20 {
		t.Errorf("default body limit %d, want 1 MiB (README, Limits)", api.DefaultLimits.MaxBody)
	}
	forEachDB(t, func(t *testing.T, e *env) {
		over := fmt.Sprintf(`{"name":"big","description":%q}`, strings.Repeat("x", 1<<20))
		e.do(req{Method: "POST", Path: "/brokers", Body: over}).problem(413, "")
	})
}

// Media types are case-insensitive (RFC 9110): APPLICATION/JSON is JSON.
func TestContentTypeIsCaseInsensitive(t *testing.T) {
	forEachDB(t, func(t *testing.T, e *env) {
		e.do(req{Method: "POST", Path: "/brokers", Body: `{"name":"westeros"}`,
			Header: map[string]string{"Content-Type": "APPLICATION/JSON; Charset=UTF-8"}}).expect(201)
	})
}

// Failed authentications are throttled per client address and per
// personal-token prefix: past the limit, 429 with Retry-After, for good
// tokens too, until the bucket refills.
func TestFailedAuthenticationsAreThrottled(t *testing.T) {
	proxy := netip.MustParsePrefix("127.0.0.1/32")
	forEachDBWith(t, func(o *api.Options) {
		o.Limits.AuthFailuresPerMinute = 5
		o.TrustedProxies = []netip.Prefix{proxy}
	}, func(t *testing.T, e *env) { throttled(t, e) })
}

func throttled(t *testing.T, e *env) {
	from := func(addr string) map[string]string { return map[string]string{"X-Forwarded-For": addr} }
	get := func(token, addr string) *resp {
		return e.do(req{Method: "GET", Path: "/domains", Token: token, Header: from(addr)})
	}
	for i := range 5 {
		get(fmt.Sprintf("%032x", i+1), "192.0.2.1").problem(401, "")
	}
	r := get(fmt.Sprintf("%032x", 99), "192.0.2.1")
	r.problem(429, "")
	if s, err := strconv.Atoi(r.Header.Get("Retry-After")); err != nil || s < 1 || s > 12 {
		t.Errorf("Retry-After %q, want about 12 s (one failure back at 5 a minute)", r.Header.Get("Retry-After"))
	}
	get(e.token, "192.0.2.1").problem(429, "") // the address waits, whatever its token
	get(e.token, "192.0.2.2").expect(200)      // another address does not

	// One prefix from many addresses.
	for i := range 5 {
		get(fmt.Sprintf("deadbeef%024x", i), fmt.Sprintf("198.51.100.%d", i+1)).problem(401, "")
	}
	get(fmt.Sprintf("deadbeef%024x", 77), "198.51.100.77").problem(429, "")
	get(fmt.Sprintf("feedface%024x", 77), "198.51.100.77").problem(401, "")

	// A missing token is not a guess: it is not counted.
	for range 10 {
		get("-", "203.0.113.1").problem(401, "")
	}
	get(e.token, "203.0.113.1").expect(200)
}

// X-Forwarded-For is believed only from configured proxies: otherwise a
// client could choose the address it is throttled and logged as.
func TestForwardedForNeedsATrustedProxy(t *testing.T) {
	for name, url := range databases(t) {
		t.Run(name, func(t *testing.T) {
			var logs syncBuffer
			e := newEnvWith(t, url(t), func(o *api.Options) {
				o.Limits.AuthFailuresPerMinute = 3
				o.Logger = slog.New(slog.NewTextHandler(&logs, nil))
			})
			forwardedFor(t, e, &logs)
		})
	}
}

func forwardedFor(t *testing.T, e *env, logs *syncBuffer) {
	for i := range 3 {
		e.do(req{Method: "GET", Path: "/domains", Token: fmt.Sprintf("%032x", i+1),
			Header: map[string]string{"X-Forwarded-For": fmt.Sprintf("192.0.2.%d", i+1)}}).problem(401, "")
	}
	e.do(req{Method: "GET", Path: "/domains", Header: map[string]string{"X-Forwarded-For": "192.0.2.200"}}).problem(429, "")
	if strings.Contains(logs.String(), "192.0.2.") {
		t.Errorf("the log believed X-Forwarded-For from an untrusted peer:\n%s", logs.String())
	}
	if !strings.Contains(logs.String(), "remote=127.0.0.1") {
		t.Errorf("the log does not name the peer:\n%s", logs.String())
	}
}

// Location is a path (or the configured public URL's), never built from
// the request's Host.
func TestLocationIgnoresHost(t *testing.T) {
	for name, url := range databases(t) {
		t.Run(name, func(t *testing.T) {
			for _, public := range []string{"", "https://api.example.com"} {
				e := newEnvWith(t, url(t), func(o *api.Options) { o.PublicURL = public })
				status, h, body := e.send(t, "POST", "/brokers", e.token, strings.NewReader(`{"name":"westeros"}`), -1,
					map[string]string{"Host": "evil.example"})
				if status != 201 {
					t.Fatalf("POST /brokers: %d %s", status, body)
				}
				loc := h.Get("Location")
				if !strings.HasPrefix(loc, public+"/") || strings.Contains(loc, "evil") || strings.Contains(loc, "westeros") {
					t.Errorf("public URL %q: Location %q", public, loc)
				}
				// It names the new resource, which answers GET.
				if got := e.do(req{Method: "GET", Path: strings.TrimPrefix(loc, public)}).expect(200).json(); got["name"] != "westeros" {
					t.Errorf("GET %s: %v", loc, got)
				}
				// The same for an outgoing provider, whose Location named it by name.
				r := e.do(req{Method: "POST", Path: "/outgoing-providers", Body: map[string]any{"name": "Microsoft 365", "spfProvider": "spf.protection.outlook.com"}}).expect(201)
				if got := e.do(req{Method: "GET", Path: strings.TrimPrefix(r.Header.Get("Location"), public)}).expect(200).json(); got["name"] != "Microsoft 365" {
					t.Errorf("GET %s: %v", r.Header.Get("Location"), got)
				}
			}
		})
	}
}

// syncBuffer is a bytes.Buffer safe for a logger and a test at once.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// A query string that does not parse is a 400: Go would otherwise drop
// the bad pair, and with it a filter (a list of everything).
func TestMalformedQueryIs400(t *testing.T) {
	forEachDB(t, func(t *testing.T, e *env) {
		e.newDomain("stark.net")
		e.do(req{Method: "GET", Path: "/domains?name=%zz"}).problem(400, "query")
		e.do(req{Method: "GET", Path: "/livez?x=%zz"}).problem(400, "query")
		e.do(req{Method: "GET", Path: "/domains?name=stark.net"}).expect(200)
	})
}
