package bridge

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"sort"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/ton-custody/processor/internal/notify"
	"github.com/ton-custody/processor/internal/store"
)

// TopicPayment is the webhook topic of bridge payment status changes. The
// event id is "bridge:<reference>:<status>" and the data is a PaymentView.
const TopicPayment = "bridge_payment"

// Record is a stored bridge payment.
type Record struct {
	ID            int64
	Reference     string
	Kind          Kind
	Provider      string
	Amount        *big.Int
	Currency      string
	Method        string
	Status        Status
	RawStatus     string
	ProviderID    string
	RedirectURL   string
	SettledAmount *big.Int
	Reason        string
	CreatedAt     time.Time
	UpdatedAt     time.Time
}

// PaymentView is the JSON form of a Record in the API and in webhooks.
// Amounts are decimal strings in minor units.
type PaymentView struct {
	Reference     string `json:"reference"`
	Kind          Kind   `json:"kind"`
	Provider      string `json:"provider"`
	Amount        string `json:"amount"`
	Currency      string `json:"currency"`
	Method        string `json:"method,omitempty"`
	Status        Status `json:"status"`
	RawStatus     string `json:"raw_status"`
	ProviderID    string `json:"provider_id,omitempty"`
	RedirectURL   string `json:"redirect_url,omitempty"`
	SettledAmount string `json:"settled_amount,omitempty"`
	Reason        string `json:"reason,omitempty"`
	CreatedAt     string `json:"created_at"`
	UpdatedAt     string `json:"updated_at"`
}

// View returns r's JSON form.
func (r Record) View() PaymentView {
	v := PaymentView{Reference: r.Reference, Kind: r.Kind, Provider: r.Provider, Currency: r.Currency,
		Method: r.Method, Status: r.Status, RawStatus: r.RawStatus, ProviderID: r.ProviderID,
		RedirectURL: r.RedirectURL, Reason: r.Reason,
		CreatedAt: r.CreatedAt.UTC().Format(time.RFC3339Nano), UpdatedAt: r.UpdatedAt.UTC().Format(time.RFC3339Nano)}
	if r.Amount != nil {
		v.Amount = r.Amount.String()
	}
	if r.SettledAmount != nil {
		v.SettledAmount = r.SettledAmount.String()
	}
	return v
}

// storedRequest is the request column: what the merchant asked for.
type storedRequest struct {
	Kind     Kind              `json:"kind"`
	Provider string            `json:"provider"`
	Amount   string            `json:"amount"`
	Currency string            `json:"currency"`
	Method   string            `json:"method,omitempty"`
	Customer map[string]string `json:"customer,omitempty"`
	Extra    map[string]string `json:"extra,omitempty"`
}

// hash is the SHA-256 of a canonical encoding (map keys sorted, lengths
// prefixed), so the same request always hashes the same.
func (q storedRequest) hash() []byte {
	h := sha256.New()
	w := func(s string) { fmt.Fprintf(h, "%d:%s;", len(s), s) }
	wm := func(m map[string]string) {
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		w(fmt.Sprint(len(keys)))
		for _, k := range keys {
			w(k)
			w(m[k])
		}
	}
	w(string(q.Kind))
	w(q.Provider)
	w(q.Amount)
	w(q.Currency)
	w(q.Method)
	wm(q.Customer)
	wm(q.Extra)
	return h.Sum(nil)
}

const recordColumns = `id, reference, kind, provider, amount, currency, coalesce(request->>'method', ''), status, raw_status,
	provider_id, redirect_url, settled_amount, reason, created_at, updated_at`

func scanRecord(row pgx.Row) (Record, error) {
	var r Record
	r.Amount = new(big.Int)
	err := row.Scan(&r.ID, &r.Reference, &r.Kind, &r.Provider, store.BigInt(r.Amount), &r.Currency, &r.Method,
		&r.Status, &r.RawStatus, &r.ProviderID, &r.RedirectURL, store.NullBigInt(&r.SettledAmount), &r.Reason,
		&r.CreatedAt, &r.UpdatedAt)
	return r, err
}

// insertPayment stores a new payment in status created with its first
// history row, in one statement (one round trip, one commit), unless the
// reference exists; then inserted is false and the existing record and its
// request hash are returned. The initial status is not sent as a webhook:
// the merchant gets it in the answer; every later change is.
func insertPayment(ctx context.Context, db *pgxpool.Pool, ref string, q storedRequest, amount *big.Int) (rec Record, existingHash []byte, inserted bool, err error) {
	reqJSON, err := json.Marshal(q)
	if err != nil {
		return Record{}, nil, false, fmt.Errorf("bridge: encode request: %w", err)
	}
	hash := q.hash()
	rec, err = scanRecord(db.QueryRow(ctx, `WITH ins AS (
			INSERT INTO bridge_payments (reference, kind, provider, request_hash, request, amount, currency)
			VALUES ($1, $2, $3, $4, $5::jsonb, $6, $7)
			ON CONFLICT (reference) DO NOTHING RETURNING *),
		h AS (INSERT INTO bridge_payment_events (payment_id, status, source) SELECT id, status, 'create' FROM ins)
		SELECT `+recordColumns+` FROM ins`,
		ref, q.Kind, q.Provider, hash, string(reqJSON), amount, q.Currency))
	if err == nil {
		return rec, hash, true, nil
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return Record{}, nil, false, fmt.Errorf("bridge: insert payment %s: %w", ref, err)
	}
	row := db.QueryRow(ctx, `SELECT request_hash, `+recordColumns+` FROM bridge_payments WHERE reference = $1`, ref)
	var r Record
	r.Amount = new(big.Int)
	err = row.Scan(&existingHash, &r.ID, &r.Reference, &r.Kind, &r.Provider, store.BigInt(r.Amount), &r.Currency, &r.Method,
		&r.Status, &r.RawStatus, &r.ProviderID, &r.RedirectURL, store.NullBigInt(&r.SettledAmount), &r.Reason,
		&r.CreatedAt, &r.UpdatedAt)
	if err != nil {
		return Record{}, nil, false, fmt.Errorf("bridge: load payment %s: %w", ref, err)
	}
	return r, existingHash, false, nil
}

