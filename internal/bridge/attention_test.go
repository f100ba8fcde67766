package bridge_test

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ton-custody/processor/internal/bridge"
	"github.com/ton-custody/processor/internal/bridge/payfield"
	"github.com/ton-custody/processor/internal/bridge/payfield/sim"
	"github.com/ton-custody/processor/internal/bridge/paykassma"
	pksim "github.com/ton-custody/processor/internal/bridge/paykassma/sim"
)

// Issue 12.1: Paykassma has no postback before a payment's outcome, so its
// status lookup cannot tell "pending" from "never received". An unknown
// payment it took must stay open past BRIDGE_UNKNOWN_GIVE_UP (flagged for
// a person), and its later genuine postback must settle it.
func TestPaykassmaPaymentInProgressIsNeverFailedAfterGiveUp(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, kind := range []bridge.Kind{bridge.Payout, bridge.Payin} {
		t.Run(string(kind), func(t *testing.T) {
			t.Parallel()
			e, s := newPaykassmaEnv(t, envOpts{timeout: 300 * time.Millisecond}, nil)
			path := paykassma.PathWithdrawalCreate
			if kind == bridge.Payin {
				path = paykassma.PathPaymentCreate
			}
			// Paykassma takes the request and the answer never comes.
			s.SetFault(pksim.Fault{Kind: pksim.FaultHang, Path: path, Times: 1, Process: true})
			ref := "pk-" + string(kind) + "-1"
			code, out := e.call(http.MethodPost, "/v1/bridge/"+string(kind)+"s", paykassmaBody(kind, ref), true)
			if code != http.StatusCreated || out["status"] != "unknown" {
				t.Fatalf("create: %d %v", code, out)
			}
			rec := &bridge.Reconciler{Service: e.svc}
			for i := 0; i < 2; i++ {
				e.due(2 * time.Hour) // past UnknownGiveUp (1h)
				if _, err := rec.RunOnce(ctx); err != nil {
					t.Fatal(err)
				}
				code, out = e.call(http.MethodGet, "/v1/bridge/payments/"+ref, nil, true)
				if code != http.StatusOK || out["status"] != "unknown" {
					t.Fatalf("pass %d past give-up without a definite answer: %d %v, want still unknown", i, code, out)
				}
				if out["needs_attention"] != true || !strings.Contains(out["attention"].(string), "no definite answer") {
					t.Fatalf("pass %d: not flagged for a person: %v", i, out)
				}
			}
			if n := e.counter("processor_bridge_payments_attention_total", "provider", "paykassma", "reason", bridge.AttentionNoAnswer); n != 1 {
				t.Fatalf("attention counted %v times, want once", n)
			}
			// The genuine outcome arrives: it settles the payment.
			final := "1"
			if kind == bridge.Payin {
				final = "success"
			}
			if err := s.Settle(ref, final); err != nil {
				t.Fatal(err)
			}
			waitFor(t, "succeeded", func() bool { return e.snapshot(ref).Status == "succeeded" })
			_, out = e.call(http.MethodGet, "/v1/bridge/payments/"+ref, nil, true)
			if out["needs_attention"] != false || out["attention"] != nil {
				t.Fatalf("settled payment still flagged: %v", out)
			}
			if ids := e.outboxIDs(ref); !slices.Equal(ids, []string{"bridge:" + ref + ":unknown", "bridge:" + ref + ":succeeded"}) {
				t.Fatalf("outbox %v", ids)
			}
		})
	}
}

