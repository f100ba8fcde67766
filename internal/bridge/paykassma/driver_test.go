package paykassma_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/ton-custody/processor/internal/bridge"
	"github.com/ton-custody/processor/internal/bridge/paykassma"
	"github.com/ton-custody/processor/internal/bridge/paykassma/sim"
	"github.com/ton-custody/processor/internal/config"
)

const (
	drvSecret     = "plugin-secret-value-1"
	drvPrivateKey = "withdrawal-key-value-2"
	drvAccessKey  = "access-key-value-3"
	drvPrivAccess = "private-access-value-4"
)

var drvSecretKeys = []string{"secret", "private_key", "access_key", "private_access_key"}

// drvSink receives the simulator's postbacks and parses them with the
// provider set later (the simulator needs the sink's URL first).
type drvSink struct {
	mu       sync.Mutex
	p        bridge.Provider
	ok       []bridge.Callback
	rejected []error
	srv      *httptest.Server
}

func newDrvSink(t *testing.T) *drvSink {
	k := &drvSink{}
	k.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		k.mu.Lock()
		defer k.mu.Unlock()
		cp, ok := k.p.(bridge.CallbackParser)
		if !ok {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		cb, err := cp.ParseCallback(r, body)
		if err != nil {
			k.rejected = append(k.rejected, err)
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		k.ok = append(k.ok, cb)
		w.Header().Set("Content-Type", cb.ReplyType)
		_, _ = w.Write(cb.Reply)
	}))
	t.Cleanup(k.srv.Close)
	return k
}

func (k *drvSink) set(p bridge.Provider) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.p = p
}

func (k *drvSink) got() ([]bridge.Callback, []error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	return append([]bridge.Callback(nil), k.ok...), append([]error(nil), k.rejected...)
}

// drvRecorder keeps the last request body per path.
type drvRecorder struct {
	mu     sync.Mutex
	bodies map[string]string
}

func (r *drvRecorder) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Body != nil {
		b, err := io.ReadAll(req.Body)
		if err != nil {
			return nil, err
		}
		req.Body = io.NopCloser(bytes.NewReader(b))
		r.mu.Lock()
		r.bodies[req.URL.Path] = string(b)
		r.mu.Unlock()
	}
	return http.DefaultTransport.RoundTrip(req)
}

