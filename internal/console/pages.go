package console

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/ton-custody/processor/internal/tonaddr"
)

// pageSize is the rows per page of every list.
const pageSize = 50

// paging is a list's position.
type paging struct {
	Page    int
	HasNext bool
	Query   url.Values
}

// Prev and Next are the links to the neighbouring pages.
func (p paging) Prev() string { return p.link(p.Page - 1) }

// Next is the link to the next page.
func (p paging) Next() string { return p.link(p.Page + 1) }

func (p paging) link(n int) string {
	q := url.Values{}
	for k, v := range p.Query {
		if k != "page" && len(v) > 0 && v[0] != "" {
			q[k] = v[:1]
		}
	}
	q.Set("page", strconv.Itoa(n))
	return "?" + q.Encode()
}

func pageOf(r *http.Request) paging {
	n, err := strconv.Atoi(r.URL.Query().Get("page"))
	if err != nil || n < 1 || n > 100000 {
		n = 1
	}
	return paging{Page: n, Query: r.URL.Query()}
}

func (p paging) offset() int { return (p.Page - 1) * pageSize }

// trim cuts a list fetched with pageSize+1 rows and records whether there
// is a next page.
func trim[T any](p *paging, rows []T) []T {
	if len(rows) > pageSize {
		p.HasNext = true
		return rows[:pageSize]
	}
	return rows
}

// likePattern is s as a literal ILIKE substring pattern.
func likePattern(s string) string {
	if s == "" {
		return ""
	}
	r := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
	return "%" + r.Replace(s) + "%"
}

// parseHash reads a 64-hex-digit hash (or base64 of 32 bytes); nil if s
// is neither.
func parseHash(s string) []byte {
	if b, err := hex.DecodeString(s); err == nil && len(b) == 32 {
		return b
	}
	return nil
}

// parseAddr reads a user-friendly or raw address; ok=false when s is set
// but is not one.
func (c *Console) parseAddr(s string) ([]byte, bool) {
	if s == "" {
		return nil, true
	}
	a, err := tonaddr.Parse(s, c.opts.Network)
	if err != nil {
		// Raw form 0:<hex> is accepted for searching.
		if _, h, ok := strings.Cut(s, ":"); ok {
			if b, err := hex.DecodeString(h); err == nil && len(b) == 32 {
				return b, true
			}
		}
		return nil, false
	}
	return a.Data(), true
}

// Deposits.

type depositRow struct {
	ID       int64
	UserID   string
	Currency string
	Amount   string
	Address  Link
	Source   Link
	Comment  string
	Tx       Link
	At       time.Time
	Imported string
}

type depositsView struct {
	Q    map[string]string
	Rows []depositRow
	Page paging
	Err  string
}

func (c *Console) depositsPage(w http.ResponseWriter, r *http.Request, s *session) {
	q := r.URL.Query()
	v := depositsView{Q: map[string]string{}, Page: pageOf(r)}
	for _, k := range []string{"user", "address", "tx", "comment"} {
		v.Q[k] = strings.TrimSpace(q.Get(k))
	}
	addr, ok := c.parseAddr(v.Q["address"])
	var txh []byte
	if v.Q["tx"] != "" {
		if txh = parseHash(strings.ToLower(v.Q["tx"])); txh == nil {
			v.Err = "A transaction hash is 64 hex digits."
		}
	}
	if !ok {
		v.Err = "Not an address of this network: " + v.Q["address"]
	}
	if v.Err == "" {
		err := c.read(r.Context(), func(tx pgx.Tx) error {
			rows, err := tx.Query(r.Context(), `SELECT i.id, dw.user_id, i.currency, i.amount::text, dw.workchain, dw.address,
				  i.source_workchain, i.source_address, coalesce(i.comment, ''), i.tx_hash, i.utime, coalesce(i.imported_from, '')
				FROM incomes i JOIN deposit_wallets dw ON dw.id = i.deposit_wallet_id
				WHERE ($1 = '' OR dw.user_id = $1)
				  AND ($2::bytea IS NULL OR dw.address = $2 OR dw.jetton_wallet = $2 OR i.source_address = $2)
				  AND ($3::bytea IS NULL OR i.tx_hash = $3)
				  AND ($4 = '' OR i.comment ILIKE $4)
				ORDER BY i.id DESC LIMIT $5 OFFSET $6`,
				v.Q["user"], addr, txh, likePattern(v.Q["comment"]), pageSize+1, v.Page.offset())
			if err != nil {
				return fmt.Errorf("console: deposits: %w", err)
			}
			list, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (depositRow, error) {
				var d depositRow
				var wc int32
				var a, src, txh []byte
				var srcWC *int32
				var utime int64
				err := row.Scan(&d.ID, &d.UserID, &d.Currency, &d.Amount, &wc, &a, &srcWC, &src, &d.Comment, &txh, &utime, &d.Imported)
				d.Address, d.Tx, d.At = c.addr(wc, a, false), c.tx(txh), time.Unix(utime, 0)
				if srcWC != nil {
					d.Source = c.addr(*srcWC, src, true)
				}
				return d, err
			})
			if err != nil {
				return fmt.Errorf("console: deposits: %w", err)
			}
			v.Rows = trim(&v.Page, list)
			return nil
		})
		if err != nil {
			c.internal(w, r, s, err)
			return
		}
	}
	status := http.StatusOK
	if v.Err != "" {
		status = http.StatusBadRequest
	}
	c.render(w, status, "deposits", page{Title: "Deposits", Nav: "deposits", Session: s, Data: v})
}

