package notify

import (
	"context"
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/ton-custody/processor/internal/store"
	"github.com/ton-custody/processor/internal/store/storetest"
)

type nullSink struct{}

func (nullSink) Name() string                        { return "null" }
func (nullSink) Topics() []string                    { return nil }
func (nullSink) Send(context.Context, Message) error { return nil }

// Deliveries recorded together are each marked once: a row delivered
// before (a second sender after its lease ran out) is reported as such
// and keeps its time, the others are recorded with their latency.
func TestRecordSuccessesMarksEachDeliveryOnce(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := storetest.NewDB(t)
	w, err := NewWorker(ctx, pool, nullSink{}, Options{}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	events := make([]Event, 3)
	for i := range events {
		events[i] = Event{Topic: TopicDeposit, ID: fmt.Sprint("deposit:r", i), Payload: map[string]int{"i": i}}
	}
	if err := store.InTx(ctx, pool, func(tx pgx.Tx) error { _, err := EnqueueAll(ctx, tx, events); return err }); err != nil {
		t.Fatal(err)
	}
	cs, err := w.claim(ctx, 3)
	if err != nil || len(cs) != 3 {
		t.Fatalf("claimed %d: %v", len(cs), err)
	}
	if _, err := pool.Exec(ctx, `UPDATE outbox_deliveries SET delivered_at = '2026-01-01' WHERE outbox_id = $1`, cs[1].id); err != nil {
		t.Fatal(err)
	}
	out := w.recordSuccesses(cs)
	for i, r := range out {
		if r.err != nil || r.recorded != (i != 1) || (r.recorded && r.latency <= 0) {
			t.Errorf("delivery %d: %+v", i, r)
		}
	}
	var earlier, now int
	if err := pool.QueryRow(ctx, `SELECT count(*) FILTER (WHERE delivered_at = '2026-01-01'),
		count(*) FILTER (WHERE delivered_at > '2026-01-01') FROM outbox_deliveries`).Scan(&earlier, &now); err != nil {
		t.Fatal(err)
	}
	if earlier != 1 || now != 2 {
		t.Errorf("delivered before: %d, now: %d; want 1 and 2", earlier, now)
	}
}
