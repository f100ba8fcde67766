package soak

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"math/rand/v2"
	"net/http"
	"sort"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/ton-custody/processor/internal/bridge"
)

const (
	// bridgeProviderTimeout is each provider call's timeout: short, so a
	// hanging provider costs seconds.
	bridgeProviderTimeout = 2 * time.Second
	// bridgeReconcileInterval is how often open payments are polled.
	bridgeReconcileInterval = 2 * time.Second
	// createdGrace is the bridge's fixed wait before it polls a payment
	// left in created (its create call died with the process):
	// bridge.ServiceOptions.CreatedGrace's default, not configurable.
	createdGrace = time.Minute
)

// bridgeState is the bridge part of a run: the simulators, the callback
// relay and every payment the driver asked for.
type bridgeState struct {
	sims  map[string]provSim
	names []string // sorted provider names
	relay *relay
	frng  *rand.Rand // bridge fault schedule (bridgeFaultLoop only)

	mu    sync.Mutex
	pays  []*bridgePay
	next  int
	avoid string // provider reserved by a mid-create kill: new traffic goes elsewhere
}

// bridgePay is one payin or payout the driver asked for.
type bridgePay struct {
	ref, provider string
	kind          bridge.Kind
	amount        *big.Int
	currency      string
	method        string
	customer      map[string]string

	// API answers (under bridgeState.mu).
	submissions       int
	created, repeated int      // 201 and 200 answers
	problems          []string // answers that break the API contract
	unanswered        []string // submissions never answered (last error)
	// midCreate says what a kill -9 during the create found: "" (none),
	// "provider has it" or "provider never got it".
	midCreate string
	// finalPlan: the provider must settle it (a mid-create kill's payment:
	// left open at Paykassma it could never leave created, which says
	// nothing), and only after the processor is back.
	finalPlan bool

	// The provider's side (settleLoop): planned once the simulator has the
	// payment; steps are the provider statuses still to apply.
	planned bool
	steps   []string
	due     time.Time
}

func (d *driver) startBridge(apiURL string) (map[string]string, error) {
	rl, err := startRelay(apiURL, d.opts.Seed)
	if err != nil {
		return nil, err
	}
	sims, err := startSims(rl.URL)
	if err != nil {
		rl.close()
		return nil, err
	}
	br := &bridgeState{sims: sims, relay: rl, frng: rand.New(rand.NewPCG(uint64(d.opts.Seed), 0xb1d6))}
	for n := range sims {
		br.names = append(br.names, n)
	}
	sort.Strings(br.names)
	d.br = br
	env := bridgeEnv(sims, rl.URL, d.opts.BridgeUnknownGiveUp)
	// Validate here: a mistake is then a clear setup error, not a
	// processor that exits at every start.
	if _, err := bridge.LoadConfig(func(k string) string { return env[k] }); err != nil {
		d.closeBridge()
		return nil, fmt.Errorf("bridge configuration: %w", err)
	}
	return env, nil
}

func (d *driver) closeBridge() {
	if d.br == nil {
		return
	}
	d.br.relay.close()
	for _, s := range d.br.sims {
		s.close()
	}
}

// newBridgePay records a new payment of provider (random when "") and
// kind (random when "").
func (d *driver) newBridgePay(provider string, kind bridge.Kind) *bridgePay {
	br := d.br
	br.mu.Lock()
	if provider == "" {
		choices := make([]string, 0, len(br.names))
		for _, n := range br.names {
			if n != br.avoid {
				choices = append(choices, n)
			}
		}
		provider = choices[d.intn(len(choices))]
	}
	br.next++
	n := br.next
	br.mu.Unlock()
	if kind == "" {
		kind = bridge.Payin
		if d.intn(2) == 0 {
			kind = bridge.Payout
		}
	}
	sim := br.sims[provider]
	d.rngMu.Lock()
	amount := sim.amount(d.rng)
	d.rngMu.Unlock()
	method, customer := sim.request(kind, n)
	p := &bridgePay{ref: fmt.Sprintf("b%d-%s-%s", n, provider, kind), provider: provider, kind: kind, amount: amount,
		currency: sim.currency(), method: method, customer: customer}
	br.mu.Lock()
	br.pays = append(br.pays, p)
	br.mu.Unlock()
	return p
}

// oneBridgePayment creates a payment through the API the way a merchant
// with retries does: most once (retried until answered), some twice at
// once, some asked again after the answer (a lost answer's retry).
func (d *driver) oneBridgePayment(ctx context.Context) {
	p := d.newBridgePay("", "")
	switch n := d.intn(20); {
	case n < 5:
		var wg sync.WaitGroup
		for range 2 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				d.bridgeSubmit(ctx, p)
			}()
		}
		wg.Wait()
	case n < 8:
		if d.bridgeSubmit(ctx, p) {
			d.bridgeSubmit(ctx, p)
		}
	default:
		d.bridgeSubmit(ctx, p)
	}
}

