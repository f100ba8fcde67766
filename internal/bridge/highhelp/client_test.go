package highhelp_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/ton-custody/processor/internal/bridge"
	"github.com/ton-custody/processor/internal/bridge/highhelp"
	"github.com/ton-custody/processor/internal/bridge/highhelp/sim"
)

var (
	keysOnce        sync.Once
	kassaKey, hhKey *rsa.PrivateKey
	errKeyGen       error
)

func keys(t testing.TB) (*rsa.PrivateKey, *rsa.PrivateKey) {
	keysOnce.Do(func() {
		if kassaKey, errKeyGen = rsa.GenerateKey(rand.Reader, 2048); errKeyGen == nil {
			hhKey, errKeyGen = rsa.GenerateKey(rand.Reader, 2048)
		}
	})
	if errKeyGen != nil {
		t.Fatal(errKeyGen)
	}
	return kassaKey, hhKey
}

// receiver collects callbacks the simulator posts, parsed by the client.
type receiver struct {
	mu       sync.Mutex
	ok       []bridge.Callback
	rejected []error
	fail     int // answer 500 to the first fail requests
	srv      *httptest.Server
}

func (r *receiver) callbacks() ([]bridge.Callback, []error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]bridge.Callback(nil), r.ok...), append([]error(nil), r.rejected...)
}

type env struct {
	sim *sim.Server
	c   *highhelp.Client
	rcv *receiver
}

func newEnv(t testing.TB, mut func(*sim.Config, *highhelp.Config)) *env {
	t.Helper()
	kk, hk := keys(t)
	scfg := sim.Config{
		MerchantID:  "57aff4db-b45d-42bf-bc5f-b7a499a01782",
		ProjectID:   "proj-1",
		MerchantKey: highhelp.RSAPublicKey(&kk.PublicKey),
		CallbackKey: highhelp.RSAKey(hk),
		Balances:    map[string]*big.Int{"RUB": big.NewInt(1_000_000)},
	}
	ccfg := highhelp.Config{
		MerchantID:  scfg.MerchantID,
		ProjectID:   "proj-1",
		Key:         highhelp.RSAKey(kk),
		CallbackKey: highhelp.RSAPublicKey(&hk.PublicKey),
		Timeout:     2 * time.Second,
	}
	if mut != nil {
		mut(&scfg, &ccfg)
	}
	s, err := sim.New(scfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	ccfg.BaseURL = s.URL()
	c, err := highhelp.New(ccfg)
	if err != nil {
		t.Fatal(err)
	}
	rcv := &receiver{}
	rcv.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rcv.mu.Lock()
		if rcv.fail > 0 {
			rcv.fail--
			rcv.mu.Unlock()
			w.WriteHeader(500)
			return
		}
		rcv.mu.Unlock()
		cb, err := c.ParseCallback(r, body)
		rcv.mu.Lock()
		defer rcv.mu.Unlock()
		if err != nil {
			rcv.rejected = append(rcv.rejected, err)
			w.WriteHeader(401)
			return
		}
		rcv.ok = append(rcv.ok, cb)
	}))
	t.Cleanup(rcv.srv.Close)
	return &env{sim: s, c: c, rcv: rcv}
}

