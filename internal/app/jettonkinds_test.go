package app_test

import (
	"bytes"
	"context"
	"fmt"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/xssnick/tonutils-go/address"
	"github.com/xssnick/tonutils-go/tlb"
	"github.com/xssnick/tonutils-go/ton/wallet"
	"github.com/xssnick/tonutils-go/tvm/cell"

	"github.com/ton-custody/processor/internal/config"
	"github.com/ton-custody/processor/internal/store/storetest"
	"github.com/ton-custody/processor/internal/tonaddr"
	"github.com/ton-custody/processor/internal/tonsim"
	"github.com/ton-custody/processor/internal/withdrawals"
)

// kindSymbols are the currencies the jetton-kind tests configure, one per
// tonsim jetton kind (the standard one is newNetwork's USDT).
var kindSymbols = map[tonsim.JettonKind]string{
	tonsim.JettonStandard:            "USDT",
	tonsim.JettonGoverned:            "GUSD",
	tonsim.JettonNotifyBounceable:    "NBNC",
	tonsim.JettonNotifyNonBounceable: "NNBC",
}

// kindsNetwork is newNetwork plus a jetton of every other kind, and
// JETTONS listing them all with threshold.
func kindsNetwork(t *testing.T, threshold string) (*tonsim.Network, map[tonsim.JettonKind]*tonsim.Jetton, map[string]string) {
	t.Helper()
	n, usdt := newNetwork(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	js := map[tonsim.JettonKind]*tonsim.Jetton{tonsim.JettonStandard: usdt}
	var list []string
	for _, kind := range tonsim.JettonKinds() {
		if js[kind] == nil {
			j, err := n.DeployJettonKind(ctx, kindSymbols[kind], 6, kind)
			if err != nil {
				t.Fatal(err)
			}
			js[kind] = j
		}
		list = append(list, kindSymbols[kind]+":"+js[kind].Master.String()+":"+threshold)
	}
	env := baseEnv(t, n, usdt, storetest.NewDBURL(t))
	env["JETTONS"] = strings.Join(list, ",")
	return n, js, env
}

// on is p for subtest t: its helpers then fail t, not the parent test
// (which has returned while its parallel subtests run).
func (p *processor) on(t *testing.T) *processor {
	c := *p
	c.t = t
	return &c
}

// waitExplained is waitFor that says what it saw when it gives up.
func waitExplained(t testing.TB, d time.Duration, what string, seen func() string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v; %s", what, d, seen())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// sweepAmounts lists a deposit's sweeps as "amount/received_amount".
func (p *processor) sweepAmounts(t testing.TB, dep *address.Address) []string {
	t.Helper()
	rows, err := p.app.DB.Query(context.Background(), `SELECT coalesce(s.amount::text, '-') || '/' || coalesce(s.received_amount::text, '-')
		FROM sweeps s JOIN deposit_wallets d ON d.id = s.deposit_wallet_id WHERE d.address = $1 ORDER BY s.id`, dep.Data())
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var v string
		if err := rows.Scan(&v); err != nil {
			t.Fatal(err)
		}
		out = append(out, v)
	}
	return out
}

// sum is a query's single numeric result as a decimal string.
func (p *processor) sum(t testing.TB, q string, args ...any) string {
	t.Helper()
	var s string
	if err := p.app.DB.QueryRow(context.Background(), `SELECT coalesce((`+q+`), 0)::text`, args...).Scan(&s); err != nil {
		t.Fatal(err)
	}
	return s
}

// incomes lists a deposit's credited amounts and comments, oldest first.
func (p *processor) incomes(t testing.TB, dep *address.Address) []string {
	t.Helper()
	rows, err := p.app.DB.Query(context.Background(), `SELECT i.amount::text, coalesce(i.comment, '') FROM incomes i
		JOIN deposit_wallets d ON d.id = i.deposit_wallet_id WHERE d.address = $1 ORDER BY i.tx_lt`, dep.Data())
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var a, c string
		if err := rows.Scan(&a, &c); err != nil {
			t.Fatal(err)
		}
		out = append(out, a+":"+c)
	}
	return out
}

