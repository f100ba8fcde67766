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
)

func TestPayinIsStoredSentOnceAndIdempotentByReference(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{})
	code, p := e.call(http.MethodPost, "/v1/bridge/payins", payinBody("order-1", "150050"), true)
	if code != http.StatusCreated || p["status"] != "action_required" || p["raw_status"] != "pending" ||
		p["redirect_url"] == nil || p["amount"] != "150050" || p["provider_id"] == nil {
		t.Fatalf("create: %d %v", code, p)
	}
	code, again := e.call(http.MethodPost, "/v1/bridge/payins", payinBody("order-1", "150050"), true)
	if code != http.StatusOK || again["provider_id"] != p["provider_id"] || again["created_at"] != p["created_at"] {
		t.Fatalf("repeat: %d %v", code, again)
	}
	code, conflict := e.call(http.MethodPost, "/v1/bridge/payins", payinBody("order-1", "150051"), true)
	if code != http.StatusConflict || !strings.Contains(conflict["error"].(string), "order-1") {
		t.Fatalf("other body: %d %v", code, conflict)
	}
	code, conflict = e.call(http.MethodPost, "/v1/bridge/payouts", payinBody("order-1", "150050"), true)
	if code != http.StatusConflict {
		t.Fatalf("same reference as payout: %d %v", code, conflict)
	}
	if n := e.sim.CreateAttempts("order-1"); n != 1 {
		t.Fatalf("provider asked to create %d times, want 1", n)
	}
	code, got := e.call(http.MethodGet, "/v1/bridge/payments/order-1", nil, true)
	if code != http.StatusOK || got["status"] != "action_required" {
		t.Fatalf("get: %d %v", code, got)
	}
	if code, _ := e.call(http.MethodGet, "/v1/bridge/payments/nope", nil, true); code != http.StatusNotFound {
		t.Fatalf("unknown reference: %d, want 404", code)
	}
	if ids := e.outboxIDs("order-1"); !slices.Equal(ids, []string{"bridge:order-1:action_required"}) {
		t.Fatalf("outbox events %v", ids)
	}
}

func TestBridgeAPIRequiresTheToken(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{})
	for _, p := range []string{"/v1/bridge/balances", "/v1/bridge/banks", "/v1/bridge/providers", "/v1/bridge/payments/x"} {
		if code, _ := e.call(http.MethodGet, p, nil, false); code != http.StatusUnauthorized {
			t.Errorf("GET %s without token: %d, want 401", p, code)
		}
	}
	if code, _ := e.call(http.MethodPost, "/v1/bridge/payins", payinBody("r", "1"), false); code != http.StatusUnauthorized {
		t.Errorf("create without token: %d", code)
	}
	if e.sim.CreateAttempts("r") != 0 {
		t.Fatal("unauthenticated request reached the provider")
	}
}

func TestInvalidCreateRequestsAreRefusedBeforeStoring(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{})
	bad := []map[string]any{
		payinBody("bad ref with spaces", "100"),
		payinBody("r1", "0"),
		payinBody("r1", "01"),
		payinBody("r1", "1.5"),
		{"reference": "r1", "provider": "nope", "amount": "1", "currency": "RUB"},
		{"reference": "r1", "provider": "payfield", "amount": "1", "currency": "rub"},
		{"reference": "r1", "provider": "payfield", "amount": "1", "currency": "RUB", "unknown": 1},
	}
	for _, b := range bad {
		if code, out := e.call(http.MethodPost, "/v1/bridge/payins", b, true); code != http.StatusBadRequest || out["error"] == "" {
			t.Errorf("%v: %d %v, want 400", b, code, out)
		}
	}
	var n int
	_ = e.pool.QueryRow(context.Background(), `SELECT count(*) FROM bridge_payments`).Scan(&n)
	if n != 0 {
		t.Fatalf("%d payments stored from invalid requests", n)
	}
}

// nameOnly is a provider that implements no capability.
type nameOnly struct{}

func (nameOnly) Name() string { return "bare" }

