package bridge

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Reconciler settles open payments by polling their providers' status:
// payments whose create call's outcome is unknown, payments left in
// created by a crash, and open payments whose callbacks may have been
// lost. It also watches succeeded payments of providers whose status call
// reports reversals (ReversalReporter) for ReversalWatch after their
// success: a refund or chargeback is otherwise learned only through a
// callback, which may be lost, and the merchant would believe the money
// arrived. It never creates a payment again, and never fails one for lack
// of news (see settle). Several reconcilers may run on one database: a
// payment is claimed with FOR UPDATE SKIP LOCKED and a lease before its
// provider is asked.
type Reconciler struct {
	// Service is the bridge. Required.
	Service *Service
	// Interval between passes (default DefaultReconcileInterval); each
	// pass handles every due payment, Batch at a time.
	Interval time.Duration
	// Batch is the number of payments claimed per query (default 100).
	Batch int
	// MaxBackoff caps the wait between polls of one payment that does not
	// change (default 30 minutes).
	MaxBackoff time.Duration
	// ReversalWatch is how long after its success a payment is polled
	// for a reversal (default DefaultReversalWatch; negative: never).
	ReversalWatch time.Duration
	// ReversalMaxBackoff caps the growing wait between the polls of a
	// watched succeeded payment (default DefaultReversalMaxBackoff), so
	// a provider is not asked about every payment of the last days all
	// the time.
	ReversalMaxBackoff time.Duration
}

