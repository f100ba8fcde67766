// Package sinktest is the behavioural test suite every notification sink
// (internal/notify.Sink) passes, run by each sink's tests against a real
// receiver it can take down: every event delivered at least once, in order
// per order key, nothing lost while the receiver is down, retries with
// backoff, a send repeated after a crash between sending and recording,
// one sink down not holding up another, and giving up after the retry
// period. Retries and ordering are the Worker's; the suite proves that they
// hold end to end for each way out.
package sinktest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/xssnick/tonutils-go/address"

	"github.com/ton-custody/processor/internal/notify"
	"github.com/ton-custody/processor/internal/store"
	"github.com/ton-custody/processor/internal/store/storetest"
)

// Target is one sink under test and the receiver behind it.
type Target struct {
	// Sink is the sink under test.
	Sink notify.Sink
	// Arrivals returns what the receiver accepted so far, in arrival order,
	// duplicates included.
	Arrivals func() []Arrival
	// Down makes the receiver unavailable (errors, refused or cut
	// connections) until Up.
	Down, Up func()
}

// Arrival is one event as the receiver accepted it.
type Arrival struct {
	EventID string
	Topic   string
}

// NewTarget builds a fresh Target for one test, cleaning up through t.
type NewTarget func(t *testing.T) Target

// timeout bounds every wait of the suite; generous, since the tests of a
// whole repository share the machine.
const timeout = 20 * time.Second

// baseOptions are short delays so outages and retries fit in a test.
func baseOptions() notify.Options {
	return notify.Options{PollInterval: 20 * time.Millisecond, Concurrency: 4, SendTimeout: 3 * time.Second,
		BackoffBase: 25 * time.Millisecond, BackoffCap: 200 * time.Millisecond}
}

// Run runs every case of the suite against targets made by newTarget, each
// case on a fresh database, in parallel.
func Run(t *testing.T, newTarget NewTarget) {
	t.Run("EveryEventAtLeastOnce", func(t *testing.T) { t.Parallel(); everyEventAtLeastOnce(t, newTarget(t)) })
	t.Run("InOrderPerKey", func(t *testing.T) { t.Parallel(); inOrderPerKey(t, newTarget(t)) })
	t.Run("NothingLostWhileDown", func(t *testing.T) { t.Parallel(); nothingLostWhileDown(t, newTarget(t)) })
	t.Run("RetriesBackOff", func(t *testing.T) { t.Parallel(); retriesBackOff(t, newTarget(t)) })
	t.Run("RedeliveryAfterRestart", func(t *testing.T) { t.Parallel(); redeliveryAfterRestart(t, newTarget(t)) })
	t.Run("DownSinkDoesNotHoldUpOthers", func(t *testing.T) { t.Parallel(); downSinkDoesNotHoldUpOthers(t, newTarget(t)) })
	t.Run("GivenUpAfterRetryPeriod", func(t *testing.T) { t.Parallel(); givenUpAfterRetryPeriod(t, newTarget(t)) })
}

// everyEventAtLeastOnce: events of every topic, enqueued one by one and in
// batches, reach the receiver when the sink takes their topic, and never
// otherwise; each is recorded delivered.
func everyEventAtLeastOnce(t *testing.T, tg Target) {
	pool := storetest.NewDB(t)
	start(t, pool, tg.Sink, baseOptions())
	var events []notify.Event
	for i := range 24 {
		events = append(events, Event(t, allTopics[i%len(allTopics)], i))
	}
	for _, e := range events[:8] {
		enqueue(t, pool, e)
	}
	enqueue(t, pool, events[8:]...)
	want := accepted(tg.Sink, events)
	waitFor(t, "every accepted event to arrive and be recorded", func() bool {
		return covers(tg.Arrivals(), want) && countDelivered(t, pool, tg.Sink.Name()) == len(want)
	})
	checkArrivals(t, tg, events)
	rows := Deliveries(t, pool, tg.Sink.Name())
	for _, e := range events {
		_, queued := rows[e.ID]
		if queued != takes(tg.Sink, e.Topic) {
			t.Errorf("%s (topic %s): queued for the sink = %v, want %v", e.ID, e.Topic, queued, takes(tg.Sink, e.Topic))
		}
	}
	// Nothing of a topic the sink does not take shows up later either.
	time.Sleep(200 * time.Millisecond)
	checkArrivals(t, tg, events)
}

