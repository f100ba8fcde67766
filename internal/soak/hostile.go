package soak

import (
	"context"
	"crypto/sha256"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/xssnick/tonutils-go/address"

	"github.com/ton-custody/processor/internal/config"
	"github.com/ton-custody/processor/internal/tonaddr"
)

// Traffic kinds beyond the steady mix, as counted in Result.Traffic.
const (
	TrafficDeposit     = "deposit (TON)"
	TrafficWithdrawal  = "withdrawal (TON, submitted twice)"
	TrafficMasterchain = "withdrawal to the masterchain (refused)"
	TrafficBurst       = "withdrawal in a burst (comment up to 1000 bytes)"
)

// processingMargin is how long past HIGHLOAD_TIMEOUT a withdrawal may stay
// processing: the faults (a kill -9 and restart, a PostgreSQL restart, a
// block pause, a stalled liteserver) each delay the settling by a few
// seconds, and two can follow each other.
const processingMargin = 40 * time.Second

func (d *driver) countTraffic(kind string, n int) {
	d.resMu.Lock()
	d.res.Traffic[kind] += n
	d.resMu.Unlock()
}

// masterchainRequest is a withdrawal to a workchain -1 address, which the
// API must refuse with 400 (the hot wallet pays only basechain addresses).
type masterchainRequest struct {
	queryID string
	status  int
	raw     string
	err     error
}

// oneMasterchain submits a withdrawal to a fresh masterchain address until
// the API answers.
func (d *driver) oneMasterchain(ctx context.Context) {
	d.mu.Lock()
	d.nextW++
	n := d.nextW
	d.mu.Unlock()
	h := sha256.Sum256([]byte(fmt.Sprint("soak-masterchain-", d.opts.Seed, "-", n)))
	dest := address.NewAddress(0, 0xff, h[:]) // workchain -1
	m := &masterchainRequest{queryID: "m" + fmt.Sprint(n)}
	body := map[string]string{"user_id": withdrawUser, "query_id": m.queryID, "currency": "TON",
		"amount": "50000000", "destination": tonaddr.Format(dest, config.Testnet, d.intn(2) == 0), "comment": "soak masterchain"}
	m.err = retry(ctx, func() (bool, error) {
		st, _, raw, err := d.api.do(ctx, http.MethodPost, "/v1/withdrawal/send", body)
		if err != nil {
			return false, err
		}
		if st >= 500 {
			return false, fmt.Errorf("withdrawal/send: %d %s", st, raw)
		}
		m.status, m.raw = st, raw
		return true, nil
	})
	d.countTraffic(TrafficMasterchain, 1)
	d.mu.Lock()
	d.masterchain = append(d.masterchain, m)
	d.mu.Unlock()
}

// burstComment is a text comment of a random length in [0, 1000] bytes,
// some of it multi-byte UTF-8 (never cut inside a character).
func (d *driver) burstComment(q string) string {
	n := d.intn(1001)
	switch d.intn(4) {
	case 0:
		n = 0
	case 1:
		n = 1000
	}
	var b strings.Builder
	b.WriteString(q)
	for b.Len() < n {
		if d.intn(3) == 0 && b.Len()+3 <= n {
			b.WriteString("€")
		} else {
			b.WriteByte(byte('a' + d.intn(26)))
		}
	}
	s := b.String()
	if len(s) > n {
		s = s[:n] // only the ASCII query id prefix can overshoot
	}
	return s
}

// burst submits n withdrawals at once (each twice, like the steady ones),
// with comments of mixed length.
func (d *driver) burst(ctx context.Context, n int, wg *sync.WaitGroup) {
	for range n {
		w := d.newWithdrawal()
		w.comment = d.burstComment(w.queryID + " ")
		for sub := range 2 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				d.submit(ctx, w, sub)
			}()
		}
	}
	d.countTraffic(TrafficBurst, n)
	d.logf("burst of %d withdrawals", n)
}

// checkMasterchain: every masterchain request was answered 400, and none
// is stored.
func (d *driver) checkMasterchain(ctx context.Context) error {
	d.mu.Lock()
	ms := append([]*masterchainRequest(nil), d.masterchain...)
	d.mu.Unlock()
	if len(ms) == 0 {
		return nil
	}
	qids := make([]string, len(ms))
	for i, m := range ms {
		qids[i] = m.queryID
		switch {
		case m.err != nil:
			d.note("masterchain withdrawal %s never answered: %v", m.queryID, m.err)
		case m.status != http.StatusBadRequest:
			d.violation("withdrawal %s to the masterchain answered %d, want 400: %s", m.queryID, m.status, m.raw)
		}
	}
	var stored int
	if err := d.db.QueryRow(ctx, `SELECT count(*) FROM withdrawals WHERE query_id = ANY($1)`, qids).Scan(&stored); err != nil {
		return fmt.Errorf("masterchain withdrawals: %w", err)
	}
	if stored > 0 {
		d.violation("%d withdrawals to the masterchain are stored", stored)
	}
	return nil
}

