package e2e

import (
	"net/http"
	"testing"

	"github.com/ton-custody/processor/api/apitest"
)

// openAPIClient checks every exchange with the processor against
// api/openapi.yaml.
func openAPIClient(t *testing.T) *http.Client {
	return &http.Client{Transport: apitest.Transport(t, nil)}
}
