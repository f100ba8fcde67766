package withdrawals

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/xssnick/tonutils-go/address"
	"github.com/xssnick/tonutils-go/tlb"
	"github.com/xssnick/tonutils-go/ton/wallet"
	"github.com/xssnick/tonutils-go/tvm/cell"

	"github.com/ton-custody/processor/internal/store"
	"github.com/ton-custody/processor/internal/ton"
	"github.com/ton-custody/processor/internal/wallets"
)

// The batch worker pays withdrawals from the hot wallet (highload wallet
// v3) exactly once:
//
//  1. While the scanner is in sync, it takes pending requests in id order,
//     skipping any the hot wallet cannot cover (they wait; cheaper ones
//     behind them go), and writes a batch: a never-reused query id, the
//     signed external message, its items, and the requests marked
//     processing — one PostgreSQL transaction, before anything is sent.
//  2. It sends those exact bytes, and sends them again every ResendEvery
//     until the scanner confirms the batch. Highload v3 executes a
//     (query_id, created_at) pair at most once, so re-sending is safe.
//  3. A batch the scanner has not seen when its created_at + timeout is
//     behind the scanner's cursor by ExpiryMargin can never execute any
//     more (the wallet refuses an expired created_at): only then is it
//     marked expired and its requests go back to pending. The database
//     enforces that a request is live in at most one batch.
//
// Outcomes (processed, failed) come from the scanner (Outcomes.Observe).

// Jetton is a configured jetton as the worker needs it.
type Jetton struct {
	Symbol          string
	Master          *address.Address
	HotJettonWallet *address.Address
}

// WorkerConfig configures the batch worker.
type WorkerConfig struct {
	Interval    time.Duration // between batches (WITHDRAWAL_BATCH_INTERVAL)
	MaxBatch    int           // messages per batch (default 1000)
	ResendEvery time.Duration // default 5s
	// ExpiryMargin is how far the scanner's cursor must be past a batch's
	// expiry before the batch is declared dead (default 30s): a shard
	// block at the expiry time may be referenced by a later masterchain block.
	ExpiryMargin time.Duration
	MinBalance   *big.Int // HOT_WALLET_MIN_BALANCE: the worker leaves this much TON
	Jettons      map[string]Jetton
	// JettonGas is the TON attached to a jetton transfer (default 0.05).
	JettonGas *big.Int
	// JettonForward is forward_ton_amount for jetton withdrawals with a
	// comment, so the recipient is notified with it (default 0.01 TON).
	JettonForward *big.Int
	// FaultHook, for fault-injection tests only, is called at named points
	// of a step ("before-commit", "written"); an error aborts the step
	// there as a crash would.
	FaultHook func(point string) error
}

// Worker batches and sends withdrawals. See the package comment above.
type Worker struct {
	db     *pgxpool.Pool
	chain  *ton.Client
	hot    *wallets.HotWallet
	conf   WorkerConfig
	synced func(ctx context.Context) bool
	log    *slog.Logger
	m      *workerMetrics
	// crash, set by tests, is called at named points; an error aborts there.
	crash func(point string) error
	wake  chan struct{}
}

// NewWorker creates the batch worker; synced reports the scanner's sync
// flag (no new batches while it is false).
func NewWorker(db *pgxpool.Pool, chain *ton.Client, hot *wallets.HotWallet, conf WorkerConfig, synced func(context.Context) bool,
	reg prometheus.Registerer, log *slog.Logger) *Worker {
	if conf.Interval <= 0 {
		conf.Interval = 5 * time.Second
	}
	if conf.MaxBatch <= 0 {
		conf.MaxBatch = 1000
	}
	if conf.ResendEvery <= 0 {
		conf.ResendEvery = 5 * time.Second
	}
	if conf.ExpiryMargin <= 0 {
		conf.ExpiryMargin = 30 * time.Second
	}
	if conf.MinBalance == nil {
		conf.MinBalance = new(big.Int)
	}
	if conf.JettonGas == nil {
		conf.JettonGas = tlb.MustFromTON("0.05").Nano()
	}
	if conf.JettonForward == nil {
		conf.JettonForward = tlb.MustFromTON("0.01").Nano()
	}
	if log == nil {
		log = slog.Default()
	}
	return &Worker{db: db, chain: chain, hot: hot, conf: conf, synced: synced, log: log, m: newWorkerMetrics(reg),
		wake: make(chan struct{}, 1), crash: conf.FaultHook}
}

