package app_test

import (
	"context"
	"encoding/json"
	"math/big"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/xssnick/tonutils-go/tlb"

	"github.com/ton-custody/processor/internal/config"
	bc "github.com/ton-custody/processor/internal/httpapi/bicycleclient"
	"github.com/ton-custody/processor/internal/store/storetest"
	"github.com/ton-custody/processor/internal/tonaddr"
)

// A merchant integration written against gobicycle/bicycle runs unchanged
// against a processor started with API_COMPAT=bicycle (and bicycle's name
// for one variable), over a real deposit of TON and of a jetton and real
// withdrawals on tonsim, every answer decoded strictly into bicycle's
// shapes (package bicycleclient; its requests are not this API's
// document's, so they skip the OpenAPI check). The same client is refused
// by a processor with the default profile.
func TestBicycleClientEndToEnd(t *testing.T) {
	t.Parallel()
	n, j := newNetwork(t)
	env := baseEnv(t, n, j, storetest.NewDBURL(t))
	env["API_COMPAT"] = "bicycle"
	env["DEPOSIT_SIDE_BALANCE"] = "true" // bicycle's name of INCOME_COUNTING_SIDE=deposit
	p := startProcessor(t, n, env)
	if !slices.ContainsFunc(p.app.Config.Warnings, func(w string) bool { return strings.Contains(w, "INCOME_COUNTING_SIDE") }) {
		t.Errorf("no warning naming INCOME_COUNTING_SIDE: %q", p.app.Config.Warnings)
	}
	c := &bc.Client{BaseURL: p.url, Token: token}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	must := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}

	// The default profile refuses this client at its first call.
	plainEnv := baseEnv(t, n, j, storetest.NewDBURL(t))
	plain := &bc.Client{BaseURL: startProcessor(t, n, plainEnv).url, Token: token}
	if _, err := plain.NewAddress(ctx, "alice", "TON"); bc.StatusOf(err) != http.StatusBadRequest {
		t.Errorf("default profile, bicycle client's address/new: %v, want 400", err)
	}
	if _, err := plain.Sync(ctx); bc.StatusOf(err) != http.StatusBadRequest {
		t.Errorf("default profile, bicycle client's system/sync: %v, want 400", err)
	}

	waitFor(t, 60*time.Second, "in sync", func() bool { s, err := c.Sync(ctx); return err == nil && s.IsSynced })
	tonDep, err := c.NewAddress(ctx, "alice", "TON")
	must("address/new TON", err)
	usdtDep, err := c.NewAddress(ctx, "alice", "USDT")
	must("address/new USDT", err)
	list, err := c.Addresses(ctx, "alice")
	must("address/all", err)
	if len(list) != 2 || list[0] != (bc.WalletAddress{Address: tonDep, Currency: "TON"}) || list[1].Currency != "USDT" {
		t.Fatalf("address/all %+v", list)
	}

	// Real deposits: TON from the faucet with a comment, jettons minted.
	dep, _ := tonaddr.Parse(tonDep, config.Testnet)
	owner, _ := tonaddr.Parse(usdtDep, config.Testnet)
	_, err = n.Faucet(ctx, dep, tlb.MustFromTON("2.5").Nano(), false, "order 42")
	must("faucet", err)
	_, err = n.Mint(ctx, j.Master, owner, big.NewInt(777))
	must("mint", err)
	var tonHist, usdtHist []bc.Deposit
	waitFor(t, 60*time.Second, "both deposits in the history", func() bool {
		tonHist, err = c.History(ctx, "alice", "TON", 5000, 0, "")
		must("deposit/history TON", err)
		usdtHist, err = c.History(ctx, "alice", "USDT", 5000, 0, "desc")
		must("deposit/history USDT", err)
		return len(tonHist) == 1 && len(usdtHist) == 1
	})
	in := tonHist[0]
	if in.Amount != "2500000000" || in.Comment != "order 42" || in.DepositAddress != tonDep || len(in.TxHash) != 64 || in.Time == 0 {
		t.Fatalf("TON deposit %+v", in)
	}
	if src, err := tonaddr.Parse(in.SourceAddress, config.Testnet); err != nil || !src.IsBounceable() {
		t.Errorf("source_address %q is not bicycle's bounceable form (%v)", in.SourceAddress, err)
	}
	if usdtHist[0].Amount != "777" || usdtHist[0].DepositAddress != usdtDep {
		t.Fatalf("jetton deposit %+v", usdtHist[0])
	}
	cur, byTx, err := c.IncomeByTx(ctx, in.TxHash)
	must("deposit/income", err)
	if cur != "TON" || byTx != in {
		t.Errorf("deposit/income %s %+v, want %+v", cur, byTx, in)
	}
	if none, err := c.History(ctx, "alice", "TON", 0, 0, "asc"); err != nil || len(none) != 0 {
		t.Errorf("history limit 0: %v %v", none, err)
	}
	inc, err := c.Income(ctx, "alice")
	must("income", err)
	if inc.CountingSide != "deposit" || len(inc.TotalIncome) != 2 || inc.TotalIncome[0].Amount != "2500000000" || inc.TotalIncome[1].Amount != "777" {
		t.Errorf("income %+v", inc)
	}

	// Withdrawals, amounts as JSON numbers: TON, a jetton, and a bounced one.
	p.fundHot(t, "50")
	_, err = n.Mint(ctx, j.Master, p.app.Wallets.HotWalletAddress(), big.NewInt(1_000_000))
	must("mint to the hot wallet", err)
	send := func(q, currency, amount, to string) int64 {
		t.Helper()
		id, err := c.SendWithdrawal(ctx, bc.WithdrawalRequest{UserID: "alice", QueryID: q, Currency: currency,
			Amount: json.Number(amount), Destination: to, Comment: "payout " + q})
		must("withdrawal/send "+q, err)
		return id
	}
	tonTo, jetTo := dest("bicycle", 1, false), dest("bicycle", 2, false)
	tonID := send("ton", "TON", "1000000", tonTo)
	jetID := send("jet", "USDT", "12345", jetTo)
	bounceID := send("bounce", "TON", "2000000000", dest("bicycle", 3, true))
	if again := send("ton", "TON", "1000000", tonTo); again != tonID {
		t.Errorf("repeated request: ID %d, want %d", again, tonID)
	}
	final := map[int64]string{tonID: "processed", jetID: "processed", bounceID: "failed"}
	got := map[int64]bc.WithdrawalStatus{}
	waitFor(t, 90*time.Second, "withdrawals final", func() bool {
		for id := range final {
			st, err := c.WithdrawalStatus(ctx, id)
			must("withdrawal/status", err)
			got[id] = st
		}
		for id, want := range final {
			if got[id].Status != want {
				return false
			}
		}
		return true
	})
	for id, st := range got {
		if st.UserID != "alice" || len(st.TxHash) != 64 {
			t.Errorf("withdrawal %d status %+v", id, st)
		}
	}
	if bal := p.balance(t, tonTo); bal.Cmp(big.NewInt(1_000_000)) != 0 {
		t.Errorf("TON recipient has %s", bal)
	}
	if _, err := c.WithdrawalStatus(ctx, 1_000_000); bc.StatusOf(err) != http.StatusBadRequest {
		t.Errorf("unknown withdrawal ID: %v, want bicycle's 400", err)
	}
	if err := c.Do(ctx, http.MethodGet, "/v1/withdrawal/send", nil, nil, nil); bc.StatusOf(err) != http.StatusBadRequest {
		t.Errorf("wrong method: %v, want bicycle's 400", err)
	}

	// Information.
	hot, err := c.Balance(ctx, "TON", "")
	must("balance", err)
	if hot.Balance == "" || hot.TotalPendingAmount != "0" || hot.TotalProcessingAmount != "0" {
		t.Errorf("hot balance %+v", hot)
	}
	jb, err := c.Balance(ctx, "USDT", usdtDep)
	must("balance of an address", err)
	if jb != (bc.Balance{Balance: jb.Balance}) {
		t.Errorf("jetton balance of an address %+v: bicycle gives the balance only", jb)
	}
	must("DNS record", n.DNS.SetWallet("alice.ton", dep))
	if a, err := c.Resolve(ctx, "alice.ton"); err != nil || a != tonaddr.Format(dep, config.Testnet, true) {
		t.Errorf("resolve %q %v", a, err)
	}
	memo, err := c.ServiceTON(ctx, usdtDep)
	must("withdrawal/service/ton", err)
	if len(memo) != 36 {
		t.Errorf("memo %q", memo)
	}
}
