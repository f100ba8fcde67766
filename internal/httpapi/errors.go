package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/ton-custody/processor/internal/apierr"
)

// errorBody is every error answer: {"error": "..."}.
type errorBody struct {
	Error string `json:"error"`
}

// writeJSON answers with v as JSON. It does not use c.JSON, which would
// pretty-print on a "pretty" query parameter.
func writeJSON(c echo.Context, status int, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode response: %w", err)
	}
	return c.Blob(status, echo.MIMEApplicationJSON, b)
}

// handleError is echo's error handler: it maps err to a status and an
// {"error": ...} body. Client errors carry their message; internal errors
// are logged and answered with a generic message naming the request id.
func (s *server) handleError(err error, c echo.Context) {
	status, msg := s.classify(err, c)
	if c.Response().Committed {
		s.log.Error("error after the response was sent", "route", c.Path(), "request_id", requestIDOf(c), "error", err)
		return
	}
	if err := writeJSON(c, status, errorBody{Error: msg}); err != nil {
		s.log.Error("write error response", "request_id", requestIDOf(c), "error", err)
	}
}

func (s *server) classify(err error, c echo.Context) (int, string) {
	var (
		unauthorized errUnauthorized
		tooLarge     errBodyTooLarge
		maxBytes     *http.MaxBytesError
		he           *echo.HTTPError
	)
	switch {
	case errors.As(err, &unauthorized):
		return http.StatusUnauthorized, unauthorized.msg
	case errors.As(err, &tooLarge):
		return http.StatusRequestEntityTooLarge, tooLarge.Error()
	case errors.As(err, &maxBytes):
		return http.StatusRequestEntityTooLarge, errBodyTooLarge{maxBytes.Limit}.Error()
	case errors.Is(err, apierr.ErrBadRequest):
		return http.StatusBadRequest, apierr.Message(err)
	case errors.Is(err, apierr.ErrNotFound):
		return http.StatusNotFound, apierr.Message(err)
	case errors.Is(err, apierr.ErrConflict):
		return http.StatusConflict, apierr.Message(err)
	case errors.As(err, &he):
		switch he.Code {
		case http.StatusNotFound:
			return he.Code, fmt.Sprintf("no endpoint %s %s (see /openapi.yaml)", c.Request().Method, c.Request().URL.Path)
		case http.StatusMethodNotAllowed:
			code := he.Code
			if s.bicycle { // bicycle answers a wrong method with 400
				code = http.StatusBadRequest
			}
			return code, fmt.Sprintf("method %s is not allowed on %s (allowed: %s)", c.Request().Method,
				c.Request().URL.Path, c.Response().Header().Get(echo.HeaderAllow))
		}
		if he.Code < 500 {
			return he.Code, strings.ToLower(http.StatusText(he.Code))
		}
	}
	id := requestIDOf(c)
	if errors.Is(err, context.DeadlineExceeded) {
		s.log.Error("request timed out", "route", c.Path(), "request_id", id, "error", err)
		return http.StatusInternalServerError, fmt.Sprintf("request timed out after %v (request id %s)", s.opts.RequestTimeout, id)
	}
	if errors.Is(err, context.Canceled) {
		s.log.Info("request cancelled by the client", "route", c.Path(), "request_id", id)
	} else {
		s.log.Error("internal error", "route", c.Path(), "request_id", id, "error", err)
	}
	return http.StatusInternalServerError, fmt.Sprintf("internal error (request id %s)", id)
}

// decodeBody reads the request body as exactly one JSON object into dst
// (a pointer to a struct), refusing wrong types with messages that name
// the field, and unknown fields unless allowUnknown (the bicycle profile:
// bicycle ignores them). A key given twice is refused either way.
func decodeBody(c echo.Context, dst any, allowUnknown bool) error {
	body, err := io.ReadAll(c.Request().Body)
	if err != nil {
		var maxBytes *http.MaxBytesError
		if errors.As(err, &maxBytes) {
			return maxBytes
		}
		return fmt.Errorf("read request body: %w", err)
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return apierr.BadRequest("request body is empty: send a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	if !allowUnknown {
		dec.DisallowUnknownFields()
	}
	if err := dec.Decode(dst); err != nil {
		return bodyError(err, dst)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return apierr.BadRequest("request body must be a single JSON object, found more after it")
	}
	return duplicateKeys(body)
}

// duplicateKeys refuses an object with a key given twice at any depth: in
// a money API {"amount":"100","amount":"200"} is ambiguous (encoding/json
// silently keeps the last). Keys are compared case-insensitively, as
// encoding/json matches them to fields.
func duplicateKeys(body []byte) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	type frame struct {
		seen     map[string]bool
		isObject bool
		wantKey  bool
	}
	var stack []*frame
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return apierr.BadRequest("request body is not valid JSON: %v", err)
		}
		var top *frame
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		if top != nil && top.isObject && top.wantKey {
			if d, ok := tok.(json.Delim); ok && d == '}' {
				stack = stack[:len(stack)-1]
				continue
			}
			key := strings.ToLower(tok.(string))
			if top.seen[key] {
				return apierr.BadRequest("field %q appears more than once in one object; send each field once", tok)
			}
			top.seen[key] = true
			top.wantKey = false
			continue
		}
		if top != nil && top.isObject {
			top.wantKey = true // this token is a value (or opens one)
		}
		if d, ok := tok.(json.Delim); ok {
			switch d {
			case '{':
				stack = append(stack, &frame{seen: map[string]bool{}, isObject: true, wantKey: true})
			case '[':
				stack = append(stack, &frame{})
			case ']':
				stack = stack[:len(stack)-1]
			}
		}
	}
}

func bodyError(err error, dst any) error {
	var (
		syntax *json.SyntaxError
		typ    *json.UnmarshalTypeError
	)
	switch {
	case errors.As(err, &syntax):
		return apierr.BadRequest("request body is not valid JSON: %v (at byte %d)", syntax, syntax.Offset)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return apierr.BadRequest("request body is not valid JSON: it ends too early")
	case errors.As(err, &typ):
		if typ.Field == "" {
			return apierr.BadRequest("request body must be a JSON object, not a JSON %s", typ.Value)
		}
		return apierr.BadRequest("field %q must be a JSON %s, not a %s", typ.Field, jsonKind(typ.Type), typ.Value)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		field := strings.TrimPrefix(err.Error(), "json: unknown field ")
		return apierr.BadRequest("unknown field %s (accepted: %s)", field, strings.Join(jsonFields(dst), ", "))
	}
	return apierr.BadRequest("request body is not valid JSON: %v", err)
}

func jsonKind(t reflect.Type) string {
	switch t.Kind() {
	case reflect.String:
		return "string"
	case reflect.Bool:
		return "boolean"
	case reflect.Int, reflect.Int64, reflect.Int32, reflect.Uint, reflect.Uint64, reflect.Uint32, reflect.Float64:
		return "number"
	case reflect.Slice:
		return "array"
	}
	return "object"
}

// jsonFields lists the JSON field names of the struct dst points to.
func jsonFields(dst any) []string {
	t := reflect.TypeOf(dst)
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	var out []string
	for i := 0; i < t.NumField(); i++ {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		if name != "" && name != "-" {
			out = append(out, name)
		}
	}
	return out
}