// Absence of news (here: the status call keeps failing) never ends an
// unknown payment either, whatever the provider.
func TestUnknownPaymentWithoutNewsIsFlaggedNotFailed(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newEnv(t, envOpts{noCallback: true})
	e.sim.Inject(sim.EndpointPayout, sim.Fault{Mode: sim.Accept500})
	if code, out := e.call(http.MethodPost, "/v1/bridge/payouts", payinBody("po-dark", "100"), true); code != http.StatusCreated || out["status"] != "unknown" {
		t.Fatalf("create: %d %v", code, out)
	}
	e.sim.Inject(sim.EndpointStatus, sim.Fault{Mode: sim.Fail500, Count: 10})
	rec := &bridge.Reconciler{Service: e.svc}
	e.due(2 * time.Hour)
	_, _ = rec.RunOnce(ctx)
	code, out := e.call(http.MethodGet, "/v1/bridge/payments/po-dark", nil, true)
	if code != http.StatusOK || out["status"] != "unknown" || out["needs_attention"] != true {
		t.Fatalf("status call failing past give-up: %d %v, want unknown and flagged", code, out)
	}
	if n := e.counter("processor_bridge_payments_attention_total", "provider", "payfield", "reason", bridge.AttentionNoAnswer); n != 1 {
		t.Fatalf("attention counted %v times", n)
	}
}

// Issue 12.1: a final status that contradicts the local final one (paid
// after failed) is recorded on the payment, counted, and notified, once.
func TestLateContradictingFinalStatusIsRecordedNotSwallowed(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e, s := newPaykassmaEnv(t, envOpts{}, func(c *pksim.Config) { c.Postbacks.Duplicates = 2 })
	ref := "pk-po-late"
	if code, out := e.call(http.MethodPost, "/v1/bridge/payouts", paykassmaBody(bridge.Payout, ref), true); code != http.StatusCreated || out["status"] != "submitted" {
		t.Fatalf("create: %d %v", code, out)
	}
	// Failed locally (as the old give-up did).
	if _, err := e.pool.Exec(ctx, `UPDATE bridge_payments SET status = 'failed', raw_status = 'not_found' WHERE reference = $1`, ref); err != nil {
		t.Fatal(err)
	}
	if err := s.Settle(ref, "1"); err != nil { // PROCESSED: the money went out
		t.Fatal(err)
	}
	waitFor(t, "3 postbacks answered", func() bool {
		n := 0
		for _, d := range s.Deliveries() {
			if d.OK {
				n++
			}
		}
		return n == 3
	})
	code, out := e.call(http.MethodGet, "/v1/bridge/payments/"+ref, nil, true)
	if code != http.StatusOK || out["status"] != "failed" {
		t.Fatalf("payment %d %v", code, out)
	}
	cs, _ := out["conflicts"].([]any)
	if len(cs) != 1 || out["needs_attention"] != true {
		t.Fatalf("late PROCESSED after failed not recorded once: %v", out)
	}
	c := cs[0].(map[string]any)
	if c["status"] != "succeeded" || c["raw_status"] != "1" || c["local_status"] != "failed" || c["source"] != "callback" || c["settled_amount"] != "30000" {
		t.Fatalf("conflict %v", c)
	}
	if ids := e.outboxIDs(ref); !slices.Contains(ids, "bridge:"+ref+":conflict:succeeded") || len(ids) != 2 {
		t.Fatalf("outbox %v, want the submitted event and one conflict event", ids)
	}
	if n := e.counter("processor_bridge_payments_attention_total", "provider", "paykassma", "reason", bridge.AttentionConflict); n != 1 {
		t.Fatalf("conflict counted %v times, want once", n)
	}
}

