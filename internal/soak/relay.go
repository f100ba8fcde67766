package soak

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
)

// relay stands between the provider simulators and the processor's
// callback endpoint (BRIDGE_PUBLIC_URL points at it; Paykassma's postback
// URL too). It forwards every callback and hands the processor's answer
// back, so a simulator retries when the processor is down exactly as it
// would without the relay. On top it disturbs the stream the way a real
// network and provider do: some callbacks are held back (the ones after
// them overtake), some are sent twice at once, some are replayed seconds
// later (late, usually after the payment moved on), and Burst replays a
// sample of old ones when the traffic ends. Every forward and its answer
// is recorded for the checks.
type relay struct {
	target string // the processor's API base URL
	URL    string
	srv    *http.Server
	client *http.Client

	rngMu sync.Mutex
	rng   *rand.Rand

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu       sync.Mutex
	stopped  bool
	kept     []*callback // every callback received, for late replays
	pending  int         // replays scheduled, not yet sent
	stats    RelayStats
	rejected []string // 4xx answers: a genuine callback refused
}

// callback is one request a simulator sent.
type callback struct {
	provider string
	path     string // path and query
	header   http.Header
	body     []byte
	at       time.Time
	codes    []int // the processor's answer to each forward (0: down)
}

// RelayStats counts what the callback relay did.
type RelayStats struct {
	Received, Forwarded           int
	Duplicated, HeldBack, Replays int
	Answered2xx, Answered5xx      int // 5xx and transport errors: processor or database down
	Answered4xx                   int
}

// Probabilities of the disturbances, per received callback.
const (
	relayHoldP      = 0.12
	relayDuplicateP = 0.15
	relayLateP      = 0.15
	// relayMaxAge bounds what is replayed: providers sign callbacks with a
	// timestamp the processor accepts for 5 minutes; older replays would
	// (rightly) be refused and say nothing.
	relayMaxAge = 3 * time.Minute
)

func startRelay(target string, seed int64) (*relay, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("callback relay: %w", err)
	}
	r := &relay{target: strings.TrimRight(target, "/"), URL: "http://" + ln.Addr().String(),
		client: &http.Client{Timeout: 5 * time.Second}, rng: rand.New(rand.NewPCG(uint64(seed), 0xca11))}
	r.ctx, r.cancel = context.WithCancel(context.Background())
	r.srv = &http.Server{Handler: r, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = r.srv.Serve(ln) }()
	return r, nil
}

// close stops the server and drops replays not yet sent.
func (r *relay) close() {
	r.mu.Lock()
	r.stopped = true
	r.mu.Unlock()
	r.cancel()
	_ = r.srv.Close()
	r.wg.Wait()
}

func (r *relay) chance(p float64) bool {
	r.rngMu.Lock()
	defer r.rngMu.Unlock()
	return r.rng.Float64() < p
}

func (r *relay) randDur(lo, hi time.Duration) time.Duration {
	r.rngMu.Lock()
	defer r.rngMu.Unlock()
	return lo + time.Duration(r.rng.Int64N(int64(hi-lo)))
}

func (r *relay) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, err := io.ReadAll(io.LimitReader(req.Body, 1<<20))
	if err != nil {
		http.Error(w, "read body", http.StatusBadRequest)
		return
	}
	provider := strings.TrimPrefix(req.URL.Path, "/v1/bridge/callbacks/")
	cb := &callback{provider: provider, path: req.URL.RequestURI(), header: req.Header.Clone(), body: body, at: time.Now()}
	r.mu.Lock()
	r.stats.Received++
	r.kept = append(r.kept, cb)
	r.mu.Unlock()

	if r.chance(relayHoldP) {
		// Held back: callbacks sent meanwhile overtake this one. Short
		// enough for the simulators' 5-s client timeout.
		r.count(func(s *RelayStats) { s.HeldBack++ })
		select {
		case <-time.After(r.randDur(200*time.Millisecond, 2*time.Second)):
		case <-req.Context().Done():
			return
		}
	}
	if r.chance(relayDuplicateP) {
		r.count(func(s *RelayStats) { s.Duplicated++ })
		r.later(cb, 0)
	}
	if r.chance(relayLateP) {
		r.count(func(s *RelayStats) { s.Replays++ })
		r.later(cb, r.randDur(time.Second, 10*time.Second))
	}
	code, ctype, answer := r.forward(cb, false)
	if code == 0 {
		http.Error(w, "processor unreachable (soak relay)", http.StatusBadGateway)
		return
	}
	if ctype != "" {
		w.Header().Set("Content-Type", ctype)
	}
	w.WriteHeader(code)
	_, _ = w.Write(answer)
}

