package wallets_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/big"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/xssnick/tonutils-go/address"
	"github.com/xssnick/tonutils-go/tlb"

	"github.com/ton-custody/processor/internal/config"
	"github.com/ton-custody/processor/internal/store/storetest"
	"github.com/ton-custody/processor/internal/ton"
	"github.com/ton-custody/processor/internal/tonaddr"
	"github.com/ton-custody/processor/internal/tonsim"
	"github.com/ton-custody/processor/internal/tonsim/liteserver"
	"github.com/ton-custody/processor/internal/wallets"
)

var (
	emu      *tonsim.Emulator
	testKeys *wallets.Keys
)

// TestMain opens the TON emulator and derives the golden keys once for
// the package.
func TestMain(m *testing.M) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	var err error
	emu, err = tonsim.OpenEmulator(ctx, "", 0)
	cancel()
	if err != nil {
		fmt.Fprintln(os.Stderr, "internal/wallets tests need the TON emulator assets (make assets):", err)
		os.Exit(1)
	}
	testKeys, err = wallets.DeriveKeys(strings.Fields(goldenWords))
	if err != nil {
		fmt.Fprintln(os.Stderr, "derive the test keys:", err)
		os.Exit(1)
	}
	code := m.Run()
	_ = emu.Close(context.Background())
	os.Exit(code)
}

// env is one test's world: a tonsim network, a fresh database and the
// service over both, with one jetton (TGR) configured.
type env struct {
	net    *tonsim.Network
	chain  *ton.Client
	db     *pgxpool.Pool
	svc    *wallets.Service
	jetton *tonsim.Jetton
}

