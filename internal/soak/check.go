package soak

import (
	"context"
	"encoding/hex"
	"fmt"
	"math/big"
	"sort"
	"strings"
	"time"

	"github.com/xssnick/tonutils-go/address"
	"github.com/xssnick/tonutils-go/tlb"

	"github.com/ton-custody/processor/internal/notify"
)

// drain waits until everything the traffic started has settled: deposits
// credited, withdrawals final, sweeps settled, the outbox delivered and
// seen by the receiver. It reports whether that happened in time; the
// checks run either way.
func (d *driver) drain(ctx context.Context) bool {
	deadline := time.Now().Add(d.opts.DrainTimeout)
	d.drainDeadline = deadline
	// Events a killed processor had claimed stay leased for SendTimeout + 1
	// minute, and events that failed through the receiver outages back off
	// exponentially: either can outlast a short drain. With the faults over,
	// do what the notify package documents for an operator: make them due
	// now (a send still in flight may then arrive twice, which the receiver
	// counts as a redelivery).
	if tag, err := d.db.Exec(ctx, `UPDATE outbox_deliveries SET next_attempt_at = now()
		WHERE delivered_at IS NULL AND given_up_at IS NULL AND next_attempt_at > now()`); err != nil {
		d.note("outbox deliveries not made due at the drain: %v", err)
	} else if n := tag.RowsAffected(); n > 0 {
		d.logf("made %d waiting outbox deliveries due", n)
	}
	var why string
	for time.Now().Before(deadline) {
		pending, err := d.unsettled(ctx)
		if err == nil && pending == "" {
			return true
		}
		if err != nil {
			why = err.Error()
		} else {
			why = pending
		}
		// Keep the processor running: it may have exited on its own.
		if err := d.proc.ensure(); err != nil {
			why = err.Error()
		}
		select {
		case <-ctx.Done():
			return false
		case <-time.After(time.Second):
		}
	}
	d.logf("drain timed out: %s", why)
	return false
}

// unsettled says what is still in flight ("" when nothing).
func (d *driver) unsettled(ctx context.Context) (string, error) {
	qctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	d.mu.Lock()
	hashes := make([][]byte, len(d.deposits))
	for i, dep := range d.deposits {
		hashes[i] = dep.txHash
	}
	d.mu.Unlock()
	jhashes := map[string][]byte{}
	d.mu.Lock()
	for _, dep := range d.jettonDeps {
		for _, h := range dep.hashes {
			jhashes[string(h)] = h
		}
	}
	njd := len(d.jettonDeps)
	d.mu.Unlock()
	jlist := make([][]byte, 0, len(jhashes))
	for _, h := range jhashes {
		jlist = append(jlist, h)
	}
	var jcredited int
	if err := d.db.QueryRow(qctx, `SELECT count(*) FROM incomes WHERE tx_hash = ANY($1)`, jlist).Scan(&jcredited); err != nil {
		return "", fmt.Errorf("drain query: %w", err)
	}
	var uncredited, open, sweeps, outbox, cold, batches int
	err := d.db.QueryRow(qctx, `SELECT
		(SELECT count(*) FROM unnest($1::bytea[]) h WHERE NOT EXISTS (SELECT 1 FROM incomes i WHERE i.tx_hash = h)),
		(SELECT count(*) FROM withdrawals WHERE state IN ('pending', 'processing')),
		(SELECT count(*) FROM sweeps WHERE state IN ('pending', 'topping_up', 'sent')),
		(SELECT count(*) FROM outbox WHERE delivered_at IS NULL AND given_up_at IS NULL),
		(SELECT count(*) FROM cold_transfers WHERE state IN ('pending', 'processing')),
		(SELECT count(*) FROM hot_batches WHERE state = 'sent')`, hashes).
		Scan(&uncredited, &open, &sweeps, &outbox, &cold, &batches)
	if err != nil {
		return "", fmt.Errorf("drain query: %w", err)
	}
	ids, err := d.outboxIDs(qctx)
	if err != nil {
		return "", err
	}
	seen, _, _, _ := d.hook.snapshot()
	unseen := 0
	for _, id := range ids {
		if seen[id] == 0 {
			unseen++
		}
	}
	mqUnseen := 0
	if d.mq != nil {
		mqSeen, _, _, _, _ := d.mq.snapshot()
		for _, id := range ids {
			if mqSeen[id] == 0 {
				mqUnseen++
			}
		}
	}
	var parts []string
	if d.br != nil {
		if parts, err = d.bridgeUnsettled(qctx); err != nil {
			return "", err
		}
	}
	for _, p := range []struct {
		n    int
		what string
	}{{uncredited, "deposits not credited"}, {njd - jcredited, "jetton deposits not credited"},
		{open, "withdrawals not final"}, {sweeps, "sweeps in flight"}, {outbox, "outbox events not delivered"},
		{cold, "cold transfers open"}, {batches, "hot batches in flight"}, {unseen, "events not seen by the receiver"},
		{mqUnseen, "events not in the RabbitMQ queue"}} {
		if p.n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", p.n, p.what))
		}
	}
	return strings.Join(parts, ", "), nil
}

