package tvm

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"math/big"
	"sync"
	"testing"
	"time"

	"github.com/xssnick/tonutils-go/address"
	"github.com/xssnick/tonutils-go/tlb"
	"github.com/xssnick/tonutils-go/ton/wallet"
	"github.com/xssnick/tonutils-go/tvm/cell"

	"github.com/ton-custody/processor/internal/tonsim/assets"
)

// The engine is shared by all tests of the package: compiling the module is
// the slow part, and sharing it is what the simulator does too.
var shared struct {
	once sync.Once
	a    *assets.Assets
	eng  *Engine
	err  error
}

func testEngine(t testing.TB) (*Engine, *assets.Assets) {
	t.Helper()
	shared.once.Do(func() {
		ctx := context.Background()
		shared.a, shared.err = assets.Ensure(ctx, assets.DefaultDir())
		if shared.err != nil {
			shared.err = fmt.Errorf("fetching the emulator assets failed (npm must be installed; see package assets): %w", shared.err)
			return
		}
		shared.eng, shared.err = NewEngine(ctx, shared.a)
	})
	if shared.err != nil {
		t.Fatal(shared.err)
	}
	return shared.eng, shared.a
}

func testInstance(t testing.TB) (*Instance, *assets.Assets) {
	t.Helper()
	eng, a := testEngine(t)
	in, err := eng.NewInstance(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = in.Close(context.Background()) })
	return in, a
}

func testEmulator(t testing.TB, in *Instance, cfg *cell.Cell) *Emulator {
	t.Helper()
	em, err := in.NewEmulator(context.Background(), cfg, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = em.Close(context.Background()) })
	return em
}