// enqueueChange writes the webhook event of rec's current status, inside tx.
func enqueueChange(ctx context.Context, tx pgx.Tx, rec Record) error {
	_, err := notify.EnqueueAll(ctx, tx, []notify.Event{{
		Topic:   TopicPayment,
		ID:      "bridge:" + rec.Reference + ":" + string(rec.Status),
		Payload: rec.View(),
	}})
	if err != nil {
		return fmt.Errorf("bridge: enqueue status of %s: %w", rec.Reference, err)
	}
	return nil
}

// rank orders the non-terminal statuses: a payment never goes back to a
// lower rank (a late "pending" callback after "processing" changes nothing).
func rank(s Status) int {
	switch s {
	case StatusCreated, StatusUnknown:
		return 0
	case StatusSubmitted:
		return 1
	case StatusActionRequired:
		return 2
	case StatusProcessing, StatusUnderReview:
		return 3
	}
	return 9
}

// Advances reports whether a payment in status from takes the reported
// status to: CanMove, never back to created or unknown (unknown only
// follows created), and never to a lower non-terminal rank.
func Advances(from, to Status) bool {
	if !from.CanMove(to) || to == StatusCreated || !validStatus(to) {
		return false
	}
	if to == StatusUnknown {
		return from == StatusCreated
	}
	return to.Terminal() || rank(to) >= rank(from)
}

func validStatus(s Status) bool {
	switch s {
	case StatusCreated, StatusSubmitted, StatusActionRequired, StatusProcessing, StatusUnderReview,
		StatusSucceeded, StatusFailed, StatusCanceled, StatusExpired, StatusReversed, StatusRejected, StatusUnknown:
		return true
	}
	return false
}

// applyResult moves the payment ref (of provider, when provider != "") to
// res.Status if Advances allows it, in one transaction with its history
// row and webhook event. Fields the record lacks (provider id, redirect
// URL) are filled in either way. changed tells whether the status moved.
// nextCheck is when the reconciler should look again if still open.
func applyResult(ctx context.Context, db store.Beginner, ref, provider string, res Result, source string, nextCheck time.Duration) (rec Record, changed bool, err error) {
	err = store.InTx(ctx, db, func(tx pgx.Tx) error {
		rec, err = scanRecord(tx.QueryRow(ctx, `SELECT `+recordColumns+` FROM bridge_payments WHERE reference = $1 FOR UPDATE`, ref))
		if errors.Is(err, pgx.ErrNoRows) || (err == nil && provider != "" && rec.Provider != provider) {
			return ErrUnknownReference
		}
		if err != nil {
			return fmt.Errorf("bridge: load payment %s: %w", ref, err)
		}
		var settled *big.Int
		if res.Amount != nil && res.Amount.Amount != nil && (res.Amount.Currency == "" || strings.EqualFold(res.Amount.Currency, rec.Currency)) {
			settled = res.Amount.Amount
		}
		if !Advances(rec.Status, res.Status) {
			if (rec.ProviderID == "" && res.ProviderID != "") || (rec.RedirectURL == "" && res.RedirectURL != "") {
				_, err := tx.Exec(ctx, `UPDATE bridge_payments SET provider_id = CASE WHEN provider_id = '' THEN $2 ELSE provider_id END,
					redirect_url = CASE WHEN redirect_url = '' THEN $3 ELSE redirect_url END WHERE id = $1`, rec.ID, res.ProviderID, res.RedirectURL)
				if err != nil {
					return fmt.Errorf("bridge: update payment %s: %w", ref, err)
				}
			}
			return nil
		}
		rec, err = scanRecord(tx.QueryRow(ctx, `WITH up AS (UPDATE bridge_payments SET status = $2, raw_status = $3,
			provider_id = CASE WHEN $4 = '' THEN provider_id ELSE $4 END,
			redirect_url = CASE WHEN $5 = '' THEN redirect_url ELSE $5 END,
			settled_amount = coalesce($6, settled_amount), reason = $7, checks = 0,
			next_check_at = now() + $8 * interval '1 millisecond'
			WHERE id = $1 RETURNING *),
			h AS (INSERT INTO bridge_payment_events (payment_id, status, raw_status, source, reason)
			      SELECT id, status, raw_status, $9, reason FROM up)
			SELECT `+recordColumns+` FROM up`,
			rec.ID, res.Status, res.RawStatus, res.ProviderID, res.RedirectURL, settled, res.Reason, nextCheck.Milliseconds(), source))
		if err != nil {
			return fmt.Errorf("bridge: update payment %s: %w", ref, err)
		}
		changed = true
		return enqueueChange(ctx, tx, rec)
	})
	return rec, changed, err
}

func isNoRows(err error) bool { return errors.Is(err, pgx.ErrNoRows) }
