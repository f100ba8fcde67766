// Package takeover adopts a running gobicycle/bicycle deployment
// (`processor takeover-bicycle`): it reads bicycle's database (schema
// `payments`) and writes this processor's through the same tables and
// rules the processor uses, so that merchants and users notice nothing:
// the same deposit addresses keep being credited, history, income totals
// and tx_hash lookups go on, withdrawal IDs and (user_id, query_id) keys
// stay, and the scanner continues where bicycle's stopped.
//
// The import runs in stages, each in one transaction of this processor's
// database, each idempotent (run again, it imports nothing twice and
// reports what differs):
//
//	state        bicycle's hot wallet (checked against SEED), its scan
//	             cursor and the cut-over point on the chain, its proxy code
//	addresses    TON and jetton deposit addresses, each re-derived and
//	             checked (a mismatch stops the import)
//	history      deposit history (external_incomes) with tx hashes
//	withdrawals  withdrawal requests with IDs, keys and states; batches
//	             bicycle left in flight are resolved on the chain
//	cursor       the scanner's cursor, so it continues with no gap
//
// A stage with a blocking discrepancy is rolled back and the import
// stops there. A dry run runs every stage in one transaction that is
// rolled back, and prints what would be imported and every discrepancy.
// The import refuses to run while bicycle still writes (see live.go).
package takeover

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/xssnick/tonutils-go/tvm/cell"

	"github.com/ton-custody/processor/internal/config"
	"github.com/ton-custody/processor/internal/store"
	"github.com/ton-custody/processor/internal/wallets"
)

// Stage names, in order.
const (
	StageState       = "state"
	StageAddresses   = "addresses"
	StageHistory     = "history"
	StageWithdrawals = "withdrawals"
	StageCursor      = "cursor"
)

// Options configure Run.
type Options struct {
	// Ours is this processor's database, migrated.
	Ours *pgxpool.Pool
	// Bicycle is bicycle's database (only read).
	Bicycle *pgxpool.Pool
	// Chain reaches the network bicycle ran on.
	Chain Chain
	// Keys are derived from SEED, which must be bicycle's seed: bicycle's
	// key is the mnemonic's standard key, this processor's keys are
	// derived from the same words on other paths.
	Keys *wallets.Keys
	// ProxyCode is bicycle's jetton proxy code (the operator's copy of
	// bicycle's file); needed when bicycle has jetton deposits.
	ProxyCode *cell.Cell
	// ProxyCodeHash is the hash ProxyCode must have; default bicycle's
	// (wallets.BicycleProxyCodeHash). Tests use a stand-in contract.
	ProxyCodeHash string
	// Jettons are this processor's configured jettons (JETTONS).
	Jettons []config.Jetton
	// CountingSide is INCOME_COUNTING_SIDE.
	CountingSide config.CountingSide
	// DryRun imports nothing and reports what would be imported.
	DryRun bool
	// Quiet and Watch tune the live check (CheckLive); defaults
	// DefaultQuiet and DefaultWatch. Watch < 0 means the default, 0 no
	// waiting.
	Quiet, Watch time.Duration
	// ExpiryGrace is how long after a batch's valid_until the chain must
	// be before the batch counts as never executed (bicycle's
	// ALLOWABLE_LAG, default 40 s).
	ExpiryGrace time.Duration
	// Log receives progress; nil discards.
	Log *slog.Logger
}

// Finding is a discrepancy (Blocking) or a note.
type Finding struct {
	Blocking bool
	Text     string
}

// Count is one number a stage reports.
type Count struct {
	What string
	N    int64
}

// StageReport is one stage's outcome.
type StageReport struct {
	Name string
	// Outcome: "imported", "already imported" (committed before; checked
	// again), "would import" (dry run), "stopped" (blocking discrepancy,
	// rolled back), "not run".
	Outcome  string
	Counts   []Count
	Findings []Finding
}

func (s *StageReport) count(what string, n int64) { s.Counts = append(s.Counts, Count{what, n}) }
func (s *StageReport) block(format string, a ...any) {
	s.Findings = append(s.Findings, Finding{Blocking: true, Text: fmt.Sprintf(format, a...)})
}
func (s *StageReport) note(format string, a ...any) {
	s.Findings = append(s.Findings, Finding{Text: fmt.Sprintf(format, a...)})
}

// Blocking reports whether the stage found a blocking discrepancy.
func (s *StageReport) Blocking() bool {
	for _, f := range s.Findings {
		if f.Blocking {
			return true
		}
	}
	return false
}