func (r *relay) count(f func(*RelayStats)) {
	r.mu.Lock()
	f(&r.stats)
	r.mu.Unlock()
}

// later sends cb again after d (0: at once, concurrently with the
// original), unless the relay is stopped first.
func (r *relay) later(cb *callback, d time.Duration) {
	r.mu.Lock()
	if r.stopped {
		r.mu.Unlock()
		return
	}
	r.pending++
	r.wg.Add(1)
	r.mu.Unlock()
	go func() {
		defer r.wg.Done()
		select {
		case <-time.After(d):
			r.forward(cb, true)
		case <-r.ctx.Done():
		}
		r.mu.Lock()
		r.pending--
		r.mu.Unlock()
	}()
}

// forward posts cb to the processor and records the answer; code 0 is a
// transport error (the processor is down).
func (r *relay) forward(cb *callback, replay bool) (code int, ctype string, answer []byte) {
	req, err := http.NewRequestWithContext(r.ctx, http.MethodPost, r.target+cb.path, bytes.NewReader(cb.body))
	if err != nil {
		return 0, "", nil
	}
	req.Header = cb.header.Clone()
	resp, err := r.client.Do(req)
	if err == nil {
		answer, _ = io.ReadAll(io.LimitReader(resp.Body, 1<<16))
		_ = resp.Body.Close()
		code, ctype = resp.StatusCode, resp.Header.Get("Content-Type")
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	cb.codes = append(cb.codes, code)
	r.stats.Forwarded++
	switch {
	case code >= 200 && code < 300:
		r.stats.Answered2xx++
	case code >= 400 && code < 500:
		r.stats.Answered4xx++
		what := "callback"
		if replay {
			what = "replayed callback"
		}
		r.rejected = append(r.rejected, fmt.Sprintf("%s %s (%s old) answered %d: %s; body %.300s", what, cb.path,
			time.Since(cb.at).Round(time.Millisecond), code, strings.TrimSpace(string(answer)), cb.body))
	default:
		r.stats.Answered5xx++
	}
	return code, ctype, answer
}

// burst replays up to n callbacks received within relayMaxAge, chosen at
// random: late callbacks after the payments settled.
func (r *relay) burst(n int) int {
	r.mu.Lock()
	var fresh []*callback
	for _, cb := range r.kept {
		if time.Since(cb.at) < relayMaxAge {
			fresh = append(fresh, cb)
		}
	}
	r.mu.Unlock()
	r.rngMu.Lock()
	r.rng.Shuffle(len(fresh), func(i, j int) { fresh[i], fresh[j] = fresh[j], fresh[i] })
	r.rngMu.Unlock()
	if len(fresh) > n {
		fresh = fresh[:n]
	}
	for _, cb := range fresh {
		r.count(func(s *RelayStats) { s.Replays++ })
		r.later(cb, r.randDur(0, 2*time.Second))
	}
	return len(fresh)
}

// trail describes the callbacks naming ref and the processor's answers,
// for violation messages.
func (r *relay) trail(ref string) string {
	needle := []byte(`"` + ref + `"`)
	r.mu.Lock()
	defer r.mu.Unlock()
	var parts []string
	for _, cb := range r.kept {
		if bytes.Contains(cb.body, needle) {
			parts = append(parts, fmt.Sprintf("%s %s answered %v", cb.at.Format("15:04:05.000"), cb.body, cb.codes))
		}
	}
	if len(parts) == 0 {
		return "no callback for it reached the relay"
	}
	return "callbacks: " + strings.Join(parts, "; ")
}

// snapshot returns the counters, the replays still pending and the 4xx
// answers.
func (r *relay) snapshot() (RelayStats, int, []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.stats, r.pending, append([]string(nil), r.rejected...)
}
