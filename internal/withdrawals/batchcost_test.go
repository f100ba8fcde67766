package withdrawals

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgtype"
	"github.com/xssnick/tonutils-go/address"
	"github.com/xssnick/tonutils-go/tlb"
	"github.com/xssnick/tonutils-go/ton/wallet"
	"github.com/xssnick/tonutils-go/tvm/cell"

	"github.com/ton-custody/processor/internal/wallets"
)

// testWorker is a worker that can build and sign batches offline.
func testWorker(t *testing.T) *Worker {
	t.Helper()
	keys, err := wallets.DeriveKeys(wallet.NewSeed())
	if err != nil {
		t.Fatal(err)
	}
	hot, err := wallets.NewHotWallet(keys, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	jw := address.NewAddress(0, 0, make([]byte, 32))
	return &Worker{hot: hot, conf: WorkerConfig{MaxBatch: 1000, JettonGas: tlb.MustFromTON("0.05").Nano(), JettonForward: tlb.MustFromTON("0.01").Nano(),
		Jettons: map[string]Jetton{"USDT": {Symbol: "USDT", HotJettonWallet: jw}}}}
}

// sign builds the batch's external as writeBatch does.
func (w *Worker) signForTest(t *testing.T, msgs []*wallet.Message, deploy bool) (*tlb.ExternalMessage, *cell.Cell) {
	t.Helper()
	hw, err := w.hot.Wallet(nil, func(context.Context, uint32) (uint32, int64, error) { return 12345, time.Now().Unix(), nil })
	if err != nil {
		t.Fatal(err)
	}
	ext, err := hw.PrepareExternalMessageForMany(context.Background(), deploy, append([]*wallet.Message(nil), msgs...))
	if err != nil {
		t.Fatal(err)
	}
	c, err := tlb.ToCell(ext)
	if err != nil {
		t.Fatal(err)
	}
	return ext, c
}

func row(i int, currency string, comment *string, bin pgtype.Bits) pendingRow {
	d := make([]byte, 32)
	copy(d, fmt.Sprintf("dest-%06d", i))
	return pendingRow{id: int64(i + 1), currency: currency, amount: big.NewInt(1_000_000_000 + int64(i)), dest: address.NewAddress(0, 0, d),
		comment: comment, binary: bin}
}

// The largest request the API accepts (a 1000-byte comment, or a 1023-bit
// binary comment; TON or jetton), alone in a deploying batch, is far under
// the external limits: a single request always fits, so the API needs no
// further check.
func TestLargestSingleRequestFitsOneExternal(t *testing.T) {
	w := testWorker(t)
	long := strings.Repeat("€", MaxCommentBytes/3) + "x" // 1000 bytes of UTF-8, multi-byte
	if len(long) != MaxCommentBytes {
		t.Fatalf("comment of %d bytes", len(long))
	}
	bits := pgtype.Bits{Bytes: make([]byte, 128), Len: MaxBinaryCommentBits, Valid: true}
	for i := range bits.Bytes {
		bits.Bytes[i] = 0xA5
	}
	for _, r := range []pendingRow{row(0, "TON", &long, pgtype.Bits{}), row(1, "USDT", &long, pgtype.Bits{}),
		row(2, "TON", nil, bits), row(3, "USDT", nil, bits)} {
		msg, err := w.message(r)
		if err != nil {
			t.Fatal(err)
		}
		_, c := w.signForTest(t, []*wallet.Message{msg}, true)
		size, cells, depth := len(c.ToBOCWithFlags(false)), sizeOf(c).cells, int(c.Depth())
		if size > 4_000 || cells > 100 || depth > 40 {
			t.Fatalf("%s request: external of %d bytes, %d cells, depth %d", r.currency, size, cells, depth)
		}
		it, err := newBatchItem(msg)
		if err != nil {
			t.Fatal(err)
		}
		if !newBudget(defaultPrices(), 1000, true).fits(it) {
			t.Fatalf("%s request does not fit an empty batch", r.currency)
		}
	}
}

// The budget's bounds hold for the signed message: a batch filled by the
// budget is within the external limits, and its exact reserve (read from
// the signed message) is within the bound the picker used, and covers the
// values and the wrappers' own values.
func TestBudgetBoundsTheSignedBatch(t *testing.T) {
	w := testWorker(t)
	hot := w.hot.Address()
	for _, tc := range []struct {
		name string
		row  func(i int) pendingRow
	}{
		{"no comment", func(i int) pendingRow { return row(i, "TON", nil, pgtype.Bits{}) }},
		{"12-byte comments", func(i int) pendingRow { c := fmt.Sprintf("payout %05d", i); return row(i, "TON", &c, pgtype.Bits{}) }},
		{"distinct 1000-byte comments", func(i int) pendingRow { c := longComment(i); return row(i, "TON", &c, pgtype.Bits{}) }},
		{"jettons with comments", func(i int) pendingRow {
			c := fmt.Sprintf("jetton payout %d", i)
			return row(i, "USDT", &c, pgtype.Bits{})
		}},
	} {
		for _, prices := range []feePrices{defaultPrices(), lowPrices()} {
			for _, deploy := range []bool{false, true} {
				t.Run(fmt.Sprintf("%s deploy=%v", tc.name, deploy), func(t *testing.T) {
					b := newBudget(prices, w.conf.MaxBatch, deploy)
					var msgs []*wallet.Message
					values := new(big.Int)
					for i := 0; i < w.conf.MaxBatch; i++ {
						msg, err := w.message(tc.row(i))
						if err != nil {
							t.Fatal(err)
						}
						it, err := newBatchItem(msg)
						if err != nil {
							t.Fatal(err)
						}
						if !b.fits(it) {
							break
						}
						b.add(it)
						msgs = append(msgs, msg)
						values.Add(values, it.value)
					}
					ext, c := w.signForTest(t, msgs, deploy)
					size, cells, depth := len(c.ToBOCWithFlags(false)), sizeOf(c).cells, int(c.Depth())
					if size > MaxExternalBytes || cells > MaxExternalCells || depth > MaxExternalDepth {
						t.Fatalf("%d messages: external of %d bytes, %d cells, depth %d", len(msgs), size, cells, depth)
					}
					if size < MaxExternalBytes*3/4 && len(msgs) < w.conf.MaxBatch {
						t.Fatalf("%d messages: only %d bytes, the budget cut far too early", len(msgs), size)
					}
					exact, err := externalReserve(prices, c, ext.Body, hot)
					if err != nil {
						t.Fatal(err)
					}
					bound := b.reserveWith(nil)
					levels := int64(packLevels(len(msgs)))
					own := new(big.Int).Add(values, new(big.Int).Mul(packPerEntry, big.NewInt(int64(len(msgs))+levels-1)))
					own.Add(own, new(big.Int).Mul(packFixed, big.NewInt(levels)))
					if exact.Cmp(bound) > 0 || exact.Cmp(own) <= 0 {
						t.Fatalf("%d messages (%d levels): exact reserve %s, bound %s, values and wrappers %s", len(msgs), levels, exact, bound, own)
					}
					t.Logf("%d messages, %d levels, %d bytes, %d cells, depth %d; reserve %s (bound %s, values+wrappers %s)",
						len(msgs), levels, size, cells, depth, exact, bound, own)
				})
			}
		}
	}
}

// longComment is a 1000-byte comment no other shares a cell with.
func longComment(i int) string {
	var b strings.Builder
	for n := 0; b.Len() < MaxCommentBytes; n++ {
		h := sha256.Sum256([]byte(fmt.Sprint(i, "/", n)))
		b.WriteString(hex.EncodeToString(h[:]))
	}
	return b.String()[:MaxCommentBytes]
}

// lowPrices are 256 times cheaper per bit and cell than defaultPrices
// (which are also the emulator config's): the bounds must hold for any.
func lowPrices() feePrices {
	return feePrices{lump: big.NewInt(400_000), bitPrice: big.NewInt(102_400), cellPrice: big.NewInt(10_240_000),
		flatGas: big.NewInt(100), flatGasPrice: big.NewInt(40_000), gasPrice: big.NewInt(26_214_400)}
}

// A skipped wrapper's messages are found again from its body, nested
// lists included, in order.
func TestPackLeavesFindsEveryMessage(t *testing.T) {
	w := testWorker(t)
	var msgs []*wallet.Message
	for i := 0; i < 600; i++ {
		m, err := w.message(row(i, "TON", nil, pgtype.Bits{}))
		if err != nil {
			t.Fatal(err)
		}
		msgs = append(msgs, m)
	}
	ext, _ := w.signForTest(t, msgs, false)
	root := ext.Body.MustPeekRef(0).MustPeekRef(0)
	var m tlb.InternalMessage
	if err := tlb.LoadFromCell(&m, root.BeginParse()); err != nil {
		t.Fatal(err)
	}
	leaves, err := packLeaves(m.Body, w.hot.Address())
	if err != nil {
		t.Fatal(err)
	}
	if len(leaves) != len(msgs) {
		t.Fatalf("%d leaves, want %d", len(leaves), len(msgs))
	}
	for i, l := range leaves {
		c, _ := tlb.ToCell(msgs[i].InternalMessage)
		if string(c.Hash()) != string(l.Hash()) {
			t.Fatalf("leaf %d is not message %d", i, i)
		}
	}
}