// bridgeSubmit sends p's create request until the API answers; it reports
// whether it did. Transport errors and 5xx (processor or database down)
// are retried with the same body: the reference makes that safe.
func (d *driver) bridgeSubmit(ctx context.Context, p *bridgePay) bool {
	path := "/v1/bridge/payins"
	if p.kind == bridge.Payout {
		path = "/v1/bridge/payouts"
	}
	body := map[string]any{"reference": p.ref, "provider": p.provider, "amount": p.amount.String(),
		"currency": p.currency, "customer": p.customer}
	if p.method != "" {
		body["method"] = p.method
	}
	var code int
	var problem string
	err := retry(ctx, func() (bool, error) {
		st, out, raw, err := d.api.do(ctx, http.MethodPost, path, body)
		if err != nil {
			return false, err
		}
		if retryable(st) {
			return false, fmt.Errorf("%s: %d %s", path, st, raw)
		}
		code = st
		switch {
		case st != http.StatusCreated && st != http.StatusOK:
			problem = fmt.Sprintf("answered %d: %s", st, raw)
		case out["reference"] != p.ref || out["provider"] != p.provider || out["kind"] != string(p.kind) ||
			out["amount"] != p.amount.String() || out["currency"] != p.currency:
			problem = "the answer is another payment: " + raw
		}
		return true, nil
	})
	d.count(&d.res.Bridge.Submissions)
	d.br.mu.Lock()
	defer d.br.mu.Unlock()
	p.submissions++
	if err != nil {
		p.unanswered = append(p.unanswered, err.Error())
		return false
	}
	switch code {
	case http.StatusCreated:
		p.created++
	case http.StatusOK:
		p.repeated++
	}
	if problem != "" {
		p.problems = append(p.problems, problem)
	}
	return true
}

// settleLoop plays the providers' side until ctx ends: once a simulator
// has a payment, its plan (the statuses it will move through) is drawn,
// and each step is applied after a pause; the simulator then calls back.
func (d *driver) settleLoop(ctx context.Context) {
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		d.settleDue()
	}
}

func (d *driver) settleDue() {
	br := d.br
	br.mu.Lock()
	pays := append([]*bridgePay(nil), br.pays...)
	br.mu.Unlock()
	now := time.Now()
	for _, p := range pays {
		sim := br.sims[p.provider]
		br.mu.Lock()
		planned, due := p.planned, p.due
		var step string
		if planned && len(p.steps) > 0 && !now.Before(due) {
			step = p.steps[0]
			p.steps = p.steps[1:]
			p.due = now.Add(d.trafficDur(200*time.Millisecond, 3*time.Second))
		}
		br.mu.Unlock()
		if !planned {
			if _, ok := sim.state(p.ref); !ok {
				continue
			}
			br.mu.Lock()
			finalPlan := p.finalPlan
			br.mu.Unlock()
			d.rngMu.Lock()
			steps := sim.plan(d.rng, p.kind)
			for finalPlan && (len(steps) == 0 || !sim.final(steps[len(steps)-1])) {
				steps = sim.plan(d.rng, p.kind)
			}
			// Most settle within seconds; some late enough that the
			// reconciler's backoff and lost callbacks matter.
			wait := 300*time.Millisecond + time.Duration(d.rng.Int64N(int64(4*time.Second)))
			if d.rng.IntN(5) == 0 {
				wait = 5*time.Second + time.Duration(d.rng.Int64N(int64(10*time.Second)))
			}
			if finalPlan {
				wait += 3 * time.Second
			}
			d.rngMu.Unlock()
			br.mu.Lock()
			p.planned, p.steps, p.due = true, steps, now.Add(wait)
			br.mu.Unlock()
			continue
		}
		if step != "" {
			if err := sim.settle(p.ref, step); err != nil {
				d.note("provider %s: %s -> %s: %v", p.provider, p.ref, step, err)
			}
		}
	}
}

// trafficDur is uniform in [lo, hi), from the traffic source (randDur
// draws from the TON fault schedule's, which only faultLoop may use).
func (d *driver) trafficDur(lo, hi time.Duration) time.Duration {
	return lo + time.Duration(d.int64n(int64(hi-lo)))
}

// Bridge fault kinds, as counted in Result.Faults.
const (
	FaultKillMidCreate     = "processor kill -9 mid bridge create"
	FaultProvider500       = "provider 500 (create not done)"
	FaultProviderAccept500 = "provider 500 after creating"
	FaultProviderTimeout   = "provider timeout after creating"
	FaultProviderSlow      = "provider timeout (payfield creates late, others never)"
	FaultProviderMalformed = "provider malformed answer after creating"
	FaultProviderStatus500 = "provider status calls 500"
)

// BridgeFaultKinds are the bridge's fault kinds.
var BridgeFaultKinds = []string{FaultKillMidCreate, FaultProvider500, FaultProviderAccept500, FaultProviderTimeout,
	FaultProviderSlow, FaultProviderMalformed, FaultProviderStatus500}

