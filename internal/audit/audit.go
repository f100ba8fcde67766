// Package audit writes the append-only audit log (table audit_log): who
// did what to which subject, when, the subject before and after, and why.
// Entries are written in the transaction of the change they record, so a
// change and its entry commit together or not at all. The table refuses
// UPDATE, DELETE and TRUNCATE (a trigger raises), also for the
// application's own database role.
package audit

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Entry is one audit log entry.
type Entry struct {
	// Actor is who acted: an operator's name, or "api:<token name>" for
	// the merchant API.
	Actor string
	// Action names what was done, e.g. withdrawal.cancel.
	Action string
	// Subject is what it was done to, e.g. withdrawal:42 or currency:TON.
	Subject string
	// Before and After are the subject's state around the action, stored
	// as JSON; nil is stored as NULL.
	Before, After any
	// Reason is the actor's reason ("" for none).
	Reason string
}

// Record is a stored entry.
type Record struct {
	Entry
	ID        int64
	At        time.Time
	BeforeRaw json.RawMessage
	AfterRaw  json.RawMessage
}

// Write appends e in tx.
func Write(ctx context.Context, tx pgx.Tx, e Entry) (int64, error) {
	if e.Actor == "" || e.Action == "" || e.Subject == "" {
		return 0, errors.New("audit: an entry needs an actor, an action and a subject")
	}
	before, err := marshal(e.Before)
	if err != nil {
		return 0, fmt.Errorf("audit: before: %w", err)
	}
	after, err := marshal(e.After)
	if err != nil {
		return 0, fmt.Errorf("audit: after: %w", err)
	}
	var reason *string
	if e.Reason != "" {
		reason = &e.Reason
	}
	var id int64
	if err := tx.QueryRow(ctx, `INSERT INTO audit_log (actor, action, subject, before, after, reason)
		VALUES ($1, $2, $3, $4, $5, $6) RETURNING id`, e.Actor, e.Action, e.Subject, before, after, reason).Scan(&id); err != nil {
		return 0, fmt.Errorf("audit: write %s of %s: %w", e.Action, e.Subject, err)
	}
	return id, nil
}

func marshal(v any) ([]byte, error) {
	if v == nil {
		return nil, nil
	}
	return json.Marshal(v)
}

// Querier is what List reads through (a pool or a transaction).
type Querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// List returns the entries of subject ("" for all) in order, oldest first.
func List(ctx context.Context, q Querier, subject string) ([]Record, error) {
	rows, err := q.Query(ctx, `SELECT id, created_at, actor, action, subject, before, after, coalesce(reason, '')
		FROM audit_log WHERE $1 = '' OR subject = $1 ORDER BY id`, subject)
	if err != nil {
		return nil, fmt.Errorf("audit: list: %w", err)
	}
	recs, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (Record, error) {
		var r Record
		var before, after []byte
		err := row.Scan(&r.ID, &r.At, &r.Actor, &r.Action, &r.Subject, &before, &after, &r.Reason)
		r.BeforeRaw, r.AfterRaw = before, after
		return r, err
	})
	if err != nil {
		return nil, fmt.Errorf("audit: list: %w", err)
	}
	return recs, nil
}