// Withdrawals.

type withdrawalRow struct {
	ID          int64
	UserID      string
	QueryID     string
	Currency    string
	Amount      string
	Destination Link
	Comment     string
	State       string
	BatchID     *int64
	Tx          Link
	FailReason  string
	CreatedAt   time.Time
	UpdatedAt   time.Time
	CreatedBy   string
	TouchedBy   string
	Approvals   int
	Imported    string
}

const withdrawalColumns = `w.id, w.user_id, w.query_id, w.currency, w.amount::text, w.destination_workchain, w.destination_address,
	w.bounceable, coalesce(w.comment, ''), w.state, w.batch_id, w.tx_hash, coalesce(w.fail_reason, ''), w.created_at, w.updated_at,
	coalesce(w.created_by, ''), coalesce(w.touched_by, ''), coalesce(w.imported_from, ''),
	(SELECT count(*) FROM withdrawal_approvals a WHERE a.withdrawal_id = w.id)`

func (c *Console) scanWithdrawal(row pgx.CollectableRow) (withdrawalRow, error) {
	var x withdrawalRow
	var wc int32
	var dest, txh []byte
	var bounce bool
	err := row.Scan(&x.ID, &x.UserID, &x.QueryID, &x.Currency, &x.Amount, &wc, &dest, &bounce, &x.Comment, &x.State, &x.BatchID,
		&txh, &x.FailReason, &x.CreatedAt, &x.UpdatedAt, &x.CreatedBy, &x.TouchedBy, &x.Imported, &x.Approvals)
	x.Destination, x.Tx = c.addr(wc, dest, bounce), c.tx(txh)
	return x, err
}

type withdrawalsView struct {
	Q      map[string]string
	States []string
	Rows   []withdrawalRow
	Page   paging
	Err    string
}

var withdrawalStates = []string{"awaiting_approval", "pending", "processing", "processed", "failed"}

func (c *Console) withdrawalsPage(w http.ResponseWriter, r *http.Request, s *session) {
	q := r.URL.Query()
	v := withdrawalsView{Q: map[string]string{}, States: withdrawalStates, Page: pageOf(r)}
	for _, k := range []string{"id", "user", "query_id", "destination", "state", "currency"} {
		v.Q[k] = strings.TrimSpace(q.Get(k))
	}
	var id int64
	if v.Q["id"] != "" {
		n, err := strconv.ParseInt(v.Q["id"], 10, 64)
		if err != nil || n < 1 {
			v.Err = "A withdrawal ID is a positive whole number."
		}
		id = n
	}
	dest, ok := c.parseAddr(v.Q["destination"])
	if !ok {
		v.Err = "Not an address of this network: " + v.Q["destination"]
	}
	if v.Err == "" {
		err := c.read(r.Context(), func(tx pgx.Tx) error {
			rows, err := tx.Query(r.Context(), `SELECT `+withdrawalColumns+` FROM withdrawals w
				WHERE ($1 = 0 OR w.id = $1) AND ($2 = '' OR w.user_id = $2) AND ($3 = '' OR w.query_id = $3)
				  AND ($4::bytea IS NULL OR w.destination_address = $4) AND ($5 = '' OR w.state = $5) AND ($6 = '' OR w.currency = $6)
				ORDER BY w.id DESC LIMIT $7 OFFSET $8`,
				id, v.Q["user"], v.Q["query_id"], dest, v.Q["state"], strings.ToUpper(v.Q["currency"]), pageSize+1, v.Page.offset())
			if err != nil {
				return fmt.Errorf("console: withdrawals: %w", err)
			}
			list, err := pgx.CollectRows(rows, c.scanWithdrawal)
			if err != nil {
				return fmt.Errorf("console: withdrawals: %w", err)
			}
			v.Rows = trim(&v.Page, list)
			return nil
		})
		if err != nil {
			c.internal(w, r, s, err)
			return
		}
	}
	status := http.StatusOK
	if v.Err != "" {
		status = http.StatusBadRequest
	}
	c.render(w, status, "withdrawals", page{Title: "Withdrawals", Nav: "withdrawals", Session: s, Data: v})
}

