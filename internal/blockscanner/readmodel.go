// Package blockscanner walks the chain and records deposits. This file is
// its read side: the queries the HTTP API answers deposit questions with.
package blockscanner

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/xssnick/tonutils-go/address"

	"github.com/ton-custody/processor/internal/apierr"
	"github.com/ton-custody/processor/internal/config"
	"github.com/ton-custody/processor/internal/store"
	"github.com/ton-custody/processor/internal/tonaddr"
)

// MaxHistoryLimit is the largest page History returns.
const MaxHistoryLimit = 1000

// HeadFunc reports the network's latest masterchain block: its seqno and
// generation time (unix seconds). SyncStatus compares the generation time,
// so one lag setting (AllowableLag) covers both wall time and the head.
type HeadFunc func(ctx context.Context) (seqno uint32, genUtime int64, err error)

// ReadModelConfig configures a ReadModel.
type ReadModelConfig struct {
	// Network selects the testnet flag of the addresses returned.
	Network config.Network
	// CountingSide selects what TotalIncome sums (see TotalIncome).
	CountingSide config.CountingSide
	// AllowableLag is how far behind wall time (and the network head, when
	// Head is set) the last scanned block may be while still in sync. > 0.
	AllowableLag time.Duration
	// Head, when set, is asked for the network head on every SyncStatus;
	// the scanner supplies it. Nil: only wall time is compared.
	Head HeadFunc
	// Now returns the current time; nil means time.Now.
	Now func() time.Time
}

// ReadModel answers the deposit endpoints from the scanner's tables
// (deposit_wallets, incomes, sweeps, scanner_cursor). It only reads, and
// is safe for concurrent use.
type ReadModel struct {
	db   *pgxpool.Pool
	conf ReadModelConfig
}

// NewReadModel returns a ReadModel over db.
func NewReadModel(db *pgxpool.Pool, conf ReadModelConfig) (*ReadModel, error) {
	if db == nil {
		return nil, errors.New("blockscanner: read model needs a database pool")
	}
	switch conf.Network {
	case config.Mainnet, config.Testnet:
	default:
		return nil, fmt.Errorf("blockscanner: unknown network %q", conf.Network)
	}
	switch conf.CountingSide {
	case config.CountDeposit, config.CountHotWallet:
	default:
		return nil, fmt.Errorf("blockscanner: unknown income counting side %q", conf.CountingSide)
	}
	if conf.AllowableLag <= 0 {
		return nil, fmt.Errorf("blockscanner: allowable lag must be positive, got %v", conf.AllowableLag)
	}
	if conf.Now == nil {
		conf.Now = time.Now
	}
	return &ReadModel{db: db, conf: conf}, nil
}

// IncomeTotal is the income of one deposit address.
type IncomeTotal struct {
	// DepositAddress is the user-friendly, non-bounceable address users
	// send to (for jettons: the owner, not the jetton wallet).
	DepositAddress string
	Currency       string
	// Amount is in base units; zero when nothing arrived yet.
	Amount *big.Int
}

// Totals is the answer of TotalIncome.
type Totals struct {
	// CountingSide is what Amount counts, as configured.
	CountingSide config.CountingSide
	// Incomes has one entry per deposit address of the user, oldest
	// address first; never nil.
	Incomes []IncomeTotal
}

// Income is one credited deposit.
type Income struct {
	// Currency is TON or the jetton symbol.
	Currency string
	// DepositAddress is as in IncomeTotal.
	DepositAddress string
	// Time is the crediting transaction's time, unix seconds.
	Time int64
	// SourceAddress is the sender (for jettons the sender's owner address)
	// in user-friendly non-bounceable form, or "" when it could not be
	// determined (e.g. an external or anycast source).
	SourceAddress string
	Amount        *big.Int
	// Comment is the text comment, "" when there is none.
	Comment string
	// BinaryComment holds comment or payload bytes that are not a
	// representable text comment; nil when there are none. At most one of
	// Comment and BinaryComment is set.
	BinaryComment []byte
	// TxHash is the crediting transaction's hash (32 bytes).
	TxHash []byte
}

