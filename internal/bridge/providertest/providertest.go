// Package providertest is the behavioural contract every bridge provider
// driver must meet, run against the driver and its simulator (one suite,
// every backend). A provider package's simulator plugs in through a
// Harness; Run checks, each case on a fresh simulator:
//
//   - capabilities: the provider declares exactly what it implements;
//   - create: payins and payouts are accepted and not final yet;
//   - status of an accepted but unsettled payment, including one whose
//     create call timed out after the provider took it, is never
//     bridge.ErrNotFound (the reconciler would fail a payment the
//     provider may still pay);
//   - status of a reference the provider never saw is bridge.ErrNotFound,
//     or bridge.ErrNoDefiniteAnswer for a provider whose API cannot tell
//     that apart from a pending payment (Harness.DefiniteNotFound);
//   - settled payments: status and callback report the final outcome;
//   - callbacks: a genuine one parses; the same signed callback moved onto
//     another reference, and callbacks validly signed for another account
//     (another merchant, kassa or shop), are refused with
//     bridge.ErrBadCallback;
//   - balances, and the error mapping of 5xx answers and timeouts
//     (bridge.ErrOutcomeUnknown for create calls, never ErrNotFound for
//     status calls) and of refusals (bridge.ErrRejected).
package providertest

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/ton-custody/processor/internal/bridge"
)

// Op is a provider call a fault is injected into.
type Op string

// Ops.
const (
	OpCreate  Op = "create"
	OpStatus  Op = "status"
	OpBalance Op = "balance"
)

// Fault is how an injected call fails (once).
type Fault int

// Faults.
const (
	// Fault5xx answers a 5xx without doing anything.
	Fault5xx Fault = iota + 1
	// FaultAcceptHang does the work (the payment exists at the provider)
	// and never answers: the client times out.
	FaultAcceptHang
)

// ErrUnsupported is what Env.Settle returns for an outcome the provider
// does not have (e.g. a Paykassma deposit never fails, it only succeeds).
var ErrUnsupported = errors.New("providertest: the provider has no such outcome")

// Delivery is a callback as it reached the receiver.
type Delivery struct {
	URL    *url.URL
	Header http.Header
	Body   []byte
}

// Request rebuilds the HTTP request of d (body left to the caller, as
// bridge.CallbackParser takes it separately).
func (d Delivery) Request() *http.Request {
	r := httptest.NewRequest(http.MethodPost, d.URL.String(), bytes.NewReader(d.Body))
	for k, v := range d.Header {
		r.Header[k] = append([]string(nil), v...)
	}
	return r
}

// Harness plugs one provider driver and its simulator into the suite.
type Harness struct {
	// Name is the driver's name (bridge.DriverNames).
	Name string
	// Capabilities the provider must declare, as bridge.Capabilities
	// lists them.
	Capabilities []string
	// DefiniteNotFound: the status call can say "no such payment" for a
	// reference the provider never saw. False for a provider whose API
	// cannot tell that from a payment still in progress: it must answer
	// bridge.ErrNoDefiniteAnswer for both.
	DefiniteNotFound bool
	// Start starts a fresh simulator whose callbacks go to callbackURL and
	// returns the provider built by its bridge.Driver against it, with a
	// client timeout of at most a second (the timeout cases wait for it).
	Start func(t *testing.T, callbackURL string) *Env
}

// Env is one started simulator and its provider.
type Env struct {
	Provider bridge.Provider
	// Payment returns a request of kind the simulator accepts (several
	// fit in its balance); Callback is set by the suite.
	Payment func(kind bridge.Kind, ref string) bridge.Payment
	// Oversized returns a payout over the simulator's balance.
	Oversized func(ref string) bridge.Payment
	// Balance is one balance the provider must report at the start.
	Balance bridge.Balance
	// Settle ends a payment at the simulator (success or failure) and
	// sends its callback; ErrUnsupported when there is no such outcome.
	Settle func(kind bridge.Kind, ref string, success bool) error
	// Inject makes the next call op (of kind, for create and status) fail.
	Inject func(op Op, kind bridge.Kind, f Fault)
	// Foreign returns callbacks for the same payment as genuine (a
	// delivered, verified callback) validly signed with the provider's
	// callback credentials but for another account, by name.
	Foreign func(t *testing.T, genuine Delivery) map[string]Delivery
}

