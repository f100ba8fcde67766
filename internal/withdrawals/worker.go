package withdrawals

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/xssnick/tonutils-go/address"
	"github.com/xssnick/tonutils-go/tlb"
	"github.com/xssnick/tonutils-go/ton/wallet"
	"github.com/xssnick/tonutils-go/tvm/cell"

	"github.com/ton-custody/processor/internal/config"
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
	// SweepThreshold is the deposit balance (base units) above which a
	// deposit of this jetton is swept to the hot wallet; nil: never.
	SweepThreshold *big.Int
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
	// Sweeps configures sweeps and service withdrawals (deposit wallets
	// to the hot wallet).
	Sweeps SweepConfig
	// Cold, when Address is set, moves hot wallet TON above Max to the
	// cold wallet, down to Residual (COLD_WALLET, HOT_WALLET_MAX_BALANCE,
	// HOT_WALLET_RESIDUAL).
	Cold ColdConfig
	// Network is how webhook events the worker writes (service
	// withdrawals with nothing to move) print addresses.
	Network config.Network
	// FaultHook, for fault-injection tests only, is called at named points
	// of a step ("before-commit", "written", and for deposit wallet
	// messages "deposit-before-commit", "deposit-written"); an error aborts
	// the step there as a crash would.
	FaultHook func(point string) error
}

// ColdConfig configures hot -> cold transfers.
type ColdConfig struct {
	Address       *address.Address
	Max, Residual *big.Int
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
	ev    eventFormat
	// haltLogged rate-limits the halt's log line.
	haltLogged time.Time
	// feePrices are the chain's fee prices as last read (batchcost.go).
	feePrices   feePrices
	feePricesAt time.Time
	// gone counts jettons written off from deposits (writeoffs.go).
	gone *prometheus.CounterVec
	// hot0 is the hot wallet's last balance read (hotBalances).
	hotMu sync.Mutex
	hot0  *hotState
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
	conf.Sweeps = conf.Sweeps.withDefaults()
	return &Worker{db: db, chain: chain, hot: hot, conf: conf, synced: synced, log: log, m: newWorkerMetrics(reg), gone: newGoneCounterIn(reg),
		wake: make(chan struct{}, 1), crash: conf.FaultHook, ev: newEventFormat(conf.Network, conf.Jettons)}
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
// new batches.
func (w *Worker) Step(ctx context.Context) error {
	// A halt stops everything that rests on the expiry rule: no expiry,
	// no re-send of a live batch (it may hold withdrawals of the batch
	// that executed after all), no new batch.
	var halt string
	err := w.db.QueryRow(ctx, `SELECT reason FROM withdrawal_halts WHERE cleared_at IS NULL ORDER BY id LIMIT 1`).Scan(&halt)
	switch {
	case err == nil:
		w.m.halted.Set(1)
		if time.Since(w.haltLogged) > time.Minute {
			w.haltLogged = time.Now()
			w.log.Error("CRITICAL: withdrawals are stopped; check the listed batch's withdrawals, then run `processor resume-withdrawals`", "reason", halt)
		}
		return nil
	case !errors.Is(err, pgx.ErrNoRows):
		return fmt.Errorf("read withdrawal halts: %w", err)
	}
	w.m.halted.Set(0)
	if err := w.updatePaused(ctx); err != nil {
		return err
	}
	if err := w.expire(ctx); err != nil {
		return err
	}
	if err := w.expireDeposit(ctx); err != nil {
		return err
	}
	if err := w.resend(ctx); err != nil {
		return err
	}
	if err := w.resendDeposit(ctx); err != nil {
		return err
	}
	if w.synced != nil && !w.synced(ctx) {
		return nil
	}
	if err := w.planSweeps(ctx); err != nil {
		return err
	}
	if err := w.writeBatches(ctx); err != nil {
		return err
	}
	return w.depositJobs(ctx)
}

// Bounds of one step's batches: how many it writes (so expiry and re-sends
// keep their pace), and how many sends may wait on the liteserver at once.
const (
	maxBatchesPerStep = 50
	parallelSends     = 8
)

// writeBatches writes and sends new batches. Several may be in flight,
// each with its own query id and its own reserve: while a batch is cut by
// its limits, the next one is written at once, while the previous ones
// are being sent (a send waits on the liteserver's checks). Each batch is
// committed before its first send, so a send lost to a crash is only a
// re-send later.
func (w *Worker) writeBatches(ctx context.Context) error {
	var wg sync.WaitGroup
	var mu sync.Mutex
	var sendErr error
	slots := make(chan struct{}, parallelSends)
	defer wg.Wait()
	for i := 0; ; i++ {
		if i == maxBatchesPerStep {
			w.Wake() // more to write: the next step follows at once
			break
		}
		id, boc, more, err := w.writeBatch(ctx)
		if err != nil {
			return err
		}
		if id == 0 {
			break
		}
		if err := w.checkCrash("written"); err != nil {
			return err
		}
		slots <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-slots }()
			if err := w.send(ctx, id, boc); err != nil {
				mu.Lock()
				sendErr = errors.Join(sendErr, err)
				mu.Unlock()
			}
		}()
		if !more {
			break
		}
	}
	wg.Wait()
	return sendErr
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
	msg        *wallet.Message // the hot wallet's message for it, once picked
}

