package httpapi

import (
	"encoding/json"
	"math/big"
	"strings"
	"testing"
)

// FuzzWholeNumber: a JSON number is taken exactly when it is a whole
// number from 1 to 2^53-1 (and zero gives "0" for the amount check to
// refuse); big.Rat is the oracle. Exponents beyond 4 digits are left to
// the unit rows: the oracle itself would take too long on them.
func FuzzWholeNumber(f *testing.F) {
	for _, s := range []string{"1", "0", "-0", "-1", "1.5", "1e9", "1E+9", "1.5e3", "100e-2", "1.000", "0.1e1", "9007199254740991",
		"9007199254740992", "1e16", "123456789012345678901234567890", "0.000", "0e-5", "10e-1", "1e-3", "00", "1.", "-5e2"} {
		f.Add(s)
	}
	max := big.NewInt(maxJSONInteger)
	f.Fuzz(func(t *testing.T, tok string) {
		var n json.Number
		if len(tok) == 0 || (tok[0] != '-' && (tok[0] < '0' || tok[0] > '9')) || json.Unmarshal([]byte(tok), &n) != nil || string(n) != tok {
			return // not a JSON number token
		}
		if i := strings.IndexAny(tok, "eE"); i >= 0 && len(strings.TrimLeft(tok[i+1:], "+-0")) > 4 {
			return
		}
		r, ok := new(big.Rat).SetString(tok)
		if !ok {
			t.Fatalf("oracle cannot read %q", tok)
		}
		got, err := wholeNumber(tok)
		switch {
		case r.Sign() == 0:
			if err != nil || got != "0" {
				t.Fatalf("%q: %q %v, want 0", tok, got, err)
			}
		case r.IsInt() && r.Sign() > 0 && r.Num().Cmp(max) <= 0:
			if err != nil || got != r.Num().String() {
				t.Fatalf("%q: %q %v, want %s", tok, got, err, r.Num())
			}
		default:
			if err == nil {
				t.Fatalf("%q (%s) taken as %q", tok, r.RatString(), got)
			}
		}
	})
}
