package ton

import (
	"context"
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"reflect"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/xssnick/tonutils-go/liteclient"
	"github.com/xssnick/tonutils-go/tl"
	tonutils "github.com/xssnick/tonutils-go/ton"
)

// Liteserver error codes worth retrying: the server is behind or busy, and
// another try (usually on another node) succeeds. 651 and 652 are TON's
// ErrorCode::notready and ErrorCode::timeout; tonutils-go's own retrier
// treats -400 and -503 the same way, from experience with public servers.
var transientLSCodes = map[int32]bool{651: true, 652: true, -400: true, -503: true}

// isTransientLS reports whether an LSError answer is worth another try.
func isTransientLS(e tonutils.LSError) bool {
	return transientLSCodes[e.Code] || (e.Code == 0 && strings.Contains(e.Text, "Failed to get account state"))
}

// Error kinds, the "kind" label of processor_liteserver_errors_total.
const (
	kindTimeout   = "timeout"      // the attempt's own timeout expired
	kindTransport = "transport"    // connection errors, no live connection
	kindNotReady  = "ls_transient" // LSError worth retrying (651, 652, ...)
	kindLSError   = "ls_error"     // any other LSError
	kindCanceled  = "canceled"     // the caller's context ended
)

// metrics are the liteserver metrics; one set per Registerer.
type metrics struct {
	requests *prometheus.CounterVec
	errs     *prometheus.CounterVec
	retries  *prometheus.CounterVec
	duration *prometheus.HistogramVec
	inFlight prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer, log interface{ Warn(string, ...any) }) *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "processor_liteserver_requests_total",
			Help: "Liteserver query attempts, by method (TL name; retries count again).",
		}, []string{"method"}),
		errs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "processor_liteserver_errors_total",
			Help: "Failed liteserver query attempts, by method and kind (timeout, transport, ls_transient, ls_error, canceled).",
		}, []string{"method", "kind"}),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "processor_liteserver_retries_total",
			Help: "Liteserver query attempts that were retries of a failed one, by method.",
		}, []string{"method"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "processor_liteserver_request_duration_seconds",
			Help:    "Duration of one liteserver query attempt, by method.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 15},
		}, []string{"method"}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "processor_liteserver_in_flight",
			Help: "Liteserver queries being answered now (bounded by the client's limit).",
		}),
	}
	if reg == nil {
		return m
	}
	// A second Client on the same registry shares the first one's series.
	register := func(c prometheus.Collector) prometheus.Collector {
		if err := reg.Register(c); err != nil {
			var are prometheus.AlreadyRegisteredError
			if errors.As(err, &are) {
				return are.ExistingCollector
			}
			log.Warn("ton: liteserver metric not registered", "err", err)
		}
		return c
	}
	if c, ok := register(m.requests).(*prometheus.CounterVec); ok {
		m.requests = c
	}
	if c, ok := register(m.errs).(*prometheus.CounterVec); ok {
		m.errs = c
	}
	if c, ok := register(m.retries).(*prometheus.CounterVec); ok {
		m.retries = c
	}
	if c, ok := register(m.duration).(*prometheus.HistogramVec); ok {
		m.duration = c
	}
	if c, ok := register(m.inFlight).(prometheus.Gauge); ok {
		m.inFlight = c
	}
	return m
}

// liteClient is the ton.LiteClient every APIClient of a Client talks to:
// it adds the limiter, per-attempt timeouts, retries and metrics around
// the real one. Placing them here, under tonutils' APIClient, covers every
// query the API makes (WaitForBlock wraps this client, so waited queries
// arrive as tl.Raw with a waitMasterchainSeqno prefix).
type liteClient struct {
	next tonutils.LiteClient
	opts Options
	sem  chan struct{}
	m    *metrics

	rawNames sync.Map // uint32 TL constructor id -> method label
}

var _ tonutils.LiteClient = (*liteClient)(nil)

