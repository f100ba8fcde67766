package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/xssnick/tonutils-go/address"
	"github.com/xssnick/tonutils-go/liteclient"
	"github.com/xssnick/tonutils-go/tlb"
	"github.com/xssnick/tonutils-go/ton"
	"github.com/xssnick/tonutils-go/ton/jetton"
	"github.com/xssnick/tonutils-go/ton/wallet"

	"github.com/ton-custody/processor/internal/app"
	"github.com/ton-custody/processor/internal/config"
	"github.com/ton-custody/processor/internal/store/storetest"
	"github.com/ton-custody/processor/internal/tonaddr"
	"github.com/ton-custody/processor/internal/withdrawals"
)

// Network is everything the suite needs to know about the chain it runs
// on. tonsim and testnet differ only in how this is filled in.
type Network struct {
	Name string
	// Config is the global config (file path or http(s) URL) of the
	// network; it becomes the processor's TON_CONFIG.
	Config string
	// Seed is the 24-word mnemonic of a funded funder wallet.
	Seed    []string
	Version wallet.VersionConfig
	// Jetton is a jetton master the funder holds at least JettonAmount
	// of; nil skips the jetton scenarios.
	Jetton       *address.Address
	JettonAmount *big.Int
	// DNSName must resolve to DNSWallet; "" skips the DNS scenario.
	DNSName   string
	DNSWallet *address.Address
	// BlockTime scales every timeout.
	BlockTime time.Duration
}

const (
	token        = "e2e-token-0123456789abcdef"
	jettonSymbol = "E2EJ"
	// sweepThreshold is the processor's TON_SWEEP_THRESHOLD here: 1 TON.
	sweepThreshold = "1000000000"
)

var ton1 = tlb.MustFromTON

// within is a timeout of base plus the given number of blocks.
func (n *Network) within(blocks int) time.Duration {
	return 20*time.Second + time.Duration(blocks)*n.BlockTime
}

// funder signs transfers from the funded wallet. Every send uses a fresh
// API client: tonutils-go caches the masterchain head for a few seconds
// and would otherwise build a second transfer on a stale seqno.
type funder struct {
	net  *Network
	pool *liteclient.ConnectionPool
	addr *address.Address
}

func newFunder(t *testing.T, n *Network) *funder {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var gc *liteclient.GlobalConfig
	var err error
	if strings.HasPrefix(n.Config, "http://") || strings.HasPrefix(n.Config, "https://") {
		gc, err = liteclient.GetConfigFromUrl(ctx, n.Config)
	} else {
		gc, err = liteclient.GetConfigFromFile(n.Config)
	}
	if err != nil {
		t.Fatalf("global config %s: %v", n.Config, err)
	}
	pool := liteclient.NewConnectionPool()
	if err := pool.AddConnectionsFromConfig(ctx, gc); err != nil {
		t.Fatalf("connect to the liteservers of %s: %v", n.Config, err)
	}
	t.Cleanup(pool.Stop)
	f := &funder{net: n, pool: pool}
	w, err := wallet.FromSeed(f.api(), n.Seed, n.Version)
	if err != nil {
		t.Fatalf("funder wallet from E2E_SEED: %v", err)
	}
	f.addr = w.WalletAddress()
	return f
}

func (f *funder) api() ton.APIClientWrapped {
	return ton.NewAPIClient(f.pool, ton.ProofCheckPolicyFast).WithRetry(3)
}

func (f *funder) balance(t *testing.T) *big.Int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	api := f.api()
	b, err := api.CurrentMasterchainInfo(ctx)
	if err != nil {
		t.Fatal(err)
	}
	acc, err := api.GetAccount(ctx, b, f.addr)
	if err != nil {
		t.Fatal(err)
	}
	if !acc.IsActive || acc.State == nil {
		return new(big.Int)
	}
	return acc.State.Balance.Nano()
}

func (f *funder) send(t *testing.T, msgs ...*wallet.Message) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), f.net.within(60))
	defer cancel()
	w, err := wallet.FromSeed(f.api(), f.net.Seed, f.net.Version)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := w.SendManyWaitTransaction(ctx, msgs); err != nil {
		t.Fatalf("funder transfer: %v", err)
	}
}

// sendTON sends non-bounceable TON (the destinations are uninit).
func (f *funder) sendTON(t *testing.T, to *address.Address, amount tlb.Coins, comment string) {
	t.Helper()
	w, _ := wallet.FromSeed(nil, f.net.Seed, f.net.Version)
	msg, err := w.BuildTransfer(to, amount, false, comment)
	if err != nil {
		t.Fatal(err)
	}
	f.send(t, msg)
}

