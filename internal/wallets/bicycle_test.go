package wallets_test

import (
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"strings"
	"testing"

	"github.com/xssnick/tonutils-go/tlb"
	"github.com/xssnick/tonutils-go/tvm/cell"

	"github.com/ton-custody/processor/internal/config"
	"github.com/ton-custody/processor/internal/tonaddr"
	"github.com/ton-custody/processor/internal/wallets"
)

// The facts sheet's test vector for gobicycle/bicycle's keys (BICYCLE.md
// §4, computed with tonutils-go v1.13.1): a throwaway mnemonic, never
// funded.
const (
	bicycleWords  = "birth diamond humor magic orchard mechanic below pudding reward essay glow unknown coral dish vehicle involve trust van best mad afford economy unfair room"
	bicyclePub    = "617fff09cbdf73a45f55bfa19ade9bd1c1acbaa3be02ba67084e0cb22bc30da5"
	bicycleHot    = "0:6f25e4394792fa305f8e93eb0cf6d20bd2394694829adb1629d19966d12cb413"
	bicycleFirst  = "0:6f8c483495d8ebf6457bde3475ae65e177c3373e08cb01340b0ec4f849761bdb"
	bicycleFirstU = "UQBvjEg0ldjr9kV73jR1rmXhd8M3PgjLATQLDsT4SXYb2_2N"
	bicycleNext   = "0:6ff3189378b8d101a39e03102d083ddd125ce1b00942cc9b5058ed6bceb0e582"
)

func bicycleOf(t *testing.T, proxyCode *cell.Cell, wantHash string) (*wallets.Keys, *wallets.Bicycle) {
	t.Helper()
	keys, err := wallets.DeriveKeys(strings.Fields(bicycleWords))
	if err != nil {
		t.Fatal(err)
	}
	b, err := wallets.NewBicycle(keys, proxyCode, wantHash)
	if err != nil {
		t.Fatal(err)
	}
	return keys, b
}

func TestBicycleDerivationMatchesTheFactsSheetVectors(t *testing.T) {
	t.Parallel()
	_, b := bicycleOf(t, nil, "")
	if got := hex.EncodeToString(b.PublicKey()); got != bicyclePub {
		t.Fatalf("public key %s, facts sheet %s", got, bicyclePub)
	}
	if got := b.HotWallet().StringRaw(); got != bicycleHot {
		t.Fatalf("HighloadV2R2 hot wallet %s, facts sheet %s", got, bicycleHot)
	}
	if b.ShardByte() != 0x6f {
		t.Fatalf("shard byte %x, facts sheet 6f", b.ShardByte())
	}
	// The grinding rule: start = MAX(subwallet_id)+1 = 698983192 with only
	// the hot wallet's row; the first id in the shard byte is 698983315,
	// the next one (start 698983316) 698983348.
	id, a := b.NextTONDeposit(wallets.BicycleHotSubwalletID + 1)
	if id != 698983315 || a.StringRaw() != bicycleFirst {
		t.Fatalf("first TON deposit %d %s, facts sheet 698983315 %s", id, a.StringRaw(), bicycleFirst)
	}
	if got := tonaddr.Format(a, config.Mainnet, false); got != bicycleFirstU {
		t.Fatalf("first TON deposit in user form %s, facts sheet %s", got, bicycleFirstU)
	}
	id, a = b.NextTONDeposit(id + 1)
	if id != 698983348 || a.StringRaw() != bicycleNext {
		t.Fatalf("next TON deposit %d %s, facts sheet 698983348 %s", id, a.StringRaw(), bicycleNext)
	}
	// The signing wallets are tonutils-go's at the same addresses.
	w, err := b.DepositWallet(nil, 698983315)
	if err != nil {
		t.Fatal(err)
	}
	if w.WalletAddress().StringRaw() != bicycleFirst {
		t.Fatalf("tonutils-go V3R2 wallet at %s, derived %s", w.WalletAddress().StringRaw(), bicycleFirst)
	}
	hw, err := b.HotWalletSigner(nil)
	if err != nil {
		t.Fatal(err)
	}
	if hw.WalletAddress().StringRaw() != bicycleHot {
		t.Fatalf("tonutils-go HighloadV2R2 wallet at %s", hw.WalletAddress().StringRaw())
	}
}

