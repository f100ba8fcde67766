package bridge

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"net/http"
	"regexp"
	"sort"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/ton-custody/processor/internal/apierr"
	"github.com/ton-custody/processor/internal/groupcommit"
)

// Errors of the Service beyond the apierr classes.
var (
	// ErrNotImplemented: the provider does not offer the capability
	// (HTTP 501).
	ErrNotImplemented = errors.New("bridge: not implemented by the provider")
	// ErrUnknownReference: no payment of that provider has the reference.
	ErrUnknownReference = apierr.Mark(apierr.ErrNotFound, errors.New("no bridge payment has this reference"))
)

// ServiceOptions tune a Service; zero values take the defaults.
type ServiceOptions struct {
	// PublicURL is the processor's public base URL; callbacks are asked
	// to go to PublicURL + CallbackPath(provider). Empty: no callback URL
	// is sent (the provider's account setting applies).
	PublicURL string
	// RecheckAfter is how long after a change an open payment is polled
	// again by the reconciler (default DefaultReconcileInterval).
	RecheckAfter time.Duration
	// UnknownGiveUp: a created/unknown payment the provider definitely
	// does not know (ErrNotFound) after this long is failed; one without a
	// definite answer by then stays open and is flagged for a person
	// (needs_attention). Default DefaultUnknownGiveUp.
	UnknownGiveUp time.Duration
	// CreatedGrace: a payment still in created this long after its
	// insertion is polled (its create call died with the process); default
	// one minute.
	CreatedGrace time.Duration
	// Logger defaults to slog.Default().
	Logger *slog.Logger
	// Metrics counts rejected callbacks and payments needing attention;
	// default: the Registry's (from Build), else an unregistered set.
	Metrics *Metrics
}

// Service is the bridge: it stores payments before calling providers,
// applies provider results and callbacks under the status model, and
// writes every status change to the webhook outbox. Safe for concurrent use.
type Service struct {
	pool    *pgxpool.Pool
	reg     *Registry
	opts    ServiceOptions
	log     *slog.Logger
	changes *groupcommit.Group[string, change, changeResult]
}

// Status changes that arrive together are applied together (groupcommit):
// at most changeRunners transactions at a time, each of at most
// changeBatch payments, bounded by changeTimeout (it serves many
// callers, so no one caller's context may cancel it).
const (
	changeRunners = 2
	changeBatch   = 64
	changeTimeout = 30 * time.Second
)

