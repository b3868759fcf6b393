package api

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf16"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/labstack/echo/v4"

	"github.com/cleanmail/cleanmail/db"
	"github.com/cleanmail/cleanmail/pkg/fault"
)

// Problem is an RFC 9457 problem document, the body of every 4xx and 5xx
// response: openapi.yaml's Problem, whose required properties are never
// left out. The instance is absent only when too long to send whole, the
// errors for anything but a validation failure.
type Problem struct {
	Type      string       `json:"type"`
	Title     string       `json:"title"`
	Status    int          `json:"status"`
	Detail    string       `json:"detail"`
	Instance  string       `json:"instance,omitempty"`
	RequestID string       `json:"requestId"`
	Errors    []FieldError `json:"errors,omitempty"`
	// retryAfter, when positive, is sent as the Retry-After header (whole
	// seconds): after a 429 or a 503.
	retryAfter time.Duration
}

// FieldError names one bad input: a parameter, or a body field as a
// dotted path ("platforms.0.transportPort").
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// Handlers answer failures in the service's vocabulary (pkg/fault); these
// are its constructors under the names the handlers read best.

// badField is a 400 naming the input at fault.
func badField(field, format string, args ...any) *fault.Error {
	return fault.Invalidf(field, format, args...)
}

func notFound(format string, args ...any) *fault.Error {
	return fault.New(fault.NotFound, "", format, args...)
}

func forbidden(format string, args ...any) *fault.Error { return fault.Forbiddenf(format, args...) }

func unprocessable(format string, args ...any) *fault.Error {
	return fault.Unprocessablef("", format, args...)
}

func conflict(format string, args ...any) *fault.Error { return fault.Conflictf(format, args...) }

// statuses maps each kind of failure to its HTTP status: the one place
// where a kind becomes a status.
var statuses = map[fault.Kind]int{
	fault.NotFound:        http.StatusNotFound,
	fault.Conflict:        http.StatusConflict,
	fault.Invalid:         http.StatusBadRequest,
	fault.Unprocessable:   http.StatusUnprocessableEntity,
	fault.Forbidden:       http.StatusForbidden,
	fault.Unauthenticated: http.StatusUnauthorized,
	fault.TooLarge:        http.StatusRequestEntityTooLarge,
	fault.Throttled:       http.StatusTooManyRequests,
	fault.Unavailable:     http.StatusServiceUnavailable,
	fault.NotImplemented:  http.StatusNotImplemented,
	// The doc's 500 for a peer (IMAP, SMTP, DNS) that fails: shown, since
	// it says which peer, unlike an internal failure.
	fault.PeerFailed:         http.StatusInternalServerError,
	fault.PreconditionFailed: http.StatusPreconditionFailed,
}

// problemFor turns any error into the problem to send, and says whether it
// is an internal failure (to be logged, and hidden from the client).
func problemFor(err error) (p Problem, internal bool) {
	var (
		httpErr  *echo.HTTPError
		tooLarge *http.MaxBytesError
	)
	if e, ok := fault.As(err); ok && e.Kind == fault.PeerFailed && fault.KindOf(err) == fault.PeerFailed {
		// Before the database's outages: a peer's network error is the
		// peer's, not the database's.
		return Problem{Status: http.StatusInternalServerError, Detail: e.Message()}, false
	}
	if db.Unavailable(err) || fault.KindOf(err) == fault.Unavailable {
		// First: an outage wrapped in anything else is still an outage,
		// never the client's fault (not a 400, not a 404). Its cause is
		// logged, never shown.
		return Problem{Status: http.StatusServiceUnavailable, Detail: "The service is temporarily unavailable; please retry later.",
			retryAfter: unavailableRetryAfter}, true
	}
	if e, ok := fault.As(err); ok && e.Kind != fault.Internal {
		p := Problem{Status: statuses[e.Kind], Detail: e.Message(), retryAfter: e.RetryAfter}
		if e.Field != "" {
			p.Detail = e.Field + ": " + e.Message()
			p.Errors = []FieldError{{Field: e.Field, Message: e.Message()}}
		}
		return p, false
	}
	switch {
	case errors.As(err, &tooLarge):
		return Problem{Status: http.StatusRequestEntityTooLarge,
			Detail: fmt.Sprintf("The request body is larger than this operation accepts (%d bytes).", tooLarge.Limit)}, false
	case errors.As(err, &httpErr):
		return problemForHTTP(httpErr)
	}
	return Problem{Status: http.StatusInternalServerError, Detail: "Internal server error; the request id identifies it in the server's log."}, true
}

