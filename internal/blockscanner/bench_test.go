package blockscanner_test

import (
	"context"
	"crypto/sha256"
	"fmt"
	"math/big"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/xssnick/tonutils-go/address"

	"github.com/ton-custody/processor/internal/blockscanner"
	"github.com/ton-custody/processor/internal/config"
	"github.com/ton-custody/processor/internal/notify"
	"github.com/ton-custody/processor/internal/store/storetest"
	"github.com/ton-custody/processor/internal/tonsim"
	"github.com/ton-custody/processor/internal/tonsim/chain"
)

func benchAcct(seed string, i int) *address.Address {
	h := sha256.Sum256([]byte(fmt.Sprint(seed, i)))
	return address.NewAddress(0, 0, h[:])
}

// batchEnqueue writes a batch's deposit events the way the processor does
// (internal/app's enqueueDeposit: notify.EnqueueAll, one statement), so
// the catch-up benchmarks measure the production insert path rather than
// outboxEnqueue's statement per event (issue 17: that round trip per
// deposit was most of BenchmarkCatchUpDepositHeavy's database time).
func batchEnqueue(ctx context.Context, tx pgx.Tx, events []blockscanner.Event) error {
	out := make([]notify.Event, len(events))
	for i, ev := range events {
		out[i] = notify.Event{Topic: ev.Topic, ID: ev.ID, Payload: ev.Data}
	}
	_, err := notify.EnqueueAll(ctx, tx, out)
	return err
}

// benchCatchUp prepares a chain of blocks (bulk mode, 4 shards) and measures
// how fast a scanner starting behind it reaches the head, over ADNL, into
// PostgreSQL. perBlock transfers go to watched deposits, noise to others.
func benchCatchUp(b *testing.B, blocks, perBlock, noise int) {
	e := newEnv(b, tonsim.Options{Manual: true})
	ctx := context.Background()
	const watchedN = 5000
	start := e.net.Chain.Last().ID.SeqNo + 1
	for i := 0; i < blocks; i++ {
		var list []chain.BulkTransfer
		for j := 0; j < perBlock; j++ {
			list = append(list, chain.BulkTransfer{To: benchAcct("dep", (i*perBlock+j)%watchedN), Amount: big.NewInt(1000)})
		}
		for j := 0; j < noise; j++ {
			list = append(list, chain.BulkTransfer{To: benchAcct("noise", i*noise+j), Amount: big.NewInt(7)})
		}
		if err := e.net.Chain.BulkLoad(list); err != nil {
			b.Fatal(err)
		}
		if _, err := e.net.ProduceBlock(ctx); err != nil {
			b.Fatal(err)
		}
	}
	head := e.net.Chain.Last().ID.SeqNo
	relevant := blocks * perBlock
	b.ResetTimer()
	for it := 0; it < b.N; it++ {
		b.StopTimer()
		db := storetest.NewDB(b)
		rows := make([][]any, watchedN)
		for i := range rows {
			rows[i] = []any{fmt.Sprint("u", i%1000), "TON", int64(i + 1), int32(0), benchAcct("dep", i).Data()}
		}
		if _, err := db.CopyFrom(ctx, []string{"deposit_wallets"}, []string{"user_id", "currency", "subwallet_id", "workchain", "address"},
			pgx.CopyFromRows(rows)); err != nil {
			b.Fatal(err)
		}
		s := blockscanner.New(db, blockscanner.TonChain{API: e.chain.API()}, batchEnqueue,
			blockscanner.Config{Network: config.Testnet, StartBlock: start, HotWallet: e.hot()}, nil, quiet)
		runCtx, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		b.StartTimer()
		t0 := time.Now()
		go func() { _ = s.Run(runCtx); close(done) }()
		for {
			var got int64
			if err := db.QueryRow(ctx, `SELECT mc_seqno FROM scanner_cursor`).Scan(&got); err == nil && uint32(got) >= head {
				break
			}
			time.Sleep(5 * time.Millisecond)
		}
		elapsed := time.Since(t0)
		b.StopTimer()
		cancel()
		<-done
		var n int
		if err := db.QueryRow(ctx, `SELECT count(*) FROM incomes`).Scan(&n); err != nil || n != relevant {
			b.Fatalf("%d incomes, want %d (%v)", n, relevant, err)
		}
		b.ReportMetric(float64(blocks)/elapsed.Seconds(), "mcblocks/s")
		b.ReportMetric(float64(relevant)/elapsed.Seconds(), "deposits/s")
		b.ReportMetric(float64(relevant+blocks*noise)/elapsed.Seconds(), "txs/s")
	}
}

// BenchmarkCatchUpMostlyIrrelevant: 1,000 masterchain blocks, 4 shards,
// 40 unrelated transfers and 2 deposits per block.
func BenchmarkCatchUpMostlyIrrelevant(b *testing.B) { benchCatchUp(b, 1000, 2, 40) }

// BenchmarkCatchUpDepositHeavy: 40 masterchain blocks with 1,000 deposits each.
func BenchmarkCatchUpDepositHeavy(b *testing.B) { benchCatchUp(b, 40, 1000, 0) }
