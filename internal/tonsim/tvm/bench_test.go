package tvm

import (
	"context"
	"testing"
	"time"

	"github.com/xssnick/tonutils-go/tlb"
	"github.com/xssnick/tonutils-go/tvm/cell"
)

// transferFixture is a simple inbound TON transfer into an active V4R2
// wallet: the most common transaction a custody simulator runs.
type transferFixture struct {
	sa, msg *cell.Cell
	params  Params
}

func newTransferFixture(b testing.TB, em *Emulator) transferFixture {
	utime := now()
	tw, sa := deployedV4R2(b, em, 0x77, utime)
	comment := cell.BeginCell().MustStoreUInt(0, 32).MustStoreStringSnake("deposit").EndCell()
	msg := internalMsg(b, addrFromByte(0x78), tw.w.WalletAddress(), tlb.MustFromTON("1"), true, nil, comment, utime)
	return transferFixture{sa: sa, msg: msg, params: Params{UTime: utime, LT: 10_000_000}}
}

func reportTxPerSec(b *testing.B, n int, d time.Duration) {
	b.ReportMetric(float64(n)/d.Seconds(), "tx/s")
}

// BenchmarkEmulateTransfer measures one instance (one core) with the full
// mainnet config and with @ton/sandbox's slim config.
func BenchmarkEmulateTransfer(b *testing.B) {
	_, a := testEngine(b)
	for _, c := range []struct {
		name string
		cfg  *cell.Cell
	}{{"full-config", a.Config}, {"slim-config", a.SlimConfig}} {
		b.Run(c.name, func(b *testing.B) {
			ctx := context.Background()
			in, _ := testInstance(b)
			em := testEmulator(b, in, c.cfg)
			f := newTransferFixture(b, em)
			b.ReportAllocs()
			b.ResetTimer()
			start := time.Now()
			for range b.N {
				r, err := em.Emulate(ctx, f.sa, f.msg, f.params)
				if err != nil || !r.Success {
					b.Fatalf("%v %+v", err, r)
				}
			}
			reportTxPerSec(b, b.N, time.Since(start))
		})
	}
}

// BenchmarkPoolParallel runs the same transfer from GOMAXPROCS goroutines
// over a pool of runtime.NumCPU() instances.
func BenchmarkPoolParallel(b *testing.B) {
	eng, a := testEngine(b)
	ctx := context.Background()
	pool := NewPool(eng, PoolOptions{})
	defer pool.Close(ctx)

	in, _ := testInstance(b)
	f := newTransferFixture(b, testEmulator(b, in, a.Config))
	// warm every instance (instantiation + config parsing) before timing
	warm := make(chan error, pool.Size())
	for range pool.Size() {
		go func() {
			_, err := pool.Emulate(ctx, a.Config, f.sa, f.msg, f.params)
			warm <- err
		}()
	}
	for range pool.Size() {
		if err := <-warm; err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			r, err := pool.Emulate(ctx, a.Config, f.sa, f.msg, f.params)
			if err != nil || !r.Success {
				b.Errorf("%v %+v", err, r)
				return
			}
		}
	})
	reportTxPerSec(b, b.N, time.Since(start))
}

// BenchmarkRunGetMethod runs the wallet's seqno get method. The emulator
// unpacks the config on every get-method call, so the config size dominates.
func BenchmarkRunGetMethod(b *testing.B) {
	_, a := testEngine(b)
	slim, err := SlimConfig(a.Config)
	if err != nil {
		b.Fatal(err)
	}
	for _, c := range []struct {
		name string
		cfg  *cell.Cell
	}{{"full-config", a.Config}, {"SlimConfig", slim}, {"sandbox-slim-config", a.SlimConfig}} {
		b.Run(c.name, func(b *testing.B) {
			ctx := context.Background()
			in, _ := testInstance(b)
			em := testEmulator(b, in, a.Config)
			tw, sa := deployedV4R2(b, em, 0x79, now())
			acc := parseAccount(b, sa)
			p := GetMethodParams{Code: acc.code, Data: acc.data, Address: tw.w.WalletAddress(), Balance: acc.balance,
				UTime: now(), Method: "seqno", Config: c.cfg}
			b.ResetTimer()
			start := time.Now()
			for range b.N {
				r, err := in.RunGetMethod(ctx, p)
				if err != nil || r.ExitCode != 0 {
					b.Fatalf("%v %+v", err, r)
				}
			}
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "calls/s")
		})
	}
}

// BenchmarkNewInstance measures instantiation plus static constructors, and
// BenchmarkNewEmulator the config parsing of create_emulator.
func BenchmarkNewInstance(b *testing.B) {
	eng, _ := testEngine(b)
	ctx := context.Background()
	for range b.N {
		in, err := eng.NewInstance(ctx)
		if err != nil {
			b.Fatal(err)
		}
		_ = in.Close(ctx)
	}
}

func BenchmarkNewEmulator(b *testing.B) {
	in, a := testInstance(b)
	ctx := context.Background()
	for range b.N {
		em, err := in.NewEmulator(ctx, a.Config, 0)
		if err != nil {
			b.Fatal(err)
		}
		_ = em.Close(ctx)
	}
}