type approvalRow struct {
	Operator string
	Reason   string
	At       time.Time
}

type batchView struct {
	ID           int64
	QueryID      int64
	State        string
	MessageHash  string
	SendAttempts int
	FirstSent    *time.Time
	LastSent     *time.Time
	Tx           Link
	ConfirmedAt  *time.Time
	ExpiresAt    time.Time
	Items        int
}

type itemView struct {
	MsgIndex  int
	Live      bool
	Returned  bool
	MsgHash   string
	SentTx    Link
	SentMsg   string
	Dest      Link
	HasDetail bool
}

type eventView struct {
	ID         int64
	Topic      string
	EventID    string
	CreatedAt  time.Time
	Status     string
	Payload    []byte
	Deliveries []deliveryView
}

type deliveryView struct {
	Sink        string
	Attempts    int
	NextAttempt time.Time
	DeliveredAt *time.Time
	GivenUpAt   *time.Time
	LastError   string
	Status      string
}

type auditView struct {
	ID      int64
	At      time.Time
	Actor   string
	Action  string
	Subject string
	Before  []byte
	After   []byte
	Reason  string
}

type withdrawalView struct {
	W         withdrawalRow
	Required  int
	Approvals []approvalRow
	Batch     *batchView
	Item      *itemView
	Halts     []alertView
	Events    []eventView
	Audit     []auditView
	CanCancel bool
	CanDecide bool
}

