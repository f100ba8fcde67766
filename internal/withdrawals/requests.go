// Package withdrawals pays out from the hot wallet. This file is the
// request store: what the HTTP API writes and reads (withdrawal requests,
// service withdrawals, queue totals). The worker that batches and sends
// them reads the same tables.
package withdrawals

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"math/big"
	"regexp"
	"unicode"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/xssnick/tonutils-go/address"

	"github.com/ton-custody/processor/internal/apierr"
	"github.com/ton-custody/processor/internal/audit"
	"github.com/ton-custody/processor/internal/config"
	"github.com/ton-custody/processor/internal/money"
	"github.com/ton-custody/processor/internal/notify"
	"github.com/ton-custody/processor/internal/store"
)

// Request limits.
const (
	// MaxIDLength is the longest user_id and query_id, in characters
	// (Unicode code points), as the schema allows.
	MaxIDLength = 256
	// MaxCommentBytes is the longest text comment, in UTF-8 bytes. On chain
	// a comment is op 0 (32 bits) followed by the text as a snake of cells:
	// 123 bytes in the first cell, 127 in each next one, so 1000 bytes take
	// 8 cells. The limit keeps a withdrawal's message small enough that a
	// full highload batch stays far below the external message limits.
	MaxCommentBytes = 1000
	// MaxBinaryCommentBits is the longest binary comment: one cell. A raw
	// bit string has no standard multi-cell layout, so it must fit in the
	// single cell that becomes the body (TON) or forward payload (jettons).
	MaxBinaryCommentBits = 1023
)

// State is the life cycle state of a withdrawal or service withdrawal:
// [awaiting_approval ->] pending -> processing -> processed | failed.
type State string

// States, as the API reports them.
const (
	StatePending    State = "pending"
	StateProcessing State = "processing"
	StateProcessed  State = "processed"
	StateFailed     State = "failed"
)

// Request is a withdrawal request (POST /v1/withdrawal/send).
type Request struct {
	// UserID and QueryID identify the request: 1..MaxIDLength characters
	// each, no control characters. Together they are the idempotency key.
	UserID  string
	QueryID string
	// Currency is TON or a configured jetton symbol; the caller checks it
	// against the configuration, Create only checks its form.
	Currency string
	// Amount is in base units, 0 < Amount <= 2^120-1.
	Amount *big.Int
	// Destination is a standard address in workchain 0 or -1.
	Destination *address.Address
	// Bounceable is the bounce flag of the payment, taken from the form of
	// the destination address the client gave.
	Bounceable bool
	// Comment is a text comment ("" for none), at most MaxCommentBytes of
	// UTF-8 without NUL.
	Comment string
	// BinaryComment holds BinaryCommentBits bits, most significant bit
	// first; bits past BinaryCommentBits in the last byte must be zero.
	// BinaryCommentBits == 0 means no binary comment. At most one of Comment
	// and BinaryComment may be set.
	BinaryComment     []byte
	BinaryCommentBits uint
}

// RequestStatus is what GET /v1/withdrawal/status reports.
type RequestStatus struct {
	UserID  string
	QueryID string
	Status  State
	// TxHash is the paying transaction, nil until known.
	TxHash []byte
	// Reason says why a failed withdrawal failed; "" otherwise.
	Reason string
}

// ServiceKind is the kind of a service withdrawal.
type ServiceKind string

// Service withdrawal kinds.
const (
	// ServiceTON moves all TON of a jetton deposit address to the hot wallet.
	ServiceTON ServiceKind = "ton"
	// ServiceJetton moves all jettons of one master from one of our
	// addresses' jetton wallet to the hot wallet.
	ServiceJetton ServiceKind = "jetton"
)

// ServiceRequestStatus is the state of a service withdrawal.
type ServiceRequestStatus struct {
	Memo   uuid.UUID
	Kind   ServiceKind
	Status State
	// Amount is the amount moved, nil until known.
	Amount *big.Int
	// TxHash is the transaction that moved the funds, nil until known.
	TxHash []byte
	// Reason says why a failed service withdrawal failed; "" otherwise.
	Reason string
}

// JettonWalletFunc returns get_wallet_address(owner) of a jetton master. It
// returns an apierr.ErrBadRequest error when master is not a jetton master.
type JettonWalletFunc func(ctx context.Context, master, owner *address.Address) (*address.Address, error)

