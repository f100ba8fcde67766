package console

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"sort"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/ton-custody/processor/internal/config"
	"github.com/ton-custody/processor/internal/withdrawals"
)

type syncView struct {
	HaveCursor   bool
	Scanned      uint32
	ScannedAt    time.Time
	Lag          time.Duration
	Head         uint32
	HeadAt       time.Time
	HeadErr      string
	BlocksBehind int64
	State        string
}

type balanceView struct {
	Currency string
	Balance  string
	Min      string
	State    string
	Err      string
}

type coldView struct {
	Wallet  Link
	Pending int64
	Last    *time.Time
	State   string
	Amount  string
}

type queueView struct {
	Awaiting, Pending, Processing int64
	OldestPending                 time.Duration
	HavePending                   bool
}

type batchesView struct {
	InFlight   int64
	OldestSent *time.Time
}

type sinkView struct {
	Sink      string
	Pending   int64
	Oldest    *time.Time
	GivenUp24 int64
	State     string
}

type providerView struct {
	Provider  string
	Payments  int64
	Open      int64
	Attention int64
	Last      *time.Time
	State     string
	Err       string
}

type providerBalanceView struct {
	Provider, Currency              string
	Available, Pending, Frozen, All string
}

type alertView struct {
	Level string
	Text  string
	At    time.Time
	Link  string
}

type dashboardView struct {
	Now        time.Time
	Sync       syncView
	HotWallet  Link
	Balances   []balanceView
	Cold       *coldView
	Queue      queueView
	Batches    batchesView
	Sinks      []sinkView
	Providers  []providerView
	PBalances  []providerBalanceView
	Alerts     []alertView
	Pauses     []withdrawals.Pause
	Currencies []string
	Approvals  int
	Thresholds []string
}

func (c *Console) dashboard(ctx context.Context) (*dashboardView, error) {
	now := c.opts.Now()
	d := &dashboardView{Now: now, HotWallet: c.addrString(c.opts.HotWallet), Currencies: c.opts.Currencies, Approvals: c.opts.ApprovalsRequired}
	for _, cur := range c.opts.Currencies {
		if t, ok := c.opts.ApprovalThresholds[cur]; ok {
			d.Thresholds = append(d.Thresholds, cur+" above "+c.formatAmount(cur, t.String()))
		}
	}
	// The chain calls run beside the database reads, each bounded.
	var wg sync.WaitGroup
	chainCtx, cancel := context.WithTimeout(ctx, 4*time.Second)
	defer cancel()
	var head struct {
		seqno uint32
		utime int64
		err   error
	}
	if c.opts.Head != nil {
		wg.Go(func() { head.seqno, head.utime, head.err = c.opts.Head(chainCtx) })
	}
	d.Balances = make([]balanceView, len(c.opts.Currencies))
	for i, cur := range c.opts.Currencies {
		d.Balances[i] = balanceView{Currency: cur, Balance: "unknown", State: "neutral"}
		if cur == config.TONSymbol && c.opts.MinBalance != nil && c.opts.MinBalance.Sign() > 0 {
			d.Balances[i].Min = c.formatAmount(cur, c.opts.MinBalance.String())
		}
		if c.opts.HotBalance == nil {
			continue
		}
		wg.Go(func() {
			b, err := c.opts.HotBalance(chainCtx, cur)
			v := &d.Balances[i]
			if err != nil {
				v.Err = "balance unavailable"
				c.log.Warn("console: hot wallet balance", "currency", cur, "err", err)
				return
			}
			v.Balance = c.formatAmount(cur, b.String())
			v.State = "ok"
			if cur == config.TONSymbol && c.opts.MinBalance != nil && b.Cmp(c.opts.MinBalance) < 0 {
				v.State = "below minimum"
			}
		})
	}
	var pbals []providerBalanceView
	var perrs = map[string]string{}
	if c.opts.BridgeBalances != nil {
		wg.Go(func() {
			bals, errs := c.opts.BridgeBalances(chainCtx)
			for _, b := range bals {
				pbals = append(pbals, providerBalanceView{Provider: b.Provider, Currency: b.Currency,
					Available: bigText(b.Available), Pending: bigText(b.Pending), Frozen: bigText(b.Frozen), All: bigText(b.Total)})
			}
			for _, e := range errs {
				perrs[e.Provider] = "balance call failed"
				c.log.Warn("console: provider balance", "provider", e.Provider, "err", e.Err)
			}
		})
	}
	err := c.read(ctx, func(tx pgx.Tx) error { return c.dashboardDB(ctx, tx, d) })
	wg.Wait()
	if err != nil {
		return nil, err
	}
	d.PBalances = pbals
	for i := range d.Providers {
		if e, ok := perrs[d.Providers[i].Provider]; ok {
			d.Providers[i].Err = e
		}
	}

	s := &d.Sync
	switch {
	case c.opts.Head == nil:
		s.HeadErr = "not known here"
	case head.err != nil:
		s.HeadErr = "unavailable"
		c.log.Warn("console: network head", "err", head.err)
	default:
		s.Head, s.HeadAt = head.seqno, time.Unix(head.utime, 0)
		if s.HaveCursor {
			s.BlocksBehind = int64(s.Head) - int64(s.Scanned)
		}
	}
	s.State = "behind"
	if s.HaveCursor {
		s.Lag = now.Sub(s.ScannedAt)
		lagOK := c.opts.AllowableLag <= 0 || s.Lag <= c.opts.AllowableLag
		headOK := s.HeadAt.IsZero() || c.opts.AllowableLag <= 0 || s.HeadAt.Sub(s.ScannedAt) <= c.opts.AllowableLag
		if lagOK && headOK {
			s.State = "in sync"
		}
	}
	if s.State != "in sync" {
		d.Alerts = append([]alertView{{Level: "bad", Text: "The scanner is not in sync: withdrawals wait until it is."}}, d.Alerts...)
	}
	for _, b := range d.Balances {
		if b.State == "below minimum" {
			d.Alerts = append(d.Alerts, alertView{Level: "bad", Text: "Hot wallet " + b.Currency + " balance is below HOT_WALLET_MIN_BALANCE."})
		}
	}
	return d, nil
}