// inFlightSQL reads, per currency, the withdrawals in flight that
// available() reserves from their items: jettons in sent or confirmed
// batches, and anything in a sent batch written before reserves were
// recorded (legacy), with the legacy sum and count.
//
// The two kinds are read apart so that each is found from its own
// side through an index, whatever the planner believes: jetton
// withdrawals in flight by currency (two ranges, which an index can
// serve, rather than <> 'TON'; materialized, so that the batches are
// looked up by id rather than scanned by state, confirmed ones
// included), TON ones of legacy batches from the few batches in flight.
// Planned the other way round, with 5,000 withdrawals in flight, the
// read took 12-17 ms a pick (issue 11).
const inFlightSQL = `
	WITH j AS MATERIALIZED (
		SELECT currency, amount, batch_id FROM withdrawals
		WHERE state = 'processing' AND (currency < 'TON' OR currency > 'TON'))
	SELECT currency, sum(amount)::text, coalesce(sum(amount) FILTER (WHERE legacy), 0)::text, count(*) FILTER (WHERE legacy)
	FROM (SELECT j.currency, j.amount, b.state = 'sent' AND b.ton_reserve IS NULL AS legacy
	        FROM j JOIN hot_batches b ON b.id = j.batch_id
	       WHERE b.state IN ('sent', 'confirmed')
	      UNION ALL
	      SELECT w.currency, w.amount, true
	        FROM hot_batches b JOIN withdrawals w ON w.batch_id = b.id
	       WHERE b.state = 'sent' AND b.ton_reserve IS NULL AND w.state = 'processing' AND w.currency = 'TON') f
	GROUP BY currency`