// RequestsConfig configures Requests.
type RequestsConfig struct {
	// HotWallet is the hot wallet's address; withdrawals to it are refused.
	HotWallet *address.Address
	// JettonWallet computes jetton wallet addresses for jetton service
	// withdrawals (a chain call, from internal/ton).
	JettonWallet JettonWalletFunc
	// Limits are optional per-currency withdrawal limits, by currency.
	Limits map[string]Limit
	// Ceiling returns the most of a currency that can exist (TON: see
	// TONCeiling; a jetton: its master's total_supply); amounts above it
	// are refused, since no hot wallet could ever pay them. fresh asks for
	// a value not served from a cache. A nil ceiling (unknown, e.g. the
	// chain is unreachable) or a nil func checks nothing.
	Ceiling func(ctx context.Context, currency string, fresh bool) (*big.Int, error)
	// JettonMasters are the configured jettons' masters by symbol. A
	// jetton withdrawal stores its destination's jetton wallet (from
	// JettonWallet), whose transaction settles the payment; without a
	// master the payment settles on the hot jetton wallet's transfer.
	JettonMasters map[string]*address.Address
	// ApprovalThresholds are amounts by currency above which a new
	// withdrawal is stored awaiting_approval (APPROVAL_THRESHOLDS).
	ApprovalThresholds map[string]*big.Int
	// Network renders addresses in the webhook events Create and Cancel
	// write.
	Network config.Network
}

// TONCeiling is the ceiling for TON amounts: 10^10 TON in nanoton. The
// total supply is about 5.1*10^9 TON and grows by well under 1% a year,
// so no withdrawal above this can ever be paid.
var TONCeiling = new(big.Int).Exp(big.NewInt(10), big.NewInt(19), nil)

// Limit caps a currency's withdrawals. A nil field is no limit.
type Limit struct {
	// PerWithdrawal is the largest amount of one withdrawal.
	PerWithdrawal *big.Int
	// PerDay is the most all withdrawals of the currency accepted in any
	// 24 hours may add up to, failed ones not counted.
	PerDay *big.Int
}

// Requests stores withdrawal and service withdrawal requests. It is safe
// for concurrent use, also from several processes on one database.
type Requests struct {
	db   *pgxpool.Pool
	conf RequestsConfig
	ev   eventFormat
	ctl  *Controls
}

// NewRequests returns a request store over db.
func NewRequests(db *pgxpool.Pool, conf RequestsConfig) (*Requests, error) {
	if db == nil {
		return nil, errors.New("withdrawals: request store needs a database pool")
	}
	if err := checkStdAddress(conf.HotWallet); err != nil {
		return nil, fmt.Errorf("withdrawals: hot wallet: %w", err)
	}
	if conf.JettonWallet == nil {
		return nil, errors.New("withdrawals: request store needs a JettonWallet func")
	}
	conf.HotWallet = conf.HotWallet.Copy()
	ctl, err := NewControls(db, ControlsConfig{Network: conf.Network, JettonMasters: conf.JettonMasters})
	if err != nil {
		return nil, err
	}
	return &Requests{db: db, conf: conf, ev: eventFormatOf(conf.Network, conf.JettonMasters), ctl: ctl}, nil
}

// Create stores a withdrawal request and returns its ID.
//
// (UserID, QueryID) is an idempotency key: when a request with that key
// exists, Create returns its ID if the rest of the request is the same
// (see RequestHash) and an apierr.ErrConflict error otherwise; it never
// stores a second row, also under concurrent submissions.
//
// Invalid requests and destinations that belong to this processor (the
// hot wallet, a deposit address, a jetton wallet of either) give an
// apierr.ErrBadRequest error, as do amounts above the currency's Limit.
func (r *Requests) Create(ctx context.Context, req Request) (int64, error) {
	if err := validate(&req); err != nil {
		return 0, err
	}
	if req.Destination.Equals(r.conf.HotWallet) {
		return 0, apierr.BadRequest("destination is this processor's hot wallet")
	}
	if err := r.checkCeiling(ctx, req); err != nil {
		// A retry of a request accepted earlier (when the supply was
		// larger, before a burn) is still answered with its id.
		if id, found, e := existing(ctx, r.db, req, RequestHash(req)); e != nil || found {
			return id, e
		}
		return 0, err
	}
	djw, err := r.destinationJettonWallet(ctx, req)
	if err != nil {
		return 0, err
	}
	state := StatePending
	if t := r.conf.ApprovalThresholds[req.Currency]; t != nil && req.Amount.Cmp(t) > 0 {
		state = StateAwaitingApproval
	}
	if lim, ok := r.conf.Limits[req.Currency]; state == StateAwaitingApproval || ok && (lim.PerWithdrawal != nil || lim.PerDay != nil) {
		if err := r.refuseOwnAddress(ctx, req.Destination); err != nil {
			return 0, err
		}
		return r.createLimited(ctx, req, lim, djw, state)
	}
	hash := RequestHash(req)
	var id int64
	err = r.db.QueryRow(ctx, insertWithdrawalUnlessOwn, insertArgs(req, hash, djw, state)...).Scan(&id)
	if err == nil {
		return id, nil
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return 0, fmt.Errorf("withdrawals: insert request: %w", err)
	}
	// Nothing stored: the destination is one of ours, or the key exists
	// (ON CONFLICT waited for a concurrent inserter to finish, and these
	// new statements see its committed row).
	if err := r.refuseOwnAddress(ctx, req.Destination); err != nil {
		return 0, err
	}
	id, found, err := existing(ctx, r.db, req, hash)
	if err == nil && !found {
		err = errors.New("withdrawals: a request with the same key vanished")
	}
	return id, err
}