func bigText(v *big.Int) string {
	if v == nil {
		return ""
	}
	return groupDigits(v.String())
}

func (c *Console) dashboardDB(ctx context.Context, tx pgx.Tx, d *dashboardView) error {
	var seqno, utime int64
	err := tx.QueryRow(ctx, `SELECT mc_seqno, gen_utime FROM scanner_cursor`).Scan(&seqno, &utime)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
	case err != nil:
		return fmt.Errorf("console: scanner cursor: %w", err)
	default:
		d.Sync.HaveCursor, d.Sync.Scanned, d.Sync.ScannedAt = true, uint32(seqno), time.Unix(utime, 0)
	}

	var oldest *time.Time
	if err := tx.QueryRow(ctx, `SELECT count(*) FILTER (WHERE state = 'awaiting_approval'), count(*) FILTER (WHERE state = 'pending'),
		count(*) FILTER (WHERE state = 'processing'), min(created_at) FILTER (WHERE state = 'pending')
		FROM withdrawals WHERE state IN ('awaiting_approval', 'pending', 'processing')`).
		Scan(&d.Queue.Awaiting, &d.Queue.Pending, &d.Queue.Processing, &oldest); err != nil {
		return fmt.Errorf("console: withdrawal queue: %w", err)
	}
	if oldest != nil {
		d.Queue.HavePending, d.Queue.OldestPending = true, d.Now.Sub(*oldest)
	}
	if err := tx.QueryRow(ctx, `SELECT count(*), min(coalesce(first_sent_at, created_at)) FROM hot_batches WHERE state = 'sent'`).
		Scan(&d.Batches.InFlight, &d.Batches.OldestSent); err != nil {
		return fmt.Errorf("console: batches in flight: %w", err)
	}

	if c.opts.ColdWallet != "" {
		cv := &coldView{Wallet: c.addrString(c.opts.ColdWallet)}
		if err := tx.QueryRow(ctx, `SELECT count(*) FILTER (WHERE state IN ('pending', 'processing')) FROM cold_transfers`).Scan(&cv.Pending); err != nil {
			return fmt.Errorf("console: cold transfers: %w", err)
		}
		var at time.Time
		var amount string
		err := tx.QueryRow(ctx, `SELECT state, amount::text, updated_at FROM cold_transfers ORDER BY id DESC LIMIT 1`).Scan(&cv.State, &amount, &at)
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("console: last cold transfer: %w", err)
		}
		if err == nil {
			cv.Last, cv.Amount = &at, c.formatAmount(config.TONSymbol, amount)
		}
		d.Cold = cv
	}

	rows, err := tx.Query(ctx, `SELECT s.name,
		  count(*) FILTER (WHERE d.delivered_at IS NULL AND d.given_up_at IS NULL),
		  min(d.created_at) FILTER (WHERE d.delivered_at IS NULL AND d.given_up_at IS NULL),
		  count(*) FILTER (WHERE d.given_up_at > now() - interval '24 hours')
		FROM outbox_sinks s LEFT JOIN outbox_deliveries d ON d.sink = s.name
		GROUP BY s.name ORDER BY s.name`)
	if err != nil {
		return fmt.Errorf("console: outbox backlog: %w", err)
	}
	d.Sinks, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (sinkView, error) {
		var v sinkView
		err := r.Scan(&v.Sink, &v.Pending, &v.Oldest, &v.GivenUp24)
		v.State = "ok"
		if v.GivenUp24 > 0 {
			v.State = "warning"
		}
		return v, err
	})
	if err != nil {
		return fmt.Errorf("console: outbox backlog: %w", err)
	}

	rows, err = tx.Query(ctx, `SELECT provider, count(*) FILTER (WHERE created_at > now() - interval '24 hours'),
		  count(*) FILTER (WHERE status NOT IN ('succeeded', 'failed', 'canceled', 'expired', 'reversed', 'rejected')),
		  count(*) FILTER (WHERE attention <> ''), max(updated_at)
		FROM bridge_payments GROUP BY provider ORDER BY provider`)
	if err != nil {
		return fmt.Errorf("console: bridge providers: %w", err)
	}
	d.Providers, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (providerView, error) {
		var v providerView
		err := r.Scan(&v.Provider, &v.Payments, &v.Open, &v.Attention, &v.Last)
		v.State = "ok"
		if v.Attention > 0 {
			v.State = "attention"
		}
		return v, err
	})
	if err != nil {
		return fmt.Errorf("console: bridge providers: %w", err)
	}

	if d.Pauses, err = withdrawals.Paused(ctx, tx); err != nil {
		return err
	}
	for _, p := range d.Pauses {
		d.Alerts = append(d.Alerts, alertView{Level: "warn", Text: fmt.Sprintf("%s withdrawals are paused by %s: %s", p.Currency, p.By, p.Reason)})
	}
	rows, err = tx.Query(ctx, `SELECT reason, created_at, batch_id FROM withdrawal_halts WHERE cleared_at IS NULL ORDER BY id DESC LIMIT 20`)
	if err != nil {
		return fmt.Errorf("console: halts: %w", err)
	}
	halts, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (alertView, error) {
		var a alertView
		var batch *int64
		err := r.Scan(&a.Text, &a.At, &batch)
		a.Level, a.Text = "bad", "Withdrawals halted: "+a.Text
		if batch != nil {
			a.Text += fmt.Sprintf(" (batch %d)", *batch)
		}
		return a, err
	})
	if err != nil {
		return fmt.Errorf("console: halts: %w", err)
	}
	d.Alerts = append(d.Alerts, halts...)
	rows, err = tx.Query(ctx, `SELECT reference, provider, attention, updated_at FROM bridge_payments WHERE attention <> '' ORDER BY updated_at DESC LIMIT 10`)
	if err != nil {
		return fmt.Errorf("console: bridge attention: %w", err)
	}
	att, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (alertView, error) {
		var ref, prov, why string
		var a alertView
		err := r.Scan(&ref, &prov, &why, &a.At)
		a.Level, a.Text, a.Link = "warn", fmt.Sprintf("Bridge payment %s (%s) needs attention: %s", ref, prov, why), Prefix+"/bridge?q="+ref
		return a, err
	})
	if err != nil {
		return fmt.Errorf("console: bridge attention: %w", err)
	}
	d.Alerts = append(d.Alerts, att...)
	var givenUp int64
	if err := tx.QueryRow(ctx, `SELECT count(*) FROM outbox_deliveries WHERE given_up_at > now() - interval '24 hours'`).Scan(&givenUp); err != nil {
		return fmt.Errorf("console: given-up webhooks: %w", err)
	}
	if givenUp > 0 {
		d.Alerts = append(d.Alerts, alertView{Level: "warn", Text: fmt.Sprintf("%d webhook deliveries given up in the last 24 hours (replay them from Webhooks).", givenUp),
			Link: Prefix + "/webhooks?status=given_up"})
	}
	sort.SliceStable(d.Alerts, func(i, j int) bool { return d.Alerts[i].Level == "bad" && d.Alerts[j].Level != "bad" })
	return nil
}

func (c *Console) dashboardPage(w http.ResponseWriter, r *http.Request, s *session) {
	d, err := c.dashboard(r.Context())
	if err != nil {
		c.internal(w, r, s, err)
		return
	}
	c.render(w, http.StatusOK, "dashboard", page{Title: "Dashboard", Nav: "dashboard", Session: s, Data: d,
		Flash: flashText(r.URL.Query().Get("done"))})
}

// dashboardFragment is the dashboard's body alone, for the page's polling.
func (c *Console) dashboardFragment(w http.ResponseWriter, r *http.Request, s *session) {
	d, err := c.dashboard(r.Context())
	if err != nil {
		c.log.Error("console: dashboard fragment", "err", err)
		http.Error(w, "unavailable", http.StatusInternalServerError)
		return
	}
	t := c.pages["dashboard"]
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	if err := t.ExecuteTemplate(w, "dashboard-body", page{Session: s, Explorer: c.opts.ExplorerURL, Data: d}); err != nil {
		c.log.Error("console: dashboard fragment", "err", err)
	}
}
