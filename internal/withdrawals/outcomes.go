package withdrawals

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/xssnick/tonutils-go/address"
	"github.com/xssnick/tonutils-go/tlb"
	"github.com/xssnick/tonutils-go/tvm/cell"

	"github.com/ton-custody/processor/internal/blockscanner"
	"github.com/ton-custody/processor/internal/config"
	"github.com/ton-custody/processor/internal/notify"
)

// Highload v3 internal message to itself carrying a packed action list.
const opHighloadPack = 0xae42e5a4

// Outcomes turns the hot wallet's side of the chain into withdrawal
// outcomes. It is the scanner's Hook, so every outcome commits in the same
// transaction as the scanner cursor that passed the block showing it:
//
//   - the hot wallet's external message transaction confirms the batch;
//   - each message the wallet emits (directly, or from the internal
//     messages it packs actions into) is matched to its item by content;
//     a message the wallet skipped (mode +2 ignores errors) fails its
//     withdrawal;
//   - a TON payment is processed when the destination's transaction keeps
//     the value, failed when it bounces it back (the destination is
//     watched while the payment is in flight);
//   - a jetton payment is processed when the destination's jetton wallet
//     accepts the internal_transfer, failed when it bounces it or the hot
//     jetton wallet refuses the transfer (its query_id is the withdrawal
//     id; the destination's jetton wallet, stored with the request, is
//     watched while the payment is in flight). Requests stored without it
//     settle on the hot jetton wallet's transfer.
type Outcomes struct {
	db      *pgxpool.Pool
	hot     *address.Address
	jettons map[[32]byte]string // hot jetton wallet -> symbol
	ev      eventFormat
	log     *slog.Logger
	// returned counts batch items returned unsent (batchreturn.go).
	returned prometheus.Counter
	// hotRefused counts withdrawal transfers a hot jetton wallet refused
	// (jettonrefusal.go), by currency.
	hotRefused *prometheus.CounterVec
}

// NewOutcomes creates the hook; network is how webhook events print
// addresses.
func NewOutcomes(db *pgxpool.Pool, hot *address.Address, jettons map[string]Jetton, network config.Network, log *slog.Logger) *Outcomes {
	o := &Outcomes{db: db, hot: hot, jettons: map[[32]byte]string{}, ev: newEventFormat(network, jettons), log: log,
		returned: newReturnedCounter(), hotRefused: newHotRefusedCounter()}
	for sym, j := range jettons {
		var k [32]byte
		copy(k[:], j.HotJettonWallet.Data())
		o.jettons[k] = sym
	}
	if o.log == nil {
		o.log = slog.Default()
	}
	return o
}

var _ blockscanner.Hook = (*Outcomes)(nil)

