package ton_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/xssnick/tonutils-go/address"
	"github.com/xssnick/tonutils-go/tlb"
	tonutils "github.com/xssnick/tonutils-go/ton"
	"github.com/xssnick/tonutils-go/ton/wallet"

	"github.com/ton-custody/processor/internal/ton"
	"github.com/ton-custody/processor/internal/tonsim"
	"github.com/ton-custody/processor/internal/tonsim/liteserver"
)

var emu *tonsim.Emulator

// TestMain opens the TON emulator once for the package; every test starts
// its own network on it.
func TestMain(m *testing.M) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	var err error
	emu, err = tonsim.OpenEmulator(ctx, "", 0)
	cancel()
	if err != nil {
		fmt.Fprintln(os.Stderr, "internal/ton tests need the TON emulator assets (make assets):", err)
		os.Exit(1)
	}
	code := m.Run()
	_ = emu.Close(context.Background())
	os.Exit(code)
}

func startNet(t *testing.T, opts tonsim.Options) *tonsim.Network {
	t.Helper()
	if opts.BlockInterval == 0 {
		opts.BlockInterval = 100 * time.Millisecond
	}
	n, err := tonsim.Start(context.Background(), emu, emu.Contracts, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = n.Close() })
	return n
}

// newClient is a Client over tonsim's in-process liteserver client, with
// faults applied, quick backoff and its own metrics registry.
func newClient(t *testing.T, n *tonsim.Network, opts ton.Options) (*ton.Client, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	opts.Registerer = reg
	if opts.BackoffMin == 0 {
		opts.BackoffMin = 20 * time.Millisecond
		opts.BackoffMax = 100 * time.Millisecond
	}
	return ton.New(liteserver.NewClient(n.Handler, n.Faults), opts), reg
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func freshAddr(b byte) *address.Address {
	h := bytes.Repeat([]byte{b}, 32)
	h[31] = 0x5a
	return address.NewAddress(0, 0, h)
}

// metric returns the value of a counter (or gauge) series, 0 if absent.
func metric(t *testing.T, reg *prometheus.Registry, name string, labels map[string]string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	series:
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if want, ok := labels[lp.GetName()]; ok && want != lp.GetValue() {
					continue series
				}
			}
			if c := m.GetCounter(); c != nil {
				return c.GetValue()
			}
			if h := m.GetHistogram(); h != nil {
				return float64(h.GetSampleCount())
			}
			return m.GetGauge().GetValue()
		}
	}
	return 0
}

