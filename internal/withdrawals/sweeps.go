package withdrawals

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/xssnick/tonutils-go/address"
	"github.com/xssnick/tonutils-go/tlb"
	tonutils "github.com/xssnick/tonutils-go/ton"
	"github.com/xssnick/tonutils-go/ton/wallet"
	"github.com/xssnick/tonutils-go/tvm/cell"

	"github.com/ton-custody/processor/internal/store"
	"github.com/ton-custody/processor/internal/ton"
	"github.com/ton-custody/processor/internal/wallets"
)

// Sweeps and service withdrawals move funds from deposit wallets (wallet
// V3R2, seqno replay protection) to the hot wallet, with the batch
// worker's exactly-once rules:
//
//   - A sweep is decided (a sweeps row) when a deposit's unswept incomes
//     and its chain balance are above the threshold.
//   - TON: the deposit wallet sends everything to the hot wallet (mode
//     128+32, with its state init when it is not deployed). Jettons: the
//     hot wallet first sends the deposit gas (a sweep_topup item of a
//     normal hot batch); once the gas is on the deposit, the deposit
//     wallet sends a jetton transfer of its whole balance to the hot
//     wallet, excesses to the hot wallet.
//   - Every deposit wallet message is signed and stored (with the row it
//     serves moved on) in one transaction before the first send, re-sent
//     byte for byte, and declared dead only when its valid_until is behind
//     the scanner's cursor by ExpiryMargin and the wallet's seqno did not
//     pass it; only then is the work it served re-opened. One message per
//     deposit wallet is in flight (a unique index).
//   - The scanner confirms the message (Outcomes) and settles the sweep
//     when the funds reach the hot wallet (received_amount), all in its
//     own transaction.
//
// Service withdrawals run the same way: kind "ton" is a TON sweep with
// the memo as comment, kind "jetton" a jetton sweep of the requested
// jetton wallet with the memo as forward payload.

// Query id tags of the jetton transfers deposit wallets send: the hot
// jetton wallet's internal_transfer carries the query id, which names the
// sweep. Withdrawal ids (the hot wallet's own transfers) stay below both.
const (
	sweepQueryTag   = uint64(1) << 62
	serviceQueryTag = uint64(1) << 61
)

// SweepConfig configures sweeps and service withdrawals.
type SweepConfig struct {
	// Deposits signs deposit wallet messages; nil disables sweeps and
	// service withdrawals.
	Deposits *wallets.Deposits
	// TONThreshold is TON_SWEEP_THRESHOLD: a TON deposit holding more is
	// swept. Nil disables TON sweeps.
	TONThreshold *big.Int
	// MessageTTL is how long a deposit wallet message stays valid
	// (valid_until = signing time + MessageTTL; default 60s).
	MessageTTL time.Duration
	// TopUp is the TON the hot wallet sends a deposit wallet to pay for
	// its jetton transfer (default 0.1 TON).
	TopUp *big.Int
	// MaxPerStep bounds the sweeps decided and messages written per step
	// (default 50).
	MaxPerStep int
	// RetryBackoff is how long a deposit waits for its next sweep after
	// one failed (default 1 minute), doubling with each failure since its
	// last confirmed sweep up to RetryBackoffMax (default 6 hours): every
	// attempt costs fees (and a gas top-up for jettons), so a deposit whose
	// jetton wallet its admin locked must not be tried at every step.
	RetryBackoff, RetryBackoffMax time.Duration
}

func (c SweepConfig) withDefaults() SweepConfig {
	if c.MessageTTL <= 0 {
		c.MessageTTL = 60 * time.Second
	}
	if c.TopUp == nil {
		c.TopUp = tlb.MustFromTON("0.1").Nano()
	}
	if c.MaxPerStep <= 0 {
		c.MaxPerStep = 50
	}
	if c.RetryBackoff <= 0 {
		c.RetryBackoff = time.Minute
	}
	if c.RetryBackoffMax <= 0 {
		c.RetryBackoffMax = 6 * time.Hour
	}
	return c
}