// unavailableRetryAfter is the Retry-After of a 503.
const unavailableRetryAfter = 5 * time.Second

// problemForHTTP handles Echo's errors: routing, the request validator
// (whose failures become a 400 naming every bad field) and authentication.
func problemForHTTP(e *echo.HTTPError) (Problem, bool) {
	p := Problem{Status: e.Code}
	if msg, ok := e.Message.(string); ok {
		p.Detail = msg
	}
	if errs := validationErrors(e.Internal); len(errs) > 0 {
		p.Status = http.StatusBadRequest
		p.Errors = errs
		listed := errs[:min(len(errs), maxProblemErrors)]
		parts := make([]string, len(listed))
		for i, fe := range listed {
			parts[i] = fe.Field + ": " + fe.Message
		}
		p.Detail = strings.Join(parts, "; ")
		if more := len(errs) - len(listed); more > 0 {
			p.Detail = fmt.Sprintf("%d errors, the first %d listed: %s", len(errs), len(listed), p.Detail)
		}
		return p, false
	}
	switch e.Code {
	case http.StatusNotFound:
		p.Detail = "No such resource or operation."
	case http.StatusMethodNotAllowed:
		p.Detail = "This resource does not offer this method."
	case http.StatusInternalServerError:
		return Problem{Status: http.StatusInternalServerError, Detail: "Internal server error; the request id identifies it in the server's log."}, true
	}
	return p, e.Code >= 500
}

// validationErrors flattens kin-openapi's errors into field errors.
func validationErrors(err error) []FieldError {
	if err == nil {
		return nil
	}
	var out []FieldError
	var walk func(err error, field string)
	walk = func(err error, field string) {
		// The concrete type first: errors.As would look through a
		// RequestError into its cause and lose the parameter's name.
		me, isMulti := err.(openapi3.MultiError)
		re, isReq := err.(*openapi3filter.RequestError)
		var (
			se *openapi3.SchemaError
			pe *openapi3filter.ParseError
		)
		switch {
		case isMulti:
			for _, e := range me {
				walk(e, field)
			}
		case isReq:
			f := field
			if re.Parameter != nil {
				f = re.Parameter.Name
			} else if re.RequestBody != nil && f == "" {
				f = "body"
			}
			if re.Err == nil {
				out = append(out, FieldError{Field: f, Message: re.Reason})
				return
			}
			var inner openapi3.MultiError
			var innerSchema *openapi3.SchemaError
			var innerParse *openapi3filter.ParseError
			if errors.As(re.Err, &inner) || errors.As(re.Err, &innerSchema) || errors.As(re.Err, &innerParse) {
				walk(re.Err, f)
				return
			}
			msg := re.Err.Error()
			if re.Reason != "" && re.Reason != msg {
				msg = re.Reason + ": " + msg
			}
			out = append(out, FieldError{Field: f, Message: msg})
		case errors.As(err, &se):
			f := field
			if ptr := se.JSONPointer(); len(ptr) > 0 {
				if f == "body" {
					f = ""
				}
				if f != "" {
					f += "."
				}
				f += strings.Join(ptr, ".")
			}
			reason := se.Reason
			if reason == "" {
				reason = se.Error()
			}
			out = append(out, FieldError{Field: f, Message: reason})
		case errors.As(err, &pe):
			f := field
			if path := pe.Path(); len(path) > 0 {
				parts := make([]string, len(path))
				for i, p := range path {
					parts[i] = fmt.Sprint(p)
				}
				if f == "body" || f == "" {
					f = strings.Join(parts, ".")
				} else {
					f += "." + strings.Join(parts, ".")
				}
			}
			out = append(out, FieldError{Field: f, Message: pe.Error()})
		default:
			if field == "" {
				field = "request"
			}
			out = append(out, FieldError{Field: field, Message: err.Error()})
		}
	}
	walk(err, "")
	sort.SliceStable(out, func(i, j int) bool { return out[i].Field < out[j].Field })
	return out
}

