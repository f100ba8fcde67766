package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/xssnick/tonutils-go/tlb"
	"github.com/xssnick/tonutils-go/ton/wallet"

	"github.com/ton-custody/processor/internal/tonsim"
)

var (
	emuOnce sync.Once
	emu     *tonsim.Emulator
	emuErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if emu != nil {
		_ = emu.Close(context.Background())
	}
	os.Exit(code)
}

// simNetwork starts a tonsim network and fills in a Network as an
// operator would for testnet: a funded V4R2 wallet from a fresh mnemonic,
// a jetton it holds, and a DNS name pointing at it.
func simNetwork(t *testing.T) *Network {
	t.Helper()
	emuOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		emu, emuErr = tonsim.OpenEmulator(ctx, "", 0)
	})
	if emuErr != nil {
		t.Fatalf("e2e tests need the TON emulator assets (npm): %v", emuErr)
	}
	const block = 100 * time.Millisecond
	n, err := tonsim.Start(context.Background(), emu, emu.Contracts, tonsim.Options{BlockInterval: block, LiteAddr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = n.Close() })
	gc, err := n.GlobalConfig()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "global.config.json")
	b, _ := json.Marshal(gc)
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	seed := wallet.NewSeed()
	w, err := wallet.FromSeed(nil, seed, wallet.V4R2)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := n.Faucet(ctx, w.WalletAddress(), tlb.MustFromTON("100").Nano(), false, "e2e funder"); err != nil {
		t.Fatal(err)
	}
	j, err := n.DeployJetton(ctx, "E2EJ", 6)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := n.Mint(ctx, j.Master, w.WalletAddress(), big.NewInt(1_000_000)); err != nil {
		t.Fatal(err)
	}
	name := fmt.Sprintf("e2e-%d.ton", time.Now().UnixNano()%1_000_000)
	if err := n.DNS.SetWallet(name, w.WalletAddress()); err != nil {
		t.Fatal(err)
	}
	return &Network{Name: "tonsim", Config: path, Seed: seed, Version: wallet.V4R2,
		Jetton: j.Master, JettonAmount: big.NewInt(1000), DNSName: name, DNSWallet: w.WalletAddress(), BlockTime: block}
}

func TestTonsim(t *testing.T) {
	runSuite(t, simNetwork(t))
}
