package apitest_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/ton-custody/processor/api/apitest"
)

// The validator must catch drift, or the API tests that run every
// exchange through it prove nothing.
func TestCheckCatchesDrift(t *testing.T) {
	t.Parallel()
	v := apitest.MustServed(t)
	jsonHeader := http.Header{"Content-Type": {"application/json"}}
	newAddress := func() *http.Request {
		r := httptest.NewRequest(http.MethodPost, "/v1/address/new", nil)
		r.Header.Set("Content-Type", "application/json")
		return r
	}
	okBody := []byte(`{"user_id":"1","currency":"TON"}`)
	addr := `"0QB7BSerVyP9xAKnxp3QpqR8JO2HKwZhl10zsfwg7aJ281ZR"`
	tests := []struct {
		name string
		x    apitest.Exchange
		want string // part of the error; "" = agrees with the document
	}{
		{"agrees", apitest.Exchange{Request: newAddress(), RequestBody: okBody, Status: 200, Header: jsonHeader,
			Body: []byte(`{"address":` + addr + `}`)}, ""},
		{"refused as documented", apitest.Exchange{Request: newAddress(), RequestBody: []byte(`{}`), Status: 400, Header: jsonHeader,
			Body: []byte(`{"error":"user_id is required"}`)}, ""},
		{"undocumented field", apitest.Exchange{Request: newAddress(), RequestBody: okBody, Status: 200, Header: jsonHeader,
			Body: []byte(`{"address":` + addr + `,"extra":1}`)}, "does not match the document"},
		{"missing field", apitest.Exchange{Request: newAddress(), RequestBody: okBody, Status: 200, Header: jsonHeader,
			Body: []byte(`{}`)}, "does not match the document"},
		{"undocumented status", apitest.Exchange{Request: httptest.NewRequest(http.MethodGet, "/healthz", nil), Status: 418,
			Header: jsonHeader, Body: []byte(`{"error":"teapot"}`)}, "status is not supported"},
		{"wrong content type", apitest.Exchange{Request: httptest.NewRequest(http.MethodGet, "/healthz", nil), Status: 200,
			Header: http.Header{"Content-Type": {"text/html"}}, Body: []byte(`ok`)}, "Content-Type"},
		{"invalid request accepted", apitest.Exchange{Request: httptest.NewRequest(http.MethodGet, "/v1/deposit/history?user_id=1&currency=TON", nil),
			Status: 200, Header: jsonHeader, Body: []byte(`{"incomes":[]}`)}, "the document refuses the request"},
		{"unknown path answered", apitest.Exchange{Request: httptest.NewRequest(http.MethodGet, "/v1/nothing", nil), Status: 200,
			Header: jsonHeader, Body: []byte(`{}`)}, "no such path"},
		{"unknown path refused", apitest.Exchange{Request: httptest.NewRequest(http.MethodGet, "/v1/nothing", nil), Status: 404,
			Header: jsonHeader, Body: []byte(`{"error":"no endpoint GET /v1/nothing"}`)}, ""},
		{"405 without Allow", apitest.Exchange{Request: httptest.NewRequest(http.MethodDelete, "/healthz", nil), Status: 405,
			Header: jsonHeader, Body: []byte(`{"error":"no"}`)}, "Allow"},
		{"405 without an error body", apitest.Exchange{Request: httptest.NewRequest(http.MethodDelete, "/healthz", nil), Status: 405,
			Header: http.Header{"Content-Type": {"application/json"}, "Allow": {"GET"}}, Body: []byte(`{"message":"no"}`)}, "not an Error"},
	}
	for _, tt := range tests {
		err := v.Check(tt.x)
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("%s: %v", tt.name, err)
		case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
			t.Errorf("%s: error %v, want one containing %q", tt.name, err, tt.want)
		}
	}
}

// A response documented without content must not carry a body.
func TestCheckRefusesAnUndescribedBody(t *testing.T) {
	t.Parallel()
	v, err := apitest.Load([]byte(`
openapi: 3.1.0
info: {title: t, version: "1"}
paths:
  /x:
    get:
      responses:
        '204': {description: nothing}
components:
  schemas:
    Error: {type: object, required: [error], properties: {error: {type: string}}}
`))
	if err != nil {
		t.Fatal(err)
	}
	x := apitest.Exchange{Request: httptest.NewRequest(http.MethodGet, "/x", nil), Status: 204, Header: http.Header{}}
	if err := v.Check(x); err != nil {
		t.Errorf("empty answer: %v", err)
	}
	x.Header.Set("Content-Type", "application/json")
	x.Body = []byte(`{"a":1}`)
	if err := v.Check(x); err == nil || !strings.Contains(err.Error(), "does not describe") {
		t.Errorf("answer with a body: %v", err)
	}
}
