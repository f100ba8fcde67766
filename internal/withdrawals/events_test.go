package withdrawals_test

import (
	"bytes"
	"math/rand/v2"
	"testing"

	"github.com/ton-custody/processor/internal/httpapi"
	"github.com/ton-custody/processor/internal/withdrawals"
)

// The webhook's binary_comment is the API's own form: parsing it gives the
// stored bits back, and a canonical input comes back unchanged.
func TestFormatBinaryCommentIsTheAPIForm(t *testing.T) {
	for in, want := range map[string]string{
		"9fe7_": "9fe7_", "9FE7_": "9fe7_", "deadbeef": "deadbeef", "abc": "abc", "4_": "4_", "c_": "c_",
		"a8_": "a", "ff80_": "ff", // whole digits need no tag
	} {
		bits, n, err := httpapi.ParseBinaryComment(in)
		if err != nil {
			t.Fatalf("%q: %v", in, err)
		}
		if got := withdrawals.FormatBinaryComment(bits, n); got != want {
			t.Fatalf("%q (%d bits): formatted %q, want %q", in, n, got, want)
		}
	}
	r := rand.New(rand.NewPCG(1, 2))
	for range 2000 {
		n := uint(1 + r.IntN(withdrawals.MaxBinaryCommentBits))
		bits := make([]byte, (n+7)/8)
		for i := range bits {
			bits[i] = byte(r.Uint32())
		}
		if n%8 != 0 {
			bits[len(bits)-1] &= byte(0xff << (8 - n%8))
		}
		s := withdrawals.FormatBinaryComment(bits, n)
		back, m, err := httpapi.ParseBinaryComment(s)
		if err != nil || m != n || !bytes.Equal(back, bits) {
			t.Fatalf("%d bits %x: formatted %q, parsed back %d bits %x (%v)", n, bits, s, m, back, err)
		}
	}
}
