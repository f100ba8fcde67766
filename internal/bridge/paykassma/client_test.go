package paykassma_test

import (
	"context"
	"errors"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ton-custody/processor/internal/bridge"
	"github.com/ton-custody/processor/internal/bridge/paykassma"
	"github.com/ton-custody/processor/internal/bridge/paykassma/sim"
)

type receiver struct {
	mu       sync.Mutex
	ok       []bridge.Callback
	rejected []error
	fail     int
	srv      *httptest.Server
}

func (r *receiver) got() ([]bridge.Callback, []error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]bridge.Callback(nil), r.ok...), append([]error(nil), r.rejected...)
}

type env struct {
	sim *sim.Server
	c   *paykassma.Client
	rcv *receiver
}

func newEnv(t testing.TB, mut func(*sim.Config, *paykassma.Config)) *env {
	t.Helper()
	rcv := &receiver{}
	var c *paykassma.Client
	rcv.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rcv.mu.Lock()
		defer rcv.mu.Unlock()
		if rcv.fail > 0 {
			rcv.fail--
			w.WriteHeader(500)
			return
		}
		cb, err := c.ParseCallback(r, body)
		if err != nil {
			rcv.rejected = append(rcv.rejected, err)
			w.WriteHeader(400)
			return
		}
		rcv.ok = append(rcv.ok, cb)
		w.Header().Set("Content-Type", cb.ReplyType)
		_, _ = w.Write(cb.Reply)
	}))
	t.Cleanup(rcv.srv.Close)
	scfg := sim.Config{Secret: "plugin-secret", PrivateKey: "wd-key", AccessKey: "ak", PrivateAccessKey: "pak",
		PostbackURL: rcv.srv.URL, Balances: map[string]*big.Int{"INR": big.NewInt(1_000_000)}}
	ccfg := paykassma.Config{Secret: "plugin-secret", PrivateKey: "wd-key", AccessKey: "ak", PrivateAccessKey: "pak",
		Label: "user-55", Currencies: []string{"INR"}, Timeout: 2 * time.Second}
	if mut != nil {
		mut(&scfg, &ccfg)
	}
	s, err := sim.New(scfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	ccfg.BaseURL = s.URL()
	if c, err = paykassma.New(ccfg); err != nil {
		t.Fatal(err)
	}
	return &env{sim: s, c: c, rcv: rcv}
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

func payout(ref string, minor int64) bridge.Payment {
	return bridge.Payment{Kind: bridge.Payout, Reference: ref, Money: bridge.Money{Amount: big.NewInt(minor), Currency: "INR"}, Method: "paytm",
		Customer: map[string]string{"account_number": "11111111", "bank_details.bank_code": "MAHB0001821", "payments_details.payments_method": "MOBILE_MONEY"},
		Extra:    map[string]string{"comment": "withdrawal"}}
}

func TestWithdrawalProcessedDeductsAndPostbackVerifies(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	res, err := e.c.CreatePayout(ctx, payout("wd-1", 300_000))
	if err != nil || res.Status != bridge.StatusSubmitted {
		t.Fatalf("%+v %v", res, err)
	}
	if got := e.sim.Balance("INR").Int64(); got != 700_000 {
		t.Fatalf("reserved balance %d", got)
	}
	// Same withdrawal_id again: idempotent ok, no second reserve.
	if _, err := e.c.CreatePayout(ctx, payout("wd-1", 300_000)); err != nil {
		t.Fatal(err)
	}
	if got := e.sim.Balance("INR").Int64(); got != 700_000 {
		t.Fatalf("idempotent retry reserved again: %d", got)
	}
	// Pending: no postback yet, which is no definite answer (never "not found").
	if _, err := e.c.Status(ctx, bridge.Payout, "wd-1"); !errors.Is(err, bridge.ErrNoDefiniteAnswer) || !errors.Is(err, paykassma.ErrNoPostback) ||
		errors.Is(err, bridge.ErrNotFound) {
		t.Fatalf("before postback: %v", err)
	}
	if err := e.sim.Settle("wd-1", "1"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "postback", func() bool { ok, _ := e.rcv.got(); return len(ok) == 1 })
	ok, rej := e.rcv.got()
	if len(rej) != 0 || ok[0].Reference != "wd-1" || ok[0].Result.Status != bridge.StatusSucceeded || string(ok[0].Reply) != `{"status":"ok"}` ||
		ok[0].Result.Amount == nil || ok[0].Result.Amount.Amount.Int64() != 300_000 {
		t.Fatalf("postback %+v %v", ok, rej)
	}
	st, err := e.c.Status(ctx, bridge.Payout, "wd-1")
	if err != nil || st.Status != bridge.StatusSucceeded || st.RawStatus != "1" {
		t.Fatalf("status %+v %v", st, err)
	}
	if got := e.sim.Balance("INR").Int64(); got != 700_000 {
		t.Fatalf("processed balance %d", got)
	}
	pulled, err := e.c.PullPostbacks(ctx, "withdrawal", []string{"wd-1", "wd-x"})
	if err != nil || len(pulled) != 2 || pulled[0].Postback == nil || pulled[1].Message == "" {
		t.Fatalf("pull %+v %v", pulled, err)
	}
}

func TestWithdrawalRejectedReleasesReserve(t *testing.T) {
	e := newEnv(t, func(s *sim.Config, _ *paykassma.Config) { s.AutoFinal = "5"; s.StepDelay = 5 * time.Millisecond })
	if _, err := e.c.CreatePayout(context.Background(), payout("wd-2", 100_000)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "postback", func() bool { ok, _ := e.rcv.got(); return len(ok) == 1 })
	ok, _ := e.rcv.got()
	if ok[0].Result.Status != bridge.StatusFailed || ok[0].Result.RawStatus != "5" {
		t.Fatalf("%+v", ok[0])
	}
	if got := e.sim.Balance("INR").Int64(); got != 1_000_000 {
		t.Fatalf("balance %d", got)
	}
}

func TestWithdrawalRefusals(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	for name, p := range map[string]bridge.Payment{
		"fractional major units": payout("wd-f", 100_050),
		"id too long":            payout(strings.Repeat("x", 37), 100),
		"over balance":           payout("wd-big", 2_000_000),
	} {
		if _, err := e.c.CreatePayout(ctx, p); !errors.Is(err, bridge.ErrRejected) {
			t.Errorf("%s: %v", name, err)
		}
	}
	// A client with another private key: the simulator refuses the signature.
	bad, _ := paykassma.New(paykassma.Config{BaseURL: e.sim.URL(), Secret: "plugin-secret", PrivateKey: "other", Label: "u"})
	_, err := bad.CreatePayout(ctx, payout("wd-sig", 100))
	if !errors.Is(err, bridge.ErrRejected) || !strings.Contains(err.Error(), "Invalid signature") {
		t.Fatalf("bad signature: %v", err)
	}
	if _, ok := e.sim.Withdrawal("wd-sig"); ok {
		t.Fatal("badly signed withdrawal was created")
	}
	// Nested arrays ksorted on one side only: signatures differ.
	mism := newEnv(t, func(s *sim.Config, _ *paykassma.Config) { s.SortNested = true })
	p := payout("wd-n", 100)
	p.Customer["bank_details.branch_code"] = "000254" // bank_code, branch_code sorted already; add a reversed pair
	p.Customer["payments_details.a_first"] = "z"
	if _, err := mism.c.CreatePayout(ctx, p); err != nil {
		// Go builds nested groups in sorted key order, so both readings agree.
		t.Fatalf("sorted nested groups must agree: %v", err)
	}
}

func TestPayinPostbackAndPluginCalls(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	p := bridge.Payment{Kind: bridge.Payin, Reference: "dep-1", Money: bridge.Money{Amount: big.NewInt(123_45), Currency: "INR"}, Method: "nagad_api",
		Customer: map[string]string{"label": "user-7"}, Extra: map[string]string{"success_url": "https://s", "fail_url": "https://f", "cancel_url": "https://c"}}
	res, err := e.c.CreatePayin(ctx, p)
	if err != nil || res.Status != bridge.StatusActionRequired || res.RedirectURL == "" || res.ProviderID == "" {
		t.Fatalf("%+v %v", res, err)
	}
	if _, err := e.c.CreatePayin(ctx, p); !errors.Is(err, bridge.ErrRejected) {
		t.Fatalf("duplicate custom_transaction_id: %v", err)
	}
	if err := e.sim.Settle("dep-1", "success"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "postback", func() bool { ok, _ := e.rcv.got(); return len(ok) == 1 })
	ok, _ := e.rcv.got()
	if ok[0].Reference != "dep-1" || ok[0].Result.Status != bridge.StatusSucceeded || ok[0].Result.Amount.Amount.Int64() != 12345 {
		t.Fatalf("%+v", ok[0])
	}
	st, err := e.c.Status(ctx, bridge.Payin, "dep-1")
	if err != nil || st.Status != bridge.StatusSucceeded {
		t.Fatalf("%+v %v", st, err)
	}
	bals, err := e.c.Balances(ctx)
	if err != nil || len(bals) != 1 || bals[0].Available.Int64() != 1_012_345 {
		t.Fatalf("balances %+v %v", bals, err)
	}
	banks, err := e.c.Banks(ctx)
	if err != nil || len(banks) != 2 || banks[0].Code != "paytm" || banks[1].Methods[0] != "manual" {
		t.Fatalf("banks %+v %v", banks, err)
	}
	id, err := e.c.CreateTransaction(ctx, "paytm", "INR", "user-7")
	if err != nil || id == "" {
		t.Fatalf("transaction %q %v", id, err)
	}
	if err := e.c.ActivateTransaction(ctx, paykassma.Activation{CurrencyCode: "INR", WalletType: "paytm", Label: "user-7", Key1: "123-ABC", CustomID: "act-1"}); err != nil {
		t.Fatal(err)
	}
	if err := e.c.ActivateTransaction(ctx, paykassma.Activation{CurrencyCode: "INR", WalletType: "paytm", Label: "u", Key1: "1", CustomID: "act-2"}); !errors.Is(err, bridge.ErrRejected) {
		t.Fatalf("short key1: %v", err)
	}
	created, err := e.c.PossibleTransaction(ctx, paykassma.Activation{CurrencyCode: "INR", WalletType: "upi_p2p", Label: "u", Key1: "unknown-1", Amount: big.NewInt(50000), CustomID: "pos-1"})
	if err != nil || !created {
		t.Fatalf("possible %v %v", created, err)
	}
	if created, err = e.c.PossibleTransaction(ctx, paykassma.Activation{CurrencyCode: "INR", WalletType: "upi_p2p", Label: "u", Key1: "7777-1", Amount: big.NewInt(50000), CustomID: "pos-2"}); err != nil || created {
		t.Fatalf("possible found %v %v", created, err)
	}
	di, err := e.c.DepositInfo(ctx, "user-7", "paytm", "INR", "")
	if err != nil || di.MinimumDeposit.String() != "148" {
		t.Fatalf("deposit info %+v %v", di, err)
	}
	h, err := e.c.HashURLs(ctx, []paykassma.OrderedURL{{Order: 2, URL: "https://s2"}, {Order: 1, URL: "https://s1"}}, nil, nil)
	if err != nil || len(h.Success) != 2 || h.Success[0].Order != 1 || len(h.Success[0].URL) != 64 || len(h.Fail) != 0 {
		t.Fatalf("hash %+v %v", h, err)
	}
	pulled, err := e.c.PullPostbacks(ctx, "deposit", []string{"dep-1"})
	if err != nil || len(pulled) != 1 || pulled[0].Postback == nil {
		t.Fatalf("pull %+v %v", pulled, err)
	}
}

func TestWrongSecretIsRejected(t *testing.T) {
	e := newEnv(t, nil)
	bad, _ := paykassma.New(paykassma.Config{BaseURL: e.sim.URL(), Secret: "nope"})
	if _, err := bad.Balances(context.Background()); !errors.Is(err, bridge.ErrRejected) || !strings.Contains(err.Error(), "Wrong secret") {
		t.Fatalf("balances: %v", err)
	}
	if _, err := bad.Banks(context.Background()); !errors.Is(err, bridge.ErrRejected) || strings.Contains(err.Error(), "nope") {
		t.Fatalf("banks: %v", err)
	}
}

func TestFaultsMapToOutcomeUnknown(t *testing.T) {
	for name, f := range map[string]sim.Fault{
		"5xx after processing":       {Kind: sim.Fault5xx, Path: paykassma.PathWithdrawalCreate, Process: true},
		"hang after processing":      {Kind: sim.FaultHang, Path: paykassma.PathWithdrawalCreate, Process: true},
		"malformed after processing": {Kind: sim.FaultMalformed, Path: paykassma.PathWithdrawalCreate, Process: true},
	} {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t, func(_ *sim.Config, c *paykassma.Config) { c.Timeout = 300 * time.Millisecond })
			e.sim.SetFault(f)
			_, err := e.c.CreatePayout(context.Background(), payout("wd-u", 100))
			if !errors.Is(err, bridge.ErrOutcomeUnknown) || errors.Is(err, bridge.ErrRejected) {
				t.Fatalf("want ErrOutcomeUnknown, got %v", err)
			}
			e.sim.SetFault(sim.Fault{})
			// withdrawal_id is the idempotency key: re-creating settles it.
			if _, err := e.c.CreatePayout(context.Background(), payout("wd-u", 100)); err != nil {
				t.Fatal(err)
			}
			if got := e.sim.Balance("INR").Int64(); got != 1_000_000-100 {
				t.Fatalf("balance %d", got)
			}
		})
	}
}