// Run reconciles until ctx ends; it returns nil then. Errors of one pass
// are logged and the next pass runs.
func (r *Reconciler) Run(ctx context.Context) error {
	if r.Service == nil {
		return errors.New("bridge: reconciler without a service")
	}
	interval := r.Interval
	if interval <= 0 {
		interval = DefaultReconcileInterval
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if _, err := r.RunOnce(ctx); err != nil && ctx.Err() == nil {
			r.Service.log.Error("bridge: reconciliation pass failed", "error", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

type due struct {
	ref       string
	kind      Kind
	provider  string
	status    Status
	checks    int
	createdAt time.Time
	watched   bool // a succeeded payment polled for a reversal
}

// RunOnce polls every payment due now and returns how many changed status.
func (r *Reconciler) RunOnce(ctx context.Context) (changed int, err error) {
	batch := r.Batch
	if batch <= 0 {
		batch = 100
	}
	// Open payments first: they are what merchants wait for.
	for _, claim := range []func(context.Context, int) ([]due, error){r.claim, r.claimWatched} {
		for {
			items, err := claim(ctx, batch)
			if err != nil {
				return changed, err
			}
			for _, it := range items {
				ok, err := r.settle(ctx, it)
				if err != nil {
					r.Service.log.Warn("bridge: reconcile payment", "reference", it.ref, "provider", it.provider, "error", err)
				}
				if ok {
					changed++
				}
			}
			if ctx.Err() != nil {
				return changed, ctx.Err()
			}
			if len(items) < batch {
				break
			}
		}
	}
	return changed, nil
}

// claim takes due open payments and pushes their next check forward by
// the backoff, so a crashed reconciler's payments come back later and two
// reconcilers never poll the same payment at once.
func (r *Reconciler) claim(ctx context.Context, n int) ([]due, error) {
	s := r.Service
	rows, err := s.pool.Query(ctx, `UPDATE bridge_payments p SET checks = p.checks + 1,
		next_check_at = now() + least($2::bigint * power(2, least(p.checks, 10)), $3::bigint) * interval '1 millisecond'
		FROM (SELECT id FROM bridge_payments
		      WHERE status NOT IN ('succeeded', 'failed', 'canceled', 'expired', 'reversed', 'rejected')
		        AND next_check_at <= now()
		      ORDER BY next_check_at LIMIT $1 FOR UPDATE SKIP LOCKED) d
		WHERE p.id = d.id
		RETURNING p.reference, p.kind, p.provider, p.status, p.checks, p.created_at`,
		n, r.interval().Milliseconds(), r.maxBackoff().Milliseconds())
	if err != nil {
		return nil, fmt.Errorf("bridge: claim payments to reconcile: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (due, error) {
		var d due
		err := row.Scan(&d.ref, &d.kind, &d.provider, &d.status, &d.checks, &d.createdAt)
		return d, err
	})
	if err != nil {
		return nil, fmt.Errorf("bridge: claim payments to reconcile: %w", err)
	}
	return out, nil
}

// claimWatched takes due succeeded payments under reversal watch and
// pushes their next poll forward by a growing wait (capped by
// ReversalMaxBackoff, never past the watch's end, so the last poll comes
// when the watch ends). A payment claimed at or past the end of its watch
// leaves the watch (reversal_watch_from = NULL): this is its last poll,
// whatever it answers, so polls are bounded.
func (r *Reconciler) claimWatched(ctx context.Context, n int) ([]due, error) {
	rows, err := r.Service.pool.Query(ctx, `UPDATE bridge_payments p SET checks = p.checks + 1,
		next_check_at = least(now() + least($2::bigint * power(2, least(p.checks + 1, 20)), $3::bigint) * interval '1 millisecond',
			p.reversal_watch_from + $4::bigint * interval '1 millisecond'),
		reversal_watch_from = CASE WHEN p.reversal_watch_from + $4::bigint * interval '1 millisecond' > now()
			THEN p.reversal_watch_from END
		FROM (SELECT id FROM bridge_payments
		      WHERE status = 'succeeded' AND reversal_watch_from IS NOT NULL AND next_check_at <= now()
		      ORDER BY next_check_at LIMIT $1 FOR UPDATE SKIP LOCKED) d
		WHERE p.id = d.id
		RETURNING p.reference, p.kind, p.provider, p.status, p.checks, p.created_at`,
		n, r.interval().Milliseconds(), r.reversalMaxBackoff().Milliseconds(), max(r.reversalWatch(), 0).Milliseconds())
	if err != nil {
		return nil, fmt.Errorf("bridge: claim succeeded payments to watch: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (due, error) {
		d := due{watched: true}
		err := row.Scan(&d.ref, &d.kind, &d.provider, &d.status, &d.checks, &d.createdAt)
		return d, err
	})
	if err != nil {
		return nil, fmt.Errorf("bridge: claim succeeded payments to watch: %w", err)
	}
	return out, nil
}

// reversalWatch is ReversalWatch with its default; negative: no watch.
func (r *Reconciler) reversalWatch() time.Duration {
	if r.ReversalWatch == 0 {
		return DefaultReversalWatch
	}
	return r.ReversalWatch
}

func (r *Reconciler) reversalMaxBackoff() time.Duration {
	if r.ReversalMaxBackoff > 0 {
		return r.ReversalMaxBackoff
	}
	return DefaultReversalMaxBackoff
}

// endWatch takes a succeeded payment out of the reversal watch.
func (s *Service) endWatch(ctx context.Context, ref string) error {
	if _, err := s.pool.Exec(ctx, `UPDATE bridge_payments SET reversal_watch_from = NULL WHERE reference = $1`, ref); err != nil {
		return fmt.Errorf("bridge: end the reversal watch of %s: %w", ref, err)
	}
	return nil
}

func (r *Reconciler) interval() time.Duration {
	if r.Interval > 0 {
		return r.Interval
	}
	return DefaultReconcileInterval
}

func (r *Reconciler) maxBackoff() time.Duration {
	if r.MaxBackoff > 0 {
		return r.MaxBackoff
	}
	return 30 * time.Minute
}

// settle asks d's provider and applies a definite answer. Only a final
// status, or the provider's definite "no such payment" (ErrNotFound) past
// UnknownGiveUp, may end an unknown payment; anything else (no definite
// answer, a failing status call, no status call at all) keeps it open,
// and past UnknownGiveUp flags it for a person.
func (r *Reconciler) settle(ctx context.Context, d due) (bool, error) {
	s := r.Service
	if d.watched {
		if r.reversalWatch() < 0 {
			return false, nil // watch off: the claim just ended it
		}
		if _, ok := s.reg.Get(d.provider); ok && !s.reportsReversals(d.provider) {
			// Asking would never tell a reversal (a payment watched by
			// migration 0016's backfill). An unconfigured provider keeps
			// its watch: it may be back before the watch ends.
			return false, s.endWatch(ctx, d.ref)
		}
	}
	age := time.Since(d.createdAt)
	if d.status == StatusCreated && age < s.opts.CreatedGrace {
		return false, nil // its create call is probably still running
	}
	unknown := d.status == StatusUnknown || d.status == StatusCreated
	givenUp := unknown && age >= s.opts.UnknownGiveUp
	res, err := r.ask(ctx, d)
	switch {
	case err == nil:
	case errors.Is(err, ErrNotFound) && givenUp:
		res = Result{Status: StatusFailed, RawStatus: "not_found",
			Reason: fmt.Sprintf("the provider says it has no such payment %s after its creation", age.Round(time.Second))}
	case givenUp:
		return false, s.flagAttention(ctx, d, age, err)
	case errors.Is(err, ErrNotFound), errors.Is(err, ErrNoDefiniteAnswer):
		return false, nil // not yet at the provider, or no news: ask again later
	default:
		return false, err
	}
	a, err := s.apply(d.ref, d.provider, res, "reconcile")
	if a.changed {
		s.log.Info("bridge: reconciled payment", "reference", d.ref, "provider", d.provider, "from", d.status, "to", res.Status)
	}
	return a.changed, err
}

// ask asks d's provider for its status.
func (r *Reconciler) ask(ctx context.Context, d due) (Result, error) {
	p, ok := r.Service.reg.Get(d.provider)
	if !ok {
		return Result{}, fmt.Errorf("provider %s is not configured", d.provider)
	}
	sg, ok := p.(StatusGetter)
	if !ok {
		return Result{}, fmt.Errorf("%w: %s has no status call; waiting for callbacks", ErrNotImplemented, d.provider)
	}
	return sg.Status(ctx, d.kind, d.ref)
}

// flagAttention notes, once, that the unknown payment d got no definite
// answer by UnknownGiveUp (cause: what the last ask said): it stays open
// (the provider may still pay it), a person must decide, and the
// reconciler keeps asking.
func (s *Service) flagAttention(ctx context.Context, d due, age time.Duration, cause error) error {
	note := fmt.Sprintf("no definite answer from %s %s after creation (last: %v): it may still be paid; check with the provider and settle it by hand",
		d.provider, age.Round(time.Second), cause)
	tag, err := s.pool.Exec(ctx, `UPDATE bridge_payments SET attention = $2
		WHERE reference = $1 AND attention = '' AND status IN ('created', 'unknown')`, d.ref, note)
	if err != nil {
		return fmt.Errorf("bridge: flag payment %s for attention: %w", d.ref, err)
	}
	if tag.RowsAffected() == 0 {
		s.log.Warn("bridge: unknown payment still without a definite answer; flagged for a person",
			"reference", d.ref, "provider", d.provider, "age", age.Round(time.Second), "error", cause)
		return nil
	}
	s.opts.Metrics.attention.WithLabelValues(d.provider, AttentionNoAnswer).Inc()
	s.log.Error("bridge: unknown payment past the give-up time without a definite answer; a person must decide",
		"reference", d.ref, "provider", d.provider, "status", d.status, "age", age.Round(time.Second), "error", cause)
	return nil
}

// ReconcilerFor returns a Reconciler for s with the configured interval.
func ReconcilerFor(s *Service, cfg *Config) *Reconciler {
	r := &Reconciler{Service: s}
	if cfg != nil {
		r.Interval = cfg.ReconcileInterval
		r.ReversalWatch = cfg.ReversalWatch
	}
	return r
}
