package withdrawals

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"

	"github.com/jackc/pgx/v5"
	"github.com/xssnick/tonutils-go/address"
	"github.com/xssnick/tonutils-go/tlb"

	"github.com/ton-custody/processor/internal/blockscanner"
	"github.com/ton-custody/processor/internal/ledger"
	"github.com/ton-custody/processor/internal/notify"
)

// internal_transfer#178d4519: what a jetton wallet receives from another.
const opJettonInternalTransfer = 0x178d4519

// depositTx confirms a deposit wallet message by the deposit wallet's
// external-message transaction (its body hash is the stored message hash)
// and records the one message it emitted, whose receiving transaction
// settles the sweep or service withdrawal. A message that executed but
// emitted nothing (the action failed) ends its work as failed.
func (o *Outcomes) depositTx(ctx context.Context, tx pgx.Tx, ob blockscanner.Observed) ([]notify.Event, error) {
	in := ob.Tx.IO.In
	if in != nil && in.MsgType == tlb.MsgTypeInternal {
		// A TON deposit receiving gas pays the transaction's fees.
		if err := ledger.PostAll(ctx, tx, ledger.FeePosting(ob.Tx, depositTONAccount(ob.W), ob.MasterSeqno)); err != nil {
			return nil, err
		}
		return nil, o.topUpArrived(ctx, tx, ob) // the scanner passes only the hot wallet's
	}
	if in == nil || in.MsgType != tlb.MsgTypeExternalIn {
		return nil, nil
	}
	body := in.AsExternalIn().Body
	if body == nil {
		return nil, nil
	}
	var out []byte
	for _, c := range ob.OutMsgs {
		var m tlb.Message
		if err := tlb.LoadFromCell(&m, c.BeginParse()); err == nil && m.MsgType == tlb.MsgTypeInternal {
			out = c.Hash()
			break
		}
	}
	var msgID int64
	err := tx.QueryRow(ctx, `UPDATE deposit_wallet_messages SET state = 'confirmed', tx_hash = $2, tx_lt = $3, confirmed_at = now(), out_msg_hash = $4
		WHERE message_hash = $1 AND state = 'sent' RETURNING id`, body.Hash(), ob.Tx.Hash, int64(ob.Tx.LT), out).Scan(&msgID)
	if errors.Is(err, pgx.ErrNoRows) {
		// Confirmed before (a redone scanner batch), or not ours. A replay
		// of a confirmed message by a third party (possible within
		// valid_until after a 128+32 sweep reset the seqno) only moves
		// funds to the hot wallet again; it is logged.
		var state string
		if qerr := tx.QueryRow(ctx, `SELECT state FROM deposit_wallet_messages WHERE message_hash = $1 AND tx_hash <> $2`,
			body.Hash(), ob.Tx.Hash).Scan(&state); qerr == nil {
			o.log.Warn("a confirmed deposit wallet message executed again (replay)", "tx", hex.EncodeToString(ob.Tx.Hash))
		}
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("confirm deposit wallet message: %w", err)
	}
	if err := o.ledgerDepositExternal(ctx, tx, ob, msgID); err != nil {
		return nil, err
	}
	if out != nil {
		return nil, o.failSweepsWithoutGas(ctx, tx, msgID, ob.Tx)
	}
	const reason = "the deposit wallet executed the transfer but sent nothing (insufficient balance?)"
	if _, err := tx.Exec(ctx, `UPDATE sweeps SET state = 'failed', fail_reason = $2 WHERE wallet_message_id = $1 AND state = 'sent'`,
		msgID, reason); err != nil {
		return nil, fmt.Errorf("fail sweep: %w", err)
	}
	var sid int64
	err = tx.QueryRow(ctx, `SELECT id FROM service_withdrawals WHERE wallet_message_id = $1 AND state = 'processing'`, msgID).Scan(&sid)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return failServiceEvent(ctx, tx, o.ev, sid, reason)
}

