package withdrawals

import (
	"context"
	"fmt"
	"math/big"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/prometheus/client_golang/prometheus"
)

// A governed jetton's admin (USDT's can) moves or burns jettons out of any
// jetton wallet, our deposits' included. The sweep planner then finds
// credited jettons that are neither swept nor in the deposit's jetton
// wallet: it writes the difference off (jetton_writeoffs), logs and counts
// it, and moves the deposit's sweep watermark past those incomes, so that
// the deposit is no sweep candidate for jettons that are gone (with the
// candidates taken in id order, a few such deposits would starve the
// others for ever).

// newGoneCounterIn counts write-offs of jettons gone from deposit jetton
// wallets, by currency, registered in reg (when not nil).
func newGoneCounterIn(reg prometheus.Registerer) *prometheus.CounterVec {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "processor_deposit_jettons_gone_total",
		Help: "Times credited jettons were found gone from a deposit's jetton wallet (moved or burnt by the jetton's admin) and written off, by currency."},
		[]string{"currency"})
	if reg != nil {
		reg.MustRegister(c)
	}
	return c
}

type execQuerier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// jettonsGone is what a jetton deposit lacks at masterchain block seqno,
// where its jetton wallet holds bal: credited (incomes final by seqno) -
// swept (confirmed sweeps) - written off - bal. lastIncome is its newest
// income final by seqno (nil: none), watermark the incomes already settled
// (by confirmed sweeps or write-offs; 0: none). ok is false for deposits
// with imported incomes, whose jettons the books do not fully describe.
func jettonsGone(ctx context.Context, q execQuerier, depositID int64, seqno uint32, bal *big.Int) (gone *big.Int, lastIncome *int64, watermark int64, ok bool, err error) {
	var s string
	var imported bool
	err = q.QueryRow(ctx, `SELECT
		  ((SELECT coalesce(sum(amount), 0) FROM incomes WHERE deposit_wallet_id = $1 AND imported_from IS NULL AND mc_seqno <= $2)
		 - (SELECT coalesce(sum(received_amount), 0) FROM sweeps WHERE deposit_wallet_id = $1 AND state = 'confirmed')
		 - (SELECT coalesce(sum(gone), 0) FROM jetton_writeoffs WHERE deposit_wallet_id = $1) - $3::numeric)::text,
		  (SELECT max(id) FROM incomes WHERE deposit_wallet_id = $1 AND mc_seqno <= $2),
		  EXISTS (SELECT 1 FROM incomes WHERE deposit_wallet_id = $1 AND imported_from IS NOT NULL),
		  greatest(coalesce((SELECT max(last_income_id) FROM sweeps WHERE deposit_wallet_id = $1 AND state = 'confirmed'), 0),
		           coalesce((SELECT max(last_income_id) FROM jetton_writeoffs WHERE deposit_wallet_id = $1), 0))`,
		depositID, int64(seqno), bal.String()).Scan(&s, &lastIncome, &imported, &watermark)
	if err != nil {
		return nil, nil, 0, false, fmt.Errorf("deposit %d jetton books: %w", depositID, err)
	}
	gone, parsed := new(big.Int).SetString(s, 10)
	if !parsed {
		return nil, nil, 0, false, fmt.Errorf("deposit %d jetton books: %q is not a number", depositID, s)
	}
	return gone, lastIncome, watermark, !imported, nil
}

// writeOff records that a deposit's incomes up to lastIncome are settled
// with gone jettons missing (0: nothing missing, the watermark only),
// and logs and counts a positive gone.
func (w *Worker) writeOff(ctx context.Context, q execQuerier, depositID int64, currency string, lastIncome int64, gone, bal *big.Int, seqno uint32, sweepID *int64) error {
	if gone.Sign() < 0 {
		gone = new(big.Int)
	}
	if _, err := q.Exec(ctx, `INSERT INTO jetton_writeoffs (deposit_wallet_id, currency, last_income_id, gone, balance, mc_seqno, sweep_id)
		VALUES ($1, $2, $3, $4::numeric, $5::numeric, $6, $7)`, depositID, currency, lastIncome, gone.String(), bal.String(), int64(seqno), sweepID); err != nil {
		return fmt.Errorf("write off deposit %d jettons: %w", depositID, err)
	}
	if gone.Sign() > 0 {
		w.gone.WithLabelValues(currency).Inc()
		w.log.Warn("credited jettons are gone from a deposit's jetton wallet (moved or burnt by the jetton's admin?); written off",
			"deposit", depositID, "currency", currency, "gone", gone.String(), "balance", bal.String(), "mc_seqno", seqno)
	}
	return nil
}

// planJettonSweep decides what the planner does with a jetton sweep
// candidate whose jetton wallet holds bal at block seqno: write off what
// is gone, and report whether a sweep is still worth deciding (bal above
// threshold). A candidate not worth it has its watermark moved, so it is
// not picked again until new incomes arrive; one worth it keeps its
// watermark (the sweep, once confirmed, moves it), so that a crash before
// the sweep is decided loses nothing: the next step finds nothing more
// gone and decides it.
func (w *Worker) planJettonSweep(ctx context.Context, depositID int64, currency string, seqno uint32, bal, threshold *big.Int) (bool, error) {
	gone, lastIncome, watermark, ok, err := jettonsGone(ctx, w.db, depositID, seqno, bal)
	if err != nil {
		return false, err
	}
	sweep := bal.Cmp(threshold) > 0
	if lastIncome == nil {
		return sweep, nil
	}
	if !ok {
		gone = new(big.Int) // imported books: no verdict, only the watermark
	}
	switch {
	case !sweep:
		err = w.writeOff(ctx, w.db, depositID, currency, max(*lastIncome, watermark), gone, bal, seqno, nil)
	case gone.Sign() > 0:
		err = w.writeOff(ctx, w.db, depositID, currency, watermark, gone, bal, seqno, nil)
	}
	return sweep, err
}

// sweepShortfall writes off what the jetton wallet of a sweep being signed
// lost since the sweep was decided (its amount is the balance then): only
// the jetton's admin takes from it meanwhile (one message per deposit
// wallet is in flight, and it is this sweep's). Earlier write-offs of the
// same sweep count, so signing again after an expiry does not repeat one.
func (w *Worker) sweepShortfall(ctx context.Context, tx pgx.Tx, sweepID int64, bal *big.Int, seqno uint32) error {
	var depositID int64
	var currency, missing string
	var lastIncome *int64
	err := tx.QueryRow(ctx, `SELECT s.deposit_wallet_id, s.currency, s.last_income_id,
		  (s.amount - $2::numeric - (SELECT coalesce(sum(o.gone), 0) FROM jetton_writeoffs o WHERE o.sweep_id = s.id))::text
		FROM sweeps s WHERE s.id = $1`, sweepID, bal.String()).Scan(&depositID, &currency, &lastIncome, &missing)
	if err != nil {
		return fmt.Errorf("sweep %d: %w", sweepID, err)
	}
	gone, ok := new(big.Int).SetString(missing, 10)
	if !ok {
		return fmt.Errorf("sweep %d: %q is not a number", sweepID, missing)
	}
	if gone.Sign() <= 0 || lastIncome == nil {
		return nil
	}
	return w.writeOff(ctx, tx, depositID, currency, *lastIncome, gone, bal, seqno, &sweepID)
}
