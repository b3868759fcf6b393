package api_test

import (
	"bytes"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
)

// TestBadInputNeverFails500 sends every operation of the spec bad inputs
// (malformed bodies, bodies of the wrong shape, odd ids in the path) as
// the sysadmin, who passes every access check: each must be a 4xx
// problem (or the 501 of an operation not built yet), never a 500.
func TestBadInputNeverFails500(t *testing.T) {
	t.Parallel()
	forEachDB(t, func(t *testing.T, e *env) { badInputs(t, e) })
}

func badInputs(t *testing.T, e *env) {
	// Text no database stores is a 400 naming where it is.
	e.do(req{Method: "POST", Path: "/brokers", Body: `{"name":"a\u0000b"}`}).problem(400, "name")
	e.do(req{Method: "POST", Path: "/domains/x/aliases", Body: `["ok.net","a\u0000b"]`}).problem(400, "1")
	e.do(req{Method: "GET", Path: "/domains?name=a%00b"}).problem(400, "name")
	e.do(req{Method: "GET", Path: "/domains?externalId=%ff"}).problem(400, "externalId")

	domain := e.newDomain("stark.net", map[string]any{"quarantine": true})
	e.newUser(domain, "ned@stark.net")
	bodies := []string{"", "not json", "{", "[]", "{}", `{"name":null}`, `[{"x":1}]`, `"text"`, "123", strings.Repeat("[", 2000)}
	ids := []string{"ByE3nq", "%2e%2e", "x%00y", strings.Repeat("a", 300), "ned@stark.net", domain, "-1", "0"}
	for _, o := range specOperations(t) {
		// The operation's own valid body, with every string made hostile:
		// a NUL byte (PostgreSQL refuses it in text) and a long run.
		own := bodies
		if rb := o.op.RequestBody; rb != nil {
			if mt := rb.Value.Content.Get("application/json"); mt != nil {
				v := mt.Example
				if v == nil {
					v = sample(mt.Schema.Value)
				}
				for _, bad := range []string{"a\x00b", strings.Repeat("é", 5000), ""} {
					own = append(own, string(jsonBytes(t, hostile(jsonify(v), bad))))
				}
				for _, n := range []float64{1e300, -1e19, -1, 0, 2147483648} {
					own = append(own, string(jsonBytes(t, hostileNumbers(jsonify(v), n))))
				}
			}
		}
		for _, id := range ids {
			path := regexp.MustCompile(`\{[^}]+\}`).ReplaceAllString(o.path, id)
			for _, body := range own {
				if o.op.RequestBody == nil && body != "" {
					continue
				}
				hr, _ := http.NewRequest(strings.ToUpper(o.method), e.srv.URL+path+"?offset=1&pageSize=2&sort=-id", bytes.NewReader([]byte(body)))
				hr.Header.Set("Authorization", "Bearer "+e.token)
				if body != "" {
					hr.Header.Set("Content-Type", "application/json")
				}
				res, err := http.DefaultClient.Do(hr)
				if err != nil {
					t.Fatal(err)
				}
				b, _ := io.ReadAll(res.Body)
				res.Body.Close()
				if res.StatusCode >= 500 && res.StatusCode != 501 {
					t.Errorf("%s %s with body %.40q: %d %s", o.method, path, body, res.StatusCode, b)
				}
			}
		}
	}
}

// hostile replaces every string of v with bad.
func hostile(v any, bad string) any {
	switch x := v.(type) {
	case string:
		return bad
	case map[string]any:
		for k, item := range x {
			x[k] = hostile(item, bad)
		}
	case []any:
		for i := range x {
			x[i] = hostile(x[i], bad)
		}
	}
	return v
}

// hostileNumbers replaces every number of v with n.
func hostileNumbers(v any, n float64) any {
	switch x := v.(type) {
	case float64:
		return n
	case map[string]any:
		for k, item := range x {
			x[k] = hostileNumbers(item, n)
		}
	case []any:
		for i := range x {
			x[i] = hostileNumbers(x[i], n)
		}
	}
	return v
}

// TestProblemsAreBounded checks that an error stays within the bounds
// openapi.yaml declares for Problem, however bad the request: a body with
// thousands of bad fields lists the first 100 and says how many there are,
// a long bad value quoted in a message is cut, and a path too long to
// repeat is left out of instance.
func TestProblemsAreBounded(t *testing.T) {
	e := newEnv(t, "sqlite:"+t.TempDir()+"/c.db")
	domain := e.newDomain("stark.net")

	rules := make([]map[string]any, 10000)
	for i := range rules {
		rules[i] = map[string]any{"value": "sender@example.com", "type": "NOPE"}
	}
	var p struct {
		Detail   string
		Instance *string
		Errors   []struct{ Field, Message string }
	}
	e.do(req{Method: "PUT", Path: "/domains/" + domain + "/wblist", Body: rules}).expect(400).decode(&p)
	if len(p.Errors) != 100 || !strings.HasPrefix(p.Detail, "10000 errors, the first 100 listed: ") {
		t.Errorf("10,000 bad rules: %d errors, detail %.80q; want the first 100 and the count", len(p.Errors), p.Detail)
	}

	long := strings.Repeat("not a url ", 6000)
	p.Errors = nil
	e.do(req{Method: "POST", Path: "/options/platform", Body: map[string]any{"name": "SUPPORT_URL", "value": long}}).expect(400).decode(&p)
	if len(p.Errors) != 1 || len([]rune(p.Errors[0].Message)) != 1024 || !strings.HasSuffix(p.Errors[0].Message, "…") {
		t.Errorf("a 60,000-character bad value: errors %.200v; want one message cut at 1024 characters", p.Errors)
	}
	if n := len([]rune(p.Detail)); n > 8192 {
		t.Errorf("detail of %d characters, want at most 8192", n)
	}

	p.Instance = nil
	e.do(req{Method: "GET", Path: "/domains/" + strings.Repeat("a", 9000)}).expect(400).decode(&p)
	if p.Instance != nil {
		t.Errorf("instance of %d characters, want none beyond 8192", len(*p.Instance))
	}
}
