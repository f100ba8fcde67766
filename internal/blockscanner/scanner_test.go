package blockscanner_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/xssnick/tonutils-go/address"
	"github.com/xssnick/tonutils-go/tlb"
	tonutils "github.com/xssnick/tonutils-go/ton"
	"github.com/xssnick/tonutils-go/ton/jetton"
	"github.com/xssnick/tonutils-go/ton/wallet"
	"github.com/xssnick/tonutils-go/tvm/cell"

	"github.com/ton-custody/processor/internal/blockscanner"
	"github.com/ton-custody/processor/internal/config"
	"github.com/ton-custody/processor/internal/store/storetest"
	"github.com/ton-custody/processor/internal/ton"
	"github.com/ton-custody/processor/internal/tonaddr"
	"github.com/ton-custody/processor/internal/tonsim"
	"github.com/ton-custody/processor/internal/tonsim/chain"
	"github.com/ton-custody/processor/internal/wallets"
)

var emu *tonsim.Emulator

// quiet discards scanner logs unless SCANNER_TEST_LOG is set.
var quiet = func() *slog.Logger {
	if os.Getenv("SCANNER_TEST_LOG") != "" {
		return slog.Default()
	}
	return slog.New(slog.DiscardHandler)
}()

func TestMain(m *testing.M) {
	if spec := os.Getenv(followChildEnv); spec != "" {
		// BenchmarkFollowMainnetShaped's tonsim, in a process of its own.
		os.Exit(runFollowChild(spec))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	var err error
	emu, err = tonsim.OpenEmulator(ctx, "", 0)
	cancel()
	if err != nil {
		fmt.Fprintln(os.Stderr, "scanner tests need the TON emulator assets (npm):", err)
		os.Exit(1)
	}
	code := m.Run()
	_ = emu.Close(context.Background())
	os.Exit(code)
}

// env is a tonsim network, a database, the wallets service and a scanner
// reaching the chain over ADNL (the production path).
type env struct {
	t       testing.TB
	net     *tonsim.Network
	db      *pgxpool.Pool
	chain   *ton.Client
	wallets *wallets.Service
	cfg     *config.Config
	jetton  *tonsim.Jetton
	reg     *prometheus.Registry
	scanner *blockscanner.Scanner
	stop    func()
	crash   func(point string) error // the crash hook of the next startScanner
}

func newEnv(t testing.TB, opts tonsim.Options) *env {
	t.Helper()
	if opts.BlockInterval == 0 {
		opts.BlockInterval = 100 * time.Millisecond
	}
	opts.LiteAddr = "127.0.0.1:0"
	n, err := tonsim.Start(context.Background(), emu, emu.Contracts, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = n.Close() })
	ctx := testCtx(t)
	j, err := n.DeployJetton(ctx, "USDT", 6)
	if err != nil {
		t.Fatal(err)
	}
	gc, _ := n.GlobalConfig()
	path := filepath.Join(t.TempDir(), "global.json")
	b, _ := json.Marshal(gc)
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	vars := map[string]string{"DATABASE_URL": "postgres://unused", "TON_NETWORK": "testnet", "TON_CONFIG": path,
		"SEED": strings.Join(wallet.NewSeed(), " "), "API_TOKEN": "test-token-0123456789", "JETTONS": "USDT:" + j.Master.String() + ":1"}
	cfg, err := config.Load(func(k string) string { return vars[k] })
	if err != nil {
		t.Fatal(err)
	}
	chain, err := ton.Connect(ctx, path, ton.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(chain.Close)
	keys, err := wallets.DeriveKeys(cfg.SeedWords())
	if err != nil {
		t.Fatal(err)
	}
	db := storetest.NewDB(t)
	ws, err := wallets.NewService(db, chain, keys, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return &env{t: t, net: n, db: db, chain: chain, wallets: ws, cfg: cfg, jetton: j}
}

func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// outboxEnqueue records events the simplest way, with the scanner's id as
// the dedup key.
func outboxEnqueue(ctx context.Context, tx pgx.Tx, events []blockscanner.Event) error {
	for _, ev := range events {
		payload, err := json.Marshal(ev.Data)
		if err != nil {
			return err
		}
		if _, err = tx.Exec(ctx, `INSERT INTO outbox (topic, payload, dedup_key) VALUES ($1, $2, $3) ON CONFLICT (dedup_key) DO NOTHING`,
			ev.Topic, payload, ev.ID); err != nil {
			return err
		}
	}
	return nil
}

func (e *env) hot() [32]byte {
	var h [32]byte
	copy(h[:], e.wallets.HotWalletAddress().Data())
	return h
}

// startScanner runs a scanner until the test ends (or stop is called).
func (e *env) startScanner(conf blockscanner.Config) *blockscanner.Scanner {
	conf.Network = config.Testnet
	conf.HotWallet = e.hot()
	e.reg = prometheus.NewRegistry()
	s := blockscanner.New(e.db, blockscanner.TonChain{API: e.chain.API()}, outboxEnqueue, conf, e.reg, quiet)
	if e.crash != nil {
		blockscanner.SetCrashHook(s, e.crash)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = s.Run(ctx); close(done) }()
	e.scanner = s
	e.stop = func() { cancel(); <-done }
	e.t.Cleanup(e.stop)
	return s
}

func (e *env) newDeposit(user, currency string) *address.Address {
	e.t.Helper()
	s, err := e.wallets.NewAddress(testCtx(e.t), user, currency)
	if err != nil {
		e.t.Fatal(err)
	}
	a, err := tonaddr.Parse(s, config.Testnet)
	if err != nil {
		e.t.Fatal(err)
	}
	return a
}

// waitScanned waits until the cursor reaches masterchain block seqno.
func (e *env) waitScanned(seqno uint32) {
	e.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		var got int64
		err := e.db.QueryRow(context.Background(), `SELECT mc_seqno FROM scanner_cursor`).Scan(&got)
		if err == nil && uint32(got) >= seqno {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	e.t.Fatalf("scanner did not reach masterchain block %d", seqno)
}

type income struct {
	user, currency, amount, comment, source string
	binary                                  []byte
	txHash                                  []byte
}

func (e *env) incomes() []income {
	e.t.Helper()
	rows, err := e.db.Query(context.Background(), `
		SELECT d.user_id, i.currency, i.amount::text, coalesce(i.comment, ''), i.source_workchain, i.source_address, i.binary_comment, i.tx_hash
		FROM incomes i JOIN deposit_wallets d ON d.id = i.deposit_wallet_id ORDER BY i.id`)
	if err != nil {
		e.t.Fatal(err)
	}
	defer rows.Close()
	var out []income
	for rows.Next() {
		var in income
		var wc *int32
		var src []byte
		if err := rows.Scan(&in.user, &in.currency, &in.amount, &in.comment, &wc, &src, &in.binary, &in.txHash); err != nil {
			e.t.Fatal(err)
		}
		if wc != nil {
			in.source = address.NewAddress(0, byte(*wc), src).StringRaw()
		}
		out = append(out, in)
	}
	return out
}

func (e *env) events() int {
	var n int
	if err := e.db.QueryRow(context.Background(), `SELECT count(*) FROM outbox WHERE topic = 'deposit'`).Scan(&n); err != nil {
		e.t.Fatal(err)
	}
	return n
}

func nano(ton string) *big.Int { return tlb.MustFromTON(ton).Nano() }

func TestTONDepositsToUndeployedAndDeployedWallets(t *testing.T) {
	t.Parallel()
	e := newEnv(t, tonsim.Options{})
	e.startScanner(blockscanner.Config{})
	ctx := testCtx(t)
	a := e.newDeposit("alice", "TON")
	b := e.newDeposit("bob", "TON")

	r1, err := e.net.Faucet(ctx, a, nano("1.5"), false, "order 17")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.net.Faucet(ctx, a, nano("0.25"), false, ""); err != nil {
		t.Fatal(err)
	}
	// Bounceable to an undeployed deposit: TON sends it back; never credited.
	bounced, err := e.net.Faucet(ctx, b, nano("3"), true, "bounce me")
	if err != nil {
		t.Fatal(err)
	}
	e.waitScanned(bounced.MasterSeqno)

	// Deploy alice's deposit wallet (it has funds now), then pay it again:
	// a deployed wallet's compute phase succeeds.
	dw, err := e.wallets.Deposits().Wallet(e.chain.API(), depositSubwallet(t, e, a))
	if err != nil {
		t.Fatal(err)
	}
	msg, _ := dw.BuildTransfer(e.net.Genesis.WalletAddress(), tlb.MustFromTON("0.1"), true, "")
	if _, _, err := dw.SendWaitTransaction(ctx, msg); err != nil {
		t.Fatal(err)
	}
	r4, err := e.net.Faucet(ctx, a, nano("2"), true, "after deploy")
	if err != nil {
		t.Fatal(err)
	}
	e.waitScanned(r4.MasterSeqno)

	got := e.incomes()
	if len(got) != 3 {
		t.Fatalf("incomes %+v, want 3 (the bounced transfer must not count)", got)
	}
	gen := e.net.Genesis.WalletAddress().StringRaw()
	want := []income{{user: "alice", currency: "TON", amount: "1500000000", comment: "order 17", source: gen},
		{user: "alice", currency: "TON", amount: "250000000", source: gen},
		{user: "alice", currency: "TON", amount: "2000000000", comment: "after deploy", source: gen}}
	for i, w := range want {
		g := got[i]
		if g.user != w.user || g.currency != w.currency || g.amount != w.amount || g.comment != w.comment || g.source != w.source {
			t.Errorf("income %d = %+v, want %+v", i, g, w)
		}
	}
	if string(got[0].txHash) != string(r1.Hash) {
		t.Error("first income does not carry its transaction hash")
	}
	if e.events() != 3 {
		t.Fatalf("%d deposit events, want 3", e.events())
	}
}

func depositSubwallet(t *testing.T, e *env, a *address.Address) uint32 {
	var id int64
	if err := e.db.QueryRow(context.Background(), `SELECT subwallet_id FROM deposit_wallets WHERE address = $1`, a.Data()).Scan(&id); err != nil {
		t.Fatal(err)
	}
	return uint32(id)
}

func TestCommentsThatAreNotTextAreStoredSafely(t *testing.T) {
	t.Parallel()
	e := newEnv(t, tonsim.Options{})
	e.startScanner(blockscanner.Config{})
	ctx := testCtx(t)
	a := e.newDeposit("carol", "TON")
	bodies := []*cell.Cell{
		cell.BeginCell().MustStoreUInt(0, 32).MustStoreSlice([]byte{'o', 'k', 0, 'x'}, 32).EndCell(), // NUL
		cell.BeginCell().MustStoreUInt(0, 32).MustStoreSlice([]byte{0xff, 0xfe, 0x80}, 24).EndCell(), // invalid UTF-8
		cell.BeginCell().MustStoreUInt(0xdeadbeef, 32).MustStoreUInt(7, 8).EndCell(),                 // binary
	}
	var msgs []*wallet.Message
	for _, b := range bodies {
		msgs = append(msgs, &wallet.Message{Mode: wallet.PayGasSeparately, InternalMessage: &tlb.InternalMessage{
			IHRDisabled: true, DstAddr: a, Amount: tlb.MustFromTON("0.1"), Body: b}})
	}
	if err := e.net.SendFromGenesis(ctx, msgs...); err != nil {
		t.Fatal(err)
	}
	waitIncomes(t, e, 3)
	seen := map[string]bool{}
	for _, in := range e.incomes() {
		if in.comment != "" {
			t.Errorf("non-text comment stored as text %q", in.comment)
		}
		seen[fmt.Sprintf("%x", in.binary)] = true
	}
	for _, want := range []string{"6f6b0078", "fffe80", "deadbeef07"} {
		if !seen[want] {
			t.Errorf("binary comment %s not stored; got %v", want, seen)
		}
	}
}

func waitIncomes(t testing.TB, e *env, n int) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		var got int
		if err := e.db.QueryRow(context.Background(), `SELECT count(*) FROM incomes`).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if got >= n {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("fewer than %d incomes after 60s: %+v", n, e.incomes())
}

func TestJettonDepositsWithAndWithoutNotificationAndFakes(t *testing.T) {
	t.Parallel()
	e := newEnv(t, tonsim.Options{})
	ctx := testCtx(t)
	start, _ := e.chain.MasterHead(ctx)
	dep := e.newDeposit("dave", "USDT")

	fake, err := e.net.DeployJetton(ctx, "FAKE", 6)
	if err != nil {
		t.Fatal(err)
	}
	alice := e.newJettonHolder(e.jetton.Master, fake.Master) // holds USDT and a fake jetton
	send := func(master *address.Address, amount int64, fwd, comment string) {
		t.Helper()
		alice.send(master, dep, amount, fwd, comment)
	}
	send(e.jetton.Master, 100, "0.02", "invoice 9") // notification credits
	send(e.jetton.Master, 250, "0", "")             // no notification: the jetton wallet credits
	send(fake.Master, 999, "0.02", "fake")          // notification from a wallet that is not ours
	// A forged notification straight from alice's wallet.
	forged := cell.BeginCell().MustStoreUInt(0x7362d09c, 32).MustStoreUInt(1, 64).MustStoreBigCoins(big.NewInt(5000)).
		MustStoreAddr(alice.addr).MustStoreBoolBit(false).EndCell()
	alice.sendTON(dep, "0.05", forged)
	// The jetton transfers go on for some blocks after alice's own
	// transactions.
	head, _ := e.chain.MasterHead(ctx)
	waitUntil(t, 30*time.Second, "8 more blocks", func() bool {
		h, err := e.chain.MasterHead(ctx)
		return err == nil && h.SeqNo >= head.SeqNo+8
	})
	// The scanner starts now, from before the deposit existed, and its
	// first batch (all of it) fails once after classifying and is done
	// again: the fake jetton metric counts what was committed, each fake
	// once (until 2026-12-07 it counted each classification, twice here).
	var classified atomic.Int64
	e.crash = func(point string) error {
		if point == "classified" && classified.Add(1) == 1 {
			return errors.New("injected failure before the commit")
		}
		return nil
	}
	e.startScanner(blockscanner.Config{StartBlock: start.SeqNo})
	e.waitScanned(head.SeqNo + 8)
	fakes := func() float64 { return testutil.ToFloat64(counter(t, e.reg, "processor_scanner_fake_jettons_total")) }

	got := e.incomes()
	if len(got) != 2 {
		t.Fatalf("incomes %+v, want exactly the two USDT transfers", got)
	}
	if got[0].amount != "100" || got[0].comment != "invoice 9" || got[0].source != alice.addr.StringRaw() || got[0].currency != "USDT" {
		t.Errorf("notified transfer recorded as %+v", got[0])
	}
	if got[1].amount != "250" || got[1].currency != "USDT" {
		t.Errorf("transfer without notification recorded as %+v", got[1])
	}
	if n := fakes(); n != 2 {
		t.Errorf("fake jetton metric %v, want 2", n)
	}
}

// jettonHolder is a wallet on the genesis key holding minted jettons.
type jettonHolder struct {
	e    *env
	addr *address.Address
}

// newJettonHolder funds a V4 wallet on the genesis key and mints 1,000,000
// units of each jetton master to it.
func (e *env) newJettonHolder(masters ...*address.Address) *jettonHolder {
	e.t.Helper()
	ctx := testCtx(e.t)
	h := &jettonHolder{e: e}
	h.addr = h.wallet().WalletAddress()
	if _, err := e.net.Faucet(ctx, h.addr, nano("10"), false, ""); err != nil {
		e.t.Fatal(err)
	}
	for _, m := range masters {
		if _, err := e.net.Mint(ctx, m, h.addr, big.NewInt(1_000_000)); err != nil {
			e.t.Fatal(err)
		}
	}
	return h
}

// wallet returns a new tonutils wallet per use: the client's 5-s masterchain
// cache would hand it a stale seqno for back-to-back sends.
func (h *jettonHolder) wallet() *wallet.Wallet {
	w, err := wallet.FromPrivateKey(tonutils.NewAPIClient(h.e.net.API.Client()), h.e.net.Genesis.PrivateKey(), wallet.V4R2)
	if err != nil {
		h.e.t.Fatal(err)
	}
	return w
}

// send transfers amount units of master's jetton to `to` with the given
// forward TON amount and text comment as forward payload.
func (h *jettonHolder) send(master, to *address.Address, amount int64, fwd, comment string) {
	h.e.t.Helper()
	ctx := testCtx(h.e.t)
	jw, err := jetton.NewJettonMasterClient(h.e.net.API, master).GetJettonWallet(ctx, h.addr)
	if err != nil {
		h.e.t.Fatal(err)
	}
	var payload *cell.Cell
	if comment != "" {
		payload, _ = wallet.CreateCommentCell(comment)
	}
	body, err := jw.BuildTransferPayloadV2(to, h.addr, tlb.FromNanoTONU(uint64(amount)), tlb.MustFromTON(fwd), payload, nil)
	if err != nil {
		h.e.t.Fatal(err)
	}
	h.sendTON(jw.Address(), "0.3", body)
}

// sendTON sends an internal message with body and waits for the holder's
// own transaction.
func (h *jettonHolder) sendTON(to *address.Address, amount string, body *cell.Cell) {
	h.e.t.Helper()
	if _, _, err := h.wallet().SendWaitTransaction(testCtx(h.e.t), wallet.SimpleMessage(to, tlb.MustFromTON(amount), body)); err != nil {
		h.e.t.Fatal(err)
	}
}

func counter(t testing.TB, reg *prometheus.Registry, name string) prometheus.Collector {
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			c := prometheus.NewCounter(prometheus.CounterOpts{Name: name})
			c.Add(mf.GetMetric()[0].GetCounter().GetValue())
			return c
		}
	}
	t.Fatalf("metric %s not registered", name)
	return nil
}

// TestAFailedFirstBatchIsRetriedFromTheSameBlock: with no cursor stored
// yet, a first batch that fails is done again from the block it started
// at, not from the head at the time of the retry: a deposit that landed
// in between is credited (until 2026-12-07 it was skipped).
func TestAFailedFirstBatchIsRetriedFromTheSameBlock(t *testing.T) {
	t.Parallel()
	e := newEnv(t, tonsim.Options{})
	ctx := testCtx(t)
	a := e.newDeposit("alice", "TON")
	var failed atomic.Bool
	var paidIn atomic.Uint32 // masterchain block of the deposit
	var payErr atomic.Pointer[error]
	e.crash = func(point string) error {
		if point != "classified" || !failed.CompareAndSwap(false, true) {
			return nil
		}
		// While the first batch fails, a deposit lands after its blocks.
		r, err := e.net.Faucet(ctx, a, nano("1"), false, "while the first batch failed")
		if err != nil {
			payErr.Store(&err)
		} else {
			paidIn.Store(r.MasterSeqno)
		}
		return errors.New("injected failure of the first batch")
	}
	e.startScanner(blockscanner.Config{})
	waitUntil(t, 30*time.Second, "the first batch failed", func() bool { return paidIn.Load() != 0 || payErr.Load() != nil })
	if p := payErr.Load(); p != nil {
		t.Fatal(*p)
	}
	e.waitScanned(paidIn.Load() + 2)
	if got := e.incomes(); len(got) != 1 || got[0].amount != nano("1").String() {
		t.Fatalf("incomes %+v, want the deposit made while the first batch failed", got)
	}
}

func TestManyDepositsInOneBlockAcrossShardsAndThroughSplitAndMerge(t *testing.T) {
	t.Parallel()
	e := newEnv(t, tonsim.Options{Shards: 4})
	e.startScanner(blockscanner.Config{})
	var deps []*address.Address
	for i := 0; i < 200; i++ {
		deps = append(deps, e.newDeposit(fmt.Sprint("u", i%13), "TON"))
	}
	load := func(amount int64) {
		var list []chainTransfer
		for _, d := range deps {
			list = append(list, chainTransfer{d, amount})
		}
		bulk(t, e, list)
	}
	load(1000)
	waitIncomes(t, e, 200)
	ctx := testCtx(t)
	if err := e.net.Chain.Split(e.net.Chain.Shards()[1]); err != nil {
		t.Fatal(err)
	}
	load(2000)
	waitIncomes(t, e, 400)
	shards := e.net.Chain.Shards()
	if len(shards) != 5 {
		t.Fatalf("%d shards after split", len(shards))
	}
	if err := e.net.Chain.Merge(shards[1]); err != nil {
		t.Fatal(err)
	}
	load(3000)
	waitIncomes(t, e, 600)
	_ = ctx
	var sum string
	if err := e.db.QueryRow(context.Background(), `SELECT sum(amount)::text FROM incomes`).Scan(&sum); err != nil {
		t.Fatal(err)
	}
	if sum != fmt.Sprint(200*(1000+2000+3000)) {
		t.Fatalf("sum of incomes %s", sum)
	}
	if e.events() != 600 {
		t.Fatalf("%d events, want 600", e.events())
	}
}

type chainTransfer struct {
	to     *address.Address
	amount int64
}

func bulk(t testing.TB, e *env, list []chainTransfer) {
	t.Helper()
	var bt []tonsimBulk
	for _, x := range list {
		bt = append(bt, tonsimBulk{To: x.to, Amount: big.NewInt(x.amount)})
	}
	if err := e.net.Chain.BulkLoad(bt); err != nil {
		t.Fatal(err)
	}
}

func TestCrashesAtAnyPointCreditEveryDepositExactlyOnce(t *testing.T) {
	t.Parallel()
	e := newEnv(t, tonsim.Options{})
	var deps []*address.Address
	for i := 0; i < 30; i++ {
		deps = append(deps, e.newDeposit(fmt.Sprint("c", i), "TON"))
	}
	// Deposits keep arriving while scanners crash and restart.
	stopLoad := make(chan struct{})
	var loadWG sync.WaitGroup
	loadWG.Add(1)
	sent := 0
	go func() {
		defer loadWG.Done()
		for round := 0; ; round++ {
			select {
			case <-stopLoad:
				return
			case <-time.After(150 * time.Millisecond):
			}
			var list []chainTransfer
			for i, d := range deps {
				list = append(list, chainTransfer{d, int64(1 + round*100 + i)})
			}
			bulk(t, e, list)
			sent += len(list)
		}
	}()
	r := rand.New(rand.NewPCG(42, 7))
	var mu sync.Mutex
	crashes := 0
	deadline := time.Now().Add(6 * time.Second)
	for time.Now().Before(deadline) {
		conf := blockscanner.Config{BatchBlocks: 1 + r.IntN(5), HotWallet: e.hot(), Network: config.Testnet}
		s := blockscanner.New(e.db, blockscanner.TonChain{API: e.chain.API()}, outboxEnqueue, conf, nil, quiet)
		crashed := make(chan struct{}, 1)
		blockscanner.SetCrashHook(s, func(point string) error {
			mu.Lock()
			defer mu.Unlock()
			if r.IntN(4) == 0 {
				crashes++
				select {
				case crashed <- struct{}{}:
				default:
				}
				return errors.New("injected crash at " + point)
			}
			return nil
		})
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { _ = s.Run(ctx); close(done) }()
		select {
		case <-crashed:
		case <-time.After(time.Second):
		}
		cancel() // the "process" dies here; a new one starts from the database
		<-done
	}
	close(stopLoad)
	loadWG.Wait()
	// A clean scanner finishes the job.
	e.startScanner(blockscanner.Config{})
	waitIncomes(t, e, sent)
	time.Sleep(500 * time.Millisecond)
	got := e.incomes()
	if len(got) != sent {
		t.Fatalf("%d incomes for %d deposits (after %d crashes)", len(got), sent, crashes)
	}
	if e.events() != sent {
		t.Fatalf("%d events for %d deposits", e.events(), sent)
	}
	if crashes < 3 {
		t.Fatalf("only %d crashes injected: the test did not test much", crashes)
	}
	t.Logf("%d deposits credited exactly once across %d injected crashes", sent, crashes)
}

func TestSyncFlagFollowsFaultsAndRecovers(t *testing.T) {
	t.Parallel()
	e := newEnv(t, tonsim.Options{})
	s := e.startScanner(blockscanner.Config{})
	rm, err := blockscanner.NewReadModel(e.db, blockscanner.ReadModelConfig{Network: config.Testnet, CountingSide: config.CountDeposit,
		AllowableLag: 2 * time.Second, Head: s.Head})
	if err != nil {
		t.Fatal(err)
	}
	synced := func() bool {
		ok, _, err := rm.SyncStatus(context.Background())
		return err == nil && ok
	}
	waitUntil(t, 20*time.Second, "synced at start", synced)
	// Blocks stop: the last block ages past the allowed lag.
	e.net.PauseBlocks(4 * time.Second)
	waitUntil(t, 10*time.Second, "not synced while blocks stall", func() bool { return !synced() })
	waitUntil(t, 20*time.Second, "synced after blocks resume", synced)
	// The liteserver drops every connection for a while.
	if err := e.net.Faults.Inject("drop", 4*time.Second, 0); err != nil {
		t.Fatal(err)
	}
	e.net.Lite.DropConnections()
	waitUntil(t, 15*time.Second, "not synced while the liteserver is gone", func() bool { return !synced() })
	waitUntil(t, 60*time.Second, "synced after the liteserver returns", synced)
	// Deposits made during the outage are credited after it.
	a := e.newDeposit("erin", "TON")
	if _, err := e.net.Faucet(testCtx(t), a, nano("1"), false, ""); err != nil {
		t.Fatal(err)
	}
	waitIncomes(t, e, 1)
}

func waitUntil(t testing.TB, d time.Duration, what string, cond func() bool) {
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

type tonsimBulk = chain.BulkTransfer
