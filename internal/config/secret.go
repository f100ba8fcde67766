package config

import (
	"fmt"
	"io"
	"log/slog"
)

// redacted is what every printed form of a set Secret shows.
const redacted = "[REDACTED]"

// Secret holds a sensitive string (mnemonic, token, password). Every way of
// printing it shows "[REDACTED]": fmt with any verb, slog, JSON and text
// marshalling. Reveal returns the value for the one place that needs it.
//
// The value sits behind a pointer so that even reflection-based printing of
// a struct that keeps a Secret in an unexported field (where fmt cannot call
// methods) shows an address, not the text.
type Secret struct {
	p *string
}

// NewSecret wraps s. An empty s gives the zero (unset) Secret.
func NewSecret(s string) Secret {
	if s == "" {
		return Secret{}
	}
	return Secret{p: &s}
}

// Reveal returns the secret value, or "" when unset.
func (s Secret) Reveal() string {
	if s.p == nil {
		return ""
	}
	return *s.p
}

// IsSet reports whether the secret has a non-empty value.
func (s Secret) IsSet() bool { return s.p != nil }

// String returns "[REDACTED]" when set and "" when unset.
func (s Secret) String() string {
	if s.p == nil {
		return ""
	}
	return redacted
}

// GoString redacts like String, for %#v.
func (s Secret) GoString() string { return fmt.Sprintf("config.Secret(%q)", s.String()) }

// Format makes every fmt verb (%v %+v %#v %s %q %x ...) print the redacted form.
func (s Secret) Format(f fmt.State, verb rune) {
	if verb == 'v' && f.Flag('#') {
		_, _ = io.WriteString(f, s.GoString())
		return
	}
	_, _ = io.WriteString(f, s.String())
}

// LogValue redacts the secret in slog output.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.String()) }

// MarshalText redacts the secret in encoding/json keys and text encoders.
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// MarshalJSON redacts the secret in JSON.
func (s Secret) MarshalJSON() ([]byte, error) { return []byte(fmt.Sprintf("%q", s.String())), nil }