func (c *Console) loadWithdrawal(ctx context.Context, id int64) (*withdrawalView, error) {
	v := &withdrawalView{Required: c.opts.ApprovalsRequired}
	err := c.read(ctx, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT `+withdrawalColumns+` FROM withdrawals w WHERE w.id = $1`, id)
		if err != nil {
			return fmt.Errorf("console: withdrawal %d: %w", id, err)
		}
		w, err := pgx.CollectExactlyOneRow(rows, c.scanWithdrawal)
		if err != nil {
			return fmt.Errorf("console: withdrawal %d: %w", id, err)
		}
		v.W = w
		rows, err = tx.Query(ctx, `SELECT operator, reason, created_at FROM withdrawal_approvals WHERE withdrawal_id = $1 ORDER BY created_at`, id)
		if err != nil {
			return fmt.Errorf("console: approvals: %w", err)
		}
		if v.Approvals, err = pgx.CollectRows(rows, pgx.RowToStructByPos[approvalRow]); err != nil {
			return fmt.Errorf("console: approvals: %w", err)
		}
		// The batch that holds (or last held) it: an expired batch gives
		// the withdrawal back, so look at its items too.
		var batchID *int64
		if err := tx.QueryRow(ctx, `SELECT coalesce($2::bigint, (SELECT max(batch_id) FROM hot_batch_items WHERE withdrawal_id = $1))`,
			id, w.BatchID).Scan(&batchID); err != nil {
			return fmt.Errorf("console: batch: %w", err)
		}
		if batchID != nil {
			b := &batchView{ID: *batchID}
			var mh, txh []byte
			var expires int64
			if err := tx.QueryRow(ctx, `SELECT query_id, state, message_hash, send_attempts, first_sent_at, last_sent_at, tx_hash, confirmed_at,
				  expires_at_chain, (SELECT count(*) FROM hot_batch_items i WHERE i.batch_id = b.id)
				FROM hot_batches b WHERE id = $1`, *batchID).Scan(&b.QueryID, &b.State, &mh, &b.SendAttempts, &b.FirstSent, &b.LastSent, &txh,
				&b.ConfirmedAt, &expires, &b.Items); err != nil {
				return fmt.Errorf("console: batch %d: %w", *batchID, err)
			}
			b.MessageHash, b.Tx, b.ExpiresAt = hex.EncodeToString(mh), c.tx(txh), time.Unix(expires, 0)
			v.Batch = b
			it := &itemView{}
			var msgHash, sentTx, sentMsg, dest []byte
			var destWC *int32
			err := tx.QueryRow(ctx, `SELECT msg_index, live, returned, msg_hash, sent_tx_hash, sent_msg_hash, dest_workchain, dest_address
				FROM hot_batch_items WHERE batch_id = $1 AND withdrawal_id = $2`, *batchID, id).
				Scan(&it.MsgIndex, &it.Live, &it.Returned, &msgHash, &sentTx, &sentMsg, &destWC, &dest)
			switch {
			case errors.Is(err, pgx.ErrNoRows):
			case err != nil:
				return fmt.Errorf("console: batch item: %w", err)
			default:
				it.HasDetail = true
				it.MsgHash, it.SentTx, it.SentMsg = hex.EncodeToString(msgHash), c.tx(sentTx), hex.EncodeToString(sentMsg)
				if destWC != nil {
					it.Dest = c.addr(*destWC, dest, true)
				}
				v.Item = it
			}
			rows, err = tx.Query(ctx, `SELECT reason, created_at, CASE WHEN cleared_at IS NULL THEN 'bad' ELSE 'neutral' END
				FROM withdrawal_halts WHERE batch_id = $1 ORDER BY id`, *batchID)
			if err != nil {
				return fmt.Errorf("console: halts: %w", err)
			}
			if v.Halts, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (alertView, error) {
				var a alertView
				return a, r.Scan(&a.Text, &a.At, &a.Level)
			}); err != nil {
				return fmt.Errorf("console: halts: %w", err)
			}
		}
		if v.Events, err = c.events(ctx, tx, eventFilter{prefix: fmt.Sprintf("withdrawal:%d:", id)}, 100, 0); err != nil {
			return err
		}
		v.Audit, err = c.audit(ctx, tx, fmt.Sprintf("withdrawal:%d", id), "", 500, 0)
		return err
	})
	if err != nil {
		return nil, err
	}
	v.CanCancel = v.W.State == "pending" || v.W.State == "awaiting_approval"
	v.CanDecide = v.W.State == "awaiting_approval"
	return v, nil
}

func (c *Console) withdrawalPage(w http.ResponseWriter, r *http.Request, s *session) {
	c.showWithdrawal(w, r, s, http.StatusOK, flashText(r.URL.Query().Get("done")), "")
}

func (c *Console) showWithdrawal(w http.ResponseWriter, r *http.Request, s *session, status int, flash, errMsg string) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id < 1 {
		c.fail(w, r, s, http.StatusNotFound, "No such withdrawal.")
		return
	}
	v, err := c.loadWithdrawal(r.Context(), id)
	if errors.Is(err, pgx.ErrNoRows) {
		c.fail(w, r, s, http.StatusNotFound, fmt.Sprintf("No withdrawal with ID %d.", id))
		return
	}
	if err != nil {
		c.internal(w, r, s, err)
		return
	}
	c.render(w, status, "withdrawal", page{Title: fmt.Sprintf("Withdrawal %d", id), Nav: "withdrawals", Session: s, Data: v,
		Flash: flash, Error: errMsg})
}

// Webhooks.

type eventFilter struct {
	prefix string // dedup_key prefix
	search string // dedup_key substring
	topic  string
	status string // pending, delivered, given_up
	fromID int64
}

func (c *Console) events(ctx context.Context, tx pgx.Tx, f eventFilter, limit, offset int) ([]eventView, error) {
	prefix := ""
	if f.prefix != "" {
		prefix = strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(f.prefix) + "%"
	}
	rows, err := tx.Query(ctx, `SELECT o.id, o.topic, coalesce(o.dedup_key, 'outbox:' || o.id), o.created_at,
		  CASE WHEN o.delivered_at IS NOT NULL THEN 'delivered' WHEN o.given_up_at IS NOT NULL THEN 'given_up'
		       WHEN EXISTS (SELECT 1 FROM outbox_deliveries d WHERE d.outbox_id = o.id) THEN 'pending' ELSE 'no sink' END,
		  o.payload::text
		FROM outbox o
		WHERE ($1 = '' OR o.dedup_key LIKE $1) AND ($2 = '' OR o.dedup_key ILIKE $2) AND ($3 = '' OR o.topic = $3)
		  AND ($4 = '' OR ($4 = 'delivered' AND o.delivered_at IS NOT NULL) OR ($4 = 'given_up' AND o.given_up_at IS NOT NULL)
		       OR ($4 = 'pending' AND o.delivered_at IS NULL AND o.given_up_at IS NULL))
		  AND ($5 = 0 OR o.id <= $5)
		ORDER BY o.id DESC LIMIT $6 OFFSET $7`, prefix, likePattern(f.search), f.topic, f.status, f.fromID, limit, offset)
	if err != nil {
		return nil, fmt.Errorf("console: events: %w", err)
	}
	evs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (eventView, error) {
		var e eventView
		var payload string
		err := r.Scan(&e.ID, &e.Topic, &e.EventID, &e.CreatedAt, &e.Status, &payload)
		e.Payload = []byte(payload)
		return e, err
	})
	if err != nil {
		return nil, fmt.Errorf("console: events: %w", err)
	}
	if len(evs) == 0 {
		return evs, nil
	}
	ids := make([]int64, len(evs))
	index := map[int64]int{}
	for i, e := range evs {
		ids[i], index[e.ID] = e.ID, i
	}
	rows, err = tx.Query(ctx, `SELECT outbox_id, sink, attempts, next_attempt_at, delivered_at, given_up_at, coalesce(last_error, '')
		FROM outbox_deliveries WHERE outbox_id = ANY($1) ORDER BY outbox_id, sink`, ids)
	if err != nil {
		return nil, fmt.Errorf("console: deliveries: %w", err)
	}
	var oid int64
	var d deliveryView
	_, err = pgx.ForEachRow(rows, []any{&oid, &d.Sink, &d.Attempts, &d.NextAttempt, &d.DeliveredAt, &d.GivenUpAt, &d.LastError}, func() error {
		x := d
		switch {
		case x.DeliveredAt != nil:
			x.Status = "delivered"
		case x.GivenUpAt != nil:
			x.Status = "given_up"
		default:
			x.Status = "pending"
		}
		evs[index[oid]].Deliveries = append(evs[index[oid]].Deliveries, x)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("console: deliveries: %w", err)
	}
	return evs, nil
}

type webhooksView struct {
	Q        map[string]string
	Topics   []string
	Rows     []eventView
	Page     paging
	Sinks    []string
	Statuses []string
}

func (c *Console) webhooksPage(w http.ResponseWriter, r *http.Request, s *session) {
	c.showWebhooks(w, r, s, http.StatusOK, flashText(r.URL.Query().Get("done")), "")
}

func (c *Console) showWebhooks(w http.ResponseWriter, r *http.Request, s *session, status int, flash, errMsg string) {
	q := r.URL.Query()
	v := webhooksView{Q: map[string]string{}, Page: pageOf(r), Topics: []string{"deposit", "withdrawal", "service_withdrawal", "bridge_payment"},
		Statuses: []string{"pending", "delivered", "given_up"}}
	for _, k := range []string{"event", "topic", "status"} {
		v.Q[k] = strings.TrimSpace(q.Get(k))
	}
	err := c.read(r.Context(), func(tx pgx.Tx) error {
		list, err := c.events(r.Context(), tx, eventFilter{search: v.Q["event"], topic: v.Q["topic"], status: v.Q["status"]}, pageSize+1, v.Page.offset())
		if err != nil {
			return err
		}
		v.Rows = trim(&v.Page, list)
		rows, err := tx.Query(r.Context(), `SELECT name FROM outbox_sinks ORDER BY name`)
		if err != nil {
			return fmt.Errorf("console: sinks: %w", err)
		}
		v.Sinks, err = pgx.CollectRows(rows, pgx.RowTo[string])
		return err
	})
	if err != nil {
		c.internal(w, r, s, err)
		return
	}
	c.render(w, status, "webhooks", page{Title: "Webhooks", Nav: "webhooks", Session: s, Data: v, Flash: flash, Error: errMsg})
}

// Bridge.

type paymentRow struct {
	ID         int64
	Reference  string
	Kind       string
	Provider   string
	Amount     string
	Currency   string
	Status     string
	RawStatus  string
	ProviderID string
	Reason     string
	Attention  string
	CreatedAt  time.Time
	UpdatedAt  time.Time
}

type bridgeView struct {
	Q         map[string]string
	Rows      []paymentRow
	Page      paging
	Balances  []providerBalanceView
	BalErrors []string
	HaveBal   bool
}

func (c *Console) bridgePage(w http.ResponseWriter, r *http.Request, s *session) {
	q := r.URL.Query()
	v := bridgeView{Q: map[string]string{}, Page: pageOf(r)}
	for _, k := range []string{"q", "provider", "status"} {
		v.Q[k] = strings.TrimSpace(q.Get(k))
	}
	err := c.read(r.Context(), func(tx pgx.Tx) error {
		rows, err := tx.Query(r.Context(), `SELECT id, reference, kind, provider, amount::text, currency, status, raw_status, provider_id,
			  reason, attention, created_at, updated_at
			FROM bridge_payments
			WHERE ($1 = '' OR reference = $1 OR provider_id = $1) AND ($2 = '' OR provider = $2) AND ($3 = '' OR status = $3)
			ORDER BY id DESC LIMIT $4 OFFSET $5`, v.Q["q"], v.Q["provider"], v.Q["status"], pageSize+1, v.Page.offset())
		if err != nil {
			return fmt.Errorf("console: bridge payments: %w", err)
		}
		list, err := pgx.CollectRows(rows, pgx.RowToStructByPos[paymentRow])
		if err != nil {
			return fmt.Errorf("console: bridge payments: %w", err)
		}
		v.Rows = trim(&v.Page, list)
		return nil
	})
	if err != nil {
		c.internal(w, r, s, err)
		return
	}
	if c.opts.BridgeBalances != nil {
		v.HaveBal = true
		ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
		bals, errs := c.opts.BridgeBalances(ctx)
		cancel()
		for _, b := range bals {
			v.Balances = append(v.Balances, providerBalanceView{Provider: b.Provider, Currency: b.Currency,
				Available: bigText(b.Available), Pending: bigText(b.Pending), Frozen: bigText(b.Frozen), All: bigText(b.Total)})
		}
		for _, e := range errs {
			c.log.Warn("console: provider balance", "provider", e.Provider, "err", e.Err)
			v.BalErrors = append(v.BalErrors, e.Provider)
		}
	}
	c.render(w, http.StatusOK, "bridge", page{Title: "Bridge", Nav: "bridge", Session: s, Data: v})
}

// Audit log.

func (c *Console) audit(ctx context.Context, tx pgx.Tx, subject, actor string, limit, offset int) ([]auditView, error) {
	rows, err := tx.Query(ctx, `SELECT id, created_at, actor, action, subject, before, after, coalesce(reason, '')
		FROM audit_log WHERE ($1 = '' OR subject = $1) AND ($2 = '' OR actor = $2)
		ORDER BY id DESC LIMIT $3 OFFSET $4`, subject, actor, limit, offset)
	if err != nil {
		return nil, fmt.Errorf("console: audit log: %w", err)
	}
	list, err := pgx.CollectRows(rows, pgx.RowToStructByPos[auditView])
	if err != nil {
		return nil, fmt.Errorf("console: audit log: %w", err)
	}
	return list, nil
}

type auditPageView struct {
	Q    map[string]string
	Rows []auditView
	Page paging
}

func (c *Console) auditPage(w http.ResponseWriter, r *http.Request, s *session) {
	q := r.URL.Query()
	v := auditPageView{Q: map[string]string{"subject": strings.TrimSpace(q.Get("subject")), "actor": strings.TrimSpace(q.Get("actor"))}, Page: pageOf(r)}
	err := c.read(r.Context(), func(tx pgx.Tx) error {
		list, err := c.audit(r.Context(), tx, v.Q["subject"], v.Q["actor"], pageSize+1, v.Page.offset())
		v.Rows = trim(&v.Page, list)
		return err
	})
	if err != nil {
		c.internal(w, r, s, err)
		return
	}
	c.render(w, http.StatusOK, "audit", page{Title: "Audit log", Nav: "audit", Session: s, Data: v})
}
