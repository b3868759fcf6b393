package api

import "github.com/cleanmail/cleanmail/pkg/fault"

//go:generate go run ../../scripts/genstubs ../../gen/api.gen.go undelivered.txt unimplemented.gen.go

// errNotImplemented is the 501 of an operation whose issue has not landed.
func errNotImplemented(operationID string) error {
	return fault.New(fault.NotImplemented, "", "%s is not implemented yet.", operationID)
}
