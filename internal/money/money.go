// Package money parses amounts of TON and jettons given in base units
// (nanoton, jetton base units) as decimal strings.
//
// Only the canonical decimal form is accepted: ASCII digits, no sign, no
// spaces, no fraction, no exponent, no hex, no leading zeros (except "0"
// itself where zero is allowed). One amount therefore has exactly one
// spelling, so a request body can be compared byte for byte, and a client
// that pads ("00012"), sends a float ("1.0", "1e9") or an octal-looking
// value gets an error instead of a guess.
//
// The upper bound is 2^120-1, the largest VarUInteger 16 (TEP-74 jetton
// amounts and TON coin values on chain).
package money

import (
	"errors"
	"math/big"
)

// Sentinel errors, wrapped by Parse and ParseNonNegative so callers can map
// them with errors.Is. Their text never repeats the input.
var (
	ErrEmpty       = errors.New("amount is empty")
	ErrSyntax      = errors.New("amount must be a decimal integer in base units (digits only, no sign, fraction, exponent or spaces)")
	ErrLeadingZero = errors.New("amount must not have leading zeros")
	ErrZero        = errors.New("amount must be greater than zero")
	ErrTooLarge    = errors.New("amount must not exceed 2^120-1")
)

// maxDigits is the number of decimal digits of 2^120-1; longer inputs are
// rejected before any big.Int work so a huge string costs nothing.
const maxDigits = 37

// maxAmount is 2^120-1. Never handed out: callers get copies from Max.
var maxAmount = new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 120), big.NewInt(1))

// Max returns 2^120-1, the largest amount accepted. The result is a fresh
// copy that the caller may modify.
func Max() *big.Int {
	return new(big.Int).Set(maxAmount)
}

// Parse parses a strictly positive amount in base units.
func Parse(s string) (*big.Int, error) {
	v, err := ParseNonNegative(s)
	if err != nil {
		return nil, err
	}
	if v.Sign() == 0 {
		return nil, ErrZero
	}
	return v, nil
}

// ParseNonNegative parses an amount in base units that may be zero (used
// for thresholds and balances, never for a transfer).
func ParseNonNegative(s string) (*big.Int, error) {
	if s == "" {
		return nil, ErrEmpty
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return nil, ErrSyntax
		}
	}
	if len(s) > 1 && s[0] == '0' {
		return nil, ErrLeadingZero
	}
	if len(s) > maxDigits {
		return nil, ErrTooLarge
	}
	v, ok := new(big.Int).SetString(s, 10)
	if !ok {
		// Unreachable after the digit check; kept so a future edit cannot
		// turn a parse failure into a nil amount.
		return nil, ErrSyntax
	}
	if v.Cmp(maxAmount) > 0 {
		return nil, ErrTooLarge
	}
	return v, nil
}

// Valid reports whether v is a usable transfer amount: 0 < v <= 2^120-1.
func Valid(v *big.Int) bool {
	return v != nil && v.Sign() > 0 && v.Cmp(maxAmount) <= 0
}
