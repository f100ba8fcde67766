package wallets

// gobicycle/bicycle's key scheme, as one more derivation for deposit rows
// a takeover imported (processor takeover-bicycle). Everything here comes
// from the facts sheet (docs/BICYCLE.md in the shared docs), not from
// bicycle's code:
//
//   - one key: the mnemonic's standard TON key (tonutils-go
//     SeedToPrivateKey, no password), the key any TON wallet app shows;
//   - hot wallet: highload wallet v2 (tonutils-go's HighloadV2R2 code),
//     subwallet 698983191, workchain 0;
//   - TON deposit i: wallet V3R2 with that key and subwallet id i;
//   - jetton deposit i: a proxy contract whose StateInit data is
//     owner:MsgAddressInt (the highload v2 address) subwallet_id:uint32.
//     Its jettons sit in the proxy's jetton wallet, and only the highload
//     v2 wallet can move them (the owner is part of the proxy's address).
//
// Deposit rows carry their derivation (deposit_wallets.derivation), so
// the processor signs each deposit with the key its address came from.

import (
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/xssnick/tonutils-go/address"
	"github.com/xssnick/tonutils-go/tlb"
	"github.com/xssnick/tonutils-go/ton/wallet"
	"github.com/xssnick/tonutils-go/tvm/cell"
)

// Derivation says how a deposit row's address was derived
// (deposit_wallets.derivation).
type Derivation string

// Derivations.
const (
	// DerivationProcessor: this processor's deposit key, wallet V3R2.
	DerivationProcessor Derivation = "processor"
	// DerivationBicycle: bicycle's TON deposit, wallet V3R2 with the
	// mnemonic's standard key.
	DerivationBicycle Derivation = "bicycle"
	// DerivationBicycleProxy: bicycle's jetton deposit, a proxy owned by
	// bicycle's highload v2 hot wallet. Nothing signs for it: it moves
	// funds only when that hot wallet commands it.
	DerivationBicycleProxy Derivation = "bicycle_proxy"
)

// Bicycle constants (facts sheet §4).
const (
	// BicycleHotSubwalletID is bicycle's hot wallet subwallet id, and the
	// empty-table start of its subwallet id counter.
	BicycleHotSubwalletID uint32 = 698983191
	// HighloadV2R2CodeHash is the code hash of bicycle's hot wallet
	// contract (tonutils-go's HighloadV2R2, not HighloadV2Verified).
	HighloadV2R2CodeHash = "203dd4f358adb49993129aa925cac39916b68a0e4f78d26e8f2c2b69eafa5679"
	// V3R2CodeHash is the code hash of bicycle's TON deposit wallets.
	V3R2CodeHash = "84dafa449f98a6987789ba232358072bc0f76dc4524002a5d0918b9a75d2d599"
	// BicycleProxyCodeHash is the code hash of bicycle's jetton proxy
	// (gobicycle/ton-proxy-contract). The code itself is GPL and not part
	// of this program: the operator supplies it (it is bicycle's own file)
	// and NewBicycle checks it against this hash.
	BicycleProxyCodeHash = "1afafa4d66d3dbfc4e816b2b90acb8aa8313f76a7860645c9d1c3a1bf51e3dcb"
	// BicycleProxyDataBits is the size of a proxy's data cell: addr_std
	// without anycast (267 bits) and a 32-bit subwallet id.
	BicycleProxyDataBits = 299
)

// ErrNoBicycleKey is returned for bicycle derivations when the keys were
// not derived from a mnemonic (no standard key known).
var ErrNoBicycleKey = errors.New("wallets: no bicycle key (keys were not derived from a mnemonic)")

// Bicycle derives gobicycle/bicycle's addresses from the mnemonic's
// standard key. It is immutable and safe for concurrent use.
type Bicycle struct {
	key       ed25519.PrivateKey
	pub       ed25519.PublicKey
	v3code    *cell.Cell
	hot       *address.Address
	hotInit   *tlb.StateInit
	proxyCode *cell.Cell // nil: jetton proxies cannot be derived
}

