package api

import (
	"bytes"
	"encoding/json"
	"io"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/routers"
	"github.com/labstack/echo/v4"
)

// normalize prepares a request of an operation for the validator, once
// its body is read: the doc's model tables spell some enum values in lower
// case ("fr", "enabled") while the API speaks upper case, so every string
// that matches an enum value of its schema but for case is rewritten to
// the spelling of the spec, in query parameters and JSON bodies alike.
// Anything else is left for the validator to judge, except what no
// validator sees: a query string that does not parse (Go would drop the
// bad pair, and with it a filter), a query parameter the operation does
// not declare (a misspelt filter would otherwise be ignored, and a list of
// everything answered), and text no database can store (a NUL byte,
// invalid UTF-8), each refused here with a 400 naming it.
func normalize(req *http.Request, route *routers.Route) error {
	op := route.Operation
	if !storable(req.URL.Path) {
		return badField("path", "contains a NUL byte or invalid UTF-8")
	}
	query, err := url.ParseQuery(req.URL.RawQuery)
	if err != nil {
		return badField("query", "is not a valid query string (a %% must start an escape like %%2A)")
	}
	declared := queryParameters(route)
	for name := range query {
		if !slices.Contains(declared, name) {
			if len(declared) == 0 {
				return badField(name, "is not a parameter of this operation, which takes none")
			}
			return badField(name, "is not a parameter of this operation (it takes %s)", strings.Join(declared, ", "))
		}
	}
	for name, vals := range query {
		for _, v := range vals {
			if !storable(v) {
				return badField(name, "contains a NUL byte or invalid UTF-8")
			}
		}
	}
	normalizeQuery(req, op)
	return normalizeBody(req, op)
}

// queryParameters lists the query parameters an operation declares, its
// own and its path's.
func queryParameters(route *routers.Route) []string {
	var out []string
	for _, params := range []openapi3.Parameters{route.PathItem.Parameters, route.Operation.Parameters} {
		for _, p := range params {
			if p.Value != nil && p.Value.In == openapi3.ParameterInQuery {
				out = append(out, p.Value.Name)
			}
		}
	}
	return out
}

// storable reports whether s can be stored as text by both databases.
func storable(s string) bool {
	return utf8.ValidString(s) && !strings.ContainsRune(s, 0)
}

// unstorable returns the dotted path of the first string of v that no
// database can store, or "" when there is none.
func unstorable(v any, path string) (string, bool) {
	switch x := v.(type) {
	case string:
		return path, !storable(x)
	case map[string]any:
		for k, item := range x {
			p := k
			if path != "" {
				p = path + "." + k
			}
			if !storable(k) {
				return p, true
			}
			if where, bad := unstorable(item, p); bad {
				return where, true
			}
		}
	case []any:
		for i, item := range x {
			p := strconv.Itoa(i)
			if path != "" {
				p = path + "." + p
			}
			if where, bad := unstorable(item, p); bad {
				return where, true
			}
		}
	}
	return "", false
}

func normalizeQuery(req *http.Request, op *openapi3.Operation) {
	q := req.URL.Query()
	changed := false
	for _, pref := range op.Parameters {
		p := pref.Value
		if p == nil || p.In != openapi3.ParameterInQuery || p.Schema == nil {
			continue
		}
		vals, ok := q[p.Name]
		if !ok {
			continue
		}
		for i, v := range vals {
			if nv, ok := enumSpelling(p.Schema.Value, v); ok && nv != v {
				vals[i] = nv
				changed = true
			}
		}
	}
	if changed {
		req.URL.RawQuery = q.Encode()
	}
}

func normalizeBody(req *http.Request, op *openapi3.Operation) error {
	if op.RequestBody == nil || op.RequestBody.Value == nil || req.Body == nil {
		return nil
	}
	mt, _, _ := mime.ParseMediaType(req.Header.Get(echo.HeaderContentType))
	if mt != echo.MIMEApplicationJSON {
		return nil
	}
	media := op.RequestBody.Value.Content.Get(mt)
	if media == nil || media.Schema == nil {
		return nil
	}
	raw, err := io.ReadAll(req.Body)
	_ = req.Body.Close()
	if err != nil {
		return err
	}
	req.Body = io.NopCloser(bytes.NewReader(raw))
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var doc any
	if dec.Decode(&doc) != nil {
		return nil // the validator reports malformed JSON
	}
	if where, bad := unstorable(doc, ""); bad {
		if where == "" {
			where = "body"
		}
		return badField(where, "contains a NUL byte or invalid UTF-8")
	}
	if nd, changed := normalizeValue(media.Schema.Value, doc); changed {
		out, err := json.Marshal(nd)
		if err != nil {
			return err
		}
		req.Body = io.NopCloser(bytes.NewReader(out))
		req.ContentLength = int64(len(out))
	}
	return nil
}

func normalizeValue(s *openapi3.Schema, v any) (any, bool) {
	if s == nil {
		return v, false
	}
	changed := false
	for _, sub := range s.AllOf {
		var c bool
		v, c = normalizeValue(sub.Value, v)
		changed = changed || c
	}
	switch x := v.(type) {
	case string:
		if nv, ok := enumSpelling(s, x); ok && nv != x {
			return nv, true
		}
	case []any:
		if s.Items != nil {
			for i, item := range x {
				var c bool
				x[i], c = normalizeValue(s.Items.Value, item)
				changed = changed || c
			}
		}
	case map[string]any:
		for k, item := range x {
			if ps, ok := s.Properties[k]; ok {
				var c bool
				x[k], c = normalizeValue(ps.Value, item)
				changed = changed || c
			}
		}
	}
	return v, changed
}

// enumSpelling returns the enum value of s that v equals but for case.
func enumSpelling(s *openapi3.Schema, v string) (string, bool) {
	if s == nil {
		return "", false
	}
	if len(s.Enum) == 0 && s.Items != nil {
		return enumSpelling(s.Items.Value, v) // exploded array parameters
	}
	for _, e := range s.Enum {
		if es, ok := e.(string); ok && strings.EqualFold(es, v) {
			return es, true
		}
	}
	return "", false
}