// jettonBalanceAPI is /v1/balance of currency at addr ("" = the hot wallet).
func (p *processor) jettonBalanceAPI(t testing.TB, currency, addr string) string {
	t.Helper()
	q := "/v1/balance?currency=" + currency
	if addr != "" {
		q += "&address=" + addr
	}
	return fmt.Sprint(p.ok(p.do("GET", q, nil, true))["balance"])
}

// fakeNotification sends owner a transfer_notification of amount from the
// genesis wallet, which is no jetton wallet: a forgery anyone can send.
func fakeNotification(t testing.TB, n *tonsim.Network, owner *address.Address, amount int64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	comment, _ := wallet.CreateCommentCell("fake")
	body := cell.BeginCell().MustStoreUInt(0x7362d09c, 32).MustStoreUInt(7, 64).MustStoreCoins(uint64(amount)).
		MustStoreAddr(n.Genesis.WalletAddress()).MustStoreBoolBit(true).MustStoreRef(comment).EndCell()
	if err := n.SendFromGenesis(ctx, &wallet.Message{Mode: wallet.PayGasSeparately, InternalMessage: &tlb.InternalMessage{
		IHRDisabled: true, Bounce: false, DstAddr: owner, Amount: tlb.MustFromTON("0.01"), Body: body}}); err != nil {
		t.Fatal(err)
	}
}