// inOrderPerKey: while the receiver is down only the first event of each
// order key is attempted; once it is back, each key's events arrive in
// enqueue order (an event never before the one ahead of it), unkeyed ones
// whenever.
func inOrderPerKey(t *testing.T, tg Target) {
	pool := storetest.NewDB(t)
	topic := firstTopic(tg.Sink)
	tg.Down()
	start(t, pool, tg.Sink, baseOptions())
	keys := map[string][]string{} // key -> event ids in enqueue order
	var all []notify.Event
	for i := range 12 {
		e := Event(t, topic, i)
		if i%3 != 2 {
			e.OrderKey = fmt.Sprintf("key-%d", i%3)
			keys[e.OrderKey] = append(keys[e.OrderKey], e.ID)
		}
		all = append(all, e)
	}
	// Several transactions, as successive status changes would come.
	enqueue(t, pool, all[:5]...)
	for _, e := range all[5:] {
		enqueue(t, pool, e)
	}
	waitFor(t, "the head of each key to fail twice", func() bool {
		rows := Deliveries(t, pool, tg.Sink.Name())
		for _, ids := range keys {
			if rows[ids[0]].Attempts < 2 {
				return false
			}
		}
		return true
	})
	rows := Deliveries(t, pool, tg.Sink.Name())
	for key, ids := range keys {
		for _, id := range ids[1:] {
			if rows[id].Attempts != 0 {
				t.Errorf("%s (%s) was attempted %d times while an earlier event of its key was pending", id, key, rows[id].Attempts)
			}
		}
	}
	tg.Up()
	waitFor(t, "every event to arrive", func() bool { return covers(tg.Arrivals(), all) })
	arrivals := tg.Arrivals()
	for key, ids := range keys {
		firstAt := map[string]int{}
		for i, a := range arrivals {
			if _, seen := firstAt[a.EventID]; !seen {
				firstAt[a.EventID] = i
			}
		}
		for k := 1; k < len(ids); k++ {
			for i, a := range arrivals {
				if a.EventID == ids[k] && i < firstAt[ids[k-1]] {
					t.Errorf("key %s: %s arrived (position %d) before %s first did (position %d)", key, ids[k], i, ids[k-1], firstAt[ids[k-1]])
				}
			}
		}
	}
	checkArrivals(t, tg, all)
}

// nothingLostWhileDown: events enqueued during an outage fail, are kept
// with their errors, and all arrive after it.
func nothingLostWhileDown(t *testing.T, tg Target) {
	pool := storetest.NewDB(t)
	topic := firstTopic(tg.Sink)
	rec := &recorder{Sink: tg.Sink}
	start(t, pool, rec, baseOptions())
	before := []notify.Event{Event(t, topic, 0), Event(t, topic, 1)}
	enqueue(t, pool, before...)
	waitFor(t, "the events before the outage to arrive", func() bool { return covers(tg.Arrivals(), before) })

	tg.Down()
	var during []notify.Event
	for i := range 10 {
		e := Event(t, topic, 100+i)
		during = append(during, e)
		enqueue(t, pool, e)
	}
	// Two sends of each have failed, not only been claimed (attempts
	// counts claims): a second attempt still in flight when the receiver
	// comes back would arrive as attempt 2.
	waitFor(t, "every event to fail twice during the outage", func() bool {
		rows := Deliveries(t, pool, tg.Sink.Name())
		for _, e := range during {
			if r := rows[e.ID]; rec.failures(e.ID) < 2 || r.LastError == "" {
				return false
			}
		}
		return true
	})
	for _, a := range tg.Arrivals() {
		for _, e := range during {
			if a.EventID == e.ID {
				t.Fatalf("%s arrived while the receiver was down", e.ID)
			}
		}
	}
	for _, e := range during {
		if r := Deliveries(t, pool, tg.Sink.Name())[e.ID]; r.DeliveredAt != nil || r.GivenUpAt != nil {
			t.Fatalf("%s during the outage: delivered %v, given up %v", e.ID, r.DeliveredAt, r.GivenUpAt)
		}
	}
	tg.Up()
	all := append(before, during...)
	waitFor(t, "every event to arrive and be recorded after the outage", func() bool {
		return covers(tg.Arrivals(), all) && countDelivered(t, pool, tg.Sink.Name()) == len(all)
	})
	rows := Deliveries(t, pool, tg.Sink.Name())
	for _, e := range during {
		if r := rows[e.ID]; r.Attempts < 3 || r.LastError == "" {
			t.Errorf("%s: attempts %d, last error %q; want >= 3 and the outage's error kept", e.ID, r.Attempts, r.LastError)
		}
	}
	checkArrivals(t, tg, all)
}

