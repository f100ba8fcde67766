package bridge

import (
	"fmt"
	"net/http"
	"sort"
	"sync"
)

// Driver builds a provider from its configuration. Provider packages
// register one in init (see RegisterDriver); cmd/processor imports them.
type Driver struct {
	// Name is the provider name used in configuration, URLs and the
	// payments table: lower-case letters, digits, underscores.
	Name string
	// Settings lists the provider-specific keys LoadConfig reads.
	Settings []Setting
	// New builds the provider. client is the HTTP client to use (its
	// timeout is the provider's configured Timeout).
	New func(cfg ProviderConfig, client *http.Client) (Provider, error)
}

var (
	driversMu sync.RWMutex
	drivers   = map[string]Driver{}
)

// RegisterDriver makes a driver available to LoadConfig and Build. It is
// meant for init functions; registering a name twice replaces the first.
func RegisterDriver(d Driver) {
	driversMu.Lock()
	defer driversMu.Unlock()
	drivers[d.Name] = d
}

// LookupDriver returns the driver registered under name.
func LookupDriver(name string) (Driver, bool) {
	driversMu.RLock()
	defer driversMu.RUnlock()
	d, ok := drivers[name]
	return d, ok
}

// DriverNames lists the registered drivers, sorted.
func DriverNames() []string {
	driversMu.RLock()
	defer driversMu.RUnlock()
	out := make([]string, 0, len(drivers))
	for n := range drivers {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Registry holds the enabled providers by name. It is read-only after
// construction and safe for concurrent use.
type Registry struct {
	byName  map[string]Provider
	names   []string
	metrics *Metrics // from Build; the Service counts on it
}

// NewRegistry returns a registry of the given providers (tests and manual
// wiring); names must be unique.
func NewRegistry(providers ...Provider) (*Registry, error) {
	r := &Registry{byName: map[string]Provider{}}
	for _, p := range providers {
		n := p.Name()
		if !providerNameRE.MatchString(n) {
			return nil, fmt.Errorf("bridge: provider name %q must be lower-case letters, digits or underscores", n)
		}
		if _, dup := r.byName[n]; dup {
			return nil, fmt.Errorf("bridge: provider %q registered twice", n)
		}
		r.byName[n] = p
		r.names = append(r.names, n)
	}
	sort.Strings(r.names)
	return r, nil
}

// Build creates the enabled providers of cfg with their drivers; with
// metrics, every provider request is counted (processor_bridge_provider_*).
func Build(cfg *Config, metrics ...*Metrics) (*Registry, error) {
	var m *Metrics
	if len(metrics) > 0 {
		m = metrics[0]
	}
	var ps []Provider
	for _, pc := range cfg.Providers {
		if !pc.Enabled {
			continue
		}
		d, ok := LookupDriver(pc.Name)
		if !ok {
			return nil, fmt.Errorf("bridge: no driver for provider %q", pc.Name)
		}
		p, err := d.New(pc, m.instrument(pc.Name, &http.Client{Timeout: pc.Timeout}))
		if err != nil {
			return nil, fmt.Errorf("bridge: provider %s: %w", pc.Name, err)
		}
		ps = append(ps, p)
	}
	r, err := NewRegistry(ps...)
	if err != nil {
		return nil, err
	}
	r.metrics = m
	return r, nil
}

// Get returns the provider called name.
func (r *Registry) Get(name string) (Provider, bool) {
	p, ok := r.byName[name]
	return p, ok
}

// Names lists the providers, sorted.
func (r *Registry) Names() []string { return append([]string(nil), r.names...) }

// Capabilities lists what p implements, by capability name: "payin",
// "payout", "status", "balance", "banks", "callback".
func Capabilities(p Provider) []string {
	out := []string{} // never null in JSON
	if _, ok := p.(PayinCreator); ok {
		out = append(out, "payin")
	}
	if _, ok := p.(PayoutCreator); ok {
		out = append(out, "payout")
	}
	if _, ok := p.(StatusGetter); ok {
		out = append(out, "status")
	}
	if _, ok := p.(BalanceGetter); ok {
		out = append(out, "balance")
	}
	if _, ok := p.(BankLister); ok {
		out = append(out, "banks")
	}
	if _, ok := p.(CallbackParser); ok {
		out = append(out, "callback")
	}
	return out
}

// CallbackPath is the path of a provider's callback receiver.
func CallbackPath(provider string) string { return "/v1/bridge/callbacks/" + provider }
