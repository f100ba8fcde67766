package app_test

import (
	"context"
	"testing"
	"time"

	"github.com/xssnick/tonutils-go/tlb"

	"github.com/ton-custody/processor/internal/store/storetest"
	"github.com/ton-custody/processor/internal/tonsim"
)

// Liteservers that lag behind the scanner's cursor must not make the
// worker count a confirmed batch's money again. Once the scanner has
// confirmed a batch it is no longer reserved, so a hot wallet balance read
// at a block from before that batch (what a lagging node reports as its
// head) still holds money already paid out: the worker would batch a
// withdrawal the wallet cannot cover, and the chain would skip it
// (failed). Read at a block pinned at or after the cursor, the
// withdrawal waits and a cheaper one behind it goes.
func TestLaggingLiteserversDoNotMakeConfirmedBatchMoneyCountAgain(t *testing.T) {
	t.Parallel()
	n, err := tonsim.Start(context.Background(), emu, emu.Contracts, tonsim.Options{BlockInterval: 100 * time.Millisecond,
		LiteAddr: "127.0.0.1:0", LiteServers: 2})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = n.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	j, err := n.DeployJetton(ctx, "USDT", 6)
	if err != nil {
		t.Fatal(err)
	}
	p := startProcessor(t, n, baseEnv(t, n, j, storetest.NewDBURL(t)))
	funded, err := n.Faucet(ctx, p.app.Wallets.HotWalletAddress(), tlb.MustFromTON("10").Nano(), false, "hot wallet")
	if err != nil {
		t.Fatal(err)
	}
	send := func(q, amount string) any {
		t.Helper()
		return p.ok(p.do("POST", "/v1/withdrawal/send", map[string]string{"user_id": "lag", "query_id": q, "currency": "TON",
			"amount": amount, "destination": dest("lag", len(q), false)}, true))["ID"]
	}
	// Batch 1 pays 6 of the 10 TON; processed means the scanner has
	// confirmed it, so it is no longer reserved.
	p.waitStatus(t, send("q1", "6000000000"), "processed", 60*time.Second)

	// Every node now reports the block of the funding as its head: 10 TON,
	// batch 1 not executed. Blocks stop for a while, so the worker's next
	// step (woken by the requests below) meets the nodes there.
	n.PauseBlocks(3 * time.Second)
	lag := int(n.Chain.Last().ID.SeqNo - funded.MasterSeqno)
	for i := range n.Nodes {
		if err := n.SetLag(i, lag); err != nil {
			t.Fatal(err)
		}
	}
	// 5 TON: more than the ~4 left, less than the stale 10.
	w2 := send("q22", "5000000000")
	w3 := send("q333", "500000000")

	// The worker has decided once the cheap one is batched; the 5 TON
	// one must have been left out of that decision.
	waitFor(t, 60*time.Second, "the 0.5 TON withdrawal batched", func() bool { return p.status(w3)["status"] != "pending" })
	if st := p.status(w2); st["status"] != "pending" {
		t.Fatalf("withdrawal of 5 TON with ~4 TON left is %v, want pending: batch 1's confirmed money was counted again", st["status"])
	}
	var batched int
	if err := p.app.DB.QueryRow(ctx, `SELECT count(*) FROM hot_batch_items i JOIN withdrawals w ON w.id = i.withdrawal_id
		WHERE w.user_id = 'lag' AND w.query_id = 'q22'`).Scan(&batched); err != nil || batched != 0 {
		t.Fatalf("the unaffordable withdrawal is in %d batches (%v), want none", batched, err)
	}
	p.waitStatus(t, w3, "processed", 60*time.Second)
	if st := p.status(w2); st["status"] != "pending" {
		t.Fatalf("withdrawal of 5 TON is %v after the next batch, want pending", st["status"])
	}
}