// backingOff is the condition, on deposit_wallets d, that d's last sweep
// failed less than its backoff ago: RetryBackoff doubled for each failed
// sweep since its last confirmed one, at most RetryBackoffMax ($base and
// $max are those in seconds).
func backingOff(base, max string) string {
	return `EXISTS (SELECT 1 FROM (SELECT count(*) AS n, max(f.updated_at) AS last FROM sweeps f
			WHERE f.deposit_wallet_id = d.id AND f.state = 'failed'
			  AND f.id > coalesce((SELECT max(c.id) FROM sweeps c WHERE c.deposit_wallet_id = d.id AND c.state = 'confirmed'), 0)) r
		WHERE r.n > 0 AND r.last > now() - make_interval(secs => least(` + base + ` * power(2, least(r.n - 1, 40)), ` + max + `)))`
}

// topUp is a hot batch message that brings a deposit wallet gas.
type topUp struct {
	sweepID, serviceID int64
	msg                *wallet.Message
}

// pickTopUps selects jetton sweeps and jetton service withdrawals that
// need gas, as many as the hot wallet can pay (tonAvail is reduced).
func (w *Worker) pickTopUps(ctx context.Context, tx pgx.Tx, tonAvail *big.Int, room int) ([]topUp, error) {
	if w.conf.Sweeps.Deposits == nil || room <= 0 {
		return nil, nil
	}
	cost := new(big.Int).Add(w.conf.Sweeps.TopUp, feeReserve)
	var out []topUp
	add := func(sweepID, serviceID int64, wc int32, owner []byte) bool {
		if len(out) >= room || tonAvail.Cmp(cost) < 0 {
			return false
		}
		tonAvail.Sub(tonAvail, cost)
		to := address.NewAddress(0, byte(wc), owner)
		to.SetBounce(false)
		out = append(out, topUp{sweepID: sweepID, serviceID: serviceID, msg: &wallet.Message{Mode: wallet.PayGasSeparately + wallet.IgnoreErrors,
			InternalMessage: &tlb.InternalMessage{IHRDisabled: true, Bounce: false, DstAddr: to, Amount: tlb.FromNanoTON(w.conf.Sweeps.TopUp)}}})
		return true
	}
	type row struct {
		id    int64
		wc    int32
		owner []byte
	}
	collect := func(q string) ([]row, error) {
		rows, err := tx.Query(ctx, q, room)
		if err != nil {
			return nil, err
		}
		return pgx.CollectRows(rows, func(r pgx.CollectableRow) (row, error) {
			var x row
			err := r.Scan(&x.id, &x.wc, &x.owner)
			return x, err
		})
	}
	sweeps, err := collect(`SELECT s.id, d.workchain, d.address FROM sweeps s JOIN deposit_wallets d ON d.id = s.deposit_wallet_id
		WHERE s.state = 'pending' AND s.currency <> 'TON' ORDER BY s.id LIMIT $1 FOR UPDATE OF s SKIP LOCKED`)
	if err != nil {
		return nil, fmt.Errorf("sweeps to top up: %w", err)
	}
	for _, r := range sweeps {
		if !add(r.id, 0, r.wc, r.owner) {
			break
		}
	}
	services, err := collect(`SELECT id, from_workchain, from_address FROM service_withdrawals
		WHERE state = 'pending' AND kind = 'jetton' ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED`)
	if err != nil {
		return nil, fmt.Errorf("service withdrawals to top up: %w", err)
	}
	for _, r := range services {
		if !add(0, r.id, r.wc, r.owner) {
			break
		}
	}
	return out, nil
}

// markToppingUp moves the topped-up rows on, in the batch's transaction.
func (w *Worker) markToppingUp(ctx context.Context, tx pgx.Tx, batchID int64, sweeps, services []int64) error {
	if len(sweeps) > 0 {
		tag, err := tx.Exec(ctx, `UPDATE sweeps SET state = 'topping_up' WHERE id = ANY($1) AND state = 'pending'`, sweeps)
		if err != nil {
			return fmt.Errorf("mark sweeps topping up: %w", err)
		}
		if tag.RowsAffected() != int64(len(sweeps)) {
			return errors.New("sweeps changed under the batch (lost a row lock?)")
		}
	}
	if len(services) > 0 {
		tag, err := tx.Exec(ctx, `UPDATE service_withdrawals SET state = 'processing', batch_id = $1 WHERE id = ANY($2) AND state = 'pending'`,
			batchID, services)
		if err != nil {
			return fmt.Errorf("mark service withdrawals topping up: %w", err)
		}
		if tag.RowsAffected() != int64(len(services)) {
			return errors.New("service withdrawals changed under the batch (lost a row lock?)")
		}
	}
	return nil
}