// Watch implements blockscanner.Hook: the hot jetton wallets and the
// destinations of TON payments in flight.
func (o *Outcomes) Watch(ctx context.Context) (map[[32]byte]blockscanner.Watched, error) {
	out := map[[32]byte]blockscanner.Watched{}
	for k, sym := range o.jettons {
		out[k] = blockscanner.Watched{Kind: blockscanner.KindHotJetton, Currency: sym, Owner: k}
	}
	rows, err := o.db.Query(ctx, `SELECT DISTINCT destination_address FROM withdrawals
		WHERE state = 'processing' AND currency = 'TON' AND destination_workchain = 0`)
	if err != nil {
		return nil, fmt.Errorf("destinations in flight: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var d []byte
		if err := rows.Scan(&d); err != nil {
			return nil, err
		}
		var k [32]byte
		copy(k[:], d)
		if _, taken := out[k]; !taken {
			out[k] = blockscanner.Watched{Kind: blockscanner.KindDestination, Owner: k}
		}
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	rows.Close()
	// Jetton wallets a jetton service withdrawal is emptying (their
	// transfer transaction settles it), and the destinations' jetton
	// wallets of jetton payments in flight (their internal_transfer
	// transaction settles the payment). Both are stored before the message
	// that reaches them is sent.
	rows, err = o.db.Query(ctx, `SELECT jetton_wallet FROM service_withdrawals
		WHERE state = 'processing' AND kind = 'jetton' AND wallet_message_id IS NOT NULL AND jetton_wallet_workchain = 0
		UNION SELECT destination_jetton_wallet FROM withdrawals
		WHERE state = 'processing' AND destination_jetton_wallet IS NOT NULL AND destination_jetton_wallet_workchain = 0`)
	if err != nil {
		return nil, fmt.Errorf("jetton wallets in flight: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var d []byte
		if err := rows.Scan(&d); err != nil {
			return nil, err
		}
		var k [32]byte
		copy(k[:], d)
		if _, taken := out[k]; !taken {
			out[k] = blockscanner.Watched{Kind: blockscanner.KindDestination, Owner: k}
		}
	}
	return out, rows.Err()
}

// Observe implements blockscanner.Hook.
func (o *Outcomes) Observe(ctx context.Context, tx pgx.Tx, obs []blockscanner.Observed) error {
	var events []notify.Event
	for i := 0; i < len(obs); i++ {
		ob := obs[i]
		if ob.W.Kind == blockscanner.KindDestination {
			// A run of destinations' transactions (a batch's payments
			// arriving) settles in a few statements.
			j := i + 1
			for j < len(obs) && obs[j].W.Kind == blockscanner.KindDestination {
				j++
			}
			evs, err := o.destinationRun(ctx, tx, obs[i:j])
			if err != nil {
				return err
			}
			events = append(events, evs...)
			i = j - 1
			continue
		}
		var err error
		var evs []notify.Event
		switch ob.W.Kind {
		case blockscanner.KindHot:
			if err = o.hotTx(ctx, tx, ob); err == nil {
				evs, err = o.arrivalTx(ctx, tx, ob)
			}
			if err == nil {
				err = o.ledgerHotTx(ctx, tx, ob)
			}
		case blockscanner.KindDeposit:
			evs, err = o.depositTx(ctx, tx, ob)
		case blockscanner.KindJettonWallet:
			evs, err = o.depositJettonWalletTx(ctx, tx, ob)
		case blockscanner.KindHotJetton:
			evs, err = o.jettonTx(ctx, tx, ob)
		}
		if err != nil {
			return fmt.Errorf("transaction %x: %w", ob.Tx.Hash, err)
		}
		events = append(events, evs...)
	}
	if len(events) > 0 {
		if _, err := notify.EnqueueAll(ctx, tx, events); err != nil {
			return err
		}
	}
	return nil
}

// hotTx handles a hot wallet transaction: an external message executing a
// batch, or a packed action list sent to itself.
func (o *Outcomes) hotTx(ctx context.Context, tx pgx.Tx, ob blockscanner.Observed) error {
	in := ob.Tx.IO.In
	if in == nil {
		return nil
	}
	var batchID int64
	var actions []*cell.Cell
	switch in.MsgType {
	case tlb.MsgTypeExternalIn:
		body := in.AsExternalIn().Body
		if body == nil {
			return nil
		}
		if d, ok := ob.Tx.Description.(tlb.TransactionDescriptionOrdinary); ok && d.ActionPhase != nil && !d.ActionPhase.Success {
			// A failed action phase rolls the wallet's state back, the
			// query id it marked included, and sends nothing: the same
			// external may still run. The batch stays in flight (re-sent
			// until it runs or provably expires).
			o.log.Warn("a hot wallet external failed its action phase; its batch, if ours, stays in flight", "tx_hash", hex.EncodeToString(ob.Tx.Hash),
				"result_code", d.ActionPhase.ResultCode)
			return nil
		}
		var queryID int32
		var wids []int64
		err := tx.QueryRow(ctx, `UPDATE hot_batches SET state = 'confirmed', tx_hash = $2, tx_lt = $3, confirmed_at = now()
			WHERE message_hash = $1 AND state = 'sent' RETURNING id, query_id,
			ARRAY(SELECT withdrawal_id FROM hot_batch_items WHERE batch_id = hot_batches.id AND withdrawal_id IS NOT NULL ORDER BY msg_index)`,
			body.Hash(), ob.Tx.Hash, int64(ob.Tx.LT)).Scan(&batchID, &queryID, &wids)
		if err == nil {
			o.log.Info("withdrawal batch confirmed", "batch_id", batchID, "highload_query_id", queryID,
				"tx_hash", hex.EncodeToString(ob.Tx.Hash), "withdrawal_ids", wids, "count", len(wids))
		}
		if errors.Is(err, pgx.ErrNoRows) {
			// Already confirmed (a redone scanner batch), expired, or not
			// ours. Expired must not happen (expiry waits for the cursor to
			// pass the batch's timeout): if it does, expiry rested on wrong
			// chain data and the batch's withdrawals, returned to pending,
			// may be paid twice. The hot wallet stops until a person looks.
			var state string
			err = tx.QueryRow(ctx, `SELECT id, state FROM hot_batches WHERE message_hash = $1`, body.Hash()).Scan(&batchID, &state)
			if errors.Is(err, pgx.ErrNoRows) {
				return nil
			}
			if err == nil && state == "expired" {
				if err := o.haltOnExpiredExecuted(ctx, tx, batchID, ob.Tx.Hash); err != nil {
					return err
				}
			}
		}
		if err != nil {
			return fmt.Errorf("confirm batch: %w", err)
		}
		// ext body: signature:bits512 ^[subwallet:uint32 ^msg mode:uint8 query_id:uint23 created_at:uint64 timeout:uint22]
		payload, err := body.PeekRef(0)
		if err != nil {
			return nil
		}
		msg, err := payload.PeekRef(0)
		if err != nil {
			return nil
		}
		actions = []*cell.Cell{msg}
	case tlb.MsgTypeInternal:
		im := in.AsInternal()
		if im.Bounced || im.SrcAddr == nil || !im.SrcAddr.Equals(o.hot) || im.Body == nil {
			return nil // payments in (top-ups, bounces) are not batch actions
		}
		s := im.Body.BeginParse()
		if op, err := s.LoadUInt(32); err != nil || op != opHighloadPack {
			return nil
		}
		qid, err := s.LoadUInt(64)
		if err != nil {
			return nil
		}
		list, err := s.LoadRef()
		if err != nil {
			return nil
		}
		err = tx.QueryRow(ctx, `SELECT id FROM hot_batches WHERE query_id = $1 AND state = 'confirmed' ORDER BY id DESC LIMIT 1`,
			int32(qid)).Scan(&batchID)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("find batch of query id %d: %w", qid, err)
		}
		// out_list$_ prev:^(OutList n) action:OutAction; action_send_msg#0ec3c86d mode:uint8 out_msg:^Message
		for cur := list; cur.BitsLeft() > 0 || cur.RefsNum() > 0; {
			prev, err := cur.LoadRef()
			if err != nil {
				break
			}
			if tag, err := cur.LoadUInt(32); err == nil && tag == 0x0ec3c86d {
				if _, err := cur.LoadUInt(8); err == nil {
					if m, err := cur.LoadRef(); err == nil {
						if mc, err := m.ToCell(); err == nil {
							actions = append(actions, mc)
						}
					}
				}
			}
			cur = prev
		}
	default:
		return nil
	}
	return o.matchActions(ctx, tx, batchID, actions, ob)
}

type emitted struct {
	cell *cell.Cell
	msg  *tlb.InternalMessage
	used bool
}

// unsentItem is a batch item not yet sent, as matchActions reads them.
type unsentItem struct {
	msgIndex                                 int32
	kind                                     string
	withdrawalID, sweepID, serviceID, coldID *int64
	currency                                 *string // the withdrawal's
}

// emittedKey is what pairs an action with the message the wallet emitted
// for it: destination, value, bounce flag and body.
func emittedKey(m *tlb.InternalMessage) string {
	var k []byte
	if m.DstAddr != nil {
		k = append(k, byte(m.DstAddr.Type()), byte(m.DstAddr.Workchain()))
		k = append(k, m.DstAddr.Data()...)
	}
	k = append(k, '/')
	k = append(k, m.Amount.Nano().String()...)
	if m.Bounce {
		k = append(k, '/', 'b')
	}
	k = append(k, '/')
	return string(append(k, bodyHash(m.Body)...))
}

// matchActions pairs the batch messages a transaction was asked to send
// with the messages it emitted. A withdrawal whose message was not emitted
// was skipped by the wallet: failed. A batch of a thousand withdrawals
// settles here, so the batch's items are read in one query and the sent
// ones written back in two, not a few round trips per item.
func (o *Outcomes) matchActions(ctx context.Context, tx pgx.Tx, batchID int64, actions []*cell.Cell, ob blockscanner.Observed) error {
	outs := map[string][]*emitted{}
	for _, c := range ob.OutMsgs {
		var m tlb.Message
		if err := tlb.LoadFromCell(&m, c.BeginParse()); err == nil && m.MsgType == tlb.MsgTypeInternal {
			e := &emitted{cell: c, msg: m.AsInternal()}
			outs[emittedKey(e.msg)] = append(outs[emittedKey(e.msg)], e)
		}
	}
	// Unsent items by message hash, first msg_index first: of identical
	// messages the first items are taken (returnUnsent takes the last).
	items := map[string][]unsentItem{}
	rows, err := tx.Query(ctx, `SELECT i.msg_hash, i.msg_index, i.kind, i.withdrawal_id, i.sweep_id, i.service_withdrawal_id, i.cold_transfer_id, w.currency
		FROM hot_batch_items i LEFT JOIN withdrawals w ON w.id = i.withdrawal_id
		WHERE i.batch_id = $1 AND i.sent_tx_hash IS NULL ORDER BY i.msg_index`, batchID)
	if err != nil {
		return fmt.Errorf("read batch %d items: %w", batchID, err)
	}
	for rows.Next() {
		var h []byte
		var it unsentItem
		if err := rows.Scan(&h, &it.msgIndex, &it.kind, &it.withdrawalID, &it.sweepID, &it.serviceID, &it.coldID, &it.currency); err != nil {
			rows.Close()
			return fmt.Errorf("read batch %d items: %w", batchID, err)
		}
		items[string(h)] = append(items[string(h)], it)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read batch %d items: %w", batchID, err)
	}
	// Sent items, written together (before anything else reads them).
	var sentIdx []int32
	var sentHashes [][]byte
	var sentWids []int64
	flush := func() error {
		if len(sentIdx) > 0 {
			if _, err := tx.Exec(ctx, `UPDATE hot_batch_items i SET sent_tx_hash = $2, sent_msg_hash = s.h
				FROM unnest($3::integer[], $4::bytea[]) AS s(idx, h) WHERE i.batch_id = $1 AND i.msg_index = s.idx`,
				batchID, ob.Tx.Hash, sentIdx, sentHashes); err != nil {
				return fmt.Errorf("batch %d items sent: %w", batchID, err)
			}
		}
		if len(sentWids) > 0 {
			// The fee is this transaction's: a TON payment settles later, in
			// the destination's transaction, where it is no longer known.
			if _, err := tx.Exec(ctx, `UPDATE withdrawals SET tx_hash = $2, network_fee = $3::numeric WHERE id = ANY($1) AND state = 'processing'`,
				sentWids, ob.Tx.Hash, txFee(ob.Tx)); err != nil {
				return fmt.Errorf("withdrawals of batch %d sent: %w", batchID, err)
			}
		}
		sentIdx, sentHashes, sentWids = sentIdx[:0], sentHashes[:0], sentWids[:0]
		return nil
	}
	for _, a := range actions {
		var am tlb.InternalMessage
		if err := tlb.LoadFromCell(&am, a.BeginParse()); err != nil {
			continue
		}
		key := emittedKey(&am)
		if am.DstAddr != nil && am.DstAddr.Equals(o.hot) {
			// The next packed list: its own transaction settles what it
			// holds, if this one sent it. If not, nothing of it can go out
			// any more: its items are returned.
			if takeEmitted(outs[key]) == nil {
				if err := flush(); err != nil {
					return err
				}
				if err := o.returnUnsent(ctx, tx, batchID, am.Body, ob); err != nil {
					return err
				}
			}
			continue
		}
		queue := items[string(a.Hash())]
		if len(queue) == 0 {
			continue // already matched (a redone scanner batch)
		}
		it := queue[0]
		items[string(a.Hash())] = queue[1:]
		sent := takeEmitted(outs[key])
		if sent == nil {
			if err := flush(); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `UPDATE hot_batch_items SET sent_tx_hash = $3 WHERE batch_id = $1 AND msg_index = $2`,
				batchID, it.msgIndex, ob.Tx.Hash); err != nil {
				return err
			}
			const skipped = "the hot wallet skipped the transfer (insufficient balance or an invalid message)"
			switch it.kind {
			case "withdrawal":
				err = o.fail(ctx, tx, *it.withdrawalID, skipped)
			case "sweep_topup":
				// The top-up item stays live (its batch executed): this
				// sweep is over; a new one is decided while funds remain.
				_, err = tx.Exec(ctx, `UPDATE sweeps SET state = 'failed', fail_reason = $2 WHERE id = $1 AND state = 'topping_up'`,
					*it.sweepID, "gas top-up: "+skipped)
			case "service":
				err = failService(ctx, tx, o.ev, *it.serviceID, "gas top-up: "+skipped)
			case "cold":
				_, err = tx.Exec(ctx, `UPDATE cold_transfers SET state = 'failed', fail_reason = $2 WHERE id = $1 AND state = 'processing'`,
					*it.coldID, skipped)
			}
			if err != nil {
				return err
			}
			continue
		}
		sentIdx, sentHashes = append(sentIdx, it.msgIndex), append(sentHashes, sent.cell.Hash())
		if err := o.ledgerItemSent(ctx, tx, ob, it, sent.msg); err != nil {
			return err
		}
		switch it.kind {
		case "cold":
			if err := flush(); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `UPDATE cold_transfers SET state = 'processed', tx_hash = $2 WHERE id = $1 AND state = 'processing'`,
				*it.coldID, ob.Tx.Hash); err != nil {
				return err
			}
		case "withdrawal":
			sentWids = append(sentWids, *it.withdrawalID)
			o.log.Debug("withdrawal message sent by the hot wallet", "withdrawal_id", *it.withdrawalID, "batch_id", batchID, "tx_hash", hex.EncodeToString(ob.Tx.Hash))
		}
		// Other kinds are gas for a deposit wallet: the worker waits for it there.
	}
	return flush()
}

