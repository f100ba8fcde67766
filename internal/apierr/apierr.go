// Package apierr holds the error classes the HTTP API maps to status codes,
// so that packages behind the API (wallets, withdrawals, blockscanner, ton)
// can say "the caller is wrong" or "no such thing" without importing the
// HTTP layer.
//
// Convention for every implementation of an internal/httpapi interface:
//
//   - Input the caller can fix: return an error for which
//     errors.Is(err, ErrBadRequest) holds (HTTP 400). Create it with
//     BadRequest("amount %s exceeds ...", v), mark a package sentinel
//     (var ErrX = apierr.Mark(apierr.ErrBadRequest, errors.New("..."))),
//     or wrap the class: fmt.Errorf("%w: unknown currency %q", apierr.ErrBadRequest, c).
//   - The thing asked for does not exist: ErrNotFound (404), via NotFound.
//   - The request contradicts an earlier one: ErrConflict (409), via Conflict.
//   - Anything else is an internal error (500); its text is logged, never
//     sent to the client.
//
// The text of a 400/404/409 error is sent to the client, so it must say
// what to change and must never contain secrets or internal details.
// Wrapping an *Error with more context (fmt.Errorf("wallets: %w", err)) is
// fine: Message still returns the client-facing text alone.
package apierr

import (
	"errors"
	"fmt"
)

// Error classes. Compare with errors.Is.
var (
	// ErrBadRequest marks errors caused by invalid input (HTTP 400).
	ErrBadRequest = errors.New("bad request")
	// ErrNotFound marks lookups of things that do not exist (HTTP 404).
	ErrNotFound = errors.New("not found")
	// ErrConflict marks requests that contradict an earlier one (HTTP 409).
	ErrConflict = errors.New("conflict")
)

// Error is a client-facing error of one class. Msg is shown to the client
// as is; Kind is one of ErrBadRequest, ErrNotFound, ErrConflict.
type Error struct {
	Kind error
	Msg  string
}

// Error returns the client-facing message.
func (e *Error) Error() string { return e.Msg }

// Unwrap returns the class, so errors.Is(err, ErrBadRequest) works.
func (e *Error) Unwrap() error { return e.Kind }

// BadRequest returns an ErrBadRequest error with a formatted message.
func BadRequest(format string, args ...any) error {
	return &Error{Kind: ErrBadRequest, Msg: fmt.Sprintf(format, args...)}
}

// NotFound returns an ErrNotFound error with a formatted message.
func NotFound(format string, args ...any) error {
	return &Error{Kind: ErrNotFound, Msg: fmt.Sprintf(format, args...)}
}

// Conflict returns an ErrConflict error with a formatted message.
func Conflict(format string, args ...any) error {
	return &Error{Kind: ErrConflict, Msg: fmt.Sprintf(format, args...)}
}

// Mark classifies err as kind (ErrBadRequest, ErrNotFound or ErrConflict)
// without changing its text or hiding it: errors.Is(m, kind) and
// errors.Is(m, err) both hold and Message(m) is err's text. It suits
// package sentinels, e.g.
//
//	var ErrUnknownCurrency = apierr.Mark(apierr.ErrBadRequest, errors.New("unknown currency"))
//
// and adapters that classify another package's errors. Mark(kind, nil) is nil.
func Mark(kind, err error) error {
	if err == nil {
		return nil
	}
	return &marked{kind: kind, err: err}
}

type marked struct{ kind, err error }

func (m *marked) Error() string   { return m.err.Error() }
func (m *marked) Unwrap() []error { return []error{m.err, m.kind} }

// Message returns the text to show the client for err: the message of the
// outermost *Error in its chain (context added around it by wrapping is
// internal), or err.Error() when the class sentinel was wrapped directly.
func Message(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Msg
	}
	return err.Error()
}
