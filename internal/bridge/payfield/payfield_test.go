package payfield_test

import (
	"context"
	"errors"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/ton-custody/processor/internal/bridge"
	"github.com/ton-custody/processor/internal/bridge/payfield"
	"github.com/ton-custody/processor/internal/bridge/payfield/sim"
	"github.com/ton-custody/processor/internal/config"
)

const (
	apiKey  = "pf-key-0123456789"
	secret  = "pf-secret-0123456789"
	whSec   = "pf-webhook-0123456789"
	golden  = `{"external_id":"order-1","amount":"1500.00","currency":"RUB"}`
	goldenT = "2026-05-19T12:00:00Z"
)

// Golden vectors computed independently (Python hmac):
// HMAC-SHA256("pf-secret-0123456789", "2026-05-19T12:00:00Z" + body).
func TestSignatureGoldenVectors(t *testing.T) {
	tests := []struct {
		name, ts, body, enc, want string
	}{
		{"hex POST", goldenT, golden, payfield.EncodingHex, "d7d1b99e00d8726682bd8f5a5b3f076775ce91e2b282bf466f625da5e3555114"},
		{"base64 POST", goldenT, golden, payfield.EncodingBase64, "19G5ngDYcmaCvY9aWz8HZ3XOkeKygr9Gb2JdpeNVURQ="},
		{"GET has an empty body", goldenT, "", payfield.EncodingHex, "2dfc13ffb837edcd090d18d051fa7fb84b0d2a4b224ecffa4b1bee1b74145cd0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := payfield.Sign(secret, tt.ts, []byte(tt.body), tt.enc); got != tt.want {
				t.Fatalf("Sign = %s, want %s", got, tt.want)
			}
			if !payfield.Verify(secret, tt.ts, []byte(tt.body), tt.enc, tt.want) {
				t.Fatal("Verify refuses the golden signature")
			}
			if payfield.Verify(secret, tt.ts, []byte(tt.body+" "), tt.enc, tt.want) {
				t.Fatal("Verify accepts a changed body")
			}
		})
	}
	if !payfield.Verify(secret, goldenT, []byte(golden), payfield.EncodingHex, strings.ToUpper("d7d1b99e00d8726682bd8f5a5b3f076775ce91e2b282bf466f625da5e3555114")) {
		t.Fatal("upper-case hex refused")
	}
}

func TestMapStatus(t *testing.T) {
	tests := []struct {
		kind bridge.Kind
		raw  string
		link bool
		want bridge.Status
	}{
		{bridge.Payin, "pending", true, bridge.StatusActionRequired},
		{bridge.Payout, "pending", false, bridge.StatusProcessing},
		{bridge.Payin, "success", false, bridge.StatusSucceeded},
		{bridge.Payin, "failed", false, bridge.StatusFailed},
		{bridge.Payin, "canceled", false, bridge.StatusCanceled},
		{bridge.Payin, "refunded", false, bridge.StatusReversed},
		{bridge.Payin, "expired", false, bridge.StatusExpired},
		{bridge.Payout, "waiting_api", false, bridge.StatusProcessing},
		{bridge.Payout, "polling_expired", false, bridge.StatusProcessing},
		{bridge.Payout, "something_new", false, bridge.StatusProcessing},
	}
	for _, tt := range tests {
		if got := payfield.MapStatus(tt.kind, tt.raw, tt.link); got != tt.want {
			t.Errorf("MapStatus(%s, %s) = %s, want %s", tt.kind, tt.raw, got, tt.want)
		}
	}
}