func TestMasterHeadIsFreshWhereCurrentMasterchainInfoIsCached(t *testing.T) {
	t.Parallel()
	n := startNet(t, tonsim.Options{})
	c, _ := newClient(t, n, ton.Options{})
	ctx := testCtx(t)
	cached, err := c.API().CurrentMasterchainInfo(ctx)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(3 * time.Second)
	for {
		head, err := c.MasterHead(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if head.SeqNo > cached.SeqNo+2 {
			again, err := c.API().CurrentMasterchainInfo(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if again.SeqNo >= head.SeqNo {
				t.Fatalf("tonutils' CurrentMasterchainInfo (%d) was not cached; this test no longer shows the difference", again.SeqNo)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("MasterHead stayed at %d (cached %d) while blocks are produced every 100ms", head.SeqNo, cached.SeqNo)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestAccountStateReportsEveryStatus(t *testing.T) {
	t.Parallel()
	n := startNet(t, tonsim.Options{})
	c, _ := newClient(t, n, ton.Options{})
	ctx := testCtx(t)

	fresh := freshAddr(0x11)
	bal, status, err := c.AccountState(ctx, fresh)
	if err != nil || status != ton.StatusNonExist || bal.Sign() != 0 {
		t.Fatalf("fresh address: %v %q %v, want 0 non_exist", bal, status, err)
	}

	uninit := freshAddr(0x12)
	amount := tlb.MustFromTON("1.5").Nano()
	if _, err := n.Faucet(ctx, uninit, amount, false, ""); err != nil {
		t.Fatal(err)
	}
	bal, status, err = c.AccountState(ctx, uninit)
	if err != nil || status != ton.StatusUninit || bal.Cmp(amount) != 0 {
		t.Fatalf("after a non-bounceable faucet: %v %q %v, want %s uninit", bal, status, err, amount)
	}

	bal, status, err = c.AccountState(ctx, n.Genesis.WalletAddress())
	if err != nil || status != ton.StatusActive || bal.Sign() <= 0 {
		t.Fatalf("genesis wallet: %v %q %v, want a positive balance and active", bal, status, err)
	}
}

// A jetton minter's storage carries storage_extra_info$001, which
// tonutils-go v1.12.0 misparses; AccountState must still read it.
func TestAccountStateReadsJettonMasterThatTonutilsMisparses(t *testing.T) {
	t.Parallel()
	n := startNet(t, tonsim.Options{})
	c, _ := newClient(t, n, ton.Options{})
	ctx := testCtx(t)
	j, err := n.DeployJetton(ctx, "TGR", 9)
	if err != nil {
		t.Fatal(err)
	}
	bal, status, err := c.AccountState(ctx, j.Master)
	if err != nil || status != ton.StatusActive || bal.Sign() <= 0 {
		t.Fatalf("jetton master: %v %q %v, want a positive balance and active", bal, status, err)
	}
	head, err := c.MasterHead(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Account(ctx, head, j.Master); err == nil {
		t.Log("tonutils-go now parses storage_extra_info: Account works on jetton masters; the package note can go")
	}
}

func TestJettonWalletAddressAndBalance(t *testing.T) {
	t.Parallel()
	n := startNet(t, tonsim.Options{})
	c, _ := newClient(t, n, ton.Options{})
	ctx := testCtx(t)
	j, err := n.DeployJetton(ctx, "USDT", 6)
	if err != nil {
		t.Fatal(err)
	}
	owner := freshAddr(0x21)
	jw, err := c.JettonWalletAddress(ctx, j.Master, owner)
	if err != nil {
		t.Fatal(err)
	}
	want, err := n.JettonWallet(ctx, j.Master, owner)
	if err != nil {
		t.Fatal(err)
	}
	if !jw.Equals(want) {
		t.Fatalf("JettonWalletAddress = %s, tonsim says %s", jw.StringRaw(), want.StringRaw())
	}
	bal, err := c.JettonBalance(ctx, jw)
	if err != nil || bal.Sign() != 0 {
		t.Fatalf("balance of a jetton wallet not deployed yet: %v %v, want 0", bal, err)
	}
	minted := big.NewInt(1_234_567)
	if _, err := n.Mint(ctx, j.Master, owner, minted); err != nil {
		t.Fatal(err)
	}
	bal, err = c.JettonBalance(ctx, jw)
	if err != nil || bal.Cmp(minted) != 0 {
		t.Fatalf("balance after mint: %v %v, want %s", bal, err, minted)
	}

	if _, err := c.JettonWalletAddress(ctx, freshAddr(0x22), owner); err == nil || !ton.IsNotInitialized(err) {
		t.Fatalf("get_wallet_address on a missing master: %v, want a not-initialised error", err)
	}
}

func TestResolveWallet(t *testing.T) {
	t.Parallel()
	n := startNet(t, tonsim.Options{})
	c, _ := newClient(t, n, ton.Options{})
	ctx := testCtx(t)
	target := freshAddr(0x31).Bounce(false).Testnet(true)
	if err := n.DNS.SetWallet("alice.ton", target); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"alice.ton", "Alice.TON", "alice.ton."} {
		got, err := c.ResolveWallet(ctx, name)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !got.Equals(target) || !got.IsBounceable() || got.IsTestnetOnly() {
			t.Fatalf("%s -> %s (bounceable %v), want %s bounceable", name, got, got.IsBounceable(), target.StringRaw())
		}
	}
	if _, err := c.ResolveWallet(ctx, "nobody.ton"); !errors.Is(err, ton.ErrNotFound) {
		t.Fatalf("unknown domain: %v, want ErrNotFound", err)
	}
	for _, bad := range []string{"", "a..ton", "wal let.ton", "\x00.ton", string(bytes.Repeat([]byte("a"), 127))} {
		if _, err := c.ResolveWallet(ctx, bad); !errors.Is(err, ton.ErrInvalidDomain) {
			t.Errorf("%q: %v, want ErrInvalidDomain", bad, err)
		}
	}
}

func TestTransientLiteserverErrorsAreRetried(t *testing.T) {
	t.Parallel()
	n := startNet(t, tonsim.Options{})
	c, reg := newClient(t, n, ton.Options{Attempts: 50})
	ctx := testCtx(t)
	// tonsim answers LSError -400 while the fault lasts.
	if err := n.Faults.Inject(liteserver.FaultError, 300*time.Millisecond, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := c.MasterHead(ctx); err != nil {
		t.Fatalf("MasterHead through 300ms of liteserver errors: %v", err)
	}
	labels := map[string]string{"method": "getMasterchainInfo"}
	if r := metric(t, reg, "processor_liteserver_retries_total", labels); r < 1 {
		t.Fatalf("retries_total = %v, want >= 1", r)
	}
	if e := metric(t, reg, "processor_liteserver_errors_total", map[string]string{"method": "getMasterchainInfo", "kind": "ls_transient"}); e < 1 {
		t.Fatalf("errors_total{kind=ls_transient} = %v, want >= 1", e)
	}
	if h := metric(t, reg, "processor_liteserver_request_duration_seconds", labels); h < 2 {
		t.Fatalf("duration histogram has %v samples, want one per attempt (>= 2)", h)
	}
}

func TestRetriesAreBounded(t *testing.T) {
	t.Parallel()
	n := startNet(t, tonsim.Options{})
	c, reg := newClient(t, n, ton.Options{Attempts: 3})
	ctx := testCtx(t)
	if err := n.Faults.Inject(liteserver.FaultError, time.Minute, 0); err != nil {
		t.Fatal(err)
	}
	_, err := c.MasterHead(ctx)
	var lsErr tonutils.LSError
	if !errors.As(err, &lsErr) {
		t.Fatalf("MasterHead under a lasting fault: %v, want the liteserver's LSError", err)
	}
	if got := metric(t, reg, "processor_liteserver_requests_total", map[string]string{"method": "getMasterchainInfo"}); got != 3 {
		t.Fatalf("%v attempts, want exactly Attempts=3", got)
	}
}

func TestStalledLiteserverTimesOutAndRetries(t *testing.T) {
	t.Parallel()
	n := startNet(t, tonsim.Options{})
	c, reg := newClient(t, n, ton.Options{CallTimeout: 100 * time.Millisecond, Attempts: 20})
	ctx := testCtx(t)
	if err := n.Faults.Inject(liteserver.FaultStall, 400*time.Millisecond, 0); err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.AccountState(ctx, freshAddr(0x41)); err != nil {
		t.Fatalf("AccountState through a 400ms stall: %v", err)
	}
	if e := metric(t, reg, "processor_liteserver_errors_total", map[string]string{"kind": "timeout"}); e < 1 {
		t.Fatalf("errors_total{kind=timeout} = %v, want >= 1", e)
	}
}

func TestCallerDeadlineEndsRetries(t *testing.T) {
	t.Parallel()
	n := startNet(t, tonsim.Options{})
	c, _ := newClient(t, n, ton.Options{Attempts: 1000})
	if err := n.Faults.Inject(liteserver.FaultError, time.Minute, 0); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	if _, err := c.MasterHead(ctx); err == nil {
		t.Fatal("MasterHead succeeded under a lasting fault")
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("MasterHead returned after %v; the caller's 300ms deadline must end the retries", d)
	}
}

func TestWaitedQueriesAreLabelledByTheirRealMethod(t *testing.T) {
	t.Parallel()
	n := startNet(t, tonsim.Options{})
	c, reg := newClient(t, n, ton.Options{})
	ctx := testCtx(t)
	if _, _, err := c.AccountState(ctx, freshAddr(0x51)); err != nil {
		t.Fatal(err)
	}
	for _, m := range []string{"getMasterchainInfo", "getAccountState"} {
		if got := metric(t, reg, "processor_liteserver_requests_total", map[string]string{"method": m}); got < 1 {
			t.Errorf("requests_total{method=%s} = %v, want >= 1", m, got)
		}
	}
	if got := metric(t, reg, "processor_liteserver_requests_total", map[string]string{"method": "other"}); got != 0 {
		t.Errorf("requests_total{method=other} = %v, want 0", got)
	}
}

func TestSendExternalDeploysAWallet(t *testing.T) {
	t.Parallel()
	n := startNet(t, tonsim.Options{})
	c, reg := newClient(t, n, ton.Options{})
	ctx := testCtx(t)
	seed := bytes.Repeat([]byte{0x61}, 32)
	w, err := wallet.FromPrivateKey(c.API(), ed25519.NewKeyFromSeed(seed), wallet.V3R2)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := n.Faucet(ctx, w.WalletAddress(), tlb.MustFromTON("2").Nano(), false, ""); err != nil {
		t.Fatal(err)
	}
	transfer, err := w.BuildTransfer(freshAddr(0x62), tlb.MustFromTON("0.5"), false, "")
	if err != nil {
		t.Fatal(err)
	}
	// The wallet is not deployed yet: the message carries its state init.
	ext, err := w.PrepareExternalMessageForMany(ctx, true, []*wallet.Message{transfer})
	if err != nil {
		t.Fatal(err)
	}
	root, err := tlb.ToCell(ext)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.SendExternal(ctx, root); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, status, err := c.AccountState(ctx, w.WalletAddress())
		if err != nil {
			t.Fatal(err)
		}
		if status == ton.StatusActive {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("wallet still %s 10s after its first external message", status)
		}
		time.Sleep(100 * time.Millisecond)
	}

	// A message the account refuses is a final answer: not retried.
	if err := c.SendExternal(ctx, root); err == nil {
		t.Fatal("a replayed external message (old seqno) was accepted")
	}
	if got := metric(t, reg, "processor_liteserver_requests_total", map[string]string{"method": "sendMessage"}); got != 2 {
		t.Fatalf("sendMessage attempts = %v, want 2 (one per call: refusals are not retried)", got)
	}
	if err := c.SendExternalBOC(ctx, []byte("not a boc")); err == nil {
		t.Fatal("garbage accepted as a BoC")
	}
}

func TestConnectFromConfigFileAndURL(t *testing.T) {
	t.Parallel()
	n := startNet(t, tonsim.Options{LiteAddr: "127.0.0.1:0"})
	gc, err := n.GlobalConfig()
	if err != nil {
		t.Fatal(err)
	}
	data, err := json.Marshal(gc)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "global.config.json")
	if err := os.WriteFile(file, data, 0o600); err != nil {
		t.Fatal(err)
	}
	ctrl := httptest.NewServer(n.ControlHandler())
	t.Cleanup(ctrl.Close)

	for _, src := range []string{file, ctrl.URL + "/config.json"} {
		ctx := testCtx(t)
		c, err := ton.Connect(ctx, src, ton.Options{Registerer: prometheus.NewRegistry()})
		if err != nil {
			t.Fatalf("Connect(%s): %v", src, err)
		}
		head, err := c.MasterHead(ctx)
		c.Close()
		if err != nil || head.Workchain != address.MasterchainID {
			t.Fatalf("MasterHead over ADNL from %s: %v %v", src, head, err)
		}
	}
	if _, err := ton.Connect(testCtx(t), ctrl.URL+"/missing", ton.Options{}); err == nil {
		t.Fatal("Connect accepted a URL answering 404")
	}
	if _, err := ton.Connect(testCtx(t), filepath.Join(t.TempDir(), "none.json"), ton.Options{}); err == nil {
		t.Fatal("Connect accepted a missing file")
	}
}

func TestTwoClientsShareOneRegistry(t *testing.T) {
	t.Parallel()
	n := startNet(t, tonsim.Options{})
	reg := prometheus.NewRegistry()
	a := ton.New(liteserver.NewClient(n.Handler, nil), ton.Options{Registerer: reg})
	b := ton.New(liteserver.NewClient(n.Handler, nil), ton.Options{Registerer: reg})
	ctx := testCtx(t)
	for _, c := range []*ton.Client{a, b} {
		if _, err := c.MasterHead(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if got := metric(t, reg, "processor_liteserver_requests_total", map[string]string{"method": "getMasterchainInfo"}); got != 2 {
		t.Fatalf("shared registry counted %v requests, want 2", got)
	}
}

func TestMaxInFlightLimitsConcurrentQueries(t *testing.T) {
	t.Parallel()
	n := startNet(t, tonsim.Options{})
	c, reg := newClient(t, n, ton.Options{MaxInFlight: 2})
	ctx := testCtx(t)
	// Every answer takes 100ms: 10 queries, 2 at a time, need >= 500ms.
	if err := n.Faults.Inject(liteserver.FaultDelay, time.Minute, 100*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	errs := make(chan error, 10)
	for range 10 {
		go func() {
			_, err := c.MasterHead(ctx)
			errs <- err
		}()
	}
	for range 10 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if d := time.Since(start); d < 500*time.Millisecond {
		t.Fatalf("10 queries of 100ms with MaxInFlight=2 took %v; the limiter let more than 2 run at once", d)
	}
	if got := metric(t, reg, "processor_liteserver_requests_total", map[string]string{"method": "getMasterchainInfo"}); got != 10 {
		t.Fatalf("%v attempts, want 10 (a delayed answer is not an error)", got)
	}
	if g := metric(t, reg, "processor_liteserver_in_flight", nil); g != 0 {
		t.Fatalf("in_flight gauge %v after all queries ended", g)
	}
}

func TestReconnectsAfterTheLiteserverDropsConnections(t *testing.T) {
	t.Parallel()
	n := startNet(t, tonsim.Options{LiteAddr: "127.0.0.1:0"})
	ctrl := httptest.NewServer(n.ControlHandler())
	t.Cleanup(ctrl.Close)
	ctx := testCtx(t)
	c, err := ton.Connect(ctx, ctrl.URL+"/config.json", ton.Options{
		ReconnectWait: 50 * time.Millisecond, CallTimeout: 300 * time.Millisecond,
		Attempts: 100, BackoffMin: 50 * time.Millisecond, BackoffMax: 500 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	before, err := c.MasterHead(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// The server closes every connection (and each new one) for 500ms.
	if err := n.Faults.Inject(liteserver.FaultDrop, 500*time.Millisecond, 0); err != nil {
		t.Fatal(err)
	}
	outage := time.Now()
	after, err := c.MasterHead(ctx)
	if err != nil {
		t.Fatalf("MasterHead across a 500ms outage: %v", err)
	}
	t.Logf("MasterHead answered %v after the outage began", time.Since(outage))
	if after.SeqNo < before.SeqNo {
		t.Fatalf("head went back from %d to %d", before.SeqNo, after.SeqNo)
	}
	time.Sleep(600 * time.Millisecond)
	if _, _, err := c.AccountState(ctx, freshAddr(0x71)); err != nil {
		t.Fatalf("after the outage: %v", err)
	}
}