// Deposits of every jetton kind (TEP-74 reference, USDT-style governed with
// library wallet code, bounceable and non-bounceable notifications) are
// credited exactly once, with and without a notification, while the
// deposit owner is undeployed and after a sweep deployed it; a forged
// notification is not; sweeps move every deposited jetton to the hot
// wallet; a jetton service withdrawal and a jetton withdrawal work for each.
func TestEveryJettonKindDepositsSweepsAndWithdrawals(t *testing.T) {
	t.Parallel()
	n, js, env := kindsNetwork(t, "1000")
	p := startTuned(t, n, env, fast)
	p.fundHot(t, "100")
	for _, kind := range tonsim.JettonKinds() {
		j, sym := js[kind], kindSymbols[kind]
		t.Run(string(kind), func(t *testing.T) {
			t.Parallel()
			p := p.on(t)
			ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
			defer cancel()
			if _, err := n.Mint(ctx, j.Master, n.Genesis.WalletAddress(), big.NewInt(1_000_000)); err != nil {
				t.Fatal(err)
			}
			deposit := func(to *address.Address, amount int64, fwd string, comment string) {
				t.Helper()
				if _, err := n.TransferJetton(ctx, j.Master, to, big.NewInt(amount), tlb.MustFromTON(fwd).Nano(), comment); err != nil {
					t.Fatal(err)
				}
			}
			addr, dep := p.newAddress(t, "dep-"+string(kind), sym)
			jw, err := n.JettonWallet(ctx, j.Master, dep)
			if err != nil {
				t.Fatal(err)
			}
			var stored []byte
			if err := p.app.DB.QueryRow(ctx, `SELECT jetton_wallet FROM deposit_wallets WHERE address = $1`, dep.Data()).Scan(&stored); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(stored, jw.Data()) {
				t.Fatalf("deposit's jetton wallet %x, the master names %x", stored, jw.Data())
			}

			// The owner has no code: one deposit with a notification (it
			// bounces back for the bounceable kind), one without. Each is
			// above the threshold, so a sweep in between leaves nothing.
			deposit(dep, 3000, "0.02", "note "+sym)
			deposit(dep, 2000, "0", "")
			want := []string{"3000:note " + sym, "2000:"}
			waitFor(t, 60*time.Second, "two incomes", func() bool { return len(p.incomes(t, dep)) >= 2 })
			if got := p.incomes(t, dep); fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("incomes %v, want %v", got, want)
			}
			waitExplained(t, 90*time.Second, "5000 swept", func() string {
				return fmt.Sprint("sweeps ", p.sweepStates(t, dep), " amounts ", p.sweepAmounts(t, dep))
			}, func() bool {
				return p.sum(t, `SELECT sum(received_amount) FROM sweeps s JOIN deposit_wallets d ON d.id = s.deposit_wallet_id
					WHERE d.address = $1 AND s.state = 'confirmed'`, dep.Data()) == "5000"
			})
			if _, st, err := p.app.Chain.AccountState(ctx, dep); err != nil || st != "active" {
				t.Fatalf("deposit owner after a jetton sweep: %s %v, want active", st, err)
			}

			// A forgery first, then deposits to the deployed owner.
			fakeNotification(t, n, dep, 999_999)
			deposit(dep, 1500, "0.02", "deployed "+sym)
			deposit(dep, 1200, "0", "")
			want = append(want, "1500:deployed "+sym, "1200:")
			waitFor(t, 60*time.Second, "four incomes", func() bool { return len(p.incomes(t, dep)) >= 4 })
			if got := p.incomes(t, dep); fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("incomes %v, want %v", got, want)
			}
			waitExplained(t, 90*time.Second, "7700 swept", func() string {
				return fmt.Sprint("sweeps ", p.sweepStates(t, dep), " amounts ", p.sweepAmounts(t, dep))
			}, func() bool {
				return p.sum(t, `SELECT sum(received_amount) FROM sweeps s JOIN deposit_wallets d ON d.id = s.deposit_wallet_id
					WHERE d.address = $1 AND s.state = 'confirmed'`, dep.Data()) == "7700"
			})
			if b := p.jettonBalanceAPI(t, sym, addr); b != "0" {
				t.Fatalf("/v1/balance of the swept deposit: %s", b)
			}
			if b := p.jettonBalanceAPI(t, sym, ""); b != "7700" {
				t.Fatalf("/v1/balance of the hot wallet: %s, want the 7700 swept", b)
			}

			// Jettons on a TON deposit address leave by service withdrawal.
			tonAddr, tonDep := p.newAddress(t, "svc-"+string(kind), "TON")
			deposit(tonDep, 777, "0", "")
			memo := p.ok(p.do("POST", "/v1/withdrawal/service/jetton", map[string]string{"owner": tonAddr,
				"jetton_master": tonaddr.Format(j.Master, config.Testnet, true)}, true))["memo"].(string)
			if st := p.waitService(t, memo, 90*time.Second); fmt.Sprint(st["amount"]) != "777" {
				t.Fatalf("service jetton withdrawal: %v", st)
			}
			waitFor(t, 20*time.Second, "the hot wallet holding 8477", func() bool { return p.jettonBalanceAPI(t, sym, "") == "8477" })

			// And a withdrawal pays out of the hot jetton wallet.
			to := dest("kind-"+string(kind), 1, false)
			id := p.ok(p.do("POST", "/v1/withdrawal/send", map[string]string{"user_id": "u", "query_id": "w-" + string(kind),
				"currency": sym, "amount": "1234", "destination": to, "comment": "paid " + sym}, true))["ID"]
			if st := p.waitFinal(t, id, 90*time.Second); st["status"] != "processed" {
				t.Fatalf("withdrawal of %s: %v", sym, st)
			}
			if b := p.jettonBalanceAPI(t, sym, to); b != "1234" {
				t.Fatalf("destination holds %s %s, want 1234", b, sym)
			}
			if c := p.count(t, `SELECT count(*) FROM incomes WHERE amount = 999999`); c != 0 {
				t.Fatal("the forged notification was credited")
			}
			// Nothing was taken: nothing may look gone (a sweep that moved
			// more than the incomes it was decided on included).
			if g := p.sum(t, `SELECT sum(gone) FROM jetton_writeoffs WHERE currency = $1`, sym); g != "0" {
				t.Fatalf("%s %s written off as gone", g, sym)
			}
		})
	}
}