// NewBicycle prepares bicycle's derivation from the keys (its key is the
// mnemonic's standard key). proxyCode is bicycle's jetton proxy code, or
// nil when no jetton deposits are to be derived; when
// wantProxyHash is not empty the code must hash to it (production passes
// BicycleProxyCodeHash; tests pass their stand-in's).
func NewBicycle(keys *Keys, proxyCode *cell.Cell, wantProxyHash string) (*Bicycle, error) {
	if keys == nil || keys.plain == nil {
		return nil, ErrNoBicycleKey
	}
	pub := keys.plain.Public().(ed25519.PublicKey)
	v3, err := wallet.GetStateInit(pub, wallet.V3R2, 0)
	if err != nil {
		return nil, fmt.Errorf("wallets: bicycle deposit code: %w", err)
	}
	if got := hex.EncodeToString(v3.Code.Hash()); got != V3R2CodeHash {
		return nil, fmt.Errorf("wallets: tonutils-go's V3R2 code hashes to %s, bicycle's to %s", got, V3R2CodeHash)
	}
	// bicycle's hot wallet is a highload v2 (deprecated in tonutils-go for
	// new wallets); we only need its address and to empty it once.
	//lint:ignore SA1019 bicycle's existing hot wallet
	hi, err := wallet.GetStateInit(pub, wallet.HighloadV2R2, BicycleHotSubwalletID)
	if err != nil {
		return nil, fmt.Errorf("wallets: bicycle hot wallet: %w", err)
	}
	if got := hex.EncodeToString(hi.Code.Hash()); got != HighloadV2R2CodeHash {
		return nil, fmt.Errorf("wallets: tonutils-go's HighloadV2R2 code hashes to %s, bicycle's to %s", got, HighloadV2R2CodeHash)
	}
	root, err := tlb.ToCell(hi)
	if err != nil {
		return nil, fmt.Errorf("wallets: bicycle hot wallet: %w", err)
	}
	if proxyCode != nil && wantProxyHash != "" {
		if got := hex.EncodeToString(proxyCode.Hash()); got != wantProxyHash {
			return nil, fmt.Errorf("wallets: the jetton proxy code hashes to %s, expected %s (bicycle's is %s)", got, wantProxyHash, BicycleProxyCodeHash)
		}
	}
	return &Bicycle{key: keys.plain, pub: pub, v3code: v3.Code, hot: address.NewAddress(0, 0, root.Hash()), hotInit: hi, proxyCode: proxyCode}, nil
}

// PublicKey is bicycle's public key.
func (b *Bicycle) PublicKey() ed25519.PublicKey { return b.pub }

// HotWallet is bicycle's highload v2 hot wallet address (a copy).
func (b *Bicycle) HotWallet() *address.Address { return b.hot.Copy() }

// HotStateInit is the hot wallet's code and initial data.
func (b *Bicycle) HotStateInit() *tlb.StateInit {
	return &tlb.StateInit{Code: b.hotInit.Code, Data: b.hotInit.Data}
}

// ShardByte is the first byte of the hot wallet's account id: bicycle
// grinds every TON deposit and deposit jetton wallet into it, and its
// scanner follows the shard chain covering it.
func (b *Bicycle) ShardByte() byte { return b.hot.Data()[0] }

// HotWalletSigner builds a tonutils-go highload v2 wallet for bicycle's
// hot wallet (the takeover moves its funds and commands proxies with
// it). api may be nil for offline signing.
func (b *Bicycle) HotWalletSigner(api wallet.TonAPI) (*wallet.Wallet, error) {
	//lint:ignore SA1019 bicycle's existing hot wallet is highload v2; we only empty it
	w, err := wallet.FromPrivateKey(api, b.key, wallet.HighloadV2R2)
	if err != nil {
		return nil, fmt.Errorf("wallets: bicycle hot wallet: %w", err)
	}
	if w.GetSubwalletID() != BicycleHotSubwalletID {
		if w, err = w.GetSubwallet(BicycleHotSubwalletID); err != nil {
			return nil, fmt.Errorf("wallets: bicycle hot wallet: %w", err)
		}
	}
	if !w.WalletAddress().Equals(b.hot) {
		return nil, fmt.Errorf("wallets: tonutils-go builds bicycle's hot wallet at %s, expected %s", w.WalletAddress().StringRaw(), b.hot.StringRaw())
	}
	return w, nil
}

