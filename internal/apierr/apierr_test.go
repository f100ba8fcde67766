package apierr_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/ton-custody/processor/internal/apierr"
)

var (
	errUnknownCurrency = apierr.Mark(apierr.ErrBadRequest, errors.New("unknown currency"))
	errNoRecord        = errors.New("no wallet record")
)

func TestClassesAndMessages(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		err     error
		class   error
		message string
	}{
		{"constructor", apierr.BadRequest("amount %s is too large", "5"), apierr.ErrBadRequest, "amount 5 is too large"},
		{"wrapped constructor keeps its message", fmt.Errorf("wallets: new address: %w", apierr.NotFound("no such domain")), apierr.ErrNotFound, "no such domain"},
		{"wrapped sentinel shows the whole text", fmt.Errorf("%w: unknown currency %q", apierr.ErrBadRequest, "XYZ"), apierr.ErrBadRequest, `bad request: unknown currency "XYZ"`},
		{"conflict", apierr.Conflict("query_id reused"), apierr.ErrConflict, "query_id reused"},
		{"marked sentinel wrapped with detail", fmt.Errorf("%w %q", errUnknownCurrency, "XYZ"), apierr.ErrBadRequest, `unknown currency "XYZ"`},
		{"marked by an adapter", apierr.Mark(apierr.ErrNotFound, fmt.Errorf("resolve: %w", errNoRecord)), apierr.ErrNotFound, "resolve: no wallet record"},
	}
	classes := []error{apierr.ErrBadRequest, apierr.ErrNotFound, apierr.ErrConflict}
	for _, tt := range tests {
		for _, c := range classes {
			if got := errors.Is(tt.err, c); got != (c == tt.class) {
				t.Errorf("%s: errors.Is(err, %v) = %v", tt.name, c, got)
			}
		}
		if got := apierr.Message(tt.err); got != tt.message {
			t.Errorf("%s: Message = %q, want %q", tt.name, got, tt.message)
		}
	}
	if !errors.Is(fmt.Errorf("wallets: %w", errUnknownCurrency), errUnknownCurrency) {
		t.Error("a marked sentinel is no longer itself")
	}
	if apierr.Mark(apierr.ErrNotFound, nil) != nil {
		t.Error("Mark(kind, nil) is not nil")
	}
	if errors.Is(errors.New("database down"), apierr.ErrBadRequest) {
		t.Error("a plain error is classed as a bad request")
	}
}