func newLiteClient(next tonutils.LiteClient, opts Options) *liteClient {
	return &liteClient{next: next, opts: opts, sem: make(chan struct{}, opts.MaxInFlight), m: newMetrics(opts.Registerer, opts.Logger)}
}

// QueryLiteserver runs payload with retries. A transport error is retried
// unless the caller's context has ended or the pool was stopped; an
// LSError answer is retried when isTransientLS says so, except for
// sendMessage, whose refusals are final answers (the withdrawal worker
// re-sends on its own schedule). Transport failures of sendMessage are
// retried: an external message is idempotent by construction (seqno or
// highload query id), so a second delivery cannot pay twice.
//
// When retries run out, the last outcome is returned as is: an error, or
// nil with the LSError left in result for the API method to report.
func (l *liteClient) QueryLiteserver(ctx context.Context, payload tl.Serializable, result tl.Serializable) error {
	method := l.method(payload)
	send := method == "sendMessage"
	wait := l.opts.BackoffMin
	for attempt := 1; ; attempt++ {
		if attempt > 1 {
			l.m.retries.WithLabelValues(method).Inc()
		}
		err := l.attempt(ctx, method, payload, result)
		retry := false
		switch {
		case err != nil:
			kind := kindTransport
			switch {
			case ctx.Err() != nil:
				kind = kindCanceled
			case errors.Is(err, context.DeadlineExceeded) || errors.Is(err, liteclient.ErrADNLReqTimeout):
				kind = kindTimeout
			}
			l.m.errs.WithLabelValues(method, kind).Inc()
			retry = kind != kindCanceled && !errors.Is(err, liteclient.ErrStopped)
		default:
			if e, ok := lsError(result); ok {
				if isTransientLS(e) {
					l.m.errs.WithLabelValues(method, kindNotReady).Inc()
					retry = !send
				} else {
					l.m.errs.WithLabelValues(method, kindLSError).Inc()
				}
			}
		}
		if !retry || attempt >= l.opts.Attempts {
			return err
		}
		// Prefer another liteserver for the next try; the in-process
		// client and a pool whose nodes were all tried keep the current one.
		if next, nerr := l.next.StickyContextNextNode(ctx); nerr == nil {
			ctx = next
		}
		if !sleep(ctx, jitter(wait)) {
			// The caller gave up while we waited: report what we had.
			return err
		}
		wait = min(2*wait, l.opts.BackoffMax)
	}
}

// attempt runs one try under the limiter and the per-attempt timeout.
func (l *liteClient) attempt(ctx context.Context, method string, payload, result tl.Serializable) error {
	select {
	case l.sem <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-l.sem }()
	l.m.inFlight.Inc()
	defer l.m.inFlight.Dec()

	actx, cancel := context.WithTimeout(ctx, l.opts.CallTimeout)
	defer cancel()
	start := time.Now()
	err := l.next.QueryLiteserver(actx, payload, result)
	l.m.requests.WithLabelValues(method).Inc()
	l.m.duration.WithLabelValues(method).Observe(time.Since(start).Seconds())
	return err
}

// lsError extracts an LSError answer from a tonutils result holder.
func lsError(result tl.Serializable) (tonutils.LSError, bool) {
	p, ok := result.(*tl.Serializable)
	if !ok || p == nil || *p == nil {
		return tonutils.LSError{}, false
	}
	e, ok := (*p).(tonutils.LSError)
	return e, ok
}

// jitter spreads retries of many callers by ±25%.
func jitter(d time.Duration) time.Duration {
	return d*3/4 + rand.N(d/2+1)
}

// sleep waits d or until ctx ends; it reports whether d elapsed.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// StickyContext implements ton.LiteClient.
func (l *liteClient) StickyContext(ctx context.Context) context.Context {
	return l.next.StickyContext(ctx)
}

// StickyContextNextNode implements ton.LiteClient.
func (l *liteClient) StickyContextNextNode(ctx context.Context) (context.Context, error) {
	return l.next.StickyContextNextNode(ctx)
}

