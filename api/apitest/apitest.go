// Package apitest checks HTTP exchanges with the processor against its API
// contract, api/openapi.yaml, with a real OpenAPI validator (kin-openapi).
// Tests that drive the API pass every request and answer through Check, or
// send them through Transport, so that the document and the behaviour
// cannot drift apart. It is for tests only.
package apitest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"

	"github.com/ton-custody/processor/api"
)

// Validator checks exchanges against one OpenAPI document. It is safe for
// concurrent use.
type Validator struct {
	doc    *openapi3.T
	router routers.Router
	// errorSchema is components/schemas/Error, the body of the answers
	// that have no operation to document them (unknown path or method).
	errorSchema *openapi3.Schema
}

// Load parses and validates an OpenAPI document and builds its router.
func Load(data []byte) (*Validator, error) {
	doc, err := openapi3.NewLoader().LoadFromData(data)
	if err != nil {
		return nil, fmt.Errorf("load OpenAPI document: %w", err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		return nil, fmt.Errorf("invalid OpenAPI document: %w", err)
	}
	router, err := gorillamux.NewRouter(doc)
	if err != nil {
		return nil, fmt.Errorf("OpenAPI router: %w", err)
	}
	es := doc.Components.Schemas["Error"]
	if es == nil || es.Value == nil {
		return nil, errors.New("OpenAPI document has no components/schemas/Error")
	}
	return &Validator{doc: doc, router: router, errorSchema: es.Value}, nil
}

var served = sync.OnceValues(func() (*Validator, error) { return Load(api.OpenAPI) })

// Served returns the validator of the document the processor serves
// (api.OpenAPI), loaded once.
func Served() (*Validator, error) { return served() }

// MustServed is Served for tests: it fails t when the document does not load.
func MustServed(t testing.TB) *Validator {
	t.Helper()
	v, err := Served()
	if err != nil {
		t.Fatalf("api/openapi.yaml: %v", err)
	}
	return v
}

// Exchange is one request and the answer to it.
type Exchange struct {
	// Request is the request sent; its Body is not read (RequestBody
	// holds the bytes sent).
	Request     *http.Request
	RequestBody []byte
	Status      int
	Header      http.Header
	Body        []byte
}

// skipAuth: the validator checks shapes, not tokens; the processor's own
// answer (401 or not) is checked against the document instead.
func skipAuth(context.Context, *openapi3filter.AuthenticationInput) error { return nil }

// Check returns nil when the exchange agrees with the document: the answer
// is one the document lists for the operation (status, headers, content
// type and body schema), a request the document refuses was refused (4xx),
// and an unknown path or method was answered 404 or 405 with an error body.
func (v *Validator) Check(x Exchange) error {
	ctx := context.Background()
	req := x.Request.Clone(ctx)
	req.Body = io.NopCloser(bytes.NewReader(x.RequestBody))
	req.ContentLength = int64(len(x.RequestBody))

	route, params, err := v.router.FindRoute(req)
	switch {
	case errors.Is(err, routers.ErrPathNotFound):
		return v.checkUnrouted(x, http.StatusNotFound, "path")
	case errors.Is(err, routers.ErrMethodNotAllowed):
		return v.checkUnrouted(x, http.StatusMethodNotAllowed, "method")
	case err != nil:
		return fmt.Errorf("find the operation: %w", err)
	}

	var errs []error
	in := &openapi3filter.RequestValidationInput{
		Request:    req,
		PathParams: params,
		Route:      route,
		Options:    &openapi3filter.Options{AuthenticationFunc: skipAuth, MultiError: true, SkipSettingDefaults: true},
	}
	// 501 is a refusal too: the bridge answers it for a capability the
	// provider lacks before looking at the request.
	if reqErr := openapi3filter.ValidateRequest(ctx, in); reqErr != nil &&
		(x.Status < 400 || x.Status >= 500 && x.Status != http.StatusNotImplemented) {
		errs = append(errs, fmt.Errorf("the document refuses the request but the processor answered %d: %w", x.Status, reqErr))
	}

	out := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: in,
		Status:                 x.Status,
		Header:                 x.Header,
		Options:                &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true},
	}
	out.SetBodyBytes(x.Body)
	if err := openapi3filter.ValidateResponse(ctx, out); err != nil {
		errs = append(errs, fmt.Errorf("answer %d does not match the document: %w", x.Status, err))
	} else if doc := route.Operation.Responses.Status(x.Status); doc != nil && doc.Value != nil &&
		len(doc.Value.Content) == 0 && len(bytes.TrimSpace(x.Body)) > 0 {
		// The validator skips bodies of responses documented without
		// content; a body the document does not describe is drift too.
		errs = append(errs, fmt.Errorf("answer %d has a %q body the document does not describe: %.200s",
			x.Status, x.Header.Get("Content-Type"), x.Body))
	}
	return shorten(errors.Join(errs...))
}