func TestDepositsChooseTheKeyPerDerivation(t *testing.T) {
	t.Parallel()
	keys, b := bicycleOf(t, nil, "")
	d, err := wallets.NewDeposits(keys)
	if err != nil {
		t.Fatal(err)
	}
	own, err := d.AddressFor(wallets.DerivationProcessor, 698983315)
	if err != nil {
		t.Fatal(err)
	}
	if !own.Equals(d.Address(698983315)) || own.StringRaw() == bicycleFirst {
		t.Fatalf("processor derivation gives %s", own.StringRaw())
	}
	bc, err := d.AddressFor(wallets.DerivationBicycle, 698983315)
	if err != nil {
		t.Fatal(err)
	}
	if bc.StringRaw() != bicycleFirst {
		t.Fatalf("bicycle derivation gives %s, facts sheet %s", bc.StringRaw(), bicycleFirst)
	}
	for _, deriv := range []wallets.Derivation{wallets.DerivationProcessor, wallets.DerivationBicycle} {
		w, err := d.WalletFor(nil, deriv, 698983315)
		if err != nil {
			t.Fatal(err)
		}
		want, _ := d.AddressFor(deriv, 698983315)
		if !w.WalletAddress().Equals(want) {
			t.Fatalf("%s wallet at %s, address %s", deriv, w.WalletAddress().StringRaw(), want.StringRaw())
		}
	}
	if _, err := d.WalletFor(nil, wallets.DerivationBicycleProxy, 698983192); err == nil {
		t.Fatal("a bicycle proxy got a signing wallet")
	}
	if !b.HotWallet().Equals(mustBicycle(t, d).HotWallet()) {
		t.Fatal("Deposits.Bicycle derives another hot wallet")
	}
}

func mustBicycle(t *testing.T, d *wallets.Deposits) *wallets.Bicycle {
	t.Helper()
	b, err := d.Bicycle()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// The proxy's address needs bicycle's proxy code, which is not part of
// this repository (GPL); the facts sheet's vector (subwallet 698983192 ->
// 0:d14f09a3...) can only be checked with it. What can be checked: the
// data cell's layout (299 bits, owner = the hot wallet as addr_std) and
// that a wrong code is refused by its hash.
func TestBicycleProxyStateInit(t *testing.T) {
	t.Parallel()
	code := cell.BeginCell().MustStoreUInt(0xDEADBEEF, 32).EndCell() // any code
	_, b := bicycleOf(t, code, hex.EncodeToString(code.Hash()))
	data := b.ProxyData(698983192)
	if data.BitsSize() != wallets.BicycleProxyDataBits || data.RefsNum() != 0 {
		t.Fatalf("proxy data has %d bits and %d refs, facts sheet 299 and 0", data.BitsSize(), data.RefsNum())
	}
	s := data.BeginParse()
	owner, err := s.LoadAddr()
	if err != nil {
		t.Fatal(err)
	}
	if owner.StringRaw() != bicycleHot {
		t.Fatalf("proxy owner %s, hot wallet %s", owner.StringRaw(), bicycleHot)
	}
	if sub, _ := s.LoadUInt(32); sub != 698983192 {
		t.Fatalf("proxy subwallet %d", sub)
	}
	si, err := b.ProxyStateInit(698983192)
	if err != nil {
		t.Fatal(err)
	}
	root, _ := tlb.ToCell(si)
	a, err := b.ProxyAddress(698983192)
	if err != nil {
		t.Fatal(err)
	}
	if string(a.Data()) != string(root.Hash()) {
		t.Fatal("proxy address is not the hash of its StateInit")
	}
	keys, _ := bicycleOf(t, nil, "")
	if _, err := wallets.NewBicycle(keys, code, wallets.BicycleProxyCodeHash); err == nil {
		t.Fatal("a proxy code with another hash than bicycle's was accepted")
	}
}

// gobicycle/bicycle took any mnemonic of 12 words or more that passes
// TON's checksum (BICYCLE.md §3, tonutils-go's SeedToPrivateKey), so its
// SEED may be 12 words: such a seed derives bicycle's key (here the public
// key tonutils-go v1.12.0 gives for this throwaway 12-word mnemonic) and
// this processor's own keys from the same words.
func TestTwelveWordBicycleSeed(t *testing.T) {
	t.Parallel()
	const words12 = "marine moon giggle list giggle bring clock afford lock claim staff horror"
	const pub12 = "62793aea718b155ea78b52b5c4b8c251b9893df83303de32850c314441d4fa22"
	keys, err := wallets.DeriveKeys(strings.Fields(words12))
	if err != nil {
		t.Fatalf("a valid 12-word TON mnemonic: %v", err)
	}
	b, err := wallets.NewBicycle(keys, nil, "")
	if err != nil {
		t.Fatal(err)
	}
	if got := hex.EncodeToString(b.PublicKey()); got != pub12 {
		t.Fatalf("bicycle's key %s, tonutils-go's %s", got, pub12)
	}
	if hex.EncodeToString(keys.HotKey().Public().(ed25519.PublicKey)) == pub12 || hex.EncodeToString(keys.DepositKey().Public().(ed25519.PublicKey)) == pub12 {
		t.Fatal("this processor's keys are the mnemonic's standard key")
	}
	// Fewer than 12 words, or 12 that fail the checksum, are refused.
	for _, ws := range [][]string{strings.Fields(words12)[:11], append(strings.Fields(words12)[1:], "marine")} {
		if _, err := wallets.DeriveKeys(ws); !errors.Is(err, wallets.ErrInvalidMnemonic) {
			t.Errorf("%d words: %v, want ErrInvalidMnemonic", len(ws), err)
		}
	}
}
