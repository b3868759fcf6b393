package api_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/cleanmail/cleanmail/pkg/api"
)

// delivered tells the operations implemented so far: all but those of
// undelivered.txt, which must answer 501 until their issue lands.
func delivered(operationID string) bool { return !api.NotDelivered()[operationID] }

type operation struct {
	method, path, id string
	op               *openapi3.Operation
}

func specOperations(t *testing.T) []operation {
	loader := openapi3.NewLoader()
	spec, err := loader.LoadFromFile("../../openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var ops []operation
	for path, item := range spec.Paths.Map() {
		for method, op := range item.Operations() {
			ops = append(ops, operation{method, path, op.OperationID, op})
		}
	}
	sort.Slice(ops, func(i, j int) bool { return ops[i].id < ops[j].id })
	return ops
}

func TestSpecHasEveryDocumentedOperation(t *testing.T) {
	ops := specOperations(t)
	documented := 0
	for _, o := range ops {
		tag := o.op.Tags[0]
		if tag != "Extensions" && tag != "Service" {
			documented++
		}
	}
	if documented != 93 {
		t.Errorf("openapi.yaml has %d documented operations, want the doc's 93", documented)
	}
}

func TestEveryOperationHasAnAccessRule(t *testing.T) {
	ops := specOperations(t)
	inSpec := map[string]bool{}
	for _, o := range ops {
		inSpec[o.id] = true
	}
	ruled := map[string]bool{}
	for _, id := range api.RuleOperations() {
		ruled[id] = true
		if !inSpec[id] {
			t.Errorf("access rule for %s, which the spec does not have", id)
		}
	}
	for id := range inSpec {
		if !ruled[id] {
			t.Errorf("operation %s has no access rule", id)
		}
	}
}

// sample builds a value that satisfies schema: the example if there is
// one, otherwise the smallest value the schema accepts.
func sample(s *openapi3.Schema) any {
	if s == nil {
		return nil
	}
	if s.Example != nil {
		return s.Example
	}
	if len(s.Enum) > 0 {
		return s.Enum[0]
	}
	if len(s.AllOf) > 0 {
		return sample(s.AllOf[0].Value)
	}
	if len(s.OneOf) > 0 {
		return sample(s.OneOf[0].Value)
	}
	if len(s.AnyOf) > 0 {
		return sample(s.AnyOf[0].Value)
	}
	switch {
	case s.Type.Is("object"):
		m := map[string]any{}
		for _, name := range s.Required {
			m[name] = sample(s.Properties[name].Value)
		}
		return m
	case s.Type.Is("array"):
		n := int(s.MinItems)
		out := make([]any, n)
		for i := range out {
			out[i] = sample(s.Items.Value)
		}
		return out
	case s.Type.Is("integer"), s.Type.Is("number"):
		if s.Min != nil {
			return *s.Min
		}
		return 1
	case s.Type.Is("boolean"):
		return true
	case s.Type.Is("string"):
		switch s.Format {
		case "email":
			return "user@example.com"
		case "date-time":
			return "2026-01-01T00:00:00Z"
		}
		return strings.Repeat("x", max(int(s.MinLength), 5))
	}
	return nil
}

// validRequest builds a request that passes the validator for op.
func (e *env) validRequest(t *testing.T, o operation) *http.Request {
	path := regexp.MustCompile(`\{[^}]+\}`).ReplaceAllStringFunc(o.path, func(string) string { return "ByE3nq" })
	q := []string{}
	for _, p := range o.op.Parameters {
		if p.Value.Required && p.Value.In == "query" {
			q = append(q, p.Value.Name+"="+fmt.Sprint(sample(p.Value.Schema.Value)))
		}
	}
	if len(q) > 0 {
		path += "?" + strings.Join(q, "&")
	}
	var body []byte
	contentType := ""
	if rb := o.op.RequestBody; rb != nil && rb.Value.Required {
		if mt := rb.Value.Content.Get("application/json"); mt != nil {
			v := mt.Example
			if v == nil {
				v = sample(mt.Schema.Value)
			}
			body = jsonBytes(t, v)
			contentType = "application/json"
		} else if rb.Value.Content.Get("multipart/form-data") != nil {
			var buf bytes.Buffer
			w := multipart.NewWriter(&buf)
			fw, _ := w.CreateFormFile("file", "a.txt")
			fw.Write([]byte("hello"))
			w.Close()
			body, contentType = buf.Bytes(), w.FormDataContentType()
		}
	}
	hr, _ := http.NewRequestWithContext(context.Background(), strings.ToUpper(o.method), e.srv.URL+path, bytes.NewReader(body))
	if contentType != "" {
		hr.Header.Set("Content-Type", contentType)
	}
	hr.Header.Set("Authorization", "Bearer "+e.token)
	return hr
}

func TestUndeliveredOperationsAnswer501(t *testing.T) {
	e := newEnv(t, "sqlite:"+t.TempDir()+"/c.db")
	for _, o := range specOperations(t) {
		if delivered(o.id) {
			continue
		}
		t.Run(o.id, func(t *testing.T) {
			hr := e.validRequest(t, o)
			res, err := http.DefaultClient.Do(hr)
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			var b bytes.Buffer
			b.ReadFrom(res.Body)
			if res.StatusCode != 501 || !strings.HasPrefix(res.Header.Get("Content-Type"), "application/problem+json") ||
				!strings.Contains(b.String(), o.id+" is not implemented yet") {
				t.Errorf("%s %s: %d %s %s, want 501 problem+json", o.method, o.path, res.StatusCode, res.Header.Get("Content-Type"), b.String())
			}
		})
	}
}

// TestUnavailableSaysWhenToRetry checks the 503s of a server whose database
// is not ready: /readyz and every API operation say when to retry.
func TestUnavailableSaysWhenToRetry(t *testing.T) {
	loadSpec(t)
	h, err := api.New(api.Options{Ready: func() bool { return false }, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	e := &env{t: t, srv: srv, token: adminToken}
	for _, r := range []req{{Method: "GET", Path: "/readyz", Token: "-"}, {Method: "GET", Path: "/domains"}} {
		res := e.do(r)
		res.problem(503, "")
		if ra := res.Header.Get("Retry-After"); ra != "5" {
			t.Errorf("%s %s: Retry-After %q, want 5", r.Method, r.Path, ra)
		}
	}
}

func TestProbesDocsAndHeaders(t *testing.T) {
	e := newEnv(t, "sqlite:"+t.TempDir()+"/c.db")
	e.do(req{Method: "GET", Path: "/livez", Token: "-"}).expect(200)
	e.do(req{Method: "GET", Path: "/readyz", Token: "-"}).expect(200)
	spec := e.do(req{Method: "GET", Path: "/openapi.yaml", Token: "-"}).expect(200)
	if !bytes.Contains(spec.Body, []byte("\nopenapi: 3.0.3")) {
		t.Errorf("/openapi.yaml starts with %q", spec.Body[:min(40, len(spec.Body))])
	}
	e.do(req{Method: "GET", Path: "/openapi.json", Token: "-"}).expect(200)
	docs := e.do(req{Method: "GET", Path: "/docs/", Token: "-"}).expect(200)
	if !bytes.Contains(docs.Body, []byte("swagger")) && !bytes.Contains(docs.Body, []byte("Swagger")) {
		t.Errorf("/docs/ is not Swagger UI: %.200s", docs.Body)
	}

	r := e.do(req{Method: "GET", Path: "/domains", Header: map[string]string{"Origin": "https://admin.example"}}).expect(200)
	if r.Header.Get("X-Request-Id") == "" {
		t.Error("no X-Request-Id")
	}
	if !strings.Contains(r.Header.Get("Vary"), "Origin") {
		t.Errorf("Vary %q, want Origin", r.Header.Get("Vary"))
	}
	for _, h := range []string{"X-Total-Count", "Location", "Content-Location"} {
		if !strings.Contains(r.Header.Get("Access-Control-Expose-Headers"), h) {
			t.Errorf("Access-Control-Expose-Headers %q lacks %s", r.Header.Get("Access-Control-Expose-Headers"), h)
		}
	}
	pre, _ := http.NewRequest("OPTIONS", e.srv.URL+"/domains", nil)
	pre.Header.Set("Origin", "https://admin.example")
	pre.Header.Set("Access-Control-Request-Method", "POST")
	pre.Header.Set("Access-Control-Request-Headers", "Authorization, Content-Type")
	res, err := http.DefaultClient.Do(pre)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 204 || res.Header.Get("Access-Control-Allow-Origin") == "" {
		t.Errorf("preflight: %d, Allow-Origin %q", res.StatusCode, res.Header.Get("Access-Control-Allow-Origin"))
	}
	// An unknown path is a 404 problem, not an HTML page.
	e.do(req{Method: "GET", Path: "/nope"}).problem(404, "")
}