// The other way round: failed reported after succeeded.
func TestFailedAfterSucceededIsAConflictFailedAfterExpiredIsNot(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{noCallback: true})
	for _, ref := range []string{"pf-ok", "pf-gone"} {
		if code, out := e.call(http.MethodPost, "/v1/bridge/payouts", payinBody(ref, "1000"), true); code != http.StatusCreated {
			t.Fatalf("create: %d %v", code, out)
		}
	}
	post := func(ref, status string) {
		t.Helper()
		body := []byte(`{"id":1,"external_id":"` + ref + `","shop_code":"shop-001","status":"` + status + `","amount":"10.00","currency":"RUB","updated_at":"2026-05-19T12:00:00Z"}`)
		_, h := sim.WebhookRequest(whSecet, payfield.EncodingHex, body, time.Now())
		if code, out := e.postRaw("/v1/bridge/callbacks/payfield", body, h); code != http.StatusOK {
			t.Fatalf("%s %s: %d %s", ref, status, code, out)
		}
	}
	post("pf-ok", "success")
	post("pf-ok", "failed")
	post("pf-gone", "expired")
	post("pf-gone", "failed")
	_, ok := e.call(http.MethodGet, "/v1/bridge/payments/pf-ok", nil, true)
	if cs, _ := ok["conflicts"].([]any); ok["status"] != "succeeded" || len(cs) != 1 || ok["needs_attention"] != true {
		t.Fatalf("failed after succeeded: %v", ok)
	}
	_, gone := e.call(http.MethodGet, "/v1/bridge/payments/pf-gone", nil, true)
	if gone["status"] != "expired" || gone["conflicts"] != nil || gone["needs_attention"] != false {
		t.Fatalf("failed after expired (the same outcome: nothing paid): %v", gone)
	}
}

func TestContradicts(t *testing.T) {
	tests := []struct {
		local, reported bridge.Status
		want            bool
	}{
		{bridge.StatusFailed, bridge.StatusSucceeded, true},
		{bridge.StatusRejected, bridge.StatusSucceeded, true},
		{bridge.StatusExpired, bridge.StatusReversed, true},
		{bridge.StatusSucceeded, bridge.StatusFailed, true},
		{bridge.StatusReversed, bridge.StatusCanceled, true},
		{bridge.StatusFailed, bridge.StatusExpired, false},
		{bridge.StatusReversed, bridge.StatusSucceeded, false},
		{bridge.StatusSucceeded, bridge.StatusReversed, false},
		{bridge.StatusSucceeded, bridge.StatusSucceeded, false},
		{bridge.StatusProcessing, bridge.StatusSucceeded, false},
		{bridge.StatusFailed, bridge.StatusProcessing, false},
	}
	for _, tt := range tests {
		if got := bridge.Contradicts(tt.local, tt.reported); got != tt.want {
			t.Errorf("Contradicts(%s, %s) = %t, want %t", tt.local, tt.reported, got, tt.want)
		}
	}
}

// A reconciler poll that learns nothing new leaves updated_at alone.
func TestPollWithoutChangeKeepsUpdatedAt(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newEnv(t, envOpts{noCallback: true})
	if code, out := e.call(http.MethodPost, "/v1/bridge/payouts", payinBody("po-quiet", "1000"), true); code != http.StatusCreated || out["status"] != "processing" {
		t.Fatalf("create: %d %v", code, out)
	}
	before := e.snapshot("po-quiet")
	rec := &bridge.Reconciler{Service: e.svc}
	for i := 0; i < 3; i++ {
		e.due(0)
		if _, err := rec.RunOnce(ctx); err != nil {
			t.Fatal(err)
		}
	}
	var checks int
	if err := e.pool.QueryRow(ctx, `SELECT checks FROM bridge_payments WHERE reference = 'po-quiet'`).Scan(&checks); err != nil || checks != 3 {
		t.Fatalf("checks %d %v: the reconciler did not poll", checks, err)
	}
	if after := e.snapshot("po-quiet"); !after.Updated.Equal(before.Updated) {
		t.Fatalf("updated_at moved from %s to %s on polls that changed nothing", before.Updated, after.Updated)
	}
	// A real change still moves it.
	if err := e.sim.Settle("po-quiet", "success"); err != nil {
		t.Fatal(err)
	}
	e.due(0)
	if _, err := rec.RunOnce(ctx); err != nil {
		t.Fatal(err)
	}
	if after := e.snapshot("po-quiet"); after.Status != "succeeded" || !after.Updated.After(before.Updated) {
		t.Fatalf("after a change: %+v (before %s)", after, before.Updated)
	}
}