// retriesBackOff: the n-th retry of a failing event waits at least half of
// min(base * 2^(n-1), cap), and retries keep coming until it arrives.
func retriesBackOff(t *testing.T, tg Target) {
	pool := storetest.NewDB(t)
	rec := &recorder{Sink: tg.Sink}
	opts := baseOptions()
	opts.BackoffBase, opts.BackoffCap = 40*time.Millisecond, 320*time.Millisecond
	tg.Down()
	start(t, pool, rec, opts)
	e := Event(t, firstTopic(tg.Sink), 0)
	enqueue(t, pool, e)
	waitFor(t, "six failed attempts", func() bool { return len(rec.attempts(e.ID)) >= 6 })
	tg.Up()
	waitFor(t, "the event to arrive and be recorded", func() bool {
		return covers(tg.Arrivals(), []notify.Event{e}) && countDelivered(t, pool, tg.Sink.Name()) == 1
	})
	at := rec.attempts(e.ID)
	for k := 1; k < len(at); k++ {
		d := min(opts.BackoffBase<<(k-1), opts.BackoffCap)
		gap := at[k].Sub(at[k-1])
		if gap < d/2-5*time.Millisecond {
			t.Errorf("attempt %d came %s after the previous one, before the backoff minimum %s", k+1, gap, d/2)
		}
		if gap > d+opts.SendTimeout+2*time.Second {
			t.Errorf("attempt %d came %s after the previous one: retries stalled (backoff at most %s)", k+1, gap, d)
		}
	}
	if r := Deliveries(t, pool, tg.Sink.Name())[e.ID]; r.Attempts != len(at) {
		t.Errorf("recorded attempts %d, sink saw %d", r.Attempts, len(at))
	}
}

// redeliveryAfterRestart: the process dies after the receiver got an event
// but before the delivery was recorded; after a restart the event is sent
// again (same event id) once the dead worker's lease ends.
func redeliveryAfterRestart(t *testing.T, tg Target) {
	pool := storetest.NewDB(t)
	topic := firstTopic(tg.Sink)
	opts := baseOptions()
	opts.SendTimeout, opts.Lease = time.Second, 1500*time.Millisecond
	e := Event(t, topic, 0)
	crash := &crasher{Sink: tg.Sink, eventID: e.ID, crashed: make(chan struct{})}
	stop := start(t, pool, crash, opts)
	enqueue(t, pool, e)
	select {
	case <-crash.crashed:
	case <-time.After(timeout):
		t.Fatal("the send before the crash never succeeded")
	}
	stop()
	// The new process starts with new connections.
	if c, ok := tg.Sink.(interface{ Close() error }); ok {
		_ = c.Close()
	}
	// A broker's consumer may get the message a moment after the confirm.
	waitFor(t, "the event sent before the crash to arrive", func() bool { return count(tg.Arrivals(), e.ID) >= 1 })
	if n := count(tg.Arrivals(), e.ID); n != 1 {
		t.Fatalf("%s arrived %d times before the restart, want 1", e.ID, n)
	}
	if r := Deliveries(t, pool, tg.Sink.Name())[e.ID]; r.DeliveredAt != nil || r.Attempts != 1 {
		t.Fatalf("after the crash: delivered %v, attempts %d; want unrecorded, 1 attempt", r.DeliveredAt, r.Attempts)
	}
	restarted := time.Now()
	start(t, pool, tg.Sink, opts)
	after := Event(t, topic, 1)
	enqueue(t, pool, after)
	waitFor(t, "the event to be sent again and recorded", func() bool {
		return count(tg.Arrivals(), e.ID) >= 2 && countDelivered(t, pool, tg.Sink.Name()) == 2
	})
	if r := Deliveries(t, pool, tg.Sink.Name())[e.ID]; r.Attempts != 2 {
		t.Errorf("%s: %d attempts, want 2 (the crashed one and the redelivery)", e.ID, r.Attempts)
	}
	// The lease kept the new worker off the event for a while.
	if took := time.Since(restarted); took < 300*time.Millisecond {
		t.Errorf("redelivered %s after the restart, before the lease could end", took)
	}
	checkArrivals(t, tg, []notify.Event{e, after})
}

