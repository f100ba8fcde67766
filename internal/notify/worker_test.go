package notify_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/ton-custody/processor/internal/config"
	"github.com/ton-custody/processor/internal/notify"
	"github.com/ton-custody/processor/internal/notify/sinktest"
	"github.com/ton-custody/processor/internal/store"
	"github.com/ton-custody/processor/internal/store/storetest"
)

func TestRolledBackEventIsNeverSentAndCommittedOneArrivesOnceWithExactSignedBody(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := storetest.NewDB(t)
	rc := newReceiver(t, nil)
	reg := prometheus.NewRegistry()
	startWorker(t, newWorker(t, pool, rc.srv.URL+"/hook", notify.Options{PollInterval: 20 * time.Millisecond}, reg, nil))

	errRollback := errors.New("scanner failed mid-block")
	err := store.InTx(ctx, pool, func(tx pgx.Tx) error {
		if _, err := notify.Enqueue(ctx, tx, notify.Event{Topic: notify.TopicDeposit, ID: "deposit:aa", Payload: map[string]string{"user_id": "bob"}}); err != nil {
			return err
		}
		return errRollback
	})
	if !errors.Is(err, errRollback) {
		t.Fatalf("InTx = %v, want the rollback error", err)
	}
	payload := map[string]string{"user_id": "alice", "amount": "2500000000", "tx_hash": "bb", "note": "<&>"}
	if !enqueue(t, pool, notify.Event{Topic: notify.TopicDeposit, ID: "deposit:bb", Payload: payload}) {
		t.Fatal("Enqueue of a new event reported inserted=false")
	}
	waitFor(t, 5*time.Second, "deposit:bb delivered", allDelivered(t, pool, 1))
	// Anything that was going to leak from the rolled-back transaction has
	// had the worker's many polls to show up.
	time.Sleep(200 * time.Millisecond)

	reqs := rc.requests()
	if len(reqs) != 1 {
		t.Fatalf("receiver got %d requests, want exactly 1: %+v", len(reqs), reqs)
	}
	got := reqs[0]
	rows := outboxRows(t, pool)
	if _, ok := rows["deposit:aa"]; ok || len(rows) != 1 {
		t.Fatalf("outbox rows %v, want only deposit:bb (deposit:aa was rolled back)", rows)
	}
	created := rows["deposit:bb"].createdAt.UTC().Format(time.RFC3339)
	// data's keys come back in jsonb order (by length, then bytes).
	want := `{"event_id":"deposit:bb","type":"deposit","created_at":"` + created +
		`","data":{"note":"<&>","amount":"2500000000","tx_hash":"bb","user_id":"alice"}}`
	if got.body != want {
		t.Fatalf("body\n got %s\nwant %s", got.body, want)
	}
	if got.eventID != "deposit:bb" || got.ctype != "application/json" {
		t.Fatalf("headers: event id %q, content type %q", got.eventID, got.ctype)
	}
	ts, err := strconv.ParseInt(got.timestamp, 10, 64)
	if err != nil || time.Since(time.Unix(ts, 0)).Abs() > time.Minute {
		t.Fatalf("timestamp header %q is not the current unix time", got.timestamp)
	}
	if !strings.HasPrefix(got.signature, "sha256=") || len(got.signature) != len("sha256=")+64 {
		t.Fatalf("signature header %q is not sha256=<64 hex>", got.signature)
	}
	if err := notify.Verify(testSecret, got.timestamp, got.body, got.signature, 5*time.Minute); err != nil {
		t.Fatalf("Verify of the delivered request: %v", err)
	}
	tampered := []struct {
		name                         string
		secret, timestamp, body, sig string
		want                         error
	}{
		{"body", testSecret, got.timestamp, strings.Replace(got.body, "alice", "mallory", 1), got.signature, notify.ErrInvalidSignature},
		{"amount", testSecret, got.timestamp, strings.Replace(got.body, "2500000000", "9500000000", 1), got.signature, notify.ErrInvalidSignature},
		{"timestamp", testSecret, strconv.FormatInt(ts+1, 10), got.body, got.signature, notify.ErrInvalidSignature},
		{"secret", testSecret + "x", got.timestamp, got.body, got.signature, notify.ErrInvalidSignature},
		{"replayed an hour later", testSecret, strconv.FormatInt(ts-3600, 10), got.body,
			notify.Sign(testSecret, ts-3600, []byte(got.body)), notify.ErrTimestampSkew},
	}
	for _, tc := range tampered {
		if err := notify.Verify(tc.secret, tc.timestamp, tc.body, tc.sig, 5*time.Minute); !errors.Is(err, tc.want) {
			t.Errorf("Verify with tampered %s = %v, want %v", tc.name, err, tc.want)
		}
	}
	if ok := mustMetric(t, reg, "processor_notify_deliveries_total", map[string]string{"result": "ok"}); ok != 1 {
		t.Errorf("deliveries_total{result=ok} = %v, want 1", ok)
	}
	// Observed after the database update that waitFor saw.
	waitFor(t, 5*time.Second, "one delivery latency sample", func() bool {
		return mustMetric(t, reg, "processor_notify_delivery_latency_seconds", nil) == 1
	})
}

