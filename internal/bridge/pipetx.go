package bridge

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/ton-custody/processor/internal/notify"
	"github.com/ton-custody/processor/internal/store"
)

// dbtx is what the status-change statements run on.
type dbtx interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// pipeTx is a transaction on one pooled connection whose first statement
// travels with BEGIN and whose webhook events travel with COMMIT, each in
// one round trip (a pipeline of the extended protocol). Provider
// callbacks and create calls each change one payment's status; with two
// round trips fewer per change the server and the bridge wait on each
// other less (issue 17: callback ingestion).
type pipeTx struct {
	conn *pgxpool.Conn
	done bool
}

// beginWith starts a transaction whose first statement is sql, whose rows
// go to scan. If scan fails, the transaction is rolled back and its error
// returned.
func beginWith(ctx context.Context, db *pgxpool.Pool, scan func(pgx.Rows) error, sql string, args ...any) (*pipeTx, error) {
	conn, err := db.Acquire(ctx)
	if err != nil {
		return nil, fmt.Errorf("acquire a connection: %w", err)
	}
	tx := &pipeTx{conn: conn}
	b := &pgx.Batch{}
	b.Queue("BEGIN")
	b.Queue(sql, args...)
	br := conn.SendBatch(ctx, b)
	_, err = br.Exec()
	if err == nil {
		var rows pgx.Rows
		if rows, err = br.Query(); err == nil {
			err = scan(rows)
			rows.Close()
			if err == nil {
				err = rows.Err()
			}
		}
	}
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		tx.rollbackUnlessDone(ctx)
		return nil, err
	}
	return tx, nil
}

func (t *pipeTx) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	return t.conn.Exec(ctx, sql, args...)
}

func (t *pipeTx) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	return t.conn.Query(ctx, sql, args...)
}

func (t *pipeTx) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	return t.conn.QueryRow(ctx, sql, args...)
}

// commitWith enqueues events (notify.QueueAll) and commits, in one round
// trip. A transaction that failed earlier answers COMMIT with ROLLBACK:
// that is an error too. Whatever happens, the transaction is over and the
// connection back in the pool when it returns.
func (t *pipeTx) commitWith(ctx context.Context, events []notify.Event) error {
	b := &pgx.Batch{}
	if err := notify.QueueAll(b, events); err != nil {
		t.rollbackUnlessDone(ctx)
		return err
	}
	b.Queue("COMMIT")
	br := t.conn.SendBatch(ctx, b)
	var err error
	var tag pgconn.CommandTag
	for range b.Len() {
		if tag, err = br.Exec(); err != nil {
			break
		}
	}
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	if err == nil && tag.String() == "ROLLBACK" {
		err = pgx.ErrTxCommitRollback
	}
	if err != nil {
		t.rollbackUnlessDone(ctx)
		return fmt.Errorf("commit: %w", err)
	}
	t.done = true
	t.conn.Release()
	return nil
}

// rollbackUnlessDone ends the transaction unless it committed, and
// returns the connection: one the ROLLBACK did not leave idle is closed
// by the pool rather than reused.
func (t *pipeTx) rollbackUnlessDone(ctx context.Context) {
	if t.done {
		return
	}
	t.done = true
	rctx, cancel := store.RollbackContext(ctx)
	defer cancel()
	_, _ = t.conn.Exec(rctx, "ROLLBACK")
	t.conn.Release()
}
