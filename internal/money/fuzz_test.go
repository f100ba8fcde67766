package money_test

import (
	"math/big"
	"testing"

	"github.com/ton-custody/processor/internal/money"
)

// FuzzParse: an accepted amount is a positive integer of at most 2^120-1
// whose decimal form is exactly the input; nothing else is accepted.
func FuzzParse(f *testing.F) {
	for _, s := range []string{"1", "100", "0", "-1", "1.5", "1e9", "0x10", " 1", "+1", "00012",
		"1329227995784915872903807060280344575", "1329227995784915872903807060280344576", ""} {
		f.Add(s)
	}
	limit := new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 120), big.NewInt(1))
	f.Fuzz(func(t *testing.T, s string) {
		v, err := money.Parse(s)
		if err != nil {
			return
		}
		if v.Sign() <= 0 || v.Cmp(limit) > 0 {
			t.Fatalf("%q accepted as %s", s, v)
		}
		if v.String() != s {
			t.Fatalf("%q accepted but is written %s: two spellings of one amount", s, v)
		}
	})
}