// NewService returns a Service on pool for the providers of reg.
func NewService(pool *pgxpool.Pool, reg *Registry, opts ServiceOptions) *Service {
	if opts.RecheckAfter <= 0 {
		opts.RecheckAfter = DefaultReconcileInterval
	}
	if opts.UnknownGiveUp <= 0 {
		opts.UnknownGiveUp = DefaultUnknownGiveUp
	}
	if opts.CreatedGrace <= 0 {
		opts.CreatedGrace = time.Minute
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Metrics == nil && reg != nil {
		opts.Metrics = reg.metrics
	}
	if opts.Metrics == nil {
		opts.Metrics = NewMetrics(nil)
	}
	s := &Service{pool: pool, reg: reg, opts: opts, log: opts.Logger}
	s.changes = &groupcommit.Group[string, change, changeResult]{
		Key: func(c change) string { return c.ref },
		Run: func(cs []change) []changeResult {
			ctx, cancel := context.WithTimeout(context.Background(), changeTimeout)
			defer cancel()
			return applyChanges(ctx, s.pool, cs, s.opts.RecheckAfter, s.reportsReversals)
		},
		MaxBatch: changeBatch, MaxRunning: changeRunners,
	}
	return s
}

// Registry returns the service's providers.
func (s *Service) Registry() *Registry { return s.reg }

// CreateRequest is a payin or payout as the merchant asks for it.
type CreateRequest struct {
	Kind      Kind
	Provider  string
	Reference string
	Amount    *big.Int // minor units, > 0
	Currency  string   // ISO 4217
	Method    string
	Customer  map[string]string
	Extra     map[string]string
}

var (
	referenceRE = regexp.MustCompile(`^[A-Za-z0-9._:-]{1,64}$`)
	currencyRE  = regexp.MustCompile(`^[A-Z]{3}$`)
)

const (
	maxMapEntries = 50
	maxFieldLen   = 1024
)

func (q CreateRequest) validate() error {
	if q.Kind != Payin && q.Kind != Payout {
		return apierr.BadRequest("kind must be payin or payout")
	}
	if !referenceRE.MatchString(q.Reference) {
		return apierr.BadRequest("reference must be 1-64 characters of A-Z a-z 0-9 . _ : -")
	}
	if q.Amount == nil || q.Amount.Sign() <= 0 {
		return apierr.BadRequest("amount must be a positive integer in minor units")
	}
	if !currencyRE.MatchString(q.Currency) {
		return apierr.BadRequest("currency must be an ISO 4217 code such as RUB")
	}
	if len(q.Method) > 64 {
		return apierr.BadRequest("method must be at most 64 characters")
	}
	for name, m := range map[string]map[string]string{"customer": q.Customer, "extra": q.Extra} {
		if len(m) > maxMapEntries {
			return apierr.BadRequest("%s must have at most %d entries", name, maxMapEntries)
		}
		for k, v := range m {
			if k == "" || len(k) > 64 || len(v) > maxFieldLen {
				return apierr.BadRequest("%s keys must be 1-64 characters and values at most %d", name, maxFieldLen)
			}
		}
	}
	return nil
}

// Create stores the payment (status created) and then sends it to its
// provider, once. created is false when the reference already existed
// with the same request: the stored record is returned and the provider
// is not called again; another request under that reference is an
// apierr.ErrConflict error. A provider that refuses gives status
// rejected; a timeout, a 5xx or any other failure after sending gives
// status unknown, which the Reconciler settles by polling (never by
// creating again). An unknown provider is apierr.ErrBadRequest, a
// provider without the capability ErrNotImplemented.
func (s *Service) Create(ctx context.Context, q CreateRequest) (rec Record, created bool, err error) {
	if err := q.validate(); err != nil {
		return Record{}, false, err
	}
	p, ok := s.reg.Get(q.Provider)
	if !ok {
		return Record{}, false, apierr.BadRequest("unknown provider %q (configured: %v)", q.Provider, s.reg.Names())
	}
	var send func(context.Context, Payment) (Result, error)
	switch q.Kind {
	case Payin:
		c, ok := p.(PayinCreator)
		if !ok {
			return Record{}, false, fmt.Errorf("%w: %s does not take payins", ErrNotImplemented, q.Provider)
		}
		send = c.CreatePayin
	case Payout:
		c, ok := p.(PayoutCreator)
		if !ok {
			return Record{}, false, fmt.Errorf("%w: %s does not take payouts", ErrNotImplemented, q.Provider)
		}
		send = c.CreatePayout
	}
	sr := storedRequest{Kind: q.Kind, Provider: q.Provider, Amount: q.Amount.String(), Currency: q.Currency,
		Method: q.Method, Customer: q.Customer, Extra: q.Extra}
	rec, existingHash, inserted, err := insertPayment(ctx, s.pool, q.Reference, sr, q.Amount)
	if err != nil {
		return Record{}, false, err
	}
	if !inserted {
		if !bytes.Equal(existingHash, sr.hash()) {
			return Record{}, false, apierr.Conflict("reference %s was already used for another request", q.Reference)
		}
		return rec, false, nil
	}

	// From here on the outcome must be recorded even if the client goes
	// away: the provider call and the update do not follow ctx's
	// cancellation (the provider client has its own timeout).
	ctx = context.WithoutCancel(ctx)
	pay := Payment{Kind: q.Kind, Reference: q.Reference, Money: Money{Amount: new(big.Int).Set(q.Amount), Currency: q.Currency},
		Method: q.Method, Customer: q.Customer, Extra: q.Extra}
	if s.opts.PublicURL != "" {
		pay.Callback = s.opts.PublicURL + CallbackPath(q.Provider)
	}
	res, err := send(ctx, pay)
	switch {
	case err == nil:
		if res.Status == "" || res.Status == StatusCreated {
			res.Status = StatusSubmitted
		}
	case errors.Is(err, ErrRejected):
		res = Result{Status: StatusRejected, RawStatus: res.RawStatus, Reason: err.Error()}
	default:
		s.log.Warn("bridge: create call outcome unknown; reconciliation will settle it",
			"provider", q.Provider, "reference", q.Reference, "error", err)
		res = Result{Status: StatusUnknown, RawStatus: res.RawStatus, Reason: "outcome of the create call is unknown: " + err.Error()}
	}
	a, err := s.apply(q.Reference, "", res, "create")
	if err != nil {
		return Record{}, false, err
	}
	return a.rec, true, nil
}

// apply is applyBatch on the service's database, grouped with the
// changes that arrive meanwhile (s.changes), with the alert of a recorded
// conflict (after its commit). It takes no context: the transaction is
// shared, and bounded by changeTimeout.
func (s *Service) apply(ref, provider string, res Result, source string) (applied, error) {
	r := s.changes.Do(change{ref: ref, provider: provider, res: res, source: source})
	a, err := r.a, r.err
	if err == nil && a.conflict {
		s.opts.Metrics.attention.WithLabelValues(a.rec.Provider, AttentionConflict).Inc()
		s.log.Error("bridge: provider reported a final status contradicting ours; a person must decide",
			"reference", ref, "provider", a.rec.Provider, "status", a.rec.Status, "reported", res.Status,
			"raw_status", res.RawStatus, "source", source)
	}
	return a, err
}

// reportsReversals reports whether provider's status call can report a
// reversal: only then is polling a succeeded payment of any use.
func (s *Service) reportsReversals(provider string) bool {
	p, ok := s.reg.Get(provider)
	if !ok {
		return false
	}
	rr, ok := p.(ReversalReporter)
	return ok && rr.ReportsReversals()
}

// Get returns the payment with reference ref, or ErrUnknownReference.
func (s *Service) Get(ctx context.Context, ref string) (Record, error) {
	rec, err := scanRecord(s.pool.QueryRow(ctx, `SELECT `+recordCols("p")+` FROM bridge_payments p WHERE p.reference = $1`, ref))
	if err != nil {
		if isNoRows(err) {
			return Record{}, ErrUnknownReference
		}
		return Record{}, fmt.Errorf("bridge: get payment %s: %w", ref, err)
	}
	return rec, nil
}

// ProviderBalance is one balance of one provider.
type ProviderBalance struct {
	Provider string
	Balance
}

// ProviderError is a provider that could not answer.
type ProviderError struct {
	Provider string
	Err      error
}

// Balances asks every provider with a BalanceGetter (or only those named)
// concurrently. Providers that fail are listed in errs rather than failing
// the call.
func (s *Service) Balances(ctx context.Context, only ...string) (bals []ProviderBalance, errs []ProviderError) {
	var mu sync.Mutex
	var wg sync.WaitGroup
	names := only
	if len(names) == 0 {
		names = s.reg.Names()
	}
	for _, n := range names {
		p, ok := s.reg.Get(n)
		if !ok {
			errs = append(errs, ProviderError{Provider: n, Err: errors.New("provider not configured")})
			continue
		}
		bg, ok := p.(BalanceGetter)
		if !ok {
			if len(only) > 0 {
				errs = append(errs, ProviderError{Provider: n, Err: ErrNotImplemented})
			}
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			b, err := bg.Balances(ctx)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				s.log.Warn("bridge: balance call failed", "provider", n, "error", err)
				errs = append(errs, ProviderError{Provider: n, Err: err})
				return
			}
			for _, x := range b {
				bals = append(bals, ProviderBalance{Provider: n, Balance: x})
			}
		}()
	}
	wg.Wait()
	sort.SliceStable(bals, func(i, j int) bool {
		if bals[i].Provider != bals[j].Provider {
			return bals[i].Provider < bals[j].Provider
		}
		return bals[i].Currency < bals[j].Currency
	})
	sort.Slice(errs, func(i, j int) bool { return errs[i].Provider < errs[j].Provider })
	return bals, errs
}

