package bridge_test

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ton-custody/processor/internal/bridge"
	"github.com/ton-custody/processor/internal/bridge/payfield/sim"
)

// succeededPayout creates a Payfield payout and lets its success webhook
// settle it.
func succeededPayout(t *testing.T, e *env, ref string) {
	t.Helper()
	if code, out := e.call(http.MethodPost, "/v1/bridge/payouts", payinBody(ref, "250000"), true); code != http.StatusCreated || out["status"] != "processing" {
		t.Fatalf("create: %d %v", code, out)
	}
	if err := e.sim.Settle(ref, "success"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "succeeded by webhook", func() bool { return e.snapshot(ref).Status == "succeeded" })
}

// refundLost refunds ref at the simulator with every attempt of its
// webhook lost, and waits until the simulator gave up delivering it.
func refundLost(t *testing.T, e *env, ref string) {
	t.Helper()
	e.sim.LoseWebhooks("refunded", true)
	if err := e.sim.Settle(ref, "refunded"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "every refund webhook attempt lost", func() bool {
		n := 0
		for _, d := range e.sim.Deliveries() {
			if d.ExternalID == ref && d.Status == "refunded" {
				n++
			}
		}
		return n == 5 // the first attempt and the simulator's 4 retries
	})
}

// A succeeded payout that the provider refunds, with every attempt of the
// refund webhook lost, ends reversed through the reconciler's polls within
// the reversal watch, exactly as a callback would leave it; the webhook
// arriving afterwards changes nothing and sends no second event.
func TestSucceededPayoutWhoseRefundWebhookIsLostEndsReversedByPolling(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newEnv(t, envOpts{})
	succeededPayout(t, e, "po-refund")
	refundLost(t, e, "po-refund")
	if s := e.snapshot("po-refund"); s.Status != "succeeded" {
		t.Fatalf("the lost refund webhook reached the bridge: %+v", s)
	}
	rec := &bridge.Reconciler{Service: e.svc} // default watch, days long
	e.due(0)
	if _, err := rec.RunOnce(ctx); err != nil {
		t.Fatal(err)
	}
	s := e.snapshot("po-refund")
	if s.Status != "reversed" || s.RawStatus != "refunded" {
		t.Fatalf("after a poll within the reversal watch: %+v, want reversed", s)
	}
	if ids := e.outboxIDs("po-refund"); !slices.Equal(ids, []string{"bridge:po-refund:processing",
		"bridge:po-refund:succeeded", "bridge:po-refund:reversed"}) {
		t.Fatalf("outbox %v", ids)
	}
	var source string
	if err := e.pool.QueryRow(ctx, `SELECT source FROM bridge_payment_events
		WHERE payment_id = (SELECT id FROM bridge_payments WHERE reference = 'po-refund') AND status = 'reversed'`).Scan(&source); err != nil || source != "reconcile" {
		t.Fatalf("reversed history row: %q %v", source, err)
	}
	// The refund webhook, arriving at last, is a duplicate.
	body, err := e.sim.WebhookBody("po-refund")
	if err != nil {
		t.Fatal(err)
	}
	_, h := sim.WebhookRequest(whSecet, "hex", body, time.Now())
	if code, out := e.postRaw("/v1/bridge/callbacks/payfield", body, h); code != http.StatusOK {
		t.Fatalf("late refund webhook: %d %s", code, out)
	}
	if after := e.snapshot("po-refund"); after != s {
		t.Fatalf("late refund webhook changed the payment: %+v -> %+v", s, after)
	}
	// Reversed is final: nothing is polled any more.
	calls := e.sim.StatusRequests("po-refund")
	e.due(0)
	if _, err := rec.RunOnce(ctx); err != nil {
		t.Fatal(err)
	}
	if n := e.sim.StatusRequests("po-refund"); n != calls {
		t.Fatalf("a reversed payment was polled again (%d -> %d status requests)", calls, n)
	}
}

// watchState is a payment's reversal watch as stored: whether it is
// watched, its polls so far and the wait until its next poll.
func (e *env) watchState(ref string) (watched bool, checks int, wait time.Duration) {
	e.t.Helper()
	var ms float64
	err := e.pool.QueryRow(context.Background(), `SELECT reversal_watch_from IS NOT NULL, checks,
		extract(epoch FROM next_check_at - now()) * 1000 FROM bridge_payments WHERE reference = $1`, ref).Scan(&watched, &checks, &ms)
	if err != nil {
		e.t.Fatal(err)
	}
	return watched, checks, time.Duration(ms) * time.Millisecond
}