// checkCeiling refuses an amount above what can exist of the currency. A
// cached ceiling is re-read before it refuses, so a jetton minted a
// moment ago is not refused on a stale total_supply.
func (r *Requests) checkCeiling(ctx context.Context, req Request) error {
	if r.conf.Ceiling == nil {
		return nil
	}
	for _, fresh := range []bool{false, true} {
		c, err := r.conf.Ceiling(ctx, req.Currency, fresh)
		if err != nil {
			return fmt.Errorf("withdrawals: the most %s that can exist: %w", req.Currency, err)
		}
		if c == nil || req.Amount.Cmp(c) <= 0 {
			return nil
		}
	}
	return apierr.BadRequest("amount %s %s is more than can exist (the currency's total supply); no withdrawal of it can ever be paid",
		req.Amount, req.Currency)
}

// destinationJettonWallet is the jetton wallet of a jetton withdrawal's
// destination (nil for TON, or a jetton without a configured master). It
// is stored with the request, before any batch can send the payment, so
// the scanner watches it in time (see Outcomes.Watch).
func (r *Requests) destinationJettonWallet(ctx context.Context, req Request) (*address.Address, error) {
	master := r.conf.JettonMasters[req.Currency]
	if req.Currency == "TON" || master == nil {
		return nil, nil
	}
	jw, err := r.conf.JettonWallet(ctx, master, req.Destination)
	if err != nil {
		return nil, fmt.Errorf("withdrawals: the destination's %s jetton wallet: %w", req.Currency, err)
	}
	return jw, nil
}

// insertWithdrawal stores a request unless its key exists; insertArgs
// gives its arguments.
const insertWithdrawal = `
INSERT INTO withdrawals (user_id, query_id, currency, amount, destination_workchain, destination_address,
                         bounceable, comment, binary_comment, request_hash,
                         destination_jetton_wallet_workchain, destination_jetton_wallet, state)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
ON CONFLICT ON CONSTRAINT withdrawals_user_query_key DO NOTHING
RETURNING id`

// insertWithdrawalUnlessOwn is insertWithdrawal that stores nothing either
// when the destination is one of this processor's addresses (a deposit
// address, the jetton wallet of one, a jetton wallet of the hot wallet):
// the usual request takes one round trip, and refuseOwnAddress says which
// when nothing was stored. Parameters are cast to the columns' base types
// (a SELECT, unlike VALUES, does not take them from the columns).
const insertWithdrawalUnlessOwn = `
INSERT INTO withdrawals (user_id, query_id, currency, amount, destination_workchain, destination_address,
                         bounceable, comment, binary_comment, request_hash,
                         destination_jetton_wallet_workchain, destination_jetton_wallet, state)
SELECT $1::text, $2::text, $3::text, $4::numeric, $5::integer, $6::bytea, $7::boolean, $8::text, $9::varbit, $10::bytea,
       $11::integer, $12::bytea, $13::text
WHERE NOT EXISTS (SELECT 1 FROM deposit_wallets WHERE workchain = $5 AND address = $6)
  AND NOT EXISTS (SELECT 1 FROM deposit_wallets WHERE jetton_wallet_workchain = $5 AND jetton_wallet = $6)
  AND NOT EXISTS (SELECT 1 FROM hot_jetton_wallets WHERE jetton_wallet_workchain = $5 AND jetton_wallet = $6)
ON CONFLICT ON CONSTRAINT withdrawals_user_query_key DO NOTHING
RETURNING id`