// DepositAddress is bicycle's TON deposit subwalletID: wallet V3R2 with
// the standard key, workchain 0.
func (b *Bicycle) DepositAddress(subwalletID uint32) *address.Address {
	data := cell.BeginCell().
		MustStoreUInt(0, 32).
		MustStoreUInt(uint64(subwalletID), 32).
		MustStoreSlice(b.pub, 256).
		EndCell()
	si := cell.BeginCell().MustStoreUInt(0b00110, 5).MustStoreRef(b.v3code).MustStoreRef(data).EndCell()
	return address.NewAddress(0, 0, si.Hash())
}

// DepositWallet is the signing wallet of bicycle's TON deposit
// subwalletID (sweeps and service withdrawals after a takeover).
func (b *Bicycle) DepositWallet(api wallet.TonAPI, subwalletID uint32) (*wallet.Wallet, error) {
	base, err := wallet.FromPrivateKey(api, b.key, wallet.V3R2)
	if err != nil {
		return nil, fmt.Errorf("wallets: bicycle deposit wallet: %w", err)
	}
	w, err := base.GetSubwallet(subwalletID)
	if err != nil {
		return nil, fmt.Errorf("wallets: bicycle deposit wallet %d: %w", subwalletID, err)
	}
	return w, nil
}

// NextTONDeposit is the subwallet id bicycle would give the next TON
// deposit when its counter starts at start (MAX(subwallet_id)+1): the
// first id from start whose address lies in the hot wallet's shard byte.
// It is how bicycle ground addresses; the takeover does not need it, the
// tests check the facts sheet's vectors with it.
func (b *Bicycle) NextTONDeposit(start uint32) (uint32, *address.Address) {
	for id := start; ; id++ {
		if a := b.DepositAddress(id); a.Data()[0] == b.ShardByte() {
			return id, a
		}
		if id == ^uint32(0) {
			return 0, nil
		}
	}
}

// HasProxyCode reports whether jetton proxies can be derived.
func (b *Bicycle) HasProxyCode() bool { return b.proxyCode != nil }

// ProxyCode is the jetton proxy code (nil when not given).
func (b *Bicycle) ProxyCode() *cell.Cell { return b.proxyCode }

// ProxyData is the data cell of proxy subwalletID: owner:MsgAddressInt
// (addr_std, no anycast, workchain 0: the hot wallet) subwallet_id:uint32.
func (b *Bicycle) ProxyData(subwalletID uint32) *cell.Cell {
	return cell.BeginCell().
		MustStoreUInt(0b100, 3). // addr_std$10, anycast nothing$0
		MustStoreInt(0, 8).
		MustStoreSlice(b.hot.Data(), 256).
		MustStoreUInt(uint64(subwalletID), 32).
		EndCell()
}

// ProxyStateInit is proxy subwalletID's StateInit: the proxy code and
// ProxyData, no split_depth, special or libraries. Every command to a
// proxy carries it, since a proxy destroys itself after each one.
func (b *Bicycle) ProxyStateInit(subwalletID uint32) (*tlb.StateInit, error) {
	if b.proxyCode == nil {
		return nil, errors.New("wallets: bicycle's jetton proxy code was not given")
	}
	return &tlb.StateInit{Code: b.proxyCode, Data: b.ProxyData(subwalletID)}, nil
}

// ProxyAddress is the address of bicycle's jetton deposit subwalletID
// (the address users were given; its jetton wallet holds the jettons).
func (b *Bicycle) ProxyAddress(subwalletID uint32) (*address.Address, error) {
	si, err := b.ProxyStateInit(subwalletID)
	if err != nil {
		return nil, err
	}
	root, err := tlb.ToCell(si)
	if err != nil {
		return nil, fmt.Errorf("wallets: proxy state init: %w", err)
	}
	return address.NewAddress(0, 0, root.Hash()), nil
}