func (d *driver) outboxIDs(ctx context.Context) ([]string, error) {
	rows, err := d.db.Query(ctx, `SELECT coalesce(dedup_key, 'outbox:' || id) FROM outbox`)
	if err != nil {
		return nil, fmt.Errorf("outbox: %w", err)
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("outbox: %w", err)
		}
		ids = append(ids, id)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("outbox: %w", err)
	}
	return ids, nil
}

// flow is what moved between the hot wallet and one address, read from the
// hot wallet's transactions.
type flow struct {
	out     []*big.Int // hot wallet -> address
	in      []*big.Int // address -> hot wallet, not bounced
	bounced []*big.Int // address -> hot wallet, bounced back
	comment []string   // text comments of out
}

func sum(list []*big.Int) *big.Int {
	s := new(big.Int)
	for _, v := range list {
		s.Add(s, v)
	}
	return s
}

// hotFlows reads every transaction of the hot wallet from the chain.
func (d *driver) hotFlows() (map[string]*flow, int, error) {
	flows := map[string]*flow{}
	get := func(a *address.Address) *flow {
		k := a.StringRaw()
		if flows[k] == nil {
			flows[k] = &flow{}
		}
		return flows[k]
	}
	refs := d.net.Chain.TxsSince(d.hot, 0)
	for _, ref := range refs {
		var tx tlb.Transaction
		if err := tlb.LoadFromCell(&tx, ref.Cell.BeginParse()); err != nil {
			return nil, 0, fmt.Errorf("hot wallet transaction %x: %w", ref.Hash, err)
		}
		// Highload v3 carries a batch to itself (internal_transfer); such a
		// message is neither an arrival nor a payout: the payouts are the
		// out messages of the transaction it starts.
		if in := tx.IO.In; in != nil && in.MsgType == tlb.MsgTypeInternal && !in.AsInternal().SrcAddr.Equals(d.hot) {
			in := in.AsInternal()
			f := get(in.SrcAddr)
			if in.Bounced {
				f.bounced = append(f.bounced, in.Amount.Nano())
			} else {
				f.in = append(f.in, in.Amount.Nano())
			}
		}
		if tx.IO.Out == nil {
			continue
		}
		outs, err := tx.IO.Out.ToSlice()
		if err != nil {
			return nil, 0, fmt.Errorf("hot wallet transaction %x out messages: %w", ref.Hash, err)
		}
		for _, m := range outs {
			if m.MsgType != tlb.MsgTypeInternal {
				continue
			}
			out := m.AsInternal()
			if out.DstAddr.Equals(d.hot) {
				continue // the internal transfer to itself (above)
			}
			f := get(out.DstAddr)
			f.out = append(f.out, out.Amount.Nano())
			f.comment = append(f.comment, out.Comment())
		}
	}
	return flows, len(refs), nil
}

func (d *driver) balance(a *address.Address) (*big.Int, error) {
	last := d.net.Chain.Last()
	v, err := d.net.Chain.AccountAt(&last.ID, a)
	if err != nil {
		return nil, fmt.Errorf("account %s: %w", a, err)
	}
	if v.Info.Balance == nil {
		return new(big.Int), nil
	}
	return v.Info.Balance, nil
}

func rawKey(wc int32, data []byte) string {
	return address.NewAddress(0, byte(wc), data).StringRaw()
}