func TestMissingCapabilitiesAnswer501(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{extra: []bridge.Provider{nameOnly{}}})
	b := payinBody("r501", "100")
	b["provider"] = "bare"
	if code, out := e.call(http.MethodPost, "/v1/bridge/payins", b, true); code != http.StatusNotImplemented || !strings.Contains(out["error"].(string), "bare") {
		t.Fatalf("payin: %d %v", code, out)
	}
	if code, _ := e.call(http.MethodPost, "/v1/bridge/payouts", b, true); code != http.StatusNotImplemented {
		t.Fatalf("payout: %d", code)
	}
	if code, _ := e.call(http.MethodGet, "/v1/bridge/banks?provider=payfield", nil, true); code != http.StatusNotImplemented {
		t.Fatalf("payfield banks: %d", code)
	}
	if code, _ := e.call(http.MethodGet, "/v1/bridge/balances?provider=bare", nil, true); code != http.StatusNotImplemented {
		t.Fatalf("bare balances: %d", code)
	}
	if code, _ := e.postRaw("/v1/bridge/callbacks/bare", []byte(`{}`), nil); code != http.StatusNotImplemented {
		t.Fatalf("bare callback: %d", code)
	}
	code, out := e.call(http.MethodGet, "/v1/bridge/providers", nil, true)
	if code != http.StatusOK || len(out["providers"].([]any)) != 2 {
		t.Fatalf("providers: %d %v", code, out)
	}
}

func TestBalancesAcrossProviders(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{extra: []bridge.Provider{nameOnly{}}})
	code, out := e.call(http.MethodGet, "/v1/bridge/balances", nil, true)
	bals := out["balances"].([]any)
	if code != http.StatusOK || len(bals) != 1 {
		t.Fatalf("%d %v", code, out)
	}
	b := bals[0].(map[string]any)
	if b["provider"] != "payfield" || b["available"] != "10000000" || b["credit"] != "500000" || b["total"] != "10500000" {
		t.Fatalf("balance %v", b)
	}
	e.sim.Inject(sim.EndpointBalance, sim.Fault{Mode: sim.Fail500})
	code, out = e.call(http.MethodGet, "/v1/bridge/balances", nil, true)
	if code != http.StatusOK || len(out["errors"].([]any)) != 1 || len(out["balances"].([]any)) != 0 {
		t.Fatalf("provider down: %d %v", code, out)
	}
}

func TestDuplicateAndOutOfOrderCallbacksChangeStateOnce(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{sim: sim.Options{Duplicates: 2, OutOfOrder: true}})
	if code, out := e.call(http.MethodPost, "/v1/bridge/payouts", payinBody("po-1", "250000"), true); code != http.StatusCreated || out["status"] != "processing" {
		t.Fatalf("create: %d %v", code, out)
	}
	if err := e.sim.Settle("po-1", "success"); err != nil {
		t.Fatal(err)
	}
	// 3 copies of the success webhook, then 3 copies of the stale pending one.
	waitFor(t, "6 webhook deliveries", func() bool { return len(e.sim.Deliveries()) >= 6 })
	for _, d := range e.sim.Deliveries() {
		if d.HTTPStatus != http.StatusOK {
			t.Fatalf("delivery %+v not accepted", d)
		}
	}
	s := e.snapshot("po-1")
	if s.Status != "succeeded" || s.RawStatus != "success" {
		t.Fatalf("after callbacks: %+v", s)
	}
	if ids := e.outboxIDs("po-1"); !slices.Equal(ids, []string{"bridge:po-1:processing", "bridge:po-1:succeeded"}) {
		t.Fatalf("outbox %v", ids)
	}
	if s.History != 3 {
		t.Fatalf("history rows %d, want 3 (created, processing, succeeded)", s.History)
	}
	// succeeded -> reversed is the one way out of a terminal state.
	if err := e.sim.Settle("po-1", "refunded"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "reversed", func() bool { return e.snapshot("po-1").Status == "reversed" })
}