// StickyContextNextNodeBalanced implements ton.LiteClient.
func (l *liteClient) StickyContextNextNodeBalanced(ctx context.Context) (context.Context, error) {
	return l.next.StickyContextNextNodeBalanced(ctx)
}

// StickyNodeID implements ton.LiteClient.
func (l *liteClient) StickyNodeID(ctx context.Context) uint32 {
	return l.next.StickyNodeID(ctx)
}

// methodNames maps tonutils-go request types to their TL method names, the
// metric label. Anything else is "other", which keeps the label set small.
var methodNames = map[reflect.Type]string{}

func init() {
	for _, e := range []struct {
		v    any
		name string
	}{
		{tonutils.GetMasterchainInf{}, "getMasterchainInfo"},
		{tonutils.GetMasterchainInfoExt{}, "getMasterchainInfoExt"},
		{tonutils.GetAccountState{}, "getAccountState"},
		{tonutils.GetAccountStatePruned{}, "getAccountStatePrunned"},
		{tonutils.RunSmcMethod{}, "runSmcMethod"},
		{tonutils.SendMessage{}, "sendMessage"},
		{tonutils.GetBlockData{}, "getBlock"},
		{tonutils.GetBlockHeader{}, "getBlockHeader"},
		{tonutils.LookupBlock{}, "lookupBlock"},
		{tonutils.ListBlockTransactions{}, "listBlockTransactions"},
		{tonutils.ListBlockTransactionsExt{}, "listBlockTransactionsExt"},
		{tonutils.GetAllShardsInfo{}, "getAllShardsInfo"},
		{tonutils.GetShardInfo{}, "getShardInfo"},
		{tonutils.GetTransactions{}, "getTransactions"},
		{tonutils.GetOneTransaction{}, "getOneTransaction"},
		{tonutils.GetConfigParams{}, "getConfigParams"},
		{tonutils.GetConfigAll{}, "getConfigAll"},
		{tonutils.GetBlockProof{}, "getBlockProof"},
		{tonutils.GetShardBlockProof{}, "getShardBlockProof"},
		{tonutils.GetTime{}, "getTime"},
		{tonutils.GetVersion{}, "getVersion"},
		{tonutils.GetLibraries{}, "getLibraries"},
		{tonutils.GetState{}, "getState"},
		{tonutils.WaitMasterchainSeqno{}, "waitMasterchainSeqno"},
	} {
		methodNames[reflect.TypeOf(e.v)] = e.name
	}
}

// method names a query for the metrics.
func (l *liteClient) method(payload tl.Serializable) string {
	if raw, ok := payload.(tl.Raw); ok {
		return l.rawMethod(raw)
	}
	t := reflect.TypeOf(payload)
	if t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if name, ok := methodNames[t]; ok {
		return name
	}
	return "other"
}

// waitPrefixLen is the size of liteServer.waitMasterchainSeqno (constructor
// id, seqno, timeout_ms), which WaitForBlock puts before the real query.
const waitPrefixLen = 12

// waitID is the TL constructor id of liteServer.waitMasterchainSeqno: the
// CRC32 of its schema, as tonutils-go registers it.
var waitID = tl.CRC("liteServer.waitMasterchainSeqno seqno:int timeout_ms:int = Object")

// rawMethod names a pre-serialised query: WaitForBlock's
// waitMasterchainSeqno prefix followed by the real query. The inner query
// is parsed once per constructor id, then recognised by its id alone.
func (l *liteClient) rawMethod(raw tl.Raw) string {
	if len(raw) < waitPrefixLen+4 || binary.LittleEndian.Uint32(raw) != waitID {
		return "other"
	}
	id := binary.LittleEndian.Uint32(raw[waitPrefixLen:])
	if name, ok := l.rawNames.Load(id); ok {
		return name.(string)
	}
	name := "other"
	var inner tl.Serializable
	if _, err := tl.Parse(&inner, raw[waitPrefixLen:], true); err == nil {
		name = l.method(inner)
	}
	l.rawNames.Store(id, name)
	return name
}