// planSweeps decides new sweeps: deposits without an open sweep whose
// incomes since their last confirmed sweep, and whose chain balance, are
// above the threshold.
func (w *Worker) planSweeps(ctx context.Context) error {
	sc := w.conf.Sweeps
	if sc.Deposits == nil {
		return nil
	}
	type cand struct {
		id        int64
		currency  string
		wc        int32
		owner     []byte
		jwWC      *int32
		jw        []byte
		threshold *big.Int
	}
	var cands []cand
	if sc.TONThreshold != nil {
		// TON: everything credited after the deposit wallet's last
		// confirmed message, a sweep or a TON service withdrawal (both are
		// mode 128: they took all before it). Counting from sweeps alone
		// would keep an emptied deposit a candidate forever and, with the
		// LIMIT, starve the deposits after it.
		rows, err := w.db.Query(ctx, `
			SELECT d.id, d.workchain, d.address FROM deposit_wallets d
			WHERE d.currency = 'TON'
			  AND NOT EXISTS (SELECT 1 FROM sweeps s WHERE s.deposit_wallet_id = d.id AND s.state IN ('pending', 'topping_up', 'sent'))
			  AND (SELECT coalesce(sum(i.amount), 0) FROM incomes i WHERE i.deposit_wallet_id = d.id AND i.imported_from IS NULL
			       AND i.tx_lt > coalesce((SELECT max(m.tx_lt) FROM deposit_wallet_messages m
			                               WHERE m.deposit_wallet_id = d.id AND m.state = 'confirmed'), -1)) > $1::numeric
			  AND NOT `+backingOff("$3", "$4")+`
			ORDER BY d.id LIMIT $2`, sc.TONThreshold.String(), sc.MaxPerStep, sc.RetryBackoff.Seconds(), sc.RetryBackoffMax.Seconds())
		if err != nil {
			return fmt.Errorf("TON deposits to sweep: %w", err)
		}
		for rows.Next() {
			c := cand{currency: "TON", threshold: sc.TONThreshold}
			if err := rows.Scan(&c.id, &c.wc, &c.owner); err != nil {
				rows.Close()
				return fmt.Errorf("TON deposits to sweep: %w", err)
			}
			cands = append(cands, c)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("TON deposits to sweep: %w", err)
		}
	}
	for sym, j := range w.conf.Jettons {
		if j.SweepThreshold == nil {
			continue
		}
		rows, err := w.db.Query(ctx, `
			SELECT d.id, d.workchain, d.address, d.jetton_wallet_workchain, d.jetton_wallet FROM deposit_wallets d
			WHERE d.currency = $1 AND d.derivation <> 'bicycle_proxy'
			  AND NOT EXISTS (SELECT 1 FROM sweeps s WHERE s.deposit_wallet_id = d.id AND s.state IN ('pending', 'topping_up', 'sent'))
			  AND (SELECT coalesce(sum(i.amount), 0) FROM incomes i WHERE i.deposit_wallet_id = d.id AND i.imported_from IS NULL
			       AND i.id > greatest(
			           coalesce((SELECT max(s.last_income_id) FROM sweeps s WHERE s.deposit_wallet_id = d.id AND s.state = 'confirmed'), 0),
			           coalesce((SELECT max(o.last_income_id) FROM jetton_writeoffs o WHERE o.deposit_wallet_id = d.id), 0))) > $2::numeric
			  AND NOT `+backingOff("$4", "$5")+`
			ORDER BY d.id LIMIT $3`, sym, j.SweepThreshold.String(), sc.MaxPerStep, sc.RetryBackoff.Seconds(), sc.RetryBackoffMax.Seconds())
		if err != nil {
			return fmt.Errorf("%s deposits to sweep: %w", sym, err)
		}
		for rows.Next() {
			c := cand{currency: sym, threshold: j.SweepThreshold}
			if err := rows.Scan(&c.id, &c.wc, &c.owner, &c.jwWC, &c.jw); err != nil {
				rows.Close()
				return fmt.Errorf("%s deposits to sweep: %w", sym, err)
			}
			cands = append(cands, c)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("%s deposits to sweep: %w", sym, err)
		}
	}
	if len(cands) == 0 {
		return nil
	}
	// After the candidates: a sweep the scanner confirmed by then has
	// emptied the balances read at this block.
	at, err := w.pinned(ctx, w.db)
	if err != nil {
		return fmt.Errorf("deposits to sweep: %w", err)
	}
	for _, c := range cands {
		// The income watermark first: incomes recorded after it are
		// considered again by the next sweep.
		var lastIncome *int64
		if err := w.db.QueryRow(ctx, `SELECT max(id) FROM incomes WHERE deposit_wallet_id = $1`, c.id).Scan(&lastIncome); err != nil {
			return fmt.Errorf("deposit %d incomes: %w", c.id, err)
		}
		var bal *big.Int
		var err error
		if c.currency == "TON" {
			bal, _, err = w.chain.AccountStateAt(ctx, at, address.NewAddress(0, byte(c.wc), c.owner))
		} else {
			bal, err = w.chain.JettonBalanceAt(ctx, at, address.NewAddress(0, byte(*c.jwWC), c.jw))
		}
		if err != nil {
			return fmt.Errorf("deposit %d balance: %w", c.id, err)
		}
		if c.currency != "TON" {
			// Jettons the admin took are written off (writeoffs.go).
			if sweep, err := w.planJettonSweep(ctx, c.id, c.currency, at.SeqNo, bal, c.threshold); err != nil || !sweep {
				if err != nil {
					return err
				}
				continue
			}
		}
		if bal.Cmp(c.threshold) <= 0 {
			continue
		}
		// ON CONFLICT: another instance decided the same sweep (one open
		// sweep per deposit).
		tag, err := w.db.Exec(ctx, `INSERT INTO sweeps (deposit_wallet_id, currency, amount, last_income_id) VALUES ($1, $2, $3::numeric, $4)
			ON CONFLICT DO NOTHING`, c.id, c.currency, bal.String(), lastIncome)
		if err != nil {
			return fmt.Errorf("decide sweep of deposit %d: %w", c.id, err)
		}
		if tag.RowsAffected() == 1 {
			w.log.Info("sweep decided", "deposit", c.id, "currency", c.currency, "amount", bal.String())
		}
	}
	return nil
}

