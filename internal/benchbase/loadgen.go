// Package benchbase holds what the project's benchmarks share: an
// open-loop load generator, and (in its tests) the same-run baselines that
// cmd/benchreport puts beside every figure — raw PostgreSQL commits, a bare
// HTTP round trip through the same generator and client, a fixed CPU loop —
// so that a reader can tell the machine from the code.
package benchbase

import (
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"
)

// Result is what OpenLoop measured.
type Result struct {
	Rate      float64         // requested requests per second
	Latencies []time.Duration // per request, from its scheduled send time to its answer (sorted)
	Failed    int             // requests whose send returned an error
	// Sent is the rate at which the generator actually started requests:
	// n over the time from the first scheduled send to the last actual one
	// (plus one interval). Below Rate, the generator itself fell behind.
	Sent float64
	// Completed is n over the time from the first scheduled send to the
	// last answer (plus one interval): the rate the system kept up with.
	Completed float64
	// Late counts sends started more than LateAfter after their schedule.
	Late int
}

// LateAfter is how far behind its schedule a send may start before it
// counts as late (the generator, not the system, is then the bottleneck).
const LateAfter = time.Millisecond

// OpenLoop sends n requests at rate per second, request i at start +
// i/rate whatever the state of earlier ones (each on its own goroutine),
// and measures every latency from the scheduled send time rather than the
// actual one. A stall — of the system or of the generator — therefore
// counts against latency instead of silently delaying later sends
// (coordinated omission).
func OpenLoop(rate float64, n int, send func(i int) error) Result {
	interval := time.Duration(float64(time.Second) / rate)
	lat := make([]time.Duration, n)
	failed := make([]bool, n)
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		lastDone time.Time
	)
	late := 0
	start := time.Now()
	var lastSent time.Time
	for i := range n {
		sched := start.Add(time.Duration(i) * interval)
		if d := time.Until(sched); d > 0 {
			time.Sleep(d)
		}
		now := time.Now()
		if now.Sub(sched) > LateAfter {
			late++
		}
		lastSent = now
		wg.Go(func() {
			err := send(i)
			done := time.Now()
			lat[i] = done.Sub(sched)
			failed[i] = err != nil
			mu.Lock()
			if done.After(lastDone) {
				lastDone = done
			}
			mu.Unlock()
		})
	}
	wg.Wait()
	r := Result{Rate: rate, Latencies: lat, Late: late}
	for _, f := range failed {
		if f {
			r.Failed++
		}
	}
	slices.Sort(r.Latencies)
	r.Sent = float64(n) / (lastSent.Sub(start) + interval).Seconds()
	r.Completed = float64(n) / (lastDone.Sub(start) + interval).Seconds()
	return r
}

// Percentile returns the p-th latency (0 <= p <= 1).
func (r Result) Percentile(p float64) time.Duration {
	if len(r.Latencies) == 0 {
		return 0
	}
	return r.Latencies[int(float64(len(r.Latencies)-1)*p)]
}

// Achieved reports whether the requested rate was achieved: the generator
// started the requests on schedule (Sent within 1% of Rate) and the
// answers kept up (Completed within 5% of Rate).
func (r Result) Achieved() bool {
	return r.Sent >= 0.99*r.Rate && r.Completed >= 0.95*r.Rate
}

// Report reports the latency percentiles (p50-ms, p99-ms, max-ms) and the
// rates: req/s (completed), sent-req/s, target-req/s, late-sends and
// rate-achieved (1 or 0).
func (r Result) Report(b *testing.B) {
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	b.ReportMetric(ms(r.Percentile(0.50)), "p50-ms")
	b.ReportMetric(ms(r.Percentile(0.99)), "p99-ms")
	b.ReportMetric(ms(r.Percentile(1)), "max-ms")
	b.ReportMetric(r.Completed, "req/s")
	b.ReportMetric(r.Sent, "sent-req/s")
	b.ReportMetric(r.Rate, "target-req/s")
	b.ReportMetric(float64(r.Late), "late-sends")
	achieved := 0.0
	if r.Achieved() {
		achieved = 1
	}
	b.ReportMetric(achieved, "rate-achieved")
}

// NewClient is the HTTP client load generators use: the bridge overhead
// benchmark and its bare round-trip baseline go through the same one.
func NewClient() *http.Client {
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 100}}
}