// Wake asks for a batch now instead of at the next interval.
func (w *Worker) Wake() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// Run works until ctx ends; errors are logged and retried.
func (w *Worker) Run(ctx context.Context) error {
	t := time.NewTicker(w.conf.Interval)
	defer t.Stop()
	for ctx.Err() == nil {
		if err := w.Step(ctx); err != nil && ctx.Err() == nil {
			w.m.errors.Inc()
			w.log.Warn("withdrawal worker step failed; retrying", "err", err)
		}
		select {
		case <-ctx.Done():
		case <-t.C:
		case <-w.wake:
		}
	}
	return ctx.Err()
}

// Step expires dead batches, re-sends live ones and, while in sync, sends
// a new batch.
func (w *Worker) Step(ctx context.Context) error {
	if err := w.expire(ctx); err != nil {
		return err
	}
	if err := w.resend(ctx); err != nil {
		return err
	}
	if w.synced != nil && !w.synced(ctx) {
		return nil
	}
	id, boc, err := w.writeBatch(ctx)
	if err != nil || id == 0 {
		return err
	}
	if err := w.checkCrash("written"); err != nil {
		return err
	}
	return w.send(ctx, id, boc)
}

func (w *Worker) checkCrash(point string) error {
	if w.crash == nil {
		return nil
	}
	return w.crash(point)
}

type pendingRow struct {
	id         int64
	currency   string
	amount     *big.Int
	dest       *address.Address
	bounceable bool
	comment    *string
	binary     pgtype.Bits
}

