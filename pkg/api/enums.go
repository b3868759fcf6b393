package api

import (
	"bytes"
	"encoding/json"
	"io"
	"mime"
	"net/http"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/routers"
	"github.com/labstack/echo/v4"
)

// normalizeEnums is a middleware placed before the request validator: the
// doc's model tables spell some enum values in lower case ("fr", "enabled")
// while the API speaks upper case, so every string that matches an enum
// value of its schema but for case is rewritten to the spelling of the
// spec, in query parameters and JSON bodies alike. Anything else is left
// for the validator to judge.
func normalizeEnums(router routers.Router) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			req := c.Request()
			route, _, err := router.FindRoute(req)
			if err != nil {
				return next(c)
			}
			normalizeQuery(req, route.Operation)
			if err := normalizeBody(req, route.Operation); err != nil {
				return err
			}
			return next(c)
		}
	}
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