// takeEmitted marks and returns the first unused emitted message of
// candidates (all of one emittedKey), or nil.
func takeEmitted(candidates []*emitted) *emitted {
	for _, e := range candidates {
		if !e.used {
			e.used = true
			return e
		}
	}
	return nil
}

func bodyHash(c *cell.Cell) []byte {
	if c == nil {
		return cell.BeginCell().EndCell().Hash()
	}
	return c.Hash()
}

// destinationRun settles TON payments by their destinations'
// transactions, run being consecutive observations of destinations: the
// payments are found in one query and the paid ones settled in one
// statement. A transaction that is not one of our TON payments may be a
// jetton payment's or a jetton service withdrawal's (or another sender's
// payment to this account).
func (o *Outcomes) destinationRun(ctx context.Context, tx pgx.Tx, run []blockscanner.Observed) ([]notify.Event, error) {
	var hashes [][]byte
	for _, ob := range run {
		if ob.InMsgHash != nil {
			hashes = append(hashes, ob.InMsgHash)
		}
	}
	if len(hashes) == 0 {
		return nil, nil
	}
	payment := map[string]int64{}
	rows, err := tx.Query(ctx, `SELECT sent_msg_hash, withdrawal_id FROM hot_batch_items WHERE sent_msg_hash = ANY($1) AND kind = 'withdrawal'`, hashes)
	if err != nil {
		return nil, fmt.Errorf("find payments: %w", err)
	}
	for rows.Next() {
		var h []byte
		var wid int64
		if err := rows.Scan(&h, &wid); err != nil {
			rows.Close()
			return nil, fmt.Errorf("find payments: %w", err)
		}
		payment[string(h)] = wid
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("find payments: %w", err)
	}
	perOb := make([][]notify.Event, len(run)) // events in the observations' order
	paid := map[int64]int{}                   // withdrawal -> its observation
	var paidIDs []int64
	for i, ob := range run {
		if ob.InMsgHash == nil {
			continue
		}
		wid, ok := payment[string(ob.InMsgHash)]
		var evs []notify.Event
		var err error
		switch d, _ := ob.Tx.Description.(tlb.TransactionDescriptionOrdinary); {
		case !ok:
			var ours bool
			if evs, ours, err = o.jettonArrivalTx(ctx, tx, ob); !ours && err == nil {
				evs, err = o.serviceJettonTx(ctx, tx, ob)
			}
		case d.BouncePhase != nil:
			evs, err = o.failEvent(ctx, tx, wid, reasonBounced)
			if err == nil && len(evs) > 0 {
				err = o.ledgerBounced(ctx, tx, ob, wid)
			}
		default:
			paid[wid] = i
			paidIDs = append(paidIDs, wid)
		}
		if err != nil {
			return nil, fmt.Errorf("transaction %x: %w", ob.Tx.Hash, err)
		}
		perOb[i] = evs
	}
	if len(paidIDs) > 0 {
		// Processed once sent (tx_hash, set with the hot wallet's
		// transaction) and kept by the destination.
		rows, err := tx.Query(ctx, `UPDATE withdrawals SET state = 'processed' WHERE id = ANY($1) AND state = 'processing' AND tx_hash IS NOT NULL
			RETURNING id, `+withdrawalEventColumns, paidIDs)
		if err != nil {
			return nil, fmt.Errorf("settle %d withdrawals: %w", len(paidIDs), err)
		}
		type settled struct {
			wid     int64
			ev      WithdrawalEvent
			batchID *int64
		}
		var done []settled
		for rows.Next() {
			var st settled
			if st.ev, st.batchID, err = o.ev.scanWithdrawal(idRow{rows, &st.wid}); err != nil {
				rows.Close()
				return nil, fmt.Errorf("settle %d withdrawals: %w", len(paidIDs), err)
			}
			done = append(done, st)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("settle %d withdrawals: %w", len(paidIDs), err)
		}
		for _, st := range done {
			ob := run[paid[st.wid]]
			perOb[paid[st.wid]] = []notify.Event{o.processed(st.wid, st.batchID, st.ev)}
			if err := o.ledgerPaidAs(ctx, tx, ob, st.wid, st.ev.UserID, st.ev.Currency, st.ev.Amount, ob.Tx.IO.In.AsInternal().Amount.Nano()); err != nil {
				return nil, err
			}
		}
	}
	var events []notify.Event
	for _, evs := range perOb {
		events = append(events, evs...)
	}
	return events, nil
}

