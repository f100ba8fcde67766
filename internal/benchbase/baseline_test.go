package benchbase_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/ton-custody/processor/internal/benchbase"
	"github.com/ton-custody/processor/internal/store/storetest"
)

// BenchmarkBaselinePGCommit is the machine's raw PostgreSQL figure: one
// single-row INSERT per transaction (autocommit, the server's own
// synchronous_commit and fsync settings), from 1 and from 8 concurrent
// clients. It reports commits/s and the mean and p99 latency of one
// commit; the DB-bound rows of the report are read against it.
func BenchmarkBaselinePGCommit(b *testing.B) {
	for _, clients := range []int{1, 8} {
		b.Run(fmt.Sprintf("clients=%d", clients), func(b *testing.B) {
			pool := commitTable(b)
			ctx := context.Background()
			// Fill the pool's connections first.
			var warm sync.WaitGroup
			for range clients {
				warm.Go(func() {
					for range 20 {
						_, _ = pool.Exec(ctx, `INSERT INTO baseline_commit (v) VALUES (0)`)
					}
				})
			}
			warm.Wait()
			lat := make([]time.Duration, b.N)
			var next atomic.Int64
			var failed atomic.Int64
			var wg sync.WaitGroup
			b.ResetTimer()
			start := time.Now()
			for range clients {
				wg.Go(func() {
					for {
						i := int(next.Add(1)) - 1
						if i >= b.N {
							return
						}
						t0 := time.Now()
						if _, err := pool.Exec(ctx, `INSERT INTO baseline_commit (v) VALUES ($1)`, int64(i)); err != nil {
							failed.Add(1)
						}
						lat[i] = time.Since(t0)
					}
				})
			}
			wg.Wait()
			elapsed := time.Since(start)
			b.StopTimer()
			if n := failed.Load(); n > 0 {
				b.Fatalf("%d commits failed", n)
			}
			var sum time.Duration
			for _, d := range lat {
				sum += d
			}
			slices.Sort(lat)
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "commits/s")
			b.ReportMetric(float64(sum.Microseconds())/1000/float64(b.N), "mean-ms")
			b.ReportMetric(float64(lat[(len(lat)-1)*99/100].Microseconds())/1000, "p99-ms")
		})
	}
}

// commitTable returns a pool on a fresh database holding the one-row
// table the commit baselines insert into.
func commitTable(b *testing.B) *pgxpool.Pool {
	pool := storetest.NewEmptyDB(b)
	if _, err := pool.Exec(context.Background(), `CREATE TABLE baseline_commit (id bigserial PRIMARY KEY, v bigint NOT NULL,
		at timestamptz NOT NULL DEFAULT now())`); err != nil {
		b.Fatal(err)
	}
	return pool
}

// BenchmarkBaselineHTTP is a bare HTTP round trip (a POST of a payin-sized
// JSON body with a bearer token, answered 201 with a payment-sized JSON
// body and nothing else) at 500 requests/s through the same open-loop
// generator and client as BenchmarkBridgeOverhead: what the machine and
// the generator cost before the bridge does anything. Run with
// -benchtime=2500x.
func BenchmarkBaselineHTTP(b *testing.B) {
	roundTrips(b, nil)
}

// BenchmarkBaselineHTTPTwoCommits is the floor of a bridge create call on
// this machine: BenchmarkBaselineHTTP whose handler first makes two
// single-row commits, one after the other, through a pool of the
// bridge's size. A create call that keeps its promises does at least
// that: the payment is stored durably before the provider is called, and
// the provider's answer before the caller is answered. What the bridge
// adds to it is the provider round trip and its own statements;
// BenchmarkBridgeOverhead is read against this p99. Run with
// -benchtime=2500x.
func BenchmarkBaselineHTTPTwoCommits(b *testing.B) {
	pool := commitTable(b)
	ctx := context.Background()
	roundTrips(b, func() error {
		for range 2 {
			if _, err := pool.Exec(ctx, `INSERT INTO baseline_commit (v) VALUES (1)`); err != nil {
				return err
			}
		}
		return nil
	})
}

// roundTrips measures payin-shaped HTTP round trips at 500 requests/s
// after a second of warm-up at that rate (as BenchmarkBridgeOverhead
// does); the handler runs work, when not nil, before it answers.
func roundTrips(b *testing.B, work func() error) {
	answer := bytes.Repeat([]byte("x"), 380)
	answer = fmt.Appendf(nil, `{"reference":"bench","status":"submitted","pad":%q}`, answer)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer test-token-0123456789" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		_, _ = io.Copy(io.Discard, r.Body)
		if work != nil {
			if err := work(); err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		_, _ = w.Write(answer)
	}))
	defer srv.Close()
	client := benchbase.NewClient()
	post := func(i int) error {
		body := fmt.Appendf(nil, `{"reference":"bench-%d","provider":"payfield","amount":"%d","currency":"RUB"}`, i, 100+i)
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/v1/bridge/payins", bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer test-token-0123456789")
		req.Header.Set("Content-Type", "application/json")
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		_, _ = io.Copy(io.Discard, resp.Body)
		if resp.StatusCode != http.StatusCreated {
			return fmt.Errorf("status %d", resp.StatusCode)
		}
		return nil
	}
	if warm := benchbase.OpenLoop(500, 500, post); warm.Failed > 0 {
		b.Fatalf("warm-up: %d of 500 requests failed", warm.Failed)
	}
	b.ResetTimer()
	res := benchbase.OpenLoop(500, b.N, post)
	b.StopTimer()
	if res.Failed > 0 {
		b.Fatalf("%d requests failed", res.Failed)
	}
	res.Report(b)
}

// BenchmarkBaselineCPU is a fixed CPU-bound loop: SHA-256 of 128-byte
// inputs (about one TON cell's representation), in hashes/s, single
// goroutine. The CPU-bound rows (tonsim bulk mode, TVM) are read against it.
func BenchmarkBaselineCPU(b *testing.B) {
	var buf [128]byte
	var sum [32]byte
	for i := 0; i < b.N; i++ {
		buf[0], buf[1] = byte(i), byte(i>>8)
		sum = sha256.Sum256(buf[:])
		copy(buf[2:], sum[:])
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "hashes/s")
}
