package payfield

import (
	"net/http"
	"strings"
	"time"

	"github.com/ton-custody/processor/internal/bridge"
)

func init() {
	bridge.RegisterDriver(bridge.Driver{Name: Name, Settings: Settings, New: newFromConfig})
}

// Settings are Payfield's BRIDGE_PAYFIELD_<KEY> variables.
var Settings = []bridge.Setting{
	{Key: "api_key", Required: true, Secret: true, Description: "X-API-Key of the merchant"},
	{Key: "secret", Required: true, Secret: true, Description: "request signing secret (HMAC-SHA256)"},
	{Key: "webhook_secret", Required: true, Secret: true, Description: "webhook signing secret"},
	{Key: "shop_code", Description: "shop code; empty: the merchant's default shop. Set, webhooks whose shop_code differs are refused"},
	{Key: "signature_encoding", Default: EncodingHex, Description: "hex or base64 (not documented by Payfield)"},
	{Key: "timestamp_format", Default: TimestampISO8601, Description: "X-Timestamp of requests: iso8601 or unix"},
	{Key: "webhook_tolerance", Default: DefaultWebhookTolerance.String(), Description: "maximum age of a webhook's X-Timestamp"},
	{Key: "currencies", Default: "RUB", Description: "comma-separated currencies whose balances are reported"},
}

func newFromConfig(pc bridge.ProviderConfig, client *http.Client) (bridge.Provider, error) {
	o := Options{BaseURL: pc.BaseURL, APIKey: pc.Secret("api_key"), Secret: pc.Secret("secret"),
		WebhookSecret: pc.Secret("webhook_secret"), ShopCode: pc.Get("shop_code"),
		Encoding: pc.Get("signature_encoding"), TimestampFormat: pc.Get("timestamp_format"), Client: client}
	if v := pc.Get("webhook_tolerance"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			return nil, err
		}
		o.WebhookTolerance = d
	}
	for _, c := range strings.Split(pc.Get("currencies"), ",") {
		if c = strings.ToUpper(strings.TrimSpace(c)); c != "" {
			o.Currencies = append(o.Currencies, c)
		}
	}
	return New(o)
}
