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
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers/gorillamux"
	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
	"github.com/riverqueue/river"
	"github.com/swaggest/swgui/v5emb"

	"github.com/cleanmail/cleanmail"
	"github.com/cleanmail/cleanmail/db"
	"github.com/cleanmail/cleanmail/gen"
	"github.com/cleanmail/cleanmail/pkg/dkim"
	"github.com/cleanmail/cleanmail/pkg/dnscheck"
	"github.com/cleanmail/cleanmail/pkg/fault"
	"github.com/cleanmail/cleanmail/pkg/ids"
	"github.com/cleanmail/cleanmail/pkg/jobs"
	"github.com/cleanmail/cleanmail/pkg/mailstore"
	"github.com/cleanmail/cleanmail/pkg/message"
	"github.com/cleanmail/cleanmail/pkg/notify"
	"github.com/cleanmail/cleanmail/pkg/relaycheck"
	"github.com/cleanmail/cleanmail/pkg/remediate"
	"github.com/cleanmail/cleanmail/pkg/submit"
	"github.com/cleanmail/cleanmail/pkg/throttle"
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
	// Limits bound what one request may cost; zero fields take
	// DefaultLimits' values.
	Limits Limits
	// TrustedProxies are the addresses whose X-Forwarded-For is believed
	// (the client address of the log and of throttling). If empty, the
	// client is the connection's peer, whatever the headers say.
	TrustedProxies []netip.Prefix
	// PublicURL, if set, prefixes the Location of created resources
	// (https://api.example.com). If empty, Locations are paths.
	PublicURL string
	// Mail is the mail store (IMAP) of the users' mailboxes. If nil, the
	// mail operations answer that the mail store is unavailable.
	Mail *mailstore.Store
	// Submit sends mail over SMTP: SendEmail through Relays, tried in
	// order (none: sending answers that the SMTP relay is unavailable),
	// ReleaseEmail through the user's platform. If nil, a Sender with its
	// defaults.
	Submit *submit.Sender
	Relays []submit.Relay
	// Recheck, when its Interval is set, re-checks every domain and
	// platform periodically (GET /health stays current).
	Recheck Recheck
	// DNS is the resolver of the domains' diagnostics. If nil, they answer
	// that the DNS resolver is unavailable.
	DNS *dnscheck.Resolver
	// DKIMSealer encrypts and decrypts the domains' DKIM private keys
	// (CLEANMAIL_SECRET_KEY). If nil, storing a key answers 422, and mail
	// of a domain that has one (stored under a key since unset) fails.
	DKIMSealer *dkim.Sealer
	// DKIMKeyBits is the size of the RSA keys the server generates; if
	// zero, dkim.DefaultRSABits.
	DKIMKeyBits int
	// VirusHeader is the header by which the filters mark an infected
	// message ("X-Virus-Status: Infected…"); message.DefaultVirusHeader
	// when empty.
	VirusHeader string
	// Jobs is the job queue the tasks go to (POST /tasks, the welcome
	// mail of POST /users, GET /token?sendMail). If nil, they answer that
	// the job queue is unavailable.
	Jobs *jobs.Queue
	// Workers, if set, gets the workers of the jobs the server enqueues
	// (the mails of pkg/notify, bound to this server's relays, DKIM keys
	// and token key): the queue that runs them is opened with it, and
	// started once New has returned.
	Workers *river.Workers
	// Service is the service's name in the mails; "Cleanmail" if empty.
	Service string
	// Remediation configures the remediation APIs' client (the target
	// guard, the time a call may take).
	Remediation remediate.Options
	// Checks configure the relay checks (TryRelayConfiguration): the
	// target guard (AllowPrivate: false refuses loopback, link-local and
	// private addresses), the probe's sender, the timeout.
	Checks relaycheck.Options
}

// Limits bound the work of one request.
type Limits struct {
	// MaxBody is the largest JSON request body, in bytes (413 beyond).
	MaxBody int64
	// MaxUpload is the largest multipart (upload) request body.
	MaxUpload int64
	// RequestTimeout bounds the handling of a request once it is read.
	RequestTimeout time.Duration
	// AuthFailuresPerMinute is how many failed authentications a client
	// address, or a personal-token prefix, may have per minute before it
	// gets 429s. Negative: no throttling.
	AuthFailuresPerMinute int
}