func TestForgedReplayedStaleAndMalformedCallbacksChangeNothing(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{noCallback: true})
	if code, _ := e.call(http.MethodPost, "/v1/bridge/payins", payinBody("in-cb", "1000"), true); code != http.StatusCreated {
		t.Fatal(code)
	}
	body := []byte(`{"id":1,"external_id":"in-cb","shop_code":"shop-001","status":"success","amount":"10.00","currency":"RUB","updated_at":"2026-05-19T12:00:00Z"}`)
	now := time.Now()
	_, forged := sim.WebhookRequest("not-the-secret-123", payfield.EncodingHex, body, now)
	_, stale := sim.WebhookRequest(whSecet, payfield.EncodingHex, body, now.Add(-time.Hour))
	_, replayed := sim.WebhookRequest(whSecet, payfield.EncodingHex, body, now.Add(-6*time.Minute))
	_, b64 := sim.WebhookRequest(whSecet, payfield.EncodingBase64, body, now)
	malBody := []byte(`{"external_id":"in-cb","status":`)
	_, mal := sim.WebhookRequest(whSecet, payfield.EncodingHex, malBody, now)
	otherRef := []byte(strings.Replace(string(body), "in-cb", "not-ours", 1))
	_, other := sim.WebhookRequest(whSecet, payfield.EncodingHex, otherRef, now)
	before := e.snapshot("in-cb")
	tests := []struct {
		name string
		body []byte
		h    http.Header
		want int
	}{
		{"forged signature", body, forged, http.StatusBadRequest},
		{"stale timestamp", body, stale, http.StatusBadRequest},
		{"replayed after the window", body, replayed, http.StatusBadRequest},
		{"wrong encoding", body, b64, http.StatusBadRequest},
		{"malformed body", malBody, mal, http.StatusBadRequest},
		{"tampered body", []byte(strings.Replace(string(body), "10.00", "99.00", 1)), stale, http.StatusBadRequest},
		{"unknown reference", otherRef, other, http.StatusNotFound},
		{"no signature", body, http.Header{}, http.StatusBadRequest},
	}
	for _, tt := range tests {
		if code, out := e.postRaw("/v1/bridge/callbacks/payfield", tt.body, tt.h); code != tt.want {
			t.Errorf("%s: %d %s, want %d", tt.name, code, out, tt.want)
		}
	}
	if code, _ := e.postRaw("/v1/bridge/callbacks/nope", body, forged); code != http.StatusNotFound {
		t.Errorf("unknown provider: %d", code)
	}
	if after := e.snapshot("in-cb"); after != before {
		t.Fatalf("rejected callbacks changed the payment: %+v -> %+v", before, after)
	}
	// The genuine one is applied, and replaying it within the window is a no-op.
	_, good := sim.WebhookRequest(whSecet, payfield.EncodingHex, body, now)
	for i := 0; i < 3; i++ {
		if code, out := e.postRaw("/v1/bridge/callbacks/payfield", body, good); code != http.StatusOK || out != `{"status":"ok"}` {
			t.Fatalf("genuine callback %d: %d %s", i, code, out)
		}
	}
	after := e.snapshot("in-cb")
	if after.Status != "succeeded" || after.History != before.History+1 || after.Outbox != before.Outbox+1 {
		t.Fatalf("genuine callback: %+v -> %+v", before, after)
	}
}

func TestPayoutWhoseCreateTimedOutIsSettledOnceByReconciliation(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newEnv(t, envOpts{timeout: 300 * time.Millisecond, noCallback: true})
	e.sim.Inject(sim.EndpointPayout, sim.Fault{Mode: sim.AcceptTimeout, Delay: 3 * time.Second})
	code, out := e.call(http.MethodPost, "/v1/bridge/payouts", payinBody("po-timeout", "70000"), true)
	if code != http.StatusCreated || out["status"] != "unknown" {
		t.Fatalf("create: %d %v", code, out)
	}
	if e.sim.Creates("po-timeout") != 1 {
		t.Fatal("the simulator did not accept the payout")
	}
	rec := &bridge.Reconciler{Service: e.svc, Interval: 10 * time.Millisecond}
	// Due now: next_check_at was set an hour ahead by RecheckAfter; pull it in.
	due := func() {
		if _, err := e.pool.Exec(ctx, `UPDATE bridge_payments SET next_check_at = now() WHERE reference = 'po-timeout'`); err != nil {
			t.Fatal(err)
		}
	}
	due()
	// The provider still says pending: the payment moves on to processing.
	if _, err := rec.RunOnce(ctx); err != nil {
		t.Fatal(err)
	}
	if s := e.snapshot("po-timeout"); s.Status != "processing" {
		t.Fatalf("after first reconciliation: %+v", s)
	}
	// A retried create with the same body answers the stored record and
	// does not reach the provider.
	if code, out := e.call(http.MethodPost, "/v1/bridge/payouts", payinBody("po-timeout", "70000"), true); code != http.StatusOK || out["status"] != "processing" {
		t.Fatalf("retry: %d %v", code, out)
	}
	if err := e.sim.Settle("po-timeout", "success"); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		due()
		if _, err := rec.RunOnce(ctx); err != nil {
			t.Fatal(err)
		}
	}
	s := e.snapshot("po-timeout")
	if s.Status != "succeeded" {
		t.Fatalf("after reconciliation: %+v", s)
	}
	if ids := e.outboxIDs("po-timeout"); !slices.Equal(ids, []string{"bridge:po-timeout:unknown",
		"bridge:po-timeout:processing", "bridge:po-timeout:succeeded"}) {
		t.Fatalf("outbox %v", ids)
	}
	if a := e.sim.CreateAttempts("po-timeout"); a != 1 {
		t.Fatalf("the provider was asked to create %d times, want 1", a)
	}
	var checks int
	_ = e.pool.QueryRow(ctx, `SELECT count(*) FROM bridge_payments WHERE status NOT IN ('succeeded') `).Scan(&checks)
	if checks != 0 {
		t.Fatalf("%d payments left open", checks)
	}
}

