// Package ledger is the processor's double-entry book of every movement of
// money it controls, and what is built on it: reconciliation with the
// chain (Reconciler), the entry export and the pull API of webhook events
// (API).
//
// # Postings
//
// A Posting is one event (a credited deposit, a withdrawal paid, the fees
// of one transaction, ...) with two or more Lines. A line's amount is
// signed: positive debits its account, negative credits it. The lines of a
// posting sum to zero per currency; Post refuses any other posting, and a
// trigger refuses any INSERT into ledger_entries that does not balance per
// posting and currency, whatever wrote it.
//
// Post is the one way postings are written. The package that owns an event
// calls it inside the PostgreSQL transaction that records the event (the
// scanner for deposits, internal/withdrawals for everything the hot wallet
// and the deposit wallets do), so the ledger holds a movement if and only
// if the processor committed it. Posting.Ref is the event's key: posting
// the same event again (a scanner batch redone after a crash, the backfill
// run twice) writes nothing.
//
// # Accounts
//
// Per currency (TON, or a jetton symbol):
//
//	hot                 the hot wallet (TON), or its jetton wallet (a jetton)
//	deposit:<wc>:<hex>  a deposit address: its TON (TON deposits) or its
//	                    jetton wallet's balance (jetton deposits)
//	cold:<wc>:<hex>     the cold wallet (COLD_WALLET)
//	user:<user id>      what the processor owes a user (credited deposits
//	                    less paid withdrawals): a liability, so credit-normal
//	transit             money between two of our accounts, or on its way to
//	                    a withdrawal's destination, not yet arrived
//	fees                network fees: total_fees, forward and storage fees
//	                    of our transactions, from the chain, and the TON
//	                    attached to jetton transfers as gas (less excesses
//	                    returned)
//	external            the world outside: adjustments and opening balances
//
// The asset accounts (hot, deposit, cold) are what reconciliation compares
// with the chain. The TON that jetton deposit owners hold for gas is not an
// asset account: top-ups sent there are fees.
package ledger

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"sort"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/xssnick/tonutils-go/address"
	"github.com/xssnick/tonutils-go/tlb"
)

// Fixed accounts.
const (
	Hot      = "hot"
	Transit  = "transit"
	Fees     = "fees"
	External = "external"
)

// Deposit is the account of a deposit address.
func Deposit(a *address.Address) string {
	return fmt.Sprintf("deposit:%d:%x", a.Workchain(), a.Data())
}

// DepositRaw is Deposit for a raw workchain and account id.
func DepositRaw(wc int32, id []byte) string { return fmt.Sprintf("deposit:%d:%x", wc, id) }

// Cold is the account of the cold wallet.
func Cold(a *address.Address) string { return fmt.Sprintf("cold:%d:%x", a.Workchain(), a.Data()) }

// ColdRaw is Cold for a raw workchain and account id.
func ColdRaw(wc int32, id []byte) string { return fmt.Sprintf("cold:%d:%x", wc, id) }

// User is the liability account of a user.
func User(userID string) string { return "user:" + userID }

// Line is one entry of a posting: Amount > 0 debits Account, < 0 credits it.
type Line struct {
	Account  string
	Currency string
	Amount   *big.Int
}

// Posting is one movement of money.
type Posting struct {
	// Ref is the causing event's key, unique across the ledger (e.g.
	// "deposit:<tx hash hex>"): 1-200 visible ASCII characters.
	Ref string
	// Kind names the event type (deposit, fee, withdrawal_paid, ...).
	Kind string
	// TxHash, TxLT and Utime name the transaction that moved the money
	// (nil/0 when none); MasterSeqno the masterchain block whose
	// processing recorded it (0: none).
	TxHash      []byte
	TxLT        uint64
	Utime       uint32
	MasterSeqno uint32
	Lines       []Line
	// Backfilled marks postings built from rows older than the ledger.
	Backfilled bool
}

// Move is the two lines of amount moving from one account to another:
// from is credited, to is debited. A zero amount or from == to gives none.
func Move(currency string, amount *big.Int, from, to string) []Line {
	if amount == nil || amount.Sign() == 0 || from == to {
		return nil
	}
	return []Line{
		{Account: from, Currency: currency, Amount: new(big.Int).Neg(amount)},
		{Account: to, Currency: currency, Amount: new(big.Int).Set(amount)},
	}
}

// ErrUnbalanced is returned by Post for a posting whose lines do not sum
// to zero in some currency.
var ErrUnbalanced = errors.New("ledger: posting does not balance")

