package bridge

import (
	"errors"
	"fmt"
	"math/big"
	"strings"
)

// minorDigits lists ISO 4217 currencies whose minor unit is not 1/100.
var minorDigits = map[string]int{
	"BIF": 0, "CLP": 0, "DJF": 0, "GNF": 0, "ISK": 0, "JPY": 0, "KMF": 0, "KRW": 0,
	"PYG": 0, "RWF": 0, "UGX": 0, "UYI": 0, "VND": 0, "VUV": 0, "XAF": 0, "XOF": 0, "XPF": 0,
	"BHD": 3, "IQD": 3, "JOD": 3, "KWD": 3, "LYD": 3, "OMR": 3, "TND": 3,
	"CLF": 4, "UYW": 4,
}

// MinorDigits returns the number of decimal digits of currency's minor unit
// (ISO 4217): 2 unless the currency is known to differ (JPY 0, KWD 3, ...).
func MinorDigits(currency string) int {
	if d, ok := minorDigits[strings.ToUpper(currency)]; ok {
		return d
	}
	return 2
}

// FormatMajor formats an amount in minor units as a decimal string in
// major units with exactly MinorDigits(currency) fraction digits, as
// providers that speak major units expect: 150050 RUB -> "1500.50".
func FormatMajor(minor *big.Int, currency string) string {
	if minor == nil {
		return ""
	}
	d := MinorDigits(currency)
	neg := minor.Sign() < 0
	s := new(big.Int).Abs(minor).String()
	if d > 0 {
		if len(s) <= d {
			s = strings.Repeat("0", d-len(s)+1) + s
		}
		s = s[:len(s)-d] + "." + s[len(s)-d:]
	}
	if neg {
		s = "-" + s
	}
	return s
}

// ErrAmountFormat is returned by ParseMajor for a malformed amount.
var ErrAmountFormat = errors.New("bridge: malformed decimal amount")

// ParseMajor parses a decimal amount in major units ("1500.5", "1500.50",
// "1500", "-3.00") into minor units of currency. More fraction digits than
// the currency has are an error unless they are zeros.
func ParseMajor(s, currency string) (*big.Int, error) {
	d := MinorDigits(currency)
	str := strings.TrimSpace(s)
	neg := false
	if strings.HasPrefix(str, "-") {
		neg, str = true, str[1:]
	}
	whole, frac, _ := strings.Cut(str, ".")
	if whole == "" || !digits(whole) || (strings.Contains(str, ".") && (frac == "" || !digits(frac))) {
		return nil, fmt.Errorf("%w: %q", ErrAmountFormat, s)
	}
	if len(frac) > d {
		if strings.Trim(frac[d:], "0") != "" {
			return nil, fmt.Errorf("%w: %q has more than %d fraction digits for %s", ErrAmountFormat, s, d, currency)
		}
		frac = frac[:d]
	}
	frac += strings.Repeat("0", d-len(frac))
	v, ok := new(big.Int).SetString(whole+frac, 10)
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrAmountFormat, s)
	}
	if neg {
		v.Neg(v)
	}
	return v, nil
}

func digits(s string) bool {
	if len(s) > 40 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
