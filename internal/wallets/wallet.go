package wallets

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"time"

	"github.com/xssnick/tonutils-go/address"
	"github.com/xssnick/tonutils-go/tlb"
	"github.com/xssnick/tonutils-go/ton/wallet"
	"github.com/xssnick/tonutils-go/tvm/cell"
)

// HotSubwalletID is the hot wallet's subwallet id: tonutils-go's default
// (wallet.DefaultSubwallet, 698983191), pinned here so that a change of
// that default cannot move the hot wallet, and so that tonutils-go's
// wallet.FromPrivateKey(api, key, wallet.ConfigHighloadV3{MessageTTL: t})
// recovers the same address without options.
const HotSubwalletID uint32 = 698983191

// Highload v3 timeout bounds (seconds), as config validates them: the
// contract stores it in 22 bits, and tonutils-go refuses 5 or less.
const (
	minHighloadTimeout = 6
	maxHighloadTimeout = 1<<22 - 1
)

// QueryBuilder supplies a highload v3 message's query id and created_at;
// the withdrawal worker allocates them from hot_query_seq so that every
// batch is signed once with a never-reused id. It has tonutils-go's
// ConfigHighloadV3.MessageBuilder signature.
type QueryBuilder func(ctx context.Context, subwalletID uint32) (queryID uint32, createdAt int64, err error)

// HotWallet is the processor's highload wallet v3. Its address depends on
// the hot key, HotSubwalletID and the timeout (part of the wallet's data).
type HotWallet struct {
	key       ed25519.PrivateKey
	timeout   uint32
	stateInit *tlb.StateInit
	addr      *address.Address
}

// NewHotWallet builds the hot wallet from the derived keys and
// HIGHLOAD_TIMEOUT (whole seconds in [6s, 2^22-1 s]).
func NewHotWallet(keys *Keys, timeout time.Duration) (*HotWallet, error) {
	if timeout%time.Second != 0 || timeout < minHighloadTimeout*time.Second || timeout > maxHighloadTimeout*time.Second {
		return nil, fmt.Errorf("wallets: highload timeout %v must be whole seconds in [%ds, %ds]", timeout, minHighloadTimeout, maxHighloadTimeout)
	}
	t := uint32(timeout / time.Second)
	pub := keys.hot.Public().(ed25519.PublicKey)
	si, err := wallet.GetStateInit(pub, wallet.ConfigHighloadV3{MessageTTL: t}, HotSubwalletID)
	if err != nil {
		return nil, fmt.Errorf("wallets: hot wallet state init: %w", err)
	}
	root, err := tlb.ToCell(si)
	if err != nil {
		return nil, fmt.Errorf("wallets: hot wallet state init: %w", err)
	}
	return &HotWallet{key: keys.hot, timeout: t, stateInit: si, addr: address.NewAddress(0, 0, root.Hash())}, nil
}

// Address is the hot wallet's address (bounceable flag set, testnet flag
// clear; FormatUser chooses flags for output). The caller gets a copy.
func (h *HotWallet) Address() *address.Address { return h.addr.Copy() }

// StateInit is the wallet's code and initial data, sent with its first
// external message when the wallet is not deployed yet.
func (h *HotWallet) StateInit() *tlb.StateInit {
	return &tlb.StateInit{Code: h.stateInit.Code, Data: h.stateInit.Data}
}

// PrivateKey is the hot wallet key, for signing.
func (h *HotWallet) PrivateKey() ed25519.PrivateKey { return h.key }

// PublicKey is the hot wallet's public key.
func (h *HotWallet) PublicKey() ed25519.PublicKey { return h.key.Public().(ed25519.PublicKey) }

// Timeout is the highload v3 timeout in seconds, as stored in the wallet.
func (h *HotWallet) Timeout() uint32 { return h.timeout }