func drvSim(t *testing.T, postbackURL string) *sim.Server {
	t.Helper()
	s, err := sim.New(sim.Config{Secret: drvSecret, PrivateKey: drvPrivateKey, AccessKey: drvAccessKey, PrivateAccessKey: drvPrivAccess,
		PostbackURL: postbackURL, Balances: map[string]*big.Int{"INR": big.NewInt(1_000_000)}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

func drvBalances(t *testing.T, p bridge.Provider) {
	t.Helper()
	bg, ok := p.(bridge.BalanceGetter)
	if !ok {
		t.Fatalf("%T is no BalanceGetter", p)
	}
	bals, err := bg.Balances(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(bals) != 1 || bals[0].Currency != "INR" || bals[0].Available.Int64() != 1_000_000 {
		t.Fatalf("balances %+v", bals)
	}
}

func TestDriverFromProviderConfig(t *testing.T) {
	sink := newDrvSink(t)
	s := drvSim(t, sink.srv.URL)
	d, ok := bridge.LookupDriver(paykassma.Name)
	if !ok {
		t.Fatal("paykassma driver not registered")
	}
	pc := bridge.NewProviderConfig(paykassma.Name, s.URL(), map[string]string{
		"secret": drvSecret, "private_key": drvPrivateKey, "access_key": drvAccessKey, "private_access_key": drvPrivAccess,
		"label": "user-55", "currencies": "inr", "is_test": "true",
	}, drvSecretKeys...)
	rec := &drvRecorder{bodies: map[string]string{}}
	p, err := d.New(pc, &http.Client{Transport: rec})
	if err != nil {
		t.Fatal(err)
	}
	sink.set(p)
	if got := bridge.Capabilities(p); len(got) != 6 {
		t.Fatalf("capabilities %v", got)
	}
	drvBalances(t, p)
	banks, err := p.(bridge.BankLister).Banks(context.Background())
	if err != nil || len(banks) == 0 || banks[0].Currency != "INR" {
		t.Fatalf("banks %+v %v", banks, err)
	}

	// A withdrawal signed with private_key (label from the setting), then
	// its postback verified with the access keys.
	res, err := p.(bridge.PayoutCreator).CreatePayout(context.Background(), payout("drv-wd-1", 300_000))
	if err != nil || res.Status != bridge.StatusSubmitted {
		t.Fatalf("payout %+v %v", res, err)
	}
	if _, ok := s.Withdrawal("drv-wd-1"); !ok {
		t.Fatal("withdrawal not created")
	}
	rec.mu.Lock()
	body := rec.bodies[paykassma.PathWithdrawalCreate]
	rec.mu.Unlock()
	if !strings.Contains(body, `"label":"user-55"`) || !strings.Contains(body, `"is_test":true`) {
		t.Fatalf("withdrawal body %s", body)
	}
	if err := s.Settle("drv-wd-1", "1"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "postback", func() bool { ok, rej := sink.got(); return len(ok)+len(rej) > 0 })
	got, rej := sink.got()
	if len(rej) != 0 || got[0].Reference != "drv-wd-1" || got[0].Result.Status != bridge.StatusSucceeded {
		t.Fatalf("postback %+v %v", got, rej)
	}
}

func TestDriverWithoutPrivateKeyTakesNoPayouts(t *testing.T) {
	s := drvSim(t, "http://127.0.0.1:1")
	d, _ := bridge.LookupDriver(paykassma.Name)
	p, err := d.New(bridge.NewProviderConfig(paykassma.Name, s.URL(), map[string]string{"secret": drvSecret}, drvSecretKeys...), http.DefaultClient)
	if err != nil {
		t.Fatal(err)
	}
	if p.Name() != paykassma.Name {
		t.Fatalf("name %q", p.Name())
	}
	caps := bridge.Capabilities(p)
	if slices.Contains(caps, "payout") || len(caps) != 5 {
		t.Fatalf("capabilities %v", caps)
	}
	drvBalances(t, p)
}

// TestDriverFromEnvironment goes the production way: environment →
// LoadConfig → Build.
func TestDriverFromEnvironment(t *testing.T) {
	sink := newDrvSink(t)
	s := drvSim(t, sink.srv.URL)
	env := map[string]string{
		"BRIDGE_PROVIDERS":                     "paykassma",
		"BRIDGE_PAYKASSMA_BASE_URL":            s.URL(),
		"BRIDGE_PAYKASSMA_TIMEOUT":             "3s",
		"BRIDGE_PAYKASSMA_SECRET":              drvSecret,
		"BRIDGE_PAYKASSMA_PRIVATE_KEY":         drvPrivateKey,
		"BRIDGE_PAYKASSMA_ACCESS_KEY":          drvAccessKey,
		"BRIDGE_PAYKASSMA_PRIVATE_ACCESS_KEY":  drvPrivAccess,
		"BRIDGE_PAYKASSMA_LABEL":               "user-9",
		"BRIDGE_PAYKASSMA_CURRENCIES":          "INR, BDT",
		"BRIDGE_PAYKASSMA_POSTBACK_TZ":         "+05:30",
		"BRIDGE_PAYKASSMA_EXPONENTS":           "INR:2",
		"BRIDGE_PAYKASSMA_WITHDRAWAL_COVERAGE": "*",
	}
	cfg, err := bridge.LoadConfig(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	shown := cfg.Providers[0].String()
	for _, secret := range []string{drvSecret, drvPrivateKey, drvAccessKey, drvPrivAccess} {
		if strings.Contains(shown, secret) {
			t.Fatalf("secret shown in %s", shown)
		}
	}
	reg, err := bridge.Build(cfg)
	if err != nil {
		t.Fatal(err)
	}
	p, _ := reg.Get(paykassma.Name)
	sink.set(p)
	drvBalances(t, p)
	if _, err := p.(bridge.PayoutCreator).CreatePayout(context.Background(), payout("drv-wd-2", 100_000)); err != nil {
		t.Fatal(err)
	}
	if err := s.Settle("drv-wd-2", "5"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "postback", func() bool { ok, rej := sink.got(); return len(ok)+len(rej) > 0 })
	if got, rej := sink.got(); len(rej) != 0 || got[0].Result.Status != bridge.StatusFailed {
		t.Fatalf("postback %+v %v", got, rej)
	}
}

func TestDriverSettingErrorsNameTheSetting(t *testing.T) {
	base := map[string]string{"secret": drvSecret, "private_key": drvPrivateKey, "access_key": drvAccessKey, "private_access_key": drvPrivAccess}
	with := func(kv ...string) map[string]string {
		m := map[string]string{}
		for k, v := range base {
			m[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	cases := []struct {
		name   string
		values map[string]string
		want   string
	}{
		{"no secret", with("secret", ""), "BRIDGE_PAYKASSMA_SECRET"},
		{"access key alone", with("private_access_key", ""), "BRIDGE_PAYKASSMA_PRIVATE_ACCESS_KEY"},
		{"private access key alone", with("access_key", ""), "BRIDGE_PAYKASSMA_ACCESS_KEY"},
		{"currencies", with("currencies", "INR,R$"), "BRIDGE_PAYKASSMA_CURRENCIES"},
		{"is_test", with("is_test", "maybe"), "BRIDGE_PAYKASSMA_IS_TEST"},
		{"sort_nested", with("sort_nested", "2"), "BRIDGE_PAYKASSMA_SORT_NESTED"},
		{"decode_assoc", with("decode_assoc", "y"), "BRIDGE_PAYKASSMA_DECODE_ASSOC"},
		{"offset out of range", with("postback_tz", "+25:00"), "BRIDGE_PAYKASSMA_POSTBACK_TZ"},
		{"unknown zone", with("postback_tz", "Mars/Olympus"), "BRIDGE_PAYKASSMA_POSTBACK_TZ"},
		{"exponent without digits", with("exponents", "INR"), "BRIDGE_PAYKASSMA_EXPONENTS"},
		{"exponent not a number", with("exponents", "INR:x"), "BRIDGE_PAYKASSMA_EXPONENTS"},
	}
	d, _ := bridge.LookupDriver(paykassma.Name)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p, err := d.New(bridge.NewProviderConfig(paykassma.Name, "http://127.0.0.1:1", tc.values, drvSecretKeys...), http.DefaultClient)
			if err == nil {
				t.Fatalf("built %T", p)
			}
			var ve *config.ValidationError
			if !errors.As(err, &ve) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("want a validation error naming %s, got %v", tc.want, err)
			}
			for _, secret := range []string{drvSecret, drvPrivateKey, drvAccessKey, drvPrivAccess} {
				if strings.Contains(err.Error(), secret) {
					t.Fatalf("error shows a secret: %v", err)
				}
			}
		})
	}
	for _, tz := range []string{"+08:00", "-03:30", "UTC", "Asia/Manila"} {
		if _, err := d.New(bridge.NewProviderConfig(paykassma.Name, "http://127.0.0.1:1", with("postback_tz", tz), drvSecretKeys...), nil); err != nil {
			t.Fatalf("postback_tz %s: %v", tz, err)
		}
	}
}
