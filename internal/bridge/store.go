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
	// Attention says why a person must decide about the payment (an
	// unknown payment past UnknownGiveUp without a definite answer, or a
	// contradicting late status); "" when there is nothing to decide.
	Attention string
	// Conflicts are final statuses reported after a contradicting local
	// final status, oldest first.
	Conflicts []Conflict
	CreatedAt time.Time
	UpdatedAt time.Time
}

// NeedsAttention reports whether a person must decide about the payment.
func (r Record) NeedsAttention() bool { return r.Attention != "" || len(r.Conflicts) > 0 }

// Conflict is a final status a provider reported after the payment had
// reached a final status that contradicts it (see Contradicts).
type Conflict struct {
	LocalStatus   Status // the payment's final status when the report came
	Status        Status // the final status reported
	RawStatus     string
	Source        string // callback or reconcile
	Reason        string
	SettledAmount *big.Int // minor units, when the provider said
	At            time.Time
}

// conflictRow is a Conflict as recordCols aggregates it (the amount as
// exact decimal text, never a JSON number).
type conflictRow struct {
	LocalStatus Status    `json:"local_status"`
	Status      Status    `json:"status"`
	RawStatus   string    `json:"raw_status"`
	Source      string    `json:"source"`
	Reason      string    `json:"reason"`
	Settled     *string   `json:"settled_amount"`
	At          time.Time `json:"at"`
}

// ConflictView is the JSON form of a Conflict.
type ConflictView struct {
	LocalStatus   Status `json:"local_status"`
	Status        Status `json:"status"`
	RawStatus     string `json:"raw_status"`
	Source        string `json:"source"`
	Reason        string `json:"reason,omitempty"`
	SettledAmount string `json:"settled_amount,omitempty"`
	At            string `json:"at"`
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
	// NeedsAttention: a person must decide (Attention says why, Conflicts
	// list contradicting late statuses).
	NeedsAttention bool           `json:"needs_attention"`
	Attention      string         `json:"attention,omitempty"`
	Conflicts      []ConflictView `json:"conflicts,omitempty"`
	CreatedAt      string         `json:"created_at"`
	UpdatedAt      string         `json:"updated_at"`
}

