package wallets_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/xssnick/tonutils-go/address"
	"github.com/xssnick/tonutils-go/tlb"
	"github.com/xssnick/tonutils-go/ton/wallet"

	"github.com/ton-custody/processor/internal/config"
	"github.com/ton-custody/processor/internal/tonaddr"
	"github.com/ton-custody/processor/internal/wallets"
)

// goldenWords is a mnemonic made for these tests (tonutils-go NewSeed); the
// golden values below were computed once from it. If one of them changes,
// key derivation changed, and every installation's addresses with it.
const goldenWords = "exhaust bulb knife advance melt robot abandon hurdle senior approve bid pulse reward stereo mouse future crazy rotate capital success decrease ranch enter broccoli"

const (
	goldenHotPub     = "cf02d6f121541b4340e77ad428c73686a1a50db6d0c45057753b29d66a2f630f"
	goldenDepositPub = "08b51be82fbd74fc4a8fa0a07237d09a27b73dbf2d8349603a167acc6d4a1cd6"
	// Highload v3, HotSubwalletID, timeout 60 s (the HIGHLOAD_TIMEOUT default).
	goldenHot60 = "0:f8ed3ab90e10d643ff78833c6a8eddab81d7741dd13ef9bf69240fd765c635c5"
	// Deposit wallets V3R2, subwallet ids 1, 2 and 2^32-1.
	goldenDeposit1   = "0:f5987176bfb4b62afe2713850451f30f4b7e8cbe1bab7052e6f060aa6fbf22ff"
	goldenDeposit2   = "0:1f5c46f92dcd2751a0562712c0060b207899f9f5d76e588f9d604e84268674bd"
	goldenDepositMax = "0:e11e087b114a1b769e4ce1c1d3c20744df7a985dee1977de9283c954cd0633f0"
	// The same deposit 1 as the API prints it on testnet.
	goldenDeposit1Testnet = "0QD1mHF2v7S2Kv4nE4UEUfMPS36MvhurcFLm8GCqb78i_xlG"
)

func pubHex(k ed25519.PrivateKey) string {
	return hex.EncodeToString(k.Public().(ed25519.PublicKey))
}

func TestKeyDerivationIsDeterministicAndSeparatesTheKeys(t *testing.T) {
	t.Parallel()
	words := strings.Fields(goldenWords)
	a, err := wallets.DeriveKeys(words)
	if err != nil {
		t.Fatal(err)
	}
	b, err := wallets.DeriveKeys(words)
	if err != nil {
		t.Fatal(err)
	}
	if !a.HotKey().Equal(b.HotKey()) || !a.DepositKey().Equal(b.DepositKey()) {
		t.Fatal("two derivations from one mnemonic differ")
	}
	if a.HotKey().Equal(a.DepositKey()) {
		t.Fatal("hot and deposit keys are the same key")
	}
	// Neither derived key is the mnemonic's plain wallet key, which any
	// TON wallet app shows when the mnemonic is imported.
	plain, err := wallet.SeedToPrivateKey(words, "", false)
	if err != nil {
		t.Fatal(err)
	}
	if plain.Equal(a.HotKey()) || plain.Equal(a.DepositKey()) {
		t.Fatal("a derived key equals the mnemonic's plain key")
	}
	if got := pubHex(a.HotKey()); got != goldenHotPub {
		t.Errorf("hot public key %s, golden %s", got, goldenHotPub)
	}
	if got := pubHex(a.DepositKey()); got != goldenDepositPub {
		t.Errorf("deposit public key %s, golden %s", got, goldenDepositPub)
	}
}

func TestGoldenAddresses(t *testing.T) {
	t.Parallel()
	keys := testKeys
	hot, err := wallets.NewHotWallet(keys, 60*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if got := hot.Address().StringRaw(); got != goldenHot60 {
		t.Errorf("hot wallet %s, golden %s", got, goldenHot60)
	}
	d, err := wallets.NewDeposits(keys)
	if err != nil {
		t.Fatal(err)
	}
	for id, want := range map[uint32]string{1: goldenDeposit1, 2: goldenDeposit2, 1<<32 - 1: goldenDepositMax} {
		if got := d.Address(id).StringRaw(); got != want {
			t.Errorf("deposit %d: %s, golden %s", id, got, want)
		}
	}
	if got := tonaddr.Format(d.Address(1), config.Testnet, false); got != goldenDeposit1Testnet {
		t.Errorf("deposit 1 on testnet prints as %s, golden %s", got, goldenDeposit1Testnet)
	}
}

func TestDeriveKeysRejectsBadMnemonicsWithoutQuotingThem(t *testing.T) {
	t.Parallel()
	good := strings.Fields(goldenWords)
	replace := func(i int, w string) []string {
		out := append([]string(nil), good...)
		out[i] = w
		return out
	}
	swapped := append([]string(nil), good...)
	swapped[0], swapped[1] = swapped[1], swapped[0]
	for _, tc := range []struct {
		name  string
		words []string
	}{
		{"23 words", good[:23]},
		{"25 words", append(append([]string(nil), good...), "abandon")},
		{"upper case", replace(3, "Advance")},
		{"word not in the list", replace(5, "zzzzqqq")},
		{"checksum mismatch", swapped},
		{"empty", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := wallets.DeriveKeys(tc.words)
			if !errors.Is(err, wallets.ErrInvalidMnemonic) {
				t.Fatalf("err = %v, want ErrInvalidMnemonic", err)
			}
			msg := strings.ToLower(err.Error())
			for _, w := range append(tc.words, "zzzzqqq") {
				if len(w) >= 3 && strings.Contains(msg, strings.ToLower(w)) {
					t.Fatalf("error %q quotes the word %q", err, w)
				}
			}
		})
	}
}