func newEnv(t *testing.T) *env {
	t.Helper()
	n, err := tonsim.Start(context.Background(), emu, emu.Contracts, tonsim.Options{BlockInterval: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = n.Close() })
	chain := ton.New(liteserver.NewClient(n.Handler, nil), ton.Options{})
	j, err := n.DeployJetton(testCtx(t), "TGR", 9)
	if err != nil {
		t.Fatal(err)
	}
	db := storetest.NewDB(t)
	cfg := &config.Config{
		Network:         config.Testnet,
		HighloadTimeout: 60 * time.Second,
		Jettons:         []config.Jetton{{Symbol: "TGR", Master: j.Master, SweepThreshold: big.NewInt(0)}},
	}
	svc, err := wallets.NewService(db, chain, testKeys, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return &env{net: n, chain: chain, db: db, svc: svc, jetton: j}
}

func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// row is a deposit_wallets row as stored.
type row struct {
	id, subwallet  int64
	user, currency string
	wc             int32
	addr           []byte
	masterWC, jwWC *int32
	master, jwAddr []byte
}

func (e *env) rows(t *testing.T, where string, args ...any) []row {
	t.Helper()
	rs, err := e.db.Query(testCtx(t), `SELECT id, subwallet_id, user_id, currency, workchain, address,
		jetton_master_workchain, jetton_master, jetton_wallet_workchain, jetton_wallet FROM deposit_wallets `+where+` ORDER BY id`, args...)
	if err != nil {
		t.Fatal(err)
	}
	defer rs.Close()
	var out []row
	for rs.Next() {
		var r row
		if err := rs.Scan(&r.id, &r.subwallet, &r.user, &r.currency, &r.wc, &r.addr, &r.masterWC, &r.master, &r.jwWC, &r.jwAddr); err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
	}
	if err := rs.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestNewAddressTON(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := testCtx(t)

	// Another instance would LISTEN like this to refresh its index.
	conn, err := e.db.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, "LISTEN "+wallets.NotifyChannel); err != nil {
		t.Fatal(err)
	}

	got, err := e.svc.NewAddress(ctx, "user-1", "TON")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(got, "0Q") {
		t.Fatalf("address %s: want the non-bounceable testnet form 0Q...", got)
	}
	parsed, err := tonaddr.Parse(got, config.Testnet)
	if err != nil {
		t.Fatal(err)
	}
	rows := e.rows(t, "")
	if len(rows) != 1 {
		t.Fatalf("%d rows, want 1", len(rows))
	}
	r := rows[0]
	if r.user != "user-1" || r.currency != "TON" || r.wc != 0 || !bytes.Equal(r.addr, parsed.Data()) {
		t.Fatalf("row %+v does not match %s", r, got)
	}
	if want := e.svc.DepositAddress(uint32(r.subwallet)); !want.Equals(parsed) {
		t.Fatalf("row's subwallet id %d derives %s, handed out %s", r.subwallet, want.StringRaw(), parsed.StringRaw())
	}
	if r.masterWC != nil || r.master != nil || r.jwWC != nil || r.jwAddr != nil {
		t.Fatalf("TON row has jetton columns: %+v", r)
	}

	wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	n, err := conn.Conn().WaitForNotification(wctx)
	if err != nil {
		t.Fatalf("no NOTIFY %s: %v", wallets.NotifyChannel, err)
	}
	if n.Channel != wallets.NotifyChannel || n.Payload != strconv.FormatInt(r.id, 10) {
		t.Fatalf("notification %s/%s, want %s/%d", n.Channel, n.Payload, wallets.NotifyChannel, r.id)
	}
}

func TestNewAddressJettonStoresTheMastersJettonWallet(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := testCtx(t)
	got, err := e.svc.NewAddress(ctx, "user-2", "TGR")
	if err != nil {
		t.Fatal(err)
	}
	owner, err := tonaddr.Parse(got, config.Testnet)
	if err != nil {
		t.Fatal(err)
	}
	rows := e.rows(t, "WHERE currency = 'TGR'")
	if len(rows) != 1 {
		t.Fatalf("%d TGR rows, want 1", len(rows))
	}
	r := rows[0]
	if r.masterWC == nil || *r.masterWC != e.jetton.Master.Workchain() || !bytes.Equal(r.master, e.jetton.Master.Data()) {
		t.Fatalf("row's jetton master %v %x, want %s", r.masterWC, r.master, e.jetton.Master.StringRaw())
	}
	want, err := e.net.JettonWallet(ctx, e.jetton.Master, owner)
	if err != nil {
		t.Fatal(err)
	}
	if r.jwWC == nil || *r.jwWC != want.Workchain() || !bytes.Equal(r.jwAddr, want.Data()) {
		t.Fatalf("row's jetton wallet %v %x, tonsim's get_wallet_address says %s", r.jwWC, r.jwAddr, want.StringRaw())
	}

	// Once jettons arrive, the wallet is deployed exactly there.
	if _, err := e.net.Mint(ctx, e.jetton.Master, owner, big.NewInt(5000)); err != nil {
		t.Fatal(err)
	}
	stored := address.NewAddress(0, byte(int8(*r.jwWC)), r.jwAddr)
	bal, status, err := e.chain.AccountState(ctx, stored)
	if err != nil || status != ton.StatusActive || bal.Sign() <= 0 {
		t.Fatalf("stored jetton wallet after mint: %v %q %v, want an active account", bal, status, err)
	}
	jb, err := e.chain.JettonBalance(ctx, stored)
	if err != nil || jb.Cmp(big.NewInt(5000)) != 0 {
		t.Fatalf("stored jetton wallet balance %v %v, want 5000", jb, err)
	}
}

func TestNewAddressRefusesUnknownCurrencyAndBadUserIDs(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := testCtx(t)
	for _, cur := range []string{"USDT", "ton", "tgr", "", "TON "} {
		if _, err := e.svc.NewAddress(ctx, "u", cur); !errors.Is(err, wallets.ErrUnknownCurrency) {
			t.Errorf("currency %q: %v, want ErrUnknownCurrency", cur, err)
		}
	}
	for _, user := range []string{"", strings.Repeat("x", 257), "bad\xffutf8", "nul\x00"} {
		if _, err := e.svc.NewAddress(ctx, user, "TON"); !errors.Is(err, wallets.ErrInvalidUserID) {
			t.Errorf("user %q: %v, want ErrInvalidUserID", user, err)
		}
	}
	if _, err := e.svc.NewAddress(ctx, strings.Repeat("é", 256), "TON"); err != nil {
		t.Errorf("a 256-character user id: %v", err)
	}
	if rows := e.rows(t, "WHERE user_id <> $1", strings.Repeat("é", 256)); len(rows) != 0 {
		t.Fatalf("refused requests left %d rows", len(rows))
	}
}

func TestConcurrentNewAddressGivesDistinctAddresses(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := testCtx(t)
	const n = 100
	addrs := make([]string, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			cur := "TON"
			if i%10 == 0 {
				cur = "TGR"
			}
			addrs[i], errs[i] = e.svc.NewAddress(ctx, fmt.Sprintf("user-%d", i%7), cur)
		}()
	}
	close(start)
	wg.Wait()
	seen := map[string]bool{}
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("call %d: %v", i, errs[i])
		}
		if seen[addrs[i]] {
			t.Fatalf("address %s handed out twice", addrs[i])
		}
		seen[addrs[i]] = true
	}
	rows := e.rows(t, "")
	if len(rows) != n {
		t.Fatalf("%d rows, want %d", len(rows), n)
	}
	subwallets := map[int64]bool{}
	for _, r := range rows {
		subwallets[r.subwallet] = true
		a := address.NewAddress(0, 0, r.addr)
		if !seen[tonaddr.Format(a, config.Testnet, false)] {
			t.Fatalf("row %d holds an address no call returned", r.id)
		}
	}
	if len(subwallets) != n {
		t.Fatalf("%d distinct subwallet ids in %d rows", len(subwallets), n)
	}
}

func TestAddressesListsTheUsersAddressesInCreationOrder(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := testCtx(t)
	var want []wallets.Address
	for i, cur := range []string{"TON", "TGR", "TON"} {
		a, err := e.svc.NewAddress(ctx, "alice", cur)
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, wallets.Address{Address: a, Currency: cur})
		if _, err := e.svc.NewAddress(ctx, fmt.Sprintf("bob-%d", i), "TON"); err != nil {
			t.Fatal(err)
		}
	}
	got, err := e.svc.Addresses(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("Addresses(alice) = %v, want %v", got, want)
	}
	none, err := e.svc.Addresses(ctx, "nobody")
	if err != nil || none == nil || len(none) != 0 {
		t.Fatalf("Addresses(nobody) = %#v, %v; want an empty, non-nil list", none, err)
	}
}