// maxMessage bounds error messages: schema errors quote whole bodies (the
// OpenAPI document itself, for /openapi.yaml).
const maxMessage = 4000

func shorten(err error) error {
	if err == nil || len(err.Error()) <= maxMessage {
		return err
	}
	return fmt.Errorf("%s… (%d more bytes)", err.Error()[:maxMessage], len(err.Error())-maxMessage)
}

// checkUnrouted checks the answer to a path or method the document does
// not have: the processor's 404 or 405 with an {"error": ...} body.
func (v *Validator) checkUnrouted(x Exchange, want int, what string) error {
	if x.Status != want {
		return fmt.Errorf("the document has no such %s, but the processor answered %d (want %d)", what, x.Status, want)
	}
	if want == http.StatusMethodNotAllowed && x.Header.Get("Allow") == "" {
		return errors.New("405 answer without an Allow header")
	}
	var body any
	if err := json.Unmarshal(x.Body, &body); err != nil {
		return fmt.Errorf("%d answer is not JSON: %w", want, err)
	}
	if err := v.errorSchema.VisitJSON(body, openapi3.EnableJSONSchema2020()); err != nil {
		return fmt.Errorf("%d answer is not an Error: %w", want, err)
	}
	return nil
}

// Transport returns an http.RoundTripper that sends through base (nil:
// http.DefaultTransport) and reports every exchange that disagrees with the
// served document as an error of t. known lists parts of the messages of
// known disagreements (reported bugs awaiting a fix): those are only
// logged, so that the rest is still checked meanwhile.
func Transport(t testing.TB, base http.RoundTripper, known ...string) http.RoundTripper {
	if base == nil {
		base = http.DefaultTransport
	}
	return &transport{t: t, base: base, v: MustServed(t), known: known}
}

type transport struct {
	t     testing.TB
	base  http.RoundTripper
	v     *Validator
	known []string
}

func (tr *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	var reqBody []byte
	if req.Body != nil {
		b, err := io.ReadAll(req.Body)
		_ = req.Body.Close()
		if err != nil {
			return nil, fmt.Errorf("apitest: read request body: %w", err)
		}
		reqBody = b
		// A RoundTripper must not modify the caller's request.
		req = req.Clone(req.Context())
		req.Body = io.NopCloser(bytes.NewReader(b))
	}
	resp, err := tr.base.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	body, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if err != nil {
		return nil, fmt.Errorf("apitest: read response body: %w", err)
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	err = tr.v.Check(Exchange{Request: req, RequestBody: reqBody, Status: resp.StatusCode, Header: resp.Header, Body: body})
	switch {
	case err == nil:
	case slices.ContainsFunc(tr.known, func(k string) bool { return strings.Contains(err.Error(), k) }):
		tr.t.Logf("OpenAPI (known issue): %s %s: %v", req.Method, req.URL.RequestURI(), err)
	default:
		tr.t.Errorf("OpenAPI: %s %s: %v", req.Method, req.URL.RequestURI(), err)
	}
	return resp, nil
}
