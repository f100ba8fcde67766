// Package wallets owns the processor's keys and addresses: key derivation
// from the mnemonic, the hot wallet (highload v3), the deposit wallets
// (V3R2, one subwallet id each), their jetton wallets, and the
// deposit_wallets table. It also formats and parses user-friendly
// addresses for the HTTP layer.
//
// # Key derivation (for recovery)
//
// One 24-word TON mnemonic gives two independent ed25519 keys, so the hot
// wallet key and the deposit key can be told apart and neither is the
// mnemonic's plain TON wallet key:
//
//  1. entropy = HMAC-SHA512(key = the words joined by single spaces, msg = "")
//  2. seed    = PBKDF2-HMAC-SHA512(entropy, salt "TON default seed", 100000 iterations, 64 bytes)
//     (TON's mnemonicToSeed. Its first 32 bytes are the ed25519 seed that
//     tonutils-go's wallet.SeedToPrivateKey and the TON wallet apps use;
//     DeriveKeys checks that equality at run time.)
//  3. SLIP-0010 ed25519 derivation from seed (tonutils-go hdwallet.Derived):
//     HotWalletPath "m/44'/607'/0'" for the hot wallet key,
//     DepositPath  "m/44'/607'/1'" for the deposit key.
//
// This is not ton-crypto's mnemonicToHDSeed (salt "TON HD Keys seed"); a
// tool using that gets other keys. With the keys:
//
//   - hot wallet = highload wallet v3 (tonutils-go code), subwallet id
//     HotSubwalletID, timeout HIGHLOAD_TIMEOUT seconds, workchain 0;
//   - deposit address i = wallet V3R2 (tonutils-go code) with the deposit
//     key and subwallet id i (deposit_wallets.subwallet_id), workchain 0.
//
// Changing any constant here moves every address: the golden-address test
// exists to catch that.
package wallets

import (
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/sha512"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/xssnick/tonutils-go/ton/wallet"
	"github.com/xssnick/tonutils-go/ton/wallet/hdwallet"
)

// Derivation constants. They are part of every address the processor has
// handed out; never change them on a live installation.
const (
	// HotWalletPath is the SLIP-0010 path of the hot wallet key (the path
	// tonutils-go uses for BIP39 phrases, hardened throughout).
	HotWalletPath = "m/44'/607'/0'"
	// DepositPath is the SLIP-0010 path of the deposit wallets' key.
	DepositPath = "m/44'/607'/1'"
	// MnemonicWords is the length of a TON mnemonic. Shorter ones, down to
	// MinMnemonicWords, are accepted when they pass TON's checksum, as
	// gobicycle/bicycle (tonutils-go) accepted them: a bicycle deployment's
	// seed can be taken over.
	MnemonicWords    = 24
	MinMnemonicWords = 12

	// seedSalt, seedIterations and seedLen make TON's mnemonicToSeed.
	seedSalt       = "TON default seed"
	seedIterations = 100000
	seedLen        = 64
)

// ErrInvalidMnemonic reports a mnemonic that is not a valid 24-word TON
// mnemonic. Its messages never contain a word of it.
var ErrInvalidMnemonic = errors.New("wallets: invalid mnemonic")

// Keys are the two derived private keys. Every printed form of Keys shows
// the public keys only.
type Keys struct {
	hot     ed25519.PrivateKey
	deposit ed25519.PrivateKey
	// plain is the mnemonic's standard TON key: gobicycle/bicycle's only
	// key, kept for the deposits a takeover imported (bicycle.go).
	plain ed25519.PrivateKey
}

// DeriveKeys derives the hot wallet and deposit keys from a 24-word TON
// mnemonic (config.Config.SeedWords). It takes about 0.2 s (two PBKDF2
// runs of 100000 iterations); call it once at start.
func DeriveKeys(words []string) (*Keys, error) {
	if len(words) < MinMnemonicWords || len(words) > MnemonicWords {
		return nil, fmt.Errorf("%w: want %d words, got %d", ErrInvalidMnemonic, MnemonicWords, len(words))
	}
	for i, w := range words {
		if w == "" || strings.Trim(w, "abcdefghijklmnopqrstuvwxyz") != "" {
			return nil, fmt.Errorf("%w: word %d must be lower-case letters a-z", ErrInvalidMnemonic, i+1)
		}
	}
	// tonutils-go checks the word list and TON's checksum. Its error
	// quotes an unknown word, so only its kind is passed on.
	plain, err := wallet.SeedToPrivateKey(words, "", false)
	if err != nil {
		if strings.Contains(err.Error(), "unknown word") {
			return nil, fmt.Errorf("%w: a word is not in the TON (BIP39 English) word list", ErrInvalidMnemonic)
		}
		return nil, fmt.Errorf("%w: checksum mismatch (a mistyped word, or a BIP39 phrase from another wallet)", ErrInvalidMnemonic)
	}
	seed, err := mnemonicSeed(words)
	if err != nil {
		return nil, err
	}
	if !hmac.Equal(seed[:ed25519.SeedSize], plain.Seed()) {
		// The recipe in the package documentation no longer matches
		// tonutils-go: recovery instructions would be wrong.
		return nil, errors.New("wallets: mnemonic seed does not match tonutils-go's; key derivation is broken")
	}
	hot, err := deriveKey(seed, HotWalletPath)
	if err != nil {
		return nil, err
	}
	deposit, err := deriveKey(seed, DepositPath)
	if err != nil {
		return nil, err
	}
	return &Keys{hot: hot, deposit: deposit, plain: plain}, nil
}

// mnemonicSeed is TON's 64-byte mnemonicToSeed (see the package
// documentation), the input of SLIP-0010.
func mnemonicSeed(words []string) ([]byte, error) {
	mac := hmac.New(sha512.New, []byte(strings.Join(words, " ")))
	entropy := mac.Sum(nil)
	seed, err := pbkdf2.Key(sha512.New, string(entropy), []byte(seedSalt), seedIterations, seedLen)
	if err != nil {
		return nil, fmt.Errorf("wallets: compute mnemonic seed: %w", err)
	}
	return seed, nil
}

func deriveKey(seed []byte, path string) (ed25519.PrivateKey, error) {
	k, err := hdwallet.Derived(path, seed)
	if err != nil {
		return nil, fmt.Errorf("wallets: derive %s: %w", path, err)
	}
	return ed25519.NewKeyFromSeed(k.PrivateKey), nil
}

// HotKey is the hot wallet's private key.
func (k *Keys) HotKey() ed25519.PrivateKey { return k.hot }

// DepositKey is the deposit wallets' private key.
func (k *Keys) DepositKey() ed25519.PrivateKey { return k.deposit }

// String shows the public keys only, so a Keys in a log line or an error
// cannot leak a private key. Value receivers: a copied Keys prints the
// same way.
func (k Keys) String() string {
	if k.hot == nil || k.deposit == nil {
		return "wallets.Keys{}"
	}
	return fmt.Sprintf("wallets.Keys{hot:%s deposit:%s}",
		hex.EncodeToString(k.hot.Public().(ed25519.PublicKey)), hex.EncodeToString(k.deposit.Public().(ed25519.PublicKey)))
}

// GoString is String, for %#v.
func (k Keys) GoString() string { return k.String() }

// Format makes every fmt verb print String; fmt would otherwise print the
// key bytes for verbs such as %x or %+v.
func (k Keys) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, k.String()) }