func TestSameEventIDEnqueuedTwiceIsDeliveredOnce(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := storetest.NewDB(t)
	rc := newReceiver(t, nil)

	// Registered first: a sink gets the events enqueued after that.
	w := newWorker(t, pool, rc.srv.URL, notify.Options{PollInterval: 20 * time.Millisecond}, nil, nil)
	first := notify.Event{Topic: notify.TopicWithdrawal, ID: "withdrawal:7", Payload: map[string]string{"status": "processed"}}
	var again bool
	err := store.InTx(ctx, pool, func(tx pgx.Tx) error {
		inserted, err := notify.Enqueue(ctx, tx, first)
		if err != nil || !inserted {
			return fmt.Errorf("first Enqueue = %v, %v; want true, nil", inserted, err)
		}
		// The same transaction enqueueing again (a retried step) is a no-op.
		again, err = notify.Enqueue(ctx, tx, first)
		return err
	})
	if err != nil || again {
		t.Fatalf("second Enqueue in the same transaction = %v, %v; want false, nil", again, err)
	}
	// A redo after a crash, with a payload that differs: the first wins.
	redo := first
	redo.Payload = map[string]string{"status": "redo"}
	if enqueue(t, pool, redo) {
		t.Fatal("Enqueue of an already committed event id reported inserted=true")
	}
	startWorker(t, w)
	waitFor(t, 5*time.Second, "withdrawal:7 delivered", allDelivered(t, pool, 1))
	time.Sleep(200 * time.Millisecond)

	reqs := rc.requests()
	if len(reqs) != 1 || reqs[0].eventID != "withdrawal:7" {
		t.Fatalf("receiver got %+v, want one request for withdrawal:7", reqs)
	}
	if !strings.Contains(reqs[0].body, `"data":{"status":"processed"}`) {
		t.Fatalf("body %s does not carry the first payload", reqs[0].body)
	}
}

