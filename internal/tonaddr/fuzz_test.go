package tonaddr_test

import (
	"testing"

	"github.com/ton-custody/processor/internal/config"
	"github.com/ton-custody/processor/internal/tonaddr"
)

// FuzzParse: any input is either refused or parsed into an address that
// formats back to the same account, with the input's bounce flag and the
// network's testnet flag; Parse never panics.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"0QB7BSerVyP9xAKnxp3QpqR8JO2HKwZhl10zsfwg7aJ281ZR", "kQCKt2WPGX-fh0cIAz38Ljd_OKQjoZE_cqk7QrYGsNP6wfP0",
		"UQB7BSerVyP9xAKnxp3QpqR8JO2HKwZhl10zsfwg7aJ28-3b", "0:7b0527ab5723fdc402a7c69dd0a6a47c24ed872b0661975d33b1fc20eda276f3",
		"", "0QB7BSerVyP9xAKnxp3QpqR8JO2HKwZhl10zsfwg7aJ281Z", "0QB7BSerVyP9xAKnxp3QpqR8JO2HKwZhl10zsfwg7aJ281ZS",
		"0QCdyiS+fIV9UVfI9Phswo4l2MA+hm8YseHynZ/YiH9Y1oSe",
	} {
		f.Add(s, true)
		f.Add(s, false)
	}
	f.Fuzz(func(t *testing.T, s string, testnet bool) {
		network := config.Mainnet
		if testnet {
			network = config.Testnet
		}
		a, err := tonaddr.Parse(s, network)
		if err != nil {
			return
		}
		if a.IsTestnetOnly() != testnet {
			t.Fatalf("%q accepted on %s with testnet flag %v", s, network, a.IsTestnetOnly())
		}
		if wc := a.Workchain(); wc != 0 && wc != -1 {
			t.Fatalf("%q accepted in workchain %d", s, wc)
		}
		back, err := tonaddr.Parse(tonaddr.Format(a, network, a.IsBounceable()), network)
		if err != nil || !back.Equals(a) || back.IsBounceable() != a.IsBounceable() {
			t.Fatalf("%q does not round-trip: %v %v", s, back, err)
		}
	})
}