// available is what the hot wallet can still pay: chain balance minus
// requests in batches that have not executed yet (confirmed ones are
// already reflected in the balance) minus the kept minimum.
//
// The reservations are read first, the balances last, all of them at one
// block pinned at or after the scanner's cursor as read after the
// reservations: every batch no longer reserved was confirmed at or before
// that cursor, so its money is gone from the balances too.
func (w *Worker) available(ctx context.Context, tx pgx.Tx) (map[string]*big.Int, bool, error) {
	out := map[string]*big.Int{"TON": new(big.Int).Neg(w.conf.MinBalance)}
	for sym := range w.conf.Jettons {
		out[sym] = new(big.Int)
	}
	// Jettons in flight per currency. Their TON, and all TON in flight, is
	// in the batches' reserves (hot_batches.ton_reserve: everything a
	// batch sends, its wrappers and its fees); a batch written before
	// reserves were recorded is counted from its items as it used to be,
	// with the old per-message fee reserve.
	//
	// A jetton withdrawal stays reserved after its batch is confirmed,
	// until it settles: the hot jetton wallet moves the jettons a block or
	// more after the hot wallet's transaction, and a balance read in
	// between still holds them. (Once moved they are counted twice until
	// the destination settles: a short, safe under-commit.)
	//
	rows, err := tx.Query(ctx, inFlightSQL)
	if err != nil {
		return nil, false, fmt.Errorf("in-flight totals: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var cur, sum, legacySum string
		var legacy int64
		if err := rows.Scan(&cur, &sum, &legacySum, &legacy); err != nil {
			return nil, false, fmt.Errorf("in-flight totals: %w", err)
		}
		v, _ := new(big.Int).SetString(sum, 10)
		lv, _ := new(big.Int).SetString(legacySum, 10)
		if cur == "TON" {
			out["TON"].Sub(out["TON"], lv)
		} else {
			if a, ok := out[cur]; ok {
				a.Sub(a, v)
			}
			out["TON"].Sub(out["TON"], new(big.Int).Mul(w.jettonTON(true), big.NewInt(legacy)))
		}
		out["TON"].Sub(out["TON"], new(big.Int).Mul(feeReserve, big.NewInt(legacy)))
	}
	if err := rows.Err(); err != nil {
		return nil, false, fmt.Errorf("in-flight totals: %w", err)
	}
	rows.Close()
	var reserved, legacyCold string
	var legacyTopups int64
	if err := tx.QueryRow(ctx, `SELECT
			(SELECT coalesce(sum(ton_reserve), 0)::text FROM hot_batches WHERE state = 'sent'),
			(SELECT count(*) FROM hot_batch_items i JOIN hot_batches b ON b.id = i.batch_id
				WHERE b.state = 'sent' AND b.ton_reserve IS NULL AND i.kind IN ('sweep_topup', 'service')),
			(SELECT coalesce(sum(c.amount), 0)::text FROM cold_transfers c JOIN hot_batches b ON b.id = c.batch_id
				WHERE b.state = 'sent' AND b.ton_reserve IS NULL AND c.state = 'processing')`).Scan(&reserved, &legacyTopups, &legacyCold); err != nil {
		return nil, false, fmt.Errorf("in-flight reserves: %w", err)
	}
	r, _ := new(big.Int).SetString(reserved, 10)
	lc, _ := new(big.Int).SetString(legacyCold, 10)
	out["TON"].Sub(out["TON"], r)
	out["TON"].Sub(out["TON"], lc)
	out["TON"].Sub(out["TON"], new(big.Int).Mul(new(big.Int).Add(w.conf.Sweeps.TopUp, feeReserve), big.NewInt(legacyTopups)))
	st, err := w.hotBalances(ctx, tx)
	if err != nil {
		return nil, false, err
	}
	for cur, v := range st.balances {
		out[cur].Add(out[cur], v)
	}
	return out, st.active, nil
}

// hotState is the hot wallet's balances read at one masterchain block.
type hotState struct {
	at       uint32
	balances map[string]*big.Int // "TON" and each jetton
	active   bool
}

// hotBalances returns the hot wallet's balances at a block at or after
// the scanner's cursor as q sees it now (read after the reservations).
//
// Balances read at block B are reused while the cursor has not passed B:
// every batch no longer reserved was confirmed at or before the cursor,
// so at or before B, and B's balances already lack its money; a batch
// still reserved that executed by B is counted twice, a safe under-commit.
// Reading once per block instead of once per batch matters when many
// small batches are written in a row (long comments cut them by size):
// each read waits on the liteserver.
func (w *Worker) hotBalances(ctx context.Context, q rowQuerier) (*hotState, error) {
	cursor, err := w.cursor(ctx, q)
	if err != nil {
		return nil, err
	}
	w.hotMu.Lock()
	defer w.hotMu.Unlock()
	if w.hot0 != nil && w.hot0.at >= cursor {
		w.m.balanceReads.WithLabelValues("reused").Inc()
		return w.hot0, nil
	}
	at, err := w.chain.PinnedAt(ctx, cursor)
	if err != nil {
		return nil, fmt.Errorf("pin a block at or after the scanner's cursor %d: %w", cursor, err)
	}
	bal, status, err := w.chain.AccountStateAt(ctx, at, w.hot.Address())
	if err != nil {
		return nil, fmt.Errorf("hot wallet balance: %w", err)
	}
	st := &hotState{at: at.SeqNo, balances: map[string]*big.Int{"TON": bal}, active: status == ton.StatusActive}
	for sym, j := range w.conf.Jettons {
		b, err := w.chain.JettonBalanceAt(ctx, at, j.HotJettonWallet)
		if err != nil {
			return nil, fmt.Errorf("hot wallet %s balance: %w", sym, err)
		}
		st.balances[sym] = b
	}
	w.m.balanceReads.WithLabelValues("read").Inc()
	w.hot0 = st
	return st, nil
}

// feeReserve is the per-message TON reserve batches were written with
// before hot_batches.ton_reserve (available counts such batches with it),
// and a small per-message margin for gas top-ups and cold transfers. It
// does not cover a packed batch: see batchcost.go for what does.
var feeReserve = tlb.MustFromTON("0.01").Nano()

func (w *Worker) jettonTON(withComment bool) *big.Int {
	v := new(big.Int).Set(w.conf.JettonGas)
	if withComment {
		v.Add(v, w.conf.JettonForward)
	}
	return v
}

// writeBatch selects payable requests and writes a signed batch. It
// returns the batch id (0: nothing to pay), the message to send, and
// whether the batch was cut by its limits (more may be payable now).
func (w *Worker) writeBatch(ctx context.Context) (int64, []byte, bool, error) {
	var batchID int64
	var boc []byte
	var more bool
	// What the batch holds, logged once it is committed.
	var built struct {
		queryID int32
		ids     []int64
		rows    []pendingRow
		msgs    int
	}
	err := store.InTx(ctx, w.db, func(tx pgx.Tx) error {
		avail, deployed, err := w.available(ctx, tx)
		if err != nil {
			return err
		}
		// The batch reserves everything it needs on the hot wallet (values,
		// the wrappers tonutils-go packs them in, fees, a margin: see
		// batchcost.go) and stays under the external message limits.
		prices := w.prices(ctx)
		budget := newBudget(prices, w.conf.MaxBatch, !deployed)
		picked, cut, err := w.pickWithdrawals(ctx, tx, avail, budget)
		if err != nil {
			return err
		}
		more = cut
		// Top-ups and the cold transfer come after the withdrawals, in what
		// the batch leaves; they are small, and cut first if the batch is
		// still too big.
		left := new(big.Int).Sub(avail["TON"], budget.reserveWith(nil))
		room := min(w.conf.MaxBatch-len(picked), max(0, (MaxExternalBytes-budget.bytes)/topUpBytes))
		topups, err := w.pickTopUps(ctx, tx, left, room)
		if err != nil {
			return err
		}
		for _, t := range topups {
			it, err := newBatchItem(t.msg)
			if err != nil {
				return err
			}
			budget.add(it)
		}
		cold, err := w.pickCold(ctx, tx, avail["TON"], budget, picked)
		if err != nil {
			return err
		}
		if len(picked) == 0 && len(topups) == 0 && cold == nil {
			return nil
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
		// Sign, then check the signed message itself against the limits
		// and its exact reserve against the funds; the bounds above should
		// always hold, but if not, cut messages (top-ups first) and sign
		// again rather than write a batch that cannot execute.
		var msgs []*wallet.Message
		var ext *tlb.ExternalMessage
		var reserve *big.Int
		for {
			msgs = make([]*wallet.Message, 0, len(picked)+len(topups)+1)
			for _, r := range picked {
				msgs = append(msgs, r.msg)
			}
			for _, t := range topups {
				msgs = append(msgs, t.msg)
			}
			if cold != nil {
				msgs = append(msgs, cold.msg)
			}
			if len(msgs) == 0 {
				return nil
			}
			// A copy: tonutils-go's packing overwrites element 253 of the
			// slice it is given with the nested pack message.
			if ext, err = hw.PrepareExternalMessageForMany(ctx, !deployed, append([]*wallet.Message(nil), msgs...)); err != nil {
				return fmt.Errorf("sign batch: %w", err)
			}
			extCell, err := tlb.ToCell(ext)
			if err != nil {
				return fmt.Errorf("sign batch: %w", err)
			}
			boc = extCell.ToBOCWithFlags(false)
			if reserve, err = externalReserve(prices, extCell, ext.Body, w.hot.Address()); err != nil {
				return fmt.Errorf("batch reserve: %w", err)
			}
			size, cells, depth := len(boc), sizeOf(extCell).cells, int(extCell.Depth())
			if size <= MaxExternalBytes && cells <= MaxExternalCells && depth <= MaxExternalDepth && reserve.Cmp(avail["TON"]) <= 0 {
				break
			}
			// Over by a share of the size: drop about that share, at least one.
			drop := 1
			if size > MaxExternalBytes {
				drop = max(1, len(msgs)*(size-MaxExternalBytes)/size+1)
			}
			w.log.Warn("signed batch over the external message limits or the funds; cutting messages and signing again",
				"bytes", size, "cells", cells, "depth", depth, "reserve", reserve.String(), "available", avail["TON"].String(), "dropping", drop)
			for ; drop > 0; drop-- {
				switch {
				case len(topups) > 0:
					topups = topups[:len(topups)-1]
				case len(picked) > 0:
					picked = picked[:len(picked)-1]
				default:
					return errors.New("a cold transfer alone does not fit in a batch")
				}
			}
			more = true
		}
		if err := tx.QueryRow(ctx, `
			INSERT INTO hot_batches (query_seq, created_at_chain, timeout_seconds, signed_message, message_hash, ton_reserve)
			VALUES ($1, $2, $3, $4, $5, $6) RETURNING id`, seq, createdAt, int32(w.hot.Timeout()), boc, ext.Body.Hash(), reserve.String()).Scan(&batchID); err != nil {
			return fmt.Errorf("write batch: %w", err)
		}
		n := len(msgs)
		ids := make([]int64, len(picked))
		wids, sweepIDs, serviceIDs, coldIDs := make([]*int64, n), make([]*int64, n), make([]*int64, n), make([]*int64, n)
		kinds := make([]string, n)
		idx := make([]int32, n)
		hashes := make([][]byte, n)
		destWC := make([]int32, n)
		dests := make([][]byte, n)
		var topSweeps, topServices []int64
		for i := range msgs {
			mc, err := tlb.ToCell(msgs[i].InternalMessage)
			if err != nil {
				return err
			}
			idx[i], hashes[i] = int32(i), mc.Hash()
			to := msgs[i].InternalMessage.DstAddr
			destWC[i], dests[i] = to.Workchain(), to.Data()
			if i < len(picked) {
				ids[i] = picked[i].id
				kinds[i], wids[i] = "withdrawal", &ids[i]
				continue
			}
			if cold != nil && i == n-1 {
				kinds[i], coldIDs[i] = "cold", &cold.id
				continue
			}
			t := topups[i-len(picked)]
			if t.sweepID != 0 {
				kinds[i], sweepIDs[i] = "sweep_topup", &t.sweepID
				topSweeps = append(topSweeps, t.sweepID)
			} else {
				kinds[i], serviceIDs[i] = "service", &t.serviceID
				topServices = append(topServices, t.serviceID)
			}
		}
		if _, err := tx.Exec(ctx, `
			INSERT INTO hot_batch_items (batch_id, msg_index, kind, withdrawal_id, sweep_id, service_withdrawal_id, cold_transfer_id, msg_hash, dest_workchain, dest_address)
			SELECT $1, i, k, w, s, sv, c, h, dwc, d
			FROM unnest($2::int[], $3::text[], $4::bigint[], $5::bigint[], $6::bigint[], $7::bigint[], $8::bytea[], $9::int[], $10::bytea[]) AS t(i, k, w, s, sv, c, h, dwc, d)`,
			batchID, idx, kinds, wids, sweepIDs, serviceIDs, coldIDs, hashes, destWC, dests); err != nil {
			return fmt.Errorf("write batch items: %w", err)
		}
		if cold != nil {
			if _, err := tx.Exec(ctx, `UPDATE cold_transfers SET state = 'processing', batch_id = $2 WHERE id = $1 AND state = 'pending'`,
				cold.id, batchID); err != nil {
				return fmt.Errorf("cold transfer: %w", err)
			}
		}
		if err := w.markToppingUp(ctx, tx, batchID, topSweeps, topServices); err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, `UPDATE withdrawals SET state = 'processing', batch_id = $1 WHERE id = ANY($2) AND state = 'pending'`, batchID, ids)
		if err != nil {
			return fmt.Errorf("mark processing: %w", err)
		}
		if tag.RowsAffected() != int64(len(ids)) {
			return errors.New("withdrawals changed under the batch (lost a row lock?)")
		}
		w.m.batched.Add(float64(len(ids)))
		built.queryID, built.ids, built.rows, built.msgs = queryID, ids, picked, n
		return w.checkCrash("before-commit")
	})
	if err != nil {
		return 0, nil, false, err
	}
	if batchID != 0 {
		w.m.batches.Inc()
		w.log.Info("withdrawal batch built", "batch_id", batchID, "highload_query_id", built.queryID,
			"withdrawal_ids", built.ids, "count", len(built.ids), totalsAttr(built.rows), "messages", built.msgs)
	}
	return batchID, boc, more && batchID != 0, nil
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
	var attempts, queryID int32
	var wids []int64
	if uerr := w.db.QueryRow(ctx, `UPDATE hot_batches SET send_attempts = send_attempts + 1,
		first_sent_at = coalesce(first_sent_at, now()), last_sent_at = now() WHERE id = $1
		RETURNING send_attempts, query_id,
		ARRAY(SELECT withdrawal_id FROM hot_batch_items WHERE batch_id = $1 AND withdrawal_id IS NOT NULL ORDER BY msg_index)`,
		batchID).Scan(&attempts, &queryID, &wids); uerr != nil {
		return fmt.Errorf("record send of batch %d: %w", batchID, uerr)
	}
	w.m.sends.Inc()
	attrs := []any{"batch_id", batchID, "highload_query_id", queryID, "withdrawal_ids", wids, "attempt", attempts}
	if err != nil {
		// Refused at sendMessage: already executed (a replay) or not yet
		// valid. Either way the same bytes are sent again until the scanner
		// decides; the error is only informative.
		w.log.Warn("withdrawal batch send refused; it is sent again until the scanner settles it", append(attrs, "err", err)...)
		return nil
	}
	if attempts == 1 {
		w.log.Info("withdrawal batch sent", attrs...)
	} else {
		w.log.Debug("withdrawal batch re-sent", attrs...)
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
		var expired bool
		var wids []int64 // returned to pending, logged once committed
		err := store.InTx(ctx, w.db, func(tx pgx.Tx) error {
			// Re-check under the row lock, against the cursor as it is now.
			tag, err := tx.Exec(ctx, `UPDATE hot_batches b SET state = 'expired' FROM scanner_cursor c
				WHERE b.id = $1 AND b.state = 'sent' AND c.gen_utime > b.expires_at_chain + $2`, id, int64(w.conf.ExpiryMargin/time.Second))
			if err != nil || tag.RowsAffected() == 0 {
				return err
			}
			rows, err := tx.Query(ctx, `UPDATE withdrawals SET state = 'pending', batch_id = NULL, tx_hash = NULL, network_fee = NULL
				WHERE batch_id = $1 AND state = 'processing' RETURNING id`, id)
			if err != nil {
				return err
			}
			wids, err = pgx.CollectRows(rows, pgx.RowTo[int64])
			if err != nil {
				return fmt.Errorf("return withdrawals to pending: %w", err)
			}
			// Top-ups of the dead batch: their sweeps and service
			// withdrawals need a new one.
			if _, err := tx.Exec(ctx, `UPDATE sweeps SET state = 'pending'
				WHERE state = 'topping_up' AND id IN (SELECT sweep_id FROM hot_batch_items WHERE batch_id = $1 AND sweep_id IS NOT NULL)`, id); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `UPDATE service_withdrawals SET state = 'pending', batch_id = NULL
				WHERE batch_id = $1 AND state = 'processing' AND wallet_message_id IS NULL`, id); err != nil {
				return err
			}
			// A dead batch's cold transfer is over; the excess is worked
			// out again from the balance next time.
			if _, err := tx.Exec(ctx, `UPDATE cold_transfers SET state = 'failed', fail_reason = 'batch expired without executing'
				WHERE batch_id = $1 AND state = 'processing'`, id); err != nil {
				return err
			}
			expired = true
			return nil
		})
		if err != nil {
			return fmt.Errorf("expire batch %d: %w", id, err)
		}
		if expired {
			w.m.expired.Inc()
			w.log.Warn("withdrawal batch expired without executing; its withdrawals are pending again", "batch_id", id,
				"withdrawal_ids", wids, "count", len(wids))
		}
	}
	return nil
}

