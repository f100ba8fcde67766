package bridge

import (
	"context"
	"errors"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/ton-custody/processor/internal/notify"
	"github.com/ton-custody/processor/internal/store/storetest"
)

// A pipelined status change commits everything or nothing, and always
// gives its connection back.
func TestPipeTxCommitsAllOrNothing(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := storetest.NewDB(t)
	if _, err := pool.Exec(ctx, `INSERT INTO bridge_payments (reference, kind, provider, request_hash, request, amount, currency)
		VALUES ('p-1', 'payout', 'payfield', sha256('x'), '{}', 1000, 'RUB')`); err != nil {
		t.Fatal(err)
	}
	lock := func() *pipeTx {
		t.Helper()
		var status string
		tx, err := beginWith(ctx, pool, func(r pgx.Rows) error { return scanOne(r, &status) },
			`SELECT status FROM bridge_payments WHERE reference = $1 FOR UPDATE`, "p-1")
		if err != nil || status != "created" {
			t.Fatalf("begin: %q %v", status, err)
		}
		return tx
	}
	check := func(name, wantStatus string, wantEvents int) {
		t.Helper()
		var status string
		var events int
		if err := pool.QueryRow(ctx, `SELECT status, (SELECT count(*) FROM outbox) FROM bridge_payments WHERE reference = 'p-1'`).
			Scan(&status, &events); err != nil {
			t.Fatal(err)
		}
		if status != wantStatus || events != wantEvents {
			t.Errorf("%s: status %s with %d events, want %s with %d", name, status, events, wantStatus, wantEvents)
		}
		if n := pool.Stat().AcquiredConns(); n != 0 {
			t.Errorf("%s: %d connections still held", name, n)
		}
	}
	event := notify.Event{Topic: TopicPayment, ID: "bridge:p-1:submitted", Payload: map[string]string{"status": "submitted"}}

	// An event that cannot be written: nothing is committed.
	tx := lock()
	if _, err := tx.Exec(ctx, `UPDATE bridge_payments SET status = 'submitted' WHERE reference = 'p-1'`); err != nil {
		t.Fatal(err)
	}
	if err := tx.commitWith(ctx, []notify.Event{{ID: "no topic"}}); err == nil {
		t.Error("an invalid event was committed")
	}
	check("invalid event", "created", 0)

	// A statement that failed: COMMIT is answered with ROLLBACK.
	tx = lock()
	if _, err := tx.Exec(ctx, `UPDATE bridge_payments SET status = 'no such status' WHERE reference = 'p-1'`); err == nil {
		t.Fatal("a status outside the check was accepted")
	}
	if err := tx.commitWith(ctx, []notify.Event{event}); err == nil {
		t.Error("a failed transaction committed")
	}
	check("failed statement", "created", 0)

	// A row that is not there: no transaction is left open.
	_, err := beginWith(ctx, pool, func(r pgx.Rows) error { var s string; return scanOne(r, &s) },
		`SELECT status FROM bridge_payments WHERE reference = $1 FOR UPDATE`, "p-2")
	if !errors.Is(err, pgx.ErrNoRows) {
		t.Errorf("missing row: %v, want pgx.ErrNoRows", err)
	}
	check("missing row", "created", 0)

	// The change and its event, together.
	tx = lock()
	if _, err := tx.Exec(ctx, `UPDATE bridge_payments SET status = 'submitted' WHERE reference = 'p-1'`); err != nil {
		t.Fatal(err)
	}
	if err := tx.commitWith(ctx, []notify.Event{event}); err != nil {
		t.Fatal(err)
	}
	check("committed", "submitted", 1)
}

// scanOne reads the one row of rows, or returns pgx.ErrNoRows.
func scanOne(rows pgx.Rows, dst ...any) error {
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return err
		}
		return pgx.ErrNoRows
	}
	return rows.Scan(dst...)
}