// The processor reads jetton wallets only through get methods: the address
// from the master's get_wallet_address, the balance from get_wallet_data.
// With the governed jetton the wallet's code is a library cell, which
// anything parsing the code would trip over.
func TestLibraryCodeJettonWalletAddressAndBalance(t *testing.T) {
	t.Parallel()
	n, js, env := kindsNetwork(t, "1000000000")
	p := startTuned(t, n, env, fast)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	j := js[tonsim.JettonGoverned]
	addr, dep := p.newAddress(t, "lib", "GUSD")
	jw, err := n.JettonWallet(ctx, j.Master, dep)
	if err != nil {
		t.Fatal(err)
	}
	var stored []byte
	if err := p.app.DB.QueryRow(ctx, `SELECT jetton_wallet FROM deposit_wallets WHERE address = $1`, dep.Data()).Scan(&stored); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(stored, jw.Data()) {
		t.Fatalf("deposit's jetton wallet %x, the master names %x", stored, jw.Data())
	}
	if b := p.jettonBalanceAPI(t, "GUSD", addr); b != "0" {
		t.Fatalf("balance before the wallet exists: %s", b)
	}
	if _, err := n.Mint(ctx, j.Master, dep, big.NewInt(1234)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "balance 1234", func() bool { return p.jettonBalanceAPI(t, "GUSD", addr) == "1234" })
	last := n.Chain.Last()
	if v, err := n.Chain.AccountAt(&last.ID, jw); err != nil || v.Info.Code == nil || v.Info.Code.GetType() != cell.LibraryCellType {
		t.Fatal("the governed jetton wallet's code is not a library cell: the test proves nothing")
	}
	waitFor(t, 30*time.Second, "the mint credited", func() bool { return len(p.incomes(t, dep)) == 1 })
	if _, err := n.Mint(ctx, j.Master, p.app.Wallets.HotWalletAddress(), big.NewInt(55)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "hot balance 55", func() bool { return p.jettonBalanceAPI(t, "GUSD", "") == "55" })
}

// metric is the value of a metric series whose name and labels start as
// prefix in /metrics ("" when absent).
func (p *processor) metric(t testing.TB, prefix string) string {
	t.Helper()
	r := p.do("GET", "/metrics", nil, false)
	for _, line := range strings.Split(r.raw, "\n") {
		if strings.HasPrefix(line, prefix) {
			f := strings.Fields(line)
			return f[len(f)-1]
		}
	}
	return ""
}

// The admin of a governed jetton (USDT's can) locks our hot wallet's
// jetton wallet: the transfer of a withdrawal bounces back to the hot
// wallet with exit code 45. The withdrawal must end failed with that
// reason (not stay processing, not be sent again), an alert metric must
// count it, and after the unlock new withdrawals are paid, the failed one
// never.
func TestHotJettonWalletLockedByTheAdmin(t *testing.T) {
	t.Parallel()
	n, js, env := kindsNetwork(t, "1000000000")
	j := js[tonsim.JettonGoverned]
	p := startTuned(t, n, env, fast)
	p.fundHot(t, "50")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	hot := p.app.Wallets.HotWalletAddress()
	if _, err := n.Mint(ctx, j.Master, hot, big.NewInt(10_000)); err != nil {
		t.Fatal(err)
	}
	if _, err := n.SetJettonWalletStatus(ctx, j.Master, hot, tonsim.StatusNoOutgoing); err != nil {
		t.Fatal(err)
	}
	send := func(q, amount, to string) any {
		return p.ok(p.do("POST", "/v1/withdrawal/send", map[string]string{"user_id": "u", "query_id": q, "currency": "GUSD",
			"amount": amount, "destination": to}, true))["ID"]
	}
	lockedTo := dest("hotlock", 1, false)
	refused := send("refused", "1000", lockedTo)
	st := p.waitFinal(t, refused, 60*time.Second)
	if st["status"] != "failed" {
		t.Fatalf("withdrawal through a locked hot jetton wallet: %v", st)
	}
	if r := fmt.Sprint(st["reason"]); !strings.Contains(r, "exit code 45") || !strings.Contains(r, "hot") {
		t.Fatalf("reason %q, want the hot jetton wallet's refusal with its exit code", r)
	}
	waitFor(t, 10*time.Second, "the locked-hot-wallet metric", func() bool {
		return p.metric(t, `processor_hot_jetton_wallet_refused_total{currency="GUSD"}`) == "1"
	})
	if b := p.jettonBalanceAPI(t, "GUSD", ""); b != "10000" {
		t.Fatalf("hot jetton wallet holds %s after the refused transfer", b)
	}

	if _, err := n.UnlockJettonWallet(ctx, j.Master, hot); err != nil {
		t.Fatal(err)
	}
	paid := send("paid", "300", dest("hotlock", 2, false))
	if st := p.waitFinal(t, paid, 60*time.Second); st["status"] != "processed" {
		t.Fatalf("withdrawal after the unlock: %v", st)
	}
	// Time for a wrongly repeated payment to show.
	time.Sleep(3 * time.Second)
	if b := p.jettonBalanceAPI(t, "GUSD", lockedTo); b != "0" {
		t.Fatalf("the failed withdrawal's destination holds %s GUSD: it was paid after all", b)
	}
	if b := p.jettonBalanceAPI(t, "GUSD", ""); b != "9700" {
		t.Fatalf("hot jetton wallet holds %s, want 10000 - 300", b)
	}
	if st := p.status(refused); st["status"] != "failed" {
		t.Fatalf("the refused withdrawal became %v", st["status"])
	}
}

