package takeover_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/xssnick/tonutils-go/address"
	"github.com/xssnick/tonutils-go/tlb"

	"github.com/ton-custody/processor/internal/app"
	"github.com/ton-custody/processor/internal/blockscanner"
	"github.com/ton-custody/processor/internal/config"
	"github.com/ton-custody/processor/internal/store"
	"github.com/ton-custody/processor/internal/store/storetest"
	"github.com/ton-custody/processor/internal/takeover"
	"github.com/ton-custody/processor/internal/ton"
	"github.com/ton-custody/processor/internal/tonaddr"
	"github.com/ton-custody/processor/internal/tonsim"
	"github.com/ton-custody/processor/internal/wallets"
	"github.com/ton-custody/processor/internal/withdrawals"
)

var emu *tonsim.Emulator

func TestMain(m *testing.M) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	var err error
	emu, err = tonsim.OpenEmulator(ctx, "", 0)
	cancel()
	if err != nil {
		fmt.Fprintln(os.Stderr, "takeover tests need the TON emulator assets (npm):", err)
		os.Exit(1)
	}
	code := m.Run()
	_ = emu.Close(context.Background())
	os.Exit(code)
}

const token = "test-token-0123456789abcdef"

func newNetwork(t *testing.T) (*tonsim.Network, *tonsim.Jetton) {
	t.Helper()
	n, err := tonsim.Start(context.Background(), emu, emu.Contracts, tonsim.Options{BlockInterval: 100 * time.Millisecond, LiteAddr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = n.Close() })
	j, err := n.DeployJetton(tctx(t), "USDT", 6)
	if err != nil {
		t.Fatal(err)
	}
	return n, j
}

// env is processor serve's environment with bicycle's SEED.
func env(t *testing.T, n *tonsim.Network, j *tonsim.Jetton, dbURL string, words []string) map[string]string {
	t.Helper()
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
		"DATABASE_URL": dbURL, "TON_NETWORK": "testnet", "TON_CONFIG": path, "SEED": seedString(words),
		"API_TOKEN": token, "API_LISTEN": "127.0.0.1:0", "JETTONS": "USDT:" + j.Master.String() + ":1000",
		"TON_SWEEP_THRESHOLD": "1000000000", "LOG_LEVEL": "error",
	}
}

func loadConfig(t *testing.T, e map[string]string) *config.Config {
	t.Helper()
	cfg, err := config.Load(func(k string) string { return e[k] })
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// chainOf is the takeover's chain access over ADNL, as the command has it.
func chainOf(t *testing.T, cfg *config.Config) (takeover.TonChain, *ton.Client) {
	t.Helper()
	c, err := ton.Connect(tctx(t), cfg.TONConfig, ton.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return takeover.TonChain{C: c}, c
}

func openDB(t *testing.T, url string) *pgxpool.Pool {
	t.Helper()
	db, err := store.Open(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	return db
}

func runTakeover(t *testing.T, ours, bic *pgxpool.Pool, ch takeover.Chain, keys *wallets.Keys, cfg *config.Config, dry bool) (*takeover.Report, string, error) {
	t.Helper()
	code := tonsim.BicycleProxyCode()
	rep, err := takeover.Run(tctx(t), takeover.Options{Ours: ours, Bicycle: bic, Chain: ch, Keys: keys, ProxyCode: code,
		ProxyCodeHash: hex.EncodeToString(code.Hash()), Jettons: cfg.Jettons, CountingSide: cfg.IncomeCountingSide,
		DryRun: dry, Watch: 200 * time.Millisecond, ExpiryGrace: 2 * time.Second})
	var out bytes.Buffer
	if rep != nil {
		rep.Write(&out)
	}
	t.Logf("takeover (dry run %v):\n%s", dry, out.String())
	return rep, out.String(), err
}

type processor struct {
	t   *testing.T
	app *app.App
	url string
}

func startProcessor(t *testing.T, cfg *config.Config, logs *logRecorder) *processor {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	log := slog.New(logs)
	if os.Getenv("APP_TEST_LOG") != "" {
		log = app.NewLogger(os.Stderr, "text", slog.LevelDebug)
	}
	a, err := app.New(ctx, app.Options{Config: cfg, Listener: ln, Logger: log, Tune: func(c *withdrawals.WorkerConfig) {
		c.Interval = 300 * time.Millisecond
		c.ResendEvery = time.Second
	}})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- a.Serve(ctx) }()
	t.Cleanup(func() { cancel(); <-done; a.Close() })
	return &processor{t: t, app: a, url: "http://" + ln.Addr().String()}
}

func (p *processor) do(method, path string, body any) (int, map[string]any, string) {
	p.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, p.url+path, rd)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		p.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var m map[string]any
	_ = json.Unmarshal(raw, &m)
	return resp.StatusCode, m, string(raw)
}

func (p *processor) ok(method, path string, body any) map[string]any {
	p.t.Helper()
	st, m, raw := p.do(method, path, body)
	if st != http.StatusOK {
		p.t.Fatalf("%s %s: %d %s", method, path, st, raw)
	}
	return m
}

func (p *processor) count(q string, args ...any) int {
	p.t.Helper()
	var n int
	if err := p.app.DB.QueryRow(context.Background(), q, args...).Scan(&n); err != nil {
		p.t.Fatal(err)
	}
	return n
}

func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("%s: not within %v", what, d)
}

