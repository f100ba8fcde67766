package money_test

import (
	"errors"
	"math/big"
	"strings"
	"testing"

	"github.com/ton-custody/processor/internal/money"
)

const (
	max120  = "1329227995784915872903807060280344575" // 2^120-1
	over120 = "1329227995784915872903807060280344576" // 2^120
)

func TestParse(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		in      string
		want    string // decimal; empty when an error is expected
		wantErr error  // for Parse (strictly positive)
		nonNeg  error  // for ParseNonNegative; same as wantErr unless zero
	}{
		{name: "one nanoton", in: "1", want: "1"},
		{name: "one TON", in: "1000000000", want: "1000000000"},
		{name: "max is 2^120-1", in: max120, want: max120},
		{name: "2^120 is too large", in: over120, wantErr: money.ErrTooLarge, nonNeg: money.ErrTooLarge},
		{name: "38 digits", in: "9" + max120, wantErr: money.ErrTooLarge, nonNeg: money.ErrTooLarge},
		{name: "huge input is rejected cheaply", in: strings.Repeat("9", 1<<20), wantErr: money.ErrTooLarge, nonNeg: money.ErrTooLarge},
		{name: "zero is not a transfer amount", in: "0", wantErr: money.ErrZero},
		{name: "empty", in: "", wantErr: money.ErrEmpty, nonNeg: money.ErrEmpty},
		{name: "exponent 1e9", in: "1e9", wantErr: money.ErrSyntax, nonNeg: money.ErrSyntax},
		{name: "hex 0x10", in: "0x10", wantErr: money.ErrSyntax, nonNeg: money.ErrSyntax},
		{name: "leading space", in: " 1", wantErr: money.ErrSyntax, nonNeg: money.ErrSyntax},
		{name: "trailing newline", in: "1\n", wantErr: money.ErrSyntax, nonNeg: money.ErrSyntax},
		{name: "negative", in: "-1", wantErr: money.ErrSyntax, nonNeg: money.ErrSyntax},
		{name: "negative zero", in: "-0", wantErr: money.ErrSyntax, nonNeg: money.ErrSyntax},
		{name: "plus sign", in: "+1", wantErr: money.ErrSyntax, nonNeg: money.ErrSyntax},
		{name: "fraction 1.0", in: "1.0", wantErr: money.ErrSyntax, nonNeg: money.ErrSyntax},
		{name: "underscore separator", in: "1_000", wantErr: money.ErrSyntax, nonNeg: money.ErrSyntax},
		{name: "unicode digit", in: "١", wantErr: money.ErrSyntax, nonNeg: money.ErrSyntax},
		// Decided: leading zeros are refused so every amount has one spelling.
		{name: "leading zeros 00012", in: "00012", wantErr: money.ErrLeadingZero, nonNeg: money.ErrLeadingZero},
		{name: "double zero", in: "00", wantErr: money.ErrLeadingZero, nonNeg: money.ErrLeadingZero},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			check := func(fn string, got *big.Int, err, wantErr error, want string) {
				t.Helper()
				if wantErr != nil {
					if !errors.Is(err, wantErr) {
						t.Fatalf("%s(%.20q) error = %v, want %v", fn, tt.in, err, wantErr)
					}
					if got != nil {
						t.Fatalf("%s(%.20q) returned %v together with an error", fn, tt.in, got)
					}
					return
				}
				if err != nil {
					t.Fatalf("%s(%.20q) unexpected error: %v", fn, tt.in, err)
				}
				if got == nil || got.String() != want {
					t.Fatalf("%s(%.20q) = %v, want %s", fn, tt.in, got, want)
				}
			}
			got, err := money.Parse(tt.in)
			check("Parse", got, err, tt.wantErr, tt.want)

			want := tt.want
			if tt.wantErr == money.ErrZero {
				want = "0"
			}
			got, err = money.ParseNonNegative(tt.in)
			check("ParseNonNegative", got, err, tt.nonNeg, want)
		})
	}
}

func TestErrorsDoNotEchoInput(t *testing.T) {
	t.Parallel()
	// Callers add context (variable or field name); the input itself could
	// be megabytes or contain control characters, so it is never repeated.
	for _, in := range []string{"12abc-distinctive", "0x-distinctive"} {
		_, err := money.Parse(in)
		if err == nil || strings.Contains(err.Error(), "distinctive") {
			t.Fatalf("Parse(%q) error %v must exist and not repeat the input", in, err)
		}
	}
}

func TestMaxIsACopy(t *testing.T) {
	t.Parallel()
	m := money.Max()
	if m.String() != max120 {
		t.Fatalf("Max() = %s, want %s", m, max120)
	}
	m.SetInt64(0)
	if money.Max().String() != max120 {
		t.Fatal("modifying the result of Max changed the limit")
	}
}

func TestValid(t *testing.T) {
	t.Parallel()
	over, _ := new(big.Int).SetString(over120, 10)
	tests := []struct {
		name string
		v    *big.Int
		want bool
	}{
		{"nil", nil, false},
		{"zero", big.NewInt(0), false},
		{"negative", big.NewInt(-1), false},
		{"one", big.NewInt(1), true},
		{"max", money.Max(), true},
		{"2^120", over, false},
	}
	for _, tt := range tests {
		if got := money.Valid(tt.v); got != tt.want {
			t.Errorf("Valid(%s) = %v, want %v", tt.name, got, tt.want)
		}
	}
}
