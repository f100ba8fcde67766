package providertest_test

import (
	"encoding/json"
	"math/big"
	"net/http"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/ton-custody/processor/internal/bridge"
	"github.com/ton-custody/processor/internal/bridge/highhelp"
	hhsim "github.com/ton-custody/processor/internal/bridge/highhelp/sim"
	"github.com/ton-custody/processor/internal/bridge/payfield"
	pfsim "github.com/ton-custody/processor/internal/bridge/payfield/sim"
	"github.com/ton-custody/processor/internal/bridge/paykassma"
	pksim "github.com/ton-custody/processor/internal/bridge/paykassma/sim"
	"github.com/ton-custody/processor/internal/bridge/providertest"
)

// clientTimeout bounds provider calls in the suite (its timeout cases wait
// for it).
const clientTimeout = 400 * time.Millisecond

// harnesses are every provider driver with its simulator.
var harnesses = []providertest.Harness{highhelpHarness(), paykassmaHarness(), payfieldHarness()}

func TestConformance(t *testing.T) {
	for _, h := range harnesses {
		t.Run(h.Name, func(t *testing.T) {
			t.Parallel()
			providertest.Run(t, h)
		})
	}
}

// A new provider driver must join the suite.
func TestEveryDriverHasAHarness(t *testing.T) {
	var names []string
	for _, h := range harnesses {
		names = append(names, h.Name)
	}
	slices.Sort(names)
	if got := bridge.DriverNames(); !slices.Equal(got, names) {
		t.Fatalf("registered drivers %v, harnesses %v", got, names)
	}
}