// ProviderBank is a bank or method of one provider.
type ProviderBank struct {
	Provider string
	Bank
}

// Banks lists the banks/methods of provider, or of every provider with a
// BankLister when provider is "". A named provider without the capability
// is ErrNotImplemented; an unknown one apierr.ErrBadRequest.
func (s *Service) Banks(ctx context.Context, provider string) ([]ProviderBank, error) {
	names := s.reg.Names()
	if provider != "" {
		p, ok := s.reg.Get(provider)
		if !ok {
			return nil, apierr.BadRequest("unknown provider %q (configured: %v)", provider, s.reg.Names())
		}
		if _, ok := p.(BankLister); !ok {
			return nil, fmt.Errorf("%w: %s does not list banks", ErrNotImplemented, provider)
		}
		names = []string{provider}
	}
	var out []ProviderBank
	for _, n := range names {
		p, _ := s.reg.Get(n)
		bl, ok := p.(BankLister)
		if !ok {
			continue
		}
		banks, err := bl.Banks(ctx)
		if err != nil {
			return nil, fmt.Errorf("bridge: banks of %s: %w", n, err)
		}
		for _, b := range banks {
			out = append(out, ProviderBank{Provider: n, Bank: b})
		}
	}
	return out, nil
}

// CallbackOutcome is what HandleCallback did.
type CallbackOutcome struct {
	Callback Callback
	Record   Record
	Changed  bool
	// Conflict: the callback's final status contradicted the payment's
	// and was recorded (Record.Conflicts) for a person to decide.
	Conflict bool
}

