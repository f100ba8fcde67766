package app_test

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"sync"
	"testing"
	"time"

	"github.com/xssnick/tonutils-go/address"
	"github.com/xssnick/tonutils-go/tlb"

	"github.com/ton-custody/processor/internal/config"
	"github.com/ton-custody/processor/internal/store/storetest"
	"github.com/ton-custody/processor/internal/tonaddr"
	"github.com/ton-custody/processor/internal/withdrawals"
)

func fast(c *withdrawals.WorkerConfig) {
	c.Interval = 300 * time.Millisecond
	c.ResendEvery = time.Second
}

func (p *processor) newAddress(t testing.TB, user, currency string) (string, *address.Address) {
	t.Helper()
	a := p.ok(p.do("POST", "/v1/address/new", map[string]string{"user_id": user, "currency": currency}, true))["address"].(string)
	addr, err := tonaddr.Parse(a, config.Testnet)
	if err != nil {
		t.Fatal(err)
	}
	return a, addr
}

func (p *processor) count(t testing.TB, q string, args ...any) int {
	t.Helper()
	var n int
	if err := p.app.DB.QueryRow(context.Background(), q, args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// incomeOf is a user's /v1/income total for one deposit address.
func (p *processor) incomeOf(t testing.TB, user string) (side, amount string) {
	t.Helper()
	inc := p.ok(p.do("GET", "/v1/income?user_id="+user, nil, true))
	list, _ := inc["total_income"].([]any)
	if len(list) != 1 {
		t.Fatalf("/v1/income: %v", inc)
	}
	return fmt.Sprint(inc["counting_side"]), fmt.Sprint(list[0].(map[string]any)["amount"])
}

// gainMatches: the hot wallet gained what the sweep says reached it, less
// the hot wallet's own storage and receive fees (a few nanoton).
func gainMatches(gain, received *big.Int) bool {
	d := new(big.Int).Sub(received, gain)
	return d.Sign() >= 0 && d.Cmp(big.NewInt(1_000_000)) < 0
}

func (p *processor) hotTON(t testing.TB) *big.Int {
	t.Helper()
	b, _, err := p.app.Chain.AccountState(context.Background(), p.app.Wallets.HotWalletAddress())
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func (p *processor) waitService(t testing.TB, memo string, within time.Duration) map[string]any {
	t.Helper()
	var st map[string]any
	waitFor(t, within, "service withdrawal "+memo+" settled", func() bool {
		st = p.ok(p.do("GET", "/v1/withdrawal/service/status?memo="+memo, nil, true))
		return st["status"] == "processed" || st["status"] == "failed"
	})
	if st["status"] != "processed" || st["tx_hash"] == "" || st["tx_hash"] == nil {
		t.Fatalf("service withdrawal %s: %v", memo, st)
	}
	return st
}

// checkTONSwept waits for the deposit's sweep and checks that it happened
// once: the deposit is emptied, one sweep and one message confirmed, the
// income counted on the hot wallet side, the arrival not a deposit.
func checkTONSwept(t *testing.T, p *processor, user string, dep *address.Address, hotBefore *big.Int, sent *big.Int) {
	t.Helper()
	waitFor(t, 60*time.Second, "sweep confirmed", func() bool {
		return p.count(t, `SELECT count(*) FROM sweeps WHERE state = 'confirmed'`) == 1
	})
	var received string
	if err := p.app.DB.QueryRow(context.Background(), `SELECT received_amount::text FROM sweeps WHERE state = 'confirmed'`).Scan(&received); err != nil {
		t.Fatal(err)
	}
	got, _ := new(big.Int).SetString(received, 10)
	// What reached the hot wallet: the deposit less the deposit wallet's
	// deployment and forwarding fees (well under 0.05 TON).
	if got.Cmp(sent) >= 0 || new(big.Int).Sub(sent, got).Cmp(tlb.MustFromTON("0.05").Nano()) > 0 {
		t.Fatalf("received_amount %s for a deposit of %s", got, sent)
	}
	bal, status, err := p.app.Chain.AccountState(context.Background(), dep)
	if err != nil {
		t.Fatal(err)
	}
	if bal.Sign() != 0 || status != "active" {
		t.Fatalf("deposit after the sweep: %s %s, want emptied and still active (mode 128, not destroyed)", bal, status)
	}
	if gain := new(big.Int).Sub(p.hotTON(t), hotBefore); !gainMatches(gain, got) {
		t.Fatalf("hot wallet gained %s, the sweep says %s", gain, got)
	}
	if n := p.count(t, `SELECT count(*) FROM deposit_wallet_messages WHERE state = 'confirmed'`); n != 1 {
		t.Fatalf("%d confirmed deposit wallet messages, want 1", n)
	}
	// The message written before the crash is the one that executed
	// (re-sent byte for byte), not a second signature.
	if n := p.count(t, `SELECT count(*) FROM deposit_wallet_messages`); n != 1 {
		t.Fatalf("%d deposit wallet messages, want 1", n)
	}
	if n := p.count(t, `SELECT count(*) FROM incomes`); n != 1 {
		t.Fatalf("%d incomes, want only the user's deposit (the sweep is not a deposit)", n)
	}
	if side, amt := p.incomeOf(t, user); side != "hot_wallet" || amt != received {
		t.Fatalf("/v1/income: %s %s, want hot_wallet %s", side, amt, received)
	}
	// Nothing else happens afterwards: no second sweep of an empty deposit.
	time.Sleep(2 * time.Second)
	if n := p.count(t, `SELECT count(*) FROM sweeps`); n != 1 {
		t.Fatalf("%d sweeps, want 1", n)
	}
}

func TestTONDepositAboveThresholdIsSweptToTheHotWallet(t *testing.T) {
	t.Parallel()
	n, j := newNetwork(t)
	env := baseEnv(t, n, j, storetest.NewDBURL(t))
	env["TON_SWEEP_THRESHOLD"] = "1000000000"
	env["INCOME_COUNTING_SIDE"] = "hot_wallet"
	p := startTuned(t, n, env, fast)
	p.fundHot(t, "10")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	_, dep := p.newAddress(t, "sam", "TON")
	// Below the threshold: stays.
	if _, err := n.Faucet(ctx, dep, tlb.MustFromTON("0.5").Nano(), false, "small"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Second)
	if c := p.count(t, `SELECT count(*) FROM sweeps`); c != 0 {
		t.Fatalf("%d sweeps below the threshold", c)
	}
	hotBefore := p.hotTON(t)
	if _, err := n.Faucet(ctx, dep, tlb.MustFromTON("2").Nano(), false, "big"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "two incomes", func() bool { return p.count(t, `SELECT count(*) FROM incomes`) == 2 })
	// checkTONSwept expects one income: count both here, then compare.
	waitFor(t, 60*time.Second, "sweep confirmed", func() bool {
		return p.count(t, `SELECT count(*) FROM sweeps WHERE state = 'confirmed'`) == 1
	})
	var received string
	if err := p.app.DB.QueryRow(ctx, `SELECT received_amount::text FROM sweeps WHERE state = 'confirmed'`).Scan(&received); err != nil {
		t.Fatal(err)
	}
	got, _ := new(big.Int).SetString(received, 10)
	if got.Cmp(tlb.MustFromTON("2.45").Nano()) < 0 || got.Cmp(tlb.MustFromTON("2.5").Nano()) >= 0 {
		t.Fatalf("received %s of 2.5 TON deposited", got)
	}
	if gain := new(big.Int).Sub(p.hotTON(t), hotBefore); !gainMatches(gain, got) {
		t.Fatalf("hot wallet gained %s, the sweep says %s", gain, got)
	}
	if bal, st, err := p.app.Chain.AccountState(ctx, dep); err != nil || bal.Sign() != 0 || st != "active" {
		t.Fatalf("deposit after the sweep: %v %v %v, want emptied and still active", bal, st, err)
	}
	if side, amt := p.incomeOf(t, "sam"); side != "hot_wallet" || amt != received {
		t.Fatalf("/v1/income: %s %s, want hot_wallet %s", side, amt, received)
	}
	// The sweep's signed message, sent again after a new deposit (our own
	// re-send racing the scanner, or anyone's replay within valid_until),
	// must not move the new funds: the wallet kept its seqno. (With mode
	// 128+32 the wallet was destroyed, its seqno went back to 0, and this
	// message executed again.)
	var first []byte
	if err := p.app.DB.QueryRow(ctx, `SELECT m.signed_message FROM sweeps s JOIN deposit_wallet_messages m ON m.id = s.wallet_message_id
		WHERE s.state = 'confirmed'`).Scan(&first); err != nil {
		t.Fatal(err)
	}
	if _, err := n.Faucet(ctx, dep, tlb.MustFromTON("0.5").Nano(), false, "below the threshold"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "the 0.5 TON deposit", func() bool { return p.count(t, `SELECT count(*) FROM incomes`) == 3 })
	_ = n.Chain.SendExternal(ctx, first) // refused or not executed: either is right
	time.Sleep(2 * time.Second)
	if bal, _, err := p.app.Chain.AccountState(ctx, dep); err != nil || bal.Cmp(tlb.MustFromTON("0.49").Nano()) < 0 {
		t.Fatalf("deposit after replaying the first sweep's message: %v %v, want the 0.5 TON still there", bal, err)
	}
	// The next deposit is swept again by a new message (seqno 1).
	hotBefore = p.hotTON(t)
	if _, err := n.Faucet(ctx, dep, tlb.MustFromTON("3").Nano(), false, "again"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 60*time.Second, "second sweep confirmed", func() bool {
		return p.count(t, `SELECT count(*) FROM sweeps WHERE state = 'confirmed'`) == 2
	})
	if n := p.count(t, `SELECT count(*) FROM incomes`); n != 4 {
		t.Fatalf("%d incomes, want the 4 user deposits (sweeps are not deposits)", n)
	}
	if gain := new(big.Int).Sub(p.hotTON(t), hotBefore); gain.Cmp(tlb.MustFromTON("3.45").Nano()) < 0 {
		t.Fatalf("hot wallet gained %s from the second sweep", gain)
	}
}

func TestCrashAroundTheSweepMessageSweepsOnce(t *testing.T) {
	t.Parallel()
	for _, point := range []string{"deposit-before-commit", "deposit-written"} {
		t.Run(point, func(t *testing.T) {
			t.Parallel()
			n, j := newNetwork(t)
			env := baseEnv(t, n, j, storetest.NewDBURL(t))
			env["TON_SWEEP_THRESHOLD"] = "1000000000"
			env["INCOME_COUNTING_SIDE"] = "hot_wallet"
			var mu sync.Mutex
			crashed := false
			p := startTuned(t, n, env, func(c *withdrawals.WorkerConfig) {
				fast(c)
				c.FaultHook = func(at string) error {
					mu.Lock()
					defer mu.Unlock()
					if at == point && !crashed {
						crashed = true
						return errors.New("injected crash at " + at)
					}
					return nil
				}
			})
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			_, dep := p.newAddress(t, "cara", "TON")
			hotBefore := p.hotTON(t)
			sent := tlb.MustFromTON("4").Nano()
			if _, err := n.Faucet(ctx, dep, sent, false, "deposit"); err != nil {
				t.Fatal(err)
			}
			waitFor(t, 30*time.Second, "the crash", func() bool { mu.Lock(); defer mu.Unlock(); return crashed })
			p.stop()
			p2 := startTuned(t, n, env, fast)
			msgs := p2.count(t, `SELECT count(*) FROM deposit_wallet_messages`)
			if point == "deposit-before-commit" && msgs > 1 {
				t.Fatalf("%d messages after a crash before commit", msgs)
			}
			checkTONSwept(t, p2, "cara", dep, hotBefore, sent)
		})
	}
}

func TestJettonDepositIsSweptWithGasFromTheHotWallet(t *testing.T) {
	t.Parallel()
	n, j := newNetwork(t)
	env := baseEnv(t, n, j, storetest.NewDBURL(t)) // USDT threshold 1000
	env["INCOME_COUNTING_SIDE"] = "hot_wallet"
	p := startTuned(t, n, env, fast)
	p.fundHot(t, "10")
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	_, dep := p.newAddress(t, "jay", "USDT")
	hotJW, err := n.JettonWallet(ctx, j.Master, p.app.Wallets.HotWalletAddress())
	if err != nil {
		t.Fatal(err)
	}
	before, err := p.app.Chain.JettonBalance(ctx, hotJW)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := n.Mint(ctx, j.Master, dep, big.NewInt(5000)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 60*time.Second, "jetton sweep confirmed", func() bool {
		return p.count(t, `SELECT count(*) FROM sweeps WHERE state = 'confirmed' AND currency = 'USDT' AND received_amount = 5000`) == 1
	})
	after, err := p.app.Chain.JettonBalance(ctx, hotJW)
	if err != nil {
		t.Fatal(err)
	}
	if d := new(big.Int).Sub(after, before); d.Int64() != 5000 {
		t.Fatalf("hot jetton wallet grew by %s, want 5000", d)
	}
	if c := p.count(t, `SELECT count(*) FROM hot_batch_items WHERE kind = 'sweep_topup'`); c != 1 {
		t.Fatalf("%d top-ups, want 1", c)
	}
	if c := p.count(t, `SELECT count(*) FROM incomes`); c != 1 {
		t.Fatalf("%d incomes: the top-up or the sweep was credited as a deposit", c)
	}
	if side, amt := p.incomeOf(t, "jay"); side != "hot_wallet" || amt != "5000" {
		t.Fatalf("/v1/income: %s %s, want hot_wallet 5000", side, amt)
	}
}

func TestServiceWithdrawalsTONAndJettonAreProcessed(t *testing.T) {
	t.Parallel()
	n, j := newNetwork(t)
	env := baseEnv(t, n, j, storetest.NewDBURL(t))
	env["TON_SWEEP_THRESHOLD"] = "100000000000" // no automatic TON sweeps in this test
	p := startTuned(t, n, env, fast)
	p.fundHot(t, "10")
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()

	// TON from a jetton deposit address.
	jetAddr, jetDep := p.newAddress(t, "ops", "USDT")
	if _, err := n.Faucet(ctx, jetDep, tlb.MustFromTON("1.5").Nano(), false, "stray TON"); err != nil {
		t.Fatal(err)
	}
	hotBefore := p.hotTON(t)
	memo := p.ok(p.do("POST", "/v1/withdrawal/service/ton", map[string]string{"from": jetAddr}, true))["memo"].(string)
	st := p.waitService(t, memo, 60*time.Second)
	amt, _ := new(big.Int).SetString(fmt.Sprint(st["amount"]), 10)
	if amt == nil || amt.Cmp(tlb.MustFromTON("1.45").Nano()) < 0 {
		t.Fatalf("service TON moved %v", st["amount"])
	}
	if gain := new(big.Int).Sub(p.hotTON(t), hotBefore); !gainMatches(gain, amt) {
		t.Fatalf("hot wallet gained %s, service withdrawal says %s", gain, amt)
	}

	// USDT held by a TON deposit address.
	tonAddr, tonDep := p.newAddress(t, "ops", "TON")
	if _, err := n.Mint(ctx, j.Master, tonDep, big.NewInt(777)); err != nil {
		t.Fatal(err)
	}
	hotJW, err := n.JettonWallet(ctx, j.Master, p.app.Wallets.HotWalletAddress())
	if err != nil {
		t.Fatal(err)
	}
	before, _ := p.app.Chain.JettonBalance(ctx, hotJW)
	memo2 := p.ok(p.do("POST", "/v1/withdrawal/service/jetton", map[string]string{"owner": tonAddr,
		"jetton_master": tonaddr.Format(j.Master, config.Testnet, true)}, true))["memo"].(string)
	st = p.waitService(t, memo2, 60*time.Second)
	if fmt.Sprint(st["amount"]) != "777" {
		t.Fatalf("service jetton: %v", st)
	}
	after, _ := p.app.Chain.JettonBalance(ctx, hotJW)
	if d := new(big.Int).Sub(after, before); d.Int64() != 777 {
		t.Fatalf("hot jetton wallet grew by %s, want 777", d)
	}

	// TON held by a TON deposit address below the sweep threshold (100 TON
	// here): never swept automatically, taken out on request.
	if _, err := n.Faucet(ctx, tonDep, tlb.MustFromTON("0.7").Nano(), false, "below the threshold"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "the 0.7 TON income", func() bool {
		return p.count(t, `SELECT count(*) FROM incomes i JOIN deposit_wallets d ON d.id = i.deposit_wallet_id WHERE d.currency = 'TON' AND i.amount = 700000000`) == 1
	})
	hotBefore = p.hotTON(t)
	memo3 := p.ok(p.do("POST", "/v1/withdrawal/service/ton", map[string]string{"from": tonAddr}, true))["memo"].(string)
	st = p.waitService(t, memo3, 60*time.Second)
	amt, _ = new(big.Int).SetString(fmt.Sprint(st["amount"]), 10)
	if amt == nil || amt.Cmp(tlb.MustFromTON("0.65").Nano()) < 0 {
		t.Fatalf("service TON from a TON deposit moved %v", st["amount"])
	}
	if gain := new(big.Int).Sub(p.hotTON(t), hotBefore); !gainMatches(gain, amt) {
		t.Fatalf("hot wallet gained %s, service withdrawal says %s", gain, amt)
	}
	if bal, _, err := p.app.Chain.AccountState(ctx, tonDep); err != nil || bal.Sign() != 0 {
		t.Fatalf("TON deposit after its service withdrawal: %v %v", bal, err)
	}
	if c := p.count(t, `SELECT count(*) FROM outbox WHERE topic = 'service_withdrawal'`); c != 3 {
		t.Fatalf("%d service_withdrawal events, want 3", c)
	}
	// Each event names the wallet emptied, what moved, and the total fees
	// of the transaction tx_hash names (the hot wallet's receiving one for
	// TON, the emptied jetton wallet's transfer for jettons).
	sevs := p.events(t, "service_withdrawal")
	depJW, err := n.JettonWallet(ctx, j.Master, tonDep)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		memo, kind, from, currency, master string
		txOf                               *address.Address
	}{
		{memo, "ton", jetAddr, "TON", "", p.app.Wallets.HotWalletAddress()},
		{memo2, "jetton", tonAddr, "USDT", tonaddr.Format(j.Master, config.Testnet, true), depJW},
		{memo3, "ton", tonAddr, "TON", "", p.app.Wallets.HotWalletAddress()},
	} {
		st := p.waitService(t, c.memo, time.Second)
		want := map[string]any{"memo": c.memo, "kind": c.kind, "status": "processed", "from": c.from, "currency": c.currency,
			"amount": st["amount"], "tx_hash": st["tx_hash"], "network_fee": p.txFee(t, c.txOf, st["tx_hash"])}
		if c.master != "" {
			want["jetton_master"] = c.master
		}
		checkEvent(t, "service withdrawal "+c.memo, sevs["service_withdrawal:"+c.memo+":processed"], want)
	}
}