// sendJetton transfers jettons with a forward TON amount and a comment,
// so the recipient gets a transfer_notification.
func (f *funder) sendJetton(t *testing.T, to *address.Address, amount *big.Int, comment string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	jw, err := jetton.NewJettonMasterClient(f.api(), f.net.Jetton).GetJettonWallet(ctx, f.addr)
	if err != nil {
		t.Fatal(err)
	}
	fwd, _ := wallet.CreateCommentCell(comment)
	body, err := jw.BuildTransferPayloadV2(to, f.addr, tlb.FromNanoTON(amount), ton1("0.02"), fwd, nil)
	if err != nil {
		t.Fatal(err)
	}
	f.send(t, wallet.SimpleMessage(jw.Address(), ton1("0.1"), body))
}

// processor is the real processor (internal/app) on a fresh database and
// a fresh random SEED, so every run has new hot and deposit addresses.
type processor struct {
	t   *testing.T
	app *app.App
	url string
}

func startProcessor(t *testing.T, n *Network) *processor {
	t.Helper()
	env := map[string]string{
		"DATABASE_URL":        storetest.NewDBURL(t),
		"TON_NETWORK":         "testnet",
		"TON_CONFIG":          n.Config,
		"SEED":                strings.Join(wallet.NewSeed(), " "),
		"API_TOKEN":           token,
		"API_LISTEN":          "127.0.0.1:0",
		"TON_SWEEP_THRESHOLD": sweepThreshold,
		"LOG_LEVEL":           "error",
	}
	if n.Jetton != nil {
		// A threshold far above the test amount: the jetton deposit stays.
		env["JETTONS"] = jettonSymbol + ":" + tonaddr.Format(n.Jetton, config.Testnet, true) + ":1000000000000000000"
	}
	if lvl := os.Getenv("E2E_LOG"); lvl != "" {
		env["LOG_LEVEL"] = lvl
	}
	cfg, err := config.Load(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	lvl := slog.LevelError
	_ = lvl.UnmarshalText([]byte(env["LOG_LEVEL"]))
	a, err := app.New(ctx, app.Options{Config: cfg, Listener: ln, Logger: app.NewLogger(os.Stderr, "text", lvl),
		Tune: func(c *withdrawals.WorkerConfig) {
			c.Interval = 500 * time.Millisecond
			c.ResendEvery = max(time.Second, 2*n.BlockTime)
		}})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- a.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		<-done
		a.Close()
	})
	return &processor{t: t, app: a, url: "http://" + ln.Addr().String()}
}

func (p *processor) do(t *testing.T, method, path string, body any) (int, map[string]any, string) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, p.url+path, rd)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := openAPIClient(t).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var m map[string]any
	_ = json.Unmarshal(raw, &m)
	return resp.StatusCode, m, string(raw)
}

func (p *processor) ok(t *testing.T, method, path string, body any) map[string]any {
	t.Helper()
	st, m, raw := p.do(t, method, path, body)
	if st != http.StatusOK {
		t.Fatalf("%s %s: status %d: %s", method, path, st, raw)
	}
	return m
}

func (p *processor) newAddress(t *testing.T, user, currency string) (string, *address.Address) {
	t.Helper()
	s := p.ok(t, "POST", "/v1/address/new", map[string]string{"user_id": user, "currency": currency})["address"].(string)
	a, err := tonaddr.Parse(s, config.Testnet)
	if err != nil {
		t.Fatal(err)
	}
	return s, a
}

func (p *processor) history(t *testing.T, user, currency string) []map[string]any {
	t.Helper()
	list, _ := p.ok(t, "GET", "/v1/deposit/history?user_id="+user+"&currency="+currency+"&limit=10&offset=0", nil)["incomes"].([]any)
	out := make([]map[string]any, len(list))
	for i, e := range list {
		out[i] = e.(map[string]any)
	}
	return out
}

func (p *processor) hotBalance(t *testing.T) *big.Int {
	t.Helper()
	return bigOf(t, p.ok(t, "GET", "/v1/balance?currency=TON", nil)["balance"])
}

func (p *processor) chainBalance(t *testing.T, a *address.Address) *big.Int {
	t.Helper()
	b, _, err := p.app.Chain.AccountState(context.Background(), a)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func (p *processor) withdraw(t *testing.T, query string, amount *big.Int, to string) any {
	t.Helper()
	return p.ok(t, "POST", "/v1/withdrawal/send", map[string]string{"user_id": "e2e", "query_id": query,
		"currency": "TON", "amount": amount.String(), "destination": to, "comment": "e2e " + query})["ID"]
}

func (p *processor) waitWithdrawal(t *testing.T, id any, d time.Duration) map[string]any {
	t.Helper()
	var st map[string]any
	waitFor(t, d, fmt.Sprintf("withdrawal %v settled", id), func() bool {
		st = p.ok(t, "GET", fmt.Sprintf("/v1/withdrawal/status?id=%v", id), nil)
		return st["status"] == "processed" || st["status"] == "failed"
	})
	return st
}

func bigOf(t *testing.T, v any) *big.Int {
	t.Helper()
	b, ok := new(big.Int).SetString(fmt.Sprint(v), 10)
	if !ok {
		t.Fatalf("not an amount: %v", v)
	}
	return b
}

func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, d)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// randomAddress is a fresh basechain address nobody holds the key of.
func randomAddress(bounceable bool) string {
	h := make([]byte, 32)
	_, _ = rand.Read(h)
	return tonaddr.Format(address.NewAddress(0, 0, h), config.Testnet, bounceable)
}

