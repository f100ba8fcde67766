package blockscanner_test

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/ton-custody/processor/internal/apierr"
	"github.com/ton-custody/processor/internal/blockscanner"
	"github.com/ton-custody/processor/internal/config"
)

func hashOf(n int) []byte {
	h := make([]byte, 32)
	h[0], h[1], h[31] = byte(n>>8), byte(n), 0x77
	return h
}

func hashes(list []blockscanner.Income) []string {
	out := make([]string, len(list))
	for i, in := range list {
		out[i] = hex.EncodeToString(in.TxHash)
	}
	return out
}

// Paging by key gives exactly what one History call gives, in both
// orders, with ties on the transaction time, from any offset; an income
// recorded between pages neither repeats nor shifts them.
func TestHistoryPageWalksTheSameOrderAsHistory(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	w1, w2 := f.deposit("alice", "TON", 1), f.deposit("alice", "TON", 2)
	other := f.deposit("bob", "TON", 3)
	for i := range 40 {
		w := w1
		if i%3 == 0 {
			w = w2
		}
		f.income(incomeRow{wallet: w, currency: "TON", amount: fmt.Sprint(i + 1), hash: hashOf(i), utime: int64(100 + i/4)}) // 4 per second
	}
	f.income(incomeRow{wallet: other, currency: "TON", amount: "1", hash: hashOf(999), utime: 105})
	m := f.readModel(config.Testnet, config.CountDeposit)
	ctx := context.Background()
	for _, asc := range []bool{false, true} {
		for _, offset := range []int64{0, 3, 39, 40, 50} {
			want, err := m.History(ctx, "alice", "TON", blockscanner.MaxHistoryLimit, int(offset), asc)
			if err != nil {
				t.Fatal(err)
			}
			var got []blockscanner.Income
			var key *blockscanner.HistoryKey
			for page := 0; ; page++ {
				off := offset
				if page > 0 {
					off = 0
				}
				list, next, err := m.HistoryPage(ctx, "alice", "TON", key, off, 7, asc)
				if err != nil {
					t.Fatal(err)
				}
				if (len(list) == 0) != (next == nil) {
					t.Fatalf("page of %d with key %v", len(list), next)
				}
				got = append(got, list...)
				if len(list) < 7 {
					break
				}
				key = next
			}
			if !slices.Equal(hashes(got), hashes(want)) {
				t.Errorf("asc=%v offset %d: pages give %v, History %v", asc, offset, hashes(got), hashes(want))
			}
		}
	}

	// Newest first: an income recorded after the first page would shift an
	// offset page by one (the last row again); a key page does not move.
	first, key, err := m.HistoryPage(ctx, "alice", "TON", nil, 0, 10, false)
	if err != nil {
		t.Fatal(err)
	}
	f.income(incomeRow{wallet: w1, currency: "TON", amount: "5", hash: hashOf(500), utime: 1000})
	second, _, err := m.HistoryPage(ctx, "alice", "TON", key, 0, 10, false)
	if err != nil {
		t.Fatal(err)
	}
	all, err := m.History(ctx, "alice", "TON", 21, 0, false)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := hashes(append(first, second...)), hashes(all[1:]); !slices.Equal(got, want) {
		t.Errorf("pages around an insert %v, want %v", got, want)
	}

	for _, bad := range []struct {
		key    *blockscanner.HistoryKey
		offset int64
		limit  int
	}{{nil, 0, 0}, {nil, 0, blockscanner.MaxHistoryLimit + 1}, {nil, -1, 10}, {key, 5, 10}} {
		if _, _, err := m.HistoryPage(ctx, "alice", "TON", bad.key, bad.offset, bad.limit, false); !errors.Is(err, apierr.ErrBadRequest) {
			t.Errorf("%+v: err %v, want a bad request", bad, err)
		}
	}
}