// depositJob is one deposit wallet message to write.
type depositJob struct {
	sweepID, serviceID int64
	depositID          int64
	subwallet          uint32
	derivation         wallets.Derivation // which key signs (imported bicycle deposits: bicycle's)
	owner              *address.Address
	jettonWallet       *address.Address // nil: a TON job
	memo               string           // service withdrawals: the comment
}

func (j depositJob) String() string {
	if j.sweepID != 0 {
		return fmt.Sprintf("sweep %d", j.sweepID)
	}
	return fmt.Sprintf("service withdrawal %d", j.serviceID)
}

// depositJobs writes and sends the deposit wallet messages that are due:
// TON sweeps and TON service withdrawals at once, jetton ones once their
// gas is on the deposit wallet.
func (w *Worker) depositJobs(ctx context.Context) error {
	if w.conf.Sweeps.Deposits == nil {
		return nil
	}
	rows, err := w.db.Query(ctx, `
		SELECT s.id, 0::bigint, d.id, d.subwallet_id, d.workchain, d.address, d.jetton_wallet_workchain, d.jetton_wallet, '', d.derivation
		FROM sweeps s JOIN deposit_wallets d ON d.id = s.deposit_wallet_id
		WHERE (s.state = 'pending' AND s.currency = 'TON') OR s.state = 'topping_up'
		UNION ALL
		SELECT 0::bigint, sw.id, d.id, d.subwallet_id, d.workchain, d.address, sw.jetton_wallet_workchain, sw.jetton_wallet, sw.memo::text, d.derivation
		FROM service_withdrawals sw JOIN deposit_wallets d ON d.workchain = sw.from_workchain AND d.address = sw.from_address
		  AND d.derivation <> 'bicycle_proxy' -- only bicycle's hot wallet commands its proxies
		WHERE (sw.kind = 'ton' AND sw.state = 'pending') OR (sw.kind = 'jetton' AND sw.state = 'processing' AND sw.wallet_message_id IS NULL)
		LIMIT $1`, w.conf.Sweeps.MaxPerStep)
	if err != nil {
		return fmt.Errorf("deposit jobs: %w", err)
	}
	var jobs []depositJob
	for rows.Next() {
		var j depositJob
		var sub int64
		var wc int32
		var owner, jw []byte
		var jwWC *int32
		if err := rows.Scan(&j.sweepID, &j.serviceID, &j.depositID, &sub, &wc, &owner, &jwWC, &jw, &j.memo, &j.derivation); err != nil {
			rows.Close()
			return fmt.Errorf("deposit jobs: %w", err)
		}
		j.subwallet, j.owner = uint32(sub), address.NewAddress(0, byte(wc), owner)
		if jwWC != nil {
			j.jettonWallet = address.NewAddress(0, byte(*jwWC), jw)
		}
		jobs = append(jobs, j)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("deposit jobs: %w", err)
	}
	for _, j := range jobs {
		id, boc, err := w.writeDepositMessage(ctx, j)
		if err != nil {
			return fmt.Errorf("%s: %w", j, err)
		}
		if id == 0 {
			continue
		}
		if err := w.checkCrash("deposit-written"); err != nil {
			return err
		}
		if err := w.sendDeposit(ctx, id, boc); err != nil {
			return err
		}
	}
	return nil
}

