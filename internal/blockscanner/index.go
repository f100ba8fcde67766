package blockscanner

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// refreshMargin is how far below the highest known deposit row id a refresh
// looks again: ids are allocated before their transactions commit, so a row
// with a smaller id can become visible after one with a larger id.
const refreshMargin = 1024

// Index is the in-memory set of watched workchain-0 accounts: deposit
// owners, their jetton wallets, and the hot wallet. It is refreshed from
// deposit_wallets before each block batch, so addresses created by any
// instance are watched before a block that could pay into them is scanned
// (an address is handed out only after its row commits, and a payment to
// it can only land in a block produced after that).
type Index struct {
	db   *pgxpool.Pool
	hook Hook
	hot  [32]byte

	mu      sync.RWMutex
	byAcct  map[[32]byte]Watched
	extra   map[[32]byte]Watched // from the hook, replaced on every refresh
	maxID   int64
	deposit int // deposit rows loaded
}

// NewIndex creates an index watching the hot wallet; Refresh loads deposits.
func NewIndex(db *pgxpool.Pool, hot [32]byte) *Index {
	ix := &Index{db: db, hot: hot, byAcct: map[[32]byte]Watched{}}
	ix.byAcct[hot] = Watched{Kind: KindHot, Owner: hot}
	return ix
}

// Lookup returns what the index knows about an account.
func (ix *Index) Lookup(acct [32]byte) (Watched, bool) {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	if w, ok := ix.byAcct[acct]; ok {
		return w, ok
	}
	w, ok := ix.extra[acct]
	return w, ok
}

// Len is the number of watched accounts.
func (ix *Index) Len() int {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	return len(ix.byAcct)
}

// Refresh loads deposit rows it may not have seen yet, and the hook's
// accounts (withdrawal destinations in flight, hot jetton wallets).
func (ix *Index) Refresh(ctx context.Context) error {
	if ix.hook != nil {
		extra, err := ix.hook.Watch(ctx)
		if err != nil {
			return fmt.Errorf("blockscanner: hook accounts: %w", err)
		}
		ix.mu.Lock()
		ix.extra = extra
		ix.mu.Unlock()
	}
	ix.mu.RLock()
	from := ix.maxID - refreshMargin
	ix.mu.RUnlock()
	rows, err := ix.db.Query(ctx, `
		SELECT id, user_id, currency, workchain, address, jetton_wallet_workchain, jetton_wallet, coalesce(credited_before_lt, 0)
		FROM deposit_wallets WHERE id > $1 ORDER BY id`, from)
	if err != nil {
		return fmt.Errorf("blockscanner: load deposit wallets: %w", err)
	}
	defer rows.Close()
	type row struct {
		w         Watched
		wc        int32
		jwWC      *int32
		owner, jw []byte
	}
	var loaded []row
	for rows.Next() {
		var r row
		var before int64
		if err := rows.Scan(&r.w.DepositID, &r.w.UserID, &r.w.Currency, &r.wc, &r.owner, &r.jwWC, &r.jw, &before); err != nil {
			return fmt.Errorf("blockscanner: load deposit wallets: %w", err)
		}
		r.w.CreditedBeforeLT = uint64(before)
		loaded = append(loaded, r)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("blockscanner: load deposit wallets: %w", err)
	}
	rows.Close()
	// The previous processor's hot wallet, when this refresh loaded
	// deposits a takeover imported (fromPreviousHot); Refresh runs every
	// step, and usually loads nothing.
	var previousHot *[32]byte
	if slices.ContainsFunc(loaded, func(r row) bool { return r.w.CreditedBeforeLT != 0 }) {
		var prev []byte
		switch err := ix.db.QueryRow(ctx, `SELECT hot_address FROM bicycle_takeover`).Scan(&prev); {
		case err == nil:
			previousHot = new([32]byte)
			copy(previousHot[:], prev)
		case !errors.Is(err, pgx.ErrNoRows):
			return fmt.Errorf("blockscanner: the previous processor's hot wallet: %w", err)
		}
	}
	ix.mu.Lock()
	defer ix.mu.Unlock()
	for _, r := range loaded {
		if r.wc != 0 {
			continue // deposits live in workchain 0
		}
		w := r.w
		w.Kind = KindDeposit
		if w.CreditedBeforeLT != 0 {
			w.PreviousHot = previousHot
		}
		copy(w.Owner[:], r.owner)
		if r.jw != nil {
			copy(w.JettonWallet[:], r.jw)
			jw := w
			jw.Kind = KindJettonWallet
			if _, seen := ix.byAcct[w.JettonWallet]; !seen {
				ix.byAcct[w.JettonWallet] = jw
			}
		}
		if _, seen := ix.byAcct[w.Owner]; !seen {
			ix.deposit++
		}
		ix.byAcct[w.Owner] = w
		if w.DepositID > ix.maxID {
			ix.maxID = w.DepositID
		}
	}
	return nil
}
