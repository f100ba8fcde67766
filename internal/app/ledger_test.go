package app_test

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/xssnick/tonutils-go/address"
	"github.com/xssnick/tonutils-go/tlb"
	"github.com/xssnick/tonutils-go/ton/wallet"

	"github.com/ton-custody/processor/internal/config"
	"github.com/ton-custody/processor/internal/ledger"
	"github.com/ton-custody/processor/internal/store"
	"github.com/ton-custody/processor/internal/store/storetest"
	"github.com/ton-custody/processor/internal/tonaddr"
	"github.com/ton-custody/processor/internal/wallets"
)

// ledgerBalance is one account's ledger balance (0 when it has none).
func (p *processor) ledgerBalance(t testing.TB, account, currency string) *big.Int {
	t.Helper()
	var v string
	if err := p.app.DB.QueryRow(context.Background(), `SELECT coalesce(sum(amount), 0)::text FROM ledger_entries WHERE account = $1 AND currency = $2`,
		account, currency).Scan(&v); err != nil {
		t.Fatal(err)
	}
	n, _ := new(big.Int).SetString(v, 10)
	return n
}

func (p *processor) adjust(t testing.TB, ref, account, currency string, amount *big.Int) {
	t.Helper()
	ctx := context.Background()
	if err := store.InTx(ctx, p.app.DB, func(tx pgx.Tx) error {
		_, err := ledger.Adjust(ctx, tx, ref, account, currency, amount)
		return err
	}); err != nil {
		t.Fatal(err)
	}
}

func diffsOf(rep *ledger.Report) map[string]string {
	out := map[string]string{}
	for _, d := range rep.Differences {
		out[d.Account+" "+d.Currency] = d.Difference
	}
	return out
}