// overdueProcessing lists withdrawals processing for longer than the
// highload timeout plus processingMargin since their batch was written: by
// then the batch either ran or expired, and the request must have an
// outcome (or be pending again).
func (d *driver) overdueProcessing(ctx context.Context) ([]string, error) {
	rows, err := d.db.Query(ctx, `SELECT w.id, b.id, b.state, extract(epoch FROM now() - b.created_at)::bigint
		FROM withdrawals w JOIN hot_batches b ON b.id = w.batch_id
		WHERE w.state = 'processing' AND b.created_at < now() - make_interval(secs => $1)`,
		(d.highloadTimeout + processingMargin).Seconds())
	if err != nil {
		return nil, fmt.Errorf("processing withdrawals: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var wid, bid, age int64
		var state string
		if err := rows.Scan(&wid, &bid, &state, &age); err != nil {
			return nil, fmt.Errorf("processing withdrawals: %w", err)
		}
		out = append(out, fmt.Sprintf("withdrawal %d processing %d s after its batch %d (%s) was written", wid, age, bid, state))
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("processing withdrawals: %w", err)
	}
	return out, nil
}

// watchProcessing checks overdueProcessing every few seconds until ctx
// ends; each withdrawal is reported once. Query errors are expected while
// PostgreSQL restarts and are skipped.
func (d *driver) watchProcessing(ctx context.Context) {
	reported := map[string]bool{}
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(3 * time.Second):
		}
		qctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		list, err := d.overdueProcessing(qctx)
		cancel()
		if err != nil {
			continue
		}
		for _, s := range list {
			key := s[:strings.Index(s, " processing")]
			if !reported[key] {
				reported[key] = true
				d.violation("%s (HIGHLOAD_TIMEOUT %s + margin %s)", s, d.highloadTimeout, processingMargin)
			}
		}
	}
}

// checkReserves: every amount the hot wallet reserved is released exactly
// once. Every batch ends confirmed or expired (so its ton_reserve no longer
// counts); a withdrawal that ended processed or failed has exactly one live
// item, in a confirmed batch; a pending one has no live item; no cold
// transfer is left open; nothing is still processing past its timeout.
func (d *driver) checkReserves(ctx context.Context) error {
	var sent, sentReserve int64
	if err := d.db.QueryRow(ctx, `SELECT count(*), coalesce(sum(ton_reserve), 0)::bigint FROM hot_batches WHERE state = 'sent'`).
		Scan(&sent, &sentReserve); err != nil {
		return fmt.Errorf("hot batches: %w", err)
	}
	if sent > 0 {
		d.violation("%d hot batches still sent (in flight) after the drain, holding %d nanoton reserved", sent, sentReserve)
	}
	rows, err := d.db.Query(ctx, `SELECT w.id, w.state,
			count(i.*) FILTER (WHERE i.live),
			count(i.*) FILTER (WHERE i.live AND b.state = 'confirmed')
		FROM withdrawals w
		LEFT JOIN hot_batch_items i ON i.withdrawal_id = w.id
		LEFT JOIN hot_batches b ON b.id = i.batch_id
		GROUP BY w.id, w.state`)
	if err != nil {
		return fmt.Errorf("withdrawal items: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id, live, liveConfirmed int64
		var state string
		if err := rows.Scan(&id, &state, &live, &liveConfirmed); err != nil {
			return fmt.Errorf("withdrawal items: %w", err)
		}
		switch {
		case state == "processed" && (live != 1 || liveConfirmed != 1):
			d.violation("processed withdrawal %d has %d live batch items (%d in confirmed batches), want exactly one", id, live, liveConfirmed)
		case state == "failed" && live > 1:
			d.violation("failed withdrawal %d has %d live batch items", id, live)
		case state == "pending" && live != 0:
			d.violation("pending withdrawal %d still has %d live batch items (its reserve is held)", id, live)
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("withdrawal items: %w", err)
	}
	var openCold int64
	if err := d.db.QueryRow(ctx, `SELECT count(*) FROM cold_transfers WHERE state IN ('pending', 'processing')`).Scan(&openCold); err != nil {
		return fmt.Errorf("cold transfers: %w", err)
	}
	if openCold > 0 {
		d.violation("%d cold transfers not settled after the drain", openCold)
	}
	over, err := d.overdueProcessing(ctx)
	if err != nil {
		return err
	}
	for _, s := range over {
		d.violation("at the end: %s", s)
	}
	return nil
}
