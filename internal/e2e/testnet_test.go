//go:build e2etestnet

package e2e

import (
	"math/big"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/xssnick/tonutils-go/address"
	"github.com/xssnick/tonutils-go/ton/wallet"

	"github.com/ton-custody/processor/internal/config"
	"github.com/ton-custody/processor/internal/tonaddr"
)

// Environment of TestTestnet (make e2e-testnet).
const (
	EnvTONConfig     = "E2E_TON_CONFIG"     // global config path or http(s) URL, e.g. https://ton.org/testnet-global.config.json
	EnvSeed          = "E2E_SEED"           // 24-word mnemonic of the funded funder wallet
	EnvWalletVersion = "E2E_WALLET_VERSION" // v4r2 (default), v3r2 or v5r1
	EnvJetton        = "E2E_JETTON"         // optional jetton master the funder holds
	EnvJettonAmount  = "E2E_JETTON_AMOUNT"  // base units per jetton deposit, default 1000
	EnvDNSName       = "E2E_DNS_NAME"       // optional .ton name ...
	EnvDNSWallet     = "E2E_DNS_WALLET"     // ... and the wallet address it must resolve to
)

// TestTestnet runs the suite against the public testnet. It is built only
// with -tags e2etestnet (make e2e-testnet, which first checks the
// environment), so `make test` never compiles, runs or skips it.
func TestTestnet(t *testing.T) {
	cfg, seed := os.Getenv(EnvTONConfig), strings.Fields(os.Getenv(EnvSeed))
	if cfg == "" || len(seed) == 0 {
		t.Fatalf("testnet end-to-end: set %s (testnet global config path or URL, e.g. https://ton.org/testnet-global.config.json) "+
			"and %s (24-word mnemonic of a funded testnet wallet, at least 3 TON) to run it", EnvTONConfig, EnvSeed)
	}
	if len(seed) != 24 {
		t.Fatalf("%s has %d words, want 24", EnvSeed, len(seed))
	}
	n := &Network{Name: "testnet", Config: cfg, Seed: seed, BlockTime: 5 * time.Second, JettonAmount: big.NewInt(1000)}
	switch v := strings.ToLower(os.Getenv(EnvWalletVersion)); v {
	case "", "v4r2":
		n.Version = wallet.V4R2
	case "v3r2":
		n.Version = wallet.V3R2
	case "v5r1":
		n.Version = wallet.ConfigV5R1Final{NetworkGlobalID: -3} // testnet
	default:
		t.Fatalf("%s=%q: want v4r2, v3r2 or v5r1", EnvWalletVersion, v)
	}
	if s := os.Getenv(EnvJetton); s != "" {
		a, err := address.ParseAddr(s)
		if err != nil {
			t.Fatalf("%s: %v", EnvJetton, err)
		}
		n.Jetton = a
		if s := os.Getenv(EnvJettonAmount); s != "" {
			if _, ok := n.JettonAmount.SetString(s, 10); !ok || n.JettonAmount.Sign() <= 0 {
				t.Fatalf("%s=%q is not a positive integer", EnvJettonAmount, s)
			}
		}
	}
	if name, w := os.Getenv(EnvDNSName), os.Getenv(EnvDNSWallet); name != "" || w != "" {
		a, err := tonaddr.Parse(w, config.Testnet)
		if err != nil {
			if a, err = address.ParseAddr(w); err != nil {
				t.Fatalf("%s and %s must be set together; %s: %v", EnvDNSName, EnvDNSWallet, EnvDNSWallet, err)
			}
		}
		if name == "" {
			t.Fatalf("%s and %s must be set together", EnvDNSName, EnvDNSWallet)
		}
		n.DNSName, n.DNSWallet = name, a
	}
	runSuite(t, n)
}