func TestKeysNeverPrintPrivateKeys(t *testing.T) {
	t.Parallel()
	secrets := []string{hex.EncodeToString(testKeys.HotKey().Seed()), hex.EncodeToString(testKeys.DepositKey().Seed())}
	for _, format := range []string{"%v", "%+v", "%#v", "%s", "%x", "%q"} {
		for _, v := range []any{testKeys, *testKeys, struct{ K *wallets.Keys }{testKeys}} {
			out := strings.ToLower(fmt.Sprintf(format, v))
			for _, s := range secrets {
				if strings.Contains(out, s) || strings.Contains(out, s[:16]) {
					t.Fatalf("%s of %T prints a private key: %s", format, v, out)
				}
			}
		}
	}
	if !strings.Contains(testKeys.String(), goldenHotPub) {
		t.Fatalf("String() = %s, want the public keys", testKeys)
	}
}

func TestDepositAddressIsTonutilsV3R2WithTheSubwalletID(t *testing.T) {
	t.Parallel()
	d, err := wallets.NewDeposits(testKeys)
	if err != nil {
		t.Fatal(err)
	}
	pub := testKeys.DepositKey().Public().(ed25519.PublicKey)
	seen := map[string]uint32{}
	for _, id := range []uint32{0, 1, 2, 3, 1000, 698983191, 1<<31 + 5, 1<<32 - 1} {
		got := d.Address(id)
		want, err := wallet.AddressFromPubKey(pub, wallet.V3R2, id)
		if err != nil {
			t.Fatal(err)
		}
		if !got.Equals(want) {
			t.Fatalf("id %d: %s, tonutils V3R2 says %s", id, got.StringRaw(), want.StringRaw())
		}
		w, err := d.Wallet(nil, id)
		if err != nil {
			t.Fatal(err)
		}
		if !w.WalletAddress().Equals(got) || w.GetSubwalletID() != id {
			t.Fatalf("id %d: signing wallet at %s (subwallet %d), address %s", id, w.WalletAddress().StringRaw(), w.GetSubwalletID(), got.StringRaw())
		}
		tonutilsSI, err := wallet.GetStateInit(pub, wallet.V3R2, id)
		if err != nil {
			t.Fatal(err)
		}
		si, err := tlb.ToCell(tonutilsSI)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(si.Hash(), d.StateInitCell(id).Hash()) || !bytes.Equal(si.Hash(), got.Data()) {
			t.Fatalf("id %d: StateInitCell does not hash to the address", id)
		}
		if prev, dup := seen[got.StringRaw()]; dup {
			t.Fatalf("ids %d and %d give the same address", prev, id)
		}
		seen[got.StringRaw()] = id
		if !bytes.Equal(d.Address(id).Data(), got.Data()) {
			t.Fatalf("id %d: Address is not deterministic", id)
		}
	}
}

func TestHotWalletIsTonutilsHighloadV3(t *testing.T) {
	t.Parallel()
	for _, timeout := range []time.Duration{6 * time.Second, 60 * time.Second, (1<<22 - 1) * time.Second} {
		hot, err := wallets.NewHotWallet(testKeys, timeout)
		if err != nil {
			t.Fatal(err)
		}
		secs := uint32(timeout / time.Second)
		// The recovery path in the package documentation: tonutils-go's
		// defaults give the same wallet.
		plain, err := wallet.FromPrivateKey(nil, testKeys.HotKey(), wallet.ConfigHighloadV3{MessageTTL: secs})
		if err != nil {
			t.Fatal(err)
		}
		if !plain.WalletAddress().Equals(hot.Address()) || plain.GetSubwalletID() != wallets.HotSubwalletID {
			t.Fatalf("timeout %v: hot wallet %s, tonutils default highload v3 %s", timeout, hot.Address().StringRaw(), plain.WalletAddress().StringRaw())
		}
		si, err := tlb.ToCell(hot.StateInit())
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(si.Hash(), hot.Address().Data()) || hot.Timeout() != secs {
			t.Fatalf("timeout %v: state init does not give the address", timeout)
		}
		w, err := hot.Wallet(nil, func(ctx context.Context, sub uint32) (uint32, int64, error) { return 1, time.Now().Unix(), nil })
		if err != nil || !w.WalletAddress().Equals(hot.Address()) {
			t.Fatalf("timeout %v: signing wallet %v, %v", timeout, w, err)
		}
	}
	if _, err := testHotWallet(t, 60*time.Second).Wallet(nil, nil); err == nil {
		t.Fatal("a hot wallet without a query id builder was built")
	}
	a, b := testHotWallet(t, 60*time.Second).Address(), testHotWallet(t, 61*time.Second).Address()
	if a.Equals(b) {
		t.Fatal("the timeout does not change the hot wallet address")
	}
	for _, bad := range []time.Duration{0, 5 * time.Second, 1<<22*time.Second + 0, 6500 * time.Millisecond} {
		if _, err := wallets.NewHotWallet(testKeys, bad); err == nil {
			t.Errorf("timeout %v accepted", bad)
		}
	}
	if a := testHotWallet(t, 60*time.Second).Address(); a.Workchain() != 0 || a.Type() != address.StdAddress {
		t.Fatalf("hot wallet %s is not a basechain address", a.StringRaw())
	}
}

func testHotWallet(t *testing.T, timeout time.Duration) *wallets.HotWallet {
	t.Helper()
	h, err := wallets.NewHotWallet(testKeys, timeout)
	if err != nil {
		t.Fatal(err)
	}
	return h
}
