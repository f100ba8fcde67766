package takeover_test

import (
	"context"
	"encoding/binary"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/xssnick/tonutils-go/ton/wallet"

	"github.com/ton-custody/processor/internal/store/storetest"
	"github.com/ton-custody/processor/internal/takeover"
	"github.com/ton-custody/processor/internal/wallets"
)

// quietBicycle is a bicycle database with its hot wallet row, one TON
// deposit and a scan cursor at the current top of its shard, nothing on
// the chain besides the network itself.
func quietBicycle(t *testing.T, savedAgo time.Duration) (*bicycleSim, func() (*takeover.Report, string, error)) {
	t.Helper()
	n, j := newNetwork(t)
	s := newBicycleSim(t, n, j)
	s.exec(`INSERT INTO payments.ton_wallets (subwallet_id, user_id, type, address) VALUES ($1, '', 'ton_hot', $2)`,
		int64(wallets.BicycleHotSubwalletID), s.b.HotWallet().Data())
	s.tonDeposit("alice")
	for _, top := range n.Chain.Last().ShardTops {
		if top.Shard.Contains(binary.BigEndian.Uint64(s.b.HotWallet().Data())) {
			s.last = top
		}
	}
	if s.last == nil {
		t.Fatal("no shard holds bicycle's hot wallet")
	}
	s.stopAt(savedAgo)
	oursURL := storetest.NewDBURL(t)
	cfg := loadConfig(t, env(t, n, j, oursURL, s.words))
	ch, _ := chainOf(t, cfg)
	ours, bic := openDB(t, oursURL), openDB(t, s.url)
	return s, func() (*takeover.Report, string, error) { return runTakeover(t, ours, bic, ch, s.keys, cfg, false) }
}

// While bicycle's scanner still saves blocks, the import refuses to run
// and writes nothing; a dry run reports it as blocking.
func TestTakeoverRefusesWhileBicycleScans(t *testing.T) {
	t.Parallel()
	s, run := quietBicycle(t, 5*time.Second)
	rep, out, err := run()
	if !errors.Is(err, takeover.ErrBicycleRunning) || len(rep.Stages) != 0 {
		t.Fatalf("import while bicycle scans: %v\n%s", err, out)
	}
	if !strings.Contains(out, "its scanner saved a block") {
		t.Fatalf("report does not say why:\n%s", out)
	}
	// A dry run still previews everything, with bicycle's running as a
	// blocking discrepancy.
	oursURL := storetest.NewDBURL(t)
	cfg := loadConfig(t, env(t, s.n, s.j, oursURL, s.words))
	ch, _ := chainOf(t, cfg)
	_, out, err = runTakeover(t, openDB(t, oursURL), openDB(t, s.url), ch, s.keys, cfg, true)
	if !errors.Is(err, takeover.ErrBlocked) || !strings.Contains(out, "BLOCKING: bicycle is running") || !strings.Contains(out, "stage addresses: would import") {
		t.Fatalf("dry run while bicycle scans: %v\n%s", err, out)
	}
	live, err := takeover.CheckLive(context.Background(), s.db, time.Second, 0)
	if err != nil || live.Running() {
		t.Fatalf("with a 1 s quiet period bicycle counts as stopped: %v %v", live, err)
	}
}

// A bicycle that writes while the import watches (its API took a
// withdrawal) is running, however old its last block.
func TestTakeoverRefusesWhileBicycleWrites(t *testing.T) {
	t.Parallel()
	s, _ := quietBicycle(t, 10*time.Minute)
	go func() {
		time.Sleep(300 * time.Millisecond)
		s.request(payout{user: "u", query: "q", dest: freshAddr(1), nano: 5}, false, false)
	}()
	live, err := takeover.CheckLive(context.Background(), s.db, 0, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if !live.Running() || !strings.Contains(strings.Join(live.Reasons(), " "), "withdrawal_requests rows 0 -> 1") {
		t.Fatalf("bicycle writing during the watch: running %v, %v", live.Running(), live.Reasons())
	}
}

// A deposit address that does not re-derive stops the import at stage
// addresses, with nothing of it written; fixed, the import goes on.
func TestTakeoverStopsOnAnAddressThatDoesNotRederive(t *testing.T) {
	t.Parallel()
	s, run := quietBicycle(t, 10*time.Minute)
	s.exec(`UPDATE payments.ton_wallets SET address = set_byte(address, 31, get_byte(address, 31) # 1) WHERE type = 'ton_deposit'`)
	rep, out, err := run()
	if !errors.Is(err, takeover.ErrBlocked) || !strings.Contains(out, "SEED derives") {
		t.Fatalf("import with a tampered address: %v\n%s", err, out)
	}
	want := map[string]string{takeover.StageState: "imported", takeover.StageAddresses: "stopped", takeover.StageHistory: "not run",
		takeover.StageWithdrawals: "not run", takeover.StageCursor: "not run"}
	for _, st := range rep.Stages {
		if want[st.Name] != st.Outcome {
			t.Fatalf("stage %s: %s, want %s\n%s", st.Name, st.Outcome, want[st.Name], out)
		}
	}
	s.exec(`UPDATE payments.ton_wallets SET address = set_byte(address, 31, get_byte(address, 31) # 1) WHERE type = 'ton_deposit'`)
	if _, out, err = run(); err != nil || !strings.Contains(out, "stage state: already imported") || !strings.Contains(out, "stage addresses: imported") {
		t.Fatalf("import after the fix: %v\n%s", err, out)
	}
}

// Another SEED than bicycle's gives another hot wallet: blocking.
func TestTakeoverRefusesAnotherSeed(t *testing.T) {
	t.Parallel()
	s, _ := quietBicycle(t, 10*time.Minute)
	other, err := wallets.DeriveKeys(wallet.NewSeed())
	if err != nil {
		t.Fatal(err)
	}
	s.keys = other
	oursURL := storetest.NewDBURL(t)
	cfg := loadConfig(t, env(t, s.n, s.j, oursURL, s.words))
	ch, _ := chainOf(t, cfg)
	_, out, err := runTakeover(t, openDB(t, oursURL), openDB(t, s.url), ch, other, cfg, true)
	if !errors.Is(err, takeover.ErrBlocked) || !strings.Contains(out, "SEED is not bicycle's seed") {
		t.Fatalf("dry run with another seed: %v\n%s", err, out)
	}
}
