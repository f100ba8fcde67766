package takeover

// Reading gobicycle/bicycle's database (schema `payments`, facts sheet §5).
// Everything is read inside one REPEATABLE READ transaction per stage (a
// consistent snapshot) and nothing is ever written there.

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// bicycleTables are the tables a takeover reads; bicycle has no others.
var bicycleTables = []string{
	"payments.ton_wallets", "payments.jetton_wallets", "payments.external_incomes", "payments.internal_incomes",
	"payments.withdrawal_requests", "payments.external_withdrawals", "payments.internal_withdrawals",
	"payments.service_withdrawal_requests", "payments.block_data",
}

// bicycle wallet types (ton_wallets.type, jetton_wallets.type).
const (
	typeTONHot        = "ton_hot"
	typeTONDeposit    = "ton_deposit"
	typeOwner         = "owner" // a jetton proxy
	typeJettonHot     = "jetton_hot"
	typeJettonDeposit = "jetton_deposit"
)

type bWallet struct {
	subwalletID int64
	createdAt   time.Time
	userID      string
	typ         string
	address     []byte
}

type bJettonWallet struct {
	subwalletID int64
	createdAt   time.Time
	userID      string
	currency    string
	typ         string
	address     []byte
}

// bCursor is bicycle's resume point: the block_data row with the highest
// seqno, a workchain-0 shard block (shard stored as a signed int64).
type bCursor struct {
	shard    int64
	seqno    int64
	genUtime int64
	rootHash []byte
	fileHash []byte
}

type bIncome struct {
	lt       int64
	utime    int64
	payerWC  *int32
	deposit  []byte
	payer    []byte
	amount   string
	comment  string
	txHash   []byte
	rowIndex int // order of reading (for messages)
}

type bWithdrawal struct {
	queryID                                   int64
	bounceable, processing, processed, intern bool
	amount                                    string
	userID, userQueryID, currency             string
	dest                                      []byte
	comment, binaryComment                    string
	attempts                                  []bAttempt // external_withdrawals rows, oldest first
}

type bAttempt struct {
	msgUUID     string
	createdAt   time.Time
	expiredAt   *time.Time
	processedAt *time.Time
	processedLT *int64
	failed      bool
	address     []byte
	txHash      []byte
}

// ErrNotBicycle: the database has no table of bicycle's schema.
var ErrNotBicycle = errors.New("takeover: not a gobicycle/bicycle database (no payments.ton_wallets)")

// ErrBicycleRunning: bicycle still writes to its database.
var ErrBicycleRunning = errors.New("takeover: gobicycle/bicycle still writes to its database; stop it first")

// readBicycle runs fn in a REPEATABLE READ snapshot of bicycle's database
// and rolls back (nothing is written there). With lock, every table is
// first locked in SHARE mode without waiting: a bicycle that writes right
// now makes that fail (ErrBicycleRunning), and one started meanwhile
// cannot write until the read is over. Locking needs UPDATE, DELETE or
// TRUNCATE on the tables; with a read-only role (bicycle's pp_readonly)
// the snapshot is taken unlocked and the caller is told (locked false).
func readBicycle(ctx context.Context, db *pgxpool.Pool, lock bool, fn func(tx pgx.Tx) error) (locked bool, err error) {
	tx, err := db.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead})
	if err != nil {
		return false, fmt.Errorf("takeover: bicycle's database: %w", err)
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	var exists bool
	if err := tx.QueryRow(ctx, `SELECT to_regclass('payments.ton_wallets') IS NOT NULL`).Scan(&exists); err != nil {
		return false, fmt.Errorf("takeover: bicycle's database: %w", err)
	}
	if !exists {
		return false, ErrNotBicycle
	}
	if lock {
		var may bool
		if err := tx.QueryRow(ctx, `SELECT bool_and(has_table_privilege(t, 'UPDATE') OR has_table_privilege(t, 'DELETE') OR has_table_privilege(t, 'TRUNCATE'))
			FROM unnest($1::text[]) t`, bicycleTables).Scan(&may); err != nil {
			return false, fmt.Errorf("takeover: bicycle's table privileges: %w", err)
		}
		if may {
			// Before the snapshot's first read of data, so the snapshot
			// includes everything committed before the lock.
			if _, err := tx.Exec(ctx, `LOCK TABLE `+strings.Join(bicycleTables, ", ")+` IN SHARE MODE NOWAIT`); err != nil {
				var pgErr *pgconn.PgError
				if errors.As(err, &pgErr) && pgErr.Code == "55P03" { // lock_not_available
					return false, fmt.Errorf("%w: a transaction of it holds its tables (%s)", ErrBicycleRunning, pgErr.Message)
				}
				return false, fmt.Errorf("takeover: lock bicycle's tables: %w", err)
			}
			locked = true
		}
	}
	return locked, fn(tx)
}

