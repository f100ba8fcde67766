package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/xssnick/tonutils-go/tlb"
	"github.com/xssnick/tonutils-go/ton/wallet"

	"github.com/ton-custody/processor/internal/app"
	"github.com/ton-custody/processor/internal/config"
	"github.com/ton-custody/processor/internal/notify"
	"github.com/ton-custody/processor/internal/store/storetest"
	"github.com/ton-custody/processor/internal/tonaddr"
	"github.com/ton-custody/processor/internal/tonsim"
	"github.com/ton-custody/processor/internal/withdrawals"
)

var emu *tonsim.Emulator

func TestMain(m *testing.M) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	var err error
	emu, err = tonsim.OpenEmulator(ctx, "", 0)
	cancel()
	if err != nil {
		fmt.Fprintln(os.Stderr, "app tests need the TON emulator assets (npm):", err)
		os.Exit(1)
	}
	code := m.Run()
	_ = emu.Close(context.Background())
	os.Exit(code)
}

const token = "test-token-0123456789abcdef"

// processor is a running processor on a tonsim network and a fresh database.
type processor struct {
	t      testing.TB
	net    *tonsim.Network
	env    map[string]string
	app    *app.App
	url    string
	cancel context.CancelFunc
	done   chan error
}

func newNetwork(t testing.TB) (*tonsim.Network, *tonsim.Jetton) {
	t.Helper()
	var log *slog.Logger
	if os.Getenv("APP_TEST_LOG") != "" {
		log = app.NewLogger(os.Stderr, "text", slog.LevelDebug).With("component", "tonsim")
	}
	n, err := tonsim.Start(context.Background(), emu, emu.Contracts, tonsim.Options{BlockInterval: 100 * time.Millisecond, LiteAddr: "127.0.0.1:0", Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = n.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	j, err := n.DeployJetton(ctx, "USDT", 6)
	if err != nil {
		t.Fatal(err)
	}
	return n, j
}

// baseEnv configures the processor as an operator would: the chain is
// reached over ADNL through a global config file (the production path).
func baseEnv(t testing.TB, n *tonsim.Network, j *tonsim.Jetton, dbURL string) map[string]string {
	gc, err := n.GlobalConfig()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "global.config.json")
	b, _ := json.Marshal(gc)
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return map[string]string{
		"DATABASE_URL": dbURL,
		"TON_NETWORK":  "testnet",
		"TON_CONFIG":   path,
		"SEED":         strings.Join(wallet.NewSeed(), " "),
		"API_TOKEN":    token,
		"API_LISTEN":   "127.0.0.1:0",
		"JETTONS":      "USDT:" + j.Master.String() + ":1000",
		"LOG_LEVEL":    "error",
	}
}

func startProcessor(t testing.TB, n *tonsim.Network, env map[string]string) *processor {
	t.Helper()
	cfg, err := config.Load(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	return startWith(t, n, env, cfg, nil)
}

func startWith(t testing.TB, n *tonsim.Network, env map[string]string, cfg *config.Config, tune func(*withdrawals.WorkerConfig)) *processor {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	a, err := app.New(ctx, app.Options{Config: cfg, Listener: ln, Tune: tune,
		Logger: testLog(cfg)})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	p := &processor{t: t, net: n, env: env, app: a, url: "http://" + ln.Addr().String(), cancel: cancel, done: make(chan error, 1)}
	go func() { p.done <- a.Serve(ctx) }()
	t.Cleanup(p.stop)
	return p
}

func (p *processor) stop() {
	if p.cancel == nil {
		return
	}
	p.cancel()
	<-p.done
	p.app.Close()
	p.cancel = nil
}

type response struct {
	status int
	body   map[string]any
	raw    string
}

func (p *processor) do(method, path string, body any, auth bool) response {
	p.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, p.url+path, rd)
	req.Header.Set("Content-Type", "application/json")
	if auth {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := p.client().Do(req)
	if err != nil {
		p.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	r := response{status: resp.StatusCode, raw: string(raw)}
	_ = json.Unmarshal(raw, &r.body)
	return r
}

func (p *processor) ok(r response) map[string]any {
	p.t.Helper()
	if r.status != http.StatusOK {
		p.t.Fatalf("status %d: %s", r.status, r.raw)
	}
	return r.body
}

func TestEndToEndAddressesBalancesResolveAndWithdrawalRequests(t *testing.T) {
	t.Parallel()
	n, j := newNetwork(t)
	env := baseEnv(t, n, j, storetest.NewDBURL(t))
	env["WITHDRAWAL_LIMITS"] = "TON:1000000:"
	p := startProcessor(t, n, env)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()

	// Deposit addresses: TON and the jetton, user-friendly testnet non-bounceable.
	ton := p.ok(p.do("POST", "/v1/address/new", map[string]string{"user_id": "alice", "currency": "TON"}, true))["address"].(string)
	usdt := p.ok(p.do("POST", "/v1/address/new", map[string]string{"user_id": "alice", "currency": "USDT"}, true))["address"].(string)
	for _, a := range []string{ton, usdt} {
		if !strings.HasPrefix(a, "0Q") {
			t.Fatalf("deposit address %s is not testnet non-bounceable", a)
		}
	}
	all := p.ok(p.do("GET", "/v1/address/all?user_id=alice", nil, true))["addresses"].([]any)
	if len(all) != 2 || all[0].(map[string]any)["address"] != ton || all[1].(map[string]any)["currency"] != "USDT" {
		t.Fatalf("address/all = %v", all)
	}
	// The jetton deposit's stored jetton wallet is the one the master names.
	owner, err := tonaddr.Parse(usdt, config.Testnet)
	if err != nil {
		t.Fatal(err)
	}
	jw, err := n.JettonWallet(ctx, j.Master, owner)
	if err != nil {
		t.Fatal(err)
	}
	var stored []byte
	if err := p.app.DB.QueryRow(ctx, `SELECT jetton_wallet FROM deposit_wallets WHERE currency = 'USDT'`).Scan(&stored); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(stored, jw.Data()) {
		t.Fatal("stored jetton wallet differs from get_wallet_address")
	}

	// Balances read the chain: a faucet to the TON deposit shows up uninit.
	dep, _ := tonaddr.Parse(ton, config.Testnet)
	if _, err := n.Faucet(ctx, dep, tlb.MustFromTON("2.5").Nano(), false, "hello"); err != nil {
		t.Fatal(err)
	}
	bal := p.ok(p.do("GET", "/v1/balance?currency=TON&address="+ton, nil, true))
	if bal["balance"] != "2500000000" || bal["status"] != "uninit" {
		t.Fatalf("deposit balance %v", bal)
	}
	hot := p.ok(p.do("GET", "/v1/balance?currency=TON", nil, true))
	if hot["status"] != "non_exist" || hot["balance"] != "0" || hot["total_pending_amount"] != "0" {
		t.Fatalf("hot wallet balance %v", hot)
	}
	if _, err := n.Mint(ctx, j.Master, owner, tlbNano(777)); err != nil {
		t.Fatal(err)
	}
	if jb := p.ok(p.do("GET", "/v1/balance?currency=USDT&address="+usdt, nil, true)); jb["balance"] != "777" {
		t.Fatalf("jetton balance %v", jb)
	}

	// DNS.
	target := tonaddr.Format(dep, config.Testnet, true)
	if err := n.DNS.SetWallet("alice.ton", dep); err != nil {
		t.Fatal(err)
	}
	if got := p.ok(p.do("GET", "/v1/resolve?domain=alice.ton", nil, true))["address"]; got != target {
		t.Fatalf("resolve = %v, want %s", got, target)
	}
	if r := p.do("GET", "/v1/resolve?domain=nobody.ton", nil, true); r.status != http.StatusNotFound {
		t.Fatalf("unknown domain: %d %s", r.status, r.raw)
	}

	// Withdrawal requests: idempotent by (user_id, query_id).
	dest := tonaddr.Format(n.Genesis.WalletAddress(), config.Testnet, true)
	w := map[string]string{"user_id": "alice", "query_id": "q1", "currency": "TON", "amount": "1000", "destination": dest, "comment": "payout"}
	id := p.ok(p.do("POST", "/v1/withdrawal/send", w, true))["ID"]
	if again := p.ok(p.do("POST", "/v1/withdrawal/send", w, true))["ID"]; again != id {
		t.Fatalf("same request got id %v, then %v", id, again)
	}
	w["amount"] = "1001"
	if r := p.do("POST", "/v1/withdrawal/send", w, true); r.status != http.StatusConflict {
		t.Fatalf("changed body: %d %s", r.status, r.raw)
	}
	st := p.ok(p.do("GET", fmt.Sprintf("/v1/withdrawal/status?id=%v", id), nil, true))
	if st["status"] != "pending" || st["user_id"] != "alice" || st["query_id"] != "q1" {
		t.Fatalf("status %v", st)
	}
	if r := p.do("POST", "/v1/withdrawal/send", map[string]string{"user_id": "a", "query_id": "q2", "currency": "TON", "amount": "5",
		"destination": ton}, true); r.status != http.StatusBadRequest {
		t.Fatalf("withdrawal to our own deposit address: %d %s", r.status, r.raw)
	}
	if r := p.do("POST", "/v1/withdrawal/send", map[string]string{"user_id": "a", "query_id": "q3", "currency": "TON", "amount": "1000001",
		"destination": dest}, true); r.status != http.StatusBadRequest || !strings.Contains(r.raw, "limit of 1000000 per withdrawal") {
		t.Fatalf("withdrawal above WITHDRAWAL_LIMITS: %d %s", r.status, r.raw)
	}

	// The scanner credits the faucet deposit: history, income by hash, totals.
	var hist []any
	waitFor(t, 30*time.Second, "deposit in history", func() bool {
		hist = p.ok(p.do("GET", "/v1/deposit/history?user_id=alice&currency=TON&limit=10&offset=0", nil, true))["incomes"].([]any)
		return len(hist) == 1
	})
	h := hist[0].(map[string]any)
	if h["amount"] != "2500000000" || h["comment"] != "hello" || h["deposit_address"] != ton ||
		h["source_address"] != tonaddr.Format(n.Genesis.WalletAddress(), config.Testnet, false) {
		t.Fatalf("history entry %v", h)
	}
	byHash := p.ok(p.do("GET", "/v1/deposit/income?tx_hash="+h["tx_hash"].(string), nil, true))
	if byHash["currency"] != "TON" || byHash["income"].(map[string]any)["amount"] != "2500000000" {
		t.Fatalf("income by hash %v", byHash)
	}
	totals := p.ok(p.do("GET", "/v1/income?user_id=alice", nil, true))
	if totals["counting_side"] != "deposit" || !strings.Contains(fmt.Sprint(totals["total_income"]), "2500000000") {
		t.Fatalf("total income %v", totals)
	}
	// Sync is served without a token; the rest is not.
	waitFor(t, 30*time.Second, "is_synced", func() bool {
		r := p.do("GET", "/v1/system/sync", nil, false)
		return r.status == http.StatusOK && r.body["is_synced"] == true && r.body["last_block_gen_utime"].(float64) > 0
	})
	if r := p.do("GET", "/v1/address/all?user_id=alice", nil, false); r.status != http.StatusUnauthorized {
		t.Fatalf("no token: %d", r.status)
	}
	if r := p.do("GET", "/openapi.yaml", nil, false); r.status != http.StatusOK {
		t.Fatalf("openapi: %d", r.status)
	}
	if r := p.do("GET", "/metrics", nil, false); r.status != http.StatusOK || !strings.Contains(r.raw, "processor_db_pool_connections") ||
		!strings.Contains(r.raw, "processor_liteserver_requests_total") || !strings.Contains(r.raw, "processor_http_requests_total") {
		t.Fatalf("metrics miss pool, liteserver or HTTP series")
	}
}

func tlbNano(v int64) *bigInt { return newBig(v) }

func TestHundredConcurrentAddressRequestsGiveHundredAddresses(t *testing.T) {
	t.Parallel()
	n, j := newNetwork(t)
	p := startProcessor(t, n, baseEnv(t, n, j, storetest.NewDBURL(t)))
	var wg sync.WaitGroup
	got := make([]string, 100)
	errs := make(chan string, 100)
	for i := range got {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := p.do("POST", "/v1/address/new", map[string]string{"user_id": fmt.Sprint("u", i%7), "currency": "TON"}, true)
			if r.status != http.StatusOK {
				errs <- r.raw
				return
			}
			got[i] = r.body["address"].(string)
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Fatal(e)
	}
	seen := map[string]bool{}
	for _, a := range got {
		if seen[a] {
			t.Fatalf("address %s handed out twice", a)
		}
		seen[a] = true
	}
}

func TestRestartKeepsAddresses(t *testing.T) {
	t.Parallel()
	n, j := newNetwork(t)
	env := baseEnv(t, n, j, storetest.NewDBURL(t))
	p := startProcessor(t, n, env)
	a := p.ok(p.do("POST", "/v1/address/new", map[string]string{"user_id": "bob", "currency": "TON"}, true))["address"]
	p.stop()
	p2 := startProcessor(t, n, env)
	all := p2.ok(p2.do("GET", "/v1/address/all?user_id=bob", nil, true))["addresses"].([]any)
	if len(all) != 1 || all[0].(map[string]any)["address"] != a {
		t.Fatalf("after restart: %v, want [%v]", all, a)
	}
	// Same mnemonic, same next address derivation: a new one differs.
	b := p2.ok(p2.do("POST", "/v1/address/new", map[string]string{"user_id": "bob", "currency": "TON"}, true))["address"]
	if b == a {
		t.Fatal("restart reused a subwallet id")
	}
}

func waitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s: not within %v", what, d)
}

// A deposit reaches the merchant's webhook, signed, within a second of the
// masterchain block that made it final; a receiver outage only delays it.
func TestDepositWebhookIsSignedAndFastAndSurvivesReceiverOutage(t *testing.T) {
	t.Parallel()
	n, j := newNetwork(t)
	const secret = "whsec-test-0123456789abcdef"
	type hit struct {
		at   time.Time
		body []byte
		ts   string
		sig  string
		id   string
	}
	var mu sync.Mutex
	var hits []hit
	down := true
	srv := http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		defer mu.Unlock()
		if down {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		hits = append(hits, hit{time.Now(), body, r.Header.Get(notify.HeaderTimestamp), r.Header.Get(notify.HeaderSignature), r.Header.Get(notify.HeaderEventID)})
	})}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	env := baseEnv(t, n, j, storetest.NewDBURL(t))
	env["WEBHOOK_URL"] = "http://" + ln.Addr().String() + "/hook"
	env["WEBHOOK_SECRET"] = secret
	p := startProcessor(t, n, env)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	addr := p.ok(p.do("POST", "/v1/address/new", map[string]string{"user_id": "zoe", "currency": "TON"}, true))["address"].(string)
	dep, _ := tonaddr.Parse(addr, config.Testnet)

	// Receiver down: the first deposit waits in the outbox.
	if _, err := n.Faucet(ctx, dep, tlb.MustFromTON("1").Nano(), false, "while down"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1500 * time.Millisecond)
	mu.Lock()
	down = false
	mu.Unlock()
	waitFor(t, 30*time.Second, "delivery after the outage", func() bool { mu.Lock(); defer mu.Unlock(); return len(hits) >= 1 })

	// Receiver up: the next deposit arrives within a second of its block.
	res, err := n.Faucet(ctx, dep, tlb.MustFromTON("2").Nano(), false, "fast")
	if err != nil {
		t.Fatal(err)
	}
	final := time.Now() // Faucet returns as the masterchain block appears
	waitFor(t, 10*time.Second, "second delivery", func() bool { mu.Lock(); defer mu.Unlock(); return len(hits) >= 2 })
	mu.Lock()
	defer mu.Unlock()
	latency := hits[len(hits)-1].at.Sub(final)
	t.Logf("deposit in masterchain block %d delivered to the webhook %v after the block appeared", res.MasterSeqno, latency.Round(time.Millisecond))
	if latency > time.Second {
		t.Errorf("webhook %v after the block, want under 1s", latency)
	}
	for _, h := range hits {
		if err := notify.Verify(secret, h.ts, string(h.body), h.sig, time.Minute); err != nil {
			t.Fatalf("bad signature: %v", err)
		}
		var ev struct {
			EventID string         `json:"event_id"`
			Type    string         `json:"type"`
			Data    map[string]any `json:"data"`
		}
		if err := json.Unmarshal(h.body, &ev); err != nil || ev.EventID != h.id || ev.Type != "deposit" {
			t.Fatalf("event %s: %v", h.body, err)
		}
		if ev.Data["user_id"] != "zoe" || ev.Data["deposit_address"] != addr || ev.Data["currency"] != "TON" || ev.Data["tx_hash"] == "" {
			t.Fatalf("payload %v", ev.Data)
		}
	}
}

