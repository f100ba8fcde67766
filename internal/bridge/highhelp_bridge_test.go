package bridge_test

import (
	"context"
	"math/big"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/ton-custody/processor/internal/bridge"
	"github.com/ton-custody/processor/internal/bridge/highhelp"
	hhsim "github.com/ton-custody/processor/internal/bridge/highhelp/sim"
)

// Issue 12.2: HighHelp signs every merchant's callbacks with one key. A
// callback for another merchant's kassa (signed general.project_id and
// x-access-merchant-id not ours) is refused, changes nothing and is
// counted.
func TestHighHelpCallbackOfAnotherKassaIsRefused(t *testing.T) {
	t.Parallel()
	e, _ := newHighHelpEnv(t, envOpts{noCallback: true})
	const ref = "hh-in-1"
	if code, out := e.call(http.MethodPost, "/v1/bridge/payins", highhelpBody(ref), true); code != http.StatusCreated || out["status"] != "processing" {
		t.Fatalf("create: %d %v", code, out)
	}
	before := e.snapshot(ref)

	// Another merchant's kassa, at the same HighHelp, has a payment under
	// our reference whose callback URL points at us.
	const otherMerchant, otherProject, otherSecret = "0c7f5a2e-1111-4000-8000-000000000001", "proj-other", "other-request-secret"
	other, err := hhsim.New(hhsim.Config{MerchantID: otherMerchant, ProjectID: otherProject,
		MerchantKey: highhelp.HMACKey([]byte(otherSecret)), CallbackKey: highhelp.HMACKey([]byte(hhCallback)),
		Callbacks: hhsim.CallbackConfig{MaxAttempts: 1}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(other.Close)
	oc, err := highhelp.New(highhelp.Config{BaseURL: other.URL(), MerchantID: otherMerchant, ProjectID: otherProject,
		Key: highhelp.HMACKey([]byte(otherSecret)), Token: "t", Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := oc.CreatePayin(context.Background(), bridge.Payment{Kind: bridge.Payin, Reference: ref,
		Money: bridge.Money{Amount: big.NewInt(150000), Currency: "RUB"}, Method: "sbp-p2p",
		Callback: e.srv.URL + bridge.CallbackPath(highhelp.Name)}); err != nil {
		t.Fatal(err)
	}
	if err := other.Settle(ref, "success"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the other kassa's callbacks", func() bool { return len(other.Deliveries()) >= 2 })
	for _, d := range other.Deliveries() {
		if d.Code != http.StatusBadRequest {
			t.Errorf("callback of another kassa (%s) answered %d, want 400", d.Status, d.Code)
		}
	}

	// Only one of the two not ours.
	genuine := `{"payment_id":"` + ref + `","request_id":"req-1","status":"success","sub_status":"",` +
		`"general":{"project_id":"` + hhProject + `","payment_id":"` + ref + `"},"payment":{"amount":150000,"currency":"RUB"}}`
	otherProj := `{"payment_id":"` + ref + `","request_id":"req-1","status":"success","sub_status":"",` +
		`"general":{"project_id":"` + otherProject + `","payment_id":"` + ref + `"},"payment":{"amount":150000,"currency":"RUB"}}`
	noProj := `{"payment_id":"` + ref + `","request_id":"req-1","status":"success","sub_status":"","payment":{"amount":150000,"currency":"RUB"}}`
	for name, c := range map[string]struct{ body, merchant string }{
		"our project, another merchant header": {genuine, otherMerchant},
		"our project, no merchant header":      {genuine, ""},
		"our merchant header, another project": {otherProj, hhMerchant},
		"our merchant header, no project":      {noProj, hhMerchant},
	} {
		if code, out := e.postRaw(bridge.CallbackPath(highhelp.Name), []byte(c.body), highhelpCallback(t, c.body, c.merchant)); code != http.StatusBadRequest {
			t.Errorf("%s: %d %s, want 400", name, code, out)
		}
	}
	if after := e.snapshot(ref); after != before {
		t.Fatalf("refused callbacks changed the payment: %+v -> %+v", before, after)
	}
	if n := e.counter("processor_bridge_callbacks_rejected_total", "provider", "highhelp", "reason", "project_mismatch"); n != 2+2 {
		t.Errorf("project mismatches counted %v, want 4 (2 from the other kassa, 2 crafted)", n)
	}
	if n := e.counter("processor_bridge_callbacks_rejected_total", "provider", "highhelp", "reason", "merchant_mismatch"); n != 2 {
		t.Errorf("merchant mismatches counted %v, want 2", n)
	}

	// Ours is applied.
	if code, out := e.postRaw(bridge.CallbackPath(highhelp.Name), []byte(genuine), highhelpCallback(t, genuine, hhMerchant)); code != http.StatusOK {
		t.Fatalf("genuine: %d %s", code, out)
	}
	if s := e.snapshot(ref); s.Status != "succeeded" {
		t.Fatalf("genuine callback: %+v", s)
	}
}

// Issue 12.5: the bridge gives HighHelp payouts the callback URL with
// ?kind=payout, and the callback on it settles the payout.
func TestHighHelpPayoutCallbackURLCarriesKind(t *testing.T) {
	t.Parallel()
	e, s := newHighHelpEnv(t, envOpts{})
	if code, out := e.call(http.MethodPost, "/v1/bridge/payouts", highhelpBody("hh-po-1"), true); code != http.StatusCreated || out["status"] != "processing" {
		t.Fatalf("payout: %d %v", code, out)
	}
	if code, out := e.call(http.MethodPost, "/v1/bridge/payins", highhelpBody("hh-in-2"), true); code != http.StatusCreated {
		t.Fatalf("payin: %d %v", code, out)
	}
	for ref, kind := range map[string]string{"hh-po-1": "payout", "hh-in-2": ""} {
		p, ok := s.Payment(ref)
		if !ok {
			t.Fatalf("%s not at the simulator", ref)
		}
		u, err := url.Parse(p.CallbackURL)
		if err != nil || u.Path != bridge.CallbackPath(highhelp.Name) || u.Query().Get("kind") != kind {
			t.Errorf("%s: merchant_callback_url %q, want %s with kind=%q", ref, p.CallbackURL, bridge.CallbackPath(highhelp.Name), kind)
		}
	}
	if err := s.Settle("hh-po-1", "success"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "payout succeeded", func() bool { return e.snapshot("hh-po-1").Status == "succeeded" })
	for _, d := range s.Deliveries() {
		if d.Code != http.StatusOK {
			t.Fatalf("callback %+v not accepted", d)
		}
	}
}
