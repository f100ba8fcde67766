package console

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"html/template"
	"math/big"
	"strings"
	"time"

	"github.com/xssnick/tonutils-go/address"

	"github.com/ton-custody/processor/internal/config"
	"github.com/ton-custody/processor/internal/tonaddr"
)

// Link is a value shown with a copy button and an explorer link.
type Link struct {
	Text string
	URL  string
}

func (c *Console) addr(workchain int32, data []byte, bounceable bool) Link {
	if len(data) != 32 {
		return Link{}
	}
	a := address.NewAddress(0, byte(workchain), data)
	s := tonaddr.Format(a, c.opts.Network, bounceable)
	return Link{Text: s, URL: c.opts.ExplorerURL + "/" + s}
}

func (c *Console) addrString(s string) Link {
	if s == "" {
		return Link{}
	}
	return Link{Text: s, URL: c.opts.ExplorerURL + "/" + s}
}

func (c *Console) tx(hash []byte) Link {
	if len(hash) == 0 {
		return Link{}
	}
	h := hex.EncodeToString(hash)
	return Link{Text: h, URL: c.opts.ExplorerURL + "/transaction/" + h}
}

// formatAmount renders base units: TON with 9 decimals, a jetton with
// its decimals when they are configured (JETTON_DECIMALS), otherwise as
// base units, labelled as such (decimals are never guessed).
func (c *Console) formatAmount(currency, units string) string {
	return formatUnits(currency, units, c.decimals(currency))
}

// decimals returns a currency's decimals; -1 when they are not known.
func (c *Console) decimals(currency string) int {
	if currency == config.TONSymbol {
		return 9
	}
	if d, ok := c.opts.Decimals[currency]; ok && d >= 0 {
		return d
	}
	return -1
}

// formatUnits renders units (base units, an integer) of currency with
// decimals; decimals < 0: unknown, shown as base units.
func formatUnits(currency, units string, decimals int) string {
	if units == "" {
		return ""
	}
	v, ok := new(big.Int).SetString(units, 10)
	if !ok {
		return units
	}
	if decimals < 0 {
		return groupDigits(v.String()) + " " + currency + " base units"
	}
	neg := v.Sign() < 0
	v.Abs(v)
	q, r := new(big.Int).QuoRem(v, new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(decimals)), nil), new(big.Int))
	s := groupDigits(q.String())
	if decimals > 0 {
		frac := r.String()
		frac = strings.Repeat("0", decimals-len(frac)) + frac
		if frac = strings.TrimRight(frac, "0"); frac != "" {
			s += "." + frac
		}
	}
	if neg {
		s = "-" + s
	}
	return s + " " + currency
}

func groupDigits(s string) string {
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, r := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// stateClass maps a state or status to a colour class.
func stateClass(s string) string {
	switch s {
	case "processed", "confirmed", "delivered", "succeeded", "ok", "in sync":
		return "good"
	case "failed", "given_up", "expired", "rejected", "canceled", "reversed", "error", "behind", "below minimum":
		return "bad"
	case "awaiting_approval", "attention", "paused", "warning", "action_required", "under_review", "unknown":
		return "warn"
	case "pending", "processing", "sent", "created", "submitted":
		return "busy"
	}
	return "neutral"
}

func age(d time.Duration) string {
	switch {
	case d < 0:
		return "0s"
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
	}
	return fmt.Sprintf("%dd%02dh", int(d.Hours())/24, int(d.Hours())%24)
}

func prettyJSON(raw []byte) string {
	if len(raw) == 0 {
		return ""
	}
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return string(raw)
	}
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return string(raw)
	}
	return string(b)
}

// funcs are the templates' functions; "amount" is bound to a console
// (its currencies' decimals) in parsePages.
var funcs = template.FuncMap{
	"amount": func(currency, units string) string { return formatUnits(currency, units, -1) },
	"state":  stateClass,
	"iso": func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.UTC().Format(time.RFC3339)
	},
	"utc": func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.UTC().Format("2006-01-02 15:04:05 UTC")
	},
	"age": age,
	"add": func(a, b int) int { return a + b },
	"deref": func(t *time.Time) time.Time {
		if t == nil {
			return time.Time{}
		}
		return *t
	},
	"json": func(raw []byte) string { return prettyJSON(raw) },
}
