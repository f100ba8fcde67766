package tonsim

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"regexp"
	"sort"

	"github.com/xssnick/tonutils-go/address"
	"github.com/xssnick/tonutils-go/tlb"
	"github.com/xssnick/tonutils-go/ton/nft"
	"github.com/xssnick/tonutils-go/ton/wallet"
	"github.com/xssnick/tonutils-go/tvm/cell"
)

// TEP-74 operation codes used by the minter from @ton-community/assets-sdk.
const (
	opMint             = 21
	opInternalTransfer = 0x178d4519
)

var symbolRe = regexp.MustCompile(`^[A-Za-z0-9]{1,16}$`)

// ErrUnknownJetton is returned for a master tonsim did not deploy.
var ErrUnknownJetton = errors.New("unknown jetton master")

// DeployJetton deploys a TEP-74 jetton master (admin: the genesis wallet)
// with on-chain metadata and waits until it is final.
func (n *Network) DeployJetton(ctx context.Context, symbol string, decimals int) (*Jetton, error) {
	return n.deployJetton(ctx, symbol, decimals, JettonStandard, n.code.JettonMinterCode, n.code.JettonWalletCode)
}

// deployJetton deploys a master running minterCode whose jetton wallets run
// walletCode (the minters take the TEP-74 reference minter's storage).
func (n *Network) deployJetton(ctx context.Context, symbol string, decimals int, kind JettonKind, minterCode, walletCode *cell.Cell) (*Jetton, error) {
	if !symbolRe.MatchString(symbol) {
		return nil, errors.New("symbol must be 1..16 letters or digits")
	}
	if decimals < 0 || decimals > 18 {
		return nil, errors.New("decimals must be between 0 and 18")
	}
	content := &nft.ContentOnchain{}
	if err := content.SetAttribute("symbol", symbol); err != nil {
		return nil, err
	}
	if err := content.SetAttribute("name", symbol+" (tonsim)"); err != nil {
		return nil, err
	}
	if err := content.SetAttribute("decimals", fmt.Sprint(decimals)); err != nil {
		return nil, err
	}
	contentCell, err := content.ContentCell()
	if err != nil {
		return nil, fmt.Errorf("jetton content: %w", err)
	}
	data := cell.BeginCell().MustStoreCoins(0).MustStoreAddr(n.Genesis.WalletAddress()).
		MustStoreRef(contentCell).MustStoreRef(walletCode).EndCell()
	si := &tlb.StateInit{Code: minterCode, Data: data}
	siCell, err := tlb.ToCell(si)
	if err != nil {
		return nil, err
	}
	master := address.NewAddress(0, 0, siCell.Hash())
	master.SetTestnetOnly(true)
	n.mu.Lock()
	if j, ok := n.jettons[master.StringRaw()]; ok {
		n.mu.Unlock()
		return j, nil
	}
	n.mu.Unlock()

	since := lastLT(n.Chain, master)
	msg := &wallet.Message{Mode: wallet.PayGasSeparately, InternalMessage: &tlb.InternalMessage{IHRDisabled: true, Bounce: false,
		DstAddr: master, Amount: tlb.MustFromTON("0.5"), StateInit: si, Body: cell.BeginCell().EndCell()}}
	if err := n.SendFromGenesis(ctx, msg); err != nil {
		return nil, err
	}
	res, err := n.waitTx(ctx, master, since, func(tx *tlb.Transaction) bool { return true })
	if err != nil {
		return nil, err
	}
	if res.Tx.EndStatus != tlb.AccountStatusActive {
		return nil, fmt.Errorf("jetton master was not deployed (end status %s)", res.Tx.EndStatus)
	}
	j := &Jetton{Symbol: symbol, Decimals: decimals, Master: master, Kind: kind}
	n.mu.Lock()
	n.jettons[master.StringRaw()] = j
	n.mu.Unlock()
	return j, nil
}

// Jettons lists deployed jettons by symbol.
func (n *Network) Jettons() []*Jetton {
	n.mu.Lock()
	defer n.mu.Unlock()
	out := make([]*Jetton, 0, len(n.jettons))
	for _, j := range n.jettons {
		out = append(out, j)
	}
	sort.Slice(out, func(i, k int) bool { return out[i].Symbol < out[k].Symbol })
	return out
}

func (n *Network) jetton(master *address.Address) (*Jetton, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	j, ok := n.jettons[master.StringRaw()]
	if !ok {
		return nil, ErrUnknownJetton
	}
	return j, nil
}

// JettonWallet asks the master for owner's jetton wallet address.
func (n *Network) JettonWallet(ctx context.Context, master, owner *address.Address) (*address.Address, error) {
	mc, err := n.API.GetMasterchainInfo(ctx)
	if err != nil {
		return nil, err
	}
	res, err := n.API.RunGetMethod(ctx, mc, master, "get_wallet_address", cell.BeginCell().MustStoreAddr(owner).EndCell().BeginParse())
	if err != nil {
		return nil, fmt.Errorf("get_wallet_address: %w", err)
	}
	s, err := res.Slice(0)
	if err != nil {
		return nil, fmt.Errorf("get_wallet_address result: %w", err)
	}
	a, err := s.LoadAddr()
	if err != nil {
		return nil, fmt.Errorf("get_wallet_address result: %w", err)
	}
	a.SetTestnetOnly(true)
	return a, nil
}

// Mint mints amount base units of master's jetton to owner and waits until
// the owner's jetton wallet has received them.
func (n *Network) Mint(ctx context.Context, master, owner *address.Address, amount *big.Int) (*TxResult, error) {
	j, err := n.jetton(master)
	if err != nil {
		return nil, err
	}
	if amount == nil || amount.Sign() <= 0 {
		return nil, errors.New("amount must be positive")
	}
	jw, err := n.JettonWallet(ctx, master, owner)
	if err != nil {
		return nil, err
	}
	gen := n.Genesis.WalletAddress()
	qid := uint64(n.queryID.Add(1))
	transfer := cell.BeginCell().MustStoreUInt(opInternalTransfer, 32).MustStoreUInt(qid, 64).MustStoreBigCoins(amount).
		MustStoreAddr(master).MustStoreAddr(gen).MustStoreCoins(0).MustStoreBoolBit(false).EndCell()
	body := cell.BeginCell().MustStoreUInt(j.Kind.mintOp(), 32).MustStoreUInt(qid, 64).MustStoreAddr(owner).
		MustStoreBigCoins(tlb.MustFromTON("0.05").Nano()).MustStoreRef(transfer).EndCell()
	since := lastLT(n.Chain, jw)
	msg := &wallet.Message{Mode: wallet.PayGasSeparately, InternalMessage: &tlb.InternalMessage{IHRDisabled: true, Bounce: true,
		DstAddr: master, Amount: tlb.MustFromTON("0.1"), Body: body}}
	if err := n.SendFromGenesis(ctx, msg); err != nil {
		return nil, err
	}
	return n.waitTx(ctx, jw, since, func(tx *tlb.Transaction) bool {
		if tx.IO.In == nil || tx.IO.In.MsgType != tlb.MsgTypeInternal {
			return false
		}
		s := tx.IO.In.AsInternal().Body.BeginParse()
		op, err := s.LoadUInt(32)
		if err != nil || op != opInternalTransfer {
			return false
		}
		q, err := s.LoadUInt(64)
		return err == nil && q == qid
	})
}
