package soak

import (
	"context"
	"encoding/hex"
	"fmt"
	"math/big"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/ton-custody/processor/internal/ledger"
	"github.com/ton-custody/processor/internal/store"
)

// reconcileEvery is the processor's LEDGER_RECONCILE_INTERVAL in the soak:
// the final check waits for a report made after the drain.
const reconcileEvery = 5 * time.Second

// bookFunding books TON or jettons the driver moved into the hot wallet
// from outside (the faucet), as an operator does with ledger-adjust:
// without it reconciliation reports the funding as a difference. The
// database may be restarting (a fault): it is retried for a minute.
func (d *driver) bookFunding(ctx context.Context, ref, currency string, amount *big.Int) {
	deadline := time.Now().Add(time.Minute)
	for {
		err := store.InTx(ctx, d.db, func(tx pgx.Tx) error {
			_, err := ledger.Adjust(ctx, tx, ref, ledger.Hot, currency, amount)
			return err
		})
		if err == nil {
			return
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			d.violation("could not book the hot wallet funding %s (%s %s) in the ledger: %v", ref, amount, currency, err)
			return
		}
		time.Sleep(time.Second)
	}
}

// fundingRef names a faucet transfer's booking.
func fundingRef(txHash []byte) string { return "soak-funding-" + hex.EncodeToString(txHash) }

// checkLedger checks, after the drain, that the ledger balances to zero
// per currency and that every wallet the processor controls reconciles
// with the chain: the processor's reconciliation, made after since, reports
// no difference above dust.
func (d *driver) checkLedger(ctx context.Context, since time.Time) error {
	rows, err := d.db.Query(ctx, `SELECT currency, sum(amount)::text FROM ledger_entries GROUP BY currency ORDER BY currency`)
	if err != nil {
		return fmt.Errorf("ledger sums: %w", err)
	}
	for rows.Next() {
		var cur, sum string
		if err := rows.Scan(&cur, &sum); err != nil {
			rows.Close()
			return fmt.Errorf("ledger sums: %w", err)
		}
		d.res.LedgerCurrencies++
		if sum != "0" {
			d.violation("the ledger's %s entries sum to %s, not 0", cur, sum)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("ledger sums: %w", err)
	}
	deadline := time.Now().Add(reconcileEvery*6 + 30*time.Second)
	for {
		status, body, raw, err := d.api.do(ctx, "GET", "/v1/reconciliation", nil)
		if err == nil && status == 200 {
			at, _ := time.Parse(time.RFC3339Nano, fmt.Sprint(body["checked_at"]))
			if at.After(since) {
				diffs, _ := body["differences"].([]any)
				accounts, _ := body["accounts"].(float64)
				d.res.LedgerWalletsReconciled = int(accounts) - len(diffs)
				for _, x := range diffs {
					d.violation("reconciliation after the drain: ledger and chain differ: %v", x)
				}
				return nil
			}
		}
		if time.Now().After(deadline) {
			d.violation("no reconciliation report after the drain (last answer %d %s %v)", status, raw, err)
			return nil
		}
		time.Sleep(time.Second)
	}
}
