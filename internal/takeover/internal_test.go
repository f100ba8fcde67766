package takeover

import (
	"bytes"
	"testing"

	"github.com/ton-custody/processor/internal/httpapi"
	"github.com/ton-custody/processor/internal/withdrawals"
)

// bicycle's binary_comment is read into the same bits this processor's
// API makes of it, so a retry of an imported request hashes the same.
func TestFiftBitsAreTheAPIsBinaryComment(t *testing.T) {
	t.Parallel()
	for _, in := range []string{"", "00", "9fe7_", "8_", "ABCDEF", "abc", "1234567_", "80_", "f", "0_"} {
		bits, n, err := withdrawals.ParseBinaryComment(in) // what the import uses
		abits, an, aerr := httpapi.ParseBinaryComment(in)
		if (err == nil) != (aerr == nil) || n != an || !bytes.Equal(bits, abits) {
			t.Errorf("%q: takeover %x/%d/%v, API %x/%d/%v", in, bits, n, err, abits, an, aerr)
		}
	}
}

func TestParseAmountTruncatesLikeBicycle(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]struct {
		v    string
		frac bool
	}{"1000": {"1000", false}, "1.5": {"1", true}, "2.000": {"2", false}, "0.9": {"0", true}} {
		v, frac, err := parseAmount(in)
		if err != nil || v.String() != want.v || frac != want.frac {
			t.Errorf("%q: %v %v %v, want %s %v", in, v, frac, err, want.v, want.frac)
		}
	}
	for _, bad := range []string{"", "1e9", "abc", "1.2x"} {
		if _, _, err := parseAmount(bad); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}

func TestShardCovers(t *testing.T) {
	t.Parallel()
	acct := append([]byte{0x6f}, make([]byte, 31)...)
	for shard, want := range map[uint64]bool{
		0x8000000000000000: true,  // the whole workchain
		0x4000000000000000: true,  // prefix 0
		0xc000000000000000: false, // prefix 1
		0x6f80000000000000: true,  // prefix 0x6f
		0x6e80000000000000: false,
	} {
		if got := shardCovers(shard, acct); got != want {
			t.Errorf("shard %016x covers 6f..: %v, want %v", shard, got, want)
		}
	}
}
