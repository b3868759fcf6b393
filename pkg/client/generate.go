// Package client is the Go client of the Cleanmail API that oapi-codegen
// generates from openapi.yaml: ClientWithResponses and the models. Do not
// edit client.gen.go by hand: run `go tool task gen` (or
// `go generate ./pkg/client`).
package client

//go:generate go tool oapi-codegen -config cfg.yaml ../../openapi.yaml
