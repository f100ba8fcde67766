package bridge_test

import (
	"context"
	"math/big"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/ton-custody/processor/internal/bridge"
	"github.com/ton-custody/processor/internal/bridge/highhelp"
	hhsim "github.com/ton-custody/processor/internal/bridge/highhelp/sim"
	"github.com/ton-custody/processor/internal/bridge/paykassma"
	pksim "github.com/ton-custody/processor/internal/bridge/paykassma/sim"
)

// Paykassma credentials of the bridge tests.
const (
	pkSecret     = "pk-plugin-secret-1"
	pkPrivateKey = "pk-withdrawal-key-1"
	pkAccess     = "pk-access-key-1"
	pkPrivAccess = "pk-private-access-key-1"
)

// newPaykassmaEnv runs the bridge with Paykassma against its simulator,
// whose postbacks go to the bridge's callback URL.
func newPaykassmaEnv(t *testing.T, o envOpts, mut func(*pksim.Config)) (*env, *pksim.Server) {
	t.Helper()
	var s *pksim.Server
	e := newEnvFor(t, o, func(e *env) []bridge.Provider {
		cfg := pksim.Config{Secret: pkSecret, PrivateKey: pkPrivateKey, AccessKey: pkAccess, PrivateAccessKey: pkPrivAccess,
			PostbackURL: e.srv.URL + bridge.CallbackPath(paykassma.Name), Balances: map[string]*big.Int{"INR": big.NewInt(10_000_000)}}
		if mut != nil {
			mut(&cfg)
		}
		var err error
		if s, err = pksim.New(cfg); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(s.Close)
		timeout := o.timeout
		if timeout == 0 {
			timeout = 2 * time.Second
		}
		c, err := paykassma.New(paykassma.Config{BaseURL: s.URL(), Secret: pkSecret, PrivateKey: pkPrivateKey, AccessKey: pkAccess,
			PrivateAccessKey: pkPrivAccess, Label: "user-55", Currencies: []string{"INR"}, Timeout: timeout})
		if err != nil {
			t.Fatal(err)
		}
		return []bridge.Provider{c}
	})
	return e, s
}

func paykassmaBody(kind bridge.Kind, ref string) map[string]any {
	b := map[string]any{"reference": ref, "provider": paykassma.Name, "amount": "30000", "currency": "INR", "method": "paytm"}
	if kind == bridge.Payout {
		b["customer"] = map[string]string{"account_number": "22222222"}
	}
	return b
}

// HighHelp credentials of the bridge tests (HMAC keys: no RSA key
// generation per test).
const (
	hhMerchant = "57aff4db-b45d-42bf-bc5f-b7a499a01782"
	hhProject  = "proj-1"
	hhSecret   = "hh-request-secret-1"
	hhToken    = "hh-token-1"
	hhCallback = "hh-callback-secret-1"
)

// newHighHelpEnv runs the bridge with HighHelp against its simulator.
func newHighHelpEnv(t *testing.T, o envOpts) (*env, *hhsim.Server) {
	t.Helper()
	var s *hhsim.Server
	e := newEnvFor(t, o, func(e *env) []bridge.Provider {
		var err error
		s, err = hhsim.New(hhsim.Config{MerchantID: hhMerchant, ProjectID: hhProject, Token: hhToken,
			MerchantKey: highhelp.HMACKey([]byte(hhSecret)), CallbackKey: highhelp.HMACKey([]byte(hhCallback)),
			Balances: map[string]*big.Int{"RUB": big.NewInt(10_000_000)}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(s.Close)
		c, err := highhelp.New(highhelp.Config{BaseURL: s.URL(), MerchantID: hhMerchant, ProjectID: hhProject,
			Key: highhelp.HMACKey([]byte(hhSecret)), Token: hhToken, CallbackKey: highhelp.HMACKey([]byte(hhCallback)),
			Timeout: 2 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		return []bridge.Provider{c}
	})
	return e, s
}

func highhelpBody(ref string) map[string]any {
	return map[string]any{"reference": ref, "provider": highhelp.Name, "amount": "150000", "currency": "RUB", "method": "sbp-p2p",
		"customer": map[string]string{"phone": "+79990000000"}, "extra": map[string]string{"payment_system": "sberbank"}}
}

// highhelpCallback signs body as HighHelp signs callbacks (its callback
// key, now) with merchant as x-access-merchant-id.
func highhelpCallback(t *testing.T, body, merchant string) http.Header {
	t.Helper()
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	sig, err := highhelp.Scheme{}.SignBody(highhelp.HMACKey([]byte(hhCallback)), []byte(body), ts)
	if err != nil {
		t.Fatal(err)
	}
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	h.Set(highhelp.HeaderTimestamp, ts)
	h.Set(highhelp.HeaderSignature, sig)
	if merchant != "" {
		h.Set(highhelp.HeaderMerchantID, merchant)
	}
	return h
}

// due makes every open payment due for the reconciler now; age moves
// their creation back (past UnknownGiveUp when longer than an hour).
func (e *env) due(age time.Duration) {
	e.t.Helper()
	_, err := e.pool.Exec(context.Background(), `UPDATE bridge_payments SET next_check_at = now(),
		created_at = least(created_at, now() - $1 * interval '1 millisecond')`, age.Milliseconds())
	if err != nil {
		e.t.Fatal(err)
	}
}