// The reversal watch polls a succeeded payment at growing intervals up to
// ReversalMaxBackoff, never past its end, polls once more when it ends,
// and then never again: a refund learned only later is not polled for.
func TestReversalWatchPollsAtGrowingIntervalsAndStopsAfterItsWindow(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newEnv(t, envOpts{})
	const ref = "po-watch"
	succeededPayout(t, e, ref)
	if watched, _, _ := e.watchState(ref); !watched {
		t.Fatal("a succeeded Payfield payout is not under reversal watch")
	}
	rec := &bridge.Reconciler{Service: e.svc, Interval: time.Second, ReversalWatch: time.Hour, ReversalMaxBackoff: 4 * time.Second}
	poll := func() {
		t.Helper()
		e.due(0)
		if _, err := rec.RunOnce(ctx); err != nil {
			t.Fatal(err)
		}
	}
	calls := e.sim.StatusRequests(ref)
	for i, want := range []time.Duration{2 * time.Second, 4 * time.Second, 4 * time.Second} {
		poll()
		if n := e.sim.StatusRequests(ref); n != calls+i+1 {
			t.Fatalf("poll %d: %d status requests, want %d", i+1, n, calls+i+1)
		}
		watched, _, wait := e.watchState(ref)
		if !watched || wait < want-500*time.Millisecond || wait > want {
			t.Fatalf("after poll %d: watched %t, next poll in %s, want %s", i+1, watched, wait, want)
		}
	}
	// Near the end of the watch, the next poll is at its end, not later.
	if _, err := e.pool.Exec(ctx, `UPDATE bridge_payments SET reversal_watch_from = now() - interval '59 minutes 59 seconds'
		WHERE reference = $1`, ref); err != nil {
		t.Fatal(err)
	}
	poll()
	if watched, _, wait := e.watchState(ref); !watched || wait > time.Second {
		t.Fatalf("near the end: watched %t, next poll in %s, want at most 1s", watched, wait)
	}
	// At the end: one last poll, then the watch is over.
	if _, err := e.pool.Exec(ctx, `UPDATE bridge_payments SET reversal_watch_from = now() - interval '1 hour'
		WHERE reference = $1`, ref); err != nil {
		t.Fatal(err)
	}
	calls = e.sim.StatusRequests(ref)
	poll()
	watched, checks, _ := e.watchState(ref)
	if n := e.sim.StatusRequests(ref); watched || n != calls+1 {
		t.Fatalf("at the end of the watch: watched %t, %d status requests, want 1 last one", watched, n-calls)
	}
	before := e.snapshot(ref)
	refundLost(t, e, ref)
	calls = e.sim.StatusRequests(ref)
	for range 3 {
		poll()
	}
	if n := e.sim.StatusRequests(ref); n != calls {
		t.Fatalf("polled %d times after the watch ended", n-calls)
	}
	if _, c, _ := e.watchState(ref); c != checks {
		t.Fatalf("claimed after the watch ended: checks %d -> %d", checks, c)
	}
	if after := e.snapshot(ref); after != before {
		t.Fatalf("payment changed after the watch: %+v -> %+v", before, after)
	}
}

// With the watch off, a succeeded payment leaves it at its first claim,
// without a status request.
func TestReversalWatchOff(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newEnv(t, envOpts{})
	succeededPayout(t, e, "po-nowatch")
	calls := e.sim.StatusRequests("po-nowatch")
	rec := &bridge.Reconciler{Service: e.svc, ReversalWatch: -1}
	for range 2 {
		e.due(0)
		if _, err := rec.RunOnce(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if watched, _, _ := e.watchState("po-nowatch"); watched || e.sim.StatusRequests("po-nowatch") != calls {
		t.Fatalf("watch off: still watched %t, %d status requests", watched, e.sim.StatusRequests("po-nowatch")-calls)
	}
}

// Paykassma's status call cannot tell a reversal: its succeeded payments
// are not watched.
func TestSucceededPaymentOfAProviderWithoutReversalsIsNotWatched(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e, s := newPaykassmaEnv(t, envOpts{}, nil)
	const ref = "pk-po-done"
	if code, out := e.call(http.MethodPost, "/v1/bridge/payouts", paykassmaBody(bridge.Payout, ref), true); code != http.StatusCreated {
		t.Fatalf("create: %d %v", code, out)
	}
	if err := s.Settle(ref, "1"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "succeeded", func() bool { return e.snapshot(ref).Status == "succeeded" })
	watched, checks, _ := e.watchState(ref)
	if watched {
		t.Fatal("a Paykassma payment is under reversal watch")
	}
	e.due(0)
	if _, err := (&bridge.Reconciler{Service: e.svc}).RunOnce(ctx); err != nil {
		t.Fatal(err)
	}
	if _, c, _ := e.watchState(ref); c != checks {
		t.Fatalf("a succeeded Paykassma payment was claimed: checks %d -> %d", checks, c)
	}
	// Watched anyway (as by migration 0016's backfill): the first claim
	// ends the watch.
	if _, err := e.pool.Exec(ctx, `UPDATE bridge_payments SET reversal_watch_from = now() WHERE reference = $1`, ref); err != nil {
		t.Fatal(err)
	}
	e.due(0)
	if _, err := (&bridge.Reconciler{Service: e.svc}).RunOnce(ctx); err != nil {
		t.Fatal(err)
	}
	if watched, _, _ := e.watchState(ref); watched {
		t.Fatal("a Paykassma payment stays under reversal watch")
	}
}

func TestReversalWatchVariable(t *testing.T) {
	for _, tt := range []struct {
		v    string
		want time.Duration
		ok   bool
	}{{"", bridge.DefaultReversalWatch, true}, {"24h", 24 * time.Hour, true}, {"0", -1, true}, {"-1h", 0, false}, {"soon", 0, false}} {
		cfg, err := bridge.LoadConfig(func(k string) string {
			if k == bridge.EnvReversalWatch {
				return tt.v
			}
			return ""
		})
		if (err == nil) != tt.ok || (err == nil && cfg.ReversalWatch != tt.want) {
			t.Errorf("%s=%q: %v %v, want %s", bridge.EnvReversalWatch, tt.v, cfg, err, tt.want)
		}
		if err != nil && !strings.Contains(err.Error(), bridge.EnvReversalWatch) {
			t.Errorf("%s=%q: error does not name the variable: %v", bridge.EnvReversalWatch, tt.v, err)
		}
	}
	if !strings.Contains(bridge.Doc(), "`"+bridge.EnvReversalWatch+"`") {
		t.Error("Doc does not list " + bridge.EnvReversalWatch)
	}
}