// downSinkDoesNotHoldUpOthers: with the target down, another sink on the
// same outbox gets every event at once; the target gets them once back.
func downSinkDoesNotHoldUpOthers(t *testing.T, tg Target) {
	pool := storetest.NewDB(t)
	other := &MemorySink{SinkName: "sinktest_memory"}
	tg.Down()
	start(t, pool, tg.Sink, baseOptions())
	start(t, pool, other, baseOptions())
	var events []notify.Event
	for i := range 10 {
		events = append(events, Event(t, allTopics[i%len(allTopics)], i))
	}
	enqueue(t, pool, events...)
	waitFor(t, "the other sink to get every event", func() bool { return covers(other.Arrivals(), events) })
	want := accepted(tg.Sink, events)
	if len(want) > 0 {
		waitFor(t, "the target to have failed on its events", func() bool {
			rows := Deliveries(t, pool, tg.Sink.Name())
			for _, e := range want {
				if rows[e.ID].Attempts < 1 {
					return false
				}
			}
			return true
		})
	}
	if n := countDelivered(t, pool, tg.Sink.Name()); n != 0 {
		t.Fatalf("%d events recorded delivered to the target while it is down", n)
	}
	summary := outboxSummary(t, pool)
	for _, e := range want {
		if summary[e.ID] {
			t.Errorf("%s: outbox.delivered_at set while the target has not delivered it", e.ID)
		}
	}
	tg.Up()
	waitFor(t, "the target to catch up", func() bool {
		return covers(tg.Arrivals(), want) && countDelivered(t, pool, tg.Sink.Name()) == len(want)
	})
	// Each sink records its deliveries after the receiver has them, so
	// the other sink's last ones may commit after the target's: the
	// summary follows the later of the two commits (never set: a bug).
	waitFor(t, "outbox.delivered_at set once every sink delivered", func() bool {
		summary = outboxSummary(t, pool)
		for _, e := range events {
			if !summary[e.ID] {
				return false
			}
		}
		return true
	})
	checkArrivals(t, tg, events)
}

// givenUpAfterRetryPeriod: an event still failing after the retry period
// is given up (recorded, counted) and not sent any more.
func givenUpAfterRetryPeriod(t *testing.T, tg Target) {
	pool := storetest.NewDB(t)
	rec := &recorder{Sink: tg.Sink}
	opts := baseOptions()
	// Long enough for a second attempt on a loaded machine (a first
	// RabbitMQ connect alone has taken 500 ms there).
	opts.RetryPeriod = 2 * time.Second
	reg := prometheus.NewRegistry()
	tg.Down()
	startWith(t, pool, rec, opts, reg)
	events := []notify.Event{Event(t, firstTopic(tg.Sink), 0), Event(t, firstTopic(tg.Sink), 1)}
	enqueue(t, pool, events...)
	waitFor(t, "every event given up", func() bool {
		rows := Deliveries(t, pool, tg.Sink.Name())
		for _, e := range events {
			if rows[e.ID].GivenUpAt == nil {
				return false
			}
		}
		return true
	})
	rows := Deliveries(t, pool, tg.Sink.Name())
	for _, e := range events {
		r := rows[e.ID]
		if r.Attempts < 2 || r.LastError == "" || r.DeliveredAt != nil || r.GivenUpAt.Before(r.CreatedAt.Add(opts.RetryPeriod)) {
			t.Errorf("%s: attempts %d, last error %q, delivered %v, given up %s after creation; want >= 2 attempts, an error, undelivered, after %s",
				e.ID, r.Attempts, r.LastError, r.DeliveredAt, r.GivenUpAt.Sub(r.CreatedAt), opts.RetryPeriod)
		}
	}
	waitFor(t, "the given-up counter", func() bool { return gauge(t, reg, "processor_notify_given_up_total") == 2 })
	tg.Up()
	sent := len(rec.attempts(events[0].ID)) + len(rec.attempts(events[1].ID))
	time.Sleep(300 * time.Millisecond)
	if now := len(rec.attempts(events[0].ID)) + len(rec.attempts(events[1].ID)); now != sent {
		t.Errorf("%d more attempts after the events were given up", now-sent)
	}
	if b := gauge(t, reg, "processor_outbox_backlog"); b != 0 {
		t.Errorf("backlog %v after giving up, want 0", b)
	}
}

// allTopics are the topics the processor enqueues.
var allTopics = []string{notify.TopicDeposit, notify.TopicWithdrawal, notify.TopicServiceWithdrawal, notify.TopicBridgePayment}