func TestPostbackRetriesDuplicatesOutOfOrder(t *testing.T) {
	e := newEnv(t, func(s *sim.Config, _ *paykassma.Config) {
		s.Postbacks = sim.PostbackConfig{Duplicates: 1, OutOfOrder: true, ReorderDelay: 150 * time.Millisecond}
	})
	e.rcv.fail = 1
	ctx := context.Background()
	for _, id := range []string{"a", "b"} {
		if _, err := e.c.CreatePayout(ctx, payout(id, 100)); err != nil {
			t.Fatal(err)
		}
	}
	_ = e.sim.Settle("a", "1")
	_ = e.sim.Settle("b", "5")
	waitFor(t, "4 postbacks", func() bool { ok, _ := e.rcv.got(); return len(ok) == 4 })
	ok, _ := e.rcv.got()
	if ok[0].Reference != "b" {
		t.Fatalf("first delivered %q, want the later postback b first", ok[0].Reference)
	}
	retried := false
	for _, d := range e.sim.Deliveries() {
		retried = retried || d.Attempt > 1
	}
	if !retried {
		t.Fatal("no retry after a failed delivery")
	}
}

func TestForgedAndMalformedPostbacksRejected(t *testing.T) {
	e := newEnv(t, nil)
	r := httptest.NewRequest(http.MethodPost, "/pb", nil)
	wd := `{"withdrawal_id":"2298635","status":1,"comment":"test","payment_system":"paytm","amount":500,"currency_code":"INR","label":"55","account_number":"5422222225","account_name":"5645646","account_email":null,"payments_details":{"payments_provider":null},"bank_details":{"bank_code":null,"branch_code":null}`
	// Golden: sha1("ak"+"pak"+md5(wd+"}")), Python hashlib.
	good := wd + `,"signature":"ff19438af119ab62cd2ba4b48a7b92151784e870"}`
	cb, err := e.c.ParseCallback(r, []byte(good))
	if err != nil || cb.Reference != "2298635" || cb.Result.Status != bridge.StatusSucceeded {
		t.Fatalf("genuine: %+v %v", cb, err)
	}
	for name, body := range map[string]string{
		"forged signature":  wd + `,"signature":"ff19438af119ab62cd2ba4b48a7b92151784e871"}`,
		"tampered status":   strings.Replace(good, `"status":1`, `"status":5`, 1),
		"tampered amount":   strings.Replace(good, `"amount":500`, `"amount":5000`, 1),
		"no signature":      wd + `}`,
		"malformed":         `{"withdrawal_id":`,
		"array":             `[1,2]`,
		"deposit no txs":    `{"transaction_id":"1","signature":"x"}`,
		"signed, bad shape": `{"withdrawal_id":"x","signature":"` + sigOf(t, `{"withdrawal_id":"x"}`) + `"}`,
	} {
		if _, err := e.c.ParseCallback(r, []byte(body)); !errors.Is(err, bridge.ErrBadCallback) {
			t.Errorf("%s: want ErrBadCallback, got %v", name, err)
		}
	}
}