// bridgeFaultLoop injects provider faults (and kills the processor in the
// middle of a create) about every FaultEvery until ctx ends, dealt from a
// shuffled deck like faultLoop's. The first is a kill mid-create: its
// payment stays created until the bridge's fixed one-minute grace, which
// must pass within the run; later ones only when that still holds.
func (d *driver) bridgeFaultLoop(ctx context.Context, trafficEnd time.Time, reqCtx context.Context, wg *sync.WaitGroup) {
	br := d.br
	deck := []string{FaultKillMidCreate}
	next := d.opts.FaultEvery / 2
	variant := 0
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(next):
		}
		next = d.opts.FaultEvery/2 + time.Duration(br.frng.Int64N(int64(d.opts.FaultEvery)))
		for {
			if len(deck) == 0 {
				deck = append(deck, BridgeFaultKinds...)
				br.frng.Shuffle(len(deck), func(i, j int) { deck[i], deck[j] = deck[j], deck[i] })
			}
			kind := deck[0]
			deck = deck[1:]
			if kind != FaultKillMidCreate {
				d.armProviderFault(kind)
				break
			}
			if variant == 0 || time.Until(trafficEnd) > createdGrace+10*time.Second {
				d.killMidCreate(ctx, reqCtx, wg, variant)
				variant++
				break
			}
		}
	}
}

func (d *driver) armProviderFault(kind string) {
	br := d.br
	prov := br.names[br.frng.IntN(len(br.names))]
	k := bridge.Payin
	if br.frng.IntN(2) == 0 {
		k = bridge.Payout
	}
	n := 1 + br.frng.IntN(2)
	br.sims[prov].arm(kind, k, n)
	d.counted(kind)
	d.logf("fault: %s: %s %s x%d", kind, prov, k, n)
}

// killMidCreate kills the processor while a create call is at the
// provider: the payment is stored (created), the provider is answering
// slowly. Variants rotate: Payfield and Paykassma have created the payment
// when the processor dies, HighHelp never gets it.
func (d *driver) killMidCreate(ctx, reqCtx context.Context, wg *sync.WaitGroup, variant int) {
	d.faultMu.Lock()
	defer d.faultMu.Unlock()
	br := d.br
	prov := []string{"payfield", "highhelp", "paykassma"}[variant%3]
	kind := bridge.Payin
	if br.frng.IntN(2) == 0 {
		kind = bridge.Payout
	}
	reaches := prov != "highhelp"
	// Keep other traffic off this provider so the armed fault is ours.
	br.mu.Lock()
	br.avoid = prov
	br.mu.Unlock()
	defer func() {
		br.mu.Lock()
		br.avoid = ""
		br.mu.Unlock()
	}()
	select {
	case <-ctx.Done():
		return
	case <-time.After(500 * time.Millisecond): // creates already under way finish
	}
	sim := br.sims[prov]
	sim.clear()
	defer sim.clear()
	if reaches {
		sim.arm(FaultProviderTimeout, kind, 1)
	} else {
		sim.arm(FaultProviderSlow, kind, 1)
	}
	p := d.newBridgePay(prov, kind)
	br.mu.Lock()
	p.finalPlan = true
	br.mu.Unlock()
	wg.Add(1)
	go func() {
		defer wg.Done()
		d.bridgeSubmit(reqCtx, p)
	}()
	// Wait until the payment is stored and its create call is at the
	// provider (which, where it does, has created it).
	var seenAt time.Time
	deadline := time.Now().Add(5 * time.Second)
	ready := false
	for time.Now().Before(deadline) && !ready {
		st, err := d.bridgeStatus(ctx, p.ref)
		switch {
		case err != nil || st == "":
		case st != "created":
			deadline = time.Time{} // the call came back first: missed
		case seenAt.IsZero():
			seenAt = time.Now()
		case reaches && sim.attempts(p.ref) > 0, !reaches && time.Since(seenAt) > 300*time.Millisecond:
			ready = true
			continue
		}
		time.Sleep(10 * time.Millisecond)
	}
	if !ready {
		d.note("kill -9 mid-create of %s: the create call was not caught at the provider; not killed", p.ref)
		return
	}
	if err := d.proc.kill9(); err != nil {
		d.note("kill -9 mid-create: %v", err)
		return
	}
	d.counted(FaultKillMidCreate)
	// Stored as created with the call at the provider when it died; a
	// callback may settle it as soon as the processor is back.
	what := "provider never got it"
	if sim.attempts(p.ref) > 0 {
		what = "provider has it"
	}
	br.mu.Lock()
	p.midCreate = what
	br.mu.Unlock()
	time.Sleep(d.trafficDur(0, time.Second))
	if err := d.proc.waitReady(ctx, 60*time.Second); err != nil && ctx.Err() == nil {
		d.note("processor restart after kill -9 mid-create: %v", err)
	}
	d.logf("fault: %s: %s (%s)", FaultKillMidCreate, p.ref, what)
}

// bridgeStatus reads a payment's stored status ("" when there is none).
func (d *driver) bridgeStatus(ctx context.Context, ref string) (string, error) {
	qctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	var st string
	err := d.db.QueryRow(qctx, `SELECT status FROM bridge_payments WHERE reference = $1`, ref).Scan(&st)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("bridge payment %s: %w", ref, err)
	}
	return st, nil
}

// clearProviderFaults removes faults not yet taken (end of traffic).
func (d *driver) clearProviderFaults() {
	for _, s := range d.br.sims {
		s.clear()
	}
}
