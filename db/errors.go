package db

import "errors"

// More sentinels, for rules the store enforces inside its transactions.
var (
	// ErrInvalid: the input breaks a rule of its own (a 400 for the API).
	ErrInvalid = errors.New("invalid")
	// ErrUnprocessable: the input is well-formed but the state of the
	// system forbids the change (the doc's "not met conditions", 422).
	ErrUnprocessable = errors.New("unprocessable")
)

// Error is a store error safe to show to the API client: Kind is one of the
// sentinels, Field (optional) names the input at fault, Detail explains.
type Error struct {
	Kind   error
	Field  string
	Detail string
}

func (e *Error) Error() string { return e.Detail }
func (e *Error) Unwrap() error { return e.Kind }

// Errorf builds an Error of kind about field.
func Errorf(kind error, field, detail string) *Error {
	return &Error{Kind: kind, Field: field, Detail: detail}
}