// errorHandler is Echo's HTTPErrorHandler: the one place where errors
// become problem+json responses.
func errorHandler(log *slog.Logger) echo.HTTPErrorHandler {
	return func(err error, c echo.Context) {
		if c.Response().Committed {
			return
		}
		p, internal := problemFor(err)
		reqID := c.Response().Header().Get(echo.HeaderXRequestID)
		if internal {
			log.ErrorContext(c.Request().Context(), "request failed",
				"request_id", reqID, "method", c.Request().Method, "path", c.Request().URL.Path, "err", err)
		} else if fault.KindOf(err) == fault.PeerFailed {
			// The client is told which peer; the operator, why.
			log.WarnContext(c.Request().Context(), "peer failed",
				"request_id", reqID, "method", c.Request().Method, "path", c.Request().URL.Path, "err", err)
		}
		writeProblem(c, p)
	}
}

// Bounds of a problem document, as openapi.yaml declares them (Problem,
// ProblemFieldError), in UTF-16 code units as JSON Schema counts: a request
// with thousands of bad fields, or a long bad value quoted in a message,
// must not make its error unbounded.
const (
	maxProblemErrors   = 100
	maxProblemDetail   = 8192
	maxProblemInstance = 8192
	maxFieldName       = 255
	maxFieldMessage    = 1024
	// The request id is the client's X-Request-Id when it sends one, of
	// any length.
	maxProblemRequestID = 255
)

// bound cuts p to the declared bounds. The first errors are kept (they are
// sorted by field); an instance too long to send whole is left out, since
// a cut one would name another resource.
func (p *Problem) bound() {
	if len(p.Errors) > maxProblemErrors {
		p.Errors = p.Errors[:maxProblemErrors]
	}
	for i := range p.Errors {
		p.Errors[i].Field = truncate(p.Errors[i].Field, maxFieldName)
		p.Errors[i].Message = truncate(p.Errors[i].Message, maxFieldMessage)
	}
	p.Detail = truncate(p.Detail, maxProblemDetail)
	p.RequestID = truncate(p.RequestID, maxProblemRequestID)
	if utf16Len(p.Instance) > maxProblemInstance {
		p.Instance = ""
	}
}

// truncate shortens s to at most n UTF-16 code units, ending with "…" when
// it cuts.
func truncate(s string, n int) string {
	if utf16Len(s) <= n {
		return s
	}
	units := 0
	for i, r := range s {
		w := max(utf16.RuneLen(r), 1)
		if units+w > n-1 {
			return s[:i] + "…"
		}
		units += w
	}
	return s
}

func utf16Len(s string) int {
	n := 0
	for _, r := range s {
		n += max(utf16.RuneLen(r), 1)
	}
	return n
}

// writeProblem sends p as application/problem+json.
func writeProblem(c echo.Context, p Problem) {
	p.Type = "about:blank"
	p.Title = http.StatusText(p.Status)
	p.Instance = c.Request().URL.Path
	p.RequestID = c.Response().Header().Get(echo.HeaderXRequestID)
	if p.Detail == "" {
		p.Detail = p.Title + "."
	}
	p.bound()
	if p.Status == http.StatusUnauthorized {
		c.Response().Header().Set(echo.HeaderWWWAuthenticate, `Bearer realm="cleanmail"`)
	}
	if p.retryAfter <= 0 && p.Status == http.StatusServiceUnavailable {
		p.retryAfter = unavailableRetryAfter // every 503 says when to retry
	}
	if p.retryAfter > 0 {
		c.Response().Header().Set(echo.HeaderRetryAfter, strconv.Itoa(int((p.retryAfter+time.Second-1)/time.Second)))
	}
	c.Response().Header().Set(echo.HeaderContentType, "application/problem+json")
	if c.Request().Method == http.MethodHead {
		_ = c.NoContent(p.Status)
		return
	}
	_ = c.JSON(p.Status, p)
}

func isConflict(err error) bool { return errors.Is(err, db.ErrConflict) }

// about says that a bare NotFound of the store (no resource, no detail:
// a row that vanished) is about r, in r's words; any other error passes
// through.
func about(err error, r fault.Resource) error {
	if e, ok := fault.As(err); ok && e.Kind == fault.NotFound && e.Detail == "" && e.Resource == "" && fault.KindOf(err) == fault.NotFound {
		return fault.NotFoundOf(r)
	}
	return err
}