func readWallets(ctx context.Context, tx pgx.Tx) ([]bWallet, error) {
	rows, err := tx.Query(ctx, `SELECT subwallet_id, created_at, user_id, type, address FROM payments.ton_wallets ORDER BY created_at, subwallet_id`)
	if err != nil {
		return nil, fmt.Errorf("takeover: read bicycle's ton_wallets: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (bWallet, error) {
		var w bWallet
		err := r.Scan(&w.subwalletID, &w.createdAt, &w.userID, &w.typ, &w.address)
		return w, err
	})
	if err != nil {
		return nil, fmt.Errorf("takeover: read bicycle's ton_wallets: %w", err)
	}
	return out, nil
}

func readJettonWallets(ctx context.Context, tx pgx.Tx) ([]bJettonWallet, error) {
	rows, err := tx.Query(ctx, `SELECT subwallet_id, created_at, user_id, currency, type, address FROM payments.jetton_wallets ORDER BY subwallet_id, created_at`)
	if err != nil {
		return nil, fmt.Errorf("takeover: read bicycle's jetton_wallets: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (bJettonWallet, error) {
		var w bJettonWallet
		err := r.Scan(&w.subwalletID, &w.createdAt, &w.userID, &w.currency, &w.typ, &w.address)
		return w, err
	})
	if err != nil {
		return nil, fmt.Errorf("takeover: read bicycle's jetton_wallets: %w", err)
	}
	return out, nil
}

// readCursor returns bicycle's resume point, nil when it never scanned.
func readCursor(ctx context.Context, tx pgx.Tx) (*bCursor, error) {
	var c bCursor
	err := tx.QueryRow(ctx, `SELECT shard, seqno, extract(epoch FROM gen_utime)::bigint, root_hash, file_hash
		FROM payments.block_data ORDER BY seqno DESC LIMIT 1`).Scan(&c.shard, &c.seqno, &c.genUtime, &c.rootHash, &c.fileHash)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("takeover: read bicycle's block_data: %w", err)
	}
	return &c, nil
}

// forEachIncome streams external_incomes in bicycle's history order (lt).
func forEachIncome(ctx context.Context, tx pgx.Tx, fn func(bIncome) error) error {
	rows, err := tx.Query(ctx, `SELECT lt, extract(epoch FROM utime)::bigint, payer_workchain, deposit_address, payer_address,
		amount::text, comment, tx_hash FROM payments.external_incomes ORDER BY lt, tx_hash, amount`)
	if err != nil {
		return fmt.Errorf("takeover: read bicycle's external_incomes: %w", err)
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		var in bIncome
		if err := rows.Scan(&in.lt, &in.utime, &in.payerWC, &in.deposit, &in.payer, &in.amount, &in.comment, &in.txHash); err != nil {
			return fmt.Errorf("takeover: read bicycle's external_incomes: %w", err)
		}
		in.rowIndex = n
		n++
		if err := fn(in); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("takeover: read bicycle's external_incomes: %w", err)
	}
	return nil
}