// Wallet builds a tonutils-go highload v3 wallet for signing batches. api
// may be nil for offline signing (PrepareExternalMessageForMany); build is
// called once per message to supply its query id and created_at.
func (h *HotWallet) Wallet(api wallet.TonAPI, build QueryBuilder) (*wallet.Wallet, error) {
	if build == nil {
		return nil, fmt.Errorf("wallets: hot wallet needs a query id builder")
	}
	w, err := wallet.FromPrivateKey(api, h.key, wallet.ConfigHighloadV3{MessageTTL: h.timeout, MessageBuilder: build})
	if err != nil {
		return nil, fmt.Errorf("wallets: hot wallet: %w", err)
	}
	if w.GetSubwalletID() != HotSubwalletID {
		if w, err = w.GetSubwallet(HotSubwalletID); err != nil {
			return nil, fmt.Errorf("wallets: hot wallet subwallet: %w", err)
		}
	}
	if !w.WalletAddress().Equals(h.addr) {
		return nil, fmt.Errorf("wallets: tonutils-go builds the hot wallet at %s, expected %s", w.WalletAddress().StringRaw(), h.addr.StringRaw())
	}
	return w, nil
}

// Deposits derives deposit wallets: wallet V3R2 with the deposit key and
// subwallet id i. Addresses are computed locally and never need the chain.
type Deposits struct {
	key  ed25519.PrivateKey
	pub  ed25519.PublicKey
	code *cell.Cell // wallet V3R2 code, shared by every deposit
	// plain is bicycle's key for deposits a takeover imported (bicycle.go).
	plain ed25519.PrivateKey
}

// NewDeposits prepares deposit address derivation for the deposit key.
func NewDeposits(keys *Keys) (*Deposits, error) {
	pub := keys.deposit.Public().(ed25519.PublicKey)
	si, err := wallet.GetStateInit(pub, wallet.V3R2, 0)
	if err != nil {
		return nil, fmt.Errorf("wallets: deposit wallet code: %w", err)
	}
	return &Deposits{key: keys.deposit, pub: pub, code: si.Code, plain: keys.plain}, nil
}

// Address returns deposit wallet subwalletID's address: the hash of its
// StateInit (V3R2 code; data seqno 0, subwallet id, public key) in
// workchain 0, as tonutils-go's wallet.AddressFromPubKey computes it. It is
// a pure function of the deposit key and the id, so lost rows can be
// re-derived; flags are bounceable, not testnet (use FormatUser for
// output).
func (d *Deposits) Address(subwalletID uint32) *address.Address {
	return address.NewAddress(0, 0, d.StateInitCell(subwalletID).Hash())
}

// StateInitCell is deposit wallet subwalletID's StateInit as a cell:
//
//	_ split_depth:(Maybe (## 5)) special:(Maybe TickTock) code:(Maybe ^Cell)
//	  data:(Maybe ^Cell) library:(Maybe ^Cell) = StateInit;  -> bits 0 0 1 1 0
//
// with data = seqno:32 (0) | subwallet:32 | public key:256. Built by hand
// (instead of tlb.ToCell) because every NewAddress computes one; the fixed
// sizes cannot overflow a cell, so the builder's Must forms cannot fail.
func (d *Deposits) StateInitCell(subwalletID uint32) *cell.Cell {
	data := cell.BeginCell().
		MustStoreUInt(0, 32).
		MustStoreUInt(uint64(subwalletID), 32).
		MustStoreSlice(d.pub, 256).
		EndCell()
	return cell.BeginCell().
		MustStoreUInt(0b00110, 5).
		MustStoreRef(d.code).
		MustStoreRef(data).
		EndCell()
}

// Wallet builds the tonutils-go V3R2 wallet of deposit subwalletID, for
// sweeps and service withdrawals.
func (d *Deposits) Wallet(api wallet.TonAPI, subwalletID uint32) (*wallet.Wallet, error) {
	base, err := wallet.FromPrivateKey(api, d.key, wallet.V3R2)
	if err != nil {
		return nil, fmt.Errorf("wallets: deposit wallet: %w", err)
	}
	w, err := base.GetSubwallet(subwalletID)
	if err != nil {
		return nil, fmt.Errorf("wallets: deposit wallet %d: %w", subwalletID, err)
	}
	return w, nil
}

// PublicKey is the deposit wallets' public key.
func (d *Deposits) PublicKey() ed25519.PublicKey { return d.pub }
