package tonsim

import (
	"context"
	"errors"
	"fmt"
	"math/big"

	"github.com/xssnick/tonutils-go/address"
	"github.com/xssnick/tonutils-go/tlb"
	"github.com/xssnick/tonutils-go/ton/wallet"
	"github.com/xssnick/tonutils-go/tvm/cell"
)

// TEP-74 operation codes of a jetton transfer.
const (
	opTransfer             = 0x0f8a7ea5
	opTransferNotification = 0x7362d09c
)

// ErrInsufficientJettons is returned when the sender's jetton wallet holds
// less than a transfer asks for.
var ErrInsufficientJettons = errors.New("insufficient jetton balance")

// JettonTransfer is the outcome of TransferJetton.
type JettonTransfer struct {
	// Receive is the recipient's jetton wallet's internal_transfer.
	Receive *TxResult
	// JettonWallet is the recipient's jetton wallet.
	JettonWallet *address.Address
	// Notification is the recipient's transfer_notification transaction
	// (nil when forwardTON is zero: no notification is sent then).
	Notification *TxResult
}

// TransferJetton sends a TEP-74 transfer of amount base units of master's
// jetton from the genesis wallet (the wallet tonsim holds the key of) to
// to, with forwardTON nanoton and, if comment is set, a text comment as the
// forward payload, as a third party's wallet would. It waits until the
// recipient's jetton wallet has the jettons and, with forwardTON > 0, until
// the transfer_notification reached to.
func (n *Network) TransferJetton(ctx context.Context, master, to *address.Address, amount, forwardTON *big.Int, comment string) (*JettonTransfer, error) {
	if _, err := n.jetton(master); err != nil {
		return nil, err
	}
	if amount == nil || amount.Sign() <= 0 {
		return nil, errors.New("amount must be positive")
	}
	if forwardTON == nil {
		forwardTON = new(big.Int)
	}
	gen := n.Genesis.WalletAddress()
	from, err := n.JettonWallet(ctx, master, gen)
	if err != nil {
		return nil, err
	}
	if have, err := n.jettonBalance(ctx, from); err != nil {
		return nil, err
	} else if have.Cmp(amount) < 0 {
		return nil, fmt.Errorf("%w: the genesis wallet holds %s, the transfer needs %s (mint first)", ErrInsufficientJettons, have, amount)
	}
	toWallet, err := n.JettonWallet(ctx, master, to)
	if err != nil {
		return nil, err
	}
	// transfer#0f8a7ea5 query_id:uint64 amount:(VarUInteger 16) destination:MsgAddress
	//   response_destination:MsgAddress custom_payload:(Maybe ^Cell)
	//   forward_ton_amount:(VarUInteger 16) forward_payload:(Either Cell ^Cell)
	qid := uint64(n.queryID.Add(1))
	b := cell.BeginCell().MustStoreUInt(opTransfer, 32).MustStoreUInt(qid, 64).MustStoreBigCoins(amount).
		MustStoreAddr(to).MustStoreAddr(gen).MustStoreBoolBit(false).MustStoreBigCoins(forwardTON)
	if comment != "" {
		c, err := wallet.CreateCommentCell(comment)
		if err != nil {
			return nil, fmt.Errorf("comment: %w", err)
		}
		b.MustStoreBoolBit(true).MustStoreRef(c)
	} else {
		b.MustStoreBoolBit(false)
	}
	// Gas for the two jetton wallets on top of what is forwarded.
	attach := new(big.Int).Add(forwardTON, tlb.MustFromTON("0.1").Nano())
	sinceWallet, sinceTo := lastLT(n.Chain, toWallet), lastLT(n.Chain, to)
	msg := &wallet.Message{Mode: wallet.PayGasSeparately, InternalMessage: &tlb.InternalMessage{IHRDisabled: true, Bounce: true,
		DstAddr: from, Amount: tlb.FromNanoTON(attach), Body: b.EndCell()}}
	if err := n.SendFromGenesis(ctx, msg); err != nil {
		return nil, err
	}
	withOp := func(op uint64) func(tx *tlb.Transaction) bool {
		return func(tx *tlb.Transaction) bool {
			if tx.IO.In == nil || tx.IO.In.MsgType != tlb.MsgTypeInternal {
				return false
			}
			s := tx.IO.In.AsInternal().Body.BeginParse()
			if got, err := s.LoadUInt(32); err != nil || got != op {
				return false
			}
			q, err := s.LoadUInt(64)
			return err == nil && q == qid
		}
	}
	out := &JettonTransfer{JettonWallet: toWallet}
	if out.Receive, err = n.waitTx(ctx, toWallet, sinceWallet, withOp(opInternalTransfer)); err != nil {
		return nil, err
	}
	if forwardTON.Sign() > 0 {
		if out.Notification, err = n.waitTx(ctx, to, sinceTo, withOp(opTransferNotification)); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// jettonBalance is a jetton wallet's balance (get_wallet_data's first
// value); a wallet that was never deployed holds none.
func (n *Network) jettonBalance(ctx context.Context, jw *address.Address) (*big.Int, error) {
	mc, err := n.API.GetMasterchainInfo(ctx)
	if err != nil {
		return nil, err
	}
	acc, err := n.API.GetAccount(ctx, mc, jw)
	if err != nil {
		return nil, fmt.Errorf("jetton wallet %s: %w", jw, err)
	}
	if !acc.IsActive {
		return new(big.Int), nil
	}
	res, err := n.API.RunGetMethod(ctx, mc, jw, "get_wallet_data")
	if err != nil {
		return nil, fmt.Errorf("get_wallet_data: %w", err)
	}
	v, err := res.Int(0)
	if err != nil {
		return nil, fmt.Errorf("get_wallet_data result: %w", err)
	}
	return v, nil
}
