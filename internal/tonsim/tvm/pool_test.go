package tvm

import (
	"bytes"
	"context"
	"errors"
	"math/big"
	"sync"
	"testing"
	"time"

	"github.com/xssnick/tonutils-go/address"
	"github.com/xssnick/tonutils-go/tlb"
	"github.com/xssnick/tonutils-go/tvm/cell"
)

// TestPoolConcurrentCallsMatchASingleInstance drives a pool from two
// goroutines with two configs and checks every result against one computed
// on a private instance (emulation is deterministic with fixed parameters).
// Run with -race to check the pool's bookkeeping.
func TestPoolConcurrentCallsMatchASingleInstance(t *testing.T) {
	eng, a := testEngine(t)
	ctx := context.Background()
	in, _ := testInstance(t)
	slim, err := SlimConfig(a.Config)
	if err != nil {
		t.Fatal(err)
	}
	configs := []*cell.Cell{a.Config, slim}

	ref := testEmulator(t, in, a.Config)
	f := newTransferFixture(t, ref)
	want, err := ref.Emulate(ctx, f.sa, f.msg, f.params)
	if err != nil {
		t.Fatal(err)
	}
	acc := parseAccount(t, f.sa)
	gmp := GetMethodParams{Code: acc.code, Data: acc.data, Address: addrOfShardAccount(t, f.sa),
		Balance: acc.balance, UTime: f.params.UTime, Method: "seqno"}

	pool := NewPool(eng, PoolOptions{Size: 2})
	defer pool.Close(ctx)
	const goroutines, rounds = 2, 15
	var wg sync.WaitGroup
	errs := make(chan error, goroutines*rounds*2)
	for g := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range rounds {
				cfg := configs[(g+i)%len(configs)]
				r, err := pool.Emulate(ctx, cfg, f.sa, f.msg, f.params)
				switch {
				case err != nil:
					errs <- err
				case !bytes.Equal(r.Transaction.Hash(), want.Transaction.Hash()):
					errs <- errors.New("pool produced a different transaction")
				}
				p := gmp
				p.Config = cfg
				gm, err := pool.RunGetMethod(ctx, p)
				if err != nil {
					errs <- err
					continue
				}
				if vals, err := gm.Values(); err != nil || len(vals) != 1 || vals[0].(*big.Int).Int64() != 1 {
					errs <- errors.New("seqno mismatch")
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func addrOfShardAccount(t testing.TB, sa *cell.Cell) *address.Address {
	t.Helper()
	var s tlb.ShardAccount
	if err := tlb.LoadFromCell(&s, sa.BeginParse()); err != nil {
		t.Fatal(err)
	}
	sl := s.Account.BeginParse()
	sl.MustLoadBoolBit()
	return sl.MustLoadAddr()
}

func TestPoolReplacesATrappedInstance(t *testing.T) {
	eng, a := testEngine(t)
	ctx := context.Background()
	pool := NewPool(eng, PoolOptions{Size: 1})
	defer pool.Close(ctx)
	utime := now()
	msg := internalMsg(t, addrFromByte(0x71), addrFromByte(0x72), tlb.MustFromTON("1"), false, nil, nil, utime)
	run := func() {
		t.Helper()
		r, err := pool.Emulate(ctx, a.Config, NoneShardAccount(), msg, Params{UTime: utime, LT: 1})
		if err != nil || !r.Success {
			t.Fatalf("%v %+v", err, r)
		}
	}
	run()

	// Break the only instance: destroying an emulator at an address far
	// outside linear memory is an out-of-bounds access, i.e. a trap.
	s, err := pool.borrow(ctx)
	if err != nil {
		t.Fatal(err)
	}
	broken := s.in
	_, err = broken.callTop(ctx, expDestroyEmulator, 0xfffffff0)
	if !errors.Is(err, ErrInstanceBroken) || !errors.Is(broken.Err(), ErrInstanceBroken) {
		t.Fatalf("trap not detected: %v", err)
	}
	if _, err := broken.Version(ctx); !errors.Is(err, ErrInstanceBroken) {
		t.Fatalf("broken instance still callable: %v", err)
	}
	pool.release(ctx, s)

	run()
	s, err = pool.borrow(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if s.in == broken || s.in.Err() != nil {
		t.Fatal("trapped instance was not replaced")
	}
	pool.release(ctx, s)
}

func TestPoolCloseAndContext(t *testing.T) {
	eng, a := testEngine(t)
	ctx := context.Background()
	pool := NewPool(eng, PoolOptions{Size: 1})
	s, err := pool.borrow(ctx) // hold the only slot
	if err != nil {
		t.Fatal(err)
	}
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if _, err := pool.Emulate(short, a.Config, NoneShardAccount(), NoneShardAccount(), Params{}); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("waiting borrower: %v", err)
	}

	waiter := make(chan error, 1)
	go func() {
		_, err := pool.RunGetMethod(ctx, GetMethodParams{})
		waiter <- err
	}()
	closed := make(chan error, 1)
	go func() { closed <- pool.Close(ctx) }()
	if err := <-waiter; !errors.Is(err, ErrClosed) {
		t.Fatalf("borrower woken by Close: %v", err)
	}
	pool.release(ctx, s)
	if err := <-closed; err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Emulate(ctx, a.Config, NoneShardAccount(), NoneShardAccount(), Params{}); !errors.Is(err, ErrClosed) {
		t.Fatalf("after Close: %v", err)
	}
}