// The admin of a governed jetton moves or burns jettons out of our deposit
// jetton wallets (USDT's can). What was credited is then not all there:
// the sweep moves what is left, a deposit whose jettons are gone is not a
// sweep candidate for ever (with one candidate per step it would starve
// every deposit after it), and the difference is recorded, logged and
// counted.
func TestAdminTakesJettonsOutOfDepositJettonWallets(t *testing.T) {
	t.Parallel()
	n, js, env := kindsNetwork(t, "1000")
	j := js[tonsim.JettonGoverned]
	p := startTuned(t, n, env, func(c *withdrawals.WorkerConfig) {
		fast(c)
		c.Sweeps.MaxPerStep = 1
	})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if _, err := n.Mint(ctx, j.Master, n.Genesis.WalletAddress(), big.NewInt(1_000_000)); err != nil {
		t.Fatal(err)
	}
	deposit := func(to *address.Address, amount int64) {
		t.Helper()
		if _, err := n.TransferJetton(ctx, j.Master, to, big.NewInt(amount), nil, ""); err != nil {
			t.Fatal(err)
		}
	}
	swept := func(dep *address.Address) string {
		return p.sum(t, `SELECT sum(received_amount) FROM sweeps s JOIN deposit_wallets d ON d.id = s.deposit_wallet_id
			WHERE d.address = $1 AND s.state = 'confirmed'`, dep.Data())
	}
	gone := func(dep *address.Address) string {
		return p.sum(t, `SELECT sum(w.gone) FROM jetton_writeoffs w JOIN deposit_wallets d ON d.id = w.deposit_wallet_id
			WHERE d.address = $1`, dep.Data())
	}

	// A: the sweep is decided (the hot wallet has no TON for its gas yet),
	// then the admin burns everything.
	_, a := p.newAddress(t, "gone-a", "GUSD")
	deposit(a, 5000)
	waitFor(t, 30*time.Second, "A's sweep decided", func() bool { return len(p.sweepStates(t, a)) == 1 })
	if _, err := n.AdminBurn(ctx, j.Master, a, big.NewInt(5000)); err != nil {
		t.Fatal(err)
	}
	p.fundHot(t, "20")
	waitExplained(t, 30*time.Second, "A's sweep over", func() string { return fmt.Sprint(p.sweepStates(t, a)) }, func() bool {
		s := p.sweepStates(t, a)
		return len(s) == 1 && strings.HasPrefix(s[0], "failed:")
	})

	// B, after A: swept although A (lower id, one candidate per step) has
	// 5000 credited and nothing left.
	_, b := p.newAddress(t, "gone-b", "GUSD")
	deposit(b, 3000)
	waitExplained(t, 30*time.Second, "B swept", func() string { return fmt.Sprint("A ", p.sweepStates(t, a), " B ", p.sweepStates(t, b)) },
		func() bool { return swept(b) == "3000" })
	waitFor(t, 10*time.Second, "A's 5000 written off", func() bool { return gone(a) == "5000" })

	// C: 900 (below the threshold), the admin moves 400 away, 700 more:
	// 1600 credited, 1200 there; the sweep moves the 1200.
	_, c := p.newAddress(t, "gone-c", "GUSD")
	deposit(c, 900)
	waitFor(t, 30*time.Second, "C's first income", func() bool { return len(p.incomes(t, c)) == 1 })
	if _, err := n.AdminTransfer(ctx, j.Master, c, n.Genesis.WalletAddress(), big.NewInt(400)); err != nil {
		t.Fatal(err)
	}
	deposit(c, 700)
	waitExplained(t, 30*time.Second, "C swept", func() string { return fmt.Sprint(p.sweepStates(t, c), p.sweepAmounts(t, c)) },
		func() bool { return swept(c) == "1200" })
	waitFor(t, 10*time.Second, "C's 400 written off", func() bool { return gone(c) == "400" })
	if m := p.metric(t, `processor_deposit_jettons_gone_total{currency="GUSD"}`); m != "2" {
		t.Fatalf("gone metric %q, want 2 (A and C)", m)
	}
	// Nothing more happens: A and C are not candidates any more.
	time.Sleep(2 * time.Second)
	if s := p.sweepStates(t, a); len(s) != 1 {
		t.Fatalf("A's sweeps %v", s)
	}
	if s := p.sweepStates(t, c); len(s) != 1 {
		t.Fatalf("C's sweeps %v", s)
	}
	if g := gone(a) + "/" + gone(c); g != "5000/400" {
		t.Fatalf("written off %s, want 5000/400 (once each)", g)
	}
}

