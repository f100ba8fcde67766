package bridge

import (
	"fmt"
	"net/url"
	"strings"

	"github.com/ton-custody/processor/internal/config"
)

// ProviderVar is the environment variable of a provider setting:
// BRIDGE_<NAME>_<KEY>, both upper-cased.
func ProviderVar(name, key string) string {
	return "BRIDGE_" + strings.ToUpper(name) + "_" + strings.ToUpper(key)
}

// Problems collects a provider driver's invalid settings, each named by
// its variable, so one error lists them all.
type Problems struct {
	name string
	list []config.Problem
}

// NewProblems starts a collection for provider name.
func NewProblems(name string) *Problems { return &Problems{name: name} }

// Var is the variable of the provider's setting key.
func (p *Problems) Var(key string) string { return ProviderVar(p.name, key) }

// Add records that setting key is invalid.
func (p *Problems) Add(key, format string, args ...any) {
	p.list = append(p.list, config.Problem{Var: p.Var(key), Message: fmt.Sprintf(format, args...)})
}

// Err is nil when nothing was added, else a *config.ValidationError.
func (p *Problems) Err() error {
	if len(p.list) == 0 {
		return nil
	}
	return &config.ValidationError{Problems: p.list}
}

// ParseBaseURL checks a provider's API base URL: absolute http(s), no
// trailing slash kept.
func ParseBaseURL(provider, raw string) (*url.URL, error) {
	u, err := url.Parse(strings.TrimRight(raw, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("%s: base URL %q: must be an absolute http(s) URL", provider, raw)
	}
	return u, nil
}