func TestReceiverDownThenUpGetsEveryEventWithBackoffAndRecordedErrors(t *testing.T) {
	t.Parallel()
	pool := storetest.NewDB(t)
	var down atomic.Bool
	down.Store(true)
	rc := newReceiver(t, func(*http.Request) int {
		if down.Load() {
			return http.StatusInternalServerError
		}
		return http.StatusNoContent
	})
	const (
		base = 40 * time.Millisecond
		maxD = 320 * time.Millisecond
	)
	reg := prometheus.NewRegistry()
	logs := &syncBuffer{}
	const token = "tok-Query-Distinctive-42"
	w := newWorker(t, pool, rc.srv.URL+"/hook?token="+token,
		notify.Options{PollInterval: 10 * time.Millisecond, BackoffBase: base, BackoffCap: maxD, Concurrency: 4},
		reg, slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	startWorker(t, w)

	const n = 5
	for i := range n {
		enqueue(t, pool, notify.Event{Topic: notify.TopicDeposit, ID: fmt.Sprintf("deposit:%02d", i), Payload: map[string]int{"i": i}})
	}
	waitFor(t, 10*time.Second, "5 failed attempts of every event", func() bool {
		failed := map[string]int{}
		for _, r := range rc.requests() {
			failed[r.eventID]++
		}
		for i := range n {
			if failed[fmt.Sprintf("deposit:%02d", i)] < 5 {
				return false
			}
		}
		return true
	})
	for id, r := range outboxRows(t, pool) {
		if r.deliveredAt != nil || r.lastError == nil || *r.lastError != "HTTP 500 Internal Server Error: down for maintenance" {
			t.Fatalf("%s while the receiver is down: delivered %v, last_error %q", id, r.deliveredAt, deref(r.lastError))
		}
	}
	down.Store(false)
	waitFor(t, 10*time.Second, "every event delivered", allDelivered(t, pool, n))

	for id, r := range outboxRows(t, pool) {
		if r.attempts < 6 || r.lastError == nil || !strings.Contains(*r.lastError, "HTTP 500") {
			t.Errorf("%s: attempts %d, last_error %v; want >= 6 and the 500 kept", id, r.attempts, deref(r.lastError))
		}
	}
	byEvent := map[string][]received{}
	for _, r := range rc.requests() {
		byEvent[r.eventID] = append(byEvent[r.eventID], r)
	}
	if len(byEvent) != n {
		t.Fatalf("receiver saw %d event ids, want %d", len(byEvent), n)
	}
	for id, reqs := range byEvent {
		if reqs[len(reqs)-1].status != http.StatusNoContent {
			t.Errorf("%s: last request answered %d, want the 204 that delivered it", id, reqs[len(reqs)-1].status)
		}
		for k, r := range reqs {
			if r.body != reqs[0].body {
				t.Errorf("%s: attempt %d body differs from the first: %s vs %s", id, k+1, r.body, reqs[0].body)
			}
			if err := notify.Verify(testSecret, r.timestamp, r.body, r.signature, time.Minute); err != nil {
				t.Errorf("%s: attempt %d does not verify: %v", id, k+1, err)
			}
			if k == 0 {
				continue
			}
			// After the k-th failure the wait is in [d/2, d], d = min(base*2^(k-1), cap).
			d := min(base<<(k-1), maxD)
			if gap := r.at.Sub(reqs[k-1].at); gap < d/2-5*time.Millisecond {
				t.Errorf("%s: attempt %d came %s after the previous one, before the backoff minimum %s", id, k+1, gap, d/2)
			}
		}
	}
	if ok := mustMetric(t, reg, "processor_notify_deliveries_total", map[string]string{"result": "ok"}); ok != n {
		t.Errorf("deliveries_total{ok} = %v, want %d", ok, n)
	}
	if e := mustMetric(t, reg, "processor_notify_deliveries_total", map[string]string{"result": "error"}); e < 5*n {
		t.Errorf("deliveries_total{error} = %v, want >= %d", e, 5*n)
	}
	for _, leak := range []string{token, testSecret} {
		if strings.Contains(logs.String(), leak) {
			t.Errorf("logs contain %q", leak)
		}
	}
	if !strings.Contains(logs.String(), "attempt failed") || !strings.Contains(logs.String(), "sink=webhook") {
		t.Error("failed attempts were not logged")
	}
}

func TestConnectionRefusedIsRetriedUntilTheReceiverListens(t *testing.T) {
	t.Parallel()
	pool := storetest.NewDB(t)
	// Reserve a port, then free it: connections are refused until the
	// receiver starts on it.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	const token = "tok-Refused-Distinctive-77"
	startWorker(t, newWorker(t, pool, "http://"+addr+"/hook?token="+token,
		notify.Options{PollInterval: 10 * time.Millisecond, BackoffBase: 20 * time.Millisecond, BackoffCap: 80 * time.Millisecond}, nil, nil))
	enqueue(t, pool, notify.Event{Topic: notify.TopicServiceWithdrawal, ID: "service_withdrawal:m1", Payload: map[string]string{"memo": "m1"}})
	waitFor(t, 5*time.Second, "two refused attempts", func() bool {
		r := outboxRows(t, pool)["service_withdrawal:m1"]
		return r.attempts >= 2 && r.lastError != nil
	})
	r := outboxRows(t, pool)["service_withdrawal:m1"]
	if !strings.Contains(*r.lastError, "connection refused") || strings.Contains(*r.lastError, token) || r.deliveredAt != nil {
		t.Fatalf("last_error %q, delivered %v; want connection refused, without the URL's token, undelivered", *r.lastError, r.deliveredAt)
	}

	var hits atomic.Int32
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		hits.Add(1)
	}))
	waitFor(t, 5*time.Second, "the port to be free again", func() bool {
		l, err := net.Listen("tcp", addr)
		if err != nil {
			return false
		}
		srv.Listener = l
		return true
	})
	srv.Start()
	t.Cleanup(srv.Close)
	waitFor(t, 5*time.Second, "delivery once the receiver listens", allDelivered(t, pool, 1))
	if hits.Load() != 1 {
		t.Fatalf("receiver got %d requests, want 1", hits.Load())
	}
}

