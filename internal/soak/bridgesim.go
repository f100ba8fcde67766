package soak

import (
	"fmt"
	"math/big"
	"math/rand/v2"
	"time"

	"github.com/ton-custody/processor/internal/bridge"
	"github.com/ton-custody/processor/internal/bridge/highhelp"
	highhelpsim "github.com/ton-custody/processor/internal/bridge/highhelp/sim"
	payfieldsim "github.com/ton-custody/processor/internal/bridge/payfield/sim"
	"github.com/ton-custody/processor/internal/bridge/paykassma"
	paykassmasim "github.com/ton-custody/processor/internal/bridge/paykassma/sim"
)

// Credentials the soak gives the simulators and the processor alike.
const (
	pfAPIKey     = "soak-payfield-key"
	pfSecret     = "soak-payfield-secret-0123456789"
	pfWebhook    = "soak-payfield-webhook-0123456789"
	hhMerchant   = "soak-highhelp-merchant-0001"
	hhHMAC       = "soak-highhelp-hmac-0123456789"
	hhToken      = "soak-highhelp-token-0123456789"
	hhCallback   = "soak-highhelp-callback-0123456789"
	pkSecret     = "soak-paykassma-secret-0123456789"
	pkPrivateKey = "soak-paykassma-private-key-0123456789"
	pkAccess     = "soak-paykassma-access-0123456789"
	pkPrivAccess = "soak-paykassma-private-access-0123456789"
)

// provState is a payment as its provider (simulator) holds it.
type provState struct {
	kind     bridge.Kind
	raw      string // the provider's own status
	final    string // the bridge status that final provider state means; "" while open
	amount   *big.Int
	currency string
}

// provSim is what the soak needs of one provider simulator. The status
// mapping here is written from each provider's documentation, not taken
// from the bridge's drivers, so the checks do not trust the code they test.
type provSim interface {
	currency() string
	// request returns the method and customer fields of a payment.
	request(kind bridge.Kind, n int) (method string, customer map[string]string)
	amount(r *rand.Rand) *big.Int
	state(ref string) (provState, bool)
	// attempts counts the create requests naming ref that the provider
	// handled (a second one would be a second payment, or a refusal).
	attempts(ref string) int
	// plan picks the provider statuses the payment moves through; the last
	// is final, or the plan is empty or ends open (left open at the
	// provider).
	plan(r *rand.Rand, kind bridge.Kind) []string
	// final reports whether a plan step is a final provider status.
	final(step string) bool
	settle(ref, status string) error
	// arm injects fault (a Fault* kind) into the next n requests of kind's
	// create endpoint (or status endpoint).
	arm(fault string, kind bridge.Kind, n int)
	clear()
	close()
}

// pick returns one of the choices, weighted.
func pick(r *rand.Rand, choices ...struct {
	w int
	v string
}) string {
	total := 0
	for _, c := range choices {
		total += c.w
	}
	n := r.IntN(total)
	for _, c := range choices {
		if n < c.w {
			return c.v
		}
		n -= c.w
	}
	return ""
}

type wv = struct {
	w int
	v string
}

// payfield

type payfieldProv struct{ s *payfieldsim.Sim }

func (payfieldProv) currency() string { return "RUB" }

func (payfieldProv) request(kind bridge.Kind, n int) (string, map[string]string) {
	return "", map[string]string{"user_id": fmt.Sprintf("soak-%d", n), "ip": "203.0.113.7"}
}

// amount: 100.00..5100.00 RUB in kopecks.
func (payfieldProv) amount(r *rand.Rand) *big.Int { return big.NewInt(10_000 + r.Int64N(500_000)) }

func (p payfieldProv) state(ref string) (provState, bool) {
	x, ok := p.s.Payment(ref)
	if !ok {
		return provState{}, false
	}
	final := map[string]string{"success": "succeeded", "failed": "failed", "canceled": "canceled", "expired": "expired",
		"refunded": "reversed"}[x.Status]
	return provState{kind: x.Kind, raw: x.Status, final: final, amount: x.Amount, currency: x.Currency}, true
}

func (p payfieldProv) attempts(ref string) int { return p.s.CreateAttempts(ref) }

func (payfieldProv) plan(r *rand.Rand, kind bridge.Kind) []string {
	final := pick(r, wv{55, "success"}, wv{12, "failed"}, wv{8, "canceled"}, wv{8, "expired"}, wv{17, ""})
	switch {
	case final == "":
		return nil
	case final == "success" && r.IntN(5) == 0:
		return []string{"success", "refunded"}
	}
	return []string{final}
}

