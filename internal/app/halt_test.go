package app_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/xssnick/tonutils-go/address"

	"github.com/ton-custody/processor/internal/config"
	"github.com/ton-custody/processor/internal/store/storetest"
	"github.com/ton-custody/processor/internal/tonaddr"
	"github.com/ton-custody/processor/internal/tonsim/liteserver"
	"github.com/ton-custody/processor/internal/withdrawals"
)

// A batch that was declared expired (its withdrawals returned to pending
// and batched again) but then executes means expiry rested on wrong chain
// data: the second batch would pay the same withdrawals twice. The
// scanner records it, the worker stops everything (no re-send of the
// second batch, no new batches, no expiry) with a CRITICAL log line and
// the processor_withdrawals_halted gauge, until resumed by a person.
func TestExpiredBatchSeenExecutingStopsTheWithdrawalWorker(t *testing.T) {
	t.Parallel()
	n, j := newNetwork(t)
	env := baseEnv(t, n, j, storetest.NewDBURL(t))
	env["WITHDRAWAL_BATCH_INTERVAL"] = "300ms"
	p, logs := startLogged(t, n, env)
	p.fundHot(t, "10")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	// Sends reach the liteserver but never the chain.
	if err := n.Faults.Inject(liteserver.FaultLoseExternals, 5*time.Minute, 0); err != nil {
		t.Fatal(err)
	}
	id := p.ok(p.do("POST", "/v1/withdrawal/send", map[string]any{"user_id": "u", "query_id": "halt-1", "currency": "TON",
		"amount": "100000000", "destination": dest("halt", 1, false)}, true))["ID"]
	var first int64
	var boc []byte
	waitFor(t, 30*time.Second, "the first batch", func() bool {
		return p.app.DB.QueryRow(ctx, `SELECT id, signed_message FROM hot_batches ORDER BY id LIMIT 1`).Scan(&first, &boc) == nil
	})
	// A wrong expiry decision, made as the worker's expire makes it.
	if _, err := p.app.DB.Exec(ctx, `UPDATE hot_batches SET state = 'expired' WHERE id = $1`, first); err != nil {
		t.Fatal(err)
	}
	if _, err := p.app.DB.Exec(ctx, `UPDATE withdrawals SET state = 'pending', batch_id = NULL WHERE batch_id = $1`, first); err != nil {
		t.Fatal(err)
	}
	var second int64
	waitFor(t, 30*time.Second, "the withdrawal batched again", func() bool {
		return p.app.DB.QueryRow(ctx, `SELECT batch_id FROM withdrawals WHERE id = $1 AND state = 'processing'`, id).Scan(&second) == nil
	})
	// The first batch's signed bytes reach the chain after all.
	if err := n.Chain.SendExternal(ctx, boc); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 60*time.Second, "the halt", func() bool {
		return p.count(t, `SELECT count(*) FROM withdrawal_halts WHERE cleared_at IS NULL AND batch_id = $1`, first) == 1
	})
	waitFor(t, 10*time.Second, "processor_withdrawals_halted 1", func() bool {
		return haltedGauge(t, p) == 1
	})
	if len(logs.lines(t, "CRITICAL: a withdrawal batch declared expired executed on chain; the withdrawal worker is stopped until "+
		"`processor resume-withdrawals` (check each listed withdrawal for a double payment first)")) != 1 {
		t.Fatal("no CRITICAL log line for the executed expired batch")
	}
	// The network works again; the second batch must not be re-sent.
	n.ClearFaults()
	time.Sleep(8 * time.Second) // more than ResendEvery (5s)
	var state string
	if err := p.app.DB.QueryRow(ctx, `SELECT state FROM hot_batches WHERE id = $1`, second).Scan(&state); err != nil || state != "sent" {
		t.Fatalf("second batch %d: %q %v, want still sent (never executed)", second, state, err)
	}
	if b, _, err := p.app.Chain.AccountState(ctx, destAddr(t, dest("halt", 1, false))); err != nil || b.Cmp(newBig(100000000)) > 0 {
		t.Fatalf("destination holds %v (%v): paid more than once", b, err)
	}

	// A person checked; withdrawals run again.
	reasons, err := withdrawals.Resume(ctx, p.app.DB, "test: checked")
	if err != nil || len(reasons) != 1 || !strings.Contains(reasons[0], "declared expired but executed") {
		t.Fatalf("resume: %v %v", reasons, err)
	}
	waitFor(t, 10*time.Second, "processor_withdrawals_halted 0", func() bool { return haltedGauge(t, p) == 0 })
}

func haltedGauge(t *testing.T, p *processor) float64 {
	t.Helper()
	mfs, err := p.app.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "processor_withdrawals_halted" {
			return mf.GetMetric()[0].GetGauge().GetValue()
		}
	}
	return -1
}

func destAddr(t *testing.T, s string) *address.Address {
	t.Helper()
	a, err := tonaddr.Parse(s, config.Testnet)
	if err != nil {
		t.Fatal(err)
	}
	return a
}