func friendly(a *address.Address) string { return tonaddr.Format(a, config.Testnet, false) }

func (p *processor) history(user, currency string) []map[string]any {
	p.t.Helper()
	list := p.ok("GET", "/v1/deposit/history?user_id="+user+"&currency="+currency+"&limit=100&offset=0&sort_order=asc", nil)["incomes"].([]any)
	out := make([]map[string]any, len(list))
	for i, v := range list {
		out[i] = v.(map[string]any)
	}
	return out
}

func (p *processor) totals(user string) map[string]string {
	p.t.Helper()
	out := map[string]string{}
	for _, v := range p.ok("GET", "/v1/income?user_id="+user, nil)["total_income"].([]any) {
		m := v.(map[string]any)
		out[m["deposit_address"].(string)] = m["amount"].(string)
	}
	return out
}

// The takeover of a bicycle deployment on tonsim, end to end: bicycle
// runs (deposits, jetton deposits, withdrawals finished, failed, pending
// and in flight), stops; deposits arrive while nobody runs; the import
// (dry run first, then twice for real) and this processor carry on:
// deposits to old addresses are credited once, nothing before the
// cut-over twice, old withdrawals' retries return their old IDs, history
// and income totals continue, funds move out of bicycle's wallets.
func TestTakeoverFromBicycleOnTonsim(t *testing.T) {
	t.Parallel()
	n, j := newNetwork(t)
	s := newBicycleSim(t, n, j)
	ctx := tctx(t)

	if _, err := n.Mint(ctx, j.Master, n.Genesis.WalletAddress(), big.NewInt(1_000_000)); err != nil {
		t.Fatal(err)
	}

	// bicycle runs.
	s.start("50")
	aliceTON, bobTON := s.tonDeposit("alice"), s.tonDeposit("bob")
	proxy, proxyJW := s.jettonDeposit("alice")
	s.tonIn(aliceTON, "3", "hello")
	s.tonIn(bobTON, "1", "")
	s.mintIn(proxy, proxyJW, 700)
	// Non-bounceable destinations, as bicycle stored them (bounceable=false).
	dest1, dest2, dest3 := friendly(freshAddr(0x61)), friendly(freshAddr(0x62)), friendly(freshAddr(0x63))
	paid := payout{user: "alice", query: "w-1", dest: freshAddr(0x61), nano: 500_000_000, comment: "payout"}
	paidID, paidTx := s.pay(paid, false)
	// More than the hot wallet holds: mode 3 skips it, the batch executes
	// without it, and bicycle marks it failed.
	failed := payout{user: "alice", query: "w-2", dest: freshAddr(0x62), nano: 1_000_000_000_000_000}
	failedID, _ := s.pay(failed, true)
	pending := payout{user: "bob", query: "w-3", dest: freshAddr(0x63), nano: 200_000_000, binary: "9fe7_"}
	pendingID := s.request(pending, false, false)
	// Last before the cut-over: a jetton transfer with forward TON. Its
	// notification reaches the proxy after bicycle's last block, and
	// must not be credited again.
	lastJetton := s.jettonIn(proxy, proxyJW, 1500, "jet")
	// A batch bicycle signed and recorded just before it stopped, which
	// executes after its last scanned block.
	inflight := payout{user: "carol", query: "w-4", dest: freshAddr(0x64), nano: 300_000_000}
	inflightID := s.request(inflight, true, false)
	ext, until := s.signHot(false, s.tonMessage(inflight))
	s.exec(`INSERT INTO payments.external_withdrawals (msg_uuid, query_id, expired_at, address) VALUES ($1::uuid, $2, to_timestamp($3), $4)`,
		batchID(ext), inflightID, int64(until), inflight.dest.Data())
	// bicycle's sweep arrivals at its hot wallet (internal_incomes: the
	// income totals of DEPOSIT_SIDE_BALANCE=false): alice's TON deposit
	// swept twice, her proxy's jettons once; bob's never.
	s.exec(`INSERT INTO payments.internal_incomes (lt, utime, deposit_address, amount, memo) VALUES
		(100, to_timestamp(1700000000), $1, 2990000000, gen_random_uuid()), (101, to_timestamp(1700000001), $1, 5000000, gen_random_uuid()),
		(102, to_timestamp(1700000002), $2, 700, gen_random_uuid())`, aliceTON.Data(), proxyJW.Data())
	// bicycle's service withdrawals: unfinished from bob's TON deposit
	// (jettons of the USDT master; bicycle had filled it with gas), which
	// this processor carries out; unfinished from alice's proxy (its TON),
	// which only bicycle's hot wallet can command; one finished.
	const serviceMemo, proxyMemo = "6f1c2d3e-4b5a-4c6d-8e7f-901a2b3c4d5e", "0b6c8d2e-1f3a-4b5c-9d6e-7f8a9b0c1d2e"
	s.exec(`INSERT INTO payments.service_withdrawal_requests (memo, filled, processed, from_address, jetton_master) VALUES
		($1::uuid, true, false, $3, $4), ($2::uuid, false, false, $5, NULL), (gen_random_uuid(), true, true, $6, $4)`,
		serviceMemo, proxyMemo, bobTON.Data(), j.Master.Data(), proxy.Data(), aliceTON.Data())
	cut := s.stopAt(10 * time.Minute)
	t.Logf("bicycle's cut-over: shard %x seqno %d, end lt %d", uint64(cut.ID.Shard), cut.ID.SeqNo, cut.EndLT)

	// bicycle stopped. Its last batch executes; a deposit arrives.
	inflightTx := s.sendHot(ext)
	// Gas bicycle's hot wallet sent bob's TON deposit (for a jetton service
	// withdrawal of its own), landing after the cut-over: not bob's deposit.
	gasExt, _ := s.signHot(false, s.tonMessage(payout{user: "bicycle", query: "gas", dest: bobTON, nano: 100_000_000}))
	gasTx := s.sendHot(gasExt)
	afterStop, err := n.Faucet(ctx, aliceTON, tlb.MustFromTON("2").Nano(), false, "after")
	if err != nil {
		t.Fatal(err)
	}
	if afterStop.LT < cut.EndLT || inflightTx.LT < cut.EndLT || gasTx.LT < cut.EndLT {
		t.Fatal("the scenario's after-stop transactions are not after the cut-over")
	}

	// The import.
	oursURL := storetest.NewDBURL(t)
	e := env(t, n, j, oursURL, s.words)
	cfg := loadConfig(t, e)
	ch, _ := chainOf(t, cfg)
	ours := openDB(t, oursURL)
	bic := openDB(t, s.url)
	rep, out, err := runTakeover(t, ours, bic, ch, s.keys, cfg, true)
	if err != nil || rep.Blocking() {
		t.Fatalf("dry run: %v\n%s", err, out)
	}
	for _, want := range []string{"DRY RUN", "stage addresses: would import", "TON deposit addresses imported", "incomes imported",
		"zero-amount jetton rows not imported", "withdrawal 4 was in flight when bicycle stopped: processed", "RESULT: the import would succeed",
		fmt.Sprintf("%-52s %d", "sweep arrivals imported (hot_wallet income totals)", 3),
		fmt.Sprintf("%-52s %d", "unfinished service withdrawals imported (jettons from TON deposits)", 1),
		fmt.Sprintf("%-52s %d", "unfinished service withdrawals from proxies (not imported)", 1),
		"unfinished service withdrawal " + proxyMemo + " (TON from jetton deposit"} {
		if !strings.Contains(out, want) {
			t.Errorf("dry run report lacks %q", want)
		}
	}
	var rows int
	if err := ours.QueryRow(ctx, `SELECT (SELECT count(*) FROM deposit_wallets) + (SELECT count(*) FROM incomes) + (SELECT count(*) FROM withdrawals)
		+ (SELECT count(*) FROM bicycle_takeover) + (SELECT count(*) FROM scanner_cursor)`).Scan(&rows); err != nil || rows != 0 {
		t.Fatalf("the dry run wrote %d rows (%v)", rows, err)
	}
	if _, out, err = runTakeover(t, ours, bic, ch, s.keys, cfg, false); err != nil {
		t.Fatalf("import: %v\n%s", err, out)
	}
	counts := func() string {
		var c string
		if err := ours.QueryRow(ctx, `SELECT concat_ws('/', (SELECT count(*) FROM deposit_wallets), (SELECT count(*) FROM incomes),
			(SELECT count(*) FROM withdrawals), (SELECT mc_seqno FROM scanner_cursor))`).Scan(&c); err != nil {
			t.Fatal(err)
		}
		return c
	}
	first := counts()
	if _, out, err = runTakeover(t, ours, bic, ch, s.keys, cfg, false); err != nil || strings.Count(out, "already imported") != 5 ||
		!strings.Contains(out, "sweep arrivals imported before") {
		t.Fatalf("second import: %v\n%s", err, out)
	}
	// With INCOME_COUNTING_SIDE=hot_wallet the totals are bicycle's sweep
	// arrivals (and, later, this processor's sweeps), each imported once.
	rm, err := blockscanner.NewReadModel(ours, blockscanner.ReadModelConfig{Network: config.Testnet, CountingSide: config.CountHotWallet, AllowableLag: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	hotSide := map[string]string{}
	for _, user := range []string{"alice", "bob"} {
		tot, err := rm.TotalIncome(ctx, user)
		if err != nil {
			t.Fatal(err)
		}
		for _, in := range tot.Incomes {
			hotSide[in.DepositAddress] = in.Amount.String()
		}
	}
	if hotSide[friendly(aliceTON)] != "2995000000" || hotSide[friendly(proxy)] != "700" || hotSide[friendly(bobTON)] != "0" {
		t.Fatalf("hot_wallet-side totals after the import: %v", hotSide)
	}
	// bicycle's unfinished service withdrawal from bob's TON deposit is
	// one of ours, with bicycle's memo, pending; the proxy's is not.
	bobJW, err := n.JettonWallet(ctx, j.Master, bobTON)
	if err != nil {
		t.Fatal(err)
	}
	var svc string
	if err := ours.QueryRow(ctx, `SELECT concat_ws('/', kind, state, encode(from_address, 'hex'), encode(jetton_master, 'hex'), encode(jetton_wallet, 'hex'))
		FROM service_withdrawals WHERE memo = $1::uuid`, serviceMemo).Scan(&svc); err != nil {
		t.Fatalf("bicycle's service withdrawal %s: %v", serviceMemo, err)
	}
	if want := strings.Join([]string{"jetton", "pending", hex.EncodeToString(bobTON.Data()), hex.EncodeToString(j.Master.Data()), hex.EncodeToString(bobJW.Data())}, "/"); svc != want {
		t.Fatalf("imported service withdrawal %s, want %s", svc, want)
	}
	var nsvc int
	if err := ours.QueryRow(ctx, `SELECT count(*) FROM service_withdrawals`).Scan(&nsvc); err != nil || nsvc != 1 {
		t.Fatalf("%d service withdrawals imported (%v), want 1", nsvc, err)
	}
	if again := counts(); again != first {
		t.Fatalf("the second import changed the database: %s -> %s", first, again)
	}
	if !strings.HasPrefix(first, "3/4/4/") {
		t.Fatalf("imported deposits/incomes/withdrawals/cursor = %s", first)
	}

	// This processor carries on.
	logs := &logRecorder{}
	p := startProcessor(t, cfg, logs)
	o := takeover.FundsOptions{Ours: ours, Chain: ch, Keys: s.keys, OurHot: p.app.Wallets.HotWalletAddress(), Jettons: cfg.Jettons}
	waitFor(t, 60*time.Second, "scanner synced", func() bool {
		_, m, _ := p.do("GET", "/v1/system/sync", nil)
		return m["is_synced"] == true
	})

	// History continues: bicycle's rows, then the deposit made while
	// nobody ran, credited once.
	waitFor(t, 30*time.Second, "deposit after the stop credited", func() bool { return len(p.history("alice", "TON")) == 2 })
	h := p.history("alice", "TON")
	if h[0]["amount"] != "3000000000" || h[0]["comment"] != "hello" || h[1]["amount"] != "2000000000" || h[1]["comment"] != "after" ||
		h[1]["tx_hash"] != hex.EncodeToString(afterStop.Hash) || h[0]["deposit_address"] != friendly(aliceTON) {
		t.Fatalf("alice's TON history %v", h)
	}
	byHash := p.ok("GET", "/v1/deposit/income?tx_hash="+h[0]["tx_hash"].(string), nil)
	if byHash["income"].(map[string]any)["amount"] != "3000000000" {
		t.Fatalf("bicycle's deposit by tx_hash: %v", byHash)
	}
	jh := p.history("alice", "USDT")
	if len(jh) != 2 || jh[0]["amount"] != "700" || jh[1]["amount"] != "1500" || jh[1]["comment"] != "jet" ||
		jh[1]["tx_hash"] != hex.EncodeToString(lastJetton.Receive.Hash) || jh[0]["deposit_address"] != friendly(proxy) {
		t.Fatalf("alice's USDT history %v", jh)
	}
	// The scanner started before bicycle's last block (no gap), so it saw
	// the notification of the transfer bicycle credited last, at the proxy
	// (another transaction hash than bicycle's), and skipped it.
	if c := p.count(`SELECT count(*) FROM incomes WHERE tx_hash = $1`, lastJetton.Notification.Hash); c != 0 {
		t.Fatal("the notification of a transfer bicycle credited was credited again")
	}
	if os.Getenv("APP_TEST_LOG") == "" && !logs.has("deposit credited before the takeover skipped", "tx", hex.EncodeToString(lastJetton.Notification.Hash)) {
		t.Fatal("the scanner did not see the notification bicycle's last credited transfer sent (the overlap did not cover it)")
	}
	tot := p.totals("alice")
	if tot[friendly(aliceTON)] != "5000000000" || tot[friendly(proxy)] != "2200" {
		t.Fatalf("alice's income totals %v", tot)
	}
	if tb := p.totals("bob"); tb[friendly(bobTON)] != "1000000000" {
		t.Fatalf("bob's income totals %v", tb)
	}

	// The worker carries out bicycle's service withdrawal (bob's deposit
	// holds none of those jettons: it ends failed, nothing to move), and
	// its status answers for bicycle's memo.
	waitFor(t, 60*time.Second, "bicycle's service withdrawal carried out", func() bool {
		st := p.ok("GET", "/v1/withdrawal/service/status?memo="+serviceMemo, nil)
		return st["status"] == "failed" || st["status"] == "processed"
	})

	// Withdrawals: IDs, keys and states continue.
	paidBody := map[string]string{"user_id": "alice", "query_id": "w-1", "currency": "TON", "amount": "500000000", "destination": dest1, "comment": "payout"}
	if id := p.ok("POST", "/v1/withdrawal/send", paidBody)["ID"]; fmt.Sprint(id) != fmt.Sprint(paidID) {
		t.Fatalf("retry of bicycle's withdrawal got ID %v, want %d", id, paidID)
	}
	if st := p.ok("GET", fmt.Sprintf("/v1/withdrawal/status?id=%d", paidID), nil); st["status"] != "processed" || st["tx_hash"] != hex.EncodeToString(paidTx) {
		t.Fatalf("bicycle's processed withdrawal: %v", st)
	}
	failedBody := map[string]string{"user_id": "alice", "query_id": "w-2", "currency": "TON", "amount": "1000000000000000", "destination": dest2}
	if id := p.ok("POST", "/v1/withdrawal/send", failedBody)["ID"]; fmt.Sprint(id) != fmt.Sprint(failedID) {
		t.Fatalf("retry of bicycle's failed withdrawal got ID %v, want %d", id, failedID)
	}
	if st := p.ok("GET", fmt.Sprintf("/v1/withdrawal/status?id=%d", failedID), nil); st["status"] != "failed" {
		t.Fatalf("bicycle's failed withdrawal: %v", st)
	}
	if st := p.ok("GET", fmt.Sprintf("/v1/withdrawal/status?id=%d", inflightID), nil); st["status"] != "processed" || st["tx_hash"] != hex.EncodeToString(inflightTx.Hash) {
		t.Fatalf("bicycle's in-flight withdrawal: %v", st)
	}
	if code, _, raw := p.do("POST", "/v1/withdrawal/send", map[string]string{"user_id": "alice", "query_id": "w-1", "currency": "TON",
		"amount": "500000001", "destination": dest1, "comment": "payout"}); code != http.StatusConflict {
		t.Fatalf("same key, other body: %d %s", code, raw)
	}

	// The hot wallet step: bicycle's TON (and jettons) move to ours, which
	// then pays bicycle's pending withdrawal.
	if _, err := n.Mint(ctx, j.Master, s.b.HotWallet(), big.NewInt(4000)); err != nil {
		t.Fatal(err)
	}
	o.Out = &testWriter{t}
	res, err := takeover.MoveHot(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Moves) != 2 || res.TxHash == nil {
		t.Fatalf("move-hot moved %+v", res)
	}
	ourJW, err := n.JettonWallet(ctx, j.Master, p.app.Wallets.HotWalletAddress())
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "bicycle's hot jettons on our hot jetton wallet", func() bool {
		b, err := p.app.Chain.JettonBalance(ctx, ourJW)
		return err == nil && b.Int64() == 4000
	})
	pendingBody := map[string]string{"user_id": "bob", "query_id": "w-3", "currency": "TON", "amount": "200000000", "destination": dest3, "binary_comment": "9fe7_"}
	if id := p.ok("POST", "/v1/withdrawal/send", pendingBody)["ID"]; fmt.Sprint(id) != fmt.Sprint(pendingID) {
		t.Fatalf("retry of bicycle's pending withdrawal got ID %v, want %d", id, pendingID)
	}
	waitFor(t, 90*time.Second, "bicycle's pending withdrawal paid by this processor", func() bool {
		return p.ok("GET", fmt.Sprintf("/v1/withdrawal/status?id=%d", pendingID), nil)["status"] == "processed"
	})
	newID := p.ok("POST", "/v1/withdrawal/send", map[string]string{"user_id": "alice", "query_id": "w-5", "currency": "TON",
		"amount": "1000", "destination": dest1})["ID"]
	if id, _ := newID.(float64); int64(id) <= inflightID {
		t.Fatalf("a new withdrawal got ID %v, not after bicycle's %d", newID, inflightID)
	}

	// Deposits to bicycle's addresses now: credited once, and swept with
	// bicycle's key (TON) or through its hot wallet (jettons).
	more, err := n.TransferJetton(ctx, j.Master, proxy, big.NewInt(800), tlb.MustFromTON("0.01").Nano(), "later")
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "jetton deposit after the switch", func() bool { return len(p.history("alice", "USDT")) == 3 })
	if got := p.history("alice", "USDT")[2]; got["amount"] != "800" || got["tx_hash"] != hex.EncodeToString(more.Notification.Hash) {
		t.Fatalf("jetton deposit after the switch: %v", got)
	}
	waitFor(t, 90*time.Second, "bicycle's TON deposit swept with bicycle's key", func() bool {
		return p.count(`SELECT count(*) FROM sweeps s JOIN deposit_wallets d ON d.id = s.deposit_wallet_id
			WHERE s.state = 'confirmed' AND d.derivation = 'bicycle'`) == 1
	})
	if bal, _, err := p.app.Chain.AccountState(ctx, aliceTON); err != nil || bal.Sign() != 0 {
		t.Fatalf("alice's bicycle deposit after the sweep: %v %v", bal, err)
	}
	before, err := p.app.Chain.JettonBalance(ctx, ourJW)
	if err != nil {
		t.Fatal(err)
	}
	res, err = takeover.SweepProxies(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Moves) != 1 || res.Moves[0].Amount.Int64() != 3000 {
		t.Fatalf("sweep-proxies moved %+v, want the proxy's 3000", res.Moves)
	}
	waitFor(t, 30*time.Second, "the proxy's jettons on our hot jetton wallet", func() bool {
		b, err := p.app.Chain.JettonBalance(ctx, ourJW)
		return err == nil && new(big.Int).Sub(b, before).Int64() == 3000
	})
	if b, err := p.app.Chain.JettonBalance(ctx, proxyJW); err != nil || b.Sign() != 0 {
		t.Fatalf("the proxy's jetton wallet after the sweep: %v %v", b, err)
	}

	// Nothing was credited twice: bicycle's 2 TON + 2 jetton rows with an
	// amount, then 1 TON and 1 jetton deposit after the switch; sweeps,
	// proxy commands and bicycle's gas to bob are not deposits.
	time.Sleep(2 * time.Second)
	if c := p.count(`SELECT count(*) FROM incomes`); c != 6 {
		var dump bytes.Buffer
		rows, _ := p.app.DB.Query(ctx, `SELECT id, deposit_wallet_id, amount::text, encode(tx_hash, 'hex'), coalesce(imported_from, '') FROM incomes ORDER BY id`)
		for rows.Next() {
			var id, dep int64
			var amt, h, imp string
			_ = rows.Scan(&id, &dep, &amt, &h, &imp)
			fmt.Fprintf(&dump, "%d %d %s %s %s\n", id, dep, amt, h, imp)
		}
		rows.Close()
		t.Fatalf("%d incomes, want 6:\n%s", c, dump.String())
	}
	if tot := p.totals("alice"); tot[friendly(aliceTON)] != "5000000000" || tot[friendly(proxy)] != "3000" {
		t.Fatalf("alice's income totals at the end %v", tot)
	}
}

// logRecorder keeps the processor's log records (debug included).
type logRecorder struct {
	mu   sync.Mutex
	recs []map[string]string
}

func (l *logRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (l *logRecorder) Handle(_ context.Context, r slog.Record) error {
	m := map[string]string{"msg": r.Message}
	r.Attrs(func(a slog.Attr) bool { m[a.Key] = a.Value.String(); return true })
	l.mu.Lock()
	l.recs = append(l.recs, m)
	l.mu.Unlock()
	return nil
}
func (l *logRecorder) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *logRecorder) WithGroup(string) slog.Handler      { return l }

func (l *logRecorder) has(msg, key, value string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, r := range l.recs {
		if r["msg"] == msg && r[key] == value {
			return true
		}
	}
	return false
}

type testWriter struct{ t *testing.T }

func (w *testWriter) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(b)))
	return len(b), nil
}

func freshAddr(b byte) *address.Address {
	h := bytes.Repeat([]byte{b}, 32)
	h[31] = 0x01
	a := address.NewAddress(0, 0, h)
	a.SetTestnetOnly(true)
	return a
}
