package httpapi_test

import (
	"encoding/hex"
	"strings"
	"testing"

	"github.com/ton-custody/processor/internal/httpapi"
)

// FuzzParseBinaryComment: accepted input gives exactly nbits bits, unused
// trailing bits zero; without the completion tag, the bits are the hex
// digits themselves.
func FuzzParseBinaryComment(f *testing.F) {
	for _, s := range []string{"9fe7_", "deadbeef", "DEADBEEF", "abc", "a8_", "8_", "_", "000_", "0x12", "12_34", "", "ff80_", strings.Repeat("f", 256) + "_"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		bits, n, err := httpapi.ParseBinaryComment(s)
		if err != nil {
			return
		}
		if uint(len(bits)) != (n+7)/8 {
			t.Fatalf("%q: %d bytes for %d bits", s, len(bits), n)
		}
		if n%8 != 0 && bits[len(bits)-1]&(0xff>>(n%8)) != 0 {
			t.Fatalf("%q: unused bits of the last byte are not zero", s)
		}
		if !strings.HasSuffix(s, "_") {
			if n != uint(len(s))*4 {
				t.Fatalf("%q: %d bits, want %d", s, n, len(s)*4)
			}
			padded := s
			if len(padded)%2 == 1 {
				padded += "0"
			}
			want, err := hex.DecodeString(padded)
			if err != nil || hex.EncodeToString(want) != hex.EncodeToString(bits) {
				t.Fatalf("%q parsed as %x", s, bits)
			}
		}
	})
}
