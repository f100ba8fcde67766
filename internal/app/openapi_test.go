package app_test

import (
	"net/http"
	"testing"

	"github.com/ton-custody/processor/api/apitest"
)

// client checks every exchange with the processor against api/openapi.yaml.
// Benchmarks measure the processor, not the validator, so they skip it.
func (p *processor) client() *http.Client {
	if t, ok := p.t.(*testing.T); ok {
		return &http.Client{Transport: apitest.Transport(t, nil)}
	}
	return http.DefaultClient
}
