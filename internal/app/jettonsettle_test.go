package app_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/xssnick/tonutils-go/address"
	"github.com/xssnick/tonutils-go/tlb"

	"github.com/ton-custody/processor/internal/config"
	"github.com/ton-custody/processor/internal/ledger"
	"github.com/ton-custody/processor/internal/store/storetest"
	"github.com/ton-custody/processor/internal/tonaddr"
	"github.com/ton-custody/processor/internal/withdrawals"
)

// sweepStates lists the deposit's sweeps as "state:reason", oldest first.
func (p *processor) sweepStates(t testing.TB, dep *address.Address) []string {
	t.Helper()
	rows, err := p.app.DB.Query(context.Background(), `SELECT s.state, coalesce(s.fail_reason, '') FROM sweeps s
		JOIN deposit_wallets d ON d.id = s.deposit_wallet_id WHERE d.address = $1 ORDER BY s.id`, dep.Data())
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var st, reason string
		if err := rows.Scan(&st, &reason); err != nil {
			t.Fatal(err)
		}
		out = append(out, st+":"+reason)
	}
	return out
}

// waitFinal waits until withdrawal id is processed or failed.
func (p *processor) waitFinal(t testing.TB, id any, within time.Duration) map[string]any {
	t.Helper()
	var st map[string]any
	deadline := time.Now().Add(within)
	for {
		st = p.status(id)
		if st["status"] == "processed" || st["status"] == "failed" {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("withdrawal %v still %v after %s", id, st["status"], within)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// A jetton withdrawal is paid only when the destination's jetton wallet
// accepts the jettons. A locked wallet (as USDT's admin can lock one)
// bounces the internal_transfer; the jettons return to the hot jetton
// wallet and the withdrawal must fail, not be reported processed.
func TestJettonWithdrawalBouncedByTheDestinationJettonWalletFails(t *testing.T) {
	t.Parallel()
	n, j := newNetwork(t)
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	lockedDest := dest("locked", 1, false)
	locked, _ := tonaddr.Parse(lockedDest, config.Testnet)
	lj, err := n.DeployLockedJetton(ctx, "LOCK", 6, locked)
	if err != nil {
		t.Fatal(err)
	}
	env := baseEnv(t, n, j, storetest.NewDBURL(t))
	env["JETTONS"] += ",LOCK:" + lj.Master.String() + ":1000"
	p := startProcessor(t, n, env)
	p.fundHot(t, "50")
	hot := p.app.Wallets.HotWalletAddress()
	if _, err := n.Mint(ctx, lj.Master, hot, big.NewInt(1_000_000)); err != nil {
		t.Fatal(err)
	}
	hotJW, err := n.JettonWallet(ctx, lj.Master, hot)
	if err != nil {
		t.Fatal(err)
	}
	send := func(q, amount, to string, extra ...string) any {
		body := map[string]string{"user_id": "u", "query_id": q, "currency": "LOCK", "amount": amount, "destination": to}
		for i := 0; i+1 < len(extra); i += 2 {
			body[extra[i]] = extra[i+1]
		}
		return p.ok(p.do("POST", "/v1/withdrawal/send", body, true))["ID"]
	}
	openDest := dest("locked", 2, false)
	paid := send("paid", "1000", openDest, "comment", "paid")
	refused := send("refused", "777", lockedDest)

	pst := p.waitFinal(t, paid, 60*time.Second)
	rst := p.waitFinal(t, refused, 60*time.Second)
	if pst["status"] != "processed" {
		t.Fatalf("withdrawal to an open jetton wallet: %v", pst)
	}
	if rst["status"] != "failed" {
		t.Fatalf("withdrawal whose jettons the destination's jetton wallet bounced is %v (tx %v), want failed", rst["status"], rst["tx_hash"])
	}
	if r := fmt.Sprint(rst["reason"]); !strings.Contains(r, "bounced") || !strings.Contains(r, "exit code 45") {
		t.Fatalf("reason %q, want the bounce and the jetton wallet's exit code", r)
	}
	// The jettons came back: only the paid 1000 left the hot jetton wallet.
	waitFor(t, 20*time.Second, "the bounced jettons back on the hot jetton wallet", func() bool {
		b, err := p.app.Chain.JettonBalance(ctx, hotJW)
		return err == nil && b.Int64() == 1_000_000-1000
	})
	openOwner, _ := tonaddr.Parse(openDest, config.Testnet)
	openJW, err := n.JettonWallet(ctx, lj.Master, openOwner)
	if err != nil {
		t.Fatal(err)
	}
	lockedJW, err := n.JettonWallet(ctx, lj.Master, locked)
	if err != nil {
		t.Fatal(err)
	}
	if b, err := p.app.Chain.JettonBalance(ctx, openJW); err != nil || b.Int64() != 1000 {
		t.Fatalf("open destination holds %v (%v), want 1000", b, err)
	}
	// Events: tx_hash is the transaction that settled the withdrawal, the
	// destination jetton wallet's (accepting or bouncing), and
	// network_fee that transaction's total fees.
	evs := p.events(t, "withdrawal")
	checkEvent(t, "paid", evs[fmt.Sprintf("withdrawal:%v:processed", paid)], map[string]any{
		"id": paid, "user_id": "u", "query_id": "paid", "status": "processed", "currency": "LOCK", "amount": "1000",
		"destination": openDest, "comment": "paid", "tx_hash": pst["tx_hash"], "network_fee": p.txFee(t, openJW, pst["tx_hash"])})
	checkEvent(t, "refused", evs[fmt.Sprintf("withdrawal:%v:failed", refused)], map[string]any{
		"id": refused, "user_id": "u", "query_id": "refused", "status": "failed", "currency": "LOCK", "amount": "777",
		"destination": lockedDest, "tx_hash": rst["tx_hash"], "network_fee": p.txFee(t, lockedJW, rst["tx_hash"]), "reason": rst["reason"]})
	if len(evs) != 2 {
		t.Fatalf("%d withdrawal events, want 2: %v", len(evs), evs)
	}
	// The ledger follows the bounce: the 777 left transit for the hot
	// account again, only the paid 1000 settled the user's liability, and
	// once the funding is booked every wallet reconciles with the chain.
	waitFor(t, 20*time.Second, "the bounced jettons booked back", func() bool {
		return p.ledgerBalance(t, ledger.Transit, "LOCK").Sign() == 0
	})
	if b := p.ledgerBalance(t, ledger.User("u"), "LOCK"); b.Int64() != 1000 {
		t.Fatalf("ledger: user u's LOCK liability %s, want 1000 (paid)", b)
	}
	p.adjust(t, "funding-ton", ledger.Hot, "TON", tlb.MustFromTON("50").Nano())
	p.adjust(t, "funding-lock", ledger.Hot, "LOCK", big.NewInt(1_000_000))
	if rep, err := p.app.Reconciler.Once(ctx); err != nil || len(rep.Differences) != 0 {
		t.Fatalf("reconciliation after a bounced jetton withdrawal: %+v %v", rep, err)
	}
}

// A jetton sweep whose transfer the deposit's jetton wallet refuses (here:
// too little TON attached, exit code 709 of the standard wallet) must fail
// with the reason; a sweep left "sent" would block the deposit for good
// (one open sweep per deposit).
func TestJettonSweepRefusedByTheDepositJettonWalletFails(t *testing.T) {
	t.Parallel()
	n, j := newNetwork(t)
	env := baseEnv(t, n, j, storetest.NewDBURL(t))
	p := startTuned(t, n, env, func(c *withdrawals.WorkerConfig) {
		fast(c)
		c.JettonGas = tlb.MustFromTON("0.02").Nano() // the jetton wallet wants more than 0.03 TON
		c.Sweeps.RetryBackoff = time.Second          // not the default minute after a failed sweep
	})
	p.fundHot(t, "10")
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	_, dep := p.newAddress(t, "ref", "USDT")
	if _, err := n.Mint(ctx, j.Master, dep, big.NewInt(5000)); err != nil {
		t.Fatal(err)
	}
	// Sent, or already past it: a refusal can settle between two polls.
	waitFor(t, 60*time.Second, "the sweep's transfer sent", func() bool {
		s := p.sweepStates(t, dep)
		return len(s) > 0 && (s[0] == "sent:" || strings.HasPrefix(s[0], "failed:"))
	})
	var states []string
	deadline := time.Now().Add(30 * time.Second)
	for {
		states = p.sweepStates(t, dep)
		if states[0] != "sent:" {
			break
		}
		if time.Now().After(deadline) {
			var msg string
			_ = p.app.DB.QueryRow(ctx, `SELECT state || ' out_msg ' || (out_msg_hash IS NOT NULL)::text FROM deposit_wallet_messages`).Scan(&msg)
			t.Fatalf("the refused sweep transfer is still sent after 30 s (sweeps: %v; its message: %s)", states, msg)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if !strings.HasPrefix(states[0], "failed:") || !strings.Contains(states[0], "exit code 709") {
		t.Fatalf("first sweep %q, want failed with the jetton wallet's exit code", states[0])
	}
	// The deposit is not blocked: a new sweep is decided.
	waitFor(t, 30*time.Second, "a new sweep decided", func() bool { return len(p.sweepStates(t, dep)) >= 2 })
	if c := p.count(t, `SELECT count(*) FROM incomes`); c != 1 {
		t.Fatalf("%d incomes, want the one deposit", c)
	}
}

// A jetton sweep whose gas a TON service withdrawal took (the deposit
// wallet sent all its TON, the top-up included, to the hot wallet before
// the sweep's jetton transfer was written) must not wait for that gas
// forever: it fails, and a new sweep with its own top-up moves the jettons.
func TestJettonSweepWhoseGasAServiceWithdrawalTookIsRedone(t *testing.T) {
	t.Parallel()
	n, j := newNetwork(t)
	env := baseEnv(t, n, j, storetest.NewDBURL(t))
	p := startTuned(t, n, env, func(c *withdrawals.WorkerConfig) {
		c.Interval = 300 * time.Millisecond
		// The service withdrawal's message, lost on its first send, is
		// sent again only after the top-up has arrived.
		c.ResendEvery = 20 * time.Second
		c.Sweeps.RetryBackoff = time.Second // not the default minute after a failed sweep
	})
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Second)
	defer cancel()
	depAddr, dep := p.newAddress(t, "gus", "USDT")
	if _, err := n.Faucet(ctx, dep, tlb.MustFromTON("0.05").Nano(), false, "stray TON"); err != nil {
		t.Fatal(err)
	}
	// The hot wallet is empty: the sweep is decided but waits for its gas.
	if _, err := n.Mint(ctx, j.Master, dep, big.NewInt(5000)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "the sweep decided", func() bool { return len(p.sweepStates(t, dep)) == 1 })
	if err := n.Faults.Inject("lose_externals", 4*time.Second, 0); err != nil {
		t.Fatal(err)
	}
	lost := time.Now()
	memo := p.ok(p.do("POST", "/v1/withdrawal/service/ton", map[string]string{"from": depAddr}, true))["memo"].(string)
	waitFor(t, 3*time.Second, "the service withdrawal's message written", func() bool {
		return p.count(t, `SELECT count(*) FROM deposit_wallet_messages`) == 1
	})
	time.Sleep(time.Until(lost.Add(4500 * time.Millisecond)))
	p.fundHot(t, "10")
	waitFor(t, 15*time.Second, "the top-up sent", func() bool {
		return p.count(t, `SELECT count(*) FROM hot_batch_items WHERE kind = 'sweep_topup' AND sent_msg_hash IS NOT NULL`) == 1
	})
	st := p.waitService(t, memo, 60*time.Second)
	amt, _ := new(big.Int).SetString(fmt.Sprint(st["amount"]), 10)
	if amt == nil || amt.Cmp(tlb.MustFromTON("0.1").Nano()) < 0 {
		t.Fatalf("the service withdrawal moved %v; the top-up had not arrived before it, the test did not set the scene", st["amount"])
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		c := p.count(t, `SELECT count(*) FROM sweeps WHERE state = 'confirmed' AND received_amount = 5000`)
		if c == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no sweep moved the jettons 60 s after the service withdrawal took the gas (sweeps: %v)", p.sweepStates(t, dep))
		}
		time.Sleep(200 * time.Millisecond)
	}
	states := p.sweepStates(t, dep)
	if len(states) != 2 || !strings.HasPrefix(states[0], "failed:") || !strings.Contains(states[0], memo) {
		t.Fatalf("sweeps %v, want the first failed naming service withdrawal %s, the second confirmed", states, memo)
	}
}

// A liteserver that lags reports an old seqno of a deposit wallet. The
// message must still be signed with a seqno that can execute: at least
// the last confirmed message's seqno + 1.
func TestLaggingLiteserverDoesNotMakeADepositWalletMessageWithAnOldSeqno(t *testing.T) {
	t.Parallel()
	n, j := newNetwork(t)
	env := baseEnv(t, n, j, storetest.NewDBURL(t))
	p := startTuned(t, n, env, func(c *withdrawals.WorkerConfig) {
		fast(c)
		c.ExpiryMargin = time.Second
		c.Sweeps.MessageTTL = 5 * time.Second
	})
	p.fundHot(t, "10")
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	depAddr, dep := p.newAddress(t, "lea", "USDT")
	if _, err := n.Faucet(ctx, dep, tlb.MustFromTON("1").Nano(), false, "TON before the wallet exists"); err != nil {
		t.Fatal(err)
	}
	before := n.Chain.Last().ID.SeqNo
	if _, err := n.Mint(ctx, j.Master, dep, big.NewInt(5000)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 60*time.Second, "the jetton sweep confirmed (the deposit wallet deployed, seqno 1)", func() bool {
		return p.count(t, `SELECT count(*) FROM sweeps WHERE state = 'confirmed'`) == 1
	})
	// The only liteserver now answers as of a block before the deposit
	// wallet existed.
	if err := n.SetLag(0, int(n.Chain.Last().ID.SeqNo-before)+2); err != nil {
		t.Fatal(err)
	}
	memo := p.ok(p.do("POST", "/v1/withdrawal/service/ton", map[string]string{"from": depAddr}, true))["memo"].(string)
	deadline := time.Now().Add(8 * time.Second)
	for time.Now().Before(deadline) && p.count(t, `SELECT count(*) FROM deposit_wallet_messages`) < 2 {
		time.Sleep(100 * time.Millisecond)
	}
	if err := n.SetLag(0, 0); err != nil {
		t.Fatal(err)
	}
	if old := p.count(t, `SELECT count(*) FROM deposit_wallet_messages WHERE seqno < 1 AND id > (SELECT min(id) FROM deposit_wallet_messages)`); old != 0 {
		t.Fatalf("%d deposit wallet messages signed with seqno 0 after the wallet's message seqno 0 was confirmed", old)
	}
	p.waitService(t, memo, 60*time.Second)
}

// A deposit wallet message whose seqno can never execute (the wallet is
// past it) is dead once its valid_until is behind the scanner's cursor;
// left "sent" it would block the deposit wallet for good (one message in
// flight per wallet).
func TestExpiredDepositWalletMessageWithAPassedSeqnoIsDeclaredDead(t *testing.T) {
	t.Parallel()
	n, j := newNetwork(t)
	env := baseEnv(t, n, j, storetest.NewDBURL(t))
	p := startTuned(t, n, env, func(c *withdrawals.WorkerConfig) {
		fast(c)
		c.ExpiryMargin = time.Second
	})
	p.fundHot(t, "10")
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	depAddr, dep := p.newAddress(t, "exp", "USDT")
	if _, err := n.Faucet(ctx, dep, tlb.MustFromTON("1").Nano(), false, "TON"); err != nil {
		t.Fatal(err)
	}
	if _, err := n.Mint(ctx, j.Master, dep, big.NewInt(5000)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 60*time.Second, "the jetton sweep confirmed (the deposit wallet at seqno 1)", func() bool {
		return p.count(t, `SELECT count(*) FROM sweeps WHERE state = 'confirmed'`) == 1
	})
	// A message signed with seqno 0 (as from a stale seqno read), valid
	// for 2 more seconds: the wallet, at seqno 1, can never execute it.
	var hash [32]byte
	_, _ = rand.Read(hash[:])
	if _, err := p.app.DB.Exec(ctx, `INSERT INTO deposit_wallet_messages (deposit_wallet_id, seqno, valid_until, signed_message, message_hash)
		SELECT d.id, 0, $2, m.signed_message, $3 FROM deposit_wallets d JOIN deposit_wallet_messages m ON m.deposit_wallet_id = d.id
		WHERE d.address = $1`, dep.Data(), time.Now().Unix()+2, hash[:]); err != nil {
		t.Fatal(err)
	}
	memo := p.ok(p.do("POST", "/v1/withdrawal/service/ton", map[string]string{"from": depAddr}, true))["memo"].(string)
	var st map[string]any
	deadline := time.Now().Add(40 * time.Second)
	for {
		st = p.ok(p.do("GET", "/v1/withdrawal/service/status?memo="+memo, nil, true))
		if st["status"] == "processed" {
			break
		}
		if time.Now().After(deadline) {
			var state string
			_ = p.app.DB.QueryRow(ctx, `SELECT state FROM deposit_wallet_messages WHERE message_hash = $1`, hash[:]).Scan(&state)
			t.Fatalf("service withdrawal %v 40 s later; the dead message is %s", st["status"], state)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