func TestBalance(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := testCtx(t)

	t.Run("hot wallet TON after a faucet", func(t *testing.T) {
		amount := tlb.MustFromTON("3.25").Nano()
		if _, err := e.net.Faucet(ctx, e.svc.HotWalletAddress(), amount, false, ""); err != nil {
			t.Fatal(err)
		}
		bal, status, err := e.svc.Balance(ctx, "TON", nil)
		if err != nil || bal.Cmp(amount) != 0 || status != ton.StatusUninit {
			t.Fatalf("hot wallet: %v %q %v, want %s uninit", bal, status, err, amount)
		}
	})
	t.Run("deposit uninit after a non-bounceable faucet", func(t *testing.T) {
		s, err := e.svc.NewAddress(ctx, "carol", "TON")
		if err != nil {
			t.Fatal(err)
		}
		dep, err := tonaddr.Parse(s, config.Testnet)
		if err != nil {
			t.Fatal(err)
		}
		amount := tlb.MustFromTON("0.7").Nano()
		if _, err := e.net.Faucet(ctx, dep, amount, false, ""); err != nil {
			t.Fatal(err)
		}
		bal, status, err := e.svc.Balance(ctx, "TON", dep)
		if err != nil || bal.Cmp(amount) != 0 || status != ton.StatusUninit {
			t.Fatalf("deposit: %v %q %v, want %s uninit", bal, status, err, amount)
		}
	})
	t.Run("fresh address does not exist", func(t *testing.T) {
		bal, status, err := e.svc.Balance(ctx, "TON", e.svc.DepositAddress(4_000_000_000))
		if err != nil || bal.Sign() != 0 || status != ton.StatusNonExist {
			t.Fatalf("fresh: %v %q %v, want 0 non_exist", bal, status, err)
		}
	})
	t.Run("jetton after mint", func(t *testing.T) {
		s, err := e.svc.NewAddress(ctx, "dave", "TGR")
		if err != nil {
			t.Fatal(err)
		}
		dep, err := tonaddr.Parse(s, config.Testnet)
		if err != nil {
			t.Fatal(err)
		}
		bal, status, err := e.svc.Balance(ctx, "TGR", dep)
		if err != nil || bal.Sign() != 0 || status != ton.StatusNonExist {
			t.Fatalf("before mint: %v %q %v, want 0 non_exist", bal, status, err)
		}
		minted := new(big.Int).Exp(big.NewInt(10), big.NewInt(21), nil) // beyond uint64
		if _, err := e.net.Mint(ctx, e.jetton.Master, dep, minted); err != nil {
			t.Fatal(err)
		}
		bal, status, err = e.svc.Balance(ctx, "TGR", dep)
		if err != nil || bal.Cmp(minted) != 0 || status != ton.StatusNonExist {
			t.Fatalf("after mint: %v %q %v, want %s with the owner still non_exist", bal, status, err, minted)
		}
	})
	t.Run("hot wallet jetton", func(t *testing.T) {
		bal, _, err := e.svc.Balance(ctx, "TGR", nil)
		if err != nil || bal.Sign() != 0 {
			t.Fatalf("hot wallet TGR: %v %v, want 0", bal, err)
		}
		if _, err := e.net.Mint(ctx, e.jetton.Master, e.svc.HotWalletAddress(), big.NewInt(42)); err != nil {
			t.Fatal(err)
		}
		bal, _, err = e.svc.Balance(ctx, "TGR", nil)
		if err != nil || bal.Cmp(big.NewInt(42)) != 0 {
			t.Fatalf("hot wallet TGR after mint: %v %v, want 42", bal, err)
		}
	})
	t.Run("unknown currency", func(t *testing.T) {
		if _, _, err := e.svc.Balance(ctx, "XYZ", nil); !errors.Is(err, wallets.ErrUnknownCurrency) {
			t.Fatalf("err = %v, want ErrUnknownCurrency", err)
		}
	})
}

// BenchmarkNewAddressTON measures deposit address creation against
// PostgreSQL (no chain call is involved for TON). "serial" is one caller;
// "parallel" is GOMAXPROCS*8 concurrent callers, like a busy API.
func BenchmarkNewAddressTON(b *testing.B) {
	db := storetest.NewDB(b)
	cfg := &config.Config{Network: config.Testnet, HighloadTimeout: 60 * time.Second}
	svc, err := wallets.NewService(db, nil, testKeys, cfg)
	if err != nil {
		b.Fatal(err)
	}
	ctx := testCtx(b)
	b.Run("serial", func(b *testing.B) {
		for b.Loop() {
			if _, err := svc.NewAddress(ctx, "bench", "TON"); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "addresses/s")
	})
	b.Run("parallel", func(b *testing.B) {
		b.SetParallelism(8)
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := svc.NewAddress(ctx, "bench", "TON"); err != nil {
					b.Error(err)
					return
				}
			}
		})
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "addresses/s")
	})
}