// Event returns the i-th test event of topic with a payload like the
// processor's: a deposit has every field of the README's deposit payload
// (so a bicycle sink can convert it) and the id "deposit:<tx_hash>".
func Event(t testing.TB, topic string, i int) notify.Event {
	sum := sha256.Sum256(fmt.Appendf(nil, "%s/%s/%d", t.Name(), topic, i))
	h := hex.EncodeToString(sum[:])
	switch topic {
	case notify.TopicDeposit:
		return notify.Event{Topic: topic, ID: "deposit:" + h, Payload: map[string]any{
			"user_id": fmt.Sprintf("user-%d", i%3), "currency": "TON",
			"deposit_address": address.NewAddress(0, 0, sum[:]).Bounce(false).String(),
			"amount":          fmt.Sprint(1_000_000_000 + i), "source_address": address.NewAddress(0, 0, sum[:]).Bounce(false).String(),
			"comment": fmt.Sprintf("deposit %d <&>", i), "tx_hash": h, "lt": fmt.Sprint(1000 + i), "time": 1_700_000_000 + i, "mc_seqno": 42,
		}}
	default:
		return notify.Event{Topic: topic, ID: fmt.Sprintf("%s:%s", topic, h[:16]), Payload: map[string]any{"n": i, "status": "processed"}}
	}
}

// takes reports whether s takes events of topic.
func takes(s notify.Sink, topic string) bool {
	return len(s.Topics()) == 0 || slices.Contains(s.Topics(), topic)
}

func firstTopic(s notify.Sink) string {
	if len(s.Topics()) > 0 {
		return s.Topics()[0]
	}
	return notify.TopicDeposit
}

func accepted(s notify.Sink, events []notify.Event) []notify.Event {
	var out []notify.Event
	for _, e := range events {
		if takes(s, e.Topic) {
			out = append(out, e)
		}
	}
	return out
}

// covers reports whether every event arrived at least once.
func covers(arrivals []Arrival, events []notify.Event) bool {
	seen := map[string]bool{}
	for _, a := range arrivals {
		seen[a.EventID] = true
	}
	for _, e := range events {
		if !seen[e.ID] {
			return false
		}
	}
	return true
}

func count(arrivals []Arrival, id string) int {
	n := 0
	for _, a := range arrivals {
		if a.EventID == id {
			n++
		}
	}
	return n
}

// checkArrivals: every arrival is an enqueued event of a topic the sink
// takes, with its topic (duplicates are allowed: at least once).
func checkArrivals(t *testing.T, tg Target, events []notify.Event) {
	t.Helper()
	topics := map[string]string{}
	for _, e := range events {
		topics[e.ID] = e.Topic
	}
	for _, a := range tg.Arrivals() {
		topic, ok := topics[a.EventID]
		switch {
		case !ok:
			t.Errorf("the receiver got %s, which was not enqueued (here)", a.EventID)
		case !takes(tg.Sink, topic):
			t.Errorf("the receiver got %s of topic %s, which the sink does not take", a.EventID, topic)
		case a.Topic != topic:
			t.Errorf("%s arrived as topic %q, want %q", a.EventID, a.Topic, topic)
		}
	}
}

// start runs a Worker for sink on pool until the test ends or the returned
// stop is called (which waits for Run to return).
func start(t *testing.T, pool *pgxpool.Pool, sink notify.Sink, opts notify.Options) (stop func()) {
	return startWith(t, pool, sink, opts, nil)
}

