package notify_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/ton-custody/processor/internal/config"
	"github.com/ton-custody/processor/internal/notify"
	"github.com/ton-custody/processor/internal/store"
)

const testSecret = "whsec-Test-Distinctive-0123456789"

// received is one request as the receiver saw it.
type received struct {
	at        time.Time
	eventID   string
	timestamp string
	signature string
	ctype     string
	body      string
	status    int
}

// receiver is a webhook endpoint that records every request and answers
// with whatever status respond returns (200 when respond is nil).
type receiver struct {
	srv     *httptest.Server
	mu      sync.Mutex
	reqs    []received
	respond func(r *http.Request) int
}

func newReceiver(t testing.TB, respond func(r *http.Request) int) *receiver {
	t.Helper()
	rc := &receiver{respond: respond}
	rc.srv = httptest.NewServer(http.HandlerFunc(rc.handle))
	t.Cleanup(rc.srv.Close)
	return rc
}

func (rc *receiver) handle(w http.ResponseWriter, r *http.Request) {
	at := time.Now()
	body, _ := io.ReadAll(r.Body)
	status := http.StatusOK
	if rc.respond != nil {
		status = rc.respond(r)
	}
	rc.mu.Lock()
	rc.reqs = append(rc.reqs, received{at: at, eventID: r.Header.Get(notify.HeaderEventID),
		timestamp: r.Header.Get(notify.HeaderTimestamp), signature: r.Header.Get(notify.HeaderSignature),
		ctype: r.Header.Get("Content-Type"), body: string(body), status: status})
	rc.mu.Unlock()
	w.WriteHeader(status)
	if status >= 300 {
		_, _ = io.WriteString(w, "down for\nmaintenance")
	}
}

func (rc *receiver) requests() []received {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]received(nil), rc.reqs...)
}

// okCounts counts the 2xx answers per event id.
func (rc *receiver) okCounts() map[string]int {
	out := map[string]int{}
	for _, r := range rc.requests() {
		if r.status < 300 {
			out[r.eventID]++
		}
	}
	return out
}

// startWorker runs w until the test ends and checks that Run then returns
// nil promptly.
func startWorker(t *testing.T, w *notify.Worker) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- w.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-errc:
			if err != nil {
				t.Errorf("Run returned %v after its context ended, want nil", err)
			}
		case <-time.After(10 * time.Second):
			t.Errorf("Run did not return within 10 s of its context ending")
		}
	})
}

// newWorker returns a worker of the signed webhook to url.
func newWorker(t testing.TB, pool *pgxpool.Pool, url string, opts notify.Options, reg prometheus.Registerer, log *slog.Logger) *notify.Worker {
	t.Helper()
	sink, err := notify.NewWebhookSink(url, config.NewSecret(testSecret))
	if err != nil {
		t.Fatalf("NewWebhookSink: %v", err)
	}
	return newSinkWorker(t, pool, sink, opts, reg, log)
}

func newSinkWorker(t testing.TB, pool *pgxpool.Pool, sink notify.Sink, opts notify.Options, reg prometheus.Registerer, log *slog.Logger) *notify.Worker {
	t.Helper()
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	w, err := notify.NewWorker(context.Background(), pool, sink, opts, reg, log)
	if err != nil {
		t.Fatalf("NewWorker(%s): %v", sink.Name(), err)
	}
	return w
}

// enqueue commits one event in its own transaction.
func enqueue(t *testing.T, pool *pgxpool.Pool, e notify.Event) bool {
	t.Helper()
	var inserted bool
	err := store.InTx(context.Background(), pool, func(tx pgx.Tx) error {
		var err error
		inserted, err = notify.Enqueue(context.Background(), tx, e)
		return err
	})
	if err != nil {
		t.Fatalf("enqueue %s: %v", e.ID, err)
	}
	return inserted
}

// waitFor polls cond until it holds or timeout passes.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// outboxRow is what the tests read back from the outbox.
type outboxRow struct {
	eventID     string
	attempts    int
	createdAt   time.Time
	deliveredAt *time.Time
	givenUpAt   *time.Time
	lastError   *string
}

