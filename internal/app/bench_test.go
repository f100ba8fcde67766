package app_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ton-custody/processor/internal/store/storetest"
	"github.com/ton-custody/processor/internal/tonsim"
)

// BenchmarkAddressNew measures POST /v1/address/new end to end (HTTP, auth,
// validation, subwallet id allocation, derivation, insert) with concurrent
// clients.
func BenchmarkAddressNew(b *testing.B) {
	n, j := newNetwork(b)
	p := startProcessor(b, n, benchEnv(b, n, j))
	var i atomic.Int64
	b.SetParallelism(8)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			r := p.do("POST", "/v1/address/new", map[string]string{"user_id": fmt.Sprint("u", i.Add(1)%1000), "currency": "TON"}, true)
			if r.status != http.StatusOK {
				b.Error(r.raw)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "addresses/s")
}

// BenchmarkAddressAll measures GET /v1/address/all with 100,000 addresses
// in the table (10,000 users with 10 each) and reports the p99 latency.
func BenchmarkAddressAll(b *testing.B) {
	n, j := newNetwork(b)
	p := startProcessor(b, n, benchEnv(b, n, j))
	ctx := context.Background()
	if _, err := p.app.DB.Exec(ctx, `
		INSERT INTO deposit_wallets (user_id, currency, subwallet_id, workchain, address)
		SELECT 'u' || (i % 10000), 'TON', i, 0, decode(md5(i::text) || md5((i + 1000003)::text), 'hex')
		FROM generate_series(1, 100000) AS i`); err != nil {
		b.Fatal(err)
	}
	if _, err := p.app.DB.Exec(ctx, `ANALYZE deposit_wallets`); err != nil {
		b.Fatal(err)
	}
	client := &http.Client{}
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		req, _ := http.NewRequest("GET", fmt.Sprintf("%s/v1/address/all?user_id=u%d", p.url, (i*7919)%10000), nil)
		req.Header.Set("Authorization", "Bearer "+token)
		start := time.Now()
		resp, err := client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		lat = append(lat, time.Since(start))
		if resp.StatusCode != http.StatusOK {
			b.Fatalf("status %d", resp.StatusCode)
		}
	}
	b.StopTimer()
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
}

// BenchmarkDepositHistory measures GET /v1/deposit/history with 1,000,000
// incomes stored (10,000 deposit addresses of 1,000 users) and reports p99.
func BenchmarkDepositHistory(b *testing.B) {
	n, j := newNetwork(b)
	p := startProcessor(b, n, benchEnv(b, n, j))
	ctx := context.Background()
	for _, q := range []string{
		`INSERT INTO deposit_wallets (user_id, currency, subwallet_id, workchain, address)
		 SELECT 'u' || (i % 1000), 'TON', i, 0, decode(md5(i::text) || md5((i + 7777777)::text), 'hex')
		 FROM generate_series(1, 10000) AS i`,
		`INSERT INTO incomes (deposit_wallet_id, user_id, currency, amount, source_workchain, source_address, comment, tx_hash, tx_lt, utime, mc_seqno)
		 SELECT d.id, d.user_id, 'TON', 1000 + i, 0, decode(md5((i * 3)::text) || md5((i * 5)::text), 'hex'), 'c' || i,
		        decode(md5(i::text) || md5((i + 1)::text), 'hex'), i, 1700000000 + i, i / 100
		 FROM generate_series(1, 1000000) AS i JOIN deposit_wallets d ON d.subwallet_id = 1 + (i % 10000)`,
		// A table of a running system was written over months: vacuumed,
		// hint bits set. Right after a bulk load of 1M rows the measured
		// pages would run beside autovacuum of the whole table and pay
		// for setting the hint bits of every page they touch first.
		`VACUUM (ANALYZE) incomes`,
		`ANALYZE`,
	} {
		if _, err := p.app.DB.Exec(ctx, q); err != nil {
			b.Fatal(err)
		}
	}
	// And its writes are on disk: the measured pages would otherwise be
	// read while the checkpoint that the load's WAL started writes them
	// out (the slowest answers came in that window). CHECKPOINT needs
	// the pg_checkpoint role; without it the figure includes that window.
	if _, err := p.app.DB.Exec(ctx, `CHECKPOINT`); err != nil {
		b.Logf("no CHECKPOINT before measuring (%v): the load's checkpoint may overlap the measurement", err)
	}
	client := &http.Client{}
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		order := "desc"
		if i%2 == 1 {
			order = "asc"
		}
		req, _ := http.NewRequest("GET", fmt.Sprintf("%s/v1/deposit/history?user_id=u%d&currency=TON&limit=100&offset=%d&sort_order=%s",
			p.url, (i*7919)%1000, (i%5)*100, order), nil)
		req.Header.Set("Authorization", "Bearer "+token)
		start := time.Now()
		resp, err := client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		lat = append(lat, time.Since(start))
		if resp.StatusCode != http.StatusOK {
			b.Fatalf("status %d", resp.StatusCode)
		}
	}
	b.StopTimer()
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
}

