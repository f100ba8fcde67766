package soak

import (
	"context"
	"crypto/sha256"
	"fmt"
	"math/big"
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
	TrafficBridge      = "fiat bridge payment"
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
		if retryable(st) {
			return false, fmt.Errorf("withdrawal/send: %d %s", st, raw)
		}
		m.status, m.raw = st, raw
		return true, nil
	})
	d.countTraffic(TrafficMasterchain, 1)
	d.mu.Lock()
	d.masterchain = append(d.masterchain, m)
	first := len(d.masterchain) == 1
	d.mu.Unlock()
	if first {
		d.logf("withdrawal to the masterchain %s answered %d %s", body["destination"], m.status, strings.TrimSpace(m.raw))
	}
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

// Hot wallet funding and the cold wallet: the hot wallet starts with
// hotFunding and keeps at most coldMax (HOT_WALLET_MAX_BALANCE), the excess
// above coldResidual going to the cold wallet; periodic faucet top-ups push
// it over. The oversized withdrawal asks for more than the hot wallet holds
// and can only be paid after a large top-up.
const (
	hotFunding   = 1000_000_000_000 // 1000 TON
	coldMax      = 1030_000_000_000
	coldResidual = 1000_000_000_000
	topUpAmount  = 40_000_000_000   // every topUpEvery ticks
	topUpEvery   = 5                // ticks
	oversized    = 1100_000_000_000 // more than hotFunding
	bigTopUp     = 300_000_000_000  // makes the oversized withdrawal payable
	// coldStorageSlack is the most storage fee the uninitialized cold
	// account may have paid over a run.
	coldStorageSlack = 1_000_000
)

const (
	TrafficTopUp     = "hot wallet top-up (faucet)"
	TrafficOversized = "withdrawal above the hot wallet balance"
)

// coldAddr is the run's cold wallet: a fresh account, sent to
// non-bounceable (it is never deployed).
func coldAddr(seed int64) *address.Address {
	h := sha256.Sum256([]byte(fmt.Sprint("soak-cold-", seed)))
	return address.NewAddress(0, 0, h[:])
}

// topUp sends amount from the faucet to the hot wallet.
func (d *driver) topUp(ctx context.Context, amount int64) {
	fctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	res, err := d.net.Faucet(fctx, d.hot, big.NewInt(amount), false, "soak hot wallet top-up")
	if err != nil {
		d.note("hot wallet top-up: %v", err)
		return
	}
	d.bookFunding(ctx, fundingRef(res.Hash), "TON", big.NewInt(amount))
	d.countTraffic(TrafficTopUp, 1)
}

// oneOversized submits a withdrawal larger than the hot wallet's balance,
// checks for a while that it stays pending (nothing is paid, no batch), then
// tops the hot wallet up so it can be paid; the final checks see it
// processed like any other.
func (d *driver) oneOversized(ctx context.Context, wait time.Duration) {
	w := d.newWithdrawal()
	w.amount, w.bounceable = big.NewInt(oversized), false
	w.destText = tonaddr.Format(w.dest, config.Testnet, false)
	w.comment = "soak oversized " + w.queryID
	var sub sync.WaitGroup
	for i := range 2 {
		sub.Add(1)
		go func() {
			defer sub.Done()
			d.submit(ctx, w, i)
		}()
	}
	sub.Wait()
	d.countTraffic(TrafficOversized, 1)
	d.logf("withdrawal %s of %d nanoton, more than the hot wallet holds", w.queryID, oversized)
	bal, err := d.balance(d.hot)
	if err == nil && bal.Cmp(w.amount) >= 0 {
		d.note("oversized withdrawal %s: the hot wallet already held %s", w.queryID, bal)
	}
	deadline := time.Now().Add(wait)
	for time.Now().Before(deadline) {
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Second):
		}
		var state string
		var batch *int64
		qctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		err := d.db.QueryRow(qctx, `SELECT state, batch_id FROM withdrawals WHERE query_id = $1 AND user_id = $2`, w.queryID, withdrawUser).
			Scan(&state, &batch)
		cancel()
		if err != nil {
			continue // PostgreSQL may be restarting
		}
		if state != "pending" {
			bal, err := d.balance(d.hot)
			if err != nil || bal.Cmp(w.amount) >= 0 {
				break // sweeps and top-ups made it payable
			}
			d.violation("withdrawal %s of %d nanoton is %s (batch %v) before the hot wallet could cover it (balance %s)",
				w.queryID, oversized, state, batch, bal)
			break
		}
	}
	d.topUp(ctx, bigTopUp)
}

// checkCold: the hot wallet sent the cold wallet exactly its processed cold
// transfers, each once, and the cold wallet holds them.
func (d *driver) checkCold(ctx context.Context, flows map[string]*flow) error {
	rows, err := d.db.Query(ctx, `SELECT state, amount::text, coalesce(fail_reason, '') FROM cold_transfers`)
	if err != nil {
		return fmt.Errorf("cold transfers: %w", err)
	}
	defer rows.Close()
	processed := new(big.Int)
	n := 0
	for rows.Next() {
		var state, amt, reason string
		if err := rows.Scan(&state, &amt, &reason); err != nil {
			return fmt.Errorf("cold transfers: %w", err)
		}
		v, ok := new(big.Int).SetString(amt, 10)
		if !ok {
			return fmt.Errorf("cold transfer amount %q", amt)
		}
		switch state {
		case "processed":
			n++
			processed.Add(processed, v)
		case "failed":
			// Not a violation by itself (nothing left the hot wallet, checked
			// below), but worth reading.
			d.res.ColdFailed++
			d.note("cold transfer of %s failed: %s", amt, reason)
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("cold transfers: %w", err)
	}
	d.res.ColdProcessed, d.res.ColdAmount = n, processed.String()
	var out []*big.Int
	if f := flows[d.cold.StringRaw()]; f != nil {
		out = f.out
	}
	if len(out) != n || sum(out).Cmp(processed) != 0 {
		d.violation("cold wallet: the hot wallet sent %v, processed cold transfers are %d totalling %s", out, n, processed)
	}
	bal, err := d.balance(d.cold)
	if err != nil {
		return err
	}
	// The cold account is never deployed: from its second transfer on, the
	// chain takes storage fees (nanotons) from it.
	if short := new(big.Int).Sub(processed, bal); short.Sign() < 0 || short.Cmp(big.NewInt(coldStorageSlack)) > 0 {
		d.violation("cold wallet holds %s, processed cold transfers total %s", bal, processed)
	}
	return nil
}
