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
	txCell, err := bulkTxCell(in.DstAddr.Data(), lt, prevHash, prevLT, p.UTime, origStatus, msgCell, in.Amount, oldHash, acc.Hash())
	if err != nil {
		return nil, fmt.Errorf("build transaction: %w", err)
	}
	return &ExecResult{Success: true, Transaction: txCell, ShardAccount: shardAccountCell(acc, txCell.Hash(), lt),
		info: &AccountInfo{Exists: true, Status: tlb.AccountStatusUninit, Balance: balance}, lt: lt}, nil
}

// bulkTxCell builds, without reflection, the cell that tlb.ToCell gives
// for the tlb.Transaction of a bulk credit (TestBulkTxCellMatchesTLB keeps
// the two identical); msgCell is the incoming message's cell:
//
//	transaction$0111 account_addr:bits256 lt:uint64 prev_trans_hash:bits256
//	  prev_trans_lt:uint64 now:uint32 outmsg_cnt:uint15=0
//	  orig_status:AccountStatus end_status:AccountStatus=uninit
//	  ^[ in_msg:(Maybe ^Message)=msgCell out_msgs:(HashmapE 15)=empty ]
//	  total_fees:CurrencyCollection=0 state_update:^(HASH_UPDATE Account)
//	  description:^(trans_ord$0000 credit_first:true
//	    storage_ph:(just storage_fees_collected:0 storage_fees_due:nothing status_change:acst_unchanged)
//	    credit_ph:(just due_fees_collected:nothing credit:amount)
//	    compute_ph:(tr_phase_compute_skipped$0 cskip_no_state$00)
//	    action:nothing aborted:true bounce:nothing destroyed:false)
//
// tlb.ToCell of that struct took most of bulk mode's time (issue 17).
func bulkTxCell(acct []byte, lt uint64, prevHash []byte, prevLT uint64, now uint32, orig tlb.AccountStatus,
	msgCell *cell.Cell, credit tlb.Coins, oldHash, newHash []byte) (*cell.Cell, error) {
	var origBits uint64
	switch orig {
	case tlb.AccountStatusUninit:
		origBits = 0b00
	case tlb.AccountStatusNonExist:
		origBits = 0b11
	default:
		return nil, fmt.Errorf("bulk transaction from account status %s", orig)
	}
	io := cell.BeginCell().MustStoreMaybeRef(msgCell).MustStoreMaybeRef(nil).EndCell()
	update := cell.BeginCell().MustStoreUInt(0x72, 8).MustStoreSlice(oldHash, 256).MustStoreSlice(newHash, 256).EndCell()
	desc := cell.BeginCell().MustStoreUInt(0b0000, 4) // trans_ord
	desc.MustStoreBoolBit(true)                       // credit_first: the message is not bounceable
	// storage_ph: just (nothing collected, nothing due, status unchanged)
	desc.MustStoreBoolBit(true).MustStoreBigCoins(new(big.Int)).MustStoreBoolBit(false).MustStoreUInt(0, 1)
	desc.MustStoreBoolBit(true).MustStoreBoolBit(false) // credit_ph: just; due_fees_collected: nothing
	desc.MustStoreBigCoins(credit.Nano()).MustStoreDict(nil)
	desc.MustStoreUInt(0b0, 1).MustStoreUInt(0b00, 2) // compute_ph: skipped, cskip_no_state
	desc.MustStoreBoolBit(false)                      // action: nothing
	desc.MustStoreBoolBit(true)                       // aborted
	desc.MustStoreBoolBit(false)                      // bounce: nothing
	desc.MustStoreBoolBit(false)                      // destroyed
	b := cell.BeginCell().MustStoreUInt(0b0111, 4)
	if err := b.StoreSlice(acct, 256); err != nil {
		return nil, err
	}
	b.MustStoreUInt(lt, 64)
	if err := b.StoreSlice(prevHash, 256); err != nil {
		return nil, err
	}
	b.MustStoreUInt(prevLT, 64).MustStoreUInt(uint64(now), 32).MustStoreUInt(0, 15).
		MustStoreUInt(origBits, 2).MustStoreUInt(0b00, 2). // orig_status, end_status uninit
		MustStoreRef(io).
		MustStoreBigCoins(new(big.Int)).MustStoreDict(nil). // total_fees
		MustStoreRef(update).MustStoreRef(desc.EndCell())
	return b.EndCell(), nil
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
		m, err := bulkMsgCell(in)
		if err != nil {
			return fmt.Errorf("bulk message: %w", err)
		}
		c.queue = append(c.queue, queued{dst: t.To, msg: m, bulk: in})
	}
	return nil
}

// bulkMsgCell builds, without reflection, the cell tlb.ToCell gives for a
// bulk transfer's message (TestBulkMsgCellMatchesTLB): int_msg_info$0
// ihr_disabled bounce=0 bounced=0 src dest value (no extra currencies)
// ihr_fee=0 fwd_fee=0 created_lt created_at, no init, and the body in
// place when it fits, else in a reference (tonutils-go's choice).
// tlb.ToCell was an eighth of bulk mode's time.
func bulkMsgCell(in *tlb.InternalMessage) (*cell.Cell, error) {
	b := cell.BeginCell().MustStoreUInt(0, 1).MustStoreBoolBit(in.IHRDisabled).MustStoreBoolBit(in.Bounce).MustStoreBoolBit(false)
	if err := b.StoreAddr(in.SrcAddr); err != nil {
		return nil, err
	}
	if err := b.StoreAddr(in.DstAddr); err != nil {
		return nil, err
	}
	if err := b.StoreBigCoins(in.Amount.Nano()); err != nil {
		return nil, err
	}
	b.MustStoreDict(nil).MustStoreBigCoins(new(big.Int)).MustStoreBigCoins(new(big.Int)).
		MustStoreUInt(in.CreatedLT, 64).MustStoreUInt(uint64(in.CreatedAt), 32).
		MustStoreBoolBit(false) // init: nothing
	if body := in.Body; b.BitsLeft() >= body.BitsSize()+1 && b.RefsLeft() >= body.RefsNum() {
		b.MustStoreUInt(0, 1)
		if err := b.StoreBuilder(body.ToBuilder()); err != nil {
			return nil, err
		}
	} else {
		b.MustStoreUInt(1, 1).MustStoreRef(body)
	}
	return b.EndCell(), nil
}