// TotalIncome returns, for every deposit address of userID, the total
// received over all time. With counting side "deposit" that is the sum of
// the credited incomes (what reached the deposit); with "hot_wallet" it is
// the sum of sweeps.received_amount of confirmed sweeps (what reached the
// hot wallet from that deposit, after fees), plus, for a deposit a bicycle
// takeover imported, bicycle's own sweep arrivals (bicycle_sweep_arrivals)
// so its totals continue. Addresses with nothing yet
// are listed with amount 0. An unknown user gets an empty list.
func (m *ReadModel) TotalIncome(ctx context.Context, userID string) (Totals, error) {
	q := totalDepositSQL
	if m.conf.CountingSide == config.CountHotWallet {
		q = totalHotWalletSQL
	}
	rows, err := m.db.Query(ctx, q, userID)
	if err != nil {
		return Totals{}, fmt.Errorf("blockscanner: query total income: %w", err)
	}
	defer rows.Close()
	out := Totals{CountingSide: m.conf.CountingSide, Incomes: []IncomeTotal{}}
	for rows.Next() {
		var (
			wc   int32
			addr []byte
			t    IncomeTotal
		)
		t.Amount = new(big.Int)
		if err := rows.Scan(&wc, &addr, &t.Currency, store.BigInt(t.Amount)); err != nil {
			return Totals{}, fmt.Errorf("blockscanner: scan total income: %w", err)
		}
		t.DepositAddress = m.friendly(wc, addr)
		out.Incomes = append(out.Incomes, t)
	}
	if err := rows.Err(); err != nil {
		return Totals{}, fmt.Errorf("blockscanner: read total income: %w", err)
	}
	return out, nil
}

// Both count per deposit wallet through deposit_wallets_user_idx, then
// incomes_history_idx (deposit side) or sweeps_confirmed_idx (hot side).
const (
	totalDepositSQL = `
SELECT d.workchain, d.address, d.currency,
       coalesce((SELECT sum(i.amount) FROM incomes i WHERE i.deposit_wallet_id = d.id), 0)
FROM deposit_wallets d
WHERE d.user_id = $1
ORDER BY d.id`
	totalHotWalletSQL = `
SELECT d.workchain, d.address, d.currency,
       coalesce((SELECT sum(s.received_amount) FROM sweeps s WHERE s.deposit_wallet_id = d.id AND s.state = 'confirmed'), 0)
     + coalesce((SELECT sum(a.amount) FROM bicycle_sweep_arrivals a WHERE a.deposit_wallet_id = d.id), 0)
FROM deposit_wallets d
WHERE d.user_id = $1
ORDER BY d.id`
)

// History returns the incomes of userID's deposit addresses of one
// currency, newest first (asc: oldest first), ordered by transaction time
// and then by the order they were recorded. limit must be 1..MaxHistoryLimit
// and offset >= 0; an unknown user or currency gives an empty list.
func (m *ReadModel) History(ctx context.Context, userID, currency string, limit, offset int, asc bool) ([]Income, error) {
	if limit < 1 || limit > MaxHistoryLimit {
		return nil, apierr.BadRequest("limit must be between 1 and %d, got %d", MaxHistoryLimit, limit)
	}
	if offset < 0 {
		return nil, apierr.BadRequest("offset must not be negative, got %d", offset)
	}
	q := historyDescSQL
	if asc {
		q = historyAscSQL
	}
	rows, err := m.db.Query(ctx, q, userID, currency, limit, offset)
	if err != nil {
		return nil, fmt.Errorf("blockscanner: query history: %w", err)
	}
	defer rows.Close()
	out := []Income{}
	for rows.Next() {
		in, err := m.scanIncome(rows)
		if err != nil {
			return nil, fmt.Errorf("blockscanner: scan history: %w", err)
		}
		out = append(out, in)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("blockscanner: read history: %w", err)
	}
	return out, nil
}

