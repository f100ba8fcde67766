package paykassma

import (
	"fmt"
	"math/big"
	"strings"
)

// exponents are ISO 4217 minor-unit digits that differ from 2. Paykassma
// speaks major units (floats, withdrawal amounts are whole major units);
// the bridge speaks minor units.
var exponents = map[string]int{
	"BIF": 0, "CLP": 0, "DJF": 0, "GNF": 0, "ISK": 0, "JPY": 0, "KMF": 0, "KRW": 0, "PYG": 0, "RWF": 0,
	"UGX": 0, "UYI": 0, "VND": 0, "VUV": 0, "XAF": 0, "XOF": 0, "XPF": 0,
	"BHD": 3, "IQD": 3, "JOD": 3, "KWD": 3, "LYD": 3, "OMR": 3, "TND": 3,
	"BTC": 8, "LTC": 8, "BCH": 8, "DOGE": 8, "DASH": 8, "ZEC": 8,
}

func (c *Client) exponent(currency string) int {
	if e, ok := c.cfg.Exponents[strings.ToUpper(currency)]; ok {
		return e
	}
	if e, ok := exponents[strings.ToUpper(currency)]; ok {
		return e
	}
	return 2
}

func pow10(n int) *big.Int { return new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(n)), nil) }

// MinorToMajor writes minor units as a decimal with exp fraction digits
// ("100000", 2 → "1000.00").
func MinorToMajor(v *big.Int, exp int) string {
	if exp == 0 {
		return v.String()
	}
	neg := v.Sign() < 0
	s := new(big.Int).Abs(v).String()
	if len(s) <= exp {
		s = strings.Repeat("0", exp-len(s)+1) + s
	}
	out := s[:len(s)-exp] + "." + s[len(s)-exp:]
	if neg {
		out = "-" + out
	}
	return out
}

// MajorToMinor converts a decimal (any JSON number form) to minor units,
// rounding toward minus infinity when it has more digits than exp (the
// conservative reading of a balance); exact reports whether no rounding
// happened.
func MajorToMinor(s string, exp int) (v *big.Int, exact bool, err error) {
	r, ok := new(big.Rat).SetString(strings.TrimSpace(s))
	if !ok {
		return nil, false, fmt.Errorf("paykassma: amount %q is not a number", s)
	}
	r.Mul(r, new(big.Rat).SetInt(pow10(exp)))
	q, m := new(big.Int).DivMod(r.Num(), r.Denom(), new(big.Int)) // Euclidean: floor for positive denominators
	return q, m.Sign() == 0, nil
}
