package api

//go:generate go run ../../scripts/genstubs ../../gen/api.gen.go undelivered.txt unimplemented.gen.go

import "net/http"

// errNotImplemented is the 501 of an operation whose issue has not landed.
func errNotImplemented(operationID string) error {
	return &Error{Status: http.StatusNotImplemented, Detail: operationID + " is not implemented yet."}
}