func (payfieldProv) final(step string) bool { return step != "pending" }

func (p payfieldProv) settle(ref, status string) error { return p.s.Settle(ref, status) }

func (p payfieldProv) arm(fault string, kind bridge.Kind, n int) {
	ep := payfieldsim.EndpointPayin
	if kind == bridge.Payout {
		ep = payfieldsim.EndpointPayout
	}
	switch fault {
	case FaultProvider500:
		p.s.Inject(ep, payfieldsim.Fault{Mode: payfieldsim.Fail500, Count: n})
	case FaultProviderAccept500:
		p.s.Inject(ep, payfieldsim.Fault{Mode: payfieldsim.Accept500, Count: n})
	case FaultProviderTimeout:
		p.s.Inject(ep, payfieldsim.Fault{Mode: payfieldsim.AcceptTimeout, Delay: time.Minute, Count: n})
	case FaultProviderSlow:
		// Payfield's Delay handles the request after the client gave up:
		// the payment exists though the bridge saw a timeout.
		p.s.Inject(ep, payfieldsim.Fault{Mode: payfieldsim.Delay, Delay: time.Minute, Count: n})
	case FaultProviderMalformed:
		p.s.Inject(ep, payfieldsim.Fault{Mode: payfieldsim.Malformed, Count: n})
	case FaultProviderStatus500:
		p.s.Inject(payfieldsim.EndpointStatus, payfieldsim.Fault{Mode: payfieldsim.Fail500, Count: 3 * n})
	}
}

func (p payfieldProv) clear() { p.s.ClearFaults() }
func (p payfieldProv) close() { _ = p.s.Close() }

// highhelp

type highhelpProv struct{ s *highhelpsim.Server }

func (highhelpProv) currency() string { return "RUB" }

func (highhelpProv) request(kind bridge.Kind, n int) (string, map[string]string) {
	if kind == bridge.Payout {
		return "card-p2p", map[string]string{"card_number": "4000001234567899", "holder": fmt.Sprintf("SOAK PAYEE %d", n)}
	}
	return "card-p2p", map[string]string{"user_id": fmt.Sprintf("soak-%d", n)}
}

func (highhelpProv) amount(r *rand.Rand) *big.Int { return big.NewInt(10_000 + r.Int64N(500_000)) }

func (p highhelpProv) state(ref string) (provState, bool) {
	x, ok := p.s.Payment(ref)
	if !ok {
		return provState{}, false
	}
	final := map[string]string{"success": "succeeded", "decline": "failed"}[x.Status]
	return provState{kind: bridge.Kind(x.Kind), raw: highhelpsim.RawStatus(x.Status, x.SubStatus), final: final,
		amount: x.Amount, currency: x.Currency}, true
}

func (p highhelpProv) attempts(ref string) int { return p.s.CreateAttempts(ref) }

func (highhelpProv) plan(r *rand.Rand, kind bridge.Kind) []string {
	var steps []string
	if r.IntN(2) == 0 {
		if kind == bridge.Payin {
			steps = append(steps, "processing:awaiting_confirm")
		} else {
			steps = append(steps, "processing:payout_process")
		}
	}
	if r.IntN(6) == 0 {
		steps = append(steps, "dispute:no_payment")
	}
	if final := pick(r, wv{65, "success"}, wv{20, "decline"}, wv{15, ""}); final != "" {
		steps = append(steps, final)
	}
	return steps
}

func (highhelpProv) final(step string) bool { return step == "success" || step == "decline" }

func (p highhelpProv) settle(ref, status string) error { return p.s.Settle(ref, status) }

func (p highhelpProv) arm(fault string, kind bridge.Kind, n int) {
	path, info := highhelp.PathPayin, highhelp.PathPayinInfo
	if kind == bridge.Payout {
		path, info = highhelp.PathPayout, highhelp.PathPayoutInf
	}
	switch fault {
	case FaultProvider500:
		p.s.SetFault(highhelpsim.Fault{Kind: highhelpsim.Fault5xx, Path: path, Times: n})
	case FaultProviderAccept500:
		p.s.SetFault(highhelpsim.Fault{Kind: highhelpsim.Fault5xx, Path: path, Times: n, Process: true})
	case FaultProviderTimeout:
		p.s.SetFault(highhelpsim.Fault{Kind: highhelpsim.FaultHang, Path: path, Times: n, Process: true})
	case FaultProviderSlow:
		// Never answers and never creates: the provider has no payment.
		p.s.SetFault(highhelpsim.Fault{Kind: highhelpsim.FaultHang, Path: path, Times: n})
	case FaultProviderMalformed:
		p.s.SetFault(highhelpsim.Fault{Kind: highhelpsim.FaultMalformed, Path: path, Times: n, Process: true})
	case FaultProviderStatus500:
		p.s.SetFault(highhelpsim.Fault{Kind: highhelpsim.Fault5xx, Path: info, Times: 3 * n})
	}
}