func payment(kind bridge.Kind, ref string, amount int64, cb string) bridge.Payment {
	return bridge.Payment{Kind: kind, Reference: ref, Money: bridge.Money{Amount: big.NewInt(amount), Currency: "RUB"},
		Method: "sbp-p2p", Extra: map[string]string{"payment_system": "sberbank", "lifetime": "900"},
		Customer: map[string]string{"phone": "+79990000000"}, Callback: cb}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestPayinSettlesToSuccessAndCreditsBalance(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	res, err := e.c.CreatePayin(ctx, payment(bridge.Payin, "in-1", 50_000, e.rcv.srv.URL))
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != bridge.StatusProcessing || res.RawStatus != "processing:new" || res.ProviderID == "" || res.RedirectURL == "" {
		t.Fatalf("create result %+v", res)
	}
	if err := e.sim.Settle("in-1", "processing:awaiting_confirm"); err != nil {
		t.Fatal(err)
	}
	st, err := e.c.Status(ctx, bridge.Payin, "in-1")
	if err != nil || st.Status != bridge.StatusActionRequired {
		t.Fatalf("status %+v %v", st, err)
	}
	if err := e.sim.Settle("in-1", "success"); err != nil {
		t.Fatal(err)
	}
	st, err = e.c.Status(ctx, bridge.Payin, "in-1")
	if err != nil || st.Status != bridge.StatusSucceeded || st.Amount == nil || st.Amount.Amount.Int64() != 50_000 {
		t.Fatalf("status %+v %v", st, err)
	}
	if avail, _ := e.sim.Balance("RUB"); avail.Int64() != 1_050_000 {
		t.Fatalf("balance %s", avail)
	}
	// Callbacks: two informative (new, awaiting_confirm), one final.
	waitFor(t, "3 callbacks", func() bool { ok, _ := e.rcv.callbacks(); return len(ok) == 3 })
	ok, rej := e.rcv.callbacks()
	if len(rej) != 0 {
		t.Fatalf("rejected genuine callbacks: %v", rej)
	}
	var finals, infos int
	for _, cb := range ok {
		if cb.Reference != "in-1" {
			t.Fatalf("reference %q", cb.Reference)
		}
		if cb.Informative {
			infos++
			if cb.Result.Status.Terminal() {
				t.Fatalf("informative callback with terminal status %+v", cb)
			}
		} else {
			finals++
			if cb.Result.Status != bridge.StatusSucceeded {
				t.Fatalf("final %+v", cb)
			}
		}
	}
	if finals != 1 || infos != 2 {
		t.Fatalf("finals %d infos %d", finals, infos)
	}
}

func TestPayoutReservesThenDeductsOrReleases(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	if _, err := e.c.CreatePayout(ctx, payment(bridge.Payout, "out-1", 300_000, "")); err != nil {
		t.Fatal(err)
	}
	if _, err := e.c.CreatePayout(ctx, payment(bridge.Payout, "out-2", 200_000, "")); err != nil {
		t.Fatal(err)
	}
	bals, err := e.c.Balances(ctx)
	if err != nil || len(bals) != 1 || bals[0].Available.Int64() != 500_000 || bals[0].Frozen.Int64() != 500_000 || bals[0].Total.Int64() != 1_000_000 {
		t.Fatalf("balances %+v %v", bals, err)
	}
	if err := e.sim.Settle("out-1", "success"); err != nil {
		t.Fatal(err)
	}
	if err := e.sim.Settle("out-2", "decline"); err != nil {
		t.Fatal(err)
	}
	avail, locked := e.sim.Balance("RUB")
	if avail.Int64() != 700_000 || locked.Sign() != 0 {
		t.Fatalf("after settle avail %s locked %s", avail, locked)
	}
	st, err := e.c.Status(ctx, bridge.Payout, "out-2")
	if err != nil || st.Status != bridge.StatusFailed || st.RawStatus != "decline" {
		t.Fatalf("%+v %v", st, err)
	}
	// More than available: the provider refuses (4xx → ErrRejected).
	_, err = e.c.CreatePayout(ctx, payment(bridge.Payout, "out-3", 700_001, ""))
	if !errors.Is(err, bridge.ErrRejected) {
		t.Fatalf("overdraft: %v", err)
	}
}

func TestDuplicateReferenceIsRejectedAndUnknownIsNotFound(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	if _, err := e.c.CreatePayin(ctx, payment(bridge.Payin, "dup", 100, "")); err != nil {
		t.Fatal(err)
	}
	if _, err := e.c.CreatePayin(ctx, payment(bridge.Payin, "dup", 100, "")); !errors.Is(err, bridge.ErrRejected) {
		t.Fatalf("duplicate: %v", err)
	}
	if _, err := e.c.Status(ctx, bridge.Payin, "nope"); !errors.Is(err, bridge.ErrNotFound) {
		t.Fatalf("unknown: %v", err)
	}
}

func TestBanksAndBankList(t *testing.T) {
	e := newEnv(t, nil)
	banks, err := e.c.Banks(context.Background())
	if err != nil || len(banks) != 2 {
		t.Fatalf("%+v %v", banks, err)
	}
	if banks[0].Code != "sberbank" || banks[0].Currency != "RUB" || len(banks[0].Methods) != 1 || banks[0].Methods[0] != "sbp-p2p" {
		t.Fatalf("sberbank %+v", banks[0])
	}
	if banks[1].Code != "svoi-bank" || len(banks[1].Methods) != 0 {
		t.Fatalf("svoi %+v", banks[1])
	}
}

func TestHMACAlgorithmAndWordBooleansEndToEnd(t *testing.T) {
	e := newEnv(t, func(s *sim.Config, c *highhelp.Config) {
		s.MerchantKey, c.Key = highhelp.HMACKey([]byte("req-secret")), highhelp.HMACKey([]byte("req-secret"))
		s.CallbackKey, c.CallbackKey = highhelp.HMACKey([]byte("cb-secret")), highhelp.HMACKey([]byte("cb-secret"))
		s.Token, c.Token = "api-key", "api-key"
		s.Scheme = highhelp.Scheme{Bools: highhelp.BoolWords, Encoding: highhelp.Hex}
		c.Scheme = s.Scheme
	})
	if _, err := e.c.CreatePayin(context.Background(), payment(bridge.Payin, "h-1", 10, e.rcv.srv.URL)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "callback", func() bool { ok, _ := e.rcv.callbacks(); return len(ok) == 1 })
}

func TestSimulatorRejectsBadRequestSignatures(t *testing.T) {
	kk, _ := keys(t)
	other, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	for name, mut := range map[string]func(*sim.Config, *highhelp.Config){
		"wrong key":        func(_ *sim.Config, c *highhelp.Config) { c.Key = highhelp.RSAKey(other) },
		"bools mismatch":   func(s *sim.Config, _ *highhelp.Config) { s.Scheme.Bools = highhelp.BoolWords },
		"padding mismatch": func(s *sim.Config, _ *highhelp.Config) { s.Scheme.PadBody = true },
		"clock skew": func(_ *sim.Config, c *highhelp.Config) {
			c.Now = func() time.Time { return time.Now().Add(-time.Hour) }
		},
		"wrong merchant id": func(s *sim.Config, _ *highhelp.Config) { s.MerchantID = "other" },
		"wrong token":       func(s *sim.Config, _ *highhelp.Config) { s.Token = "x" },
	} {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t, func(s *sim.Config, c *highhelp.Config) {
				s.MerchantKey = highhelp.RSAPublicKey(&kk.PublicKey)
				mut(s, c)
				if name == "wrong merchant id" {
					c.MerchantID = "57aff4db-b45d-42bf-bc5f-b7a499a01782"
				}
			})
			// The simulator answers 401 only when the signature scheme
			// (flags included) differs; "bools mismatch" needs a boolean
			// in the body, which balance requests lack, so use a payin
			// with a padding-sensitive body for every case.
			_, err := e.c.CreatePayin(context.Background(), payment(bridge.Payin, "sig-1", 123, ""))
			if name == "bools mismatch" {
				// No boolean in a create body: both renderings agree, the
				// request must pass. A bool in the body would fail.
				if err != nil {
					t.Fatalf("no boolean in the body, yet: %v", err)
				}
				return
			}
			if !errors.Is(err, bridge.ErrRejected) {
				t.Fatalf("want ErrRejected, got %v", err)
			}
			if e.sim.Requests() != 0 {
				t.Fatal("a badly signed request reached the handlers")
			}
		})
	}
}