// idRow scans a leading id column, then the columns its caller asks for.
type idRow struct {
	rows pgx.Rows
	id   *int64
}

func (r idRow) Scan(dest ...any) error { return r.rows.Scan(append([]any{r.id}, dest...)...) }

const reasonBounced = "bounced: the destination did not accept the payment and it returned to the hot wallet"

// jettonTx settles a jetton payment by the hot jetton wallet's transfer.
func (o *Outcomes) jettonTx(ctx context.Context, tx pgx.Tx, ob blockscanner.Observed) ([]notify.Event, error) {
	in := ob.Tx.IO.In
	if in == nil || in.MsgType != tlb.MsgTypeInternal {
		return nil, nil
	}
	im := in.AsInternal()
	if !im.Bounced && im.Body != nil {
		if op, err := im.Body.BeginParse().LoadUInt(32); err == nil && op == opJettonInternalTransfer {
			if err := o.ledgerHotJettonIn(ctx, tx, ob, im); err != nil {
				return nil, err
			}
			return o.sweptJettonTx(ctx, tx, ob, im)
		}
	}
	if im.Bounced || im.SrcAddr == nil || !im.SrcAddr.Equals(o.hot) || im.Body == nil {
		if im.Bounced {
			if err := o.ledgerHotJettonIn(ctx, tx, ob, im); err != nil {
				return nil, err
			}
			return nil, o.jettonsBack(ctx, tx, ob, im)
		}
		return nil, nil
	}
	s := im.Body.BeginParse()
	if op, err := s.LoadUInt(32); err != nil || op != 0x0f8a7ea5 {
		return nil, nil
	}
	qid, err := s.LoadUInt(64)
	if err != nil {
		return nil, nil
	}
	wid := int64(qid)
	d, _ := ob.Tx.Description.(tlb.TransactionDescriptionOrdinary)
	vm, isVM := d.ComputePhase.Phase.(tlb.ComputePhaseVM)
	if !isVM || !vm.Success || d.Aborted || d.BouncePhase != nil {
		code := int32(-1)
		if isVM {
			code = vm.Details.ExitCode
		}
		o.hotRefused.WithLabelValues(ob.W.Currency).Inc()
		return o.failEvent(ctx, tx, wid, hotRefusalReason(code))
	}
	// Sent on, not yet paid: the destination's jetton wallet may still
	// refuse the jettons. Its transaction settles the payment
	// (jettonArrivalTx) when it is known and watched, i.e. for requests
	// stored with it.
	var djwWC *int32
	var djw []byte
	err = tx.QueryRow(ctx, `SELECT destination_jetton_wallet_workchain, destination_jetton_wallet FROM withdrawals
		WHERE id = $1 AND state = 'processing'`, wid).Scan(&djwWC, &djw)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil // settled before (a redone scanner batch), or not ours
	}
	if err != nil {
		return nil, fmt.Errorf("withdrawal %d destination jetton wallet: %w", wid, err)
	}
	if err := o.ledgerJettonSent(ctx, tx, ob, wid, im); err != nil {
		return nil, err
	}
	if djw != nil {
		// Watched (workchain 0 only) and where the jettons went.
		to := internalTransferTo(ob.OutMsgs)
		if *djwWC == 0 && to != nil && to.Workchain() == 0 && bytes.Equal(to.Data(), djw) {
			o.log.Debug("withdrawal jettons sent to the destination's jetton wallet", "withdrawal_id", wid, "tx_hash", hex.EncodeToString(ob.Tx.Hash))
			return nil, nil
		}
		// A jetton whose wallet sends elsewhere than its master's
		// get_wallet_address said, or outside workchain 0: that wallet
		// is not watched, so the transfer is the last thing seen of the
		// payment.
		o.log.Error("the hot jetton wallet sent a withdrawal's jettons to another jetton wallet than the master named; settled on the transfer",
			"withdrawal_id", wid, "tx_hash", hex.EncodeToString(ob.Tx.Hash))
	}
	evs, err := o.processedEvent(ctx, tx, wid, ob.Tx.Hash, txFee(ob.Tx))
	if err == nil && len(evs) > 0 {
		err = o.ledgerPaid(ctx, tx, ob, wid, nil)
	}
	return evs, err
}

