package console

import "testing"

// Amounts: TON with 9 decimals, a jetton with its configured decimals, a
// jetton without them in base units, labelled (never guessed decimals).
func TestAmountsUseConfiguredDecimalsOnly(t *testing.T) {
	c := &Console{opts: Options{Decimals: map[string]int{"USDT": 6, "WHOLE": 0}}}
	for _, tt := range []struct{ currency, units, want string }{
		{"TON", "2500000000", "2.5 TON"},
		{"TON", "1234567000000000", "1,234,567 TON"},
		{"TON", "1", "0.000000001 TON"},
		{"USDT", "1500000", "1.5 USDT"},
		{"USDT", "1234567890123", "1,234,567.890123 USDT"},
		{"USDT", "7", "0.000007 USDT"},
		{"USDT", "-2000000", "-2 USDT"},
		{"WHOLE", "12345", "12,345 WHOLE"},
		{"DEMO", "1000000000", "1,000,000,000 DEMO base units"},
		{"USDT", "", ""},
		{"USDT", "x", "x"},
	} {
		if got := c.formatAmount(tt.currency, tt.units); got != tt.want {
			t.Errorf("%s %s: %q, want %q", tt.units, tt.currency, got, tt.want)
		}
	}
}
