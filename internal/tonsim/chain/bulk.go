package chain

import (
	"errors"
	"fmt"
	"math/big"

	"github.com/xssnick/tonutils-go/address"
	"github.com/xssnick/tonutils-go/tlb"
	"github.com/xssnick/tonutils-go/tvm/cell"
)

// Bulk mode builds transactions in Go instead of running the emulator, for
// benchmarks that need 10^5–10^6 transactions. It only handles what TON does
// without code: an internal non-bounceable transfer into an account that has
// no code (non-existent or uninit). Such a transaction is, as on TON, an
// ordinary transaction with a credit phase, the compute phase skipped
// (no_state) and aborted=true; the value stays on the account.

// ErrBulkNeedsCodeless is returned when a bulk transfer targets a contract.
var ErrBulkNeedsCodeless = errors.New("bulk transfers only go to accounts without code")

// bulkExecute is the native counterpart of Executor.Execute for account a
// and the internal message in (whose cell is msgCell).
func bulkExecute(a *account, msgCell *cell.Cell, in *tlb.InternalMessage, p ExecParams) (*ExecResult, error) {
	if a.info.Code != nil || a.info.Status == tlb.AccountStatusFrozen {
		return nil, ErrBulkNeedsCodeless
	}
	if in.Bounce {
		return nil, errors.New("bulk transfers must be non-bounceable")
	}
	// ShardAccount: account:^Account last_trans_hash:bits256 last_trans_lt:uint64
	s := a.shardAccount.BeginParse()
	accRef, err := s.LoadRef()
	if err != nil {
		return nil, fmt.Errorf("shard account: %w", err)
	}
	prevHash, err := s.LoadSlice(256)
	if err != nil {
		return nil, fmt.Errorf("shard account: %w", err)
	}
	prevLT, err := s.LoadUInt(64)
	if err != nil {
		return nil, fmt.Errorf("shard account: %w", err)
	}
	lt := p.LT
	if lt <= prevLT {
		lt = prevLT + 1
	}
	if lt <= in.CreatedLT {
		lt = in.CreatedLT + 1
	}
	balance := new(big.Int).Add(a.info.Balance, in.Amount.Nano())
	origStatus := tlb.AccountStatus(tlb.AccountStatusNonExist)
	if a.info.Exists {
		origStatus = tlb.AccountStatusUninit
	}
	acc := uninitAccount(in.DstAddr, balance, lt+1, p.UTime)
	oldHash := accRef.MustToCell().Hash()
	tx := tlb.Transaction{AccountAddr: in.DstAddr.Data(), LT: lt, PrevTxHash: prevHash, PrevTxLT: prevLT, Now: p.UTime,
		OrigStatus: origStatus, EndStatus: tlb.AccountStatusUninit, TotalFees: zeroCC(),
		StateUpdate: tlb.HashUpdate{OldHash: oldHash, NewHash: acc.Hash()},
		Description: tlb.TransactionDescriptionOrdinary{
			CreditPhase:  &tlb.CreditPhase{Credit: tlb.CurrencyCollection{Coins: in.Amount}},
			ComputePhase: tlb.ComputePhase{Phase: tlb.ComputePhaseSkipped{Reason: tlb.ComputeSkipReason{Type: tlb.ComputeSkipReasonNoState}}},
			Aborted:      true,
		}}
	tx.IO.In = &tlb.Message{MsgType: tlb.MsgTypeInternal, Msg: in}
	txCell, err := tlb.ToCell(tx)
	if err != nil {
		return nil, fmt.Errorf("build transaction: %w", err)
	}
	return &ExecResult{Success: true, Transaction: txCell, ShardAccount: shardAccountCell(acc, txCell.Hash(), lt),
		info: &AccountInfo{Exists: true, Status: tlb.AccountStatusUninit, Balance: balance}, lt: lt}, nil
}

// BulkTransfer is one credit for BulkLoad.
type BulkTransfer struct {
	To      *address.Address
	Amount  *big.Int
	Comment string
}

// BulkSource is the sender recorded on bulk transfers. Nothing executes on
// its side: bulk value is created out of thin air, which is the one place
// where tonsim does not conserve value.
var BulkSource = address.MustParseRawAddr("0:" + "b0" + "000000000000000000000000000000000000000000000000000000000000b0")

// BulkLoad queues natively built transfers for the next blocks.
func (c *Chain) BulkLoad(list []BulkTransfer) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, t := range list {
		if t.To == nil || t.Amount == nil || t.Amount.Sign() <= 0 {
			return errors.New("bulk transfer needs an address and a positive amount")
		}
		var body *cell.Cell
		if t.Comment != "" {
			b := cell.BeginCell().MustStoreUInt(0, 32)
			if err := b.StoreStringSnake(t.Comment); err != nil {
				return fmt.Errorf("comment: %w", err)
			}
			body = b.EndCell()
		} else {
			body = emptyCell
		}
		c.lt++
		in := &tlb.InternalMessage{IHRDisabled: true, Bounce: false, SrcAddr: BulkSource, DstAddr: t.To,
			Amount: tlb.FromNanoTON(t.Amount), Body: body, CreatedLT: c.lt, CreatedAt: uint32(c.cfg.Now().Unix())}
		m, err := tlb.ToCell(in)
		if err != nil {
			return fmt.Errorf("bulk message: %w", err)
		}
		c.queue = append(c.queue, queued{dst: t.To, msg: m, bulk: in})
	}
	return nil
}