// walletSeqno is a deposit wallet's balance, seqno and whether it is
// deployed, at block (pinned at or after the scanner's cursor: an older
// seqno would sign a message that can never execute).
func (w *Worker) walletSeqno(ctx context.Context, block *tonutils.BlockIDExt, owner *address.Address) (bal *big.Int, seqno uint32, deployed bool, err error) {
	bal, status, err := w.chain.AccountStateAt(ctx, block, owner)
	if err != nil {
		return nil, 0, false, err
	}
	if status != ton.StatusActive {
		return bal, 0, false, nil
	}
	res, err := w.chain.RunGetMethod(ctx, block, owner, "seqno")
	if err != nil {
		return nil, 0, false, fmt.Errorf("seqno of %s: %w", owner.StringRaw(), err)
	}
	v, err := res.Int(0)
	if err != nil || v.Sign() < 0 || !v.IsUint64() || v.Uint64() > 1<<32-1 {
		return nil, 0, false, fmt.Errorf("seqno of %s: bad answer %v (%v)", owner.StringRaw(), v, err)
	}
	return bal, uint32(v.Uint64()), true, nil
}

// seqnoFloor raises a deposit wallet's seqno read from the chain to what
// our confirmed messages prove: max(chain seqno, last confirmed seqno + 1).
// A lagging liteserver's older seqno (or its view of the wallet before it
// was deployed) would otherwise sign a message that can never execute. A
// last message sent before migration 0015 that emptied the wallet (mode
// 128+32) destroyed it: the next one starts again at seqno 0 with the
// state init, as the chain says.
func seqnoFloor(ctx context.Context, tx pgx.Tx, depositID int64, seqno uint32, deployed bool) (uint32, bool, error) {
	var last int64
	var destroyed bool
	err := tx.QueryRow(ctx, `SELECT m.seqno, m.destroys
		FROM deposit_wallet_messages m WHERE m.deposit_wallet_id = $1 AND m.state = 'confirmed'
		ORDER BY m.tx_lt DESC LIMIT 1`, depositID).Scan(&last, &destroyed)
	if errors.Is(err, pgx.ErrNoRows) {
		return seqno, deployed, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("deposit %d: last confirmed message: %w", depositID, err)
	}
	if destroyed || last >= 1<<32-1 {
		return seqno, deployed, nil
	}
	if floor := uint32(last + 1); !deployed || seqno < floor {
		return floor, true, nil // the wallet exists: our message executed there
	}
	return seqno, deployed, nil
}

