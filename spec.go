// Package cleanmail holds the API contract, openapi.yaml, embedded as it is
// written, so that the server serves the very document it was generated
// from (with its comments and order) at /openapi.yaml.
package cleanmail

import _ "embed"

// OpenAPIYAML is openapi.yaml.
//
//go:embed openapi.yaml
var OpenAPIYAML []byte
