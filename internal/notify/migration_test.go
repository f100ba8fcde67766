package notify_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/ton-custody/processor/internal/notify"
	"github.com/ton-custody/processor/internal/notify/sinktest"
	"github.com/ton-custody/processor/internal/store/storetest"
)

// TestMigration0012KeepsTheWebhookStateOfAnExistingOutbox: a database
// from before per-sink delivery keeps its webhook events: delivered ones
// stay delivered, given-up ones given up, pending ones (with their
// attempts and error) are sent once the webhook worker runs.
func TestMigration0012KeepsTheWebhookStateOfAnExistingOutbox(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := storetest.NewDBAround(t, "0012_", func(pool *pgxpool.Pool) {
		_, err := pool.Exec(ctx, `INSERT INTO outbox (topic, payload, dedup_key, attempts, delivered_at, given_up_at, last_error) VALUES
		('deposit', '{"n":1}', 'deposit:done', 1, now(), NULL, NULL),
		('deposit', '{"n":2}', 'deposit:gone', 9, NULL, now(), 'HTTP 500'),
		('withdrawal', '{"n":3}', 'withdrawal:waiting', 3, NULL, NULL, 'HTTP 502')`)
		if err != nil {
			t.Fatal(err)
		}
	})
	rows := outboxRows(t, pool)
	if r := rows["deposit:done"]; r.deliveredAt == nil || r.attempts != 1 {
		t.Errorf("deposit:done: delivered %v, attempts %d", r.deliveredAt, r.attempts)
	}
	if r := rows["deposit:gone"]; r.givenUpAt == nil || r.attempts != 9 || deref(r.lastError) != "HTTP 500" {
		t.Errorf("deposit:gone: given up %v, attempts %d, last error %s", r.givenUpAt, r.attempts, deref(r.lastError))
	}
	if r := rows["withdrawal:waiting"]; r.deliveredAt != nil || r.givenUpAt != nil || r.attempts != 3 || deref(r.lastError) != "HTTP 502" {
		t.Errorf("withdrawal:waiting: delivered %v, given up %v, attempts %d, last error %s", r.deliveredAt, r.givenUpAt, r.attempts, deref(r.lastError))
	}
	rc := newReceiver(t, nil)
	startWorker(t, newWorker(t, pool, rc.srv.URL, notify.Options{PollInterval: 10 * time.Millisecond}, nil, nil))
	enqueue(t, pool, notify.Event{Topic: notify.TopicDeposit, ID: "deposit:new", Payload: map[string]int{"n": 4}})
	waitFor(t, 5*time.Second, "the waiting and the new event delivered", func() bool {
		c := rc.okCounts()
		return c["withdrawal:waiting"] == 1 && c["deposit:new"] == 1
	})
	time.Sleep(100 * time.Millisecond)
	if c := rc.okCounts(); len(c) != 2 {
		t.Fatalf("receiver got %v; the delivered and the given-up event must not be sent again", c)
	}
	// The worker records the delivery after the receiver has answered.
	waitFor(t, 5*time.Second, "outbox.delivered_at of withdrawal:waiting set after its delivery", func() bool {
		var delivered bool
		err := pool.QueryRow(ctx, `SELECT delivered_at IS NOT NULL FROM outbox WHERE dedup_key = 'withdrawal:waiting'`).Scan(&delivered)
		return err == nil && delivered
	})
}

// TestFreshDatabaseHasNoSinkUntilOneIsConfigured: events enqueued before any
// sink exists are queued for none (they stay pending in the outbox).
func TestFreshDatabaseHasNoSinkUntilOneIsConfigured(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := storetest.NewDB(t)
	enqueue(t, pool, notify.Event{Topic: notify.TopicDeposit, ID: "deposit:early", Payload: map[string]int{"n": 1}})
	var sinks, deliveries int
	if err := pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM outbox_sinks), (SELECT count(*) FROM outbox_deliveries)`).Scan(&sinks, &deliveries); err != nil {
		t.Fatal(err)
	}
	if sinks != 0 || deliveries != 0 {
		t.Fatalf("fresh database: %d sinks, %d deliveries; want none", sinks, deliveries)
	}
}

// TestOutboxSummaryIsGivenUpWhenOneSinkGaveUpAndTheOtherDelivered: the
// outbox row's own delivered_at/given_up_at sum up the sinks.
func TestOutboxSummaryIsGivenUpWhenOneSinkGaveUpAndTheOtherDelivered(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := storetest.NewDB(t)
	for _, s := range []string{"a", "b"} {
		if _, err := pool.Exec(ctx, `INSERT INTO outbox_sinks (name) VALUES ($1)`, s); err != nil {
			t.Fatal(err)
		}
	}
	enqueue(t, pool, notify.Event{Topic: notify.TopicDeposit, ID: "deposit:s", Payload: map[string]int{"n": 1}})
	summary := func() (delivered, givenUp bool) {
		t.Helper()
		if err := pool.QueryRow(ctx, `SELECT delivered_at IS NOT NULL, given_up_at IS NOT NULL FROM outbox`).Scan(&delivered, &givenUp); err != nil {
			t.Fatal(err)
		}
		return
	}
	steps := []struct {
		stmt               string
		delivered, givenUp bool
	}{
		{`UPDATE outbox_deliveries SET delivered_at = now() WHERE sink = 'a'`, false, false},
		{`UPDATE outbox_deliveries SET given_up_at = now() WHERE sink = 'b'`, false, true},
		// An operator sending the given-up event again: pending again.
		{`UPDATE outbox_deliveries SET given_up_at = NULL, next_attempt_at = now() WHERE sink = 'b'`, false, false},
		{`UPDATE outbox_deliveries SET delivered_at = now() WHERE sink = 'b'`, true, false},
	}
	for _, st := range steps {
		if _, err := pool.Exec(ctx, st.stmt); err != nil {
			t.Fatal(err)
		}
		if d, g := summary(); d != st.delivered || g != st.givenUp {
			t.Fatalf("after %s: delivered %v, given up %v; want %v, %v", st.stmt, d, g, st.delivered, st.givenUp)
		}
	}
}

// TestOutboxSummaryWithSinksFinishingTogether: two sinks delivering the same
// events at the same moment still leave every event summed up as delivered
// (neither may miss the other's result).
func TestOutboxSummaryWithSinksFinishingTogether(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := storetest.NewDB(t)
	opts := notify.Options{PollInterval: 10 * time.Millisecond, Concurrency: 16}
	a, b := &sinktest.MemorySink{SinkName: "mem_a"}, &sinktest.MemorySink{SinkName: "mem_b"}
	wa, wb := newSinkWorker(t, pool, a, opts, nil, nil), newSinkWorker(t, pool, b, opts, nil, nil)
	const n = 300
	events := make([]notify.Event, n)
	for i := range events {
		events[i] = notify.Event{Topic: notify.TopicDeposit, ID: fmt.Sprintf("deposit:%d", i), Payload: map[string]int{"i": i}}
	}
	enqueueAll(t, pool, events)
	startWorker(t, wa)
	startWorker(t, wb)
	waitFor(t, 20*time.Second, "both sinks to deliver everything", func() bool {
		return countDeliveredSink(t, pool, "mem_a") == n && countDeliveredSink(t, pool, "mem_b") == n
	})
	var undone int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM outbox WHERE delivered_at IS NULL`).Scan(&undone); err != nil || undone != 0 {
		t.Fatalf("%d events without outbox.delivered_at (%v) after both sinks delivered them", undone, err)
	}
}
