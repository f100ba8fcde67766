package bridge

import (
	"context"
	"errors"
	"math/big"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/ton-custody/processor/internal/store/storetest"
)

// A batch does for each change what applying it alone does: advance,
// fill in, record a conflict, refuse an unknown or foreign reference. A
// change that fails the batch's transaction fails alone.
func TestApplyChangesInOneBatch(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := storetest.NewDB(t)
	if _, err := pool.Exec(ctx, `INSERT INTO bridge_payments (reference, kind, provider, request_hash, request, amount, currency, status)
		VALUES ('p-new', 'payin', 'payfield', sha256('1'), '{}', 1000, 'RUB', 'created'),
		       ('p-paid', 'payout', 'payfield', sha256('2'), '{}', 1000, 'RUB', 'succeeded'),
		       ('p-open', 'payout', 'payfield', sha256('3'), '{}', 1000, 'RUB', 'processing'),
		       ('p-other', 'payout', 'highhelp', sha256('4'), '{}', 1000, 'RUB', 'processing'),
		       ('p-bad', 'payout', 'payfield', sha256('5'), '{}', 1000, 'RUB', 'processing'),
		       ('p-done', 'payout', 'payfield', sha256('6'), '{}', 1000, 'RUB', 'processing')`); err != nil {
		t.Fatal(err)
	}
	apply := func(cs ...change) []changeResult {
		return applyChanges(ctx, pool, cs, time.Hour, func(string) bool { return false })
	}
	out := apply(
		change{ref: "p-new", res: Result{Status: StatusSubmitted, ProviderID: "pf-1", RedirectURL: "https://pay/1"}, source: "create"},
		change{ref: "p-paid", provider: "payfield", res: Result{Status: StatusFailed, RawStatus: "failed"}, source: "callback"},
		change{ref: "p-open", provider: "payfield", res: Result{Status: StatusSubmitted, ProviderID: "pf-3"}, source: "callback"},
		change{ref: "p-other", provider: "payfield", res: Result{Status: StatusSucceeded}, source: "callback"},
		change{ref: "p-none", provider: "payfield", res: Result{Status: StatusSucceeded}, source: "callback"},
		change{ref: "p-done", provider: "payfield", res: Result{Status: StatusSucceeded, RawStatus: "success",
			Amount: &Money{Amount: big.NewInt(990), Currency: "RUB"}}, source: "callback"},
	)
	type got struct {
		status            Status
		changed, conflict bool
		err               error
	}
	wants := []got{
		{StatusSubmitted, true, false, nil},
		{StatusSucceeded, false, true, nil},
		{StatusProcessing, false, false, nil}, // does not advance; the provider id is filled in
		{"", false, false, ErrUnknownReference},
		{"", false, false, ErrUnknownReference},
		{StatusSucceeded, true, false, nil},
	}
	for i, w := range wants {
		g := got{out[i].a.rec.Status, out[i].a.changed, out[i].a.conflict, out[i].err}
		if g.status != w.status && w.err == nil || g.changed != w.changed || g.conflict != w.conflict || !errors.Is(g.err, w.err) {
			t.Errorf("change %d: %+v, want %+v", i, g, w)
		}
	}
	if r := out[0].a.rec; r.ProviderID != "pf-1" || r.RedirectURL != "https://pay/1" {
		t.Errorf("p-new: provider id %q, redirect %q", r.ProviderID, r.RedirectURL)
	}
	if r := out[5].a.rec; r.SettledAmount == nil || r.SettledAmount.Int64() != 990 {
		t.Errorf("p-done: settled %v, want 990", r.SettledAmount)
	}
	var state string
	if err := pool.QueryRow(ctx, `SELECT string_agg(reference || ':' || status || ':' || provider_id || ':' ||
			(SELECT count(*) FROM bridge_payment_events e WHERE e.payment_id = p.id) || ':' || (attention <> ''), ' ' ORDER BY reference)
		FROM bridge_payments p`).Scan(&state); err != nil {
		t.Fatal(err)
	}
	// The fixture rows have no history of their own: one row per change.
	if want := "p-bad:processing::0:false p-done:succeeded::1:false p-new:submitted:pf-1:1:false p-open:processing:pf-3:0:false " +
		"p-other:processing::0:false p-paid:succeeded::0:true"; state != want {
		t.Errorf("rows\n %s\nwant\n %s", state, want)
	}
	if ids := eventIDs(t, ctx, pool); !slices.Equal(ids, []string{"bridge:p-paid:conflict:failed", "bridge:p-new:submitted", "bridge:p-done:succeeded"}) {
		t.Errorf("events %v", ids)
	}

	// A NUL byte cannot be stored: that change fails, the others of its
	// batch are applied alone.
	out = apply(
		change{ref: "p-bad", provider: "payfield", res: Result{Status: StatusSucceeded, RawStatus: "suc\x00cess"}, source: "callback"},
		change{ref: "p-open", provider: "payfield", res: Result{Status: StatusSucceeded, RawStatus: "success"}, source: "callback"},
	)
	if out[0].err == nil || !strings.Contains(out[0].err.Error(), "0x00") {
		t.Errorf("the NUL change: %v", out[0].err)
	}
	if out[1].err != nil || !out[1].a.changed || out[1].a.rec.Status != StatusSucceeded {
		t.Errorf("its neighbour: %+v %v", out[1].a, out[1].err)
	}
	if ids := eventIDs(t, ctx, pool); len(ids) != 4 || ids[3] != "bridge:p-open:succeeded" {
		t.Errorf("events %v", ids)
	}
}

func eventIDs(t *testing.T, ctx context.Context, pool *pgxpool.Pool) []string {
	t.Helper()
	rows, err := pool.Query(ctx, `SELECT dedup_key FROM outbox ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	return ids
}
