package withdrawals

import (
	"context"
	"errors"
	"fmt"
	"math/big"

	"github.com/jackc/pgx/v5"
	"github.com/xssnick/tonutils-go/address"
	"github.com/xssnick/tonutils-go/tlb"
	"github.com/xssnick/tonutils-go/tvm/cell"

	"github.com/ton-custody/processor/internal/blockscanner"
	"github.com/ton-custody/processor/internal/ledger"
)

// Ledger postings of what the hot wallet and the deposit wallets do
// (internal/ledger). Each is written by the Outcomes hook in the scanner's
// transaction, next to the state change it accounts for; refs make a
// redone scanner batch post nothing twice.

// TEP-74 excesses: what a jetton wallet returns of the TON attached.
const opExcesses = 0xd53276db

func ledgerAt(ob blockscanner.Observed, ref, kind string, lines []ledger.Line) *ledger.Posting {
	return &ledger.Posting{Ref: ref, Kind: kind, TxHash: ob.Tx.Hash, TxLT: ob.Tx.LT, Utime: ob.Tx.Now, MasterSeqno: ob.MasterSeqno, Lines: lines}
}

// ledgerHotTx posts what every hot wallet transaction does to the hot
// wallet's TON beyond the batch items: its fees, TON coming back from a
// bounced message the wallet sent, and gas returned by jetton wallets.
// Other incoming TON (anyone's top-up) is not an event of the processor:
// reconciliation reports it.
func (o *Outcomes) ledgerHotTx(ctx context.Context, tx pgx.Tx, ob blockscanner.Observed) error {
	ps := []*ledger.Posting{ledger.FeePosting(ob.Tx, ledger.Hot, ob.MasterSeqno)}
	if in := ob.Tx.IO.In; in != nil && in.MsgType == tlb.MsgTypeInternal {
		im := in.AsInternal()
		v := im.Amount.Nano()
		ref := ledger.TxRef(ob.Tx.Hash)
		switch {
		case im.Bounced:
			// Only the hot wallet's own messages can bounce back to it.
			// TON payments went to transit; gas (to jetton wallets and
			// deposit wallets) was booked as fees.
			from, err := o.bounceSource(ctx, tx, im.SrcAddr)
			if err != nil {
				return err
			}
			ps = append(ps, ledgerAt(ob, "bounce:"+ref, "bounce_returned", ledger.Move("TON", v, from, ledger.Hot)))
		case o.gasReturn(im):
			ps = append(ps, ledgerAt(ob, "excess:"+ref, "gas_returned", ledger.Move("TON", v, ledger.Fees, ledger.Hot)))
		}
	}
	return ledger.PostAll(ctx, tx, ps...)
}

// bounceSource is the account a message the hot wallet sent to a was
// booked to, which its bounce comes back from: fees for gas (to a hot
// jetton wallet or a jetton deposit), the deposit's account for a TON
// deposit's gas, transit for payments.
func (o *Outcomes) bounceSource(ctx context.Context, tx pgx.Tx, a *address.Address) (string, error) {
	if a == nil || a.Type() != address.StdAddress {
		return ledger.Transit, nil
	}
	if _, ok := o.jettons[[32]byte(a.Data())]; ok && a.Workchain() == 0 {
		return ledger.Fees, nil
	}
	var cur string
	err := tx.QueryRow(ctx, `SELECT currency FROM deposit_wallets WHERE workchain = $1 AND address = $2`, a.Workchain(), a.Data()).Scan(&cur)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return ledger.Transit, nil
	case err != nil:
		return "", fmt.Errorf("ledger: bounce source: %w", err)
	case cur == "TON":
		return ledger.Deposit(a), nil
	}
	return ledger.Fees, nil
}

// gasReturn reports whether im brings back TON attached to a jetton
// transfer: excesses, or a transfer_notification from a hot jetton wallet.
func (o *Outcomes) gasReturn(im *tlb.InternalMessage) bool {
	if im.Body == nil {
		return false
	}
	op, err := im.Body.BeginParse().LoadUInt(32)
	if err != nil {
		return false
	}
	switch op {
	case opExcesses:
		return true
	case 0x7362d09c: // transfer_notification
		if im.SrcAddr != nil && im.SrcAddr.Type() == address.StdAddress && im.SrcAddr.Workchain() == 0 {
			_, ours := o.jettons[[32]byte(im.SrcAddr.Data())]
			return ours
		}
	}
	return false
}