// Report is what Run did or, in a dry run, would do.
type Report struct {
	DryRun bool
	Live   *Live
	// Locked is false when bicycle's tables could not be locked while
	// read (a read-only role).
	Locked   bool
	Findings []Finding // before the stages (the live check)
	Stages   []*StageReport
}

// Blocking reports whether anything blocks the takeover.
func (r *Report) Blocking() bool {
	for _, f := range r.Findings {
		if f.Blocking {
			return true
		}
	}
	for _, s := range r.Stages {
		if s.Blocking() {
			return true
		}
	}
	return false
}

// Write prints the report for the operator.
func (r *Report) Write(w io.Writer) {
	if r.DryRun {
		fmt.Fprintln(w, "takeover-bicycle: DRY RUN, nothing is written")
	}
	if r.Live != nil {
		age := "never"
		if r.Live.LastBlockAge >= 0 {
			age = r.Live.LastBlockAge.Round(time.Second).String() + " ago"
		}
		fmt.Fprintf(w, "bicycle's scanner last saved a block: %s\n", age)
	}
	for _, f := range r.Findings {
		writeFinding(w, "", f)
	}
	if !r.DryRun && !r.Locked && len(r.Stages) > 0 {
		writeFinding(w, "", Finding{Text: "bicycle's tables could not be locked while read (its role may not UPDATE them): " +
			"only the live check kept bicycle from writing during the import"})
	}
	for _, s := range r.Stages {
		fmt.Fprintf(w, "stage %s: %s\n", s.Name, s.Outcome)
		for _, c := range s.Counts {
			fmt.Fprintf(w, "  %-52s %d\n", c.What, c.N)
		}
		for _, f := range s.Findings {
			writeFinding(w, "  ", f)
		}
	}
	if r.Blocking() {
		fmt.Fprintln(w, "RESULT: blocked (fix the BLOCKING discrepancies and run again)")
	} else if r.DryRun {
		fmt.Fprintln(w, "RESULT: the import would succeed")
	} else {
		fmt.Fprintln(w, "RESULT: imported")
	}
}

func writeFinding(w io.Writer, indent string, f Finding) {
	tag := "note"
	if f.Blocking {
		tag = "BLOCKING"
	}
	fmt.Fprintf(w, "%s%s: %s\n", indent, tag, f.Text)
}

// ErrBlocked: a stage found a blocking discrepancy; the report says which.
var ErrBlocked = errors.New("takeover: stopped by a blocking discrepancy")

type stage struct {
	name string
	fn   func(ctx context.Context, r *run, tx, btx pgx.Tx, sr *StageReport, done bool) error
}

var stages = []stage{
	{StageState, stageState},
	{StageAddresses, stageAddresses},
	{StageHistory, stageHistory},
	{StageWithdrawals, stageWithdrawals},
	{StageCursor, stageCursor},
}

type run struct {
	o       Options
	b       *wallets.Bicycle
	fp      fingerprint
	jettons map[string]config.Jetton
	log     *slog.Logger
}