// writeDepositMessage signs and stores one job's message and moves its row
// on, in one transaction. It returns 0 when the job has to wait (another
// message of the wallet is in flight, gas not there yet) or was settled
// without a message (nothing to move).
func (w *Worker) writeDepositMessage(ctx context.Context, j depositJob) (int64, []byte, error) {
	var msgID int64
	var boc []byte
	err := store.InTx(ctx, w.db, func(tx pgx.Tx) error {
		// Lock the job's row and re-check that it still needs a message.
		var still bool
		var err error
		if j.sweepID != 0 {
			err = tx.QueryRow(ctx, `SELECT state IN ('pending', 'topping_up') FROM sweeps WHERE id = $1 FOR UPDATE`, j.sweepID).Scan(&still)
		} else {
			err = tx.QueryRow(ctx, `SELECT state IN ('pending', 'processing') AND wallet_message_id IS NULL FROM service_withdrawals WHERE id = $1 FOR UPDATE`,
				j.serviceID).Scan(&still)
		}
		if err != nil || !still {
			return err
		}
		// Serialise writers of one wallet; one message in flight.
		if _, err := tx.Exec(ctx, `SELECT id FROM deposit_wallets WHERE id = $1 FOR UPDATE`, j.depositID); err != nil {
			return err
		}
		var busy bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM deposit_wallet_messages WHERE deposit_wallet_id = $1 AND state = 'sent')`,
			j.depositID).Scan(&busy); err != nil || busy {
			return err
		}
		// Pinned after the busy check: the wallet's last message, if
		// confirmed, is then reflected in the seqno and balances read.
		at, err := w.pinned(ctx, tx)
		if err != nil {
			return err
		}
		bal, seqno, deployed, err := w.walletSeqno(ctx, at, j.owner)
		if err != nil {
			return err
		}
		if seqno, deployed, err = seqnoFloor(ctx, tx, j.depositID, seqno, deployed); err != nil {
			return err
		}
		hot := w.hot.Address()
		hot.SetBounce(false)
		var msg *wallet.Message
		var amount *big.Int
		if j.jettonWallet == nil {
			if bal.Sign() == 0 {
				return w.settleEmpty(ctx, tx, j, "the deposit wallet holds no TON")
			}
			var body *cell.Cell
			if j.memo != "" {
				if body, err = wallet.CreateCommentCell(j.memo); err != nil {
					return err
				}
			}
			// 128: all of the balance. Not +32 (destroy if zero): a
			// destroyed wallet starts again at seqno 0, so this very
			// message (re-sent by us before the scanner saw it execute,
			// or replayed by anyone) could execute again on the next
			// deposit within valid_until. The emptied wallet stays; its
			// storage debt is tiny and paid from the next deposit.
			msg = &wallet.Message{Mode: wallet.CarryAllRemainingBalance, InternalMessage: &tlb.InternalMessage{
				IHRDisabled: true, Bounce: false, DstAddr: hot, Amount: tlb.FromNanoTON(new(big.Int)), Body: body}}
			amount = bal
		} else {
			need := new(big.Int).Add(w.conf.JettonGas, feeReserve)
			if bal.Cmp(need) < 0 {
				return nil // the top-up has not arrived yet
			}
			if amount, err = w.chain.JettonBalanceAt(ctx, at, j.jettonWallet); err != nil {
				return err
			}
			if j.sweepID != 0 {
				// Less than when decided: the jetton's admin took some (writeoffs.go).
				if err := w.sweepShortfall(ctx, tx, j.sweepID, amount, at.SeqNo); err != nil {
					return err
				}
			}
			if amount.Sign() == 0 {
				return w.settleEmpty(ctx, tx, j, "the jetton wallet holds no jettons")
			}
			qid := sweepQueryTag | uint64(j.sweepID)
			if j.serviceID != 0 {
				qid = serviceQueryTag | uint64(j.serviceID)
			}
			b := cell.BeginCell().MustStoreUInt(0x0f8a7ea5, 32).MustStoreUInt(qid, 64).MustStoreBigCoins(amount).
				MustStoreAddr(w.hot.Address()).MustStoreAddr(w.hot.Address()).MustStoreBoolBit(false).MustStoreBigCoins(new(big.Int))
			if j.memo != "" {
				c, err := wallet.CreateCommentCell(j.memo)
				if err != nil {
					return err
				}
				b.MustStoreBoolBit(true).MustStoreRef(c)
			} else {
				b.MustStoreBoolBit(false)
			}
			msg = &wallet.Message{Mode: wallet.PayGasSeparately + wallet.IgnoreErrors, InternalMessage: &tlb.InternalMessage{
				IHRDisabled: true, Bounce: true, DstAddr: j.jettonWallet, Amount: tlb.FromNanoTON(w.conf.JettonGas), Body: b.EndCell()}}
		}
		dw, err := w.conf.Sweeps.Deposits.WalletFor(nil, j.derivation, j.subwallet)
		if err != nil {
			return err
		}
		if !dw.WalletAddress().Equals(j.owner) {
			return fmt.Errorf("deposit %d: subwallet %d derives %s, not the stored address", j.depositID, j.subwallet, dw.WalletAddress().StringRaw())
		}
		spec, ok := dw.GetSpec().(*wallet.SpecV3)
		if !ok {
			return fmt.Errorf("deposit wallet spec is %T, not V3", dw.GetSpec())
		}
		spec.SetMessagesTTL(uint32(w.conf.Sweeps.MessageTTL / time.Second))
		spec.SetSeqnoFetcher(func(context.Context, uint32) (uint32, error) { return seqno, nil })
		ext, err := dw.PrepareExternalMessageForMany(ctx, !deployed, []*wallet.Message{msg})
		if err != nil {
			return fmt.Errorf("sign: %w", err)
		}
		// body: signature:512 subwallet:32 valid_until:32 seqno:32 ...
		s := ext.Body.BeginParse()
		if _, err := s.LoadSlice(512 + 32); err != nil {
			return err
		}
		validUntil, err := s.LoadUInt(32)
		if err != nil {
			return err
		}
		root, err := tlb.ToCell(ext)
		if err != nil {
			return err
		}
		boc = root.ToBOCWithFlags(false)
		if err := tx.QueryRow(ctx, `INSERT INTO deposit_wallet_messages (deposit_wallet_id, seqno, valid_until, signed_message, message_hash)
			VALUES ($1, $2, $3, $4, $5) RETURNING id`, j.depositID, int64(seqno), int64(validUntil), boc, ext.Body.Hash()).Scan(&msgID); err != nil {
			return fmt.Errorf("write message: %w", err)
		}
		if j.sweepID != 0 {
			_, err = tx.Exec(ctx, `UPDATE sweeps SET state = 'sent', wallet_message_id = $2 WHERE id = $1`, j.sweepID, msgID)
		} else {
			_, err = tx.Exec(ctx, `UPDATE service_withdrawals SET state = 'processing', batch_id = NULL, wallet_message_id = $2, amount = $3::numeric
				WHERE id = $1`, j.serviceID, msgID, amount.String())
		}
		if err != nil {
			return fmt.Errorf("mark sent: %w", err)
		}
		return w.checkCrash("deposit-before-commit")
	})
	if err != nil {
		return 0, nil, err
	}
	if msgID != 0 {
		w.log.Debug("deposit wallet message written", "job", j.String(), "message", msgID)
	}
	return msgID, boc, nil
}

// settleEmpty ends a job that has nothing to move: a sweep fails (a new
// one is decided when funds arrive), a service withdrawal fails with the
// reason and its webhook event.
func (w *Worker) settleEmpty(ctx context.Context, tx pgx.Tx, j depositJob, reason string) error {
	if j.sweepID != 0 {
		_, err := tx.Exec(ctx, `UPDATE sweeps SET state = 'failed', fail_reason = $2 WHERE id = $1`, j.sweepID, reason)
		return err
	}
	return failService(ctx, tx, w.ev, j.serviceID, reason)
}

// sendDeposit transmits a stored deposit wallet message and records the
// attempt; a refusal is only informative (the scanner decides).
func (w *Worker) sendDeposit(ctx context.Context, id int64, boc []byte) error {
	err := w.chain.SendExternalBOC(ctx, boc)
	if _, uerr := w.db.Exec(ctx, `UPDATE deposit_wallet_messages SET send_attempts = send_attempts + 1,
		first_sent_at = coalesce(first_sent_at, now()), last_sent_at = now() WHERE id = $1`, id); uerr != nil {
		return fmt.Errorf("record send of deposit wallet message %d: %w", id, uerr)
	}
	if err != nil {
		w.log.Debug("deposit wallet message send refused", "message", id, "err", err)
	}
	return nil
}

// resendDeposit re-sends deposit wallet messages in flight and still valid.
func (w *Worker) resendDeposit(ctx context.Context) error {
	rows, err := w.db.Query(ctx, `SELECT id, signed_message FROM deposit_wallet_messages
		WHERE state = 'sent' AND valid_until > $1 AND (last_sent_at IS NULL OR last_sent_at < now() - $2::interval) ORDER BY id`,
		time.Now().Unix(), w.conf.ResendEvery.String())
	if err != nil {
		return fmt.Errorf("deposit wallet messages to re-send: %w", err)
	}
	type m struct {
		id  int64
		boc []byte
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (m, error) {
		var x m
		err := r.Scan(&x.id, &x.boc)
		return x, err
	})
	if err != nil {
		return fmt.Errorf("deposit wallet messages to re-send: %w", err)
	}
	for _, x := range list {
		if err := w.sendDeposit(ctx, x.id, x.boc); err != nil {
			return err
		}
	}
	return nil
}

// expireDeposit declares dead the deposit wallet messages that can no
// longer execute: valid_until is behind the scanner's cursor by
// ExpiryMargin, so any execution would have been confirmed. Their work is
// re-opened in the same transaction.
func (w *Worker) expireDeposit(ctx context.Context) error {
	margin := int64(w.conf.ExpiryMargin / time.Second)
	rows, err := w.db.Query(ctx, `SELECT m.id, m.seqno, d.workchain, d.address FROM deposit_wallet_messages m
		JOIN deposit_wallets d ON d.id = m.deposit_wallet_id, scanner_cursor c
		WHERE m.state = 'sent' AND c.gen_utime > m.valid_until + $1 ORDER BY m.id`, margin)
	if err != nil {
		return fmt.Errorf("expired deposit wallet messages: %w", err)
	}
	type m struct {
		id, seqno int64
		owner     *address.Address
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (m, error) {
		var x m
		var wc int32
		var a []byte
		err := r.Scan(&x.id, &x.seqno, &wc, &a)
		x.owner = address.NewAddress(0, byte(wc), a)
		return x, err
	})
	if err != nil {
		return fmt.Errorf("expired deposit wallet messages: %w", err)
	}
	var at *tonutils.BlockIDExt
	if len(list) > 0 {
		// After the list: a message the scanner confirmed by then has
		// advanced the seqno read at this block. The seqno is only
		// logged, so without a block the expiry goes on unread.
		if at, err = w.pinned(ctx, w.db); err != nil {
			w.log.Debug("deposit wallet seqnos not read for expired messages", "err", err)
		}
	}
	for _, x := range list {
		// Dead whatever the wallet's seqno says: the deposit wallet is
		// always watched and the scanner has passed every block the
		// message could execute in. A seqno the wallet has already passed
		// (signed from a stale read) only means it can never execute;
		// left open it would block the wallet for good (one message in
		// flight). The seqno is read only to tell the two cases apart in
		// the log. (Deposit wallet messages pay only the hot wallet, so
		// even a missed execution could not pay anyone twice.)
		if at != nil {
			if _, seqno, deployed, err := w.walletSeqno(ctx, at, x.owner); err == nil && deployed && int64(seqno) > x.seqno {
				w.log.Warn("deposit wallet message expired with a seqno the wallet had already passed (signed from a stale seqno?)",
					"message", x.id, "seqno", x.seqno, "wallet_seqno", seqno)
			}
		}
		err = store.InTx(ctx, w.db, func(tx pgx.Tx) error {
			tag, err := tx.Exec(ctx, `UPDATE deposit_wallet_messages m SET state = 'expired' FROM scanner_cursor c
				WHERE m.id = $1 AND m.state = 'sent' AND c.gen_utime > m.valid_until + $2`, x.id, margin)
			if err != nil || tag.RowsAffected() == 0 {
				return err
			}
			if _, err := tx.Exec(ctx, `UPDATE sweeps SET state = CASE WHEN currency = 'TON' THEN 'pending' ELSE 'topping_up' END,
				wallet_message_id = NULL WHERE wallet_message_id = $1 AND state = 'sent'`, x.id); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `UPDATE service_withdrawals SET wallet_message_id = NULL, amount = NULL,
				state = CASE WHEN kind = 'ton' THEN 'pending' ELSE 'processing' END
				WHERE wallet_message_id = $1 AND state = 'processing'`, x.id); err != nil {
				return err
			}
			w.log.Warn("deposit wallet message expired without executing; its work is open again", "message", x.id)
			return nil
		})
		if err != nil {
			return fmt.Errorf("expire deposit wallet message %d: %w", x.id, err)
		}
	}
	return nil
}
