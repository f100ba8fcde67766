package notify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
)

// Pulling events (GET /v1/events): the outbox read in a stable order, so a
// consumer that missed webhooks catches up from its last cursor.
//
// Outbox ids are taken when a row is inserted, not when its transaction
// commits: with concurrent producers, id 7 may become visible after id 8.
// A reader going by id would pass 7 for good. Each row therefore records
// the transaction that inserted it (outbox.xid), and Pull serves rows in
// (xid, id) order, only from transactions older than the oldest one still
// running (pg_snapshot_xmin of the current snapshot). Every transaction
// below that horizon has ended, so no row can later appear before a cursor
// Pull has handed out: the cursor is stable, and nothing is skipped. The
// price is latency: an event waits until every transaction that started
// before its own has ended.

// PulledEvent is one event as GET /v1/events returns it: the webhook's
// body fields plus the cursor to continue after it.
type PulledEvent struct {
	Cursor    string          `json:"cursor"`
	EventID   string          `json:"event_id"`
	Type      string          `json:"type"`
	CreatedAt string          `json:"created_at"`
	Data      json.RawMessage `json:"data"`
}

// Cursor is a position in the event stream; the zero Cursor is its start.
type Cursor struct {
	XID uint64
	ID  int64
}

var cursorRE = regexp.MustCompile(`^([0-9]{1,20})-([0-9]{1,19})$`)

// ErrBadCursor is returned by ParseCursor for a malformed cursor.
var ErrBadCursor = errors.New("notify: malformed event cursor")

// ParseCursor reads a cursor as String writes it; "" is the start.
func ParseCursor(s string) (Cursor, error) {
	if s == "" {
		return Cursor{}, nil
	}
	m := cursorRE.FindStringSubmatch(s)
	if m == nil {
		return Cursor{}, ErrBadCursor
	}
	x, err1 := strconv.ParseUint(m[1], 10, 64)
	id, err2 := strconv.ParseInt(m[2], 10, 64)
	if err1 != nil || err2 != nil {
		return Cursor{}, ErrBadCursor
	}
	return Cursor{XID: x, ID: id}, nil
}

// String is the cursor's opaque text form.
func (c Cursor) String() string { return fmt.Sprintf("%d-%d", c.XID, c.ID) }

// Querier is a pool or a transaction.
type Querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// Pull returns up to limit events after cursor, in commit-safe order (see
// above), and the cursor to pass next time (after, when none).
func Pull(ctx context.Context, q Querier, after Cursor, limit int) ([]PulledEvent, Cursor, error) {
	rows, err := q.Query(ctx, `SELECT o.xid::text, o.id, coalesce(o.dedup_key, 'outbox:' || o.id), o.topic, o.created_at, o.payload::text
		FROM outbox o
		WHERE (o.xid, o.id) > ($1::text::xid8, $2::bigint) AND o.xid < pg_snapshot_xmin(pg_current_snapshot())
		ORDER BY o.xid, o.id LIMIT $3`, strconv.FormatUint(after.XID, 10), after.ID, limit)
	if err != nil {
		return nil, after, fmt.Errorf("notify: pull events: %w", err)
	}
	defer rows.Close()
	out := []PulledEvent{}
	next := after
	for rows.Next() {
		var xid, payload string
		var id int64
		var created time.Time
		var e PulledEvent
		if err := rows.Scan(&xid, &id, &e.EventID, &e.Type, &created, &payload); err != nil {
			return nil, after, fmt.Errorf("notify: pull events: %w", err)
		}
		x, err := strconv.ParseUint(xid, 10, 64)
		if err != nil {
			return nil, after, fmt.Errorf("notify: pull events: xid %q: %w", xid, err)
		}
		next = Cursor{XID: x, ID: id}
		e.Cursor = next.String()
		e.CreatedAt = created.UTC().Format(time.RFC3339)
		e.Data = json.RawMessage(payload)
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, after, fmt.Errorf("notify: pull events: %w", err)
	}
	return out, next, nil
}