// internalTransferTo is where a jetton wallet's transaction sent its
// internal_transfer, nil when it sent none.
func internalTransferTo(outs []*cell.Cell) *address.Address {
	for _, c := range outs {
		var m tlb.Message
		if err := tlb.LoadFromCell(&m, c.BeginParse()); err != nil || m.MsgType != tlb.MsgTypeInternal {
			continue
		}
		im := m.AsInternal()
		if im.Body == nil {
			continue
		}
		if op, err := im.Body.BeginParse().LoadUInt(32); err == nil && op == opJettonInternalTransfer {
			return im.DstAddr
		}
	}
	return nil
}

// jettonArrivalTx settles a jetton payment by the destination's jetton
// wallet's transaction of the internal_transfer the hot jetton wallet sent
// (its query id is the withdrawal id; only our hot jetton wallet can be
// its source): processed when the wallet accepted the jettons, failed when
// it refused them, in which case they bounce back to the hot jetton
// wallet. ours is false for a transaction that is not such a delivery.
func (o *Outcomes) jettonArrivalTx(ctx context.Context, tx pgx.Tx, ob blockscanner.Observed) (evs []notify.Event, ours bool, err error) {
	in := ob.Tx.IO.In
	if in == nil || in.MsgType != tlb.MsgTypeInternal {
		return nil, false, nil
	}
	im := in.AsInternal()
	if im.Bounced || im.Body == nil || im.SrcAddr == nil || im.SrcAddr.Type() != address.StdAddress || im.SrcAddr.Workchain() != 0 {
		return nil, false, nil
	}
	sym, fromHot := o.jettons[[32]byte(im.SrcAddr.Data())]
	if !fromHot {
		return nil, false, nil
	}
	s := im.Body.BeginParse()
	if op, err := s.LoadUInt(32); err != nil || op != opJettonInternalTransfer {
		return nil, false, nil
	}
	qid, err := s.LoadUInt(64)
	if err != nil || qid >= serviceQueryTag {
		return nil, false, nil
	}
	wid := int64(qid)
	var found bool
	if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM withdrawals WHERE id = $1 AND currency = $2 AND state = 'processing'
		AND destination_jetton_wallet_workchain = 0 AND destination_jetton_wallet = $3)`, wid, sym, ob.W.Owner[:]).Scan(&found); err != nil {
		return nil, true, fmt.Errorf("find jetton payment %d: %w", wid, err)
	}
	if !found {
		return nil, true, nil // settled before (a redone scanner batch)
	}
	refused, how := txRefused(ob.Tx)
	if !refused {
		evs, err = o.processedEvent(ctx, tx, wid, ob.Tx.Hash, txFee(ob.Tx))
		if err == nil && len(evs) > 0 {
			err = o.ledgerPaid(ctx, tx, ob, wid, nil)
		}
		return evs, true, err
	}
	reason := "bounced: the destination's jetton wallet refused the jettons (" + how + ") and they returned to the hot jetton wallet"
	if d, _ := ob.Tx.Description.(tlb.TransactionDescriptionOrdinary); d.BouncePhase == nil {
		reason = "the destination's jetton wallet refused the jettons (" + how + ") and could not bounce them back"
	} else if _, ok := d.BouncePhase.Phase.(tlb.BouncePhaseOk); !ok {
		reason = "the destination's jetton wallet refused the jettons (" + how + ") and could not bounce them back"
	}
	evs, err = o.failEventAt(ctx, tx, wid, reason, ob.Tx.Hash, txFee(ob.Tx))
	return evs, true, err
}

// jettonsBack logs jettons a destination's jetton wallet bounced back to
// the hot jetton wallet: expected for a payment failed by the destination
// (jettonArrivalTx), an alert for one settled earlier as processed (a
// request stored before its destination's jetton wallet was recorded).
func (o *Outcomes) jettonsBack(ctx context.Context, tx pgx.Tx, ob blockscanner.Observed, im *tlb.InternalMessage) error {
	// bounced body: 0xffffffff, then the first 256 bits of the original.
	var state string
	if im.Body == nil {
		o.log.Warn("an empty bounced message reached the hot jetton wallet", "tx", hex.EncodeToString(ob.Tx.Hash))
		return nil
	}
	s := im.Body.BeginParse()
	if _, err := s.LoadUInt(32); err == nil {
		if op, err := s.LoadUInt(32); err == nil && op == opJettonInternalTransfer {
			if qid, err := s.LoadUInt(64); err == nil && qid < serviceQueryTag {
				err := tx.QueryRow(ctx, `SELECT state FROM withdrawals WHERE id = $1`, int64(qid)).Scan(&state)
				if err != nil && !errors.Is(err, pgx.ErrNoRows) {
					return fmt.Errorf("withdrawal of bounced jettons: %w", err)
				}
				if state == string(StateFailed) {
					o.log.Info("jettons of a failed withdrawal returned to the hot jetton wallet", "withdrawal_id", qid, "tx", hex.EncodeToString(ob.Tx.Hash))
					return nil
				}
			}
		}
	}
	o.log.Warn("a jetton transfer bounced back to the hot jetton wallet after it was processed", "withdrawal_state", state, "tx", hex.EncodeToString(ob.Tx.Hash))
	return nil
}

func (o *Outcomes) fail(ctx context.Context, tx pgx.Tx, wid int64, reason string) error {
	evs, err := o.failEvent(ctx, tx, wid, reason)
	if err != nil || len(evs) == 0 {
		return err
	}
	_, err = notify.EnqueueAll(ctx, tx, evs)
	return err
}

func (o *Outcomes) failEvent(ctx context.Context, tx pgx.Tx, wid int64, reason string) ([]notify.Event, error) {
	return o.failEventAt(ctx, tx, wid, reason, nil, "")
}

// failEventAt fails a withdrawal. txHash and fee, when given, name the
// transaction that settled it (a jetton bounced by the destination's
// jetton wallet); otherwise the hot wallet's stays.
func (o *Outcomes) failEventAt(ctx context.Context, tx pgx.Tx, wid int64, reason string, txHash []byte, fee string) ([]notify.Event, error) {
	var feeArg *string
	if txHash != nil {
		feeArg = &fee
	}
	ev, batchID, err := o.ev.scanWithdrawal(tx.QueryRow(ctx, `UPDATE withdrawals SET state = 'failed', fail_reason = $2,
		tx_hash = coalesce($3, tx_hash), network_fee = CASE WHEN $3::bytea IS NULL THEN network_fee ELSE $4::numeric END
		WHERE id = $1 AND state = 'processing' RETURNING `+withdrawalEventColumns, wid, reason, txHash, feeArg))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil // settled before (a redone scanner batch)
	}
	if err != nil {
		return nil, fmt.Errorf("fail withdrawal %d: %w", wid, err)
	}
	ev.ID, ev.Status, ev.Reason = wid, string(StateFailed), reason
	msg := "withdrawal failed"
	if reason == reasonBounced {
		msg = "withdrawal bounced"
	}
	o.log.Warn(msg, append(withdrawalAttrs(wid, batchID, ev), "reason", reason)...)
	return []notify.Event{{Topic: notify.TopicWithdrawal, ID: fmt.Sprintf("withdrawal:%d:failed", wid), Payload: ev}}, nil
}

// processedEvent settles a withdrawal. txHash and fee, when given, name the
// settling transaction (jettons); otherwise the hot wallet's stays.
func (o *Outcomes) processedEvent(ctx context.Context, tx pgx.Tx, wid int64, txHash []byte, fee string) ([]notify.Event, error) {
	var feeArg *string
	if txHash != nil {
		feeArg = &fee
	}
	ev, batchID, err := o.ev.scanWithdrawal(tx.QueryRow(ctx, `UPDATE withdrawals SET state = 'processed', tx_hash = coalesce($2, tx_hash),
		network_fee = CASE WHEN $2::bytea IS NULL THEN network_fee ELSE $3::numeric END
		WHERE id = $1 AND state = 'processing' AND coalesce($2, tx_hash) IS NOT NULL RETURNING `+withdrawalEventColumns,
		wid, txHash, feeArg))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("settle withdrawal %d: %w", wid, err)
	}
	return []notify.Event{o.processed(wid, batchID, ev)}, nil
}

// processed logs withdrawal wid, just settled as paid (ev holding its
// withdrawalEventColumns), and returns its webhook event.
func (o *Outcomes) processed(wid int64, batchID *int64, ev WithdrawalEvent) notify.Event {
	ev.ID, ev.Status = wid, string(StateProcessed)
	o.log.Info("withdrawal processed", withdrawalAttrs(wid, batchID, ev)...)
	return notify.Event{Topic: notify.TopicWithdrawal, ID: fmt.Sprintf("withdrawal:%d:processed", wid), Payload: ev}
}

// haltOnExpiredExecuted records that batch, declared expired, executed:
// the withdrawal worker stops (see Worker.halted) until the halt is
// cleared. A redone scanner block records it once.
func (o *Outcomes) haltOnExpiredExecuted(ctx context.Context, tx pgx.Tx, batchID int64, txHash []byte) error {
	tag, err := tx.Exec(ctx, `INSERT INTO withdrawal_halts (reason, batch_id, tx_hash) VALUES ($1, $2, $3)
		ON CONFLICT ON CONSTRAINT withdrawal_halts_batch_key DO NOTHING`,
		fmt.Sprintf("batch %d was declared expired but executed in transaction %x: its withdrawals may be paid twice", batchID, txHash),
		batchID, txHash)
	if err != nil {
		return fmt.Errorf("record the halt: %w", err)
	}
	if tag.RowsAffected() == 1 {
		var wids []int64
		if err := tx.QueryRow(ctx, `SELECT coalesce(array_agg(withdrawal_id ORDER BY msg_index), '{}') FROM hot_batch_items
			WHERE batch_id = $1 AND withdrawal_id IS NOT NULL`, batchID).Scan(&wids); err != nil {
			return fmt.Errorf("read the halted batch: %w", err)
		}
		o.log.Error("CRITICAL: a withdrawal batch declared expired executed on chain; the withdrawal worker is stopped until "+
			"`processor resume-withdrawals` (check each listed withdrawal for a double payment first)",
			"batch_id", batchID, "tx_hash", hex.EncodeToString(txHash), "withdrawal_ids", wids)
	}
	return nil
}

// firstID is the one non-nil id of a batch item's target.
func firstID(ids ...*int64) *int64 {
	for _, id := range ids {
		if id != nil {
			return id
		}
	}
	return new(int64)
}