// Validate reports why p cannot be posted: its lines must sum to zero per
// currency, and name accounts and currencies.
func (p Posting) Validate() error {
	if p.Ref == "" || len(p.Ref) > 200 || strings.ContainsAny(p.Ref, " \t\r\n") {
		return fmt.Errorf("ledger: posting ref %q must be 1-200 visible characters", p.Ref)
	}
	if p.Kind == "" {
		return fmt.Errorf("ledger: posting %s has no kind", p.Ref)
	}
	sums := map[string]*big.Int{}
	for _, l := range p.Lines {
		if l.Account == "" || l.Currency == "" || l.Amount == nil {
			return fmt.Errorf("ledger: posting %s has an incomplete line", p.Ref)
		}
		s := sums[l.Currency]
		if s == nil {
			s = new(big.Int)
			sums[l.Currency] = s
		}
		s.Add(s, l.Amount)
	}
	for cur, s := range sums {
		if s.Sign() != 0 {
			return fmt.Errorf("%w: %s in %s: debits - credits = %s", ErrUnbalanced, p.Ref, cur, s)
		}
	}
	return nil
}

// Post writes p inside tx, the transaction of the event that caused it. It
// reports whether it wrote anything: false when p.Ref was posted before
// (the event was recorded already), or when p has no non-zero lines. Lines
// on the same account and currency are summed; zero sums are dropped.
func Post(ctx context.Context, tx pgx.Tx, p Posting) (bool, error) {
	n, err := post(ctx, tx, []Posting{p})
	return n == 1, err
}

// PostAll is Post for several postings (nil ones are skipped) in two
// statements, for producers that book many events at once (the scanner
// catching up). Under a context made by Defer the postings are checked
// and kept for that Deferred's Flush instead.
func PostAll(ctx context.Context, tx pgx.Tx, ps ...*Posting) error {
	var all []Posting
	for _, p := range ps {
		if p != nil {
			all = append(all, *p)
		}
	}
	if d, ok := ctx.Value(deferKey{}).(*Deferred); ok {
		for _, p := range all {
			if err := p.Validate(); err != nil {
				return err
			}
		}
		d.ps = append(d.ps, all...)
		return nil
	}
	_, err := post(ctx, tx, all)
	return err
}

// Deferred holds the postings PostAll was given under its context, for
// one Flush: a transaction that books an event per row (the scanner's,
// settling hundreds of withdrawals a block) writes them in two statements
// instead of two per event. Nothing in such a transaction may read the
// ledger before Flush.
type Deferred struct{ ps []Posting }

type deferKey struct{}

// Defer returns a context under which PostAll defers to the returned
// Deferred.
func Defer(ctx context.Context) (context.Context, *Deferred) {
	d := &Deferred{}
	return context.WithValue(ctx, deferKey{}, d), d
}

// Flush writes the postings deferred so far in tx.
func (d *Deferred) Flush(ctx context.Context, tx pgx.Tx) error {
	ps := d.ps
	d.ps = nil
	_, err := post(ctx, tx, ps)
	return err
}

type netLine struct {
	account, currency string
	amount            *big.Int
}

// netLines sums p's lines per account and currency, drops zeros, and
// orders them: by currency, debits first.
func netLines(p Posting) []netLine {
	type key struct{ account, currency string }
	net := map[key]*big.Int{}
	var order []key
	for _, l := range p.Lines {
		k := key{l.Account, l.Currency}
		if net[k] == nil {
			net[k] = new(big.Int)
			order = append(order, k)
		}
		net[k].Add(net[k], l.Amount)
	}
	sort.SliceStable(order, func(i, j int) bool {
		if order[i].currency != order[j].currency {
			return order[i].currency < order[j].currency
		}
		return net[order[i]].Sign() > net[order[j]].Sign()
	})
	var out []netLine
	for _, k := range order {
		if net[k].Sign() != 0 {
			out = append(out, netLine{k.account, k.currency, net[k]})
		}
	}
	return out
}

func optional(v uint64) *int64 {
	if v == 0 {
		return nil
	}
	n := int64(v)
	return &n
}