// DefaultLimits are the limits of a server whose configuration sets none.
var DefaultLimits = Limits{
	MaxBody:               1 << 20,
	MaxUpload:             25 << 20,
	RequestTimeout:        60 * time.Second,
	AuthFailuresPerMinute: 10,
}

func (l Limits) orDefaults() Limits {
	d := DefaultLimits
	if l.MaxBody > 0 {
		d.MaxBody = l.MaxBody
	}
	if l.MaxUpload > 0 {
		d.MaxUpload = l.MaxUpload
	}
	if l.RequestTimeout > 0 {
		d.RequestTimeout = l.RequestTimeout
	}
	if l.AuthFailuresPerMinute != 0 {
		d.AuthFailuresPerMinute = l.AuthFailuresPerMinute
	}
	return d
}

// Server implements gen.StrictServerInterface. Operations not delivered yet
// answer 501 through the methods genstubs writes for those listed in
// undelivered.txt (unimplemented.gen.go).
type Server struct {
	store      *db.Store
	mail       *mailstore.Store
	submit     *submit.Sender
	virusHdr   string
	dns        *dnscheck.Resolver
	sealer     *dkim.Sealer
	jobs       *jobs.Queue
	links      notify.ReleaseLinks
	remediator *remediate.Remediator
	dkimBits   int
	relays     []submit.Relay
	checks     *relaycheck.Checker
	ids        *ids.Codec
	log        *slog.Logger
	purgeDelay time.Duration
	ready      func() bool
	jwtKey     []byte
	cursors    cursorSeal
	limits     Limits
	publicURL  string
	// recheckInFlight and recheckPeak count the periodic re-check's checks
	// running now, and the most at once so far.
	recheckInFlight, recheckPeak atomic.Int64
	// authFailures throttles failed authentications (nil: no throttling).
	authFailures *throttle.Limiter
}

var _ gen.StrictServerInterface = (*Server)(nil)

// openapiPaths are served outside the validated API.
var openapiPaths = []string{"/openapi.yaml", "/openapi.json", "/docs"}

// loadSpec parses the embedded contract, routes it, and checks that every
// operation has its access rule, once per process: the result is only
// read from then on, by every server and request alike.
func loadSpec() (*openapi3.T, *operations, error) {
	c, err := routedSpec()
	return c.spec, c.ops, err
}

type routed struct {
	spec *openapi3.T
	ops  *operations
}

