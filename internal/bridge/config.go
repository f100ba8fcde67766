package bridge

import (
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/ton-custody/processor/internal/config"
)

// Environment variables read by LoadConfig. Per-provider variables are
// BRIDGE_<NAME>_<KEY> with NAME the provider name in upper case.
const (
	EnvProviders         = "BRIDGE_PROVIDERS"
	EnvConfigFile        = "BRIDGE_CONFIG_FILE"
	EnvPublicURL         = "BRIDGE_PUBLIC_URL"
	EnvReconcileInterval = "BRIDGE_RECONCILE_INTERVAL"
	EnvUnknownGiveUp     = "BRIDGE_UNKNOWN_GIVE_UP"
	EnvReversalWatch     = "BRIDGE_REVERSAL_WATCH"
	EnvNemoSecret        = "BRIDGE_NEMO_SECRET"
	EnvNemoCompanies     = "BRIDGE_NEMO_COMPANIES"
	EnvNemoAmountFormat  = "BRIDGE_NEMO_AMOUNT_FORMAT"
)

// Defaults of LoadConfig.
const (
	DefaultReconcileInterval = 30 * time.Second
	DefaultUnknownGiveUp     = 24 * time.Hour
	// DefaultReversalWatch: refunds and chargebacks mostly come within
	// days of a success.
	DefaultReversalWatch = 72 * time.Hour
	// DefaultReversalMaxBackoff caps the wait between the polls of a
	// watched succeeded payment.
	DefaultReversalMaxBackoff = 4 * time.Hour
)

// Setting is a provider-specific configuration key a Driver declares; it is
// read from BRIDGE_<NAME>_<KEY> (KEY upper-cased) or the config file's
// "settings" object (key as written here, lower case).
type Setting struct {
	Key         string // lower case, e.g. "api_key"
	Default     string
	Required    bool
	Secret      bool // never logged or printed
	Description string
}

// ProviderConfig is the configuration of one provider.
type ProviderConfig struct {
	Name    string
	Enabled bool
	BaseURL string
	Timeout time.Duration
	// CallbackURL is where the provider should send callbacks
	// (BRIDGE_PUBLIC_URL + /v1/bridge/callbacks/<name>); empty when
	// BRIDGE_PUBLIC_URL is unset.
	CallbackURL string
	values      map[string]string
	secrets     map[string]bool
}

// NewProviderConfig builds a ProviderConfig by hand (tests, manual wiring);
// secretKeys name the values that must never be printed.
func NewProviderConfig(name, baseURL string, values map[string]string, secretKeys ...string) ProviderConfig {
	pc := ProviderConfig{Name: name, Enabled: true, BaseURL: baseURL, Timeout: DefaultTimeout,
		values: map[string]string{}, secrets: map[string]bool{}}
	for k, v := range values {
		pc.values[k] = v
	}
	for _, k := range secretKeys {
		pc.secrets[k] = true
	}
	return pc
}

// Get returns the setting key ("" when unset).
func (p ProviderConfig) Get(key string) string { return p.values[key] }

// Secret returns the setting key wrapped as a config.Secret.
func (p ProviderConfig) Secret(key string) config.Secret { return config.NewSecret(p.values[key]) }