// ProxyCommand is the internal message bicycle's hot wallet sends proxy
// subwalletID so that the proxy sends inner (a complete message, e.g. a
// jetton transfer to the proxy's jetton wallet) with mode 128+32: the
// proxy's StateInit, value, bounce, and a body whose only reference is
// inner. That is the only message a proxy accepts (facts sheet §4).
func (b *Bicycle) ProxyCommand(subwalletID uint32, value tlb.Coins, inner *tlb.InternalMessage) (*tlb.InternalMessage, error) {
	si, err := b.ProxyStateInit(subwalletID)
	if err != nil {
		return nil, err
	}
	addr, err := b.ProxyAddress(subwalletID)
	if err != nil {
		return nil, err
	}
	innerCell, err := tlb.ToCell(inner)
	if err != nil {
		return nil, fmt.Errorf("wallets: proxy command: %w", err)
	}
	return &tlb.InternalMessage{IHRDisabled: true, Bounce: true, DstAddr: addr, Amount: value, StateInit: si,
		Body: cell.BeginCell().MustStoreRef(innerCell).EndCell()}, nil
}

// Bicycle returns bicycle's derivation for the keys the deposits were
// built from, without the proxy code (TON deposits only).
func (d *Deposits) Bicycle() (*Bicycle, error) {
	return NewBicycle(&Keys{plain: d.plain}, nil, "")
}

// AddressFor is deposit subwalletID's address under derivation deriv
// (not for proxies, whose derivation needs the proxy code: Bicycle).
func (d *Deposits) AddressFor(deriv Derivation, subwalletID uint32) (*address.Address, error) {
	switch deriv {
	case DerivationProcessor, "":
		return d.Address(subwalletID), nil
	case DerivationBicycle:
		b, err := d.Bicycle()
		if err != nil {
			return nil, err
		}
		return b.DepositAddress(subwalletID), nil
	}
	return nil, fmt.Errorf("wallets: deposit derivation %q has no signing wallet", deriv)
}

// WalletFor is the signing wallet of deposit subwalletID under derivation
// deriv: this processor's deposit key, or bicycle's standard key for
// deposits a takeover imported. A bicycle proxy has no wallet of its own
// (only bicycle's hot wallet commands it): an error.
func (d *Deposits) WalletFor(api wallet.TonAPI, deriv Derivation, subwalletID uint32) (*wallet.Wallet, error) {
	switch deriv {
	case DerivationProcessor, "":
		return d.Wallet(api, subwalletID)
	case DerivationBicycle:
		b, err := d.Bicycle()
		if err != nil {
			return nil, err
		}
		return b.DepositWallet(api, subwalletID)
	}
	return nil, fmt.Errorf("wallets: deposit derivation %q has no signing wallet", deriv)
}

// SignBicycleHotMessage signs one highload v2 external message from
// bicycle's hot wallet carrying msgs, valid until validUntil (unix
// seconds), with query id validUntil<<32 | randPart, as bicycle did.
func (b *Bicycle) SignBicycleHotMessage(ctx context.Context, validUntil, randPart uint32, deploy bool, msgs []*wallet.Message) (*tlb.ExternalMessage, error) {
	w, err := b.HotWalletSigner(nil)
	if err != nil {
		return nil, err
	}
	spec, ok := w.GetSpec().(*wallet.SpecHighloadV2R2)
	if !ok {
		return nil, fmt.Errorf("wallets: bicycle hot wallet spec is %T", w.GetSpec())
	}
	spec.SetCustomQueryIDFetcher(func() (uint32, uint32) { return validUntil, randPart })
	ext, err := w.PrepareExternalMessageForMany(ctx, deploy, msgs)
	if err != nil {
		return nil, fmt.Errorf("wallets: sign bicycle hot wallet message: %w", err)
	}
	return ext, nil
}
