package notify_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/ton-custody/processor/internal/notify"
	"github.com/ton-custody/processor/internal/store"
	"github.com/ton-custody/processor/internal/store/storetest"
)

func TestEnqueueAllWritesABatchInOrderSkippingKnownAndRepeatedIDs(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := storetest.NewDB(t)
	rc := newReceiver(t, nil)
	w := newWorker(t, pool, rc.srv.URL, notify.Options{PollInterval: 20 * time.Millisecond}, nil, nil)
	enqueue(t, pool, notify.Event{Topic: notify.TopicDeposit, ID: "deposit:x1", Payload: map[string]string{"v": "earlier"}})

	batch := []notify.Event{
		{Topic: notify.TopicDeposit, ID: "deposit:x0", Payload: map[string]string{"v": "first"}},
		{Topic: notify.TopicDeposit, ID: "deposit:x1", Payload: map[string]string{"v": "redo"}},
		{Topic: notify.TopicWithdrawal, ID: "withdrawal:x2", Payload: map[string]string{"v": "w"}},
		{Topic: notify.TopicDeposit, ID: "deposit:x0", Payload: map[string]string{"v": "repeated"}},
	}
	var inserted int
	err := store.InTx(ctx, pool, func(tx pgx.Tx) error {
		var err error
		inserted, err = notify.EnqueueAll(ctx, tx, batch)
		return err
	})
	if err != nil || inserted != 2 {
		t.Fatalf("EnqueueAll = %d, %v; want 2 new rows", inserted, err)
	}
	var order []string
	rows, err := pool.Query(ctx, `SELECT dedup_key || '=' || (payload->>'v') FROM outbox ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	order, err = pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(order, ","); got != "deposit:x1=earlier,deposit:x0=first,withdrawal:x2=w" {
		t.Fatalf("outbox in id order: %s", got)
	}

	bad := append([]notify.Event{{Topic: notify.TopicDeposit, ID: "deposit:x3", Payload: 1}}, notify.Event{Topic: "deposit", ID: "bad id"})
	err = store.InTx(ctx, pool, func(tx pgx.Tx) error {
		_, err := notify.EnqueueAll(ctx, tx, bad)
		return err
	})
	if err == nil || !strings.Contains(err.Error(), "event id") {
		t.Fatalf("EnqueueAll with an invalid event = %v, want the validation error", err)
	}
	if n := len(outboxRows(t, pool)); n != 3 {
		t.Fatalf("outbox has %d rows after a rejected batch, want 3", n)
	}

	startWorker(t, w)
	waitFor(t, 5*time.Second, "the batch delivered", allDelivered(t, pool, 3))
	time.Sleep(100 * time.Millisecond)
	counts := rc.okCounts()
	if len(counts) != 3 || counts["deposit:x0"] != 1 || counts["deposit:x1"] != 1 || counts["withdrawal:x2"] != 1 {
		t.Fatalf("deliveries per event id: %v", counts)
	}
}

// BenchmarkEnqueueAll measures writing a scanner-sized batch of deposit
// events in one transaction.
func BenchmarkEnqueueAll(b *testing.B) {
	ctx := context.Background()
	pool := storetest.NewDB(b)
	const size = 1000
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		events := make([]notify.Event, size)
		for j := range events {
			id := fmt.Sprintf("deposit:%08d%08d", i, j)
			events[j] = notify.Event{Topic: notify.TopicDeposit, ID: id, Payload: map[string]string{"tx_hash": id, "amount": "1000000000", "user_id": "u"}}
		}
		err := store.InTx(ctx, pool, func(tx pgx.Tx) error {
			n, err := notify.EnqueueAll(ctx, tx, events)
			if err == nil && n != size {
				err = fmt.Errorf("inserted %d of %d", n, size)
			}
			return err
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*size)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkEnqueue measures one event per transaction, the withdrawal
// worker's pattern.
func BenchmarkEnqueue(b *testing.B) {
	ctx := context.Background()
	pool := storetest.NewDB(b)
	for i := 0; b.Loop(); i++ {
		err := store.InTx(ctx, pool, func(tx pgx.Tx) error {
			_, err := notify.Enqueue(ctx, tx, notify.Event{Topic: notify.TopicWithdrawal, ID: fmt.Sprintf("withdrawal:%d", i), Payload: map[string]int{"id": i}})
			return err
		})
		if err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkWorkerDrainsBacklog measures how fast one worker (default
// options) empties a backlog into a local receiver that answers at once.
func BenchmarkWorkerDrainsBacklog(b *testing.B) {
	for _, size := range []int{1000, 20000} {
		b.Run(fmt.Sprint(size), func(b *testing.B) {
			ctx := context.Background()
			pool := storetest.NewDB(b)
			rc := newReceiver(b, nil)
			// Registers the sink before anything is enqueued.
			w := newWorker(b, pool, rc.srv.URL, notify.Options{}, nil, nil)
			for i := 0; b.Loop(); i++ {
				events := make([]notify.Event, size)
				for j := range events {
					events[j] = notify.Event{Topic: notify.TopicDeposit, ID: fmt.Sprintf("deposit:%d-%d", i, j), Payload: map[string]int{"j": j}}
				}
				b.StopTimer()
				err := store.InTx(ctx, pool, func(tx pgx.Tx) error {
					_, err := notify.EnqueueAll(ctx, tx, events)
					return err
				})
				if err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				wctx, cancel := context.WithCancel(ctx)
				errc := make(chan error, 1)
				go func() { errc <- w.Run(wctx) }()
				for {
					var pending int
					if err := pool.QueryRow(ctx, `SELECT count(*) FROM outbox WHERE delivered_at IS NULL`).Scan(&pending); err != nil {
						b.Fatal(err)
					}
					if pending == 0 {
						break
					}
					time.Sleep(10 * time.Millisecond)
				}
				cancel()
				<-errc
			}
			b.ReportMetric(float64(b.N*size)/b.Elapsed().Seconds(), "events/s")
		})
	}
}
