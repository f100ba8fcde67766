package audit_test

import (
	"context"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/ton-custody/processor/internal/audit"
	"github.com/ton-custody/processor/internal/store/storetest"
)

// The audit log takes entries and refuses UPDATE, DELETE and TRUNCATE,
// also from the role that owns the table.
func TestAuditLogIsAppendOnly(t *testing.T) {
	t.Parallel()
	db := storetest.NewDB(t)
	ctx := context.Background()
	err := pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
		_, err := audit.Write(ctx, tx, audit.Entry{Actor: "alice", Action: "withdrawals.pause", Subject: "currency:TON",
			Before: map[string]bool{"paused": false}, After: map[string]bool{"paused": true}, Reason: "incident"})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	recs, err := audit.List(ctx, db, "currency:TON")
	if err != nil || len(recs) != 1 || recs[0].Actor != "alice" || recs[0].Reason != "incident" || string(recs[0].AfterRaw) != `{"paused": true}` {
		t.Fatalf("entries %+v %v", recs, err)
	}
	for _, stmt := range []string{
		`UPDATE audit_log SET reason = 'nothing happened'`,
		`DELETE FROM audit_log`,
		`TRUNCATE audit_log`,
	} {
		_, err := db.Exec(ctx, stmt)
		if err == nil || !strings.Contains(err.Error(), "append-only") {
			t.Errorf("%s: %v, want refused", stmt, err)
		}
	}
	if recs, _ := audit.List(ctx, db, ""); len(recs) != 1 || recs[0].Reason != "incident" {
		t.Fatalf("entries after the attempts: %+v", recs)
	}
	// An entry written in a transaction that rolls back is gone with it.
	_ = pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
		if _, err := audit.Write(ctx, tx, audit.Entry{Actor: "a", Action: "x", Subject: "y"}); err != nil {
			t.Fatal(err)
		}
		return context.Canceled
	})
	if recs, _ := audit.List(ctx, db, ""); len(recs) != 1 {
		t.Fatalf("%d entries, want 1", len(recs))
	}
	if _, err := audit.Write(ctx, nil, audit.Entry{Action: "x", Subject: "y"}); err == nil {
		t.Error("an entry without an actor was accepted")
	}
}