// topUpArrived records when a jetton sweep's gas reached the deposit
// wallet: the transaction receiving the hot wallet's top-up message.
func (o *Outcomes) topUpArrived(ctx context.Context, tx pgx.Tx, ob blockscanner.Observed) error {
	if ob.InMsgHash == nil {
		return nil
	}
	if _, err := tx.Exec(ctx, `UPDATE sweeps s SET topup_lt = $2 FROM hot_batch_items i
		WHERE i.sent_msg_hash = $1 AND i.kind = 'sweep_topup' AND s.id = i.sweep_id AND s.state = 'topping_up' AND s.topup_lt IS NULL`,
		ob.InMsgHash, int64(ob.Tx.LT)); err != nil {
		return fmt.Errorf("record sweep gas arrival: %w", err)
	}
	return nil
}

// failSweepsWithoutGas fails the deposit's jetton sweep still waiting to
// send its transfer when the deposit wallet message just confirmed (t) was
// a TON service withdrawal that executed after the sweep's gas arrived:
// mode 128+32 sent all the wallet's TON, the gas included, to the hot
// wallet, so the sweep would wait for its gas forever (and, one open sweep
// per deposit, block the deposit). Failing it is safe: nothing of it was
// sent, its gas is counted where it went (the service withdrawal's
// amount), and a new sweep, with its own top-up, is decided as usual. It
// cannot be topped up again instead: a sweep has one top-up item for good
// (hot_batch_items_live_sweep_key). A service withdrawal that executed
// before the gas arrived took nothing of it: the sweep goes on.
func (o *Outcomes) failSweepsWithoutGas(ctx context.Context, tx pgx.Tx, msgID int64, t *tlb.Transaction) error {
	rows, err := tx.Query(ctx, `UPDATE sweeps s SET state = 'failed',
			fail_reason = 'its gas top-up was taken by TON service withdrawal ' || sw.memo::text ||
				' (all TON of the deposit wallet went to the hot wallet) before the jetton transfer was sent; a new sweep is decided'
		FROM deposit_wallet_messages m, service_withdrawals sw
		WHERE m.id = $1 AND sw.wallet_message_id = m.id AND sw.kind = 'ton'
		  AND s.deposit_wallet_id = m.deposit_wallet_id AND s.state = 'topping_up' AND s.topup_lt < $2
		RETURNING s.id, sw.memo::text`, msgID, int64(t.LT))
	if err != nil {
		return fmt.Errorf("fail sweeps whose gas was taken: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		var memo string
		if err := rows.Scan(&id, &memo); err != nil {
			return err
		}
		o.log.Warn("jetton sweep failed: a TON service withdrawal took its gas; a new sweep will be decided",
			"sweep", id, "memo", memo, "tx", hex.EncodeToString(t.Hash))
	}
	return rows.Err()
}

// depositJettonWalletTx fails a jetton sweep whose transfer the deposit's
// jetton wallet refused (e.g. too little TON attached, exit code 709 of
// the standard wallet, or more than its balance, 706): the transfer is
// bounced back and no internal_transfer will ever reach the hot jetton
// wallet, so the sweep would stay sent (and block the deposit) for good.
// A new sweep is decided later as usual. A transfer the jetton wallet
// executed settles at the hot jetton wallet (sweptJettonTx).
func (o *Outcomes) depositJettonWalletTx(ctx context.Context, tx pgx.Tx, ob blockscanner.Observed) ([]notify.Event, error) {
	if ob.InMsgHash == nil {
		return nil, nil
	}
	refused, how := txRefused(ob.Tx)
	if !refused {
		return nil, o.ledgerDepositJettonSent(ctx, tx, ob)
	}
	reason := "the deposit's jetton wallet refused the transfer (" + how + ")"
	rows, err := tx.Query(ctx, `UPDATE sweeps s SET state = 'failed', fail_reason = $2 FROM deposit_wallet_messages m
		WHERE m.out_msg_hash = $1 AND s.wallet_message_id = m.id AND s.state = 'sent' RETURNING s.id`, ob.InMsgHash, reason)
	if err != nil {
		return nil, fmt.Errorf("fail refused sweep: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		o.log.Warn("jetton sweep failed: "+reason, "sweep", id, "tx", hex.EncodeToString(ob.Tx.Hash))
	}
	return nil, rows.Err()
}

// txRefused reports whether t did not do what its inbound message asked,
// and how: the compute phase's exit code, or the action phase's result.
func txRefused(t *tlb.Transaction) (bool, string) {
	d, ok := t.Description.(tlb.TransactionDescriptionOrdinary)
	if !ok {
		return true, "not an ordinary transaction"
	}
	vm, isVM := d.ComputePhase.Phase.(tlb.ComputePhaseVM)
	switch {
	case !isVM:
		return true, "compute phase skipped"
	case !vm.Success:
		return true, fmt.Sprintf("exit code %d", vm.Details.ExitCode)
	case d.ActionPhase != nil && !d.ActionPhase.Success:
		return true, fmt.Sprintf("action phase result code %d", d.ActionPhase.ResultCode)
	case d.Aborted || d.BouncePhase != nil:
		return true, "aborted"
	}
	return false, ""
}

// arrivalTx settles TON sweeps and TON service withdrawals by the hot
// wallet transaction that received the deposit wallet's message.
func (o *Outcomes) arrivalTx(ctx context.Context, tx pgx.Tx, ob blockscanner.Observed) ([]notify.Event, error) {
	in := ob.Tx.IO.In
	if in == nil || in.MsgType != tlb.MsgTypeInternal || ob.InMsgHash == nil {
		return nil, nil
	}
	im := in.AsInternal()
	var msgID int64
	err := tx.QueryRow(ctx, `SELECT id FROM deposit_wallet_messages WHERE out_msg_hash = $1`, ob.InMsgHash).Scan(&msgID)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("find deposit wallet message: %w", err)
	}
	amount := im.Amount.Nano()
	if im.Bounced {
		amount = new(big.Int) // cannot happen for a non-bounceable message; never counted as received
	}
	if err := o.ledgerDepositArrived(ctx, tx, ob, msgID, amount); err != nil {
		return nil, err
	}
	if _, err := tx.Exec(ctx, `UPDATE sweeps SET state = 'confirmed', received_amount = $2::numeric, tx_hash = $3
		WHERE wallet_message_id = $1 AND state = 'sent'`, msgID, amount.String(), ob.Tx.Hash); err != nil {
		return nil, fmt.Errorf("confirm sweep: %w", err)
	}
	var sid int64
	err = tx.QueryRow(ctx, `SELECT id FROM service_withdrawals WHERE wallet_message_id = $1 AND state = 'processing'`, msgID).Scan(&sid)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return processServiceEvent(ctx, tx, o.ev, sid, amount, ob.Tx)
}

// sweptJettonTx settles a jetton sweep by the hot jetton wallet's
// internal_transfer: its query id names the sweep and its sender must be
// the sweep's deposit (a standard jetton wallet accepts internal_transfer
// only from the sender's genuine jetton wallet).
func (o *Outcomes) sweptJettonTx(ctx context.Context, tx pgx.Tx, ob blockscanner.Observed, im *tlb.InternalMessage) ([]notify.Event, error) {
	s := im.Body.BeginParse()
	if _, err := s.LoadUInt(32); err != nil {
		return nil, nil
	}
	qid, err := s.LoadUInt(64)
	if err != nil || qid&sweepQueryTag == 0 {
		return nil, nil
	}
	amount, err := s.LoadBigCoins()
	if err != nil {
		return nil, nil
	}
	from, err := s.LoadAddr()
	if err != nil || from.Type() != address.StdAddress {
		return nil, nil
	}
	sweepID := int64(qid &^ sweepQueryTag)
	d, _ := ob.Tx.Description.(tlb.TransactionDescriptionOrdinary)
	vm, isVM := d.ComputePhase.Phase.(tlb.ComputePhaseVM)
	ok := isVM && vm.Success && !d.Aborted && d.BouncePhase == nil
	if ok {
		_, err = tx.Exec(ctx, `UPDATE sweeps s SET state = 'confirmed', received_amount = $2::numeric, tx_hash = $3
			FROM deposit_wallets d WHERE s.id = $1 AND s.state = 'sent' AND d.id = s.deposit_wallet_id AND d.workchain = $4 AND d.address = $5`,
			sweepID, amount.String(), ob.Tx.Hash, from.Workchain(), from.Data())
	} else {
		_, err = tx.Exec(ctx, `UPDATE sweeps s SET state = 'failed', fail_reason = 'the hot jetton wallet did not accept the transfer'
			FROM deposit_wallets d WHERE s.id = $1 AND s.state = 'sent' AND d.id = s.deposit_wallet_id AND d.workchain = $2 AND d.address = $3`,
			sweepID, from.Workchain(), from.Data())
	}
	if err != nil {
		return nil, fmt.Errorf("settle jetton sweep %d: %w", sweepID, err)
	}
	return nil, nil
}

// serviceJettonTx settles a jetton service withdrawal by the emptied
// jetton wallet's transaction of the deposit wallet's transfer.
func (o *Outcomes) serviceJettonTx(ctx context.Context, tx pgx.Tx, ob blockscanner.Observed) ([]notify.Event, error) {
	var sid int64
	var amount string
	err := tx.QueryRow(ctx, `SELECT sw.id, coalesce(sw.amount, 0)::text FROM deposit_wallet_messages m JOIN service_withdrawals sw ON sw.wallet_message_id = m.id
		WHERE m.out_msg_hash = $1 AND sw.state = 'processing'`, ob.InMsgHash).Scan(&sid, &amount)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("find service withdrawal: %w", err)
	}
	d, _ := ob.Tx.Description.(tlb.TransactionDescriptionOrdinary)
	vm, isVM := d.ComputePhase.Phase.(tlb.ComputePhaseVM)
	if !isVM || !vm.Success || d.Aborted || d.BouncePhase != nil {
		code := int32(-1)
		if isVM {
			code = vm.Details.ExitCode
		}
		return failServiceEvent(ctx, tx, o.ev, sid, fmt.Sprintf("the jetton wallet refused the transfer (exit code %d)", code))
	}
	v, _ := new(big.Int).SetString(amount, 10)
	return processServiceEvent(ctx, tx, o.ev, sid, v, ob.Tx)
}