// ledgerItemSent posts a batch item's message as the hot wallet emitted
// it: a TON payment goes to transit (settled at the destination), a cold
// transfer to the cold wallet, TON attached to a jetton transfer and gas
// top-ups to fees.
func (o *Outcomes) ledgerItemSent(ctx context.Context, tx pgx.Tx, ob blockscanner.Observed, it unsentItem, msg *tlb.InternalMessage) error {
	v := msg.Amount.Nano()
	kind, id := it.kind, *firstID(it.withdrawalID, it.sweepID, it.serviceID, it.coldID)
	var p *ledger.Posting
	switch kind {
	case "withdrawal":
		if it.currency == nil {
			return fmt.Errorf("ledger: withdrawal %d: no currency", id)
		}
		if *it.currency == "TON" {
			p = ledgerAt(ob, fmt.Sprintf("withdrawal:%d:sent", id), "withdrawal_sent", ledger.Move("TON", v, ledger.Hot, ledger.Transit))
		} else {
			p = ledgerAt(ob, fmt.Sprintf("withdrawal:%d:gas", id), "jetton_gas", ledger.Move("TON", v, ledger.Hot, ledger.Fees))
		}
	case "sweep_topup", "service":
		// Gas for a deposit wallet's jetton transfer. A TON deposit's
		// TON is an account of its own (its transfer books the gas as
		// fees when it is sent); a jetton deposit's is gas.
		to := ledger.Fees
		var tonDeposit bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM deposit_wallets WHERE workchain = $1 AND address = $2 AND currency = 'TON')`,
			msg.DstAddr.Workchain(), msg.DstAddr.Data()).Scan(&tonDeposit); err != nil {
			return fmt.Errorf("ledger: top-up destination: %w", err)
		}
		if tonDeposit {
			to = ledger.Deposit(msg.DstAddr)
		}
		ref := fmt.Sprintf("sweep:%d:topup", id)
		if kind == "service" {
			ref = fmt.Sprintf("service:%d:topup", id)
		}
		p = ledgerAt(ob, ref, "jetton_gas", ledger.Move("TON", v, ledger.Hot, to))
	case "cold":
		var wc int32
		var dst []byte
		if err := tx.QueryRow(ctx, `SELECT destination_workchain, destination_address FROM cold_transfers WHERE id = $1`, id).Scan(&wc, &dst); err != nil {
			return fmt.Errorf("ledger: cold transfer %d: %w", id, err)
		}
		p = ledgerAt(ob, fmt.Sprintf("cold:%d:sent", id), "cold_transfer", ledger.Move("TON", v, ledger.Hot, ledger.ColdRaw(wc, dst)))
	}
	return ledger.PostAll(ctx, tx, p)
}

// ledgerPaid posts a withdrawal paid: the user's liability is settled by
// the arrived value leaving transit (any difference between the two is a
// fee).
func (o *Outcomes) ledgerPaid(ctx context.Context, tx pgx.Tx, ob blockscanner.Observed, wid int64, arrived *big.Int) error {
	var user, cur, amount string
	if err := tx.QueryRow(ctx, `SELECT user_id, currency, amount::text FROM withdrawals WHERE id = $1`, wid).Scan(&user, &cur, &amount); err != nil {
		return fmt.Errorf("ledger: withdrawal %d: %w", wid, err)
	}
	return o.ledgerPaidAs(ctx, tx, ob, wid, user, cur, amount, arrived)
}

// ledgerPaidAs is ledgerPaid for a withdrawal of user's amount (base
// units, decimal) in currency, already read.
func (o *Outcomes) ledgerPaidAs(ctx context.Context, tx pgx.Tx, ob blockscanner.Observed, wid int64, user, cur, amount string, arrived *big.Int) error {
	a, ok := new(big.Int).SetString(amount, 10)
	if !ok {
		return fmt.Errorf("ledger: withdrawal %d: amount %q", wid, amount)
	}
	if arrived == nil {
		arrived = a
	}
	lines := []ledger.Line{
		{Account: ledger.User(user), Currency: cur, Amount: a},
		{Account: ledger.Transit, Currency: cur, Amount: new(big.Int).Neg(arrived)},
	}
	if d := new(big.Int).Sub(arrived, a); d.Sign() != 0 {
		lines = append(lines, ledger.Line{Account: ledger.Fees, Currency: cur, Amount: d})
	}
	return ledger.PostAll(ctx, tx, ledgerAt(ob, fmt.Sprintf("withdrawal:%d:paid", wid), "withdrawal_paid", lines))
}

// ledgerBounced posts a TON payment the destination bounced: what it kept
// of the value (the bounce's fees) leaves transit as fees; the rest stays
// in transit until the hot wallet receives the bounce (ledgerHotTx). The
// user's liability is untouched: the withdrawal was never paid.
func (o *Outcomes) ledgerBounced(ctx context.Context, tx pgx.Tx, ob blockscanner.Observed, wid int64) error {
	kept := new(big.Int).Set(ob.Tx.IO.In.AsInternal().Amount.Nano())
	for _, c := range ob.OutMsgs {
		var m tlb.Message
		if err := tlb.LoadFromCell(&m, c.BeginParse()); err == nil && m.MsgType == tlb.MsgTypeInternal && m.AsInternal().Bounced {
			kept.Sub(kept, m.AsInternal().Amount.Nano())
		}
	}
	return ledger.PostAll(ctx, tx, ledgerAt(ob, fmt.Sprintf("withdrawal:%d:bounced", wid), "withdrawal_bounced",
		ledger.Move("TON", kept, ledger.Transit, ledger.Fees)))
}

// jettonAmount reads the amount of a jetton transfer, internal_transfer
// or (after the 32-bit bounce prefix) a bounced internal_transfer body:
// op:uint32 query_id:uint64 amount:VarUInteger16.
func jettonAmount(body *cell.Cell, bounced bool) (*big.Int, bool) {
	if body == nil {
		return nil, false
	}
	s := body.BeginParse()
	if bounced {
		if _, err := s.LoadUInt(32); err != nil {
			return nil, false
		}
	}
	if _, err := s.LoadUInt(32 + 64); err != nil {
		return nil, false
	}
	a, err := s.LoadBigCoins()
	if err != nil {
		return nil, false
	}
	return a, true
}

// ledgerJettonSent posts jettons a hot jetton wallet sent for a withdrawal
// (from its transfer request's amount): into transit.
func (o *Outcomes) ledgerJettonSent(ctx context.Context, tx pgx.Tx, ob blockscanner.Observed, wid int64, im *tlb.InternalMessage) error {
	j, ok := jettonAmount(im.Body, false)
	if !ok {
		return nil
	}
	return ledger.PostAll(ctx, tx, ledgerAt(ob, fmt.Sprintf("withdrawal:%d:sent", wid), "withdrawal_sent",
		ledger.Move(ob.W.Currency, j, ledger.Hot, ledger.Transit)))
}

// ledgerHotJettonIn posts what a hot jetton wallet received: jettons of a
// sweep or service withdrawal from one of our deposits (out of transit),
// and jettons of a refused withdrawal bounced back. Jettons from anyone
// else are not the processor's event: reconciliation reports them.
func (o *Outcomes) ledgerHotJettonIn(ctx context.Context, tx pgx.Tx, ob blockscanner.Observed, im *tlb.InternalMessage) error {
	if refused, _ := txRefused(ob.Tx); refused {
		return nil
	}
	ref := ledger.TxRef(ob.Tx.Hash)
	if im.Bounced {
		j, ok := jettonAmount(im.Body, true)
		if !ok {
			return nil
		}
		return ledger.PostAll(ctx, tx, ledgerAt(ob, "bounce:"+ref, "bounce_returned", ledger.Move(ob.W.Currency, j, ledger.Transit, ledger.Hot)))
	}
	s := im.Body.BeginParse()
	if _, err := s.LoadUInt(32); err != nil {
		return nil
	}
	qid, err := s.LoadUInt(64)
	if err != nil {
		return nil
	}
	j, err := s.LoadBigCoins()
	if err != nil {
		return nil
	}
	from, err := s.LoadAddr()
	if err != nil || from.Type() != address.StdAddress {
		return nil
	}
	var depCur string
	err = tx.QueryRow(ctx, `SELECT currency FROM deposit_wallets WHERE workchain = $1 AND address = $2`, from.Workchain(), from.Data()).Scan(&depCur)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("ledger: jetton sender: %w", err)
	}
	if depCur != ob.W.Currency {
		// Jettons someone sent to a deposit of another currency, taken
		// to the hot wallet by a jetton service withdrawal: no account
		// held them.
		if qid&serviceQueryTag != 0 && qid&sweepQueryTag == 0 {
			ref = fmt.Sprintf("service:%d:received", qid&^serviceQueryTag)
		} else {
			ref = "jrecv:" + ref
		}
		return ledger.PostAll(ctx, tx, ledgerAt(ob, ref, "recovered", ledger.Move(ob.W.Currency, j, ledger.External, ledger.Hot)))
	}
	return ledger.PostAll(ctx, tx, ledgerAt(ob, "jrecv:"+ref, "sweep_received", ledger.Move(ob.W.Currency, j, ledger.Transit, ledger.Hot)))
}

// ledgerDepositJettonSent posts jettons a deposit's jetton wallet sent to
// a hot jetton wallet (a sweep or service withdrawal): into transit.
func (o *Outcomes) ledgerDepositJettonSent(ctx context.Context, tx pgx.Tx, ob blockscanner.Observed) error {
	for _, c := range ob.OutMsgs {
		var m tlb.Message
		if err := tlb.LoadFromCell(&m, c.BeginParse()); err != nil || m.MsgType != tlb.MsgTypeInternal {
			continue
		}
		im := m.AsInternal()
		if im.DstAddr == nil || im.DstAddr.Type() != address.StdAddress || im.DstAddr.Workchain() != 0 {
			continue
		}
		if _, hot := o.jettons[[32]byte(im.DstAddr.Data())]; !hot {
			continue
		}
		j, ok := jettonAmount(im.Body, false)
		if !ok {
			continue
		}
		return ledger.PostAll(ctx, tx, ledgerAt(ob, "jsend:"+ledger.TxRef(ob.Tx.Hash), "sweep_sent",
			ledger.Move(ob.W.Currency, j, ledger.DepositRaw(0, ob.W.Owner[:]), ledger.Transit)))
	}
	return nil
}

// depositTONAccount is the ledger account holding a deposit wallet's TON:
// its own for TON deposits; for jetton deposits the TON there is gas, so
// fees.
func depositTONAccount(w blockscanner.Watched) string {
	if w.Currency == "TON" {
		return ledger.DepositRaw(0, w.Owner[:])
	}
	return ledger.Fees
}

// ledgerDepositExternal posts a deposit wallet's confirmed message (sweep,
// service withdrawal): its fees, and the TON it sent to the hot wallet
// into transit (the hot wallet's transaction receiving it takes it out).
func (o *Outcomes) ledgerDepositExternal(ctx context.Context, tx pgx.Tx, ob blockscanner.Observed, msgID int64) error {
	acct := depositTONAccount(ob.W)
	ps := []*ledger.Posting{ledger.FeePosting(ob.Tx, acct, ob.MasterSeqno)}
	for _, c := range ob.OutMsgs {
		var m tlb.Message
		if err := tlb.LoadFromCell(&m, c.BeginParse()); err != nil || m.MsgType != tlb.MsgTypeInternal {
			continue
		}
		im := m.AsInternal()
		if im.DstAddr == nil || !im.DstAddr.Equals(o.hot) {
			// The gas of a jetton transfer (to its jetton wallet).
			ps = append(ps, ledgerAt(ob, fmt.Sprintf("dwm:%d:gas", msgID), "jetton_gas", ledger.Move("TON", im.Amount.Nano(), acct, ledger.Fees)))
		} else {
			from := acct
			if from == ledger.Fees {
				// TON taken from a jetton deposit (a TON service
				// withdrawal): mostly TON someone sent there, which no
				// account held; gas left over from top-ups goes with it.
				from = ledger.External
			}
			ps = append(ps, ledgerAt(ob, fmt.Sprintf("dwm:%d:sent", msgID), "sweep_sent", ledger.Move("TON", im.Amount.Nano(), from, ledger.Transit)))
		}
		break
	}
	return ledger.PostAll(ctx, tx, ps...)
}

// ledgerDepositArrived posts the hot wallet receiving a deposit wallet's
// message (TON sweep, TON service withdrawal): out of transit.
func (o *Outcomes) ledgerDepositArrived(ctx context.Context, tx pgx.Tx, ob blockscanner.Observed, msgID int64, amount *big.Int) error {
	return ledger.PostAll(ctx, tx, ledgerAt(ob, fmt.Sprintf("dwm:%d:received", msgID), "sweep_received", ledger.Move("TON", amount, ledger.Transit, ledger.Hot)))
}