// post writes ps (validated first: one bad posting writes nothing) and
// returns how many were new.
func post(ctx context.Context, tx pgx.Tx, ps []Posting) (int, error) {
	lines := make([][]netLine, 0, len(ps))
	var refs, kinds []string
	var hashes [][]byte
	var lts, mcs, utimes []*int64
	var backfilled []bool
	seen := map[string]bool{}
	for _, p := range ps {
		if err := p.Validate(); err != nil {
			return 0, err
		}
		nl := netLines(p)
		if len(nl) == 0 || seen[p.Ref] {
			continue
		}
		seen[p.Ref] = true
		lines = append(lines, nl)
		refs, kinds, hashes = append(refs, p.Ref), append(kinds, p.Kind), append(hashes, p.TxHash)
		lts, mcs, utimes = append(lts, optional(p.TxLT)), append(mcs, optional(uint64(p.MasterSeqno))), append(utimes, optional(uint64(p.Utime)))
		backfilled = append(backfilled, p.Backfilled)
	}
	if len(refs) == 0 {
		return 0, nil
	}
	rows, err := tx.Query(ctx, `INSERT INTO ledger_postings (ref, kind, tx_hash, tx_lt, mc_seqno, utime, backfilled)
		SELECT * FROM unnest($1::text[], $2::text[], $3::bytea[], $4::bigint[], $5::bigint[], $6::bigint[], $7::boolean[])
		ON CONFLICT (ref) DO NOTHING RETURNING id, ref`, refs, kinds, hashes, lts, mcs, utimes, backfilled)
	if err != nil {
		return 0, fmt.Errorf("ledger: post %s: %w", refs[0], err)
	}
	ids := map[string]int64{}
	for rows.Next() {
		var id int64
		var ref string
		if err := rows.Scan(&id, &ref); err != nil {
			rows.Close()
			return 0, fmt.Errorf("ledger: post %s: %w", refs[0], err)
		}
		ids[ref] = id
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("ledger: post %s: %w", refs[0], err)
	}
	if len(ids) == 0 {
		return 0, nil
	}
	var postingIDs []int64
	var accounts, currencies, amounts []string
	for i, ref := range refs {
		id, fresh := ids[ref]
		if !fresh {
			continue
		}
		for _, l := range lines[i] {
			postingIDs = append(postingIDs, id)
			accounts, currencies, amounts = append(accounts, l.account), append(currencies, l.currency), append(amounts, l.amount.String())
		}
	}
	if _, err := tx.Exec(ctx, `INSERT INTO ledger_entries (posting_id, account, currency, amount)
		SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::numeric[])`,
		postingIDs, accounts, currencies, amounts); err != nil {
		return 0, fmt.Errorf("ledger: post %s: entries: %w", refs[0], err)
	}
	return len(ids), nil
}

// TxFees is what transaction t took from its account's TON balance beyond
// the values it sent: total_fees (storage, compute, action, import fees)
// plus the forward and IHR fees carried by each internal message it sent
// (deducted from the sender, paid to validators on the way). So the
// account's balance changed by in value - sent values - TxFees.
func TxFees(t *tlb.Transaction) *big.Int {
	fee := new(big.Int).Set(t.TotalFees.Coins.Nano())
	if t.IO.Out == nil {
		return fee
	}
	msgs, err := t.IO.Out.ToSlice()
	if err != nil {
		return fee
	}
	for _, m := range msgs {
		if m.MsgType != tlb.MsgTypeInternal {
			continue
		}
		im := m.AsInternal()
		fee.Add(fee, im.FwdFee.Nano())
		fee.Add(fee, im.IHRFee.Nano())
	}
	return fee
}

// TxRef is the hex form of a transaction hash used in refs.
func TxRef(hash []byte) string { return hex.EncodeToString(hash) }

// FeePosting is the posting of t's fees (TxFees), paid by account in TON;
// nil when t took none.
func FeePosting(t *tlb.Transaction, account string, mcSeqno uint32) *Posting {
	f := TxFees(t)
	if f.Sign() == 0 || account == Fees {
		return nil
	}
	return &Posting{Ref: "fee:" + TxRef(t.Hash), Kind: "network_fee", TxHash: t.Hash, TxLT: t.LT, Utime: t.Now, MasterSeqno: mcSeqno,
		Lines: Move("TON", f, account, Fees)}
}

// Balance is one account's balance in one currency (debits - credits).
type Balance struct {
	Account  string `json:"account"`
	Currency string `json:"currency"`
	Amount   string `json:"balance"`
}

// Balances returns every account's balance, by currency and account. q is
// a pool or a transaction (to read at one snapshot).
func Balances(ctx context.Context, q Querier) ([]Balance, error) {
	rows, err := q.Query(ctx, `SELECT account, currency, sum(amount)::text FROM ledger_entries GROUP BY currency, account ORDER BY currency, account`)
	if err != nil {
		return nil, fmt.Errorf("ledger: balances: %w", err)
	}
	defer rows.Close()
	var out []Balance
	for rows.Next() {
		var b Balance
		if err := rows.Scan(&b.Account, &b.Currency, &b.Amount); err != nil {
			return nil, err
		}
		out = append(out, b)
	}
	return out, rows.Err()
}

// Querier is what reads need: *pgxpool.Pool, pgx.Tx.
type Querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}