type workerMetrics struct {
	batches, batched, sends, expired, errors prometheus.Counter
	halted                                   prometheus.Gauge
	paused                                   *prometheus.GaugeVec
	balanceReads                             *prometheus.CounterVec
}

func newWorkerMetrics(reg prometheus.Registerer) *workerMetrics {
	m := &workerMetrics{
		batches: prometheus.NewCounter(prometheus.CounterOpts{Name: "processor_withdrawal_batches_total", Help: "Hot wallet batches written."}),
		batched: prometheus.NewCounter(prometheus.CounterOpts{Name: "processor_withdrawals_batched_total", Help: "Withdrawals put into batches (again after an expiry)."}),
		sends:   prometheus.NewCounter(prometheus.CounterOpts{Name: "processor_withdrawal_batch_sends_total", Help: "Sends and re-sends of batches."}),
		expired: prometheus.NewCounter(prometheus.CounterOpts{Name: "processor_withdrawal_batches_expired_total", Help: "Batches declared dead after their timeout."}),
		errors:  prometheus.NewCounter(prometheus.CounterOpts{Name: "processor_withdrawal_worker_errors_total", Help: "Failed worker steps (retried)."}),
		halted: prometheus.NewGauge(prometheus.GaugeOpts{Name: "processor_withdrawals_halted",
			Help: "1 while the withdrawal worker is stopped because a batch declared expired executed (processor resume-withdrawals clears it)."}),
		paused: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "processor_withdrawals_paused",
			Help: "1 while the currency's withdrawals are paused (processor withdrawals pause|resume)."}, []string{"currency"}),
		balanceReads: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "processor_hot_balance_reads_total",
			Help: "Hot wallet balance lookups for batches: read from the chain, or reused because the scanner's cursor had not passed the block they were read at."}, []string{"source"}),
	}
	if reg != nil {
		reg.MustRegister(m.batches, m.batched, m.sends, m.expired, m.errors, m.halted, m.paused, m.balanceReads)
	}
	return m
}

