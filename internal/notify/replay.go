package notify

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// ReplayResult says what Replay did.
type ReplayResult struct {
	// Requeued counts the deliveries made due again (one per event and
	// sink).
	Requeued int
	// InFlight counts the deliveries left alone because they are still
	// pending (waiting for a retry or being sent): they are sent anyway.
	InFlight int
}

// MaxReplay bounds how many events one Replay may take.
const MaxReplay = 10000

// Replay makes the finished (delivered or given-up) deliveries of the
// outbox events with ids in [fromID, toID] due again now, for sink (""
// for every sink), in tx, the caller's transaction (which writes its
// audit log entry). Each such delivery gets one more attempt per retry
// rule (an event older than the retry period is given up again after one
// failed attempt); the receiver sees the same event id again and
// deduplicates as usual. Deliveries still pending are counted, not
// touched: their worker sends them anyway. Sinks registered after an
// event was enqueued have no delivery of it and get none.
func Replay(ctx context.Context, tx pgx.Tx, fromID, toID int64, sink string) (ReplayResult, error) {
	var res ReplayResult
	if fromID < 1 || toID < fromID {
		return res, errors.New("notify: replay needs 1 <= from <= to")
	}
	if toID-fromID >= MaxReplay {
		return res, fmt.Errorf("notify: replay at most %d events at once", MaxReplay)
	}
	if err := tx.QueryRow(ctx, `SELECT count(*) FROM outbox_deliveries
		WHERE outbox_id BETWEEN $1 AND $2 AND ($3 = '' OR sink = $3) AND delivered_at IS NULL AND given_up_at IS NULL`,
		fromID, toID, sink).Scan(&res.InFlight); err != nil {
		return res, fmt.Errorf("notify: replay events %d..%d: %w", fromID, toID, err)
	}
	tag, err := tx.Exec(ctx, `UPDATE outbox_deliveries SET delivered_at = NULL, given_up_at = NULL, next_attempt_at = now()
		WHERE outbox_id BETWEEN $1 AND $2 AND ($3 = '' OR sink = $3)
		  AND (delivered_at IS NOT NULL OR given_up_at IS NOT NULL)`, fromID, toID, sink)
	if err != nil {
		return res, fmt.Errorf("notify: replay events %d..%d: %w", fromID, toID, err)
	}
	res.Requeued = int(tag.RowsAffected())
	if res.Requeued > 0 {
		// Wake the workers now rather than at their next poll.
		if _, err := tx.Exec(ctx, `SELECT pg_notify('processor_outbox', '')`); err != nil {
			return res, fmt.Errorf("notify: replay: wake workers: %w", err)
		}
	}
	return res, nil
}
