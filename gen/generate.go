// Package gen holds the server interface, models and embedded spec that
// oapi-codegen generates from openapi.yaml. Do not edit api.gen.go by hand:
// run `go tool task gen` (or `go generate ./gen`).
package gen

//go:generate go tool oapi-codegen -config cfg.yaml ../openapi.yaml