// The admin of a governed jetton locks a deposit's jetton wallet (no
// outgoing transfers). Every sweep attempt costs the hot wallet a gas
// top-up and fees and is refused (exit code 45); trying again at every
// step would burn TON for as long as the lock lasts. After each refused
// sweep the next attempt waits longer (base, 2 x base, ...), and once the
// admin unlocks the wallet the deposit is swept.
func TestLockedDepositJettonWalletIsRetriedWithBackoff(t *testing.T) {
	t.Parallel()
	const base = 3 * time.Second
	n, js, env := kindsNetwork(t, "1000")
	j := js[tonsim.JettonGoverned]
	p := startTuned(t, n, env, func(c *withdrawals.WorkerConfig) {
		fast(c)
		c.Sweeps.RetryBackoff = base
	})
	p.fundHot(t, "50")
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	_, dep := p.newAddress(t, "locked", "GUSD")
	if _, err := n.Mint(ctx, j.Master, dep, big.NewInt(5000)); err != nil {
		t.Fatal(err)
	}
	if _, err := n.SetJettonWalletStatus(ctx, j.Master, dep, tonsim.StatusNoOutgoing); err != nil {
		t.Fatal(err)
	}
	type attempt struct {
		state         string
		created, done time.Time
	}
	attempts := func() []attempt {
		rows, err := p.app.DB.Query(ctx, `SELECT s.state, s.created_at, s.updated_at FROM sweeps s
			JOIN deposit_wallets d ON d.id = s.deposit_wallet_id WHERE d.address = $1 ORDER BY s.id`, dep.Data())
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var out []attempt
		for rows.Next() {
			var a attempt
			if err := rows.Scan(&a.state, &a.created, &a.done); err != nil {
				t.Fatal(err)
			}
			out = append(out, a)
		}
		return out
	}
	failed := func() int {
		k := 0
		for _, a := range attempts() {
			if a.state == "failed" {
				k++
			}
		}
		return k
	}
	waitFor(t, 90*time.Second, "three refused sweeps", func() bool { return failed() >= 3 })
	list := attempts()
	t.Logf("sweeps while locked: %v", p.sweepStates(t, dep))
	for i := 1; i < 3; i++ {
		want := base << (i - 1)
		if gap := list[i].created.Sub(list[i-1].done); gap < want-200*time.Millisecond {
			t.Fatalf("sweep %d decided %v after sweep %d was refused; want at least %v (attempts: %+v)", i+1, gap, i, want, list)
		}
	}
	if _, err := n.UnlockJettonWallet(ctx, j.Master, dep); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 90*time.Second, "the sweep after the unlock", func() bool {
		l := attempts()
		return len(l) > 0 && l[len(l)-1].state == "confirmed"
	})
}