func (p highhelpProv) clear() { p.s.SetFault(highhelpsim.Fault{}) }
func (p highhelpProv) close() { p.s.Close() }

// paykassma

type paykassmaProv struct{ s *paykassmasim.Server }

func (paykassmaProv) currency() string { return "INR" }

func (paykassmaProv) request(kind bridge.Kind, n int) (string, map[string]string) {
	label := fmt.Sprintf("soak-%d", n)
	if kind == bridge.Payout {
		return "upi_p2p", map[string]string{"label": label, "account_number": "1234567890", "account_name": "Soak Payee"}
	}
	return "paytm", map[string]string{"label": label}
}

// amount: whole rupees (Paykassma withdrawals are integers), 10..5009.
func (paykassmaProv) amount(r *rand.Rand) *big.Int { return big.NewInt(100 * (10 + r.Int64N(5000))) }

func (p paykassmaProv) state(ref string) (provState, bool) {
	if w, ok := p.s.WithdrawalInfo(ref); ok {
		final := map[int]string{paykassma.WithdrawalProcessed: "succeeded", paykassma.WithdrawalRejected: "failed"}[w.Status]
		return provState{kind: bridge.Payout, raw: fmt.Sprint(w.Status), final: final, amount: w.Amount, currency: w.Currency}, true
	}
	if dep, ok := p.s.Deposit(ref); ok {
		st := provState{kind: bridge.Payin, raw: "new", amount: dep.Amount, currency: dep.Currency}
		if dep.Credited {
			st.raw, st.final = "credited", "succeeded"
		}
		return st, true
	}
	return provState{}, false
}

func (p paykassmaProv) attempts(ref string) int { return p.s.CreateAttempts(ref) }

func (paykassmaProv) plan(r *rand.Rand, kind bridge.Kind) []string {
	var final string
	if kind == bridge.Payout {
		final = pick(r, wv{60, "1"}, wv{25, "5"}, wv{15, ""})
	} else {
		final = pick(r, wv{85, "success"}, wv{15, ""})
	}
	if final == "" {
		return nil
	}
	return []string{final}
}

func (paykassmaProv) final(string) bool { return true }

func (p paykassmaProv) settle(ref, status string) error { return p.s.Settle(ref, status) }

func (p paykassmaProv) arm(fault string, kind bridge.Kind, n int) {
	path := paykassma.PathPaymentCreate // a prefix: + payment system
	if kind == bridge.Payout {
		path = paykassma.PathWithdrawalCreate
	}
	switch fault {
	case FaultProvider500:
		p.s.SetFault(paykassmasim.Fault{Kind: paykassmasim.Fault5xx, Path: path, Times: n})
	case FaultProviderAccept500:
		p.s.SetFault(paykassmasim.Fault{Kind: paykassmasim.Fault5xx, Path: path, Times: n, Process: true})
	case FaultProviderTimeout:
		p.s.SetFault(paykassmasim.Fault{Kind: paykassmasim.FaultHang, Path: path, Times: n, Process: true})
	case FaultProviderSlow:
		p.s.SetFault(paykassmasim.Fault{Kind: paykassmasim.FaultHang, Path: path, Times: n})
	case FaultProviderMalformed:
		p.s.SetFault(paykassmasim.Fault{Kind: paykassmasim.FaultMalformed, Path: path, Times: n, Process: true})
	case FaultProviderStatus500:
		p.s.SetFault(paykassmasim.Fault{Kind: paykassmasim.Fault5xx, Path: paykassma.PathPostback, Times: 3 * n})
	}
}

func (p paykassmaProv) clear() { p.s.SetFault(paykassmasim.Fault{}) }
func (p paykassmaProv) close() { p.s.Close() }