// View returns r's JSON form.
func (r Record) View() PaymentView {
	v := PaymentView{Reference: r.Reference, Kind: r.Kind, Provider: r.Provider, Currency: r.Currency,
		Method: r.Method, Status: r.Status, RawStatus: r.RawStatus, ProviderID: r.ProviderID,
		RedirectURL: r.RedirectURL, Reason: r.Reason, NeedsAttention: r.NeedsAttention(), Attention: r.Attention,
		CreatedAt: r.CreatedAt.UTC().Format(time.RFC3339Nano), UpdatedAt: r.UpdatedAt.UTC().Format(time.RFC3339Nano)}
	if r.Amount != nil {
		v.Amount = r.Amount.String()
	}
	if r.SettledAmount != nil {
		v.SettledAmount = r.SettledAmount.String()
	}
	for _, c := range r.Conflicts {
		cv := ConflictView{LocalStatus: c.LocalStatus, Status: c.Status, RawStatus: c.RawStatus, Source: c.Source,
			Reason: c.Reason, At: c.At.UTC().Format(time.RFC3339Nano)}
		if c.SettledAmount != nil {
			cv.SettledAmount = c.SettledAmount.String()
		}
		v.Conflicts = append(v.Conflicts, cv)
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

// recordCols are the columns scanRecord reads, of the bridge_payments row
// called t in the query (a table alias or a CTE), with its conflicts.
func recordCols(t string) string {
	return strings.ReplaceAll(`{t}.id, {t}.reference, {t}.kind, {t}.provider, {t}.amount, {t}.currency, coalesce({t}.request->>'method', ''),
	{t}.status, {t}.raw_status, {t}.provider_id, {t}.redirect_url, {t}.settled_amount, {t}.reason, {t}.attention,
	(SELECT coalesce(jsonb_agg(jsonb_build_object('local_status', c.local_status, 'status', c.status,
		'raw_status', c.raw_status, 'source', c.source, 'reason', c.reason,
		'settled_amount', c.settled_amount::text, 'at', c.created_at) ORDER BY c.id), '[]')
	 FROM bridge_payment_conflicts c WHERE c.payment_id = {t}.id),
	{t}.created_at, {t}.updated_at`, "{t}", t)
}

// scanRecord reads recordCols, after the destinations in pre.
func scanRecord(row pgx.Row, pre ...any) (Record, error) {
	var r Record
	var conflicts []byte
	r.Amount = new(big.Int)
	err := row.Scan(append(pre, &r.ID, &r.Reference, &r.Kind, &r.Provider, store.BigInt(r.Amount), &r.Currency, &r.Method,
		&r.Status, &r.RawStatus, &r.ProviderID, &r.RedirectURL, store.NullBigInt(&r.SettledAmount), &r.Reason, &r.Attention,
		&conflicts, &r.CreatedAt, &r.UpdatedAt)...)
	if err != nil {
		return r, err
	}
	var rows []conflictRow
	if err := json.Unmarshal(conflicts, &rows); err != nil {
		return r, fmt.Errorf("bridge: conflicts of %s: %w", r.Reference, err)
	}
	for _, c := range rows {
		cf := Conflict{LocalStatus: c.LocalStatus, Status: c.Status, RawStatus: c.RawStatus, Source: c.Source, Reason: c.Reason, At: c.At}
		if c.Settled != nil {
			v, ok := new(big.Int).SetString(*c.Settled, 10)
			if !ok {
				return r, fmt.Errorf("bridge: conflict of %s: settled amount %q", r.Reference, *c.Settled)
			}
			cf.SettledAmount = v
		}
		r.Conflicts = append(r.Conflicts, cf)
	}
	return r, nil
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
		SELECT `+recordCols("ins")+` FROM ins`,
		ref, q.Kind, q.Provider, hash, string(reqJSON), amount, q.Currency))
	if err == nil {
		return rec, hash, true, nil
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return Record{}, nil, false, fmt.Errorf("bridge: insert payment %s: %w", ref, err)
	}
	r, err := scanRecord(db.QueryRow(ctx, `SELECT p.request_hash, `+recordCols("p")+` FROM bridge_payments p WHERE p.reference = $1`, ref),
		&existingHash)
	if err != nil {
		return Record{}, nil, false, fmt.Errorf("bridge: load payment %s: %w", ref, err)
	}
	return r, existingHash, false, nil
}

// paymentEvent is the webhook event "bridge:<reference>:<what>" with rec
// as it is now: what is its status, or "conflict:<reported status>".
func paymentEvent(rec Record, what string) notify.Event {
	return notify.Event{
		Topic:   TopicPayment,
		ID:      "bridge:" + rec.Reference + ":" + what,
		Payload: rec.View(),
		// A receiver sees one payment's statuses in the order they happened.
		OrderKey: "bridge:" + rec.Reference,
	}
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

// applied is what applyBatch did with one change.
type applied struct {
	rec      Record
	changed  bool // the status moved
	conflict bool // a contradicting final status was recorded (the first report of it)
}

// change is one result to apply to one payment: the payment ref (of
// provider, when provider != ""), reported by source.
type change struct {
	ref, provider string
	res           Result
	source        string
}

// changeResult is what applyChanges did with one change.
type changeResult struct {
	a   applied
	err error
}

// applyChanges applies each change as applyBatch does, all in one
// transaction (changes of distinct payments). Should that transaction
// fail, each change is applied alone, so one change that cannot be
// applied fails no other.
func applyChanges(ctx context.Context, db *pgxpool.Pool, cs []change, nextCheck time.Duration,
	watch func(provider string) bool) []changeResult {
	out := make([]changeResult, len(cs))
	err := applyBatch(ctx, db, cs, nextCheck, watch, out)
	if err == nil {
		return out
	}
	if len(cs) == 1 {
		out[0] = changeResult{err: err}
		return out
	}
	for i := range cs {
		if err := applyBatch(ctx, db, cs[i:i+1], nextCheck, watch, out[i:i+1]); err != nil {
			out[i] = changeResult{err: err}
		}
	}
	return out
}

// applyBatch moves each change's payment to its result's status if
// Advances allows it, in one transaction with the history rows and
// webhook events, and writes what it did with change i to out[i]; a
// change whose payment is not there (or is another provider's) gets
// ErrUnknownReference. A status change clears the attention note. Fields
// a record lacks (provider id, redirect URL) are filled in either way. A
// final status that Contradicts the payment's final status is recorded in
// bridge_payment_conflicts (once per reported status) with an attention
// note and a webhook event "bridge:<ref>:conflict:<status>", in the same
// transaction. nextCheck is when the reconciler should look again if
// still open, or, for a payment that succeeds and that watch says (of its
// provider) may still be reversed, when its reversal watch polls first.
//
// Every callback and create call ends here (Service.apply groups the
// calls that arrive together), so the transaction takes three round trips
// however many payments it changes: BEGIN travels with the row locks, one
// statement changes every status that advances, and the webhook events
// travel with COMMIT (pipeTx). The rows are locked in id order, so two
// batches never wait for each other in a cycle.
func applyBatch(ctx context.Context, db *pgxpool.Pool, cs []change, nextCheck time.Duration,
	watch func(provider string) bool, out []changeResult) error {
	clear(out)
	refs := make([]string, len(cs))
	for i, c := range cs {
		refs[i] = c.ref
	}
	recs := make(map[string]Record, len(cs))
	tx, err := beginWith(ctx, db, func(rows pgx.Rows) error {
		for rows.Next() {
			rec, err := scanRecord(rows)
			if err != nil {
				return err
			}
			recs[rec.Reference] = rec
		}
		return rows.Err()
	}, `SELECT `+recordCols("p")+` FROM bridge_payments p WHERE p.reference = ANY($1) ORDER BY p.id FOR UPDATE`, refs)
	if err != nil {
		return fmt.Errorf("bridge: load payments: %w", err)
	}
	defer tx.rollbackUnlessDone(ctx)
	var up statusUpdates
	var last []notify.Event // sent with COMMIT: conflicts, then changes, each in the order of the changes
	for i, c := range cs {
		rec, ok := recs[c.ref]
		if !ok || (c.provider != "" && rec.Provider != c.provider) {
			out[i].err = ErrUnknownReference
			continue
		}
		out[i].a.rec = rec
		res := c.res
		var settled *big.Int
		if res.Amount != nil && res.Amount.Amount != nil && (res.Amount.Currency == "" || strings.EqualFold(res.Amount.Currency, rec.Currency)) {
			settled = res.Amount.Amount
		}
		if Advances(rec.Status, res.Status) {
			// A success starts the reversal watch (the reconciler keeps
			// asking the provider, as a reversal callback may be lost);
			// any other status ends it.
			up.add(i, rec.ID, c, settled, res.Status == StatusSucceeded && watch != nil && watch(rec.Provider))
			continue
		}
		if (rec.ProviderID == "" && res.ProviderID != "") || (rec.RedirectURL == "" && res.RedirectURL != "") {
			_, err := tx.Exec(ctx, `UPDATE bridge_payments SET provider_id = CASE WHEN provider_id = '' THEN $2 ELSE provider_id END,
				redirect_url = CASE WHEN redirect_url = '' THEN $3 ELSE redirect_url END WHERE id = $1`, rec.ID, res.ProviderID, res.RedirectURL)
			if err != nil {
				return fmt.Errorf("bridge: update payment %s: %w", c.ref, err)
			}
		}
		if Contradicts(rec.Status, res.Status) {
			if out[i].a.rec, out[i].a.conflict, err = recordConflict(ctx, tx, rec, res, settled, c.source); err != nil {
				return err
			}
			if out[i].a.conflict {
				last = append(last, paymentEvent(out[i].a.rec, "conflict:"+string(res.Status)))
			}
		}
	}
	if err := up.apply(ctx, tx, nextCheck, out); err != nil {
		return err
	}
	for i := range out {
		if out[i].a.changed {
			last = append(last, paymentEvent(out[i].a.rec, string(out[i].a.rec.Status)))
		}
	}
	if err := tx.commitWith(ctx, last); err != nil {
		return fmt.Errorf("bridge: apply %d change(s): %w", len(cs), err)
	}
	return nil
}

// statusUpdates are the status changes of a batch, as the columns of
// one UPDATE ... FROM unnest.
type statusUpdates struct {
	index                                                map[int64]int // payment id -> change
	ids                                                  []int64
	statuses, raws, providerIDs, redirects, settled, why []string
	sources                                              []string
	watched                                              []bool
}

func (u *statusUpdates) add(i int, id int64, c change, settled *big.Int, watched bool) {
	if u.index == nil {
		u.index = make(map[int64]int)
	}
	u.index[id] = i
	s := "" // NULL: keep the settled amount
	if settled != nil {
		s = settled.String()
	}
	u.ids = append(u.ids, id)
	u.statuses = append(u.statuses, string(c.res.Status))
	u.raws = append(u.raws, c.res.RawStatus)
	u.providerIDs = append(u.providerIDs, c.res.ProviderID)
	u.redirects = append(u.redirects, c.res.RedirectURL)
	u.settled = append(u.settled, s)
	u.why = append(u.why, c.res.Reason)
	u.sources = append(u.sources, c.source)
	u.watched = append(u.watched, watched)
}

// apply changes the statuses with their history rows, and puts each new
// record in out.
func (u *statusUpdates) apply(ctx context.Context, tx *pipeTx, nextCheck time.Duration, out []changeResult) error {
	if len(u.ids) == 0 {
		return nil
	}
	rows, err := tx.Query(ctx, `WITH u AS (
			SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::bool[])
				AS u(id, status, raw_status, provider_id, redirect_url, settled, reason, change_source, watched)),
		up AS (UPDATE bridge_payments p SET status = u.status, raw_status = u.raw_status,
			provider_id = CASE WHEN u.provider_id = '' THEN p.provider_id ELSE u.provider_id END,
			redirect_url = CASE WHEN u.redirect_url = '' THEN p.redirect_url ELSE u.redirect_url END,
			settled_amount = coalesce(nullif(u.settled, '')::numeric, p.settled_amount), reason = u.reason, attention = '', checks = 0,
			next_check_at = now() + $10 * interval '1 millisecond',
			reversal_watch_from = CASE WHEN u.watched THEN now() END
			FROM u WHERE p.id = u.id RETURNING p.*, u.change_source),
		h AS (INSERT INTO bridge_payment_events (payment_id, status, raw_status, source, reason)
			SELECT id, status, raw_status, change_source, reason FROM up)
		SELECT `+recordCols("up")+` FROM up`,
		u.ids, u.statuses, u.raws, u.providerIDs, u.redirects, u.settled, u.why, u.sources, u.watched, nextCheck.Milliseconds())
	if err != nil {
		return fmt.Errorf("bridge: update %d payment(s): %w", len(u.ids), err)
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		rec, err := scanRecord(rows)
		if err != nil {
			return fmt.Errorf("bridge: update %d payment(s): %w", len(u.ids), err)
		}
		i := u.index[rec.ID]
		out[i].a.rec, out[i].a.changed = rec, true
		n++
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("bridge: update %d payment(s): %w", len(u.ids), err)
	}
	if n != len(u.ids) {
		return fmt.Errorf("bridge: updated %d of %d locked payments", n, len(u.ids))
	}
	return nil
}

// recordConflict keeps res, a final status contradicting rec's, inside
// tx: the conflict row and the attention note, only on the first report
// of that status (duplicates change nothing); recorded says whether it
// was the first, whose webhook event "conflict:<status>" the caller sends.
func recordConflict(ctx context.Context, tx dbtx, rec Record, res Result, settled *big.Int, source string) (_ Record, recorded bool, err error) {
	var id int64
	err = tx.QueryRow(ctx, `INSERT INTO bridge_payment_conflicts (payment_id, local_status, status, raw_status, source, reason, settled_amount)
		VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (payment_id, status) DO NOTHING RETURNING id`,
		rec.ID, rec.Status, res.Status, res.RawStatus, source, res.Reason, settled).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return rec, false, nil
	}
	if err != nil {
		return rec, false, fmt.Errorf("bridge: record conflict of %s: %w", rec.Reference, err)
	}
	note := fmt.Sprintf("%s reported %s (raw %q) after the payment was %s here: check with the provider and settle it by hand",
		rec.Provider, res.Status, res.RawStatus, rec.Status)
	rec, err = scanRecord(tx.QueryRow(ctx, `WITH up AS (UPDATE bridge_payments SET attention = $2 WHERE id = $1 RETURNING *)
		SELECT `+recordCols("up")+` FROM up`, rec.ID, note))
	if err != nil {
		return rec, false, fmt.Errorf("bridge: record conflict of %s: %w", rec.Reference, err)
	}
	return rec, true, nil
}

func isNoRows(err error) bool { return errors.Is(err, pgx.ErrNoRows) }