// available is what the hot wallet can still pay: chain balance minus
// requests in batches that have not executed yet (confirmed ones are
// already reflected in the balance) minus the kept minimum.
func (w *Worker) available(ctx context.Context, tx pgx.Tx) (map[string]*big.Int, bool, error) {
	bal, status, err := w.chain.AccountState(ctx, w.hot.Address())
	if err != nil {
		return nil, false, fmt.Errorf("hot wallet balance: %w", err)
	}
	out := map[string]*big.Int{"TON": new(big.Int).Sub(bal, w.conf.MinBalance)}
	for sym, j := range w.conf.Jettons {
		b, err := w.chain.JettonBalance(ctx, j.HotJettonWallet)
		if err != nil {
			return nil, false, fmt.Errorf("hot wallet %s balance: %w", sym, err)
		}
		out[sym] = b
	}
	rows, err := tx.Query(ctx, `
		SELECT w.currency, sum(w.amount)::text, count(*)
		FROM withdrawals w JOIN hot_batches b ON b.id = w.batch_id
		WHERE w.state = 'processing' AND b.state = 'sent' GROUP BY w.currency`)
	if err != nil {
		return nil, false, fmt.Errorf("in-flight totals: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var cur, sum string
		var n int64
		if err := rows.Scan(&cur, &sum, &n); err != nil {
			return nil, false, err
		}
		v, _ := new(big.Int).SetString(sum, 10)
		if a, ok := out[cur]; ok {
			a.Sub(a, v)
		}
		if cur != "TON" {
			out["TON"].Sub(out["TON"], new(big.Int).Mul(w.jettonTON(true), big.NewInt(n)))
		}
	}
	return out, status == ton.StatusActive, rows.Err()
}

// Per-message TON cost reserve: forward and gas fees of one transfer plus
// the highload wallet's share of processing (tonutils-go attaches 0.007 TON
// per packed message).
var feeReserve = tlb.MustFromTON("0.01").Nano()

func (w *Worker) jettonTON(withComment bool) *big.Int {
	v := new(big.Int).Set(w.conf.JettonGas)
	if withComment {
		v.Add(v, w.conf.JettonForward)
	}
	return v
}

// writeBatch selects payable requests and writes a signed batch. It
// returns the batch id (0: nothing to pay) and the message to send.
func (w *Worker) writeBatch(ctx context.Context) (int64, []byte, error) {
	var batchID int64
	var boc []byte
	err := store.InTx(ctx, w.db, func(tx pgx.Tx) error {
		avail, deployed, err := w.available(ctx, tx)
		if err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `
			SELECT id, currency, amount::text, destination_workchain, destination_address, bounceable, comment, binary_comment
			FROM withdrawals WHERE state = 'pending' ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED`, w.conf.MaxBatch*4)
		if err != nil {
			return fmt.Errorf("pending withdrawals: %w", err)
		}
		var picked []pendingRow
		for rows.Next() {
			var r pendingRow
			var amount string
			var wc int32
			var dest []byte
			if err := rows.Scan(&r.id, &r.currency, &amount, &wc, &dest, &r.bounceable, &r.comment, &r.binary); err != nil {
				rows.Close()
				return fmt.Errorf("pending withdrawals: %w", err)
			}
			if len(picked) >= w.conf.MaxBatch {
				continue
			}
			r.amount, _ = new(big.Int).SetString(amount, 10)
			r.dest = address.NewAddress(0, byte(wc), dest)
			r.dest.SetBounce(r.bounceable)
			// Funds-aware: a request the wallet cannot cover now waits
			// without holding back the ones behind it.
			tonCost := new(big.Int).Add(r.amount, feeReserve)
			if r.currency != "TON" {
				a, ok := avail[r.currency]
				jt := w.jettonTON(r.comment != nil || r.binary.Valid)
				if !ok || a.Cmp(r.amount) < 0 || avail["TON"].Cmp(jt) < 0 {
					continue
				}
				a.Sub(a, r.amount)
				avail["TON"].Sub(avail["TON"], jt)
			} else {
				if avail["TON"].Cmp(tonCost) < 0 {
					continue
				}
				avail["TON"].Sub(avail["TON"], tonCost)
			}
			picked = append(picked, r)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		if len(picked) == 0 {
			return nil
		}
		msgs := make([]*wallet.Message, len(picked))
		for i, r := range picked {
			if msgs[i], err = w.message(r); err != nil {
				return fmt.Errorf("withdrawal %d: %w", r.id, err)
			}
		}
		var seq int64
		var queryID int32
		if err := tx.QueryRow(ctx, `SELECT s, highload_query_id(s) FROM nextval('hot_query_seq') s`).Scan(&seq, &queryID); err != nil {
			return fmt.Errorf("allocate query id: %w", err)
		}
		// created_at a little in the past: the wallet refuses one ahead of
		// the block time, and clocks drift. A third of the timeout at most,
		// so most of the validity window is left.
		skew := int64(10)
		if t := int64(w.hot.Timeout()) / 3; t < skew {
			skew = t
		}
		createdAt := time.Now().Unix() - skew
		hw, err := w.hot.Wallet(nil, func(context.Context, uint32) (uint32, int64, error) { return uint32(queryID), createdAt, nil })
		if err != nil {
			return err
		}
		// A copy: tonutils-go's packing overwrites element 253 of the slice
		// it is given with the nested pack message.
		ext, err := hw.PrepareExternalMessageForMany(ctx, !deployed, append([]*wallet.Message(nil), msgs...))
		if err != nil {
			return fmt.Errorf("sign batch: %w", err)
		}
		extCell, err := tlb.ToCell(ext)
		if err != nil {
			return fmt.Errorf("sign batch: %w", err)
		}
		boc = extCell.ToBOCWithFlags(false)
		if err := tx.QueryRow(ctx, `
			INSERT INTO hot_batches (query_seq, created_at_chain, timeout_seconds, signed_message, message_hash)
			VALUES ($1, $2, $3, $4, $5) RETURNING id`, seq, createdAt, int32(w.hot.Timeout()), boc, ext.Body.Hash()).Scan(&batchID); err != nil {
			return fmt.Errorf("write batch: %w", err)
		}
		ids := make([]int64, len(picked))
		idx := make([]int32, len(picked))
		hashes := make([][]byte, len(picked))
		destWC := make([]int32, len(picked))
		dests := make([][]byte, len(picked))
		for i, r := range picked {
			mc, err := tlb.ToCell(msgs[i].InternalMessage)
			if err != nil {
				return err
			}
			ids[i], idx[i], hashes[i] = r.id, int32(i), mc.Hash()
			to := msgs[i].InternalMessage.DstAddr
			destWC[i], dests[i] = to.Workchain(), to.Data()
		}
		if _, err := tx.Exec(ctx, `
			INSERT INTO hot_batch_items (batch_id, msg_index, kind, withdrawal_id, msg_hash, dest_workchain, dest_address)
			SELECT $1, i, 'withdrawal', w, h, dwc, d FROM unnest($2::int[], $3::bigint[], $4::bytea[], $5::int[], $6::bytea[]) AS t(i, w, h, dwc, d)`,
			batchID, idx, ids, hashes, destWC, dests); err != nil {
			return fmt.Errorf("write batch items: %w", err)
		}
		tag, err := tx.Exec(ctx, `UPDATE withdrawals SET state = 'processing', batch_id = $1 WHERE id = ANY($2) AND state = 'pending'`, batchID, ids)
		if err != nil {
			return fmt.Errorf("mark processing: %w", err)
		}
		if tag.RowsAffected() != int64(len(ids)) {
			return errors.New("withdrawals changed under the batch (lost a row lock?)")
		}
		w.m.batched.Add(float64(len(ids)))
		return w.checkCrash("before-commit")
	})
	if err != nil {
		return 0, nil, err
	}
	if batchID != 0 {
		w.m.batches.Inc()
		w.log.Debug("batch written", "batch", batchID)
	}
	return batchID, boc, nil
}

// message builds the hot wallet's message for one withdrawal. Mode 3 (pay
// fees separately, ignore errors): one failing message cannot stop the
// rest of the batch; the scanner reports a skipped one as failed.
func (w *Worker) message(r pendingRow) (*wallet.Message, error) {
	payload, err := commentCell(r.comment, r.binary)
	if err != nil {
		return nil, err
	}
	if r.currency == "TON" {
		return &wallet.Message{Mode: wallet.PayGasSeparately + wallet.IgnoreErrors, InternalMessage: &tlb.InternalMessage{
			IHRDisabled: true, Bounce: r.bounceable, DstAddr: r.dest, Amount: tlb.FromNanoTON(r.amount), Body: payload}}, nil
	}
	j, ok := w.conf.Jettons[r.currency]
	if !ok {
		return nil, fmt.Errorf("currency %s is not configured", r.currency)
	}
	fwd := new(big.Int)
	if payload != nil {
		fwd.Set(w.conf.JettonForward)
	}
	// transfer#0f8a7ea5 query_id:uint64 amount:(VarUInteger 16) destination:MsgAddress
	//   response_destination:MsgAddress custom_payload:(Maybe ^Cell)
	//   forward_ton_amount:(VarUInteger 16) forward_payload:(Either Cell ^Cell)
	// query_id is the withdrawal id: the hot jetton wallet's transaction
	// names the withdrawal it serves.
	b := cell.BeginCell().MustStoreUInt(0x0f8a7ea5, 32).MustStoreUInt(uint64(r.id), 64).MustStoreBigCoins(r.amount).
		MustStoreAddr(r.dest).MustStoreAddr(w.hot.Address()).MustStoreBoolBit(false).MustStoreBigCoins(fwd)
	if payload != nil {
		b.MustStoreBoolBit(true).MustStoreRef(payload)
	} else {
		b.MustStoreBoolBit(false)
	}
	value := new(big.Int).Add(w.conf.JettonGas, fwd)
	return &wallet.Message{Mode: wallet.PayGasSeparately + wallet.IgnoreErrors, InternalMessage: &tlb.InternalMessage{
		IHRDisabled: true, Bounce: true, DstAddr: j.HotJettonWallet, Amount: tlb.FromNanoTON(value), Body: b.EndCell()}}, nil
}

// commentCell is a withdrawal's body: a text comment (op 0 + snake), the
// binary comment bits, or nothing.
func commentCell(comment *string, bin pgtype.Bits) (*cell.Cell, error) {
	switch {
	case comment != nil:
		return wallet.CreateCommentCell(*comment)
	case bin.Valid:
		return cell.BeginCell().MustStoreSlice(bin.Bytes, uint(bin.Len)).EndCell(), nil
	}
	return nil, nil
}

// send transmits a written batch and records the attempt.
func (w *Worker) send(ctx context.Context, batchID int64, boc []byte) error {
	err := w.chain.SendExternalBOC(ctx, boc)
	if _, uerr := w.db.Exec(ctx, `UPDATE hot_batches SET send_attempts = send_attempts + 1,
		first_sent_at = coalesce(first_sent_at, now()), last_sent_at = now() WHERE id = $1`, batchID); uerr != nil {
		return fmt.Errorf("record send of batch %d: %w", batchID, uerr)
	}
	w.m.sends.Inc()
	if err != nil {
		// Refused at sendMessage: already executed (a replay) or not yet
		// valid. Either way the same bytes are sent again until the scanner
		// decides; the error is only informative.
		w.log.Debug("batch send refused", "batch", batchID, "err", err)
	}
	return nil
}

// resend re-sends live batches that are still valid.
func (w *Worker) resend(ctx context.Context) error {
	rows, err := w.db.Query(ctx, `SELECT id, signed_message FROM hot_batches
		WHERE state = 'sent' AND expires_at_chain > $1 AND (last_sent_at IS NULL OR last_sent_at < now() - $2::interval)
		ORDER BY id`, time.Now().Unix(), w.conf.ResendEvery.String())
	if err != nil {
		return fmt.Errorf("batches to re-send: %w", err)
	}
	type b struct {
		id  int64
		boc []byte
	}
	var list []b
	for rows.Next() {
		var x b
		if err := rows.Scan(&x.id, &x.boc); err != nil {
			rows.Close()
			return err
		}
		list = append(list, x)
	}
	rows.Close()
	for _, x := range list {
		if err := w.send(ctx, x.id, x.boc); err != nil {
			return err
		}
	}
	return rows.Err()
}

// expire declares dead the batches that can no longer execute and returns
// their requests to pending, in one transaction each.
func (w *Worker) expire(ctx context.Context) error {
	rows, err := w.db.Query(ctx, `SELECT b.id FROM hot_batches b, scanner_cursor c
		WHERE b.state = 'sent' AND c.gen_utime > b.expires_at_chain + $1 ORDER BY b.id`, int64(w.conf.ExpiryMargin/time.Second))
	if err != nil {
		return fmt.Errorf("expired batches: %w", err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return fmt.Errorf("expired batches: %w", err)
	}
	for _, id := range ids {
		err := store.InTx(ctx, w.db, func(tx pgx.Tx) error {
			// Re-check under the row lock, against the cursor as it is now.
			tag, err := tx.Exec(ctx, `UPDATE hot_batches b SET state = 'expired' FROM scanner_cursor c
				WHERE b.id = $1 AND b.state = 'sent' AND c.gen_utime > b.expires_at_chain + $2`, id, int64(w.conf.ExpiryMargin/time.Second))
			if err != nil || tag.RowsAffected() == 0 {
				return err
			}
			n, err := tx.Exec(ctx, `UPDATE withdrawals SET state = 'pending', batch_id = NULL, tx_hash = NULL
				WHERE batch_id = $1 AND state = 'processing'`, id)
			if err != nil {
				return err
			}
			w.m.expired.Inc()
			w.log.Warn("batch expired without executing; its withdrawals are pending again", "batch", id, "withdrawals", n.RowsAffected())
			return nil
		})
		if err != nil {
			return fmt.Errorf("expire batch %d: %w", id, err)
		}
	}
	return nil
}

type workerMetrics struct {
	batches, batched, sends, expired, errors prometheus.Counter
}

func newWorkerMetrics(reg prometheus.Registerer) *workerMetrics {
	m := &workerMetrics{
		batches: prometheus.NewCounter(prometheus.CounterOpts{Name: "processor_withdrawal_batches_total", Help: "Hot wallet batches written."}),
		batched: prometheus.NewCounter(prometheus.CounterOpts{Name: "processor_withdrawals_batched_total", Help: "Withdrawals put into batches (again after an expiry)."}),
		sends:   prometheus.NewCounter(prometheus.CounterOpts{Name: "processor_withdrawal_batch_sends_total", Help: "Sends and re-sends of batches."}),
		expired: prometheus.NewCounter(prometheus.CounterOpts{Name: "processor_withdrawal_batches_expired_total", Help: "Batches declared dead after their timeout."}),
		errors:  prometheus.NewCounter(prometheus.CounterOpts{Name: "processor_withdrawal_worker_errors_total", Help: "Failed worker steps (retried)."}),
	}
	if reg != nil {
		reg.MustRegister(m.batches, m.batched, m.sends, m.expired, m.errors)
	}
	return m
}