var routedSpec = sync.OnceValues(func() (routed, error) {
	spec, err := gen.GetSpec()
	if err != nil {
		return routed{}, fmt.Errorf("load embedded spec: %w", err)
	}
	spec.Servers = nil
	router, err := gorillamux.NewRouter(spec)
	if err != nil {
		return routed{}, fmt.Errorf("route spec: %w", err)
	}
	if err := rulesMatchSpec(spec); err != nil {
		return routed{}, err
	}
	ops, err := newOperations(spec, router)
	if err != nil {
		return routed{}, err
	}
	return routed{spec, ops}, nil
})

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
	if opts.Submit == nil {
		opts.Submit = &submit.Sender{}
	}
	if opts.VirusHeader == "" {
		opts.VirusHeader = message.DefaultVirusHeader
	}
	s := &Server{store: opts.Store, mail: opts.Mail, submit: opts.Submit, virusHdr: opts.VirusHeader, dns: opts.DNS, relays: opts.Relays, checks: relaycheck.New(opts.Checks), ids: opts.IDs, log: log, purgeDelay: opts.PurgeDelay, ready: ready, jwtKey: opts.JWTKey,
		limits: opts.Limits.orDefaults(), publicURL: strings.TrimSuffix(opts.PublicURL, "/"),
		sealer: opts.DKIMSealer, dkimBits: opts.DKIMKeyBits, jobs: opts.Jobs, remediator: remediate.New(opts.Remediation)}
	if s.dkimBits == 0 {
		s.dkimBits = dkim.DefaultRSABits
	}
	s.authFailures = throttle.New(throttle.Options{PerMinute: s.limits.AuthFailuresPerMinute})
	if r := opts.Recheck; r.Interval > 0 {
		if r.Tick <= 0 {
			r.Tick = time.Minute
		}
		if r.Concurrency <= 0 {
			r.Concurrency = 8
		}
		if r.Context == nil {
			return nil, fmt.Errorf("api: the periodic re-check needs its Context")
		}
		go s.recheckLoop(r)
	}
	if len(s.jwtKey) == 0 {
		s.jwtKey = make([]byte, 64)
		if _, err := rand.Read(s.jwtKey); err != nil {
			return nil, err
		}
	}
	s.links = releaseLinks(s.jwtKey)
	cursors, err := newCursorSeal(s.jwtKey)
	if err != nil {
		return nil, err
	}
	s.cursors = cursors
	if opts.Workers != nil {
		m := &notify.Mailer{Store: s.store, Service: opts.Service, Sign: s.dkimSign, TempToken: s.IssueTempToken,
			Mail: s.mail, PublicURL: s.publicURL, Links: s.links, Enqueue: s.jobs.Insert,
			Send: func(ctx context.Context, from string, to []string, raw []byte) error {
				return s.submit.Send(ctx, s.relays, from, to, raw)
			}}
		m.Register(opts.Workers)
		river.AddWorker(opts.Workers, &remediateWorker{s: s})
	}

	_, ops, err := loadSpec()
	if err != nil {
		return nil, err
	}
	specYAML := cleanmail.OpenAPIYAML

	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.HTTPErrorHandler = errorHandler(log)
	e.IPExtractor = clientIP(opts.TrustedProxies)
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
	e.Use(s.deadline)
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
	api.Use(s.admit(ops, &openapi3filter.Options{AuthenticationFunc: principalPresent, MultiError: true}))
	gen.RegisterHandlers(api, gen.NewStrictHandler(s, []gen.StrictMiddlewareFunc{s.resolveTarget}))
	return e, nil
}

// rulesMatchSpec checks that the rules table and the spec agree on which
// operations are public: admit authenticates by the table, and the
// validator by the spec.
func rulesMatchSpec(spec *openapi3.T) error {
	for path, item := range spec.Paths.Map() {
		for method, op := range item.Operations() {
			r, ok := rules[op.OperationID]
			if !ok {
				return fmt.Errorf("%s %s (%s) has no access rule in rules.go", method, path, op.OperationID)
			}
			public := op.Security != nil && len(*op.Security) == 0
			if r.public != public {
				return fmt.Errorf("%s %s (%s): the spec and rules.go disagree on whether it is public", method, path, op.OperationID)
			}
		}
	}
	return nil
}

// clientIP is how the client's address is found: the connection's peer,
// or the X-Forwarded-For entry added by the nearest trusted proxy.
func clientIP(trusted []netip.Prefix) echo.IPExtractor {
	if len(trusted) == 0 {
		return echo.ExtractIPDirect()
	}
	// Echo trusts loopback, link-local and private ranges by default:
	// only the configured proxies are trusted here.
	opts := []echo.TrustOption{echo.TrustLoopback(false), echo.TrustLinkLocal(false), echo.TrustPrivateNet(false)}
	for _, p := range trusted {
		n := &net.IPNet{IP: p.Masked().Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
		opts = append(opts, echo.TrustIPRange(n))
	}
	return echo.ExtractIPFromXFFHeader(opts...)
}

// multiError turns the validator's collected errors into one error: an
// authentication failure wins (401), anything else is a 400 naming every
// bad field.
func multiError(me openapi3.MultiError) *echo.HTTPError {
	for _, err := range me {
		if _, ok := err.(*openapi3filter.SecurityRequirementsError); ok {
			return &echo.HTTPError{Code: http.StatusUnauthorized, Message: "Authentication required.", Internal: err}
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
		return fault.New(fault.Unavailable, "", "The server is starting: its database is not ready yet.")
	}
}

// readyFlag is a concurrency-safe readiness switch for Options.Ready.
type readyFlag struct{ v atomic.Bool }

// NewReadyFlag returns a switch, off, and the func to pass as Options.Ready.
func NewReadyFlag() (set func(bool), get func() bool) {
	f := &readyFlag{}
	return f.v.Store, f.v.Load
}
