package bridge

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/ton-custody/processor/internal/store/storetest"
)

// Calls that arrive while a run is in flight share the next run, at most
// maxBatch of them, never two of one key, and calls of one key run in
// their order of arrival; a lone call runs at once.
func TestGrouperMergesWaitingCalls(t *testing.T) {
	t.Parallel()
	type call struct {
		key string
		n   int
	}
	gate := make(chan struct{})
	var mu sync.Mutex
	var runs [][]call
	g := &grouper[string, call, string]{
		key: func(c call) string { return c.key },
		run: func(cs []call) []string {
			mu.Lock()
			first := len(runs) == 0
			runs = append(runs, slices.Clone(cs))
			mu.Unlock()
			if first {
				<-gate // hold the first run while the others arrive
			}
			out := make([]string, len(cs))
			for i, c := range cs {
				out[i] = fmt.Sprintf("%s/%d", c.key, c.n)
			}
			return out
		},
		maxBatch: 4, maxRunning: 1,
	}
	var wg sync.WaitGroup
	results := make(map[call]string)
	var rmu sync.Mutex
	do := func(c call) {
		wg.Go(func() {
			r := g.do(c)
			rmu.Lock()
			results[c] = r
			rmu.Unlock()
		})
	}
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		for deadline := time.Now().Add(5 * time.Second); !cond(); time.Sleep(time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
		}
	}

	do(call{"a", 0}) // runs at once, held at the gate
	waitFor("the first run", func() bool { mu.Lock(); defer mu.Unlock(); return len(runs) == 1 })
	// Arrive in this order while the first run is held: b, a, c, a, d, e, f.
	for _, c := range []call{{"b", 1}, {"a", 1}, {"c", 1}, {"a", 2}, {"d", 1}, {"e", 1}, {"f", 1}} {
		do(c)
		waitFor(fmt.Sprint(c, " to queue"), func() bool { // before the next one arrives
			g.mu.Lock()
			defer g.mu.Unlock()
			return slices.ContainsFunc(g.waiting, func(w *groupCall[call, string]) bool { return w.in == c })
		})
	}
	close(gate)
	wg.Wait()

	want := [][]call{
		{{"a", 0}},
		{{"b", 1}, {"a", 1}, {"c", 1}, {"d", 1}}, // a/2 waits for a/1; four at most
		{{"a", 2}, {"e", 1}, {"f", 1}},
	}
	if !slices.EqualFunc(runs, want, slices.Equal) {
		t.Errorf("runs %v, want %v", runs, want)
	}
	for c, r := range results {
		if r != fmt.Sprintf("%s/%d", c.key, c.n) {
			t.Errorf("%v got %q", c, r)
		}
	}
	if len(results) != 8 {
		t.Errorf("%d results, want 8", len(results))
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.running != 0 || len(g.waiting) != 0 {
		t.Errorf("after the calls: %d running, %d waiting", g.running, len(g.waiting))
	}
}

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
