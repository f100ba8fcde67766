package paykassma

import (
	"context"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/ton-custody/processor/internal/bridge"
)

func init() {
	bridge.RegisterDriver(bridge.Driver{Name: Name, Settings: Settings, New: newFromConfig})
}

// DefaultPostbackTZ is the default of the postback_tz setting.
const DefaultPostbackTZ = "+08:00"

// Settings are Paykassma's BRIDGE_PAYKASSMA_<KEY> variables. The base URL
// and the timeout are the core's BRIDGE_PAYKASSMA_BASE_URL and
// BRIDGE_PAYKASSMA_TIMEOUT.
var Settings = []bridge.Setting{
	{Key: "secret", Required: true, Secret: true, Description: "PLUGINAPI_SECRET, sent as ?secret= on plugin API calls"},
	{Key: "private_key", Secret: true, Description: "withdrawal signing key; without it the provider takes no payouts"},
	{Key: "access_key", Secret: true, Description: "postback signature access_key (with private_access_key); without both, postbacks are rejected"},
	{Key: "private_access_key", Secret: true, Description: "postback signature private_access_key (with access_key)"},
	{Key: "label", Description: "default label (user id) when a payment has no customer label"},
	{Key: "currencies", Description: "comma-separated currencies whose payment systems Banks lists, e.g. INR,BDT"},
	{Key: "is_test", Default: "false", Description: "send is_test=true on withdrawals"},
	{Key: "sort_nested", Default: "false", Description: "ksort nested arrays too when signing withdrawals"},
	{Key: "deposit_coverage", Default: "transactions", Description: "deposit postback field the signature covers (* = the whole postback without the signature field)"},
	{Key: "withdrawal_coverage", Default: CoverBody, Description: "withdrawal postback field the signature covers (* = the whole postback without the signature field)"},
	{Key: "postback_tz", Default: DefaultPostbackTZ, Description: "zone of postback datetimes: a UTC offset such as +08:00, or an IANA zone name"},
	{Key: "signature_field", Default: "signature", Description: "postback field holding the signature"},
	{Key: "decode_assoc", Default: "false", Description: "decode postbacks like PHP json_decode($body, true) before re-encoding ({} re-encodes as [])"},
	{Key: "language", Default: "en", Description: "language of payment pages (payment create)"},
	{Key: "bank_label", Default: "bridge", Description: "label Banks asks payment systems for"},
	{Key: "exponents", Description: "minor-unit digits overriding ISO 4217, e.g. USDT:2,JPY:0"},
}

// setting reads one setting, falling back to its declared default (a
// ProviderConfig built by hand has no defaults filled in).
func setting(pc bridge.ProviderConfig, key string) string {
	v := strings.TrimSpace(pc.Get(key))
	if v != "" {
		return v
	}
	for _, s := range Settings {
		if s.Key == key {
			return s.Default
		}
	}
	return ""
}

var (
	currencyRE = regexp.MustCompile(`^[A-Z0-9]{2,10}$`)
	offsetRE   = regexp.MustCompile(`^([+-])(\d{2}):(\d{2})$`)
)

