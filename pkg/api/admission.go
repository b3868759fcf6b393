package api

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/labstack/echo/v4"
	echomw "github.com/oapi-codegen/echo-middleware"
)

// Admission: what every API request goes through before anything reads its
// body. A caller that may not act costs a route lookup and a token check,
// never the reading or parsing of what it sent.

// admit finds the request's operation, authenticates the caller, applies
// the operation's access rule (rules.go), which needs only the path, then
// reads the body within the operation's limit (413 beyond it) and
// normalizes the request for the validator (enums.go).
func (s *Server) admit(router routers.Router) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			req := c.Request()
			normalizeContentType(req)
			route, _, err := router.FindRoute(req)
			if err != nil {
				// No operation: the validator answers 404 or 405, and
				// reads nothing of the body.
				return next(c)
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
			return next(c)
		}
	}
}

// principalPresent is the request validator's AuthenticationFunc: admit has
// authenticated every secured operation already, so it only confirms that
// a principal is there.
func principalPresent(ctx context.Context, _ *openapi3filter.AuthenticationInput) error {
	if ec := echomw.GetEchoContext(ctx); ec != nil && principalFrom(ec.Request().Context()) != nil {
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