func build(t *testing.T, name, baseURL string, values map[string]string, secrets ...string) bridge.Provider {
	t.Helper()
	d, ok := bridge.LookupDriver(name)
	if !ok {
		t.Fatalf("no driver %s", name)
	}
	pc := bridge.NewProviderConfig(name, baseURL, values, secrets...)
	pc.Timeout = clientTimeout
	p, err := d.New(pc, &http.Client{Timeout: clientTimeout})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func resign(t *testing.T, d providertest.Delivery, body []byte, sign func(body []byte) http.Header) providertest.Delivery {
	t.Helper()
	out := providertest.Delivery{URL: d.URL, Header: d.Header.Clone(), Body: body}
	for k, v := range sign(body) {
		out.Header[k] = v
	}
	return out
}

// --- HighHelp ---

const (
	hhMerchant = "57aff4db-b45d-42bf-bc5f-b7a499a01782"
	hhProject  = "proj-1"
	hhSecret   = "hh-request-secret-1"
	hhToken    = "hh-token-1"
	hhCallback = "hh-callback-secret-1"
)

func highhelpHarness() providertest.Harness {
	return providertest.Harness{
		Name:             highhelp.Name,
		Capabilities:     []string{"payin", "payout", "status", "balance", "banks", "callback"},
		DefiniteNotFound: true, // .../info answers 404 for a payment_id the kassa never had
		Start: func(t *testing.T, callbackURL string) *providertest.Env {
			cbKey := highhelp.HMACKey([]byte(hhCallback))
			s, err := hhsim.New(hhsim.Config{MerchantID: hhMerchant, ProjectID: hhProject, Token: hhToken,
				MerchantKey: highhelp.HMACKey([]byte(hhSecret)), CallbackKey: cbKey,
				Balances: map[string]*big.Int{"RUB": big.NewInt(1_000_000)}})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(s.Close)
			p := build(t, highhelp.Name, s.URL(), map[string]string{"merchant_id": hhMerchant, "project_id": hhProject,
				"algorithm": "hmac", "hmac_secret": hhSecret, "token": hhToken, "callback_secret": hhCallback},
				"hmac_secret", "token", "callback_secret")
			payment := func(kind bridge.Kind, ref string) bridge.Payment {
				return bridge.Payment{Money: bridge.Money{Amount: big.NewInt(10_000), Currency: "RUB"}, Method: "sbp-p2p",
					Extra: map[string]string{"payment_system": "sberbank"}, Customer: map[string]string{"phone": "+79990000000"}}
			}
			paths := map[providertest.Op]map[bridge.Kind]string{
				providertest.OpCreate: {bridge.Payin: highhelp.PathPayin, bridge.Payout: highhelp.PathPayout},
				providertest.OpStatus: {bridge.Payin: highhelp.PathPayinInfo, bridge.Payout: highhelp.PathPayoutInf},
			}
			sign := func(merchant string) func([]byte) http.Header {
				return func(body []byte) http.Header {
					ts := strconv.FormatInt(time.Now().Unix(), 10)
					sig, err := highhelp.Scheme{}.SignBody(cbKey, body, ts)
					if err != nil {
						t.Fatal(err)
					}
					h := http.Header{}
					h.Set(highhelp.HeaderTimestamp, ts)
					h.Set(highhelp.HeaderSignature, sig)
					h.Set(highhelp.HeaderMerchantID, merchant)
					return h
				}
			}
			return &providertest.Env{
				Provider: p,
				Payment:  payment,
				Oversized: func(ref string) bridge.Payment {
					p := payment(bridge.Payout, ref)
					p.Money.Amount = big.NewInt(5_000_000)
					return p
				},
				Balance: bridge.Balance{Currency: "RUB", Available: big.NewInt(1_000_000)},
				Settle: func(_ bridge.Kind, ref string, success bool) error {
					if success {
						return s.Settle(ref, "success")
					}
					return s.Settle(ref, "decline")
				},
				Inject: func(op providertest.Op, kind bridge.Kind, f providertest.Fault) {
					path := highhelp.PathBalance
					if op != providertest.OpBalance {
						path = paths[op][kind]
					}
					sf := hhsim.Fault{Kind: hhsim.Fault5xx, Path: path, Times: 1}
					if f == providertest.FaultAcceptHang {
						sf = hhsim.Fault{Kind: hhsim.FaultHang, Path: path, Times: 1, Process: true}
					}
					s.SetFault(sf)
				},
				// HighHelp signs every merchant's callbacks with its one key;
				// the signed general.project_id and the x-access-merchant-id
				// header say whose they are.
				Foreign: func(t *testing.T, d providertest.Delivery) map[string]providertest.Delivery {
					var m map[string]any
					if err := json.Unmarshal(d.Body, &m); err != nil {
						t.Fatal(err)
					}
					g, _ := m["general"].(map[string]any)
					if g == nil {
						g = map[string]any{}
						m["general"] = g
					}
					g["project_id"] = "other-kassa-project"
					otherProject, _ := json.Marshal(m)
					return map[string]providertest.Delivery{
						"another project":           resign(t, d, otherProject, sign(hhMerchant)),
						"another merchant":          resign(t, d, d.Body, sign("0c7f5a2e-0000-4000-8000-other0000000")),
						"another merchant, project": resign(t, d, otherProject, sign("0c7f5a2e-0000-4000-8000-other0000000")),
					}
				},
			}
		},
	}
}

// --- Paykassma ---

const (
	pkSecret     = "plugin-secret-1"
	pkPrivateKey = "withdrawal-key-1"
	pkAccess     = "access-key-1"
	pkPrivAccess = "private-access-key-1"
)

func paykassmaHarness() providertest.Harness {
	return providertest.Harness{
		Name:         paykassma.Name,
		Capabilities: []string{"payin", "payout", "status", "balance", "banks", "callback"},
		// The postback lookup answers "Postback not found" both before a
		// payment's outcome and for a payment Paykassma never got.
		DefiniteNotFound: false,
		Start: func(t *testing.T, callbackURL string) *providertest.Env {
			s, err := pksim.New(pksim.Config{Secret: pkSecret, PrivateKey: pkPrivateKey, AccessKey: pkAccess, PrivateAccessKey: pkPrivAccess,
				PostbackURL: callbackURL, Balances: map[string]*big.Int{"INR": big.NewInt(1_000_000)}})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(s.Close)
			p := build(t, paykassma.Name, s.URL(), map[string]string{"secret": pkSecret, "private_key": pkPrivateKey,
				"access_key": pkAccess, "private_access_key": pkPrivAccess, "label": "user-55", "currencies": "INR"},
				"secret", "private_key", "access_key", "private_access_key")
			payment := func(kind bridge.Kind, ref string) bridge.Payment {
				return bridge.Payment{Money: bridge.Money{Amount: big.NewInt(100_00), Currency: "INR"}, Method: "paytm",
					Customer: map[string]string{"account_number": "11111111"}}
			}
			paths := map[providertest.Op]map[bridge.Kind]string{
				providertest.OpCreate: {bridge.Payin: paykassma.PathPaymentCreate, bridge.Payout: paykassma.PathWithdrawalCreate},
				providertest.OpStatus: {bridge.Payin: paykassma.PathPostback, bridge.Payout: paykassma.PathPostback},
			}
			return &providertest.Env{
				Provider: p,
				Payment:  payment,
				Oversized: func(ref string) bridge.Payment {
					p := payment(bridge.Payout, ref)
					p.Money.Amount = big.NewInt(5_000_000)
					return p
				},
				Balance: bridge.Balance{Currency: "INR", Available: big.NewInt(1_000_000)},
				Settle: func(kind bridge.Kind, ref string, success bool) error {
					switch {
					case kind == bridge.Payin && success:
						return s.Settle(ref, "success")
					case kind == bridge.Payin:
						return providertest.ErrUnsupported // a deposit postback only comes once credited
					case success:
						return s.Settle(ref, strconv.Itoa(paykassma.WithdrawalProcessed))
					}
					return s.Settle(ref, strconv.Itoa(paykassma.WithdrawalRejected))
				},
				Inject: func(op providertest.Op, kind bridge.Kind, f providertest.Fault) {
					path := paykassma.PathAccountsBalance
					if op != providertest.OpBalance {
						path = paths[op][kind]
					}
					sf := pksim.Fault{Kind: pksim.Fault5xx, Path: path, Times: 1}
					if f == providertest.FaultAcceptHang {
						sf = pksim.Fault{Kind: pksim.FaultHang, Path: path, Times: 1, Process: true}
					}
					s.SetFault(sf)
				},
				// Postbacks name no account: the access keys are the binding,
				// so another account's postback is one signed with its keys.
				Foreign: func(t *testing.T, d providertest.Delivery) map[string]providertest.Delivery {
					v, err := paykassma.JSONDecode(d.Body, false)
					if err != nil {
						t.Fatal(err)
					}
					pb := v.(*paykassma.Array)
					pb.Delete("signature")
					var covered any = pb
					if _, ok := pb.Get("withdrawal_id"); !ok {
						covered, _ = pb.Get("transactions")
					}
					sig, err := paykassma.PostbackSignature("other-access", "other-private-access", covered)
					if err != nil {
						t.Fatal(err)
					}
					body, err := paykassma.JSONEncode(pb.Clone().Set("signature", sig))
					if err != nil {
						t.Fatal(err)
					}
					return map[string]providertest.Delivery{"another account's keys": {URL: d.URL, Header: d.Header, Body: body}}
				},
			}
		},
	}
}

// --- Payfield ---

const (
	pfKey     = "pf-key-0123456789"
	pfSecret  = "pf-secret-0123456789"
	pfWebhook = "pf-webhook-0123456789"
	pfShop    = "shop-001"
)

func payfieldHarness() providertest.Harness {
	return providertest.Harness{
		Name:             payfield.Name,
		Capabilities:     []string{"payin", "payout", "status", "balance", "callback"},
		DefiniteNotFound: true, // GET /api/v1/pay{ins,outs}/{external_id} answers 404 not_found
		Start: func(t *testing.T, callbackURL string) *providertest.Env {
			s, err := pfsim.Start(pfsim.Options{APIKey: pfKey, Secret: pfSecret, WebhookSecret: pfWebhook, ShopCode: pfShop})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = s.Close() })
			s.SetBalance("RUB", 100_000_00, 5_000_00)
			p := build(t, payfield.Name, s.URL, map[string]string{"api_key": pfKey, "secret": pfSecret,
				"webhook_secret": pfWebhook, "shop_code": pfShop, "currencies": "RUB"}, "api_key", "secret", "webhook_secret")
			payment := func(kind bridge.Kind, ref string) bridge.Payment {
				return bridge.Payment{Money: bridge.Money{Amount: big.NewInt(1_000_00), Currency: "RUB"},
					Customer: map[string]string{"user_id": "alice", "ip": "127.0.0.1"}}
			}
			endpoints := map[bridge.Kind]pfsim.Endpoint{bridge.Payin: pfsim.EndpointPayin, bridge.Payout: pfsim.EndpointPayout}
			return &providertest.Env{
				Provider: p,
				Payment:  payment,
				Oversized: func(ref string) bridge.Payment {
					p := payment(bridge.Payout, ref)
					p.Money.Amount = big.NewInt(1_000_000_00)
					return p
				},
				Balance: bridge.Balance{Currency: "RUB", Available: big.NewInt(100_000_00)},
				Settle: func(_ bridge.Kind, ref string, success bool) error {
					if success {
						return s.Settle(ref, "success")
					}
					return s.Settle(ref, "failed")
				},
				Inject: func(op providertest.Op, kind bridge.Kind, f providertest.Fault) {
					e := pfsim.EndpointBalance
					switch op {
					case providertest.OpCreate:
						e = endpoints[kind]
					case providertest.OpStatus:
						e = pfsim.EndpointStatus
					}
					sf := pfsim.Fault{Mode: pfsim.Fail500}
					if f == providertest.FaultAcceptHang {
						sf = pfsim.Fault{Mode: pfsim.AcceptTimeout, Delay: 5 * clientTimeout}
					}
					s.Inject(e, sf)
				},
				// One webhook secret may serve several shops of a merchant:
				// the signed shop_code says whose payment it is.
				Foreign: func(t *testing.T, d providertest.Delivery) map[string]providertest.Delivery {
					var m map[string]any
					if err := json.Unmarshal(d.Body, &m); err != nil {
						t.Fatal(err)
					}
					m["shop_code"] = "shop-999"
					body, _ := json.Marshal(m)
					return map[string]providertest.Delivery{"another shop": resign(t, d, body, func(b []byte) http.Header {
						_, h := pfsim.WebhookRequest(pfWebhook, payfield.EncodingHex, b, time.Now())
						return h
					})}
				},
			}
		},
	}
}