const (
	incomeColumns = `d.currency, d.workchain, d.address, i.utime, i.source_workchain, i.source_address,
       i.amount, i.comment, i.binary_comment, i.tx_hash`
	// One range of incomes_user_history_idx in the page's order: a page
	// reads offset + limit entries whatever the user's history holds.
	historyFrom = `
FROM incomes i
JOIN deposit_wallets d ON d.id = i.deposit_wallet_id
WHERE i.user_id = $1 AND i.currency = $2`
	historyDescSQL = `SELECT ` + incomeColumns + historyFrom + `
ORDER BY i.utime DESC, i.id DESC
LIMIT $3 OFFSET $4`
	historyAscSQL = `SELECT ` + incomeColumns + historyFrom + `
ORDER BY i.utime ASC, i.id ASC
LIMIT $3 OFFSET $4`
	incomeByHashSQL = `SELECT ` + incomeColumns + `
FROM incomes i
JOIN deposit_wallets d ON d.id = i.deposit_wallet_id
WHERE i.tx_hash = $1`
)

// IncomeByTxHash returns the income credited by the transaction with the
// given 32-byte hash, or an apierr.ErrNotFound error.
func (m *ReadModel) IncomeByTxHash(ctx context.Context, hash []byte) (Income, error) {
	if len(hash) != 32 {
		return Income{}, apierr.BadRequest("a transaction hash has 32 bytes, got %d", len(hash))
	}
	in, err := m.scanIncome(m.db.QueryRow(ctx, incomeByHashSQL, hash))
	if errors.Is(err, pgx.ErrNoRows) {
		return Income{}, apierr.NotFound("no deposit was credited by transaction %x", hash)
	}
	if err != nil {
		return Income{}, fmt.Errorf("blockscanner: query income by tx hash: %w", err)
	}
	return in, nil
}

func (m *ReadModel) scanIncome(row pgx.Row) (Income, error) {
	var (
		in      Income
		wc      int32
		addr    []byte
		srcWC   *int32
		srcAddr []byte
		comment *string
	)
	in.Amount = new(big.Int)
	if err := row.Scan(&in.Currency, &wc, &addr, &in.Time, &srcWC, &srcAddr,
		store.BigInt(in.Amount), &comment, &in.BinaryComment, &in.TxHash); err != nil {
		return Income{}, err
	}
	in.DepositAddress = m.friendly(wc, addr)
	if srcWC != nil && len(srcAddr) == 32 {
		in.SourceAddress = m.friendly(*srcWC, srcAddr)
	}
	if comment != nil {
		in.Comment = *comment
	}
	return in, nil
}

// SyncStatus reports whether the scanner is in sync and the generation time
// of the last scanned masterchain block (0 when nothing was scanned yet).
// In sync means: a block was scanned, its gen_utime is no more than
// AllowableLag behind now, and, when a Head func is configured, no more
// than AllowableLag behind the network head's gen_utime.
func (m *ReadModel) SyncStatus(ctx context.Context) (isSynced bool, lastBlockGenUtime int64, err error) {
	var seqno int64
	err = m.db.QueryRow(ctx, `SELECT mc_seqno, gen_utime FROM scanner_cursor`).Scan(&seqno, &lastBlockGenUtime)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, 0, nil
	}
	if err != nil {
		return false, 0, fmt.Errorf("blockscanner: read scanner cursor: %w", err)
	}
	genTime := time.Unix(lastBlockGenUtime, 0)
	if m.conf.Now().Sub(genTime) > m.conf.AllowableLag {
		return false, lastBlockGenUtime, nil
	}
	if m.conf.Head != nil {
		_, headUtime, err := m.conf.Head(ctx)
		if err != nil {
			return false, lastBlockGenUtime, fmt.Errorf("blockscanner: network head: %w", err)
		}
		if time.Unix(headUtime, 0).Sub(genTime) > m.conf.AllowableLag {
			return false, lastBlockGenUtime, nil
		}
	}
	return true, lastBlockGenUtime, nil
}

// friendly formats a stored raw address the way the API shows deposit and
// source addresses: user-friendly URL-safe base64, non-bounceable, with the
// testnet flag on testnet.
func (m *ReadModel) friendly(workchain int32, data []byte) string {
	return tonaddr.Format(address.NewAddress(0, byte(workchain), data), m.conf.Network, false)
}