// check runs every invariant (see the package documentation).
func (d *driver) check(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	d.mu.Lock()
	deposits := append([]*deposit(nil), d.deposits...)
	ws := append([]*withdrawal(nil), d.withdrawals...)
	d.mu.Unlock()
	r := d.res

	// Deposits.
	type income struct {
		amount string
		owner  string
	}
	incomes := map[string][]income{}
	rows, err := d.db.Query(ctx, `SELECT i.tx_hash, i.amount::text, dw.workchain, dw.address
		FROM incomes i JOIN deposit_wallets dw ON dw.id = i.deposit_wallet_id WHERE i.currency = 'TON'`)
	if err != nil {
		return fmt.Errorf("incomes: %w", err)
	}
	total := 0
	for rows.Next() {
		var h, a []byte
		var amt string
		var wc int32
		if err := rows.Scan(&h, &amt, &wc, &a); err != nil {
			rows.Close()
			return fmt.Errorf("incomes: %w", err)
		}
		incomes[hex.EncodeToString(h)] = append(incomes[hex.EncodeToString(h)], income{amt, rawKey(wc, a)})
		total++
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("incomes: %w", err)
	}
	r.DepositsSent = len(deposits)
	r.DepositsCredited = total
	for _, dep := range deposits {
		h := hex.EncodeToString(dep.txHash)
		got := incomes[h]
		switch {
		case len(got) == 0:
			d.violation("deposit %s of %s to %s was never credited", h, dep.amount, dep.to.addr)
		case len(got) > 1:
			d.violation("deposit %s credited %d times", h, len(got))
		case got[0].amount != dep.amount.String() || got[0].owner != dep.to.addr.StringRaw():
			d.violation("deposit %s credited as %s to %s, sent %s to %s", h, got[0].amount, got[0].owner, dep.amount, dep.to.addr.StringRaw())
		}
		delete(incomes, h)
	}
	for h, got := range incomes {
		d.violation("income %s (%s) matches no deposit the driver made", h, got[0].amount)
	}

	// Withdrawals: the database.
	type wrow struct {
		id     int64
		state  string
		amount string
		hasTx  bool
		reason string
	}
	dbw := map[string]wrow{}
	rows, err = d.db.Query(ctx, `SELECT id, user_id, query_id, state, amount::text, tx_hash IS NOT NULL, coalesce(fail_reason, '') FROM withdrawals WHERE currency = 'TON'`)
	if err != nil {
		return fmt.Errorf("withdrawals: %w", err)
	}
	for rows.Next() {
		var x wrow
		var user, q string
		if err := rows.Scan(&x.id, &user, &q, &x.state, &x.amount, &x.hasTx, &x.reason); err != nil {
			rows.Close()
			return fmt.Errorf("withdrawals: %w", err)
		}
		if user != withdrawUser {
			d.violation("withdrawal %d of unknown user %q", x.id, user)
			continue
		}
		dbw[q] = x
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("withdrawals: %w", err)
	}

	// The hot wallet, read from the chain.
	flows, hotTxs, err := d.hotFlows()
	if err != nil {
		return err
	}
	r.HotWalletTxs = hotTxs
	destinations := map[string]bool{}
	processedSum, reachedSum := new(big.Int), new(big.Int)
	finals := map[int64]string{} // withdrawal id -> processed | failed
	r.WithdrawalRequests = len(ws)
	for _, w := range ws {
		key := w.dest.StringRaw()
		destinations[key] = true
		row, ok := dbw[w.queryID]
		delete(dbw, w.queryID)
		if w.ids[0] != 0 && w.ids[1] != 0 && w.ids[0] != w.ids[1] {
			d.violation("withdrawal %s: the two submissions got ids %d and %d", w.queryID, w.ids[0], w.ids[1])
		}
		if w.ids[0] == 0 && w.ids[1] == 0 {
			// Never accepted (the API never answered within the request
			// deadline): then nothing may have been paid.
			r.WithdrawalsUnsubmitted++
			d.note("withdrawal %s never accepted: %s", w.queryID, strings.Join(w.errs, "; "))
		} else if len(w.errs) > 0 {
			d.violation("withdrawal %s: a duplicate submission failed: %s", w.queryID, strings.Join(w.errs, "; "))
		}
		if !ok {
			if w.ids[0] != 0 || w.ids[1] != 0 {
				d.violation("withdrawal %s (id %d) has no database row", w.queryID, max(w.ids[0], w.ids[1]))
			}
			if f := flows[key]; f != nil && len(f.out) > 0 {
				d.violation("withdrawal %s without a request row was paid %s", w.queryID, sum(f.out))
			}
			continue
		}
		if id := max(w.ids[0], w.ids[1]); id != 0 && id != row.id {
			d.violation("withdrawal %s: API id %d, database id %d", w.queryID, id, row.id)
		}
		if row.amount != w.amount.String() {
			d.violation("withdrawal %s: stored amount %s, requested %s", w.queryID, row.amount, w.amount)
		}
		f := flows[key]
		if f == nil {
			f = &flow{}
		}
		bal, err := d.balance(w.dest)
		if err != nil {
			return err
		}
		if row.state == "processed" || row.state == "failed" {
			finals[row.id] = row.state
		}
		switch row.state {
		case "processed":
			r.WithdrawalsProcessed++
			processedSum.Add(processedSum, w.amount)
			if len(f.out) != 1 || f.out[0].Cmp(w.amount) != 0 || bal.Cmp(w.amount) != 0 || len(f.bounced) != 0 {
				d.violation("withdrawal %s processed: hot wallet sent %v, %d bounced back, destination holds %s; want one message of %s kept",
					w.queryID, f.out, len(f.bounced), bal, w.amount)
			}
			if !row.hasTx {
				d.violation("withdrawal %s processed without tx_hash", w.queryID)
			}
			// Burst comments run up to 1000 bytes, over several cells.
			want := w.comment
			if want == "" {
				want = "soak " + w.queryID
			}
			if len(f.comment) == 1 && f.comment[0] != want {
				d.violation("withdrawal %s paid with a %d-byte comment %.40q..., requested %d bytes %.40q...",
					w.queryID, len(f.comment[0]), f.comment[0], len(want), want)
			}
		case "failed":
			r.WithdrawalsFailed++
			if row.reason == "" {
				d.violation("withdrawal %s failed without a reason", w.queryID)
			}
			if len(f.out) > 1 || len(f.bounced) != len(f.out) || bal.Sign() != 0 {
				d.violation("withdrawal %s failed: hot wallet sent %v, %d bounced back, destination holds %s; want the money back",
					w.queryID, f.out, len(f.bounced), bal)
			}
			if len(f.out) == 1 {
				r.WithdrawalsBounced++
			}
		default:
			d.violation("withdrawal %s (id %d) is still %s", w.queryID, row.id, row.state)
		}
		if len(f.bounced) == 0 {
			reachedSum.Add(reachedSum, sum(f.out))
		}
	}
	for q, row := range dbw {
		d.violation("withdrawal row %d (%s) matches no request of the driver", row.id, q)
	}
	r.ProcessedAmount = processedSum.String()
	r.DestinationsReceived = reachedSum.String()
	if processedSum.Cmp(reachedSum) != 0 {
		d.violation("hot wallet paid %s that stayed at destinations, processed withdrawals total %s", reachedSum, processedSum)
	}
	if err := d.checkCold(ctx, flows); err != nil {
		return err
	}
	destinations[d.cold.StringRaw()] = true
	// Jetton payouts go through the hot wallet's jetton wallet, and jetton
	// sweeps get their gas from the hot wallet (top-ups to the owners).
	hotJW, err := d.net.JettonWallet(ctx, d.jetton, d.hot)
	if err != nil {
		return fmt.Errorf("hot jetton wallet: %w", err)
	}
	destinations[hotJW.StringRaw()] = true
	d.mu.Lock()
	for _, dep := range d.jettonDeps {
		destinations[dep.owner.StringRaw()] = true
	}
	d.mu.Unlock()
	for key, f := range flows {
		if len(f.out) > 0 && !destinations[key] {
			d.violation("hot wallet sent %s to %s, which is no withdrawal destination", sum(f.out), key)
		}
	}

	// Sweeps: per deposit address, hot wallet inflow = confirmed sweeps.
	type sweepAgg struct {
		confirmed int
		received  *big.Int
		failed    int
	}
	sweeps := map[string]*sweepAgg{}
	rows, err = d.db.Query(ctx, `SELECT dw.workchain, dw.address, s.state, coalesce(s.received_amount, 0)::text
		FROM sweeps s JOIN deposit_wallets dw ON dw.id = s.deposit_wallet_id WHERE s.currency = 'TON'`)
	if err != nil {
		return fmt.Errorf("sweeps: %w", err)
	}
	for rows.Next() {
		var wc int32
		var a []byte
		var state, amt string
		if err := rows.Scan(&wc, &a, &state, &amt); err != nil {
			rows.Close()
			return fmt.Errorf("sweeps: %w", err)
		}
		k := rawKey(wc, a)
		if sweeps[k] == nil {
			sweeps[k] = &sweepAgg{received: new(big.Int)}
		}
		switch state {
		case "confirmed":
			v, ok := new(big.Int).SetString(amt, 10)
			if !ok {
				rows.Close()
				return fmt.Errorf("sweeps: received_amount %q", amt)
			}
			sweeps[k].confirmed++
			sweeps[k].received.Add(sweeps[k].received, v)
			r.SweepsConfirmed++
		case "failed":
			sweeps[k].failed++
			r.SweepsFailed++
		default:
			d.violation("sweep from %s still %s", k, state)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("sweeps: %w", err)
	}
	d.mu.Lock()
	depKeys := map[string]bool{}
	for _, a := range d.depAddrs {
		depKeys[a.addr.StringRaw()] = true
	}
	d.mu.Unlock()
	for k := range sweeps {
		depKeys[k] = true
	}
	keys := make([]string, 0, len(depKeys))
	for k := range depKeys {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		s := sweeps[k]
		if s == nil {
			s = &sweepAgg{received: new(big.Int)}
		}
		var in []*big.Int
		if f := flows[k]; f != nil {
			in = f.in
		}
		if len(in) != s.confirmed || sum(in).Cmp(s.received) != 0 {
			d.violation("deposit %s: the hot wallet received %v from it, confirmed sweeps say %d totalling %s", k, in, s.confirmed, s.received)
		}
	}

	// Outbox and webhooks.
	type orow struct {
		topic              string
		delivered, givenUp bool
	}
	outbox := map[string]orow{}
	rows, err = d.db.Query(ctx, `SELECT coalesce(dedup_key, 'outbox:' || id), topic, delivered_at IS NOT NULL, given_up_at IS NOT NULL FROM outbox`)
	if err != nil {
		return fmt.Errorf("outbox: %w", err)
	}
	for rows.Next() {
		var id string
		var o orow
		if err := rows.Scan(&id, &o.topic, &o.delivered, &o.givenUp); err != nil {
			rows.Close()
			return fmt.Errorf("outbox: %w", err)
		}
		if _, dup := outbox[id]; dup {
			d.violation("outbox event id %s appears twice", id)
		}
		outbox[id] = o
		r.OutboxEvents++
		r.EventsByTopic = addTopic(r.EventsByTopic, o.topic)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("outbox: %w", err)
	}
	for _, dep := range deposits {
		id := "deposit:" + hex.EncodeToString(dep.txHash)
		if o, ok := outbox[id]; !ok || o.topic != "deposit" {
			d.violation("credited deposit has no %s event", id)
		}
	}
	seenIDs := map[string]bool{}
	for id := range outbox {
		seenIDs[id] = true
	}
	if err := d.checkJettons(ctx, seenIDs, finals); err != nil {
		return err
	}
	for id, state := range finals {
		other := map[string]string{"processed": "failed", "failed": "processed"}[state]
		if o, ok := outbox[fmt.Sprintf("withdrawal:%d:%s", id, state)]; !ok || o.topic != "withdrawal" {
			d.violation("%s withdrawal %d has no withdrawal:%d:%s event", state, id, id, state)
		}
		if _, ok := outbox[fmt.Sprintf("withdrawal:%d:%s", id, other)]; ok {
			d.violation("%s withdrawal %d also has a withdrawal:%d:%s event", state, id, id, other)
		}
	}
	if err := d.checkMasterchain(ctx); err != nil {
		return err
	}
	if err := d.checkReserves(ctx); err != nil {
		return err
	}
	if d.br != nil {
		if err := d.checkBridge(ctx); err != nil {
			return err
		}
	}
	seen, deliveries, refused, invalid := d.hook.snapshot()
	r.WebhookDeliveries, r.WebhookRefused = deliveries, refused
	r.WebhookEventsSeen = len(seen)
	for _, inv := range invalid {
		d.violation("webhook with an invalid signature or body: %s", inv)
	}
	for id, o := range outbox {
		if !o.delivered || o.givenUp {
			d.violation("outbox event %s not delivered (given up: %v)", id, o.givenUp)
		}
		if seen[id] == 0 {
			d.violation("the receiver never saw event %s", id)
		}
	}
	for id, n := range seen {
		if _, ok := outbox[id]; !ok {
			d.violation("the receiver got %d deliveries of %s, which is not in the outbox", n, id)
		}
		if n > 1 {
			r.WebhookRedeliveries += n - 1
		}
	}
	if d.mq != nil {
		ids := make(map[string]bool, len(outbox))
		for id := range outbox {
			ids[id] = true
		}
		if err := d.checkRabbit(ctx, ids); err != nil {
			return err
		}
	}
	return nil
}

// checkRabbit: every outbox event was delivered to the RabbitMQ sink and
// reached the run's queue at least once (the documented guarantee: at
// least once, the event id as message id), across the broker outages; the
// queue holds nothing else and nothing malformed.
func (d *driver) checkRabbit(ctx context.Context, outbox map[string]bool) error {
	r := d.res
	type drow struct {
		delivered, givenUp bool
		attempts           int
		lastError          string
	}
	rows, err := d.db.Query(ctx, `SELECT coalesce(o.dedup_key, 'outbox:' || o.id), d.delivered_at IS NOT NULL, d.given_up_at IS NOT NULL,
		d.attempts, coalesce(d.last_error, '')
		FROM outbox o LEFT JOIN outbox_deliveries d ON d.outbox_id = o.id AND d.sink = $1`, notify.RabbitMQSinkName)
	if err != nil {
		return fmt.Errorf("rabbitmq deliveries: %w", err)
	}
	sinkRows := map[string]*drow{}
	for rows.Next() {
		var id string
		var delivered, givenUp *bool
		var attempts *int
		var lastError string
		if err := rows.Scan(&id, &delivered, &givenUp, &attempts, &lastError); err != nil {
			rows.Close()
			return fmt.Errorf("rabbitmq deliveries: %w", err)
		}
		if attempts == nil { // no delivery row: the sink never got the event
			sinkRows[id] = nil
			continue
		}
		sinkRows[id] = &drow{delivered: *delivered, givenUp: *givenUp, attempts: *attempts, lastError: lastError}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("rabbitmq deliveries: %w", err)
	}
	seen, messages, redelivered, invalid, lost := d.mq.snapshot()
	r.RabbitEventsSeen, r.RabbitMessages, r.RabbitRedelivered = len(seen), messages, redelivered
	r.RabbitConnsCut = d.mq.proxy.cuts()
	if lost != nil {
		d.violation("the soak's RabbitMQ consumer lost its connection (the check below may miss messages): %v", lost)
	}
	for _, inv := range invalid {
		d.violation("RabbitMQ message malformed: %s", inv)
	}
	for id := range outbox {
		row := sinkRows[id]
		switch {
		case row == nil:
			d.violation("outbox event %s has no RabbitMQ delivery", id)
		case !row.delivered || row.givenUp:
			d.violation("outbox event %s not delivered to RabbitMQ (given up: %v, %d attempts, last error %q)", id, row.givenUp, row.attempts, row.lastError)
		}
		if row != nil && row.attempts > 1 {
			r.RabbitRetried++
		}
		if seen[id] == 0 {
			d.violation("outbox event %s never reached the RabbitMQ queue (lost)", id)
		}
	}
	for id, n := range seen {
		if !outbox[id] {
			d.violation("the RabbitMQ queue got %d messages with id %s, which is not in the outbox", n, id)
		}
	}
	return nil
}

func addTopic(m map[string]int, topic string) map[string]int {
	if m == nil {
		m = map[string]int{}
	}
	m[topic]++
	return m
}