func insertArgs(req Request, hash [32]byte, djw *address.Address, state State) []any {
	var comment *string
	if req.Comment != "" {
		comment = &req.Comment
	}
	bits := pgtype.Bits{}
	if req.BinaryCommentBits > 0 {
		bits = pgtype.Bits{Bytes: req.BinaryComment, Len: int32(req.BinaryCommentBits), Valid: true}
	}
	var djwWC *int32
	var djwData []byte
	if djw != nil {
		wc := djw.Workchain()
		djwWC, djwData = &wc, djw.Data()
	}
	return []any{req.UserID, req.QueryID, req.Currency, req.Amount, req.Destination.Workchain(), req.Destination.Data(),
		req.Bounceable, comment, bits, hash[:], djwWC, djwData, state}
}

func nonNegative(v *big.Int) *big.Int {
	if v.Sign() < 0 {
		return new(big.Int)
	}
	return v
}

// existing returns the withdrawal stored under req's key, found false when
// there is none, or a conflict error when its body differs.
func existing(ctx context.Context, q interface {
	QueryRow(context.Context, string, ...any) pgx.Row
}, req Request, hash [32]byte) (int64, bool, error) {
	var id int64
	var stored []byte
	err := q.QueryRow(ctx, `SELECT id, request_hash FROM withdrawals WHERE user_id = $1 AND query_id = $2`,
		req.UserID, req.QueryID).Scan(&id, &stored)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("withdrawals: read request with the same key: %w", err)
	}
	if string(stored) != string(hash[:]) {
		return 0, true, apierr.Conflict("withdrawal %d already has user_id %q and query_id %q with a different body; "+
			"repeat a request with exactly the same fields, or use a new query_id", id, req.UserID, req.QueryID)
	}
	return id, true, nil
}