// Run runs the suite against h.
func Run(t *testing.T, h Harness) {
	t.Helper()
	cases := []struct {
		name string
		fn   func(*testing.T, *suite)
	}{
		{"Capabilities", testCapabilities},
		{"CreateIsAcceptedNotFinal", testCreate},
		{"StatusOfAcceptedUnsettledIsNeverNotFound", testStatusUnsettled},
		{"StatusOfTimedOutCreateIsNeverNotFound", testStatusAfterTimeout},
		{"StatusOfNeverSeenReference", testStatusNeverSeen},
		{"SettledPaymentStatusAndCallback", testSettled},
		{"CallbacksVerifiedAndBoundToOurAccount", testCallbacks},
		{"Balances", testBalances},
		{"ErrorMapping", testErrors},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			c.fn(t, start(t, h))
		})
	}
}

type suite struct {
	h    Harness
	env  *Env
	sink *sink
}

func start(t *testing.T, h Harness) *suite {
	t.Helper()
	k := &sink{}
	srv := httptest.NewServer(k)
	t.Cleanup(srv.Close)
	k.url = srv.URL + "/cb"
	env := h.Start(t, k.url)
	k.set(env.Provider)
	return &suite{h: h, env: env, sink: k}
}

func (s *suite) kinds() []bridge.Kind {
	var out []bridge.Kind
	if _, ok := s.env.Provider.(bridge.PayinCreator); ok {
		out = append(out, bridge.Payin)
	}
	if _, ok := s.env.Provider.(bridge.PayoutCreator); ok {
		out = append(out, bridge.Payout)
	}
	return out
}

func (s *suite) payment(kind bridge.Kind, ref string) bridge.Payment {
	p := s.env.Payment(kind, ref)
	p.Kind, p.Reference = kind, ref
	if p.Callback == "" {
		p.Callback = s.sink.url
	}
	return p
}

func (s *suite) create(ctx context.Context, p bridge.Payment) (bridge.Result, error) {
	if p.Kind == bridge.Payout {
		return s.env.Provider.(bridge.PayoutCreator).CreatePayout(ctx, p)
	}
	return s.env.Provider.(bridge.PayinCreator).CreatePayin(ctx, p)
}

func (s *suite) mustCreate(t *testing.T, kind bridge.Kind, ref string) bridge.Result {
	t.Helper()
	res, err := s.create(context.Background(), s.payment(kind, ref))
	if err != nil {
		t.Fatalf("create %s %s: %v", kind, ref, err)
	}
	return res
}

func (s *suite) status(t *testing.T) bridge.StatusGetter {
	t.Helper()
	sg, ok := s.env.Provider.(bridge.StatusGetter)
	if !ok {
		t.Skip("the provider has no status call")
	}
	return sg
}

func open(st bridge.Status) bool {
	switch st {
	case bridge.StatusSubmitted, bridge.StatusActionRequired, bridge.StatusProcessing, bridge.StatusUnderReview:
		return true
	}
	return false
}

func testCapabilities(t *testing.T, s *suite) {
	got := bridge.Capabilities(s.env.Provider)
	if !slices.Equal(got, s.h.Capabilities) {
		t.Fatalf("capabilities %v, want %v", got, s.h.Capabilities)
	}
	if s.env.Provider.Name() != s.h.Name {
		t.Fatalf("name %q, want %q", s.env.Provider.Name(), s.h.Name)
	}
	if bl, ok := s.env.Provider.(bridge.BankLister); ok {
		if banks, err := bl.Banks(context.Background()); err != nil || len(banks) == 0 {
			t.Fatalf("banks: %v %v", banks, err)
		}
	}
}

func testCreate(t *testing.T, s *suite) {
	for _, kind := range s.kinds() {
		res := s.mustCreate(t, kind, "ct-new-"+string(kind))
		if !open(res.Status) {
			t.Errorf("create %s: status %q, want an open status (submitted, action_required, processing, under_review)", kind, res.Status)
		}
	}
}

// checkNotFoundNever asks for the status of ref, accepted by the provider
// and not settled: an open result, or (for providers that cannot tell)
// ErrNoDefiniteAnswer; never ErrNotFound, never a final status.
func checkNeverNotFound(t *testing.T, sg bridge.StatusGetter, kind bridge.Kind, ref string) {
	t.Helper()
	res, err := sg.Status(context.Background(), kind, ref)
	switch {
	case errors.Is(err, bridge.ErrNotFound):
		t.Errorf("status of accepted, unsettled %s %s is ErrNotFound (%v): the reconciler would fail a payment the provider may still pay", kind, ref, err)
	case errors.Is(err, bridge.ErrNoDefiniteAnswer):
	case err != nil:
		t.Errorf("status of %s %s: %v", kind, ref, err)
	case !open(res.Status):
		t.Errorf("status of unsettled %s %s: %q, want an open status", kind, ref, res.Status)
	}
}