type coldPick struct {
	id  int64
	msg *wallet.Message
}

// pickCold decides a hot -> cold transfer: when the hot wallet's TON, after
// everything this batch pays, every in-flight batch and every pending or
// awaiting_approval TON withdrawal (even those it cannot cover yet), is
// above Cold.Max, the
// excess above Cold.Residual goes to the cold wallet. availTON is what the
// hot wallet has for this batch (balance - minimum - in flight); b holds
// the batch's other messages and takes the transfer too.
func (w *Worker) pickCold(ctx context.Context, tx pgx.Tx, availTON *big.Int, b *batchBudget, picked []pendingRow) (*coldPick, error) {
	c := w.conf.Cold
	if c.Address == nil || c.Max == nil || c.Residual == nil {
		return nil, nil
	}
	var open bool
	if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM cold_transfers WHERE state IN ('pending', 'processing'))`).Scan(&open); err != nil || open {
		return nil, err
	}
	ids := make([]int64, len(picked))
	for i, r := range picked {
		ids[i] = r.id
	}
	var waiting string
	if err := tx.QueryRow(ctx, `SELECT coalesce(sum(amount), 0)::text FROM withdrawals
		WHERE state IN ('pending', 'awaiting_approval') AND currency = 'TON' AND NOT (id = ANY($1))`, ids).Scan(&waiting); err != nil {
		return nil, fmt.Errorf("pending TON: %w", err)
	}
	wait, _ := new(big.Int).SetString(waiting, 10)
	// What the batch's other messages leave, back to the balance itself
	// (availTON has the minimum taken off).
	free := new(big.Int).Add(availTON, w.conf.MinBalance)
	if b.n > 0 {
		free.Sub(free, b.reserveWith(nil))
	}
	free.Sub(free, wait)
	if free.Cmp(c.Max) <= 0 {
		return nil, nil
	}
	amount := new(big.Int).Sub(free, c.Residual)
	amount.Sub(amount, feeReserve)
	msg := func() *wallet.Message {
		return &wallet.Message{Mode: wallet.PayGasSeparately + wallet.IgnoreErrors, InternalMessage: &tlb.InternalMessage{
			IHRDisabled: true, Bounce: c.Address.IsBounceable(), DstAddr: c.Address, Amount: tlb.FromNanoTON(amount)}}
	}
	// The transfer's own costs in the batch (its forward fee, its share
	// of the wrapper, the external's when it goes alone) must fit beside
	// it: the residual may be the minimum itself. A smaller amount may
	// serialize shorter, hence the second look.
	var it batchItem
	for try := 0; ; try++ {
		if amount.Sign() <= 0 || try == 3 {
			return nil, nil
		}
		var err error
		if it, err = newBatchItem(msg()); err != nil {
			return nil, fmt.Errorf("cold transfer: %w", err)
		}
		over := new(big.Int).Sub(b.reserveWith(&it), availTON)
		if over.Sign() <= 0 {
			break
		}
		amount.Sub(amount, over)
	}
	var id int64
	err := tx.QueryRow(ctx, `INSERT INTO cold_transfers (currency, amount, destination_workchain, destination_address)
		VALUES ('TON', $1, $2, $3) ON CONFLICT DO NOTHING RETURNING id`, amount.String(), c.Address.Workchain(), c.Address.Data()).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("cold transfer: %w", err)
	}
	b.add(it)
	w.log.Info("moving hot wallet excess to the cold wallet", "amount", amount.String())
	return &coldPick{id: id, msg: it.msg}, nil
}

// updatePaused sets processor_withdrawals_paused of every configured
// currency (and any other paused one).
func (w *Worker) updatePaused(ctx context.Context) error {
	ps, err := Paused(ctx, w.db)
	if err != nil {
		return err
	}
	w.m.paused.WithLabelValues("TON").Set(0)
	for sym := range w.conf.Jettons {
		w.m.paused.WithLabelValues(sym).Set(0)
	}
	for _, p := range ps {
		w.m.paused.WithLabelValues(p.Currency).Set(1)
	}
	return nil
}