func TestLedgerBalancesAndReconcilesAfterMixedTrafficAndReportsMoneyMovedBehindItsBack(t *testing.T) {
	t.Parallel()
	n, j := newNetwork(t)
	env := baseEnv(t, n, j, storetest.NewDBURL(t)) // USDT sweep threshold 1000
	env["TON_SWEEP_THRESHOLD"] = "2000000000"      // 3 TON is swept, 0.7 TON is not
	env["LEDGER_RECONCILE_DUST"] = "0"             // exact
	env["LEDGER_RECONCILE_INTERVAL"] = "1h"
	p := startTuned(t, n, env, fast)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	hot := p.app.Wallets.HotWalletAddress()

	// The operator funds the hot wallet and books it (processor ledger-adjust).
	p.fundHot(t, "50")
	if _, err := n.Mint(ctx, j.Master, hot, big.NewInt(1_000_000)); err != nil {
		t.Fatal(err)
	}
	p.adjust(t, "funding-ton", ledger.Hot, "TON", tlb.MustFromTON("50").Nano())
	p.adjust(t, "funding-usdt", ledger.Hot, "USDT", big.NewInt(1_000_000))

	// Deposits: a TON deposit that is swept, one that is not, a jetton
	// deposit that is swept with gas from the hot wallet.
	_, aliceDep := p.newAddress(t, "alice", "TON")
	_, bobDep := p.newAddress(t, "bob", "TON")
	carolAddr, carolDep := p.newAddress(t, "carol", "USDT")
	for _, f := range []struct {
		to  *address.Address
		ton string
	}{{aliceDep, "3"}, {bobDep, "0.7"}} {
		if _, err := n.Faucet(ctx, f.to, tlb.MustFromTON(f.ton).Nano(), false, "deposit"); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := n.Mint(ctx, j.Master, carolDep, big.NewInt(5000)); err != nil {
		t.Fatal(err)
	}
	// Withdrawals: paid, bounced, jetton.
	send := func(q, currency, amount, to string) any {
		return p.ok(p.do("POST", "/v1/withdrawal/send", map[string]string{"user_id": "u", "query_id": q, "currency": currency,
			"amount": amount, "destination": to}, true))["ID"]
	}
	paid := send("paid", "TON", "1000000000", dest("ledger", 1, false))
	bounced := send("bounced", "TON", "2000000000", dest("ledger", 2, true))
	jet := send("jet", "USDT", "12345", dest("ledger", 3, false))
	p.waitStatus(t, paid, "processed", 60*time.Second)
	p.waitStatus(t, bounced, "failed", 60*time.Second)
	p.waitStatus(t, jet, "processed", 60*time.Second)
	waitFor(t, 90*time.Second, "both sweeps", func() bool {
		return p.count(t, `SELECT count(*) FROM sweeps WHERE state = 'confirmed'`) == 2
	})
	// Service withdrawal: stray TON on the jetton deposit, taken to the hot wallet.
	if _, err := n.Faucet(ctx, carolDep, tlb.MustFromTON("1.5").Nano(), false, "stray TON"); err != nil {
		t.Fatal(err)
	}
	memo := p.ok(p.do("POST", "/v1/withdrawal/service/ton", map[string]string{"from": carolAddr}, true))["memo"].(string)
	p.waitService(t, memo, 60*time.Second)
	// Service withdrawal: USDT sent to a TON deposit, taken to the hot
	// wallet with gas the hot wallet tops the TON deposit up with.
	daveAddr, daveDep := p.newAddress(t, "dave", "TON")
	if _, err := n.Mint(ctx, j.Master, daveDep, big.NewInt(777)); err != nil {
		t.Fatal(err)
	}
	memo2 := p.ok(p.do("POST", "/v1/withdrawal/service/jetton", map[string]string{"owner": daveAddr,
		"jetton_master": tonaddr.Format(j.Master, config.Testnet, true)}, true))["memo"].(string)
	p.waitService(t, memo2, 60*time.Second)
	// Everything in flight has arrived: the bounced payment back at the hot
	// wallet, the sweeps' money, the gas excesses.
	waitFor(t, 60*time.Second, "nothing in transit", func() bool {
		return p.ledgerBalance(t, ledger.Transit, "TON").Sign() == 0 && p.ledgerBalance(t, ledger.Transit, "USDT").Sign() == 0
	})

	// Every posting balances, so each currency sums to zero; the users'
	// liabilities are what they deposited less what was paid to them.
	var unbalanced int
	if err := p.app.DB.QueryRow(ctx, `SELECT count(*) FROM (SELECT currency FROM ledger_entries GROUP BY currency HAVING sum(amount) <> 0) x`).Scan(&unbalanced); err != nil {
		t.Fatal(err)
	}
	if unbalanced != 0 {
		t.Fatalf("%d currencies do not sum to zero", unbalanced)
	}
	for _, c := range []struct {
		user, cur, want string
	}{{"alice", "TON", "-3000000000"}, {"bob", "TON", "-700000000"}, {"carol", "USDT", "-5000"}, {"u", "TON", "1000000000"}, {"u", "USDT", "12345"}} {
		if got := p.ledgerBalance(t, ledger.User(c.user), c.cur); got.String() != c.want {
			t.Errorf("liability of %s in %s: %s, want %s", c.user, c.cur, got, c.want)
		}
	}
	if p.ledgerBalance(t, ledger.Fees, "TON").Sign() <= 0 {
		t.Error("no network fees booked")
	}
	if fatal := t.Failed(); fatal {
		t.FailNow()
	}

	// Every wallet reconciles with the chain at one block, to the nanoton.
	rep, err := p.app.Reconciler.Once(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Differences) != 0 {
		t.Fatalf("ledger and chain differ after the processor's own traffic: %+v", rep.Differences)
	}
	if rep.Accounts != 4+2 { // four deposits, hot TON and hot USDT
		t.Fatalf("reconciled %d wallets, want 6", rep.Accounts)
	}

	// Money moved behind the processor's back: a top-up of the hot wallet
	// is reported as exactly its amount.
	if _, err := n.Faucet(ctx, hot, tlb.MustFromTON("3").Nano(), false, "behind its back"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "the scanner past the top-up", func() bool {
		rep, err = p.app.Reconciler.Once(ctx)
		return err == nil && len(rep.Differences) > 0
	})
	if d := diffsOf(rep); len(d) != 1 || d["hot TON"] != "3000000000" {
		t.Fatalf("differences after a 3 TON top-up: %v", d)
	}

	// A transfer signed outside the processor, from bob's deposit wallet
	// with the deposit key: the deposit is short by what left it (value
	// and fees), to the nanoton.
	var sub int64
	if err := p.app.DB.QueryRow(ctx, `SELECT subwallet_id FROM deposit_wallets WHERE user_id = 'bob'`).Scan(&sub); err != nil {
		t.Fatal(err)
	}
	keys, err := wallets.DeriveKeys(strings.Fields(env["SEED"]))
	if err != nil {
		t.Fatal(err)
	}
	w, err := wallet.FromPrivateKey(p.app.Chain.API(), keys.DepositKey(), wallet.V3R2)
	if err != nil {
		t.Fatal(err)
	}
	bw, err := w.GetSubwallet(uint32(sub))
	if err != nil {
		t.Fatal(err)
	}
	if !bw.WalletAddress().Equals(bobDep) {
		t.Fatalf("bob's deposit wallet derives to %s, not %s", bw.WalletAddress(), bobDep)
	}
	out, _ := tonaddr.Parse(dest("ledger", 4, false), config.Testnet)
	if err := bw.Send(ctx, wallet.SimpleMessage(out, tlb.MustFromTON("0.3"), nil), false); err != nil {
		t.Fatal(err)
	}
	bobAcct := ledger.Deposit(bobDep)
	waitFor(t, 30*time.Second, "the out-of-band transfer reported", func() bool {
		rep, err = p.app.Reconciler.Once(ctx)
		return err == nil && len(rep.Differences) == 2
	})
	bobChain, _, err := p.app.Chain.AccountState(ctx, bobDep)
	if err != nil {
		t.Fatal(err)
	}
	wantBob := new(big.Int).Sub(bobChain, tlb.MustFromTON("0.7").Nano())
	if d := diffsOf(rep); d["hot TON"] != "3000000000" || d[bobAcct+" TON"] != wantBob.String() {
		t.Fatalf("differences: %v, want hot +3 TON and %s %s", d, bobAcct, wantBob)
	}
	if wantBob.Cmp(tlb.MustFromTON("-0.3").Nano()) > 0 {
		t.Fatalf("bob's deposit is short by only %s", wantBob)
	}

	// The API serves the report, the exports and the events.
	api := p.ok(p.do("GET", "/v1/reconciliation", nil, true))
	if int64(api["id"].(float64)) != rep.ID || len(api["differences"].([]any)) != 2 {
		t.Fatalf("/v1/reconciliation: %v", api)
	}
	raw := p.get(t, "/v1/ledger/export?format=csv&currency=USDT")
	recs, err := csv.NewReader(strings.NewReader(raw)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	var usdtEntries int
	if err := p.app.DB.QueryRow(ctx, `SELECT count(*) FROM ledger_entries WHERE currency = 'USDT'`).Scan(&usdtEntries); err != nil {
		t.Fatal(err)
	}
	if len(recs) != usdtEntries+1 {
		t.Fatalf("csv export: %d rows for %d USDT entries", len(recs), usdtEntries)
	}
	var entries []ledger.Entry
	if err := json.Unmarshal([]byte(p.get(t, "/v1/ledger/export?from=2000-01-01&to=2999-01-01")), &entries); err != nil {
		t.Fatal(err)
	}
	var all int
	_ = p.app.DB.QueryRow(ctx, `SELECT count(*) FROM ledger_entries`).Scan(&all)
	if len(entries) != all {
		t.Fatalf("json export: %d entries of %d", len(entries), all)
	}
	for _, bad := range []string{"/v1/ledger/export?format=xml", "/v1/ledger/export?from=yesterday", "/v1/ledger/export?currency=DOGE",
		"/v1/events?limit=0", "/v1/events?after=nope", "/v1/events?cursor=1"} {
		if r := p.do("GET", bad, nil, true); r.status != http.StatusBadRequest {
			t.Errorf("%s: %d %s, want 400", bad, r.status, r.raw)
		}
	}

	// Events: the same as the webhooks carry, each once, in a stable order.
	var ids []string
	cursor := ""
	waitFor(t, 30*time.Second, "events served", func() bool {
		for {
			path := "/v1/events?limit=3"
			if cursor != "" {
				path += "&after=" + cursor
			}
			page := p.ok(p.do("GET", path, nil, true))
			evs := page["events"].([]any)
			for _, e := range evs {
				ids = append(ids, e.(map[string]any)["event_id"].(string))
			}
			cursor = page["next_cursor"].(string)
			if len(evs) == 0 {
				break
			}
		}
		return len(ids) >= p.count(t, `SELECT count(*) FROM outbox`)
	})
	seen := map[string]bool{}
	for _, id := range ids {
		if seen[id] {
			t.Fatalf("event %s served twice", id)
		}
		seen[id] = true
	}
	for _, want := range []string{fmt.Sprintf("withdrawal:%v:processed", paid), fmt.Sprintf("withdrawal:%v:failed", bounced),
		"service_withdrawal:" + memo + ":processed"} {
		if !seen[want] {
			t.Errorf("event %s not served: %v", want, ids)
		}
	}
	again := p.ok(p.do("GET", "/v1/events?limit=1000", nil, true))["events"].([]any)
	for i, e := range again {
		if i < len(ids) && e.(map[string]any)["event_id"] != ids[i] {
			t.Fatalf("order changed at %d: %v then %v", i, ids[i], e)
		}
	}

	// Backfill over the live ledger writes nothing: every event is booked.
	res, err := ledger.Backfill(ctx, p.app.DB)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range res {
		t.Errorf("backfill over the live ledger booked %d %s postings again", v, k)
	}
	// An upgraded deployment: the same rows and no ledger. The backfill
	// gives every user the same liability and every jetton account the
	// same balance (jettons carry no fees the rows lack), and runs once.
	live := map[string]string{}
	rows, err := p.app.DB.Query(ctx, `SELECT account || ' ' || currency, sum(amount)::text FROM ledger_entries
		WHERE (account LIKE 'user:%' OR (currency <> 'TON' AND account LIKE 'deposit:%')) AND NOT EXISTS (
			SELECT 1 FROM ledger_postings p WHERE p.id = posting_id AND p.kind = 'adjustment') GROUP BY 1`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var k, v string
		_ = rows.Scan(&k, &v)
		live[k] = v
	}
	rows.Close()
	if _, err := p.app.DB.Exec(ctx, `TRUNCATE ledger_entries, ledger_postings`); err != nil {
		t.Fatal(err)
	}
	if res, err = ledger.Backfill(ctx, p.app.DB); err != nil || res["deposit"] != 3 || res["withdrawal_paid"] != 2 || res["sweep"] != 2 ||
		res["service_withdrawal"] != 2 {
		t.Fatalf("backfill: %v %v", res, err)
	}
	if res, err = ledger.Backfill(ctx, p.app.DB); err != nil || len(res) != 0 {
		t.Fatalf("second backfill: %v %v", res, err)
	}
	for k, v := range live {
		f := strings.Fields(k)
		if got := p.ledgerBalance(t, f[0], f[1]); got.String() != v {
			t.Errorf("backfilled %s: %s, live ledger had %s", k, got, v)
		}
	}
}

// get returns a raw body (validated against the OpenAPI document).
func (p *processor) get(t testing.TB, path string) string {
	t.Helper()
	req, _ := http.NewRequest("GET", p.url+path, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := p.client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %d %s", path, resp.StatusCode, b)
	}
	return string(b)
}