func TestFaultsMapToOutcomeUnknown(t *testing.T) {
	for name, f := range map[string]sim.Fault{
		"5xx after processing":     {Kind: sim.Fault5xx, Path: highhelp.PathPayin, Process: true},
		"hang after processing":    {Kind: sim.FaultHang, Path: highhelp.PathPayin, Process: true},
		"malformed after creating": {Kind: sim.FaultMalformed, Path: highhelp.PathPayin, Process: true},
	} {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t, func(_ *sim.Config, c *highhelp.Config) { c.Timeout = 300 * time.Millisecond })
			e.sim.SetFault(f)
			_, err := e.c.CreatePayin(context.Background(), payment(bridge.Payin, "f-1", 100, ""))
			if !errors.Is(err, bridge.ErrOutcomeUnknown) || errors.Is(err, bridge.ErrRejected) {
				t.Fatalf("want only ErrOutcomeUnknown, got %v", err)
			}
			// Reconciliation: the payment exists at the provider.
			e.sim.SetFault(sim.Fault{})
			st, err := e.c.Status(context.Background(), bridge.Payin, "f-1")
			if err != nil || st.RawStatus != "processing:new" {
				t.Fatalf("reconcile: %+v %v", st, err)
			}
		})
	}
	t.Run("delay within timeout succeeds", func(t *testing.T) {
		e := newEnv(t, nil)
		e.sim.SetFault(sim.Fault{Kind: sim.FaultDelay, Delay: 50 * time.Millisecond, Times: 1})
		if _, err := e.c.Balances(context.Background()); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("dial failure is not unknown", func(t *testing.T) {
		e := newEnv(t, nil)
		e.sim.Close()
		_, err := e.c.CreatePayin(context.Background(), payment(bridge.Payin, "f-2", 100, ""))
		if err == nil || errors.Is(err, bridge.ErrOutcomeUnknown) {
			t.Fatalf("closed server: %v", err)
		}
	})
}

func TestAutoFinalRetriesDuplicatesAndOutOfOrderCallbacks(t *testing.T) {
	e := newEnv(t, func(s *sim.Config, _ *highhelp.Config) {
		s.AutoFinal = "decline"
		s.StepDelay = 10 * time.Millisecond
		s.Callbacks = sim.CallbackConfig{Duplicates: 1, OutOfOrder: true, ReorderDelay: 150 * time.Millisecond, MaxAttempts: 3}
	})
	e.rcv.fail = 1 // the first delivery fails and is retried
	if _, err := e.c.CreatePayout(context.Background(), payment(bridge.Payout, "auto-1", 1000, e.rcv.srv.URL+"?kind=payout")); err != nil {
		t.Fatal(err)
	}
	// 3 callbacks (new, payout_process, decline) × 2 copies.
	waitFor(t, "6 parsed callbacks", func() bool { ok, _ := e.rcv.callbacks(); return len(ok) == 6 })
	ok, _ := e.rcv.callbacks()
	if ok[0].Informative || ok[0].Result.Status != bridge.StatusFailed {
		t.Fatalf("the final callback should overtake the held-back informative ones: first %+v", ok[0])
	}
	var retried bool
	for _, d := range e.sim.Deliveries() {
		if d.Attempt == 2 {
			retried = true
		}
	}
	if !retried {
		t.Fatal("no retry recorded")
	}
	avail, locked := e.sim.Balance("RUB")
	if avail.Int64() != 1_000_000 || locked.Sign() != 0 {
		t.Fatalf("decline must release: %s %s", avail, locked)
	}
}

func signedRequest(t *testing.T, key highhelp.Key, body string, ts time.Time) *http.Request {
	t.Helper()
	s := strconv.FormatInt(ts.Unix(), 10)
	sig, err := highhelp.Scheme{}.SignBody(key, []byte(body), s)
	if err != nil {
		t.Fatal(err)
	}
	r := httptest.NewRequest(http.MethodPost, "/cb", nil)
	r.Header.Set(highhelp.HeaderTimestamp, s)
	r.Header.Set(highhelp.HeaderSignature, sig)
	r.Header.Set(highhelp.HeaderMerchantID, "57aff4db-b45d-42bf-bc5f-b7a499a01782")
	return r
}

func TestCallbacksForgedStaleMalformedAreRejected(t *testing.T) {
	e := newEnv(t, nil)
	_, hk := keys(t)
	forger, _ := rsa.GenerateKey(rand.Reader, 2048)
	good := `{"payment_id":"p-1","request_id":"r","status":"success","sub_status":"","general":{"project_id":"proj-1"},"payment":{"amount":100,"currency":"RUB"}}`
	now := time.Now()

	if cb, err := e.c.ParseCallback(signedRequest(t, highhelp.RSAKey(hk), good, now), []byte(good)); err != nil || cb.Informative || cb.Result.Status != bridge.StatusSucceeded {
		t.Fatalf("genuine: %+v %v", cb, err)
	}
	info := `{"payment_id":"p-1","status":"processing","sub_status":"requisites","general":{"project_id":"proj-1"}}`
	if cb, err := e.c.ParseCallback(signedRequest(t, highhelp.RSAKey(hk), info, now), []byte(info)); err != nil || !cb.Informative || cb.Result.Status != bridge.StatusActionRequired {
		t.Fatalf("informative: %+v %v", cb, err)
	}
	// HighHelp signs every kassa's callbacks with the same key: only the
	// signed project id and the merchant header say whose it is.
	otherProject := `{"payment_id":"p-1","status":"success","general":{"project_id":"proj-2"}}`
	noProject := `{"payment_id":"p-1","status":"success"}`
	otherMerchant := signedRequest(t, highhelp.RSAKey(hk), good, now)
	otherMerchant.Header.Set(highhelp.HeaderMerchantID, "0c7f5a2e-1111-4000-8000-000000000001")
	noMerchant := signedRequest(t, highhelp.RSAKey(hk), good, now)
	noMerchant.Header.Del(highhelp.HeaderMerchantID)
	cases := map[string]struct {
		r    *http.Request
		body string
	}{
		"forged key":       {signedRequest(t, highhelp.RSAKey(forger), good, now), good},
		"tampered body":    {signedRequest(t, highhelp.RSAKey(hk), good, now), `{"payment_id":"p-1","request_id":"r","status":"success","sub_status":"","general":{"project_id":"proj-1"},"payment":{"amount":1000,"currency":"RUB"}}`},
		"stale (replayed)": {signedRequest(t, highhelp.RSAKey(hk), good, now.Add(-10*time.Minute)), good},
		"from the future":  {signedRequest(t, highhelp.RSAKey(hk), good, now.Add(10*time.Minute)), good},
		"malformed JSON":   {signedRequest(t, highhelp.RSAKey(hk), good, now), `{"payment_id":`},
		"no status":        {signedRequest(t, highhelp.RSAKey(hk), `{"payment_id":"p"}`, now), `{"payment_id":"p"}`},
		"no headers":       {httptest.NewRequest(http.MethodPost, "/cb", nil), good},
		"another project":  {signedRequest(t, highhelp.RSAKey(hk), otherProject, now), otherProject},
		"no project":       {signedRequest(t, highhelp.RSAKey(hk), noProject, now), noProject},
		"another merchant": {otherMerchant, good},
		"no merchant":      {noMerchant, good},
	}
	for name, tc := range cases {
		if _, err := e.c.ParseCallback(tc.r, []byte(tc.body)); !errors.Is(err, bridge.ErrBadCallback) {
			t.Errorf("%s: want ErrBadCallback, got %v", name, err)
		}
	}
	// Stale callbacks from the simulator are refused by the receiver.
	e2 := newEnv(t, func(s *sim.Config, _ *highhelp.Config) {
		s.Callbacks.SignTime = func() time.Time { return time.Now().Add(-time.Hour) }
		s.Callbacks.MaxAttempts = 1
	})
	if _, err := e2.c.CreatePayin(context.Background(), payment(bridge.Payin, "st-1", 1, e2.rcv.srv.URL)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "rejection", func() bool { _, rej := e2.rcv.callbacks(); return len(rej) == 1 })
	if ok, _ := e2.rcv.callbacks(); len(ok) != 0 {
		t.Fatal("stale callback accepted")
	}
}

func BenchmarkCreatePayinRoundTrip(b *testing.B) {
	e := newEnv(b, func(s *sim.Config, _ *highhelp.Config) { s.Balances = nil })
	ctx := context.Background()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if _, err := e.c.CreatePayin(ctx, payment(bridge.Payin, "b-"+strconv.Itoa(i), 100, "")); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkStatusRoundTrip(b *testing.B) {
	e := newEnv(b, nil)
	ctx := context.Background()
	if _, err := e.c.CreatePayin(ctx, payment(bridge.Payin, "b-s", 100, "")); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := e.c.Status(ctx, bridge.Payin, "b-s"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkBalancesRoundTrip(b *testing.B) {
	e := newEnv(b, nil)
	for b.Loop() {
		if _, err := e.c.Balances(context.Background()); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseCallbackRSA(b *testing.B) {
	e := newEnv(b, nil)
	_, hk := keys(b)
	body := `{"payment_id":"p-1","request_id":"r","status":"success","sub_status":"","payment":{"amount":100,"currency":"RUB"}}`
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	sig, _ := highhelp.Scheme{}.SignBody(highhelp.RSAKey(hk), []byte(body), ts)
	r := httptest.NewRequest(http.MethodPost, "/cb", nil)
	r.Header.Set(highhelp.HeaderTimestamp, ts)
	r.Header.Set(highhelp.HeaderSignature, sig)
	for b.Loop() {
		if _, err := e.c.ParseCallback(r, []byte(body)); err != nil {
			b.Fatal(err)
		}
	}
}

// A 404 that is not HighHelp's own JSON error (a reverse proxy's page, a
// wrong base URL) says nothing about the payment: were it "no such
// payment", the reconciler would fail payouts HighHelp may still pay.
func TestForeign404IsNoDefiniteAnswer(t *testing.T) {
	t.Parallel()
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(http.StatusNotFound)
		_, _ = io.WriteString(w, "<html><body><h1>404 Not Found</h1>nginx</body></html>")
	}))
	t.Cleanup(proxy.Close)
	var conf *highhelp.Config
	e := newEnv(t, func(_ *sim.Config, c *highhelp.Config) { conf = c })
	cfg := *conf
	cfg.BaseURL = proxy.URL
	c, err := highhelp.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, kind := range []bridge.Kind{bridge.Payin, bridge.Payout} {
		_, err := c.Status(context.Background(), kind, "never-seen")
		if errors.Is(err, bridge.ErrNotFound) || !errors.Is(err, bridge.ErrNoDefiniteAnswer) {
			t.Fatalf("%s status through a foreign 404: %v; want ErrNoDefiniteAnswer, never ErrNotFound", kind, err)
		}
	}
	// HighHelp's own answer stays definite.
	if _, err := e.c.Status(context.Background(), bridge.Payout, "never-seen"); !errors.Is(err, bridge.ErrNotFound) {
		t.Fatalf("simulator's own 404: %v, want ErrNotFound", err)
	}
}
