// Package api carries the processor's HTTP API contract, the OpenAPI 3.1
// document served at /openapi.yaml.
package api

import _ "embed"

// OpenAPI is the OpenAPI 3.1 document of the HTTP API (YAML).
//
//go:embed openapi.yaml
var OpenAPI []byte