func readWithdrawals(ctx context.Context, tx pgx.Tx) ([]*bWithdrawal, error) {
	rows, err := tx.Query(ctx, `SELECT query_id, bounceable, processing, processed, is_internal, amount::text, user_id, user_query_id,
		currency, dest_address, comment, binary_comment FROM payments.withdrawal_requests ORDER BY query_id`)
	if err != nil {
		return nil, fmt.Errorf("takeover: read bicycle's withdrawal_requests: %w", err)
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*bWithdrawal, error) {
		w := &bWithdrawal{}
		err := r.Scan(&w.queryID, &w.bounceable, &w.processing, &w.processed, &w.intern, &w.amount, &w.userID, &w.userQueryID,
			&w.currency, &w.dest, &w.comment, &w.binaryComment)
		return w, err
	})
	if err != nil {
		return nil, fmt.Errorf("takeover: read bicycle's withdrawal_requests: %w", err)
	}
	byID := make(map[int64]*bWithdrawal, len(list))
	for _, w := range list {
		byID[w.queryID] = w
	}
	rows, err = tx.Query(ctx, `SELECT msg_uuid::text, query_id, created_at, expired_at, processed_at, processed_lt, failed, address, tx_hash
		FROM payments.external_withdrawals ORDER BY query_id, created_at, msg_uuid`)
	if err != nil {
		return nil, fmt.Errorf("takeover: read bicycle's external_withdrawals: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var a bAttempt
		var qid int64
		if err := rows.Scan(&a.msgUUID, &qid, &a.createdAt, &a.expiredAt, &a.processedAt, &a.processedLT, &a.failed, &a.address, &a.txHash); err != nil {
			return nil, fmt.Errorf("takeover: read bicycle's external_withdrawals: %w", err)
		}
		if w := byID[qid]; w != nil {
			w.attempts = append(w.attempts, a)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("takeover: read bicycle's external_withdrawals: %w", err)
	}
	return list, nil
}

// readIDSequence is the last value bicycle's withdrawal_requests.query_id
// sequence handed out (0 when none): IDs up to it may have been seen.
func readIDSequence(ctx context.Context, tx pgx.Tx) (int64, error) {
	var seq *string
	if err := tx.QueryRow(ctx, `SELECT pg_get_serial_sequence('payments.withdrawal_requests', 'query_id')`).Scan(&seq); err != nil {
		return 0, fmt.Errorf("takeover: bicycle's query_id sequence: %w", err)
	}
	var last int64
	var called bool
	if seq != nil {
		if err := tx.QueryRow(ctx, `SELECT last_value, is_called FROM `+*seq).Scan(&last, &called); err != nil {
			return 0, fmt.Errorf("takeover: bicycle's query_id sequence: %w", err)
		}
		if !called {
			last = 0
		}
	}
	var max int64
	if err := tx.QueryRow(ctx, `SELECT coalesce(max(query_id), 0) FROM payments.withdrawal_requests`).Scan(&max); err != nil {
		return 0, fmt.Errorf("takeover: bicycle's largest query_id: %w", err)
	}
	if max > last {
		last = max
	}
	return last, nil
}

// openWork counts what bicycle left unfinished besides withdrawals:
// service withdrawals not processed and sweeps neither finished nor failed.
func openWork(ctx context.Context, tx pgx.Tx) (services, sweeps int64, err error) {
	err = tx.QueryRow(ctx, `SELECT (SELECT count(*) FROM payments.service_withdrawal_requests WHERE NOT processed),
		(SELECT count(*) FROM payments.internal_withdrawals WHERE NOT failed AND finish_lt IS NULL)`).Scan(&services, &sweeps)
	if err != nil {
		return 0, 0, fmt.Errorf("takeover: bicycle's open service withdrawals and sweeps: %w", err)
	}
	return services, sweeps, nil
}

// parseAmount reads a bicycle numeric as base units. Fractions are
// truncated toward zero, as bicycle truncates them when it builds a
// message; frac reports that there was one.
func parseAmount(s string) (v *big.Int, frac bool, err error) {
	s = strings.TrimSpace(s)
	whole, fraction, dot := strings.Cut(s, ".")
	v, ok := new(big.Int).SetString(whole, 10)
	if !ok || strings.ContainsAny(whole, "eE") {
		return nil, false, fmt.Errorf("amount %q is not a number", s)
	}
	if dot && strings.Trim(fraction, "0") != "" {
		if strings.Trim(fraction, "0123456789") != "" {
			return nil, false, fmt.Errorf("amount %q is not a number", s)
		}
		frac = true
	}
	return v, frac, nil
}
