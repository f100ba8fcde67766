package chain_test

import (
	"bytes"
	"context"
	"math/big"
	"strings"
	"testing"

	"github.com/xssnick/tonutils-go/address"
	"github.com/xssnick/tonutils-go/tlb"
	"github.com/xssnick/tonutils-go/tvm/cell"

	"github.com/ton-custody/processor/internal/tonsim"
	"github.com/ton-custody/processor/internal/tonsim/chain"
)

// TestNativeCreditMatchesEmulator: a non-bounceable message without state
// init into an account that does not exist is credited natively (no
// emulator) in bulk mode and in every round. The transaction and the
// account it leaves must be bit for bit those the emulator produces; a
// message that cannot buy gas (the emulator skips its compute phase for
// want of gas, not of state) and a bounceable one are left to the
// emulator.
func TestNativeCreditMatchesEmulator(t *testing.T) {
	ctx := context.Background()
	emu, err := tonsim.OpenEmulator(ctx, "", 1)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = emu.Close(ctx) }()
	src := address.MustParseRawAddr("0:" + strings.Repeat("1", 62) + "aa")
	comment := func(s string) *cell.Cell {
		return cell.BeginCell().MustStoreUInt(0, 32).MustStoreStringSnake(s).EndCell()
	}
	cases := []struct {
		name      string
		amount    *big.Int
		body      *cell.Cell
		createdLT uint64
		bounce    bool
		emulated  bool // left to the emulator
	}{
		{"1 nanoton buys no gas", big.NewInt(1), nil, 1000, false, true},
		{"just under the flat gas price", big.NewInt(39_999), nil, 1000, false, true},
		{"the flat gas price", big.NewInt(40_000), nil, 1000, false, false},
		{"bounceable", big.NewInt(1_000_000), nil, 1000, true, true},
		{"short comment", big.NewInt(1_000_000), comment("order 42"), 1000, false, false},
		{"1000-byte comment", big.NewInt(1_000_000), comment(strings.Repeat("x", 1000)), 1999, false, false},
		{"large amount", new(big.Int).Mul(big.NewInt(5_000_000_000), big.NewInt(1_000_000_000)), comment("big"), 10, false, false},
		{"binary body", big.NewInt(123_456_789), cell.BeginCell().MustStoreUInt(0xdeadbeef, 32).MustStoreUInt(7, 64).EndCell(), 1500, false, false},
	}
	for i, c := range cases {
		dst := address.NewAddress(0, 0, bytes.Repeat([]byte{byte(0x20 + i)}, 32))
		in := &tlb.InternalMessage{IHRDisabled: true, Bounce: c.bounce, SrcAddr: src, DstAddr: dst, Amount: tlb.FromNanoTON(c.amount),
			FwdFee: tlb.FromNanoTON(big.NewInt(666672)), Body: c.body, CreatedLT: c.createdLT, CreatedAt: 1_700_000_000}
		if in.Body == nil {
			in.Body = cell.BeginCell().EndCell()
		}
		msgCell, err := tlb.ToCell(in)
		if err != nil {
			t.Fatal(err)
		}
		p := chain.ExecParams{UTime: 1_700_000_005, LT: 2000, RandSeed: make([]byte, 32), Config: emu.Contracts.Config}
		want, err := emu.Execute(ctx, chain.NoAccountForTest(), msgCell, p)
		if err != nil {
			t.Fatal(err)
		}
		got, native, err := chain.NativeCreditForTest(emu.Contracts.Config, dst, msgCell, p)
		if err != nil {
			t.Fatal(err)
		}
		if native == c.emulated {
			t.Errorf("%s: built natively %v, want %v", c.name, native, !c.emulated)
		}
		if !native {
			continue
		}
		if !bytes.Equal(got.Transaction.Hash(), want.Transaction.Hash()) {
			t.Errorf("%s: transaction differs:\nnative\n%s\nemulator\n%s", c.name, got.Transaction.Dump(), want.Transaction.Dump())
		}
		if !bytes.Equal(got.ShardAccount.Hash(), want.ShardAccount.Hash()) {
			t.Errorf("%s: account differs:\nnative\n%s\nemulator\n%s", c.name, got.ShardAccount.Dump(), want.ShardAccount.Dump())
		}
	}
}