// outboxRows reads the signed webhook's delivery state of every event.
func outboxRows(t *testing.T, pool *pgxpool.Pool) map[string]outboxRow {
	t.Helper()
	rows, err := pool.Query(context.Background(),
		`SELECT o.dedup_key, coalesce(d.attempts, 0), o.created_at, d.delivered_at, d.given_up_at, d.last_error
		FROM outbox o LEFT JOIN outbox_deliveries d ON d.outbox_id = o.id AND d.sink = 'webhook' ORDER BY o.id`)
	if err != nil {
		t.Fatalf("read outbox: %v", err)
	}
	out := map[string]outboxRow{}
	var r outboxRow
	_, err = pgx.ForEachRow(rows, []any{&r.eventID, &r.attempts, &r.createdAt, &r.deliveredAt, &r.givenUpAt, &r.lastError}, func() error {
		out[r.eventID] = r
		return nil
	})
	if err != nil {
		t.Fatalf("read outbox: %v", err)
	}
	return out
}

func allDelivered(t *testing.T, pool *pgxpool.Pool, n int) func() bool {
	return func() bool {
		rows := outboxRows(t, pool)
		if len(rows) != n {
			return false
		}
		for _, r := range rows {
			if r.deliveredAt == nil {
				return false
			}
		}
		return true
	}
}

// metric returns the value of a counter or gauge (summed over label sets
// matching labels), or the sample count of a histogram, and whether the
// family was found.
func metric(t *testing.T, g prometheus.Gatherer, name string, labels map[string]string) (float64, bool) {
	t.Helper()
	fams, err := g.Gather()
	if err != nil {
		t.Fatalf("gather metrics: %v", err)
	}
	for _, f := range fams {
		if f.GetName() != name {
			continue
		}
		var sum float64
		for _, m := range f.GetMetric() {
			if !matches(m, labels) {
				continue
			}
			switch {
			case m.Counter != nil:
				sum += m.Counter.GetValue()
			case m.Gauge != nil:
				sum += m.Gauge.GetValue()
			case m.Histogram != nil:
				sum += float64(m.Histogram.GetSampleCount())
			}
		}
		return sum, true
	}
	return 0, false
}

func matches(m *dto.Metric, labels map[string]string) bool {
	for k, v := range labels {
		found := false
		for _, l := range m.GetLabel() {
			if l.GetName() == k && l.GetValue() == v {
				found = true
			}
		}
		if !found {
			return false
		}
	}
	return true
}

func mustMetric(t *testing.T, g prometheus.Gatherer, name string, labels map[string]string) float64 {
	t.Helper()
	v, ok := metric(t, g, name, labels)
	if !ok {
		t.Fatalf("metric %s not exported", name)
	}
	return v
}

// syncBuffer is a log sink safe for concurrent writes and reads.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func deref(s *string) string {
	if s == nil {
		return "<nil>"
	}
	return *s
}

// newHTTPServer runs h until the test ends.
func newHTTPServer(t testing.TB, h http.HandlerFunc) *httptest.Server {
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

// outboxLastError is sink's last_error for an event ("" when none).
func outboxLastError(t *testing.T, pool *pgxpool.Pool, sink, eventID string) string {
	t.Helper()
	var last *string
	err := pool.QueryRow(context.Background(), `SELECT d.last_error FROM outbox_deliveries d JOIN outbox o ON o.id = d.outbox_id
		WHERE o.dedup_key = $1 AND d.sink = $2`, eventID, sink).Scan(&last)
	if err != nil {
		t.Fatalf("last_error of %s for %s: %v", eventID, sink, err)
	}
	if last == nil {
		return ""
	}
	return *last
}

// enqueueAll commits events in one transaction.
func enqueueAll(t *testing.T, pool *pgxpool.Pool, events []notify.Event) {
	t.Helper()
	err := store.InTx(context.Background(), pool, func(tx pgx.Tx) error {
		_, err := notify.EnqueueAll(context.Background(), tx, events)
		return err
	})
	if err != nil {
		t.Fatalf("enqueue %d events: %v", len(events), err)
	}
}