// Run imports bicycle's deployment (see the package documentation). The
// report is returned also with an error, so it can be printed.
func Run(ctx context.Context, o Options) (*Report, error) {
	if o.Ours == nil || o.Bicycle == nil || o.Chain == nil || o.Keys == nil {
		return nil, errors.New("takeover: needs both databases, the chain and the keys")
	}
	if o.ProxyCodeHash == "" {
		o.ProxyCodeHash = wallets.BicycleProxyCodeHash
	}
	if o.ExpiryGrace <= 0 {
		o.ExpiryGrace = 40 * time.Second
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	rep := &Report{DryRun: o.DryRun}
	b, err := wallets.NewBicycle(o.Keys, o.ProxyCode, o.ProxyCodeHash)
	if err != nil {
		return rep, err
	}
	live, err := CheckLive(ctx, o.Bicycle, o.Quiet, o.Watch)
	if err != nil {
		return rep, err
	}
	rep.Live = live
	if live.Running() {
		rep.Findings = append(rep.Findings, Finding{Blocking: true, Text: "bicycle is running: " + strings.Join(live.Reasons(), "; ") +
			". Stop it (and wait for its last batch to expire) before the import"})
		if !o.DryRun {
			return rep, fmt.Errorf("%w: %s", ErrBicycleRunning, strings.Join(live.Reasons(), "; "))
		}
	}
	for _, s := range live.Sessions {
		rep.Findings = append(rep.Findings, Finding{Text: "another session is connected to bicycle's database: " + s})
	}
	r := &run{o: o, b: b, fp: live.fp, jettons: map[string]config.Jetton{}, log: o.Log}
	for _, j := range o.Jettons {
		r.jettons[j.Symbol] = j
	}
	if o.DryRun {
		return rep, r.dryRun(ctx, rep)
	}
	return rep, r.realRun(ctx, rep)
}

// lockKey serialises takeovers of one database.
var lockKey = store.LockKey("takeover-bicycle")

func (r *run) realRun(ctx context.Context, rep *Report) error {
	stopped := false
	for _, st := range stages {
		sr := &StageReport{Name: st.name}
		rep.Stages = append(rep.Stages, sr)
		if stopped {
			sr.Outcome = "not run"
			continue
		}
		r.log.Info("takeover stage", "stage", st.name)
		err := store.InTx(ctx, r.o.Ours, func(tx pgx.Tx) error {
			sr.Counts, sr.Findings = nil, nil
			if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, lockKey); err != nil {
				return fmt.Errorf("takeover: lock: %w", err)
			}
			var done bool
			if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM bicycle_takeover_stages WHERE stage = $1)`, st.name).Scan(&done); err != nil {
				return fmt.Errorf("takeover: stage state: %w", err)
			}
			locked, err := readBicycle(ctx, r.o.Bicycle, true, func(btx pgx.Tx) error {
				if err := r.checkStill(ctx, btx); err != nil {
					return err
				}
				return st.fn(ctx, r, tx, btx, sr, done)
			})
			rep.Locked = locked
			if err != nil {
				return err
			}
			if sr.Blocking() {
				return ErrBlocked
			}
			if done {
				sr.Outcome = "already imported"
				return nil
			}
			sr.Outcome = "imported"
			return recordStage(ctx, tx, sr)
		})
		switch {
		case errors.Is(err, ErrBlocked):
			sr.Outcome, stopped = "stopped", true
		case err != nil:
			sr.Outcome = "stopped"
			return fmt.Errorf("stage %s: %w", st.name, err)
		}
	}
	if stopped {
		return ErrBlocked
	}
	return nil
}

// dryRun runs every stage in one transaction of ours, each behind a
// savepoint that is kept even when it found a blocking discrepancy (so
// later stages can report theirs), and rolls it all back.
func (r *run) dryRun(ctx context.Context, rep *Report) error {
	tx, err := r.o.Ours.Begin(ctx)
	if err != nil {
		return fmt.Errorf("takeover: %w", err)
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	for _, st := range stages {
		sr := &StageReport{Name: st.name}
		rep.Stages = append(rep.Stages, sr)
		var done bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM bicycle_takeover_stages WHERE stage = $1)`, st.name).Scan(&done); err != nil {
			return fmt.Errorf("takeover: stage state: %w", err)
		}
		sp, err := tx.Begin(ctx)
		if err != nil {
			return fmt.Errorf("takeover: %w", err)
		}
		// Unlocked: a dry run may look at a bicycle that still runs, and
		// must not hold up its writes.
		_, err = readBicycle(ctx, r.o.Bicycle, false, func(btx pgx.Tx) error {
			return st.fn(ctx, r, sp, btx, sr, done)
		})
		if err != nil {
			_ = sp.Rollback(ctx)
			return fmt.Errorf("stage %s: %w", st.name, err)
		}
		if err := sp.Commit(ctx); err != nil {
			return fmt.Errorf("stage %s: %w", st.name, err)
		}
		switch {
		case sr.Blocking():
			sr.Outcome = "would stop here"
		case done:
			sr.Outcome = "already imported"
		default:
			sr.Outcome = "would import"
		}
	}
	if rep.Blocking() {
		return ErrBlocked
	}
	return nil
}

// checkStill compares bicycle's tables, read in the stage's locked
// snapshot, with what the live check saw: a bicycle started in between
// has written since.
func (r *run) checkStill(ctx context.Context, btx pgx.Tx) error {
	now, err := readFingerprint(ctx, btx)
	if err != nil {
		return err
	}
	if d := r.fp.diff(now); len(d) > 0 {
		return fmt.Errorf("%w: its tables changed since the live check (%s)", ErrBicycleRunning, strings.Join(d, ", "))
	}
	return nil
}

func recordStage(ctx context.Context, tx pgx.Tx, sr *StageReport) error {
	summary := map[string]int64{}
	for _, c := range sr.Counts {
		summary[c.What] = c.N
	}
	if _, err := tx.Exec(ctx, `INSERT INTO bicycle_takeover_stages (stage, summary) VALUES ($1, $2)`, sr.Name, summary); err != nil {
		return fmt.Errorf("takeover: record stage %s: %w", sr.Name, err)
	}
	return nil
}
