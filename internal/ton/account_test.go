package ton

import (
	"bytes"
	"math/big"
	"testing"

	"github.com/xssnick/tonutils-go/address"
	"github.com/xssnick/tonutils-go/tvm/cell"
)

// accountCell builds an Account cell (block.tlb) with the given storage
// extra tag (0 none, 1 info) and state (0 uninit, 1 active, 2 frozen).
func accountCell(t *testing.T, extra uint64, state int, balance *big.Int, due bool) *cell.Cell {
	t.Helper()
	b := cell.BeginCell().MustStoreBoolBit(true).
		MustStoreAddr(address.NewAddress(0, 0, bytes.Repeat([]byte{7}, 32))).
		MustStoreVarUInt(3, 7).MustStoreVarUInt(900, 7). // cells, bits
		MustStoreUInt(extra, 3)
	if extra == 1 {
		b.MustStoreSlice(bytes.Repeat([]byte{0xab}, 32), 256)
	}
	b.MustStoreUInt(1_700_000_000, 32).MustStoreBoolBit(due)
	if due {
		b.MustStoreBigCoins(big.NewInt(5))
	}
	b.MustStoreUInt(123456, 64).MustStoreBigCoins(balance).MustStoreMaybeRef(nil)
	switch state {
	case 0:
		b.MustStoreUInt(0, 2)
	case 1:
		// StateInit: no split_depth, no special, code, data, no library.
		b.MustStoreBoolBit(true).MustStoreUInt(0b00110, 5).
			MustStoreRef(cell.BeginCell().MustStoreUInt(1, 8).EndCell()).
			MustStoreRef(cell.BeginCell().MustStoreUInt(2, 8).EndCell())
	case 2:
		b.MustStoreUInt(0b01, 2).MustStoreSlice(bytes.Repeat([]byte{0xcd}, 32), 256)
	}
	return b.EndCell()
}

func TestParseAccount(t *testing.T) {
	bal := big.NewInt(987_654_321)
	for _, tc := range []struct {
		name   string
		extra  uint64
		state  int
		due    bool
		status string
	}{
		{"active without storage extra", 0, 1, false, StatusActive},
		{"active with storage_extra_info (jetton minter, misparsed by tonutils-go)", 1, 1, false, StatusActive},
		{"uninit with storage_extra_info and a due payment", 1, 0, true, StatusUninit},
		{"frozen with due payment", 0, 2, true, StatusFrozen},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, got, err := parseAccount(accountCell(t, tc.extra, tc.state, bal, tc.due))
			if err != nil || status != tc.status || got.Cmp(bal) != 0 {
				t.Fatalf("parseAccount = %q %v %v, want %q %v", status, got, err, tc.status, bal)
			}
		})
	}
	t.Run("account_none", func(t *testing.T) {
		status, got, err := parseAccount(cell.BeginCell().MustStoreBoolBit(false).EndCell())
		if err != nil || status != StatusNonExist || got.Sign() != 0 {
			t.Fatalf("parseAccount = %q %v %v", status, got, err)
		}
	})
	t.Run("unknown storage extra tag", func(t *testing.T) {
		if _, _, err := parseAccount(accountCell(t, 2, 1, bal, false)); err == nil {
			t.Fatal("tag $010 accepted")
		}
	})
	t.Run("truncated", func(t *testing.T) {
		c := cell.BeginCell().MustStoreBoolBit(true).MustStoreAddr(address.NewAddress(0, 0, bytes.Repeat([]byte{7}, 32))).EndCell()
		if _, _, err := parseAccount(c); err == nil {
			t.Fatal("truncated account accepted")
		}
	})
}