// String shows the configuration with secrets redacted.
func (p ProviderConfig) String() string {
	keys := make([]string, 0, len(p.values))
	for k := range p.values {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	fmt.Fprintf(&b, "%s{enabled=%t base_url=%s timeout=%s", p.Name, p.Enabled, p.BaseURL, p.Timeout)
	for _, k := range keys {
		v := p.values[k]
		if p.secrets[k] && v != "" {
			v = "[REDACTED]"
		}
		fmt.Fprintf(&b, " %s=%s", k, v)
	}
	b.WriteString("}")
	return b.String()
}

// NemoCompany maps a Nemo companyId to the provider balances it reports.
type NemoCompany struct {
	CompanyID string
	Sources   []BalanceSource
}

// BalanceSource is one provider balance in one currency.
type BalanceSource struct {
	Provider string
	Currency string
}

// NemoConfig configures the Nemo.travel paymentBalance endpoint.
type NemoConfig struct {
	Secret       config.Secret
	Companies    map[string]NemoCompany
	AmountFormat string // "major" (default: "1500.50") or "minor" ("150050")
}

// Config is the bridge's configuration.
type Config struct {
	Providers         []ProviderConfig
	PublicURL         string
	ReconcileInterval time.Duration
	UnknownGiveUp     time.Duration
	// ReversalWatch is how long succeeded payments are polled for a
	// reversal (Reconciler.ReversalWatch: 0 = the default, negative =
	// off; BRIDGE_REVERSAL_WATCH=0 gives -1).
	ReversalWatch time.Duration
	Nemo          NemoConfig
}

// fileConfig is the optional JSON file of BRIDGE_CONFIG_FILE.
type fileConfig struct {
	Providers map[string]struct {
		Enabled  *bool             `json:"enabled"`
		BaseURL  string            `json:"base_url"`
		Timeout  string            `json:"timeout"`
		Settings map[string]string `json:"settings"`
	} `json:"providers"`
}

var providerNameRE = regexp.MustCompile(`^[a-z][a-z0-9_]{0,31}$`)

// LoadConfig reads the bridge configuration from the environment (getenv,
// e.g. os.Getenv) and the optional JSON file named by BRIDGE_CONFIG_FILE;
// environment variables win over the file. Providers are those listed in
// BRIDGE_PROVIDERS or in the file; each needs a registered Driver. Every
// problem is reported by variable name in a *config.ValidationError;
// secret values never appear in it.
func LoadConfig(getenv func(string) string) (*Config, error) {
	var probs []config.Problem
	bad := func(v, format string, args ...any) {
		probs = append(probs, config.Problem{Var: v, Message: fmt.Sprintf(format, args...)})
	}
	cfg := &Config{ReconcileInterval: DefaultReconcileInterval, UnknownGiveUp: DefaultUnknownGiveUp}
	var file fileConfig
	if path := strings.TrimSpace(getenv(EnvConfigFile)); path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			bad(EnvConfigFile, "cannot read the file: %v", err)
		} else if err := json.Unmarshal(b, &file); err != nil {
			bad(EnvConfigFile, "not valid JSON of the documented shape: %v", err)
		}
	}
	if v := strings.TrimSpace(getenv(EnvPublicURL)); v != "" {
		u, err := url.Parse(v)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			bad(EnvPublicURL, "must be an http(s) URL such as https://processor.example.com")
		} else {
			cfg.PublicURL = strings.TrimRight(v, "/")
		}
	}
	dur := func(name string, dst *time.Duration) {
		if v := strings.TrimSpace(getenv(name)); v != "" {
			d, err := time.ParseDuration(v)
			if err != nil || d <= 0 {
				bad(name, "must be a positive duration such as 30s")
				return
			}
			*dst = d
		}
	}
	dur(EnvReconcileInterval, &cfg.ReconcileInterval)
	dur(EnvUnknownGiveUp, &cfg.UnknownGiveUp)
	cfg.ReversalWatch = DefaultReversalWatch
	if v := strings.TrimSpace(getenv(EnvReversalWatch)); v != "" {
		d, err := time.ParseDuration(v)
		switch {
		case err != nil || d < 0:
			bad(EnvReversalWatch, "must be a duration such as 72h, or 0 to turn the watch off")
		case d == 0:
			cfg.ReversalWatch = -1 // off; 0 would mean the default
		default:
			cfg.ReversalWatch = d
		}
	}

	names := map[string]bool{}
	var order []string
	add := func(n string) {
		if !names[n] {
			names[n] = true
			order = append(order, n)
		}
	}
	for _, n := range strings.Split(getenv(EnvProviders), ",") {
		if n = strings.TrimSpace(strings.ToLower(n)); n != "" {
			add(n)
		}
	}
	fileNames := make([]string, 0, len(file.Providers))
	for n := range file.Providers {
		fileNames = append(fileNames, n)
	}
	sort.Strings(fileNames)
	for _, n := range fileNames {
		add(n)
	}
	for _, name := range order {
		prefix := ProviderVar(name, "")
		if !providerNameRE.MatchString(name) {
			bad(EnvProviders, "provider name %q must be lower-case letters, digits or underscores", name)
			continue
		}
		drv, ok := LookupDriver(name)
		if !ok {
			bad(EnvProviders, "no driver for provider %q (registered: %s)", name, strings.Join(DriverNames(), ", "))
			continue
		}
		fp := file.Providers[name]
		pc := ProviderConfig{Name: name, Enabled: true, Timeout: DefaultTimeout, values: map[string]string{}, secrets: map[string]bool{}}
		if fp.Enabled != nil {
			pc.Enabled = *fp.Enabled
		}
		if v := strings.TrimSpace(getenv(prefix + "ENABLED")); v != "" {
			switch strings.ToLower(v) {
			case "true", "1", "yes":
				pc.Enabled = true
			case "false", "0", "no":
				pc.Enabled = false
			default:
				bad(prefix+"ENABLED", "must be true or false")
			}
		}
		pc.BaseURL = fp.BaseURL
		if v := strings.TrimSpace(getenv(prefix + "BASE_URL")); v != "" {
			pc.BaseURL = v
		}
		if pc.Enabled {
			if u, err := url.Parse(pc.BaseURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				bad(prefix+"BASE_URL", "must be the provider's http(s) API base URL")
			}
		}
		pc.BaseURL = strings.TrimRight(pc.BaseURL, "/")
		tv := fp.Timeout
		if v := strings.TrimSpace(getenv(prefix + "TIMEOUT")); v != "" {
			tv = v
		}
		if tv != "" {
			d, err := time.ParseDuration(tv)
			if err != nil || d <= 0 {
				bad(prefix+"TIMEOUT", "must be a positive duration such as 15s")
			} else {
				pc.Timeout = d
			}
		}
		for _, s := range drv.Settings {
			v := fp.Settings[s.Key]
			if ev := getenv(prefix + strings.ToUpper(s.Key)); ev != "" {
				v = ev
			}
			if v == "" {
				v = s.Default
			}
			if v == "" && s.Required && pc.Enabled {
				bad(prefix+strings.ToUpper(s.Key), "required: %s", s.Description)
			}
			pc.values[s.Key] = v
			pc.secrets[s.Key] = s.Secret
		}
		if cfg.PublicURL != "" {
			pc.CallbackURL = cfg.PublicURL + CallbackPath(name)
		}
		cfg.Providers = append(cfg.Providers, pc)
	}

	// Nemo.
	cfg.Nemo.Secret = config.NewSecret(getenv(EnvNemoSecret))
	cfg.Nemo.AmountFormat = "major"
	if v := strings.TrimSpace(getenv(EnvNemoAmountFormat)); v != "" {
		if v != "major" && v != "minor" {
			bad(EnvNemoAmountFormat, "must be major or minor")
		} else {
			cfg.Nemo.AmountFormat = v
		}
	}
	if v := strings.TrimSpace(getenv(EnvNemoCompanies)); v != "" {
		comps, err := ParseNemoCompanies(v)
		if err != nil {
			bad(EnvNemoCompanies, "%v", err)
		}
		cfg.Nemo.Companies = comps
		for _, c := range comps {
			for _, s := range c.Sources {
				if !names[s.Provider] {
					bad(EnvNemoCompanies, "company %s uses provider %q, which is not configured", c.CompanyID, s.Provider)
				}
			}
		}
		if len(comps) > 0 && len(cfg.Nemo.Secret.Reveal()) < 16 {
			bad(EnvNemoSecret, "required with %s: the shared signing secret, at least 16 characters", EnvNemoCompanies)
		}
	}
	if len(probs) > 0 {
		return nil, &config.ValidationError{Problems: probs}
	}
	return cfg, nil
}

