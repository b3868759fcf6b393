// Package fault is Cleanmail's error vocabulary: what went wrong (a Kind),
// about which resource, which input field, in words safe to show a client.
// Every package reports with it, the store as the handlers, and pkg/api
// turns it into problem+json in one place. An error that is not (and does
// not wrap) a *fault.Error is an internal failure: logged, never shown.
package fault

import (
	"errors"
	"fmt"
	"time"
)

// Kind is the nature of a failure, which decides its HTTP status.
type Kind int

const (
	// Internal is an unexpected failure: its cause is logged, and the
	// client told only that it happened.
	Internal Kind = iota
	// NotFound: the resource does not exist, or is out of the caller's
	// reach (the two are not told apart).
	NotFound
	// Conflict: a uniqueness rule refused the write.
	Conflict
	// Invalid: the input breaks a rule of its own (a bad field).
	Invalid
	// Unprocessable: the input is well-formed but the state of the system
	// forbids it (the doc's "not met conditions").
	Unprocessable
	// Forbidden: the caller may know the resource but not do this.
	Forbidden
	// Unauthenticated: no valid credentials.
	Unauthenticated
	// TooLarge: the request body is over its limit.
	TooLarge
	// Throttled: too many failures; retry after RetryAfter.
	Throttled
	// Unavailable: the database or a peer cannot serve now (down, slow,
	// locked). Never the client's fault, whatever else wraps it.
	Unavailable
	// NotImplemented: the operation is not built yet.
	NotImplemented
	// PeerFailed: a peer of the service that the operation needs (the
	// mail store, the SMTP relay, a DNS server) is down, slow or refusing.
	// The doc answers these with 500, saying which peer; Detail names it
	// in words safe to show, Err holds the cause.
	PeerFailed
	// PreconditionFailed: a condition the request must state does not hold
	// (releasing an infected message without saying so).
	PreconditionFailed
)

var kindNames = [...]string{"internal", "not found", "conflict", "invalid", "unprocessable", "forbidden",
	"unauthenticated", "too large", "throttled", "unavailable", "not implemented", "peer failed", "precondition failed"}

func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("kind %d", int(k))
}

// Error is a failure safe to report: Detail (and Field) go to the client
// as they are, Err (the cause) only to the log.
type Error struct {
	Kind Kind
	// Resource is what the failure is about, when one is; a NotFound's
	// Detail derives from it.
	Resource Resource
	// Field names the input at fault ("name", "platforms.0.transportPort").
	Field string
	// Detail explains, in words a client may read.
	Detail string
	// RetryAfter, when positive, tells when to try again (Throttled,
	// Unavailable).
	RetryAfter time.Duration
	// Err is the cause, if any: logged, never shown.
	Err error

	sentinel bool // a kind's sentinel, matching by kind alone (Is)
}

func (e *Error) Error() string {
	msg := e.Kind.String()
	if e.Field != "" {
		msg += " " + e.Field
	}
	if e.Detail != "" {
		msg += ": " + e.Detail
	}
	if e.Err != nil {
		msg += " (" + e.Err.Error() + ")"
	}
	return msg
}

func (e *Error) Unwrap() error { return e.Err }

// Message is what the client is told: the detail, or for a NotFound
// without one, its resource's wording.
func (e *Error) Message() string {
	switch {
	case e.Detail != "":
		return e.Detail
	case e.Kind == NotFound:
		return e.Resource.notFound()
	}
	return e.Kind.String()
}

// Is matches a kind's sentinel (ErrNotFound, …): errors.Is(err,
// fault.ErrNotFound) holds for every NotFound error.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.sentinel && t.Kind == e.Kind
}

// sentinel marks the kinds' sentinels, which match by kind alone.
func sentinel(k Kind) *Error { return &Error{Kind: k, sentinel: true} }

// The kinds' sentinels, for errors.Is.
var (
	ErrNotFound      = sentinel(NotFound)
	ErrConflict      = sentinel(Conflict)
	ErrInvalid       = sentinel(Invalid)
	ErrUnprocessable = sentinel(Unprocessable)
	ErrForbidden     = sentinel(Forbidden)
	ErrUnavailable   = sentinel(Unavailable)
)

// As returns the failure err is or wraps, and whether there is one.
func As(err error) (*Error, bool) {
	var e *Error
	ok := errors.As(err, &e)
	return e, ok
}

// KindOf is the kind of err: Internal unless it is or wraps an *Error. An
// Unavailable anywhere in the chain wins: an outage wrapped in anything
// else is still an outage.
func KindOf(err error) Kind {
	if err == nil {
		return Internal
	}
	if errors.Is(err, ErrUnavailable) {
		return Unavailable
	}
	if e, ok := As(err); ok {
		return e.Kind
	}
	return Internal
}

// New builds a failure of kind about field, its detail formatted.
func New(kind Kind, field, format string, args ...any) *Error {
	return &Error{Kind: kind, Field: field, Detail: fmt.Sprintf(format, args...)}
}

// NotFoundOf is the 404 of a resource, worded as the doc words it.
func NotFoundOf(r Resource) *Error {
	return &Error{Kind: NotFound, Resource: r, Detail: r.notFound()}
}

// Invalidf is a bad input field (400).
func Invalidf(field, format string, args ...any) *Error { return New(Invalid, field, format, args...) }

// Unprocessablef is an input the state forbids (422).
func Unprocessablef(field, format string, args ...any) *Error {
	return New(Unprocessable, field, format, args...)
}

// Conflictf is a uniqueness refusal (409).
func Conflictf(format string, args ...any) *Error { return New(Conflict, "", format, args...) }

// Forbiddenf is a refusal to a caller who may know the resource (403).
func Forbiddenf(format string, args ...any) *Error { return New(Forbidden, "", format, args...) }

// UnavailableBecause marks cause as an outage (503).
func UnavailableBecause(cause error) *Error {
	return &Error{Kind: Unavailable, Detail: "The service is temporarily unavailable; please retry later.", Err: cause}
}

// PeerFailure is the failure of a peer (500): peer names it for the client
// ("the mail store (IMAP)"), cause goes to the log only.
func PeerFailure(peer string, cause error) *Error {
	return &Error{Kind: PeerFailed, Detail: "Unable to reach " + peer + "; please retry later.", Err: cause}
}

// Fail is New with a detail already worded (no formatting).
func Fail(kind Kind, field, detail string) *Error {
	return &Error{Kind: kind, Field: field, Detail: detail}
}