// BenchmarkWithdrawalThroughput submits 5,000 TON withdrawals through the
// API (16 concurrent clients) on a network making a block per second and
// measures how many are confirmed (processed) per minute, and the latency
// from acceptance to processed in masterchain blocks.
func BenchmarkWithdrawalThroughput(b *testing.B) {
	benchWithdrawals(b, 5000, nil)
}

// BenchmarkWithdrawalThroughputLongComments is BenchmarkWithdrawalThroughput
// with a distinct 1000-byte comment on every withdrawal: batches are cut by
// the external message size (about 54 per batch), so many are in flight at
// once. Every external must stay under the validators' limit.
func BenchmarkWithdrawalThroughputLongComments(b *testing.B) {
	benchWithdrawals(b, 5000, func(i int) string { return longComment("bench", i) })
}

// benchWithdrawals runs the throughput benchmark; comment, when given,
// is each withdrawal's comment.
func benchWithdrawals(b *testing.B, count int, comment func(i int) string) {
	for it := 0; it < b.N; it++ {
		b.StopTimer()
		n, err := tonsim.Start(context.Background(), emu, emu.Contracts, tonsim.Options{BlockInterval: time.Second, LiteAddr: "127.0.0.1:0"})
		if err != nil {
			b.Fatal(err)
		}
		ctx := context.Background()
		j, err := n.DeployJetton(ctx, "USDT", 6)
		if err != nil {
			b.Fatal(err)
		}
		p := startProcessor(b, n, benchEnv(b, n, j))
		p.fundHot(b, "100000")
		// Throughput of a running processor: the clock starts once it has
		// paid one withdrawal (its scanner in sync, its worker elected
		// and the hot wallet deployed).
		warm := p.ok(p.do("POST", "/v1/withdrawal/send", map[string]string{"user_id": "warmup", "query_id": "0",
			"currency": "TON", "amount": "1000000", "destination": dest("warmup", 0, false)}, true))["ID"]
		p.waitStatus(b, warm, "processed", 60*time.Second)
		b.StartTimer()
		start := time.Now()
		var wg sync.WaitGroup
		next := make(chan int)
		for c := 0; c < 16; c++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range next {
					body := map[string]string{"user_id": "bench", "query_id": fmt.Sprint(i),
						"currency": "TON", "amount": "1000000", "destination": dest("bench", i, false)}
					if comment != nil {
						body["comment"] = comment(i)
					}
					r := p.do("POST", "/v1/withdrawal/send", body, true)
					if r.status != http.StatusOK {
						b.Error(r.raw)
					}
				}
			}()
		}
		for i := 0; i < count; i++ {
			next <- i
		}
		close(next)
		wg.Wait()
		submitted := time.Since(start)
		// Wait until none is open. The check stops at the first open one
		// (through the index of open withdrawals): counting the processed
		// ones every 50 ms read all 5,000 rows each time, a fifth of a
		// core of the database server taken from what is measured.
		for {
			var open bool
			if err := p.app.DB.QueryRow(ctx, `SELECT EXISTS (SELECT FROM withdrawals
				WHERE state IN ('pending', 'processing') AND user_id = 'bench')`).Scan(&open); err != nil {
				b.Fatal(err)
			}
			if !open {
				break
			}
			if time.Since(start) > 5*time.Minute {
				b.Fatalf("withdrawals still open after 5 minutes")
			}
			time.Sleep(50 * time.Millisecond)
		}
		elapsed := time.Since(start)
		var done int
		if err := p.app.DB.QueryRow(ctx, `SELECT count(*) FROM withdrawals WHERE state = 'processed' AND user_id = 'bench'`).Scan(&done); err != nil {
			b.Fatal(err)
		}
		if done != count {
			b.Fatalf("%d of %d processed", done, count)
		}
		b.StopTimer()
		var p50, p99 float64
		if err := p.app.DB.QueryRow(ctx, `SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM updated_at - created_at)),
			percentile_cont(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM updated_at - created_at)) FROM withdrawals WHERE user_id = 'bench'`).Scan(&p50, &p99); err != nil {
			b.Fatal(err)
		}
		var biggest, batches int
		if err := p.app.DB.QueryRow(ctx, `SELECT max(length(signed_message)),
			(SELECT count(DISTINCT i.batch_id) FROM hot_batch_items i JOIN withdrawals w ON w.id = i.withdrawal_id WHERE w.user_id = 'bench')
			FROM hot_batches`).Scan(&biggest, &batches); err != nil {
			b.Fatal(err)
		}
		if limit := int(n.Chain.SizeLimits().MaxExtMsgSize); biggest > limit {
			b.Fatalf("an external of %d bytes: validators refuse over %d", biggest, limit)
		}
		b.ReportMetric(float64(count)/elapsed.Minutes(), "withdrawals/min")
		b.ReportMetric(submitted.Seconds(), "submit-s")
		b.ReportMetric(p50, "p50-latency-s")
		b.ReportMetric(p99, "p99-latency-s")
		b.ReportMetric(float64(biggest), "max-external-bytes")
		b.ReportMetric(float64(batches), "batches")
		p.stop()
		_ = n.Close()
	}
}