// Two replicas on one database: both answer the API, the scanner runs on
// one; when that one dies the other takes over and nothing is credited
// twice or missed.
func TestTwoReplicasShareTheJobsAndFailOver(t *testing.T) {
	t.Parallel()
	n, j := newNetwork(t)
	env := baseEnv(t, n, j, storetest.NewDBURL(t))
	a := startProcessor(t, n, env)
	b := startProcessor(t, n, env)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	addr := a.ok(a.do("POST", "/v1/address/new", map[string]string{"user_id": "r", "currency": "TON"}, true))["address"].(string)
	dep, _ := tonaddr.Parse(addr, config.Testnet)
	if _, err := n.Faucet(ctx, dep, tlb.MustFromTON("1").Nano(), false, "one"); err != nil {
		t.Fatal(err)
	}
	history := func(p *processor) int {
		return len(p.ok(p.do("GET", "/v1/deposit/history?user_id=r&currency=TON&limit=100&offset=0", nil, true))["incomes"].([]any))
	}
	waitFor(t, 30*time.Second, "first deposit on both replicas", func() bool { return history(a) == 1 && history(b) == 1 })
	// Stop whichever replica leads the scanner (both stop if unsure: a then b is fine too).
	a.stop()
	if _, err := n.Faucet(ctx, dep, tlb.MustFromTON("2").Nano(), false, "two"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "second deposit after failover", func() bool { return history(b) == 2 })
	var incomes int
	if err := b.app.DB.QueryRow(ctx, `SELECT count(*) FROM incomes`).Scan(&incomes); err != nil || incomes != 2 {
		t.Fatalf("%d incomes, want 2 (%v)", incomes, err)
	}
}

func testLog(cfg *config.Config) *slog.Logger {
	if os.Getenv("APP_TEST_LOG") != "" {
		return app.NewLogger(os.Stderr, "text", slog.LevelDebug)
	}
	return app.NewLogger(io.Discard, "json", cfg.LogLevel)
}
