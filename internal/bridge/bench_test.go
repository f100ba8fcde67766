package bridge_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ton-custody/processor/internal/benchbase"
	"github.com/ton-custody/processor/internal/bridge/payfield"
	"github.com/ton-custody/processor/internal/bridge/payfield/sim"
)

// BenchmarkBridgeOverhead sends payins through the bridge API to the
// Payfield simulator and back (store, signed provider call, store, answer)
// at a fixed open-loop rate of 500 requests/s (benchbase.OpenLoop: every
// send at its scheduled time, latency measured from that time, so a stall
// is never omitted), and reports latency percentiles and whether the rate
// was achieved (req/s, sent-req/s, late-sends, rate-achieved). The client
// and generator are those of benchbase.BenchmarkBaselineHTTP, the bare
// round trip this is read against. Run with -benchtime=2500x for five
// seconds of load.
func BenchmarkBridgeOverhead(b *testing.B) {
	e := newEnv(b, envOpts{})
	e.http = benchbase.NewClient()
	const rate = 500
	body := func(i int) []byte {
		return fmt.Appendf(nil, `{"reference":"bench-%d","provider":"payfield","amount":"%d","currency":"RUB"}`, i, 100+i)
	}
	// Warm up for a second at the same rate, so the measurement is the
	// steady state: the database pool holds the connections the load needs
	// (a new PostgreSQL backend costs tens of milliseconds of CPU before
	// its first statement is fast), the statements are prepared on each,
	// and the HTTP connection pools are filled. Until 2026-12-07 the
	// warm-up sent amounts <= 0, refused before the database; the
	// measurement began with one pooled connection and opened nine under
	// load, a 300-600 ms stall that was most of the reported p99.
	warm := benchbase.OpenLoop(rate, rate, func(i int) error {
		ref := fmt.Appendf(nil, `{"reference":"warm-%d","provider":"payfield","amount":"%d","currency":"RUB"}`, i, 100+i)
		if code := e.post(b, ref); code != http.StatusCreated {
			return fmt.Errorf("status %d", code)
		}
		return nil
	})
	if warm.Failed > 0 {
		b.Fatalf("warm-up: %d of %d requests failed", warm.Failed, rate)
	}
	time.Sleep(200 * time.Millisecond)
	b.ResetTimer()
	res := benchbase.OpenLoop(rate, b.N, func(i int) error {
		if code := e.post(b, body(i)); code != http.StatusCreated {
			return fmt.Errorf("status %d", code)
		}
		return nil
	})
	b.StopTimer()
	if res.Failed > 0 {
		b.Fatalf("%d requests failed", res.Failed)
	}
	if !res.Achieved() {
		b.Logf("requested %d req/s: sent %.1f/s, completed %.1f/s, %d sends late", rate, res.Sent, res.Completed, res.Late)
	}
	res.Report(b)
}

func (e *env) post(tb testing.TB, body []byte) int {
	req, _ := http.NewRequest(http.MethodPost, e.srv.URL+"/v1/bridge/payins", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := e.http.Do(req)
	if err != nil {
		tb.Error(err)
		return 0
	}
	defer resp.Body.Close()
	var buf [4096]byte
	for {
		if _, err := resp.Body.Read(buf[:]); err != nil {
			break
		}
	}
	return resp.StatusCode
}

// BenchmarkCallbackIngestion posts signed Payfield webhooks (success of
// an open payout) to the callback receiver from 16 concurrent senders and
// reports callbacks per second: verification, one transaction with the
// status change, its history row and its outbox event.
func BenchmarkCallbackIngestion(b *testing.B) {
	e := newEnv(b, envOpts{noCallback: true})
	ctx := context.Background()
	if _, err := e.pool.Exec(ctx, `INSERT INTO bridge_payments (reference, kind, provider, request_hash, request, amount, currency, status, raw_status)
		SELECT 'cb-' || i, 'payout', 'payfield', sha256(i::text::bytea), '{}', 1000, 'RUB', 'processing', 'pending'
		FROM generate_series(0, $1 - 1) i`, b.N); err != nil {
		b.Fatal(err)
	}
	type cb struct {
		body []byte
		h    http.Header
	}
	cbs := make([]cb, b.N)
	now := time.Now()
	for i := range cbs {
		body := fmt.Appendf(nil, `{"id":%d,"external_id":"cb-%d","shop_code":"shop-001","status":"success","amount":"10.00","currency":"RUB","updated_at":"2026-05-19T12:00:00Z"}`, i, i)
		_, h := sim.WebhookRequest(whSecet, payfield.EncodingHex, body, now)
		cbs[i] = cb{body, h}
	}
	var next atomic.Int64
	var failed atomic.Int64
	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	for w := 0; w < 16; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= b.N {
					return
				}
				req, _ := http.NewRequest(http.MethodPost, e.srv.URL+"/v1/bridge/callbacks/payfield", bytes.NewReader(cbs[i].body))
				req.Header = cbs[i].h.Clone()
				resp, err := e.http.Do(req)
				if err != nil || resp.StatusCode != http.StatusOK {
					failed.Add(1)
				}
				if err == nil {
					// Read to the end: a body closed unread loses its
					// keep-alive connection, and the next callback would
					// pay for a new TCP connection on both sides.
					_, _ = io.Copy(io.Discard, resp.Body)
					_ = resp.Body.Close()
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	if n := failed.Load(); n > 0 {
		b.Fatalf("%d callbacks failed", n)
	}
	var done int
	_ = e.pool.QueryRow(ctx, `SELECT count(*) FROM bridge_payments WHERE status = 'succeeded'`).Scan(&done)
	if done != b.N {
		b.Fatalf("%d of %d payments succeeded", done, b.N)
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "callbacks/s")
}