// BenchmarkWithdrawalLatencyShortQueue sends one withdrawal at a time on a
// network making a block per second and reports accepted -> processed.
func BenchmarkWithdrawalLatencyShortQueue(b *testing.B) {
	n, err := tonsim.Start(context.Background(), emu, emu.Contracts, tonsim.Options{BlockInterval: time.Second, LiteAddr: "127.0.0.1:0"})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = n.Close() })
	j, err := n.DeployJetton(context.Background(), "USDT", 6)
	if err != nil {
		b.Fatal(err)
	}
	p := startProcessor(b, n, benchEnv(b, n, j))
	p.fundHot(b, "1000")
	var lat []time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		id := p.ok(p.do("POST", "/v1/withdrawal/send", map[string]string{"user_id": "lat", "query_id": fmt.Sprint(i),
			"currency": "TON", "amount": "1000000", "destination": dest("lat", i, false)}, true))["ID"]
		for p.status(id)["status"] != "processed" {
			time.Sleep(20 * time.Millisecond)
		}
		lat = append(lat, time.Since(t0))
	}
	b.StopTimer()
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	b.ReportMetric(lat[len(lat)/2].Seconds(), "p50-s")
	b.ReportMetric(lat[len(lat)/2].Seconds()/1.0, "p50-blocks")
}

// benchEnv is baseEnv without the per-token rate limit, which would
// otherwise cap the benchmarks' single token at API_RATE_LIMIT.
func benchEnv(b *testing.B, n *tonsim.Network, j *tonsim.Jetton) map[string]string {
	env := baseEnv(b, n, j, storetest.NewDBURL(b))
	env["API_RATE_LIMIT"] = "0"
	return env
}