func sigOf(t *testing.T, covered string) string {
	v, err := paykassma.JSONDecode([]byte(covered), false)
	if err != nil {
		t.Fatal(err)
	}
	s, err := paykassma.PostbackSignature("ak", "pak", v)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func BenchmarkCreatePayoutRoundTrip(b *testing.B) {
	e := newEnv(b, func(s *sim.Config, _ *paykassma.Config) {
		s.Balances = map[string]*big.Int{"INR": new(big.Int).Lsh(big.NewInt(1), 100)}
	})
	for i := 0; b.Loop(); i++ {
		if _, err := e.c.CreatePayout(context.Background(), payout("b"+strconv.Itoa(i), 100)); err != nil {
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

func BenchmarkParsePostback(b *testing.B) {
	e := newEnv(b, nil)
	body := []byte(`{"withdrawal_id":"2298635","status":1,"comment":"test","payment_system":"paytm","amount":500,"currency_code":"INR","label":"55","account_number":"5422222225","account_name":"5645646","account_email":null,"payments_details":{"payments_provider":null},"bank_details":{"bank_code":null,"branch_code":null},"signature":"ff19438af119ab62cd2ba4b48a7b92151784e870"}`)
	r := httptest.NewRequest(http.MethodPost, "/pb", nil)
	for b.Loop() {
		if _, err := e.c.ParseCallback(r, body); err != nil {
			b.Fatal(err)
		}
	}
}

// Issue 12.4: "When transmitting data, there should be no spaces at the
// beginning and end" (withdrawals). Values are trimmed before signing;
// withdrawal_id is refused instead (the postback must carry our reference
// unchanged), and so is a required field left empty.
func TestWithdrawalDataHasNoSurroundingSpaces(t *testing.T) {
	e := newEnv(t, func(_ *sim.Config, c *paykassma.Config) { c.Label = "" })
	ctx := context.Background()
	p := payout("wd-trim", 100_00)
	p.Method = " paytm "
	p.Customer = map[string]string{"label": " user-7 ", "account_number": " 22222222 ", "account_name": "  ",
		"bank_details.bank_code": "\tMAHB0001821 ", "payments_details.payments_method": " MOBILE_MONEY"}
	p.Extra = map[string]string{"comment": " withdrawal "}
	a, err := e.c.WithdrawalRequest(p)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := paykassma.JSONEncode(a)
	for _, want := range []string{`"payment_system":"paytm"`, `"label":"user-7"`, `"account_number":"22222222"`,
		`"bank_code":"MAHB0001821"`, `"payments_method":"MOBILE_MONEY"`, `"comment":"withdrawal"`} {
		if !strings.Contains(string(body), want) {
			t.Errorf("withdrawal body %s lacks %s", body, want)
		}
	}
	if strings.Contains(string(body), "account_name") {
		t.Errorf("blank account_name sent: %s", body)
	}
	// The simulator checks the signature over what it received.
	if _, err := e.c.CreatePayout(ctx, p); err != nil {
		t.Fatalf("trimmed withdrawal refused: %v", err)
	}
	for name, mut := range map[string]func(*bridge.Payment){
		"withdrawal_id with spaces": func(p *bridge.Payment) { p.Reference = " wd-x " },
		"blank payment system":      func(p *bridge.Payment) { p.Method = "  " },
		"blank label":               func(p *bridge.Payment) { p.Customer["label"] = " " },
	} {
		q := payout("wd-bad", 100_00)
		q.Customer["label"] = "user-7"
		mut(&q)
		if _, err := e.c.CreatePayout(ctx, q); !errors.Is(err, bridge.ErrRejected) {
			t.Errorf("%s: %v, want ErrRejected", name, err)
		}
	}
}