func TestReconcilerRunStopsWithItsContext(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{timeout: 200 * time.Millisecond, noCallback: true})
	e.sim.Inject(sim.EndpointPayin, sim.Fault{Mode: sim.Accept500})
	if code, out := e.call(http.MethodPost, "/v1/bridge/payins", payinBody("in-500", "100"), true); code != http.StatusCreated || out["status"] != "unknown" {
		t.Fatalf("create: %d %v", code, out)
	}
	_ = e.sim.Settle("in-500", "success")
	_, _ = e.pool.Exec(context.Background(), `UPDATE bridge_payments SET next_check_at = now()`)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- (&bridge.Reconciler{Service: e.svc, Interval: 20 * time.Millisecond}).Run(ctx) }()
	waitFor(t, "succeeded", func() bool { return e.snapshot("in-500").Status == "succeeded" })
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
}

func TestUnknownPaymentTheProviderNeverSawFailsAfterGiveUp(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newEnv(t, envOpts{noCallback: true})
	e.sim.Inject(sim.EndpointPayout, sim.Fault{Mode: sim.Fail500})
	if code, out := e.call(http.MethodPost, "/v1/bridge/payouts", payinBody("po-lost", "100"), true); code != http.StatusCreated || out["status"] != "unknown" {
		t.Fatalf("create: %d %v", code, out)
	}
	rec := &bridge.Reconciler{Service: e.svc}
	_, _ = e.pool.Exec(ctx, `UPDATE bridge_payments SET next_check_at = now()`)
	_, _ = rec.RunOnce(ctx)
	if s := e.snapshot("po-lost"); s.Status != "unknown" {
		t.Fatalf("not found within give-up: %+v", s)
	}
	_, _ = e.pool.Exec(ctx, `UPDATE bridge_payments SET next_check_at = now(), created_at = now() - interval '2 hours'`)
	_, _ = rec.RunOnce(ctx)
	if s := e.snapshot("po-lost"); s.Status != "failed" || s.RawStatus != "not_found" {
		t.Fatalf("after give-up: %+v", s)
	}
	if e.sim.CreateAttempts("po-lost") != 0 || e.sim.Creates("po-lost") != 0 {
		t.Fatal("reconciliation created the payment")
	}
}

func TestDatabaseRefusesLeavingAFinalStatus(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newEnv(t, envOpts{noCallback: true})
	e.call(http.MethodPost, "/v1/bridge/payins", payinBody("fin", "100"), true)
	if _, err := e.pool.Exec(ctx, `UPDATE bridge_payments SET status = 'failed' WHERE reference = 'fin'`); err != nil {
		t.Fatal(err)
	}
	_, err := e.pool.Exec(ctx, `UPDATE bridge_payments SET status = 'processing' WHERE reference = 'fin'`)
	if err == nil || !strings.Contains(err.Error(), "final status") {
		t.Fatalf("failed -> processing: %v", err)
	}
	_, err = e.pool.Exec(ctx, `UPDATE bridge_payments SET amount = 5 WHERE reference = 'fin'`)
	if err == nil {
		t.Fatal("amount changed")
	}
}

func TestAdvances(t *testing.T) {
	tests := []struct {
		from, to bridge.Status
		want     bool
	}{
		{bridge.StatusCreated, bridge.StatusUnknown, true},
		{bridge.StatusCreated, bridge.StatusSubmitted, true},
		{bridge.StatusUnknown, bridge.StatusSucceeded, true},
		{bridge.StatusProcessing, bridge.StatusUnknown, false},
		{bridge.StatusProcessing, bridge.StatusSubmitted, false},
		{bridge.StatusProcessing, bridge.StatusActionRequired, false},
		{bridge.StatusActionRequired, bridge.StatusProcessing, true},
		{bridge.StatusProcessing, bridge.StatusUnderReview, true},
		{bridge.StatusUnderReview, bridge.StatusProcessing, true},
		{bridge.StatusProcessing, bridge.StatusProcessing, false},
		{bridge.StatusSucceeded, bridge.StatusReversed, true},
		{bridge.StatusSucceeded, bridge.StatusFailed, false},
		{bridge.StatusFailed, bridge.StatusSucceeded, false},
		{bridge.StatusReversed, bridge.StatusSucceeded, false},
		{bridge.StatusSubmitted, bridge.StatusCreated, false},
		{bridge.StatusSubmitted, "bogus", false},
	}
	for _, tt := range tests {
		if got := bridge.Advances(tt.from, tt.to); got != tt.want {
			t.Errorf("Advances(%s, %s) = %t, want %t", tt.from, tt.to, got, tt.want)
		}
	}
}
