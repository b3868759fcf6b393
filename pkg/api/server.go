// Package api implements the Cleanmail REST API: the handlers behind the
// strict server interface generated from openapi.yaml, and the one setup
// function that wires them with request validation, authentication,
// access rules, problem+json errors, logging and CORS.
package api

import (
	"context"
	"crypto/rand"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers/gorillamux"
	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
	echomw "github.com/oapi-codegen/echo-middleware"
	"github.com/swaggest/swgui/v5emb"

	"github.com/cleanmail/cleanmail"
	"github.com/cleanmail/cleanmail/db"
	"github.com/cleanmail/cleanmail/gen"
	"github.com/cleanmail/cleanmail/pkg/ids"
)

// Options configure New.
type Options struct {
	Store *db.Store
	IDs   *ids.Codec
	// Logger receives the request log and internal errors. If nil,
	// slog.Default() is used.
	Logger *slog.Logger
	// PurgeDelay is how long a deleted domain stays restorable.
	PurgeDelay time.Duration
	// JWTKey signs temporary tokens (HS512). If empty, a random key is
	// used: temporary tokens then do not survive a restart.
	JWTKey []byte
	// Ready reports whether the database is reachable and migrated; until
	// it is, /readyz and every API operation answer 503. If nil, the
	// server is always ready.
	Ready func() bool
}

// Server implements gen.StrictServerInterface. Operations not delivered yet
// fall through to the embedded notImplemented, which answers 501.
type Server struct {
	notImplemented
	store      *db.Store
	ids        *ids.Codec
	log        *slog.Logger
	purgeDelay time.Duration
	ready      func() bool
	jwtKey     []byte
}

var _ gen.StrictServerInterface = (*Server)(nil)

// openapiPaths are served outside the validated API.
var openapiPaths = []string{"/openapi.yaml", "/openapi.json", "/docs"}

// New builds the HTTP handler of the whole service.
func New(opts Options) (*echo.Echo, error) {
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	ready := opts.Ready
	if ready == nil {
		ready = func() bool { return true }
	}
	s := &Server{store: opts.Store, ids: opts.IDs, log: log, purgeDelay: opts.PurgeDelay, ready: ready, jwtKey: opts.JWTKey}
	if len(s.jwtKey) == 0 {
		s.jwtKey = make([]byte, 64)
		if _, err := rand.Read(s.jwtKey); err != nil {
			return nil, err
		}
	}

	spec, err := gen.GetSpec()
	if err != nil {
		return nil, fmt.Errorf("load embedded spec: %w", err)
	}
	spec.Servers = nil
	router, err := gorillamux.NewRouter(spec)
	if err != nil {
		return nil, fmt.Errorf("route spec: %w", err)
	}
	specYAML := cleanmail.OpenAPIYAML

	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.HTTPErrorHandler = errorHandler(log)
	e.Use(middleware.RequestIDWithConfig(middleware.RequestIDConfig{
		RequestIDHandler: func(c echo.Context, id string) {
			c.SetRequest(c.Request().WithContext(context.WithValue(c.Request().Context(), requestIDKey{}, id)))
		},
	}))
	e.Use(requestLogger(log))
	e.Use(middleware.Recover())
	e.Use(middleware.CORSWithConfig(middleware.CORSConfig{
		AllowOrigins:  []string{"*"},
		AllowHeaders:  []string{echo.HeaderAuthorization, echo.HeaderContentType, echo.HeaderAccept, "X-Ignore-MX"},
		ExposeHeaders: []string{"X-Total-Count", echo.HeaderLocation, "Content-Location", echo.HeaderContentDisposition, echo.HeaderXRequestID},
	}))
	e.Use(s.gate)

	e.GET("/openapi.yaml", func(c echo.Context) error { return c.Blob(http.StatusOK, "application/yaml", specYAML) })
	e.GET("/openapi.json", func(c echo.Context) error {
		raw, err := gen.GetSpecJSON()
		if err != nil {
			return err
		}
		return c.Blob(http.StatusOK, echo.MIMEApplicationJSON, raw)
	})
	docs := v5emb.New("Cleanmail API", "/openapi.yaml", "/docs/")
	e.GET("/docs", func(c echo.Context) error { return c.Redirect(http.StatusMovedPermanently, "/docs/") })
	e.GET("/docs/*", echo.WrapHandler(docs))

	api := e.Group("")
	api.Use(normalizeEnums(router))
	api.Use(echomw.OapiRequestValidatorWithOptions(spec, &echomw.Options{
		Options: openapi3filter.Options{
			AuthenticationFunc: s.authenticate,
			MultiError:         true,
		},
		MultiErrorHandler: multiError,
		Skipper: func(c echo.Context) bool {
			p := c.Request().URL.Path
			for _, x := range openapiPaths {
				if p == x || strings.HasPrefix(p, x+"/") {
					return true
				}
			}
			return c.Request().Method == http.MethodOptions
		},
	}))
	gen.RegisterHandlers(api, gen.NewStrictHandler(s, []gen.StrictMiddlewareFunc{s.authorize}))
	return e, nil
}

// multiError turns the validator's collected errors into one error: an
// authentication failure wins (401), anything else is a 400 naming every
// bad field.
func multiError(me openapi3.MultiError) *echo.HTTPError {
	for _, err := range me {
		if se, ok := err.(*openapi3filter.SecurityRequirementsError); ok {
			for _, inner := range se.Errors {
				if he, ok := inner.(*echo.HTTPError); ok {
					return he
				}
			}
			return &echo.HTTPError{Code: http.StatusUnauthorized, Message: "Authentication failed.", Internal: err}
		}
	}
	return &echo.HTTPError{Code: http.StatusBadRequest, Message: "The request does not match the API's schema.", Internal: me}
}

// gate answers 503 until the database is reachable and migrated, except
// for the liveness probe and the documentation.
func (s *Server) gate(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if s.ready() {
			return next(c)
		}
		p := c.Request().URL.Path
		if p == "/livez" || p == "/readyz" || strings.HasPrefix(p, "/docs") || strings.HasPrefix(p, "/openapi.") {
			return next(c)
		}
		return &Error{Status: http.StatusServiceUnavailable, Detail: "The server is starting: its database is not ready yet."}
	}
}

// readyFlag is a concurrency-safe readiness switch for Options.Ready.
type readyFlag struct{ v atomic.Bool }

// NewReadyFlag returns a switch, off, and the func to pass as Options.Ready.
func NewReadyFlag() (set func(bool), get func() bool) {
	f := &readyFlag{}
	return f.v.Store, f.v.Load
}