// startSims starts the three simulators; callbacks go to relayURL. Each
// also duplicates its callbacks and reorders them itself.
func startSims(relayURL string) (map[string]provSim, error) {
	sims := map[string]provSim{}
	fail := func(err error) (map[string]provSim, error) {
		for _, s := range sims {
			s.close()
		}
		return nil, err
	}
	huge := new(big.Int).Exp(big.NewInt(10), big.NewInt(15), nil) // payouts never lack funds
	// Payfield's documented webhook retries (1, 5, 30, 60, 120 minutes)
	// scaled down 600 times: they outlast the soak's outages as the real
	// ones outlast real ones. With the simulator's default (0.75 s in all)
	// a refund whose webhooks all fall into a processor restart is lost for
	// good: the reconciler never polls succeeded payments, so succeeded ->
	// reversed is learned from webhooks only. HighHelp and Paykassma keep
	// their fast, lossy retries: their lost callbacks exercise the
	// reconciler.
	pf, err := payfieldsim.Start(payfieldsim.Options{APIKey: pfAPIKey, Secret: pfSecret, WebhookSecret: pfWebhook,
		Duplicates: 1, OutOfOrder: true, RetryDelays: []time.Duration{100 * time.Millisecond, 500 * time.Millisecond,
			3 * time.Second, 6 * time.Second, 12 * time.Second}})
	if err != nil {
		return fail(fmt.Errorf("payfield simulator: %w", err))
	}
	pf.SetBalance("RUB", huge.Int64(), 0)
	sims["payfield"] = payfieldProv{pf}
	hh, err := highhelpsim.New(highhelpsim.Config{MerchantID: hhMerchant, MerchantKey: highhelp.HMACKey([]byte(hhHMAC)),
		Token: hhToken, CallbackKey: highhelp.HMACKey([]byte(hhCallback)), Balances: map[string]*big.Int{"RUB": huge},
		Callbacks: highhelpsim.CallbackConfig{Duplicates: 1, OutOfOrder: true}})
	if err != nil {
		return fail(fmt.Errorf("highhelp simulator: %w", err))
	}
	sims["highhelp"] = highhelpProv{hh}
	pk, err := paykassmasim.New(paykassmasim.Config{Secret: pkSecret, PrivateKey: pkPrivateKey, AccessKey: pkAccess,
		PrivateAccessKey: pkPrivAccess, PostbackURL: relayURL + bridge.CallbackPath("paykassma"),
		Balances: map[string]*big.Int{"INR": huge}, Postbacks: paykassmasim.PostbackConfig{Duplicates: 1, OutOfOrder: true}})
	if err != nil {
		return fail(fmt.Errorf("paykassma simulator: %w", err))
	}
	sims["paykassma"] = paykassmaProv{pk}
	return sims, nil
}

// bridgeEnv is the processor's BRIDGE_* configuration for the simulators.
func bridgeEnv(sims map[string]provSim, relayURL string, giveUp time.Duration) map[string]string {
	timeout := bridgeProviderTimeout.String()
	return map[string]string{
		"BRIDGE_PROVIDERS":          "payfield,highhelp,paykassma",
		"BRIDGE_PUBLIC_URL":         relayURL,
		"BRIDGE_RECONCILE_INTERVAL": bridgeReconcileInterval.String(),
		"BRIDGE_UNKNOWN_GIVE_UP":    giveUp.String(),

		"BRIDGE_PAYFIELD_BASE_URL":       sims["payfield"].(payfieldProv).s.URL,
		"BRIDGE_PAYFIELD_TIMEOUT":        timeout,
		"BRIDGE_PAYFIELD_API_KEY":        pfAPIKey,
		"BRIDGE_PAYFIELD_SECRET":         pfSecret,
		"BRIDGE_PAYFIELD_WEBHOOK_SECRET": pfWebhook,

		"BRIDGE_HIGHHELP_BASE_URL":        sims["highhelp"].(highhelpProv).s.URL(),
		"BRIDGE_HIGHHELP_TIMEOUT":         timeout,
		"BRIDGE_HIGHHELP_MERCHANT_ID":     hhMerchant,
		"BRIDGE_HIGHHELP_ALGORITHM":       "hmac",
		"BRIDGE_HIGHHELP_HMAC_SECRET":     hhHMAC,
		"BRIDGE_HIGHHELP_TOKEN":           hhToken,
		"BRIDGE_HIGHHELP_CALLBACK_SECRET": hhCallback,

		"BRIDGE_PAYKASSMA_BASE_URL":           sims["paykassma"].(paykassmaProv).s.URL(),
		"BRIDGE_PAYKASSMA_TIMEOUT":            timeout,
		"BRIDGE_PAYKASSMA_SECRET":             pkSecret,
		"BRIDGE_PAYKASSMA_PRIVATE_KEY":        pkPrivateKey,
		"BRIDGE_PAYKASSMA_ACCESS_KEY":         pkAccess,
		"BRIDGE_PAYKASSMA_PRIVATE_ACCESS_KEY": pkPrivAccess,
	}
}
