package withdrawals

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/xssnick/tonutils-go/address"
	"github.com/xssnick/tonutils-go/tlb"
	"github.com/xssnick/tonutils-go/tvm/cell"

	"github.com/ton-custody/processor/internal/blockscanner"
)

// newReturnedCounter counts batch items returned because the hot wallet
// did not send the packed list that carried them. It counts in the
// scanner's transaction, so a retried scanner batch may count twice.
func newReturnedCounter() prometheus.Counter {
	return prometheus.NewCounter(prometheus.CounterOpts{Name: "processor_withdrawal_batch_items_returned_total",
		Help: "Hot batch items (withdrawals, gas top-ups, cold transfers) returned because the executed batch did not send the packed list holding them."})
}

// Collectors are the outcome hook's metrics, for the caller's registry.
func (o *Outcomes) Collectors() []prometheus.Collector {
	return []prometheus.Collector{o.returned, o.hotRefused}
}

// packLeaves returns the messages a packed list holds, the nested lists'
// included, in list order.
func packLeaves(body *cell.Cell, hot *address.Address) ([]*cell.Cell, error) {
	actions, err := packActions(body)
	if err != nil {
		return nil, err
	}
	var out []*cell.Cell
	for _, a := range actions {
		var m tlb.InternalMessage
		if err := tlb.LoadFromCell(&m, a.BeginParse()); err != nil {
			return nil, fmt.Errorf("packed message: %w", err)
		}
		if m.DstAddr != nil && m.DstAddr.Equals(hot) && m.Body != nil {
			if inner, err := packLeaves(m.Body, hot); err == nil {
				out = append(out, inner...)
				continue
			}
		}
		out = append(out, a)
	}
	return out, nil
}

const reasonUnsent = "the hot wallet executed the batch without sending the packed list holding it"

// returnUnsent handles a packed list (body) that the batch's transaction
// ob was to send to the hot wallet itself but did not: skipped for want
// of funds (mode +2), or the transaction's action phase failed. The batch
// executed, so its query id is spent and nothing of that list can go out
// any more. Its items are returned, in the scanner's transaction:
// withdrawals, gas top-ups and service withdrawals are pending again (the
// next batch pays them, against the funds there are then); a cold transfer
// fails, its excess worked out again from the balance. Deeper lists hold
// the later messages, so of identical messages the last items are taken.
func (o *Outcomes) returnUnsent(ctx context.Context, tx pgx.Tx, batchID int64, body *cell.Cell, ob blockscanner.Observed) error {
	leaves, err := packLeaves(body, o.hot)
	if err != nil {
		if errors.Is(err, errNotPack) {
			return nil // not a list of ours
		}
		return fmt.Errorf("unsent packed list of batch %d: %w", batchID, err)
	}
	var wids []int64
	items := 0
	for _, leaf := range leaves {
		var msgIndex int32
		var kind string
		var widp, sweepID, serviceID, coldID *int64
		err := tx.QueryRow(ctx, `SELECT msg_index, kind, withdrawal_id, sweep_id, service_withdrawal_id, cold_transfer_id FROM hot_batch_items
			WHERE batch_id = $1 AND msg_hash = $2 AND sent_tx_hash IS NULL ORDER BY msg_index DESC LIMIT 1`,
			batchID, leaf.Hash()).Scan(&msgIndex, &kind, &widp, &sweepID, &serviceID, &coldID)
		if errors.Is(err, pgx.ErrNoRows) {
			continue // already settled (a redone scanner batch)
		}
		if err != nil {
			return fmt.Errorf("find unsent batch item: %w", err)
		}
		if _, err := tx.Exec(ctx, `UPDATE hot_batch_items SET sent_tx_hash = $3, returned = true WHERE batch_id = $1 AND msg_index = $2`,
			batchID, msgIndex, ob.Tx.Hash); err != nil {
			return fmt.Errorf("return batch item %d/%d: %w", batchID, msgIndex, err)
		}
		switch kind {
		case "withdrawal":
			tag, err := tx.Exec(ctx, `UPDATE withdrawals SET state = 'pending', batch_id = NULL, tx_hash = NULL, network_fee = NULL
				WHERE id = $1 AND batch_id = $2 AND state = 'processing'`, *widp, batchID)
			if err != nil {
				return fmt.Errorf("return withdrawal %d to pending: %w", *widp, err)
			}
			if tag.RowsAffected() == 1 {
				wids = append(wids, *widp)
			}
		case "sweep_topup":
			_, err = tx.Exec(ctx, `UPDATE sweeps SET state = 'pending' WHERE id = $1 AND state = 'topping_up'`, *sweepID)
		case "service":
			_, err = tx.Exec(ctx, `UPDATE service_withdrawals SET state = 'pending', batch_id = NULL
				WHERE id = $1 AND batch_id = $2 AND state = 'processing' AND wallet_message_id IS NULL`, *serviceID, batchID)
		case "cold":
			_, err = tx.Exec(ctx, `UPDATE cold_transfers SET state = 'failed', fail_reason = $2 WHERE id = $1 AND state = 'processing'`,
				*coldID, reasonUnsent)
		}
		if err != nil {
			return fmt.Errorf("return %s item of batch %d: %w", kind, batchID, err)
		}
		items++
		o.returned.Inc()
	}
	if items > 0 {
		o.log.Warn("the hot wallet did not send a packed list of a batch; its items are pending again", "batch_id", batchID,
			"tx_hash", hex.EncodeToString(ob.Tx.Hash), "withdrawal_ids", wids, "count", len(wids), "items", items)
	}
	return nil
}