// createLimited is Create for a currency with limits, or of a withdrawal
// that needs approval (state awaiting_approval: its webhook event and
// audit entry are written with it). A repeat of an
// accepted request is answered before the limits are checked, so a retry
// never turns into an error because later requests used up the day. The
// daily sum and the insert run under a per-currency transaction lock, so
// concurrent requests cannot together exceed the limit.
func (r *Requests) createLimited(ctx context.Context, req Request, lim Limit, djw *address.Address, state State) (int64, error) {
	hash := RequestHash(req)
	var id int64
	err := pgx.BeginFunc(ctx, r.db, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended('withdrawal-limit:' || $1, 0))`, req.Currency); err != nil {
			return fmt.Errorf("withdrawals: lock the %s limit: %w", req.Currency, err)
		}
		var found bool
		var err error
		if id, found, err = existing(ctx, tx, req, hash); err != nil || found {
			return err
		}
		if lim.PerWithdrawal != nil && req.Amount.Cmp(lim.PerWithdrawal) > 0 {
			return apierr.BadRequest("amount %s %s is above the limit of %s per withdrawal", req.Amount, req.Currency, lim.PerWithdrawal)
		}
		if lim.PerDay != nil {
			used := new(big.Int)
			if err := tx.QueryRow(ctx, `
SELECT coalesce(sum(amount), 0) FROM withdrawals
WHERE currency = $1 AND created_at > now() - interval '24 hours' AND state <> 'failed'`, req.Currency).Scan(store.BigInt(used)); err != nil {
				return fmt.Errorf("withdrawals: sum the last 24 hours of %s: %w", req.Currency, err)
			}
			if left := new(big.Int).Sub(lim.PerDay, used); req.Amount.Cmp(left) > 0 {
				return apierr.BadRequest("amount %s %s is above what the daily limit of %s leaves for the last 24 hours (%s)",
					req.Amount, req.Currency, lim.PerDay, nonNegative(left))
			}
		}
		if err := tx.QueryRow(ctx, insertWithdrawal, insertArgs(req, hash, djw, state)...).Scan(&id); err != nil {
			return err
		}
		if state == StateAwaitingApproval {
			return r.awaitApproval(ctx, tx, id)
		}
		return nil
	})
	if errors.Is(err, pgx.ErrNoRows) {
		// The same key, inserted meanwhile under another currency's lock.
		var found bool
		if id, found, err = existing(ctx, r.db, req, hash); err == nil && !found {
			err = errors.New("withdrawals: a request with the same key vanished")
		}
	}
	if err != nil {
		return 0, fmt.Errorf("withdrawals: %w", err)
	}
	return id, nil
}

// RequestHash returns the SHA-256 of the canonical form of a validated
// request, the request_hash that tells a repeat from a conflict. The
// canonical form is the tag "ton-custody/withdrawal-request/v1" followed
// by, each as a 4-byte big-endian length and the bytes: user_id,
// query_id, currency, the amount in decimal, the destination workchain as
// 4-byte big-endian two's complement followed by the 32-byte account id,
// one byte 1/0 for bounceable, the comment, and the binary comment as a
// 4-byte big-endian bit count followed by its bytes. The destination's
// testnet flag does not change the payment and is not included; an empty
// comment and a zero-bit binary comment both mean none.
func RequestHash(req Request) [32]byte {
	h := sha256.New()
	field := func(b []byte) {
		var n [4]byte
		binary.BigEndian.PutUint32(n[:], uint32(len(b)))
		h.Write(n[:])
		h.Write(b)
	}
	field([]byte("ton-custody/withdrawal-request/v1"))
	field([]byte(req.UserID))
	field([]byte(req.QueryID))
	field([]byte(req.Currency))
	field([]byte(req.Amount.String()))
	dest := make([]byte, 4, 36)
	binary.BigEndian.PutUint32(dest, uint32(req.Destination.Workchain()))
	field(append(dest, req.Destination.Data()...))
	if req.Bounceable {
		field([]byte{1})
	} else {
		field([]byte{0})
	}
	field([]byte(req.Comment))
	bin := make([]byte, 4, 4+len(req.BinaryComment))
	binary.BigEndian.PutUint32(bin, uint32(req.BinaryCommentBits))
	field(append(bin, req.BinaryComment...))
	var out [32]byte
	h.Sum(out[:0])
	return out
}

var currencyRE = regexp.MustCompile(`^[A-Z0-9]{1,12}$`)

// validate checks a request and normalises its binary comment.
func validate(req *Request) error {
	if err := CheckID("user_id", req.UserID); err != nil {
		return err
	}
	if err := CheckID("query_id", req.QueryID); err != nil {
		return err
	}
	if !currencyRE.MatchString(req.Currency) {
		return apierr.BadRequest("currency %q is not a currency code (TON or a jetton symbol: 1-12 of A-Z, 0-9)", req.Currency)
	}
	if !money.Valid(req.Amount) {
		return apierr.BadRequest("amount must be between 1 and 2^120-1 base units")
	}
	if err := checkStdAddress(req.Destination); err != nil {
		return apierr.BadRequest("destination: %v", err)
	}
	// The scanner follows workchain 0 only, so a payment to the
	// masterchain could be sent but never settled (processed or bounced).
	if req.Destination.Workchain() != 0 {
		return apierr.BadRequest("destination is on workchain %d; only workchain 0 (basechain) destinations are paid", req.Destination.Workchain())
	}
	if err := CheckComment(req.Comment); err != nil {
		return err
	}
	if req.BinaryCommentBits > MaxBinaryCommentBits {
		return apierr.BadRequest("binary_comment has %d bits; at most %d (one cell) are allowed", req.BinaryCommentBits, MaxBinaryCommentBits)
	}
	if req.BinaryCommentBits == 0 {
		req.BinaryComment = nil
	} else {
		n := int(req.BinaryCommentBits+7) / 8
		if len(req.BinaryComment) != n {
			return apierr.BadRequest("binary_comment: %d bits need %d bytes, got %d", req.BinaryCommentBits, n, len(req.BinaryComment))
		}
		b := append([]byte(nil), req.BinaryComment...)
		if rem := req.BinaryCommentBits % 8; rem != 0 {
			b[n-1] &= byte(0xff << (8 - rem))
		}
		req.BinaryComment = b
	}
	if req.Comment != "" && req.BinaryCommentBits > 0 {
		return apierr.BadRequest("give either comment or binary_comment, not both")
	}
	return nil
}

// CheckID checks a user_id or query_id (name says which): 1..MaxIDLength
// characters of valid UTF-8 without control characters.
func CheckID(name, v string) error {
	switch {
	case v == "":
		return apierr.BadRequest("%s is required", name)
	case !utf8.ValidString(v):
		return apierr.BadRequest("%s is not valid UTF-8", name)
	case utf8.RuneCountInString(v) > MaxIDLength:
		return apierr.BadRequest("%s is %d characters long; at most %d are allowed", name, utf8.RuneCountInString(v), MaxIDLength)
	}
	for _, c := range v {
		if unicode.IsControl(c) {
			return apierr.BadRequest("%s must not contain control characters (found U+%04X)", name, c)
		}
	}
	return nil
}

// CheckComment checks a text comment: at most MaxCommentBytes bytes of
// valid UTF-8 without NUL ("" means no comment).
func CheckComment(c string) error {
	switch {
	case len(c) > MaxCommentBytes:
		return apierr.BadRequest("comment is %d bytes long (UTF-8); at most %d are allowed", len(c), MaxCommentBytes)
	case !utf8.ValidString(c):
		return apierr.BadRequest("comment is not valid UTF-8")
	}
	for i := 0; i < len(c); i++ {
		if c[i] == 0 {
			return apierr.BadRequest("comment must not contain NUL characters; use binary_comment for binary data")
		}
	}
	return nil
}

func checkStdAddress(a *address.Address) error {
	switch {
	case a == nil:
		return errors.New("address is required")
	case a.Type() != address.StdAddress || len(a.Data()) != 32:
		return errors.New("not a standard address")
	case a.Workchain() != 0 && a.Workchain() != -1:
		return fmt.Errorf("workchain %d is not supported (0 or -1)", a.Workchain())
	}
	return nil
}

// refuseOwnAddress refuses destinations that belong to this processor:
// paying ourselves only burns fees and confuses the books (a payment to a
// deposit address would be credited as the user's income).
func (r *Requests) refuseOwnAddress(ctx context.Context, dest *address.Address) error {
	if dest.Equals(r.conf.HotWallet) {
		return apierr.BadRequest("destination is this processor's hot wallet")
	}
	var what string
	err := r.db.QueryRow(ctx, `
SELECT CASE
    WHEN EXISTS (SELECT 1 FROM deposit_wallets WHERE workchain = $1 AND address = $2) THEN 'a deposit address'
    WHEN EXISTS (SELECT 1 FROM deposit_wallets WHERE jetton_wallet_workchain = $1 AND jetton_wallet = $2) THEN 'the jetton wallet of a deposit address'
    WHEN EXISTS (SELECT 1 FROM hot_jetton_wallets WHERE jetton_wallet_workchain = $1 AND jetton_wallet = $2) THEN 'a jetton wallet of the hot wallet'
    ELSE '' END`, dest.Workchain(), dest.Data()).Scan(&what)
	if err != nil {
		return fmt.Errorf("withdrawals: check destination: %w", err)
	}
	if what != "" {
		return apierr.BadRequest("destination is %s of this processor; withdrawals to own addresses are not allowed", what)
	}
	return nil
}

// Status returns the state of withdrawal id, or an apierr.ErrNotFound error.
func (r *Requests) Status(ctx context.Context, id int64) (RequestStatus, error) {
	var (
		s      RequestStatus
		reason *string
	)
	err := r.db.QueryRow(ctx, `SELECT user_id, query_id, state, tx_hash, fail_reason FROM withdrawals WHERE id = $1`, id).
		Scan(&s.UserID, &s.QueryID, &s.Status, &s.TxHash, &reason)
	if errors.Is(err, pgx.ErrNoRows) {
		return RequestStatus{}, apierr.NotFound("no withdrawal with ID %d", id)
	}
	if err != nil {
		return RequestStatus{}, fmt.Errorf("withdrawals: read status: %w", err)
	}
	if reason != nil {
		s.Reason = *reason
	}
	return s, nil
}

// QueueTotals returns the sums of the currency's withdrawals that are
// processing (in a batch on its way) and pending (waiting for a batch),
// zero when there are none.
func (r *Requests) QueueTotals(ctx context.Context, currency string) (processing, pending *big.Int, err error) {
	processing, pending = new(big.Int), new(big.Int)
	err = r.db.QueryRow(ctx, `
SELECT coalesce(sum(amount) FILTER (WHERE state = 'processing'), 0),
       coalesce(sum(amount) FILTER (WHERE state = 'pending'), 0)
FROM withdrawals
WHERE currency = $1 AND state IN ('pending', 'processing')`, currency).
		Scan(store.BigInt(processing), store.BigInt(pending))
	if err != nil {
		return nil, nil, fmt.Errorf("withdrawals: queue totals: %w", err)
	}
	return processing, pending, nil
}

// deposit is the deposit_wallets row an address belongs to.
type deposit struct {
	currency   string
	masterWC   *int32
	master     []byte
	derivation string
}

// lookupDeposit finds the deposit address a, or explains (as a bad
// request, under the field name) why a cannot be the source.
func (r *Requests) lookupDeposit(ctx context.Context, field string, a *address.Address) (deposit, error) {
	if err := checkStdAddress(a); err != nil {
		return deposit{}, apierr.BadRequest("%s: %v", field, err)
	}
	if a.Equals(r.conf.HotWallet) {
		return deposit{}, apierr.BadRequest("%s is the hot wallet; service withdrawals move funds from a deposit address to the hot wallet", field)
	}
	var d deposit
	err := r.db.QueryRow(ctx, `SELECT currency, jetton_master_workchain, jetton_master, derivation FROM deposit_wallets WHERE workchain = $1 AND address = $2`,
		a.Workchain(), a.Data()).Scan(&d.currency, &d.masterWC, &d.master, &d.derivation)
	if errors.Is(err, pgx.ErrNoRows) {
		return deposit{}, apierr.BadRequest("%s is not a deposit address of this processor", field)
	}
	if err != nil {
		return deposit{}, fmt.Errorf("withdrawals: look up deposit: %w", err)
	}
	if d.derivation == "bicycle_proxy" {
		// No key of ours signs for it: only bicycle's hot wallet commands it.
		return deposit{}, apierr.BadRequest("%s is a jetton deposit address taken over from gobicycle/bicycle (a proxy only bicycle's hot wallet can command); "+
			"its jettons and TON are moved with `processor takeover-bicycle sweep-proxies`", field)
	}
	return d, nil
}

// CreateServiceTON requests moving all TON from the deposit address from
// to the hot wallet: from a jetton deposit, the TON it collected from
// excesses and stray transfers; from a TON deposit, a balance the
// automatic sweep leaves (at or below its threshold).
// It returns the memo used as the transfer's comment. While a TON service
// withdrawal from the same address is pending or processing, its memo is
// returned instead of starting a second one.
func (r *Requests) CreateServiceTON(ctx context.Context, from *address.Address) (uuid.UUID, error) {
	if _, err := r.lookupDeposit(ctx, "from", from); err != nil {
		return uuid.UUID{}, err
	}
	// From a TON deposit address it is a sweep on demand: a balance at or
	// below TON_SWEEP_THRESHOLD is never swept automatically and needs a
	// way out. The deposit wallet sends one message at a time, so it
	// cannot race an automatic sweep.
	return r.createService(ctx, ServiceTON, from, nil, nil)
}

// CreateServiceJetton requests moving all jettons of master held by
// owner's jetton wallet (get_wallet_address(owner) of master) to the hot
// wallet. owner must be a deposit address; a jetton deposit address's own
// jetton is swept automatically and is refused. It returns the memo; while
// a service withdrawal of the same owner and master is pending or
// processing, its memo is returned instead of starting a second one.
func (r *Requests) CreateServiceJetton(ctx context.Context, owner, master *address.Address) (uuid.UUID, error) {
	d, err := r.lookupDeposit(ctx, "owner", owner)
	if err != nil {
		return uuid.UUID{}, err
	}
	if err := checkStdAddress(master); err != nil {
		return uuid.UUID{}, apierr.BadRequest("jetton_master: %v", err)
	}
	if d.masterWC != nil && *d.masterWC == master.Workchain() && string(d.master) == string(master.Data()) {
		return uuid.UUID{}, apierr.BadRequest("owner is a %s deposit address and jetton_master is its jetton, which is swept to the hot wallet automatically", d.currency)
	}
	wallet, err := r.conf.JettonWallet(ctx, master, owner)
	if err != nil {
		return uuid.UUID{}, fmt.Errorf("withdrawals: jetton wallet of owner: %w", err)
	}
	if err := checkStdAddress(wallet); err != nil {
		return uuid.UUID{}, fmt.Errorf("withdrawals: jetton wallet of owner: %w", err)
	}
	return r.createService(ctx, ServiceJetton, owner, master, wallet)
}

func (r *Requests) createService(ctx context.Context, kind ServiceKind, from, master, wallet *address.Address) (uuid.UUID, error) {
	var (
		masterWC, walletWC     *int32
		masterData, walletData []byte
	)
	if master != nil {
		mwc, wwc := master.Workchain(), wallet.Workchain()
		masterWC, masterData, walletWC, walletData = &mwc, master.Data(), &wwc, wallet.Data()
	}
	var memo uuid.UUID
	err := store.InTx(ctx, r.db, func(tx pgx.Tx) error {
		// Serialises requests for one source so the open-request check
		// below cannot race with another insert.
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, store.LockKey("service-withdrawal:"+from.StringRaw())); err != nil {
			return fmt.Errorf("lock source: %w", err)
		}
		var open string
		err := tx.QueryRow(ctx, `
SELECT memo::text FROM service_withdrawals
WHERE kind = $1 AND from_workchain = $2 AND from_address = $3
  AND jetton_master_workchain IS NOT DISTINCT FROM $4 AND jetton_master IS NOT DISTINCT FROM $5
  AND state IN ('pending', 'processing')
ORDER BY id LIMIT 1`, string(kind), from.Workchain(), from.Data(), masterWC, masterData).Scan(&open)
		switch {
		case err == nil:
			memo, err = uuid.Parse(open)
			return err
		case !errors.Is(err, pgx.ErrNoRows):
			return fmt.Errorf("find open service withdrawal: %w", err)
		}
		memo = uuid.New()
		_, err = tx.Exec(ctx, `
INSERT INTO service_withdrawals (memo, kind, from_workchain, from_address,
                                 jetton_master_workchain, jetton_master, jetton_wallet_workchain, jetton_wallet)
VALUES ($1::uuid, $2, $3, $4, $5, $6, $7, $8)`,
			memo.String(), string(kind), from.Workchain(), from.Data(), masterWC, masterData, walletWC, walletData)
		if err != nil {
			return fmt.Errorf("insert service withdrawal: %w", err)
		}
		return nil
	})
	if err != nil {
		return uuid.UUID{}, fmt.Errorf("withdrawals: service withdrawal: %w", err)
	}
	return memo, nil
}

// ServiceStatus returns the state of the service withdrawal with memo, or
// an apierr.ErrNotFound error.
func (r *Requests) ServiceStatus(ctx context.Context, memo uuid.UUID) (ServiceRequestStatus, error) {
	s := ServiceRequestStatus{Memo: memo}
	var (
		kind   string
		reason *string
	)
	err := r.db.QueryRow(ctx, `SELECT kind, state, amount, tx_hash, fail_reason FROM service_withdrawals WHERE memo = $1::uuid`, memo.String()).
		Scan(&kind, &s.Status, store.NullBigInt(&s.Amount), &s.TxHash, &reason)
	if errors.Is(err, pgx.ErrNoRows) {
		return ServiceRequestStatus{}, apierr.NotFound("no service withdrawal with memo %s", memo)
	}
	if err != nil {
		return ServiceRequestStatus{}, fmt.Errorf("withdrawals: read service withdrawal: %w", err)
	}
	s.Kind = ServiceKind(kind)
	if reason != nil {
		s.Reason = *reason
	}
	return s, nil
}

// Resume clears every open withdrawal halt (see withdrawal_halts), after a
// person has checked the halted batch's withdrawals; by and reason are
// recorded. It returns the reasons of the halts it cleared.
func Resume(ctx context.Context, db *pgxpool.Pool, by string) ([]string, error) {
	rows, err := db.Query(ctx, `UPDATE withdrawal_halts SET cleared_at = now(), cleared_by = $1 WHERE cleared_at IS NULL RETURNING reason`, by)
	if err != nil {
		return nil, fmt.Errorf("withdrawals: clear halts: %w", err)
	}
	reasons, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("withdrawals: clear halts: %w", err)
	}
	return reasons, nil
}

// awaitApproval writes the webhook event and audit entry of withdrawal id,
// just stored awaiting_approval, in its transaction.
func (r *Requests) awaitApproval(ctx context.Context, tx pgx.Tx, id int64) error {
	ev, _, err := r.ev.scanWithdrawal(tx.QueryRow(ctx, `SELECT `+withdrawalEventColumns+` FROM withdrawals WHERE id = $1`, id))
	if err != nil {
		return fmt.Errorf("read withdrawal %d: %w", id, err)
	}
	ev.ID, ev.Status = id, string(StateAwaitingApproval)
	if _, err := notify.EnqueueAll(ctx, tx, []notify.Event{{Topic: notify.TopicWithdrawal,
		ID: fmt.Sprintf("withdrawal:%d:awaiting_approval", id), Payload: ev}}); err != nil {
		return fmt.Errorf("event of withdrawal %d: %w", id, err)
	}
	_, err = audit.Write(ctx, tx, audit.Entry{Actor: "api", Action: "withdrawal.await_approval", Subject: fmt.Sprintf("withdrawal:%d", id),
		After: controlState{State: StateAwaitingApproval}, Reason: "amount " + ev.Amount + " " + ev.Currency + " is above the approval threshold"})
	return err
}

// Cancel fails a pending or awaiting_approval withdrawal (see
// Controls.Cancel); actor names the API token.
func (r *Requests) Cancel(ctx context.Context, id int64, actor, reason string) (RequestStatus, error) {
	return r.ctl.Cancel(ctx, id, actor, reason)
}