func newFromConfig(pc bridge.ProviderConfig, client *http.Client) (bridge.Provider, error) {
	name := pc.Name
	if name == "" {
		name = Name
	}
	probs := bridge.NewProblems(name)
	bad, envName := probs.Add, probs.Var

	cfg := Config{
		BaseURL:            pc.BaseURL,
		Secret:             pc.Secret("secret").Reveal(),
		PrivateKey:         pc.Secret("private_key").Reveal(),
		AccessKey:          pc.Secret("access_key").Reveal(),
		PrivateAccessKey:   pc.Secret("private_access_key").Reveal(),
		Label:              setting(pc, "label"),
		Language:           setting(pc, "language"),
		BankLabel:          setting(pc, "bank_label"),
		DepositCoverage:    setting(pc, "deposit_coverage"),
		WithdrawalCoverage: setting(pc, "withdrawal_coverage"),
		SignatureField:     setting(pc, "signature_field"),
		Timeout:            pc.Timeout,
		HTTPClient:         client,
	}
	if cfg.Secret == "" {
		bad("secret", "required: the plugin API secret (PLUGINAPI_SECRET)")
	}
	switch {
	case cfg.AccessKey != "" && cfg.PrivateAccessKey == "":
		bad("private_access_key", "required with %s: postbacks are signed with both", envName("access_key"))
	case cfg.AccessKey == "" && cfg.PrivateAccessKey != "":
		bad("access_key", "required with %s: postbacks are signed with both", envName("private_access_key"))
	}
	for _, c := range strings.Split(setting(pc, "currencies"), ",") {
		if c = strings.ToUpper(strings.TrimSpace(c)); c == "" {
			continue
		}
		if !currencyRE.MatchString(c) {
			bad("currencies", "%q is not a currency code (comma-separated, e.g. INR,BDT)", c)
			continue
		}
		cfg.Currencies = append(cfg.Currencies, c)
	}
	for _, b := range []struct {
		key string
		dst *bool
	}{{"is_test", &cfg.IsTest}, {"sort_nested", &cfg.SortNested}, {"decode_assoc", &cfg.DecodeAssoc}} {
		v, err := parseBool(setting(pc, b.key))
		if err != nil {
			bad(b.key, "%v", err)
		}
		*b.dst = v
	}
	if v := setting(pc, "postback_tz"); v != "" {
		loc, err := parseZone(v)
		if err != nil {
			bad("postback_tz", "%v", err)
		}
		cfg.PostbackZone = loc
	}
	if v := setting(pc, "exponents"); v != "" {
		cfg.Exponents = map[string]int{}
		for _, e := range strings.Split(v, ",") {
			if e = strings.TrimSpace(e); e == "" {
				continue
			}
			cur, digits, ok := strings.Cut(e, ":")
			cur = strings.ToUpper(strings.TrimSpace(cur))
			n, err := strconv.Atoi(strings.TrimSpace(digits))
			if !ok || !currencyRE.MatchString(cur) || err != nil || n < 0 || n > 18 {
				bad("exponents", "entry %q must be CURRENCY:DIGITS with 0-18 digits, e.g. USDT:2", e)
				continue
			}
			cfg.Exponents[cur] = n
		}
	}

	if err := probs.Err(); err != nil {
		return nil, err
	}
	c, err := New(cfg)
	if err != nil {
		return nil, err
	}
	if cfg.PrivateKey == "" {
		// Withdrawals would go out signed with an empty key and be refused:
		// offer no payouts at all, so the bridge answers "does not take
		// payouts" instead.
		return payinOnly{c}, nil
	}
	return c, nil
}

// parseBool accepts true/false, 1/0, yes/no ("" is false).
func parseBool(v string) (bool, error) {
	switch strings.ToLower(v) {
	case "true", "1", "yes":
		return true, nil
	case "", "false", "0", "no":
		return false, nil
	}
	return false, fmt.Errorf("must be true or false, got %q", v)
}

// parseZone reads a UTC offset (+08:00, -03:30) or an IANA zone name.
func parseZone(v string) (*time.Location, error) {
	if m := offsetRE.FindStringSubmatch(v); m != nil {
		h, _ := strconv.Atoi(m[2])
		mi, _ := strconv.Atoi(m[3])
		if h > 14 || mi > 59 {
			return nil, fmt.Errorf("offset %q is out of range", v)
		}
		sec := h*3600 + mi*60
		if m[1] == "-" {
			sec = -sec
		}
		return time.FixedZone(v, sec), nil
	}
	loc, err := time.LoadLocation(v)
	if err != nil || strings.EqualFold(v, "local") {
		return nil, fmt.Errorf("must be a UTC offset such as +08:00 or an IANA zone name such as Asia/Manila, got %q", v)
	}
	return loc, nil
}

// payinOnly is a Client without the payout capability (no private_key).
type payinOnly struct{ c *Client }

var (
	_ bridge.PayinCreator   = payinOnly{}
	_ bridge.StatusGetter   = payinOnly{}
	_ bridge.BalanceGetter  = payinOnly{}
	_ bridge.BankLister     = payinOnly{}
	_ bridge.CallbackParser = payinOnly{}
)

func (p payinOnly) Name() string { return p.c.Name() }

func (p payinOnly) CreatePayin(ctx context.Context, pm bridge.Payment) (bridge.Result, error) {
	return p.c.CreatePayin(ctx, pm)
}

func (p payinOnly) Status(ctx context.Context, kind bridge.Kind, reference string) (bridge.Result, error) {
	return p.c.Status(ctx, kind, reference)
}

func (p payinOnly) Balances(ctx context.Context) ([]bridge.Balance, error) { return p.c.Balances(ctx) }

func (p payinOnly) Banks(ctx context.Context) ([]bridge.Bank, error) { return p.c.Banks(ctx) }

func (p payinOnly) ParseCallback(r *http.Request, body []byte) (bridge.Callback, error) {
	return p.c.ParseCallback(r, body)
}
