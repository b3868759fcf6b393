package api

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/labstack/echo/v4"
)

// Admission: what every API request goes through before anything reads its
// body. A caller that may not act costs a route lookup and a token check,
// never the reading or parsing of what it sent.

// admit finds the request's operation, authenticates the caller, applies
// the operation's access rule (rules.go), which needs only the path, then
// reads the body within the operation's limit (413 beyond it), normalizes
// the request (enums.go) and validates it against the operation (kin-openapi's
// openapi3filter, with opts): the request is routed once, for all of it.
func (s *Server) admit(ops *operations, opts *openapi3filter.Options) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			req := c.Request()
			normalizeContentType(req)
			route, pathParams, err := ops.find(c)
			if err != nil {
				if unvalidated(req) {
					return next(c)
				}
				// No operation: 404 or 405, reading nothing of the body.
				return routeError(err)
			}
			op := route.Operation
			r, ok := rules[op.OperationID]
			if !ok {
				s.log.Error("operation has no access rule", "operation", op.OperationID)
				return fmt.Errorf("operation %s has no access rule", op.OperationID)
			}
			if !r.public {
				p, err := s.authenticate(c)
				if err != nil {
					return err
				}
				ctx := context.WithValue(req.Context(), principalKey{}, p)
				t, err := s.check(ctx, p, r, c.Param)
				if err != nil {
					return err
				}
				if t != nil {
					ctx = context.WithValue(ctx, targetKey{}, t)
				}
				c.SetRequest(req.WithContext(ctx))
			}
			if err := s.readBody(c, op); err != nil {
				return err
			}
			if err := normalize(c.Request(), route); err != nil {
				return err
			}
			if !unvalidated(c.Request()) {
				if err := validate(c.Request(), route, pathParams, opts); err != nil {
					return err
				}
			}
			return next(c)
		}
	}
}

// unvalidated are the requests served outside the validated API: the
// spec and its documentation, and CORS preflights.
func unvalidated(req *http.Request) bool {
	p := req.URL.Path
	for _, x := range openapiPaths {
		if p == x || strings.HasPrefix(p, x+"/") {
			return true
		}
	}
	return req.Method == http.MethodOptions
}

// routeError is the answer to a request no operation takes: 405 for a
// path the spec has with other methods, 404 otherwise.
func routeError(err error) error {
	if errors.Is(err, routers.ErrMethodNotAllowed) {
		return echo.NewHTTPError(http.StatusMethodNotAllowed)
	}
	var re *routers.RouteError
	if errors.As(err, &re) {
		return echo.NewHTTPError(http.StatusNotFound, re.Reason)
	}
	return echo.NewHTTPError(http.StatusInternalServerError, fmt.Sprintf("error validating route: %s", err))
}

// validate checks req against its operation (route, found by admit, and
// its path parameters, percent-decoded), as oapi-codegen's echo-middleware
// does, without routing the request again: the errors collected into one
// (multiError: a 401 or a 400 naming every bad field).
func validate(req *http.Request, route *routers.Route, pathParams map[string]string, opts *openapi3filter.Options) error {
	err := openapi3filter.ValidateRequest(req.Context(), &openapi3filter.RequestValidationInput{
		Request: req, PathParams: pathParams, Route: route, Options: opts,
	})
	if err == nil {
		return nil
	}
	var me openapi3.MultiError
	if errors.As(err, &me) {
		return multiError(me)
	}
	switch e := err.(type) {
	case *openapi3filter.RequestError:
		// Its first line says it; the rest is the schema's detail.
		return &echo.HTTPError{Code: http.StatusBadRequest, Message: strings.Split(e.Error(), "\n")[0], Internal: err}
	case *openapi3filter.SecurityRequirementsError:
		for _, err := range e.Errors {
			if httpErr, ok := err.(*echo.HTTPError); ok {
				return httpErr
			}
		}
		return &echo.HTTPError{Code: http.StatusForbidden, Message: e.Error(), Internal: err}
	}
	return &echo.HTTPError{Code: http.StatusInternalServerError, Message: fmt.Sprintf("error validating request: %s", err), Internal: err}
}

// principalPresent is the request validator's AuthenticationFunc: admit has
// authenticated every secured operation already, so it only confirms that
// a principal is there (the validator is given the request's context).
func principalPresent(ctx context.Context, _ *openapi3filter.AuthenticationInput) error {
	if principalFrom(ctx) != nil {
		return nil
	}
	return unauthorized("Authentication required.")
}

// readBody reads a JSON body into memory, at most the operation's limit
// (the JSON limit, or the upload limit for multipart bodies, which are
// left to stream through a bounded reader). Reading is bounded in time by
// the server's read timeout.
func (s *Server) readBody(c echo.Context, op *openapi3.Operation) error {
	req := c.Request()
	if op.RequestBody == nil || op.RequestBody.Value == nil || req.Body == nil || req.Body == http.NoBody {
		return nil // a body the operation does not take is never read
	}
	limit := s.limits.MaxBody
	multipart := op.RequestBody.Value.Content.Get("multipart/form-data") != nil
	if multipart {
		limit = s.limits.MaxUpload
	}
	if req.ContentLength > limit {
		return &http.MaxBytesError{Limit: limit} // a 413, without reading a byte
	}
	req.Body = http.MaxBytesReader(c.Response().Writer, req.Body, limit)
	if multipart {
		return nil
	}
	raw, err := io.ReadAll(req.Body)
	_ = req.Body.Close()
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		return tooLarge // a 413
	case err != nil:
		return badField("body", "could not be read in full (the connection closed or was too slow)")
	}
	req.Body = io.NopCloser(bytes.NewReader(raw))
	req.ContentLength = int64(len(raw))
	return nil
}

// normalizeContentType lower-cases the media type of Content-Type
// (`APPLICATION/JSON` is `application/json`: media types are
// case-insensitive), so the validator and the handlers compare one form.
func normalizeContentType(req *http.Request) {
	ct := req.Header.Get(echo.HeaderContentType)
	if ct == "" {
		return
	}
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil {
		return
	}
	if norm := mime.FormatMediaType(mt, params); norm != "" && norm != ct {
		req.Header.Set(echo.HeaderContentType, norm)
	}
}

// deadline bounds every request in time: store calls, and later peers,
// inherit the deadline from the request's context.
func (s *Server) deadline(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if s.limits.RequestTimeout <= 0 {
			return next(c)
		}
		ctx, cancel := context.WithTimeout(c.Request().Context(), s.limits.RequestTimeout)
		defer cancel()
		c.SetRequest(c.Request().WithContext(ctx))
		return next(c)
	}
}