func testStatusUnsettled(t *testing.T, s *suite) {
	sg := s.status(t)
	for _, kind := range s.kinds() {
		ref := "ct-open-" + string(kind)
		s.mustCreate(t, kind, ref)
		checkNeverNotFound(t, sg, kind, ref)
	}
}

func testStatusAfterTimeout(t *testing.T, s *suite) {
	sg := s.status(t)
	for _, kind := range s.kinds() {
		ref := "ct-hang-" + string(kind)
		s.env.Inject(OpCreate, kind, FaultAcceptHang)
		_, err := s.create(context.Background(), s.payment(kind, ref))
		if !errors.Is(err, bridge.ErrOutcomeUnknown) {
			t.Errorf("create %s that timed out after the provider took it: %v, want ErrOutcomeUnknown", kind, err)
		}
		checkNeverNotFound(t, sg, kind, ref)
	}
}

func testStatusNeverSeen(t *testing.T, s *suite) {
	sg := s.status(t)
	for _, kind := range s.kinds() {
		res, err := sg.Status(context.Background(), kind, "ct-never-seen-"+string(kind))
		want := bridge.ErrNotFound
		if !s.h.DefiniteNotFound {
			want = bridge.ErrNoDefiniteAnswer
		}
		if !errors.Is(err, want) {
			t.Errorf("status of a %s the provider never saw: %+v %v, want %v", kind, res, err, want)
		}
		if !s.h.DefiniteNotFound && errors.Is(err, bridge.ErrNotFound) {
			t.Errorf("status of a %s: ErrNotFound from a provider that cannot tell a pending payment from an unknown one", kind)
		}
	}
}

func testSettled(t *testing.T, s *suite) {
	sg, hasStatus := s.env.Provider.(bridge.StatusGetter)
	_, hasCallbacks := s.env.Provider.(bridge.CallbackParser)
	for _, kind := range s.kinds() {
		for _, success := range []bool{true, false} {
			want := bridge.StatusFailed
			if success {
				want = bridge.StatusSucceeded
			}
			ref := "ct-" + string(kind) + "-" + string(want)
			s.mustCreate(t, kind, ref)
			if err := s.env.Settle(kind, ref, success); errors.Is(err, ErrUnsupported) {
				continue
			} else if err != nil {
				t.Fatalf("settle %s %s: %v", kind, ref, err)
			}
			if hasStatus {
				res, err := sg.Status(context.Background(), kind, ref)
				if err != nil || res.Status != want {
					t.Errorf("status of %s %s after settling: %+v %v, want %s", kind, ref, res, err, want)
				}
			}
			if hasCallbacks {
				cb, _ := s.sink.await(t, ref, want)
				if cb.Informative {
					t.Errorf("final callback of %s marked informative", ref)
				}
			}
		}
	}
}

func testCallbacks(t *testing.T, s *suite) {
	cp, ok := s.env.Provider.(bridge.CallbackParser)
	if !ok {
		t.Skip("the provider sends no callbacks")
	}
	kinds := s.kinds()
	if len(kinds) == 0 {
		t.Skip("the provider creates nothing")
	}
	for _, kind := range kinds {
		a, b := "ct-cb-a-"+string(kind), "ct-cb-b-"+string(kind)
		s.mustCreate(t, kind, a)
		s.mustCreate(t, kind, b)
		if err := s.env.Settle(kind, a, true); err != nil {
			t.Fatalf("settle %s: %v", a, err)
		}
		_, genuine := s.sink.await(t, a, bridge.StatusSucceeded)
		if cb, err := cp.ParseCallback(genuine.Request(), genuine.Body); err != nil || cb.Reference != a {
			t.Fatalf("genuine callback again: %+v %v", cb, err)
		}
		// The signed callback of a moved onto b, another payment of ours.
		moved := genuine
		moved.Body = bytes.ReplaceAll(genuine.Body, []byte(a), []byte(b))
		if cb, err := cp.ParseCallback(moved.Request(), moved.Body); !errors.Is(err, bridge.ErrBadCallback) {
			t.Errorf("%s: callback of %s moved onto %s: %+v %v, want ErrBadCallback", kind, a, b, cb, err)
		}
		if s.env.Foreign == nil {
			continue
		}
		for name, d := range s.env.Foreign(t, genuine) {
			if cb, err := cp.ParseCallback(d.Request(), d.Body); !errors.Is(err, bridge.ErrBadCallback) {
				t.Errorf("%s: callback signed for another account (%s) accepted: %+v %v, want ErrBadCallback", kind, name, cb, err)
			}
		}
	}
}

