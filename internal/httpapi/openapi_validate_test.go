package httpapi_test

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/ton-custody/processor/api/apitest"
	"github.com/ton-custody/processor/internal/config"
	"github.com/ton-custody/processor/internal/httpapi"
)

// serve runs req through the API and checks the exchange against
// api/openapi.yaml, so every request the tests make also tests the
// document.
func (a *testAPI) serve(rec *httptest.ResponseRecorder, req *http.Request) {
	a.t.Helper()
	var body []byte
	if req.Body != nil {
		b, err := io.ReadAll(req.Body)
		if err != nil {
			a.t.Fatalf("read request body: %v", err)
		}
		body = b
		req.Body = io.NopCloser(bytes.NewReader(b))
	}
	// The validator must see the request as sent, before handlers touch it.
	sent := req.Clone(req.Context())
	a.e.ServeHTTP(rec, req)
	res := rec.Result()
	if err := apitest.MustServed(a.t).Check(apitest.Exchange{Request: sent, RequestBody: body,
		Status: res.StatusCode, Header: res.Header, Body: rec.Body.Bytes()}); err != nil {
		a.t.Errorf("OpenAPI: %s %s: %v", req.Method, req.URL.RequestURI(), err)
	}
}

// The document served at /openapi.yaml loads in a real OpenAPI validator.
func TestServedOpenAPIDocumentIsValid(t *testing.T) {
	t.Parallel()
	a := newTestAPI(t, config.Testnet)
	r := a.do(http.MethodGet, "/openapi.yaml", "", nil)
	if r.status != http.StatusOK {
		t.Fatalf("status %d", r.status)
	}
	if _, err := apitest.Load(r.body); err != nil {
		t.Fatal(err)
	}
}

// Answers the other tests do not provoke, checked against the document by
// a.do: the rate limit (429), an oversized body (413), an unknown method
// (405) and path (404).
func TestOpenAPIDocumentsLimitsAndUnknownRoutes(t *testing.T) {
	t.Parallel()
	a := newTestAPI(t, config.Testnet, func(o *httpapi.Options, c *config.Config) {
		o.MaxBodyBytes = 1024
		c.APIRateLimit, c.APIRateBurst = 0.001, 1
	})
	a.ok(a.get("/v1/address/all?user_id=alice"))
	big := `{"user_id":"` + strings.Repeat("x", 2000) + `","currency":"TON"}`
	if r := a.post("/v1/address/new", big); r.status != http.StatusRequestEntityTooLarge {
		t.Errorf("oversized body: status %d %s", r.status, r.body)
	}
	r := a.get("/v1/address/all?user_id=alice")
	if r.status != http.StatusTooManyRequests || r.header.Get("Retry-After") == "" {
		t.Errorf("over the rate: status %d, Retry-After %q, %s", r.status, r.header.Get("Retry-After"), r.body)
	}
	wantKeys(t, "429", r.json(t), "error")
	if r := a.do(http.MethodDelete, "/v1/address/all", merchantToken, nil); r.status != http.StatusMethodNotAllowed {
		t.Errorf("DELETE: status %d %s", r.status, r.body)
	}
	if r := a.do(http.MethodGet, "/v2/address/all", merchantToken, nil); r.status != http.StatusNotFound {
		t.Errorf("unknown path: status %d %s", r.status, r.body)
	}
}