func start(t *testing.T, o sim.Options) *sim.Sim {
	t.Helper()
	o.APIKey, o.Secret, o.WebhookSecret = apiKey, secret, whSec
	s, err := sim.Start(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func client(t *testing.T, s *sim.Sim, mod func(*payfield.Options)) *payfield.Client {
	t.Helper()
	o := payfield.Options{BaseURL: s.URL, APIKey: config.NewSecret(apiKey), Secret: config.NewSecret(secret),
		WebhookSecret: config.NewSecret(whSec), ShopCode: "shop-001", Client: &http.Client{Timeout: 500 * time.Millisecond}}
	if mod != nil {
		mod(&o)
	}
	c, err := payfield.New(o)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func pay(kind bridge.Kind, ref string, amount int64) bridge.Payment {
	return bridge.Payment{Kind: kind, Reference: ref, Money: bridge.Money{Amount: big.NewInt(amount), Currency: "RUB"},
		Customer: map[string]string{"user_id": "u1", "ip": "127.0.0.1"}}
}

func TestEveryEndpointAgainstTheSimulator(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, enc := range []string{payfield.EncodingHex, payfield.EncodingBase64} {
		t.Run(enc, func(t *testing.T) {
			s := start(t, sim.Options{Encoding: enc})
			s.SetBalance("RUB", 10_000_00, 5_000_00)
			c := client(t, s, func(o *payfield.Options) { o.Encoding = enc; o.TimestampFormat = payfield.TimestampUnix })

			in, err := c.CreatePayin(ctx, pay(bridge.Payin, "in-1", 1500_50))
			if err != nil {
				t.Fatal(err)
			}
			if in.Status != bridge.StatusActionRequired || in.RawStatus != "pending" || in.RedirectURL == "" || in.ProviderID == "" {
				t.Fatalf("payin result %+v", in)
			}
			if p, _ := s.Payment("in-1"); p.Amount.Int64() != 1500_50 {
				t.Fatalf("sim got amount %v, want 150050 minor units", p.Amount)
			}
			out, err := c.CreatePayout(ctx, pay(bridge.Payout, "out-1", 12_000_00))
			if err != nil {
				t.Fatal(err)
			}
			if out.Status != bridge.StatusProcessing {
				t.Fatalf("payout result %+v", out)
			}
			bals, err := c.Balances(ctx)
			if err != nil {
				t.Fatal(err)
			}
			// 12,000 reserved: 10,000 from available, 2,000 from credit.
			b := bals[0]
			if b.Available.Int64() != 0 || b.Pending.Int64() != 12_000_00 || b.Credit.Int64() != 3_000_00 || b.Total.Int64() != 15_000_00 {
				t.Fatalf("balance after payout reserve: %+v", b)
			}
			if err := s.Settle("in-1", "success"); err != nil {
				t.Fatal(err)
			}
			if err := s.Settle("out-1", "failed"); err != nil {
				t.Fatal(err)
			}
			st, err := c.Status(ctx, bridge.Payin, "in-1")
			if err != nil || st.Status != bridge.StatusSucceeded || st.Amount == nil || st.Amount.Amount.Int64() != 1500_50 {
				t.Fatalf("payin status %+v %v", st, err)
			}
			st, err = c.Status(ctx, bridge.Payout, "out-1")
			if err != nil || st.Status != bridge.StatusFailed {
				t.Fatalf("payout status %+v %v", st, err)
			}
			bals, _ = c.Balances(ctx)
			b = bals[0]
			if b.Available.Int64() != 10_000_00+1500_50 || b.Pending.Sign() != 0 || b.Credit.Int64() != 5_000_00 {
				t.Fatalf("balance after settling: %+v", b)
			}
			if _, err := c.Status(ctx, bridge.Payout, "nope"); !errors.Is(err, bridge.ErrNotFound) {
				t.Fatalf("unknown payout: %v, want ErrNotFound", err)
			}
			if _, err := c.Status(ctx, bridge.Payout, "in-1"); !errors.Is(err, bridge.ErrNotFound) {
				t.Fatalf("payin asked as payout: %v, want ErrNotFound", err)
			}
			if _, err := c.CreatePayout(ctx, pay(bridge.Payout, "out-big", 1_000_000_00)); !errors.Is(err, bridge.ErrRejected) {
				t.Fatalf("payout over balance: %v, want ErrRejected", err)
			}
			if s.Rejected() != 0 {
				t.Fatalf("simulator refused %d signatures", s.Rejected())
			}
		})
	}
}

func TestSimulatorRefusesBadSignatures(t *testing.T) {
	t.Parallel()
	s := start(t, sim.Options{})
	c := client(t, s, func(o *payfield.Options) { o.Secret = config.NewSecret("wrong-secret-0123") })
	if _, err := c.Balances(context.Background()); err == nil || !strings.Contains(err.Error(), "401") {
		t.Fatalf("wrong secret: %v, want HTTP 401", err)
	}
	c = client(t, s, func(o *payfield.Options) { o.Now = func() time.Time { return time.Now().Add(-time.Hour) } })
	if _, err := c.Balances(context.Background()); err == nil || !strings.Contains(err.Error(), "401") {
		t.Fatalf("stale timestamp: %v, want HTTP 401", err)
	}
	if s.Rejected() != 2 {
		t.Fatalf("rejected %d, want 2", s.Rejected())
	}
}

func TestCreateOutcomes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := start(t, sim.Options{})
	c := client(t, s, nil)
	tests := []struct {
		name  string
		fault sim.Fault
		want  error
		made  int
	}{
		{"500 before accepting is unknown", sim.Fault{Mode: sim.Fail500}, bridge.ErrOutcomeUnknown, 0},
		{"500 after accepting is unknown", sim.Fault{Mode: sim.Accept500}, bridge.ErrOutcomeUnknown, 1},
		{"timeout after accepting is unknown", sim.Fault{Mode: sim.AcceptTimeout, Delay: 2 * time.Second}, bridge.ErrOutcomeUnknown, 1},
		{"malformed JSON is unknown", sim.Fault{Mode: sim.Malformed}, bridge.ErrOutcomeUnknown, 1},
		{"a short delay is fine", sim.Fault{Mode: sim.Delay, Delay: 50 * time.Millisecond}, nil, 1},
	}
	for i, tt := range tests {
		ref := "o-" + string(rune('a'+i))
		s.Inject(sim.EndpointPayin, tt.fault)
		_, err := c.CreatePayin(ctx, pay(bridge.Payin, ref, 100))
		if (tt.want == nil && err != nil) || (tt.want != nil && !errors.Is(err, tt.want)) {
			t.Errorf("%s: err %v, want %v", tt.name, err, tt.want)
		}
		if got := s.Creates(ref); got != tt.made {
			t.Errorf("%s: simulator created %d, want %d", tt.name, got, tt.made)
		}
	}
	// A repeated external_id (409) reports the existing payment instead.
	r, err := c.CreatePayin(ctx, pay(bridge.Payin, "o-b", 100))
	if err != nil || r.RawStatus != "pending" || s.Creates("o-b") != 1 {
		t.Fatalf("repeat create: %+v %v (created %d)", r, err, s.Creates("o-b"))
	}
}

func TestParseCallbackRejectsForgedStaleAndMalformed(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 5, 19, 12, 0, 0, 0, time.UTC)
	c, err := payfield.New(payfield.Options{BaseURL: "http://127.0.0.1:1", APIKey: config.NewSecret(apiKey),
		Secret: config.NewSecret(secret), WebhookSecret: config.NewSecret(whSec), Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	body := []byte(`{"id":7,"external_id":"in-1","shop_code":"shop-001","status":"success","amount":"1500.50","currency":"RUB","updated_at":"2026-05-19T12:00:00Z"}`)
	req := func(b []byte, h http.Header) *http.Request {
		r := httptest.NewRequest(http.MethodPost, "/", nil)
		r.Header = h
		return r
	}
	_, good := sim.WebhookRequest(whSec, payfield.EncodingHex, body, now.Add(-time.Minute))
	cb, err := c.ParseCallback(req(body, good), body)
	if err != nil || cb.Reference != "in-1" || cb.Result.Status != bridge.StatusSucceeded || cb.Result.Amount.Amount.Int64() != 150050 {
		t.Fatalf("good webhook: %+v %v", cb, err)
	}
	_, forged := sim.WebhookRequest("another-secret-xyz", payfield.EncodingHex, body, now)
	_, stale := sim.WebhookRequest(whSec, payfield.EncodingHex, body, now.Add(-10*time.Minute))
	_, future := sim.WebhookRequest(whSec, payfield.EncodingHex, body, now.Add(10*time.Minute))
	bad := []byte(`{"external_id":`)
	_, malformed := sim.WebhookRequest(whSec, payfield.EncodingHex, bad, now)
	tests := []struct {
		name string
		body []byte
		h    http.Header
	}{
		{"forged", body, forged},
		{"stale", body, stale},
		{"from the future", body, future},
		{"body changed after signing", []byte(strings.Replace(string(body), "1500.50", "9500.50", 1)), good},
		{"malformed JSON", bad, malformed},
		{"no headers", body, http.Header{}},
	}
	for _, tt := range tests {
		if _, err := c.ParseCallback(req(tt.body, tt.h), tt.body); !errors.Is(err, bridge.ErrBadCallback) {
			t.Errorf("%s: %v, want ErrBadCallback", tt.name, err)
		}
	}
}

// A 404 that is not Payfield's documented error ({"code":"not_found"}),
// e.g. a reverse proxy's page or a wrong base URL, says nothing about the
// payment: were it "no such payment", the reconciler would fail payouts
// Payfield may still pay.
func TestForeign404IsNoDefiniteAnswer(t *testing.T) {
	t.Parallel()
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(http.StatusNotFound)
		_, _ = io.WriteString(w, "<html><body><h1>404 Not Found</h1>nginx</body></html>")
	}))
	t.Cleanup(proxy.Close)
	s := start(t, sim.Options{})
	c := client(t, s, func(o *payfield.Options) { o.BaseURL = proxy.URL })
	for _, kind := range []bridge.Kind{bridge.Payin, bridge.Payout} {
		_, err := c.Status(context.Background(), kind, "never-seen")
		if errors.Is(err, bridge.ErrNotFound) || !errors.Is(err, bridge.ErrNoDefiniteAnswer) {
			t.Fatalf("%s status through a foreign 404: %v; want ErrNoDefiniteAnswer, never ErrNotFound", kind, err)
		}
	}
	if _, err := client(t, s, nil).Status(context.Background(), bridge.Payout, "never-seen"); !errors.Is(err, bridge.ErrNotFound) {
		t.Fatalf("simulator's own 404: %v, want ErrNotFound", err)
	}
}