func TestSlowReceiverTimesOutAndIsRetried(t *testing.T) {
	t.Parallel()
	pool := storetest.NewDB(t)
	var calls atomic.Int32
	rc := newReceiver(t, func(r *http.Request) int {
		if calls.Add(1) == 1 {
			select {
			case <-r.Context().Done():
			case <-time.After(2 * time.Second):
			}
		}
		return http.StatusOK
	})
	startWorker(t, newWorker(t, pool, rc.srv.URL, notify.Options{PollInterval: 10 * time.Millisecond,
		SendTimeout: 100 * time.Millisecond, BackoffBase: 20 * time.Millisecond, BackoffCap: 40 * time.Millisecond}, nil, nil))
	enqueue(t, pool, notify.Event{Topic: notify.TopicDeposit, ID: "deposit:slow", Payload: map[string]int{"n": 1}})
	waitFor(t, 5*time.Second, "delivery after a timeout", allDelivered(t, pool, 1))
	r := outboxRows(t, pool)["deposit:slow"]
	if r.attempts < 2 || r.lastError == nil || *r.lastError != "no answer within 100ms" {
		t.Fatalf("attempts %d, last_error %q; want >= 2 and the timeout", r.attempts, deref(r.lastError))
	}
}

func TestStoppingWaitsForTheRequestInFlightAndRecordsItsOutcome(t *testing.T) {
	t.Parallel()
	pool := storetest.NewDB(t)
	started := make(chan struct{}, 1)
	rc := newReceiver(t, func(*http.Request) int {
		started <- struct{}{}
		time.Sleep(300 * time.Millisecond)
		return http.StatusOK
	})
	w := newWorker(t, pool, rc.srv.URL, notify.Options{PollInterval: 10 * time.Millisecond}, nil, nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	errc := make(chan error, 1)
	go func() { errc <- w.Run(ctx) }()
	enqueue(t, pool, notify.Event{Topic: notify.TopicDeposit, ID: "deposit:inflight", Payload: map[string]int{"n": 1}})
	select {
	case <-started:
	case <-time.After(5 * time.Second):
		t.Fatal("the request never started")
	}
	stop := time.Now()
	cancel()
	select {
	case err := <-errc:
		if err != nil {
			t.Fatalf("Run = %v, want nil", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after its context ended")
	}
	// Run returned only once the answer was in and recorded: the event is
	// not left to a lease (and a second delivery).
	if took := time.Since(stop); took < 200*time.Millisecond {
		t.Errorf("Run returned %s after cancel, before the request in flight finished", took)
	}
	r := outboxRows(t, pool)["deposit:inflight"]
	if r.deliveredAt == nil || r.attempts != 1 || len(rc.requests()) != 1 {
		t.Fatalf("delivered %v, attempts %d, requests %d; want delivered once", r.deliveredAt, r.attempts, len(rc.requests()))
	}
}

func TestTwoWorkersOnOneDatabaseDeliverEachEventExactlyOnce(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := storetest.NewDB(t)
	rc := newReceiver(t, func(*http.Request) int {
		time.Sleep(5 * time.Millisecond) // let both workers have requests in flight
		return http.StatusOK
	})
	regs := []*prometheus.Registry{prometheus.NewRegistry(), prometheus.NewRegistry()}
	for _, reg := range regs {
		startWorker(t, newWorker(t, pool, rc.srv.URL, notify.Options{PollInterval: 20 * time.Millisecond, Concurrency: 4}, reg, nil))
	}
	const batches, perBatch = 6, 10
	for b := range batches {
		err := store.InTx(ctx, pool, func(tx pgx.Tx) error {
			for i := range perBatch {
				id := fmt.Sprintf("deposit:%d-%d", b, i)
				if _, err := notify.Enqueue(ctx, tx, notify.Event{Topic: notify.TopicDeposit, ID: id, Payload: map[string]string{"id": id}}); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	const n = batches * perBatch
	waitFor(t, 10*time.Second, "every event delivered", allDelivered(t, pool, n))
	time.Sleep(200 * time.Millisecond)

	counts := rc.okCounts()
	if len(counts) != n || len(rc.requests()) != n {
		t.Fatalf("receiver got %d requests for %d event ids, want %d and %d", len(rc.requests()), len(counts), n, n)
	}
	for id, c := range counts {
		if c != 1 {
			t.Errorf("%s delivered %d times, want 1", id, c)
		}
	}
	var split []float64
	for _, reg := range regs {
		split = append(split, mustMetric(t, reg, "processor_notify_deliveries_total", map[string]string{"result": "ok"}))
	}
	t.Logf("deliveries per worker: %v", split)
	if split[0]+split[1] != n || slices.Contains(split, 0) {
		t.Fatalf("deliveries per worker %v: want both workers to deliver, %d in all", split, n)
	}
}

func TestEventsAreGivenUpAfterTheRetryPeriodAndBacklogGaugeTracksPending(t *testing.T) {
	t.Parallel()
	pool := storetest.NewDB(t)
	rc := newReceiver(t, func(*http.Request) int { return http.StatusServiceUnavailable })
	reg := prometheus.NewRegistry()
	// The period runs from each event's creation, before the worker
	// starts: long enough for three attempts even when the start is late
	// on a loaded machine (400 ms once left room for one attempt).
	const period = 1500 * time.Millisecond
	w := newWorker(t, pool, rc.srv.URL, notify.Options{PollInterval: 10 * time.Millisecond, RetryPeriod: period,
		BackoffBase: 50 * time.Millisecond, BackoffCap: 100 * time.Millisecond}, reg, nil)

	if b := mustMetric(t, reg, "processor_outbox_backlog", nil); b != 0 {
		t.Fatalf("backlog of an empty outbox = %v", b)
	}
	const n = 3
	for i := range n {
		enqueue(t, pool, notify.Event{Topic: notify.TopicWithdrawal, ID: fmt.Sprintf("withdrawal:%d", i), Payload: map[string]int{"i": i}})
	}
	time.Sleep(50 * time.Millisecond)
	if b := mustMetric(t, reg, "processor_outbox_backlog", nil); b != n {
		t.Fatalf("backlog = %v before any delivery, want %d", b, n)
	}
	if age := mustMetric(t, reg, "processor_outbox_oldest_age_seconds", nil); age < 0.05 || age > 60 {
		t.Fatalf("oldest age = %v s, want about 0.05", age)
	}

	startWorker(t, w)
	waitFor(t, 10*time.Second, "every event given up", func() bool {
		rows := outboxRows(t, pool)
		for _, r := range rows {
			if r.givenUpAt == nil {
				return false
			}
		}
		return len(rows) == n
	})
	for id, r := range outboxRows(t, pool) {
		if r.deliveredAt != nil || r.attempts < 3 || r.givenUpAt.Before(r.createdAt.Add(period)) ||
			r.lastError == nil || !strings.HasPrefix(*r.lastError, "HTTP 503") {
			t.Errorf("%s: delivered %v, attempts %d, given up %s after creation, last_error %v; want undelivered, >= 3 attempts, given up after %s, the 503",
				id, r.deliveredAt, r.attempts, r.givenUpAt.Sub(r.createdAt), deref(r.lastError), period)
		}
	}
	// Counted after the database update that waitFor saw.
	waitFor(t, 5*time.Second, "given_up_total = 3", func() bool {
		return mustMetric(t, reg, "processor_notify_given_up_total", nil) == n
	})
	if b := mustMetric(t, reg, "processor_outbox_backlog", nil); b != 0 {
		t.Errorf("backlog = %v after giving up, want 0", b)
	}
	if age := mustMetric(t, reg, "processor_outbox_oldest_age_seconds", nil); age != 0 {
		t.Errorf("oldest age = %v with nothing pending, want 0", age)
	}
	before := len(rc.requests())
	time.Sleep(300 * time.Millisecond)
	if after := len(rc.requests()); after != before {
		t.Errorf("%d more requests after every event was given up", after-before)
	}
}

func TestEnqueueToReceiverLatencyIsWellUnderOneSecond(t *testing.T) {
	t.Parallel()
	pool := storetest.NewDB(t)
	arrived := make(chan time.Time, 1)
	rc := newReceiver(t, func(*http.Request) int {
		arrived <- time.Now()
		return http.StatusOK
	})
	// A poll interval longer than the bound: only the LISTEN/NOTIFY
	// wake-up can make the deadline.
	const poll = 5 * time.Second
	startWorker(t, newWorker(t, pool, rc.srv.URL, notify.Options{PollInterval: poll}, nil, nil))
	// Let the worker's first claim and its LISTEN connection settle, so the
	// samples measure the steady state.
	enqueue(t, pool, notify.Event{Topic: notify.TopicDeposit, ID: "deposit:warmup", Payload: map[string]int{"n": 0}})
	select {
	case <-arrived:
	case <-time.After(2 * poll):
		t.Fatal("warm-up event never arrived")
	}

	const samples = 20
	var lat []time.Duration
	for i := range samples {
		start := time.Now()
		enqueue(t, pool, notify.Event{Topic: notify.TopicDeposit, ID: fmt.Sprintf("deposit:lat%d", i), Payload: map[string]int{"n": i}})
		select {
		case at := <-arrived:
			lat = append(lat, at.Sub(start))
		case <-time.After(2 * time.Second):
			t.Fatalf("event %d not received within 2 s of its enqueue", i)
		}
	}
	slices.Sort(lat)
	t.Logf("enqueue (begin..commit) -> receiver, %d samples: min %s, median %s, p90 %s, max %s",
		samples, lat[0], lat[samples/2], lat[samples*9/10], lat[samples-1])
	if lat[samples-1] >= 2*time.Second {
		t.Fatalf("max latency %s, want < 2 s", lat[samples-1])
	}
	// The receiver records a request just after it reports its arrival.
	waitFor(t, 5*time.Second, "every request recorded", func() bool { return len(rc.requests()) >= samples+1 })
	if len(rc.requests()) != samples+1 {
		t.Fatalf("receiver got %d requests, want %d", len(rc.requests()), samples+1)
	}
}

func TestEnqueueRejectsInvalidEventsAndWritesNothing(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := storetest.NewDB(t)
	tests := []struct {
		name string
		e    notify.Event
		want string
	}{
		{"empty topic", notify.Event{ID: "deposit:1", Payload: 1}, "topic"},
		{"upper-case topic", notify.Event{Topic: "Deposit", ID: "deposit:1", Payload: 1}, "topic"},
		{"empty id", notify.Event{Topic: "deposit", Payload: 1}, "event id"},
		{"id with a space", notify.Event{Topic: "deposit", ID: "deposit 1", Payload: 1}, "event id"},
		{"id with a line break (header injection)", notify.Event{Topic: "deposit", ID: "deposit:1\r\nX-Evil: 1", Payload: 1}, "event id"},
		{"id too long", notify.Event{Topic: "deposit", ID: strings.Repeat("a", 201), Payload: 1}, "event id"},
		{"nil payload", notify.Event{Topic: "deposit", ID: "deposit:1"}, "null"},
		{"unmarshalable payload", notify.Event{Topic: "deposit", ID: "deposit:1", Payload: make(chan int)}, "marshal"},
		{"NUL in payload (jsonb refuses it)", notify.Event{Topic: "deposit", ID: "deposit:1", Payload: "a\x00b"}, "deposit:1"},
	}
	for _, tc := range tests {
		err := store.InTx(ctx, pool, func(tx pgx.Tx) error {
			_, err := notify.Enqueue(ctx, tx, tc.e)
			return err
		})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: Enqueue error %v, want one mentioning %q", tc.name, err, tc.want)
		}
	}
	if rows := outboxRows(t, pool); len(rows) != 0 {
		t.Fatalf("outbox has %d rows after only invalid events", len(rows))
	}
	if !enqueue(t, pool, notify.Event{Topic: "deposit", ID: strings.Repeat("a", 200), Payload: nestedPayload()}) {
		t.Fatal("a valid event at the limits was not inserted")
	}
}

func nestedPayload() any { return map[string]any{"nested": []any{1, "two", nil, true}} }

func TestNewWorkerRejectsBadSettings(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := storetest.NewDB(t)
	secret := config.NewSecret(testSecret)
	for _, tc := range []struct {
		name   string
		url    string
		secret config.Secret
		want   string
	}{
		{"relative URL", "/hook", secret, "absolute"},
		{"ftp URL", "ftp://merchant.example/hook", secret, "absolute"},
		{"no secret", "https://merchant.example/hook", config.Secret{}, "secret"},
	} {
		if _, err := notify.NewWebhookSink(tc.url, tc.secret); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: NewWebhookSink error %v, want one mentioning %q", tc.name, err, tc.want)
		}
	}
	sink, err := notify.NewWebhookSink("https://merchant.example/hook", secret)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		sink notify.Sink
		opts notify.Options
		want string
	}{
		{"negative timeout", sink, notify.Options{SendTimeout: -time.Second}, "SendTimeout"},
		{"lease not above the send timeout", sink, notify.Options{SendTimeout: time.Minute, Lease: time.Minute}, "Lease"},
		{"negative concurrency", sink, notify.Options{Concurrency: -1}, "Concurrency"},
		{"cap below base", sink, notify.Options{BackoffBase: time.Minute, BackoffCap: time.Second}, "BackoffCap"},
		{"no sink", nil, notify.Options{}, "sink"},
		{"bad sink name", &sinktest.MemorySink{SinkName: "Web Hook"}, notify.Options{}, "sink name"},
		{"bad sink topic", &sinktest.MemorySink{SinkName: "memory", SinkTopics: []string{"Deposit"}}, notify.Options{}, "topic"},
	}
	for _, tc := range tests {
		_, err := notify.NewWorker(ctx, pool, tc.sink, tc.opts, prometheus.NewRegistry(), nil)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: NewWorker error %v, want one mentioning %q", tc.name, err, tc.want)
		}
	}
	// Two workers may share a registry (their series are shared).
	reg := prometheus.NewRegistry()
	for range 2 {
		if _, err := notify.NewWorker(ctx, pool, sink, notify.Options{}, reg, nil); err != nil {
			t.Fatalf("NewWorker on a shared registry: %v", err)
		}
	}
	var sinks int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM outbox_sinks`).Scan(&sinks); err != nil || sinks != 1 {
		t.Fatalf("outbox_sinks has %d rows (%v) after registering one sink twice and refusing the rest, want 1", sinks, err)
	}
}