func toCell(t testing.TB, v any) *cell.Cell {
	t.Helper()
	c, err := tlb.ToCell(v)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// uninitShardAccount is a ShardAccount holding an uninitialised account with
// balance (what a faucet transfer to a fresh wallet address leaves behind).
func uninitShardAccount(t testing.TB, addr *address.Address, balance tlb.Coins, now uint32) *cell.Cell {
	t.Helper()
	acc := cell.BeginCell().
		MustStoreUInt(1, 1). // account$1
		MustStoreAddr(addr).
		MustStoreVarUInt(0, 7).MustStoreVarUInt(0, 7). // storage used: cells, bits
		MustStoreUInt(0, 3).                           // storage_extra_none$000
		MustStoreUInt(uint64(now), 32).                // last_paid
		MustStoreBoolBit(false).                       // no due_payment
		MustStoreUInt(0, 64).                          // last_trans_lt
		MustStoreBigCoins(balance.Nano()).
		MustStoreDict(nil).  // no extra currencies
		MustStoreUInt(0, 2). // account_uninit$00
		EndCell()
	return toCell(t, tlb.ShardAccount{Account: acc, LastTransHash: make([]byte, 32)})
}

// account is the part of an Account the tests look at.
type account struct {
	exists     bool
	status     tlb.AccountStatus
	balance    *big.Int
	code, data *cell.Cell
}

// parseAccount reads a ShardAccount in the current layout (StorageInfo with
// StorageExtraInfo), which tonutils-go v1.12.0's tlb.AccountState does not
// parse in general.
func parseAccount(t testing.TB, shardAccount *cell.Cell) account {
	t.Helper()
	var sa tlb.ShardAccount
	if err := tlb.LoadFromCell(&sa, shardAccount.BeginParse()); err != nil {
		t.Fatal(err)
	}
	s := sa.Account.BeginParse()
	if !s.MustLoadBoolBit() {
		return account{status: tlb.AccountStatusNonExist, balance: new(big.Int)}
	}
	if _, err := s.LoadAddr(); err != nil {
		t.Fatal(err)
	}
	s.MustLoadVarUInt(7)
	s.MustLoadVarUInt(7)
	switch tag := s.MustLoadUInt(3); tag {
	case 0:
	case 1:
		s.MustLoadSlice(256)
	default:
		t.Fatalf("storage_extra tag %d", tag)
	}
	s.MustLoadUInt(32)
	if s.MustLoadBoolBit() {
		s.MustLoadBigCoins()
	}
	var st tlb.AccountStorage
	if err := st.LoadFromCell(s); err != nil {
		t.Fatal(err)
	}
	a := account{exists: true, status: st.Status, balance: st.Balance.Nano()}
	if st.StateInit != nil {
		a.code, a.data = st.StateInit.Code, st.StateInit.Data
	}
	return a
}

func parseTx(t testing.TB, r *Result) *tlb.Transaction {
	t.Helper()
	if r == nil || !r.Success || r.Transaction == nil {
		t.Fatalf("no transaction: %+v", r)
	}
	var tx tlb.Transaction
	if err := tlb.LoadFromCell(&tx, r.Transaction.BeginParse()); err != nil {
		t.Fatal(err)
	}
	return &tx
}

func ordinary(t testing.TB, tx *tlb.Transaction) tlb.TransactionDescriptionOrdinary {
	t.Helper()
	d, ok := tx.Description.(tlb.TransactionDescriptionOrdinary)
	if !ok {
		t.Fatalf("description %T", tx.Description)
	}
	return d
}

func outMessages(t testing.TB, tx *tlb.Transaction) []tlb.Message {
	t.Helper()
	if tx.IO.Out == nil {
		return nil
	}
	msgs, err := tx.IO.Out.ToSlice()
	if err != nil {
		t.Fatal(err)
	}
	return msgs
}

// testWallet is a tonutils-go wallet that builds messages offline: its
// seqno comes from a local counter instead of a liteserver.
type testWallet struct {
	w     *wallet.Wallet
	seqno uint32
}

func newTestWallet(t testing.TB, seedByte byte, ver wallet.VersionConfig) *testWallet {
	t.Helper()
	seed := make([]byte, 32)
	seed[0] = seedByte
	w, err := wallet.FromPrivateKey(nil, ed25519.NewKeyFromSeed(seed), ver)
	if err != nil {
		t.Fatal(err)
	}
	tw := &testWallet{w: w}
	if s, ok := w.GetSpec().(*wallet.SpecV4R2); ok {
		s.SetSeqnoFetcher(func(context.Context, uint32) (uint32, error) { return tw.seqno, nil })
	}
	return tw
}

// external builds a signed external message; withStateInit deploys.
func (tw *testWallet) external(t testing.TB, withStateInit bool, msgs ...*wallet.Message) *cell.Cell {
	t.Helper()
	ext, err := tw.w.PrepareExternalMessageForMany(context.Background(), withStateInit, msgs)
	if err != nil {
		t.Fatal(err)
	}
	return toCell(t, ext)
}

// internalMsg is an inbound internal message from src; the emulator does not
// check that src really sent it.
func internalMsg(t testing.TB, src, dst *address.Address, amount tlb.Coins, bounce bool, si *tlb.StateInit, body *cell.Cell, now uint32) *cell.Cell {
	t.Helper()
	if body == nil {
		body = cell.BeginCell().EndCell()
	}
	return toCell(t, &tlb.InternalMessage{
		IHRDisabled: true, Bounce: bounce, SrcAddr: src, DstAddr: dst, Amount: amount,
		StateInit: si, Body: body, CreatedLT: 1, CreatedAt: now,
	})
}

func addrFromByte(b byte) *address.Address {
	h := make([]byte, 32)
	for i := range h {
		h[i] = b
	}
	return address.NewAddress(0, 0, h)
}

func now() uint32 { return uint32(time.Now().Unix()) }

// deployedV4R2 deploys a V4R2 wallet (funded with 10 TON) and returns it
// with its ShardAccount.
func deployedV4R2(t testing.TB, em *Emulator, seedByte byte, utime uint32) (*testWallet, *cell.Cell) {
	t.Helper()
	tw := newTestWallet(t, seedByte, wallet.V4R2)
	sa := uninitShardAccount(t, tw.w.WalletAddress(), tlb.MustFromTON("10"), utime)
	ext := tw.external(t, true, wallet.SimpleMessage(addrFromByte(0xEE), tlb.MustFromTON("0.5"), nil))
	r, err := em.Emulate(context.Background(), sa, ext, Params{UTime: utime, LT: 1_000_000})
	if err != nil {
		t.Fatal(err)
	}
	if !r.Success {
		t.Fatalf("deploy failed: %s (exit %d)", r.Error, r.VMExitCode)
	}
	tw.seqno++
	return tw, r.ShardAccount
}