func randomTag() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// runSuite runs every scenario against n, in order, on one processor.
// The scenarios cost about 0.35 TON on a real network; the rest of what
// the hot wallet holds goes back to the funder at the end.
func runSuite(t *testing.T, n *Network) {
	f := newFunder(t, n)
	fb := f.balance(t)
	t.Logf("%s: funder %s holds %s TON", n.Name, tonaddr.Format(f.addr, config.Testnet, true), tlb.FromNanoTON(fb))
	if fb.Cmp(ton1("3").Nano()) < 0 {
		t.Fatalf("funder %s holds %s TON, the suite needs at least 3 TON", tonaddr.Format(f.addr, config.Testnet, true), tlb.FromNanoTON(fb))
	}
	p := startProcessor(t, n)
	hot := p.app.Wallets.HotWalletAddress()
	t.Logf("%s: hot wallet %s", n.Name, tonaddr.Format(hot, config.Testnet, true))
	// Registered after the processor's own cleanup, so it runs first.
	t.Cleanup(func() { returnLeftovers(t, n, p, f) })

	f.sendTON(t, hot, ton1("1.5"), "e2e hot wallet")
	waitFor(t, n.within(20), "hot wallet funded", func() bool { return p.hotBalance(t).Cmp(ton1("1.5").Nano()) >= 0 })

	ok := t.Run("TONDepositCreditedOnceWithComment", func(t *testing.T) {
		user := "dep-" + randomTag()
		addr, dep := p.newAddress(t, user, "TON")
		comment := "e2e deposit " + randomTag()
		amount := ton1("0.2")
		f.sendTON(t, dep, amount, comment)
		var h []map[string]any
		waitFor(t, n.within(20), "deposit in history", func() bool { h = p.history(t, user, "TON"); return len(h) > 0 })
		if e := h[0]; e["amount"] != amount.Nano().String() || e["comment"] != comment || e["deposit_address"] != addr ||
			e["source_address"] != tonaddr.Format(f.addr, config.Testnet, false) {
			t.Fatalf("history entry %v", e)
		}
		inc := p.ok(t, "GET", "/v1/deposit/income?tx_hash="+h[0]["tx_hash"].(string), nil)
		if inc["currency"] != "TON" {
			t.Fatalf("income by hash %v", inc)
		}
		time.Sleep(2*time.Second + 3*n.BlockTime) // a few more blocks: still credited once
		if h = p.history(t, user, "TON"); len(h) != 1 {
			t.Fatalf("deposit credited %d times: %v", len(h), h)
		}
	})
	ok = t.Run("WithdrawalFromHotWallet", func(t *testing.T) {
		to := randomAddress(false)
		amount := ton1("0.01").Nano()
		st := p.waitWithdrawal(t, p.withdraw(t, "pay-"+randomTag(), amount, to), n.within(60))
		if st["status"] != "processed" || st["tx_hash"] == nil || st["tx_hash"] == "" {
			t.Fatalf("withdrawal %v", st)
		}
		dst, _ := tonaddr.Parse(to, config.Testnet)
		waitFor(t, n.within(10), "destination credited", func() bool { return p.chainBalance(t, dst).Cmp(amount) == 0 })
	}) && ok
	ok = t.Run("BounceableWithdrawalToUninitFailsWithMoneyBack", func(t *testing.T) {
		before := p.hotBalance(t)
		st := p.waitWithdrawal(t, p.withdraw(t, "bounce-"+randomTag(), ton1("0.1").Nano(), randomAddress(true)), n.within(60))
		if st["status"] != "failed" || st["reason"] == nil || st["reason"] == "" {
			t.Fatalf("bounced withdrawal %v", st)
		}
		waitFor(t, n.within(10), "bounced value back", func() bool {
			return new(big.Int).Sub(before, p.hotBalance(t)).Cmp(ton1("0.05").Nano()) < 0 // only fees are gone
		})
	}) && ok
	ok = t.Run("TONDepositAboveThresholdSwept", func(t *testing.T) {
		user := "sweep-" + randomTag()
		_, dep := p.newAddress(t, user, "TON")
		before := p.hotBalance(t)
		f.sendTON(t, dep, ton1("1.2"), "e2e sweep")
		waitFor(t, n.within(20), "deposit in history", func() bool { return len(p.history(t, user, "TON")) == 1 })
		// Swept on chain, and the processor saw its sweep confirmed.
		waitFor(t, n.within(60), "deposit swept", func() bool {
			var c int
			if err := p.app.DB.QueryRow(context.Background(), `SELECT count(*) FROM sweeps WHERE state = 'confirmed' AND currency = 'TON'`).Scan(&c); err != nil {
				t.Fatal(err)
			}
			if c > 1 {
				t.Fatalf("%d confirmed TON sweeps, want 1", c)
			}
			return c == 1 && p.chainBalance(t, dep).Sign() == 0 && new(big.Int).Sub(p.hotBalance(t), before).Cmp(ton1("1.15").Nano()) >= 0
		})
	}) && ok
	if n.Jetton == nil {
		t.Logf("%s: no jetton master (E2E_JETTON): jetton deposit and service withdrawal scenarios skipped", n.Name)
	} else {
		ok = t.Run("JettonDepositCredited", func(t *testing.T) {
			user := "jet-" + randomTag()
			addr, dep := p.newAddress(t, user, jettonSymbol)
			comment := "e2e jetton " + randomTag()
			f.sendJetton(t, dep, n.JettonAmount, comment)
			var h []map[string]any
			waitFor(t, n.within(30), "jetton deposit in history", func() bool { h = p.history(t, user, jettonSymbol); return len(h) > 0 })
			if e := h[0]; e["amount"] != n.JettonAmount.String() || e["deposit_address"] != addr || e["comment"] != comment {
				t.Fatalf("jetton history entry %v", e)
			}
			time.Sleep(2*time.Second + 3*n.BlockTime)
			if h = p.history(t, user, jettonSymbol); len(h) != 1 {
				t.Fatalf("jetton deposit credited %d times: %v", len(h), h)
			}
		}) && ok
		ok = t.Run("ServiceWithdrawalTON", func(t *testing.T) {
			addr, dep := p.newAddress(t, "svc-"+randomTag(), jettonSymbol)
			f.sendTON(t, dep, ton1("0.3"), "e2e stray TON")
			waitFor(t, n.within(20), "stray TON arrived", func() bool { return p.chainBalance(t, dep).Sign() > 0 })
			memo := p.ok(t, "POST", "/v1/withdrawal/service/ton", map[string]string{"from": addr})["memo"].(string)
			var st map[string]any
			waitFor(t, n.within(60), "service withdrawal settled", func() bool {
				st = p.ok(t, "GET", "/v1/withdrawal/service/status?memo="+memo, nil)
				return st["status"] == "processed" || st["status"] == "failed"
			})
			if st["status"] != "processed" || bigOf(t, st["amount"]).Cmp(ton1("0.25").Nano()) < 0 {
				t.Fatalf("service withdrawal %v", st)
			}
		}) && ok
	}
	if n.DNSName == "" {
		t.Logf("%s: no DNS name (E2E_DNS_NAME, E2E_DNS_WALLET): DNS scenario skipped", n.Name)
	} else {
		ok = t.Run("ResolveDNS", func(t *testing.T) {
			got := p.ok(t, "GET", "/v1/resolve?domain="+n.DNSName, nil)["address"]
			a, err := address.ParseAddr(fmt.Sprint(got))
			if err != nil || !a.Equals(n.DNSWallet) {
				t.Fatalf("resolve %s = %v, want %s", n.DNSName, got, n.DNSWallet)
			}
		}) && ok
	}
	if !ok {
		t.Log("some scenarios failed")
	}
}

// returnLeftovers sends what the hot wallet holds, less a fee reserve,
// back to the funder through an ordinary processor withdrawal.
func returnLeftovers(t *testing.T, n *Network, p *processor, f *funder) {
	bal := p.hotBalance(t)
	left := new(big.Int).Sub(bal, ton1("0.1").Nano())
	if left.Cmp(ton1("0.1").Nano()) < 0 {
		t.Logf("%s: hot wallet holds %s TON, nothing to return", n.Name, tlb.FromNanoTON(bal))
		return
	}
	to := tonaddr.Format(f.addr, config.Testnet, true)
	st := p.waitWithdrawal(t, p.withdraw(t, "return-"+randomTag(), left, to), n.within(60))
	if st["status"] != "processed" {
		t.Errorf("returning %s TON to the funder: %v", tlb.FromNanoTON(left), st)
		return
	}
	t.Logf("%s: returned %s TON to the funder", n.Name, tlb.FromNanoTON(left))
}