// processServiceEvent settles a service withdrawal by t, the transaction
// that moved amount.
func processServiceEvent(ctx context.Context, tx pgx.Tx, f eventFormat, id int64, amount *big.Int, t *tlb.Transaction) ([]notify.Event, error) {
	ev, err := f.scanService(tx.QueryRow(ctx, `UPDATE service_withdrawals SET state = 'processed', amount = $2::numeric, tx_hash = $3
		WHERE id = $1 AND state = 'processing' RETURNING `+serviceEventColumns, id, amount.String(), t.Hash))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("settle service withdrawal %d: %w", id, err)
	}
	ev.Status, ev.Amount, ev.TxHash, ev.NetworkFee = string(StateProcessed), amount.String(), hex.EncodeToString(t.Hash), txFee(t)
	return []notify.Event{{Topic: notify.TopicServiceWithdrawal, ID: "service_withdrawal:" + ev.Memo + ":processed", Payload: ev}}, nil
}

func failServiceEvent(ctx context.Context, tx pgx.Tx, f eventFormat, id int64, reason string) ([]notify.Event, error) {
	ev, err := f.scanService(tx.QueryRow(ctx, `UPDATE service_withdrawals SET state = 'failed', fail_reason = $2
		WHERE id = $1 AND state IN ('pending', 'processing') RETURNING `+serviceEventColumns, id, reason))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("fail service withdrawal %d: %w", id, err)
	}
	ev.Status, ev.Reason = string(StateFailed), reason
	return []notify.Event{{Topic: notify.TopicServiceWithdrawal, ID: "service_withdrawal:" + ev.Memo + ":failed", Payload: ev}}, nil
}

// failService fails a service withdrawal and enqueues its event.
func failService(ctx context.Context, tx pgx.Tx, f eventFormat, id int64, reason string) error {
	evs, err := failServiceEvent(ctx, tx, f, id, reason)
	if err != nil || len(evs) == 0 {
		return err
	}
	_, err = notify.EnqueueAll(ctx, tx, evs)
	return err
}
