package app_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math/big"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/xssnick/tonutils-go/tlb"
	"github.com/xssnick/tonutils-go/ton/wallet"

	"github.com/ton-custody/processor/internal/store/storetest"
	"github.com/ton-custody/processor/internal/tonsim/liteserver"
	"github.com/ton-custody/processor/internal/withdrawals"
)

// longComment is a 1000-byte comment that shares no cell with another.
func longComment(seed string, i int) string {
	var b strings.Builder
	for n := 0; b.Len() < withdrawals.MaxCommentBytes; n++ {
		h := sha256.Sum256([]byte(fmt.Sprint(seed, i, "/", n)))
		b.WriteString(hex.EncodeToString(h[:]))
	}
	return b.String()[:withdrawals.MaxCommentBytes]
}

// sendTON posts a TON withdrawal and returns its id.
func (p *processor) sendTON(t testing.TB, user, q, amount, to string, extra ...string) any {
	t.Helper()
	body := map[string]string{"user_id": user, "query_id": q, "currency": "TON", "amount": amount, "destination": to}
	for i := 0; i+1 < len(extra); i += 2 {
		body[extra[i]] = extra[i+1]
	}
	return p.ok(p.do("POST", "/v1/withdrawal/send", body, true))["ID"]
}

// waitPaid waits for a withdrawal to be processed; on timeout it says
// where it is, and whether its batch executed without sending its message.
func (p *processor) waitPaid(t testing.TB, id any, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		if p.status(id)["status"] == "processed" {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("withdrawal %v: %s", id, p.whereIs(t, id))
}

// whereIs describes a withdrawal's state and its batch's.
func (p *processor) whereIs(t testing.TB, id any) string {
	t.Helper()
	var state, bstate string
	var batch *int64
	var sent bool
	err := p.app.DB.QueryRow(context.Background(), `SELECT w.state, w.batch_id, coalesce(b.state, ''),
		coalesce((SELECT i.sent_tx_hash IS NOT NULL FROM hot_batch_items i WHERE i.batch_id = w.batch_id AND i.withdrawal_id = w.id), false)
		FROM withdrawals w LEFT JOIN hot_batches b ON b.id = w.batch_id WHERE w.id = $1`, id).Scan(&state, &batch, &bstate, &sent)
	if err != nil {
		t.Fatal(err)
	}
	if batch == nil {
		return state + ", in no batch"
	}
	s := fmt.Sprintf("%s in batch %d (%s)", state, *batch, bstate)
	if state == "processing" && bstate == "confirmed" && !sent {
		s += ": the batch executed but the hot wallet never sent this withdrawal's message, and nothing will"
	}
	return s
}

// orphans counts withdrawals left processing although their batch executed
// (more than grace ago) without sending their message: nothing can ever
// settle them.
func (p *processor) orphans(t testing.TB, grace time.Duration) int {
	t.Helper()
	return p.count(t, `SELECT count(*) FROM withdrawals w JOIN hot_batches b ON b.id = w.batch_id
		JOIN hot_batch_items i ON i.batch_id = b.id AND i.withdrawal_id = w.id
		WHERE w.state = 'processing' AND b.state = 'confirmed' AND i.sent_tx_hash IS NULL
		AND b.confirmed_at < now() - $1::interval`, grace.String())
}

func counterValue(t testing.TB, p *processor, name string) float64 {
	t.Helper()
	mfs, err := p.app.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	return -1
}

// Issue 11, defect 1: with more than one message tonutils-go sends the
// batch as one message to the hot wallet itself carrying the sum plus
// 0.007 TON per message plus 0.01 TON plus its forward fee. Funded with
// just what the queue asks for (4 x 2.49 TON + 0.01 TON per message = the
// 10 TON funded), that wrapper cannot be paid: the wallet skips it while
// the external executes. The worker must reserve what the wrapper needs
// (paying what fits, the rest waiting), never leave them processing.
func TestPackedBatchReservesWhatItsWrapperNeeds(t *testing.T) {
	t.Parallel()
	n, j := newNetwork(t)
	env := baseEnv(t, n, j, storetest.NewDBURL(t))
	env["WITHDRAWAL_BATCH_INTERVAL"] = "300ms"
	p := startProcessor(t, n, env)
	var ids []any
	for i := 0; i < 4; i++ {
		ids = append(ids, p.sendTON(t, "pack", fmt.Sprint(i), "2490000000", dest("pack", i, false)))
	}
	p.fundHot(t, "10")
	for _, id := range ids[:3] {
		p.waitPaid(t, id, 40*time.Second)
	}
	// The fourth did not fit beside what the wrapper needs: it waits.
	// The fourth did not fit beside the three: it waits, or (when the
	// three's real fees left enough, which storage fees decide) it went
	// in a batch of its own; never in theirs.
	if st := p.status(ids[3]); st["status"] != "pending" {
		var first, fourth int64
		if err := p.app.DB.QueryRow(context.Background(), `SELECT (SELECT batch_id FROM withdrawals WHERE id = $1),
			(SELECT batch_id FROM withdrawals WHERE id = $2)`, ids[0], ids[3]).Scan(&first, &fourth); err != nil || first == fourth {
			t.Fatalf("the withdrawal the wallet cannot cover beside the other three is %s, want pending or in a batch of its own (%v)", p.whereIs(t, ids[3]), err)
		}
	}
	if o := p.orphans(t, 0); o != 0 {
		t.Fatalf("%d withdrawals processing in an executed batch that did not send them", o)
	}
	p.fundHot(t, "5")
	p.waitPaid(t, ids[3], 40*time.Second)
	for i := range ids {
		if got := p.balance(t, dest("pack", i, false)); got.Cmp(big.NewInt(2_490_000_000)) != 0 {
			t.Fatalf("destination %d holds %s, want exactly 2490000000", i, got)
		}
	}
}

// drainHot empties the hot wallet with a message of its own (another
// query id than the processor's), sent straight to the chain.
func drainHot(t testing.TB, p *processor) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	hw, err := p.app.Wallets.HotWallet().Wallet(nil, func(context.Context, uint32) (uint32, int64, error) {
		return 8000<<10 | 7, time.Now().Unix() - 5, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	ext, err := hw.PrepareExternalMessageForMany(ctx, false, []*wallet.Message{{Mode: wallet.CarryAllRemainingBalance,
		InternalMessage: &tlb.InternalMessage{IHRDisabled: true, DstAddr: p.net.Genesis.WalletAddress(), Amount: tlb.FromNanoTONU(0)}}})
	if err != nil {
		t.Fatal(err)
	}
	c, err := tlb.ToCell(ext)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.net.Chain.SendExternal(ctx, c.ToBOCWithFlags(false)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "the hot wallet drained", func() bool { return p.hotTON(t).Sign() == 0 })
}

// Issue 11, defect 1 (b): a batch whose wrapper the wallet cannot pay when
// the external runs (the wallet was drained between signing and
// execution) executes without paying anything. Its query id is spent, so
// its items go back to pending, with a warning and a metric, and are paid
// once the wallet is funded.
func TestUnsentWrapperReturnsItsWithdrawalsToPending(t *testing.T) {
	t.Parallel()
	n, j := newNetwork(t)
	env := baseEnv(t, n, j, storetest.NewDBURL(t))
	env["WITHDRAWAL_BATCH_INTERVAL"] = "300ms"
	p, logs := startLogged(t, n, env)
	p.fundHot(t, "0.5")
	// Deploys the hot wallet.
	p.waitPaid(t, p.sendTON(t, "drain", "deploy", "100000000", dest("drain", 99, false)), 40*time.Second)

	if err := n.Faults.Inject(liteserver.FaultLoseExternals, 5*time.Minute, 0); err != nil {
		t.Fatal(err)
	}
	// Queued while the wallet cannot pay them, so that the funds make one
	// batch of the three: one wrapper carries them.
	var ids []any
	for i := 0; i < 3; i++ {
		ids = append(ids, p.sendTON(t, "drain", fmt.Sprint(i), "2000000000", dest("drain", i, false)))
	}
	p.fundHot(t, "10")
	var batch int64
	waitFor(t, 20*time.Second, "the batch written", func() bool {
		return p.app.DB.QueryRow(context.Background(), `SELECT batch_id FROM withdrawals WHERE id = $1 AND state = 'processing'`, ids[2]).Scan(&batch) == nil
	})
	if c := p.count(t, `SELECT count(*) FROM withdrawals WHERE batch_id = $1 AND state = 'processing'`, batch); c != 3 {
		t.Fatalf("%d withdrawals in batch %d, want the three", c, batch)
	}
	drainHot(t, p)
	// Enough for the external's gas, not for the wrapper's 6 TON.
	p.fundHot(t, "0.1")
	n.ClearFaults()
	waitFor(t, 30*time.Second, "the batch executed", func() bool {
		return p.count(t, `SELECT count(*) FROM hot_batches WHERE id = $1 AND state = 'confirmed'`, batch) == 1
	})
	deadline := time.Now().Add(15 * time.Second)
	for _, id := range ids {
		for p.status(id)["status"] != "pending" {
			if time.Now().After(deadline) {
				t.Fatalf("withdrawal %v: %s", id, p.whereIs(t, id))
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	l := logs.lines(t, "the hot wallet did not send a packed list of a batch; its items are pending again")
	if len(l) != 1 || l[0]["level"] != "WARN" || fmt.Sprint(l[0]["batch_id"]) != fmt.Sprint(batch) || !hasID(l[0]["withdrawal_ids"], ids[0]) {
		t.Fatalf("warn line for the unsent wrapper: %v", l)
	}
	if v := counterValue(t, p, "processor_withdrawal_batch_items_returned_total"); v != 3 {
		t.Fatalf("processor_withdrawal_batch_items_returned_total = %v, want 3", v)
	}
	// Nothing to pay them with: they wait.
	time.Sleep(2 * time.Second)
	for _, id := range ids {
		if st := p.status(id); st["status"] != "pending" {
			t.Fatalf("withdrawal %v: %s, want pending while the wallet is empty", id, p.whereIs(t, id))
		}
	}
	p.fundHot(t, "10")
	for i, id := range ids {
		p.waitPaid(t, id, 40*time.Second)
		if got := p.balance(t, dest("drain", i, false)); got.Cmp(big.NewInt(2_000_000_000)) != 0 {
			t.Fatalf("destination %d holds %s, want exactly 2000000000", i, got)
		}
	}
}

// Issue 11, defect 2: validators refuse externals over 64 KiB, and tonsim
// does as they do. 60 withdrawals with distinct 1000-byte comments (66 KB
// in one external) and 800 with 12-byte comments (65 KB) are paid in
// batches cut under the limit, never re-sent refused forever.
func TestLargeQueuesAreBatchedUnderTheExternalLimits(t *testing.T) {
	t.Parallel()
	n, j := newNetwork(t)
	env := baseEnv(t, n, j, storetest.NewDBURL(t))
	env["WITHDRAWAL_BATCH_INTERVAL"] = "300ms"
	env["API_RATE_LIMIT"] = "0"
	p := startProcessor(t, n, env)
	limit := int(n.Chain.SizeLimits().MaxExtMsgSize)
	type req struct {
		to, comment string
	}
	var reqs []req
	for i := 0; i < 60; i++ {
		reqs = append(reqs, req{dest("long", i, false), longComment("long", i)})
	}
	for i := 0; i < 800; i++ {
		reqs = append(reqs, req{dest("short", i, false), fmt.Sprintf("payout %05d", i)})
	}
	// All queued before the wallet has funds, so the worker sees them at once.
	ids := make([]any, len(reqs))
	var wg sync.WaitGroup
	next := make(chan int)
	for c := 0; c < 8; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				r := p.do("POST", "/v1/withdrawal/send", map[string]string{"user_id": "big", "query_id": fmt.Sprint(i), "currency": "TON",
					"amount": "10000000", "destination": reqs[i].to, "comment": reqs[i].comment}, true)
				if r.status != http.StatusOK {
					t.Error(r.raw)
					continue
				}
				ids[i] = r.body["ID"]
			}
		}()
	}
	for i := range reqs {
		next <- i
	}
	close(next)
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	p.fundHot(t, "100")
	deadline := time.Now().Add(3 * time.Minute)
	for _, id := range ids {
		for p.status(id)["status"] != "processed" {
			if time.Now().After(deadline) {
				var sizes []int
				rows, _ := p.app.DB.Query(context.Background(), `SELECT length(signed_message) FROM hot_batches ORDER BY id`)
				for rows.Next() {
					var s int
					_ = rows.Scan(&s)
					sizes = append(sizes, s)
				}
				rows.Close()
				t.Fatalf("withdrawal %v: %s; batches (bytes; validators refuse over %d): %v", id, p.whereIs(t, id), limit, sizes)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	for i, r := range reqs {
		if got := p.balance(t, r.to); got.Cmp(big.NewInt(10_000_000)) != 0 {
			t.Fatalf("destination %d holds %s, want exactly 10000000", i, got)
		}
	}
	var biggest, batches int
	if err := p.app.DB.QueryRow(context.Background(), `SELECT max(length(signed_message)), count(*) FROM hot_batches`).Scan(&biggest, &batches); err != nil {
		t.Fatal(err)
	}
	if biggest > withdrawals.MaxExternalBytes || biggest >= limit {
		t.Fatalf("an external of %d bytes (the cut is %d, validators refuse over %d)", biggest, withdrawals.MaxExternalBytes, limit)
	}
	// Batches written in a row while the scanner stays on one block share
	// one balance read (each read waits on a liteserver): the worker must
	// not read the chain again per batch.
	read, reused := labeledCounter(t, p, "processor_hot_balance_reads_total", "source", "read"),
		labeledCounter(t, p, "processor_hot_balance_reads_total", "source", "reused")
	if reused < 1 {
		t.Fatalf("%d batches, %v balance reads from the chain and %v reused: every batch read the chain again", batches, read, reused)
	}
	t.Logf("%d withdrawals in %d batches, the biggest external %d bytes; hot balances read %v times, reused %v", len(reqs), batches, biggest, read, reused)
}

// labeledCounter is a counter's value for one label value (0 when that
// series does not exist yet, -1 when the metric does not).
func labeledCounter(t testing.TB, p *processor, name, label, value string) float64 {
	t.Helper()
	mfs, err := p.app.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == label && l.GetValue() == value {
					return m.GetCounter().GetValue()
				}
			}
		}
		return 0
	}
	return -1
}

// Issue 11, defect 3: TON on its way to the cold wallet is not the hot
// wallet's to spend. A withdrawal arriving while a cold transfer is in
// flight must not be batched against that money: it waits, and is paid
// when funds arrive.
func TestColdTransferInFlightIsReserved(t *testing.T) {
	t.Parallel()
	n, j := newNetwork(t)
	env := baseEnv(t, n, j, storetest.NewDBURL(t))
	cold := dest("coldres", 1, false)
	env["COLD_WALLET"] = cold
	env["HOT_WALLET_MAX_BALANCE"] = "500000000000"
	env["HOT_WALLET_RESIDUAL"] = "300000000000"
	env["WITHDRAWAL_BATCH_INTERVAL"] = "300ms"
	p := startProcessor(t, n, env)
	// The cold transfer's batch stays in flight while externals are lost.
	if err := n.Faults.Inject(liteserver.FaultLoseExternals, 5*time.Minute, 0); err != nil {
		t.Fatal(err)
	}
	p.fundHot(t, "1000")
	waitFor(t, 20*time.Second, "the cold transfer in flight", func() bool {
		return p.count(t, `SELECT count(*) FROM cold_transfers WHERE state = 'processing'`) == 1
	})
	to := dest("coldres", 2, false)
	id := p.sendTON(t, "c", "w", "500000000000", to)
	time.Sleep(3 * time.Second) // several worker steps
	if st := p.status(id); st["status"] != "pending" {
		t.Fatalf("withdrawal batched against money already on its way to the cold wallet: %s", p.whereIs(t, id))
	}
	n.ClearFaults()
	waitFor(t, 30*time.Second, "the cold transfer processed", func() bool {
		return p.count(t, `SELECT count(*) FROM cold_transfers WHERE state = 'processed'`) == 1
	})
	if st := p.status(id); st["status"] != "pending" {
		t.Fatalf("withdrawal is %s with the cold money gone, want pending", p.whereIs(t, id))
	}
	p.fundHot(t, "300")
	p.waitPaid(t, id, 40*time.Second)
	if got := p.balance(t, to); got.Cmp(tlb.MustFromTON("500").Nano()) != 0 {
		t.Fatalf("destination holds %s, want exactly 500 TON", got)
	}
	if c := p.count(t, `SELECT count(*) FROM cold_transfers WHERE state <> 'processed'`); c != 0 {
		t.Fatalf("%d cold transfers not processed", c)
	}
}