func testBalances(t *testing.T, s *suite) {
	bg, ok := s.env.Provider.(bridge.BalanceGetter)
	if !ok {
		t.Skip("the provider reports no balances")
	}
	bals, err := bg.Balances(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := s.env.Balance
	i := slices.IndexFunc(bals, func(b bridge.Balance) bool { return b.Currency == want.Currency })
	if i < 0 {
		t.Fatalf("balances %+v lack %s", bals, want.Currency)
	}
	if got := bals[i]; got.Available == nil || got.Available.Cmp(want.Available) != 0 || got.Total == nil || got.Total.Sign() < 0 {
		t.Fatalf("balance %+v, want available %s", got, want.Available)
	}
	s.env.Inject(OpBalance, "", Fault5xx)
	if bals, err := bg.Balances(context.Background()); err == nil {
		t.Fatalf("balances from a 5xx answer: %+v", bals)
	}
}

func testErrors(t *testing.T, s *suite) {
	ctx := context.Background()
	for _, kind := range s.kinds() {
		ref := "ct-5xx-" + string(kind)
		s.env.Inject(OpCreate, kind, Fault5xx)
		if _, err := s.create(ctx, s.payment(kind, ref)); !errors.Is(err, bridge.ErrOutcomeUnknown) || errors.Is(err, bridge.ErrRejected) {
			t.Errorf("create %s answered 5xx: %v, want ErrOutcomeUnknown only", kind, err)
		}
	}
	if _, ok := s.env.Provider.(bridge.PayoutCreator); ok && s.env.Oversized != nil {
		p := s.env.Oversized("ct-too-big")
		p.Kind, p.Reference, p.Callback = bridge.Payout, "ct-too-big", s.sink.url
		if _, err := s.create(ctx, p); !errors.Is(err, bridge.ErrRejected) || errors.Is(err, bridge.ErrOutcomeUnknown) {
			t.Errorf("payout over the balance: %v, want ErrRejected", err)
		}
	}
	sg, ok := s.env.Provider.(bridge.StatusGetter)
	if !ok {
		return
	}
	for _, kind := range s.kinds() {
		ref := "ct-st-" + string(kind)
		s.mustCreate(t, kind, ref)
		for _, f := range []Fault{Fault5xx, FaultAcceptHang} {
			s.env.Inject(OpStatus, kind, f)
			res, err := sg.Status(ctx, kind, ref)
			if err == nil {
				t.Errorf("status of %s with fault %d: a result %+v from a failed call", ref, f, res)
			}
			if errors.Is(err, bridge.ErrNotFound) {
				t.Errorf("status of %s with fault %d: ErrNotFound (%v) from a failed call", ref, f, err)
			}
		}
	}
}

// sink receives callbacks, parses them with the provider and answers as
// the bridge would (the provider's reply, or 400).
type sink struct {
	url string

	mu   sync.Mutex
	p    bridge.Provider
	seen []seen
}

type seen struct {
	d   Delivery
	cb  bridge.Callback
	err error
}

func (k *sink) set(p bridge.Provider) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.p = p
}

func (k *sink) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, bridge.MaxCallbackBytes))
	if err != nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	d := Delivery{URL: r.URL, Header: r.Header.Clone(), Body: body}
	k.mu.Lock()
	p := k.p
	k.mu.Unlock()
	cp, ok := p.(bridge.CallbackParser)
	if !ok {
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	cb, err := cp.ParseCallback(d.Request(), body)
	k.mu.Lock()
	k.seen = append(k.seen, seen{d: d, cb: cb, err: err})
	k.mu.Unlock()
	if err != nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	if len(cb.Reply) > 0 {
		w.Header().Set("Content-Type", cb.ReplyType)
		_, _ = w.Write(cb.Reply)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = io.WriteString(w, `{"status":"ok"}`)
}

// await waits for a verified callback of ref with status want.
func (k *sink) await(t *testing.T, ref string, want bridge.Status) (bridge.Callback, Delivery) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		k.mu.Lock()
		var rejected []error
		for _, s := range k.seen {
			if s.err == nil && s.cb.Reference == ref && s.cb.Result.Status == want {
				k.mu.Unlock()
				return s.cb, s.d
			}
			if s.err != nil {
				rejected = append(rejected, s.err)
			}
		}
		k.mu.Unlock()
		if time.Now().After(deadline) {
			t.Fatalf("no verified callback of %s with status %s (rejected: %v)", ref, want, rejected)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