// ParseNemoCompanies parses COMPANY=PROVIDER:CURRENCY[+PROVIDER:CURRENCY...]
// entries separated by commas, e.g. "1001=payfield:RUB,1002=payfield:RUB+highhelp:RUB".
func ParseNemoCompanies(s string) (map[string]NemoCompany, error) {
	out := map[string]NemoCompany{}
	for _, entry := range strings.Split(s, ",") {
		entry = strings.TrimSpace(entry)
		if entry == "" {
			continue
		}
		id, srcs, ok := strings.Cut(entry, "=")
		id = strings.TrimSpace(id)
		if !ok || id == "" {
			return nil, fmt.Errorf("entry %q: expected COMPANY=PROVIDER:CURRENCY[+PROVIDER:CURRENCY...]", entry)
		}
		if _, dup := out[id]; dup {
			return nil, fmt.Errorf("company %s is listed twice", id)
		}
		c := NemoCompany{CompanyID: id}
		for _, src := range strings.Split(srcs, "+") {
			p, cur, ok := strings.Cut(strings.TrimSpace(src), ":")
			cur = strings.ToUpper(strings.TrimSpace(cur))
			if !ok || !providerNameRE.MatchString(p) || len(cur) != 3 {
				return nil, fmt.Errorf("company %s: source %q must be provider:CUR (ISO 4217)", id, src)
			}
			c.Sources = append(c.Sources, BalanceSource{Provider: p, Currency: cur})
		}
		for _, s := range c.Sources[1:] {
			if s.Currency != c.Sources[0].Currency {
				return nil, fmt.Errorf("company %s: all sources must share one currency (Nemo reports one deposit)", id)
			}
		}
		out[id] = c
	}
	return out, nil
}