func startWith(t *testing.T, pool *pgxpool.Pool, sink notify.Sink, opts notify.Options, reg prometheus.Registerer) (stop func()) {
	t.Helper()
	w, err := notify.NewWorker(context.Background(), pool, sink, opts, reg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("NewWorker(%s): %v", sink.Name(), err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- w.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-errc:
				if err != nil {
					t.Errorf("Run(%s) = %v after its context ended, want nil", sink.Name(), err)
				}
			case <-time.After(timeout):
				t.Errorf("Run(%s) did not return within %s of its context ending", sink.Name(), timeout)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

// enqueue commits events in one transaction.
func enqueue(t *testing.T, pool *pgxpool.Pool, events ...notify.Event) {
	t.Helper()
	err := store.InTx(context.Background(), pool, func(tx pgx.Tx) error {
		_, err := notify.EnqueueAll(context.Background(), tx, events)
		return err
	})
	if err != nil {
		t.Fatalf("enqueue: %v", err)
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Delivery is a sink's delivery state of one event (outbox_deliveries).
type Delivery struct {
	Attempts    int
	CreatedAt   time.Time
	DeliveredAt *time.Time
	GivenUpAt   *time.Time
	LastError   string
}

// Deliveries reads sink's delivery rows by event id.
func Deliveries(t testing.TB, pool *pgxpool.Pool, sink string) map[string]Delivery {
	t.Helper()
	rows, err := pool.Query(context.Background(), `SELECT coalesce(o.dedup_key, 'outbox:' || o.id), d.attempts, d.created_at,
		d.delivered_at, d.given_up_at, coalesce(d.last_error, '')
		FROM outbox_deliveries d JOIN outbox o ON o.id = d.outbox_id WHERE d.sink = $1`, sink)
	if err != nil {
		t.Fatalf("read deliveries: %v", err)
	}
	out := map[string]Delivery{}
	var id string
	var d Delivery
	_, err = pgx.ForEachRow(rows, []any{&id, &d.Attempts, &d.CreatedAt, &d.DeliveredAt, &d.GivenUpAt, &d.LastError}, func() error {
		out[id] = d
		return nil
	})
	if err != nil {
		t.Fatalf("read deliveries: %v", err)
	}
	return out
}

func countDelivered(t testing.TB, pool *pgxpool.Pool, sink string) int {
	n := 0
	for _, d := range Deliveries(t, pool, sink) {
		if d.DeliveredAt != nil {
			n++
		}
	}
	return n
}

// outboxSummary reads outbox.delivered_at IS NOT NULL by event id.
func outboxSummary(t testing.TB, pool *pgxpool.Pool) map[string]bool {
	t.Helper()
	rows, err := pool.Query(context.Background(), `SELECT dedup_key, delivered_at IS NOT NULL FROM outbox`)
	if err != nil {
		t.Fatalf("read outbox: %v", err)
	}
	out := map[string]bool{}
	var id string
	var done bool
	_, err = pgx.ForEachRow(rows, []any{&id, &done}, func() error {
		out[id] = done
		return nil
	})
	if err != nil {
		t.Fatalf("read outbox: %v", err)
	}
	return out
}

// gauge sums the values of a counter or gauge family.
func gauge(t testing.TB, g prometheus.Gatherer, name string) float64 {
	t.Helper()
	fams, err := g.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	var sum float64
	for _, f := range fams {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			sum += m.GetCounter().GetValue() + m.GetGauge().GetValue()
		}
	}
	return sum
}

// recorder is a sink that remembers when each attempt started.
type recorder struct {
	notify.Sink
	mu     sync.Mutex
	at     map[string][]time.Time
	failed map[string]int // sends that returned an error
}

func (r *recorder) Send(ctx context.Context, m notify.Message) error {
	r.mu.Lock()
	if r.at == nil {
		r.at, r.failed = map[string][]time.Time{}, map[string]int{}
	}
	r.at[m.EventID] = append(r.at[m.EventID], time.Now())
	r.mu.Unlock()
	err := r.Sink.Send(ctx, m)
	if err != nil {
		r.mu.Lock()
		r.failed[m.EventID]++
		r.mu.Unlock()
	}
	return err
}

func (r *recorder) failures(id string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.failed[id]
}

func (r *recorder) attempts(id string) []time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.at[id])
}

// crasher is a sink that dies (panics, which the Worker survives without
// recording anything, as if the process had been killed) right after the
// first successful send of one event.
type crasher struct {
	notify.Sink
	eventID string
	once    sync.Once
	crashed chan struct{}
}

func (c *crasher) Send(ctx context.Context, m notify.Message) error {
	err := c.Sink.Send(ctx, m)
	if err == nil && m.EventID == c.eventID {
		first := false
		c.once.Do(func() { first = true })
		if first {
			close(c.crashed)
			panic("sinktest: simulated crash between send and record")
		}
	}
	return err
}

// MemorySink is a sink that accepts everything into memory.
type MemorySink struct {
	SinkName   string
	SinkTopics []string
	mu         sync.Mutex
	got        []Arrival
}

// Name implements notify.Sink.
func (m *MemorySink) Name() string { return m.SinkName }

// Topics implements notify.Sink.
func (m *MemorySink) Topics() []string { return m.SinkTopics }

// Send implements notify.Sink.
func (m *MemorySink) Send(_ context.Context, msg notify.Message) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.got = append(m.got, Arrival{EventID: msg.EventID, Topic: msg.Topic})
	return nil
}

// Arrivals returns what the sink accepted, in order.
func (m *MemorySink) Arrivals() []Arrival {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.got)
}