// Reasons of processor_bridge_callbacks_rejected_total beyond those a
// provider gives with RejectCallback.
const (
	RejectInvalid          = "invalid"           // signature, freshness or shape, without a finer reason
	RejectUnknownReference = "unknown_reference" // verified, but no payment of that provider has the reference
)

// HandleCallback verifies a provider callback (raw body) with the
// provider's CallbackParser and applies it: once, whatever the number of
// duplicates, and never backwards. A forged, stale or malformed callback
// is an error wrapping ErrBadCallback and changes nothing; so is a
// reference that does not belong to the provider (ErrUnknownReference).
func (s *Service) HandleCallback(ctx context.Context, provider string, r *http.Request, body []byte) (CallbackOutcome, error) {
	p, ok := s.reg.Get(provider)
	if !ok {
		return CallbackOutcome{}, apierr.NotFound("unknown provider %q", provider)
	}
	cp, ok := p.(CallbackParser)
	if !ok {
		return CallbackOutcome{}, fmt.Errorf("%w: %s sends no callbacks", ErrNotImplemented, provider)
	}
	cb, err := cp.ParseCallback(r, body)
	if err != nil {
		if !errors.Is(err, ErrBadCallback) {
			err = fmt.Errorf("%w: %w", ErrBadCallback, err)
		}
		reason := RejectInvalid
		if ce := (*CallbackError)(nil); errors.As(err, &ce) && ce.Reason != "" {
			reason = ce.Reason
		}
		s.opts.Metrics.rejected.WithLabelValues(provider, reason).Inc()
		return CallbackOutcome{}, err
	}
	out := CallbackOutcome{Callback: cb}
	if cb.Informative {
		out.Record, err = s.Get(ctx, cb.Reference)
	} else {
		var a applied
		a, err = s.apply(cb.Reference, provider, cb.Result, "callback")
		out.Record, out.Changed, out.Conflict = a.rec, a.changed, a.conflict
	}
	if errors.Is(err, ErrUnknownReference) {
		s.opts.Metrics.rejected.WithLabelValues(provider, RejectUnknownReference).Inc()
	}
	return out, err
}
