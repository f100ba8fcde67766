package withdrawals

import (
	"context"
	"fmt"
	"math/big"

	"github.com/jackc/pgx/v5"
	"github.com/xssnick/tonutils-go/address"
)

// The picker reads pending withdrawals a page at a time, the first small
// and each next one larger: a batch cut by size takes a few dozen
// long-comment withdrawals, and reading (and locking) MaxBatch*4 rows for
// each would be waste.
const (
	firstPickPage = 64
	maxPickPage   = 1024
)

// topUpBytes bounds what a gas top-up (a bodiless transfer) adds to the
// external, to leave room for them after the withdrawals.
const topUpBytes = 120

// pickWithdrawals takes pending withdrawals (not awaiting_approval, not of
// a paused currency) in id order into the batch
// budget b: each goes if the batch stays within the external message
// limits and the batch's whole reserve stays within the hot wallet's TON
// (avail["TON"]), and for jettons within that jetton's balance, which it
// takes from avail. One the wallet cannot cover waits without holding
// back the ones behind it; at most MaxBatch*4 are looked at. cut reports
// that the batch stopped full (by count or size), so more may be payable
// at once.
func (w *Worker) pickWithdrawals(ctx context.Context, tx pgx.Tx, avail map[string]*big.Int, b *batchBudget) (picked []pendingRow, cut bool, err error) {
	// Paused currencies are skipped; the shared lock makes a Pause wait
	// for this batch, so no batch written after a pause holds its currency.
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock_shared(`+pauseLockKey+`)`); err != nil {
		return nil, false, fmt.Errorf("lock pauses: %w", err)
	}
	var last int64
	pickPage := firstPickPage
	for scanned := 0; scanned < w.conf.MaxBatch*4; pickPage = min(2*pickPage, maxPickPage) {
		rows, err := tx.Query(ctx, `
			SELECT id, currency, amount::text, destination_workchain, destination_address, bounceable, comment, binary_comment
			FROM withdrawals WHERE state = 'pending' AND id > $1
			AND currency NOT IN (SELECT currency FROM withdrawal_pauses)
			ORDER BY id LIMIT $2 FOR UPDATE SKIP LOCKED`, last, pickPage)
		if err != nil {
			return nil, false, fmt.Errorf("pending withdrawals: %w", err)
		}
		page, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (pendingRow, error) {
			var r pendingRow
			var amount string
			var wc int32
			var dest []byte
			if err := row.Scan(&r.id, &r.currency, &amount, &wc, &dest, &r.bounceable, &r.comment, &r.binary); err != nil {
				return r, err
			}
			r.amount, _ = new(big.Int).SetString(amount, 10)
			r.dest = address.NewAddress(0, byte(wc), dest)
			r.dest.SetBounce(r.bounceable)
			return r, nil
		})
		if err != nil {
			return nil, false, fmt.Errorf("pending withdrawals: %w", err)
		}
		for _, r := range page {
			scanned++
			last = r.id
			if len(picked) >= w.conf.MaxBatch {
				return picked, true, nil
			}
			msg, err := w.message(r)
			if err != nil {
				return nil, false, fmt.Errorf("withdrawal %d: %w", r.id, err)
			}
			it, err := newBatchItem(msg)
			if err != nil {
				return nil, false, fmt.Errorf("withdrawal %d: %w", r.id, err)
			}
			if !b.fits(it) {
				return picked, true, nil
			}
			if r.currency != "TON" {
				if a, ok := avail[r.currency]; !ok || a.Cmp(r.amount) < 0 {
					continue
				}
			}
			if b.reserveWith(&it).Cmp(avail["TON"]) > 0 {
				continue
			}
			if r.currency != "TON" {
				avail[r.currency].Sub(avail[r.currency], r.amount)
			}
			b.add(it)
			r.msg = msg
			picked = append(picked, r)
		}
		if len(page) < pickPage {
			break
		}
	}
	return picked, false, nil
}
