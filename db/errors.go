package db

import "github.com/cleanmail/cleanmail/pkg/fault"

// The store reports failures in the service's vocabulary (pkg/fault):
// these are its kinds' sentinels, for errors.Is, under the names the store
// has always used. Anything the store returns that is not (and does not
// wrap) a fault is an internal failure.
var (
	// ErrNotFound: the row does not exist.
	ErrNotFound = fault.ErrNotFound
	// ErrConflict: a uniqueness rule of the database refused the write.
	ErrConflict = fault.ErrConflict
	// ErrInvalid: the input breaks a rule of its own (a 400 for the API).
	ErrInvalid = fault.ErrInvalid
	// ErrUnprocessable: the input is well-formed but the state of the
	// system forbids the change (the doc's "not met conditions", 422).
	ErrUnprocessable = fault.ErrUnprocessable
	// ErrUnavailable: the database cannot serve the request now (down,
	// unreachable, overloaded, locked or too slow); the request may
	// succeed later.
	ErrUnavailable = fault.ErrUnavailable
)
