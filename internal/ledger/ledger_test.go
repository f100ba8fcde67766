package ledger_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/ton-custody/processor/internal/ledger"
	"github.com/ton-custody/processor/internal/notify"
	"github.com/ton-custody/processor/internal/store"
	"github.com/ton-custody/processor/internal/store/storetest"
)

func post(t testing.TB, db *pgxpool.Pool, p ledger.Posting) bool {
	t.Helper()
	var ok bool
	err := store.InTx(context.Background(), db, func(tx pgx.Tx) error {
		var err error
		ok, err = ledger.Post(context.Background(), tx, p)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return ok
}

func balanceOf(t testing.TB, db *pgxpool.Pool, account, currency string) string {
	t.Helper()
	bs, err := ledger.Balances(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range bs {
		if b.Account == account && b.Currency == currency {
			return b.Amount
		}
	}
	return "0"
}

func TestPostWritesBalancedPostingsOnceAndRefusesUnbalancedOnes(t *testing.T) {
	t.Parallel()
	db := storetest.NewDB(t)
	ctx := context.Background()
	dep := ledger.DepositRaw(0, bytes.Repeat([]byte{1}, 32))
	p := ledger.Posting{Ref: "deposit:aa", Kind: "deposit", TxHash: bytes.Repeat([]byte{2}, 32), TxLT: 7, MasterSeqno: 3,
		Lines: ledger.Move("TON", big.NewInt(1500), ledger.User("alice"), dep)}
	if !post(t, db, p) {
		t.Fatal("first post wrote nothing")
	}
	if post(t, db, p) {
		t.Fatal("the same ref was posted twice")
	}
	if got := balanceOf(t, db, dep, "TON"); got != "1500" {
		t.Fatalf("deposit balance %s, want 1500", got)
	}
	if got := balanceOf(t, db, "user:alice", "TON"); got != "-1500" {
		t.Fatalf("liability %s, want -1500 (credit-normal)", got)
	}

	// Go refuses an unbalanced posting before writing.
	bad := ledger.Posting{Ref: "bad", Kind: "x", Lines: []ledger.Line{{Account: ledger.Hot, Currency: "TON", Amount: big.NewInt(1)}}}
	err := store.InTx(ctx, db, func(tx pgx.Tx) error { _, err := ledger.Post(ctx, tx, bad); return err })
	if !errors.Is(err, ledger.ErrUnbalanced) {
		t.Fatalf("unbalanced posting: %v", err)
	}
	// Balanced in sum but not per currency.
	mixed := ledger.Posting{Ref: "mixed", Kind: "x", Lines: []ledger.Line{
		{Account: ledger.Hot, Currency: "TON", Amount: big.NewInt(5)}, {Account: ledger.Fees, Currency: "USDT", Amount: big.NewInt(-5)}}}
	if err := mixed.Validate(); !errors.Is(err, ledger.ErrUnbalanced) {
		t.Fatalf("posting balanced only across currencies: %v", err)
	}

	// The database refuses it too, at commit, whatever wrote it.
	err = store.InTx(ctx, db, func(tx pgx.Tx) error {
		var id int64
		if err := tx.QueryRow(ctx, `INSERT INTO ledger_postings (ref, kind) VALUES ('raw', 'x') RETURNING id`).Scan(&id); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO ledger_entries (posting_id, account, currency, amount) VALUES ($1, 'hot', 'TON', 10), ($1, 'fees', 'TON', -9)`, id)
		return err
	})
	if err == nil || !strings.Contains(err.Error(), "does not balance") {
		t.Fatalf("unbalanced rows committed: %v", err)
	}
	// And entries cannot be changed afterwards.
	if _, err := db.Exec(ctx, `UPDATE ledger_entries SET amount = amount * 2`); err == nil {
		t.Fatal("ledger entries were updated")
	}
	if _, err := db.Exec(ctx, `DELETE FROM ledger_postings`); err == nil {
		t.Fatal("ledger postings were deleted")
	}
}

func TestExportStreamsEveryEntryInCSVAndJSONAcrossPages(t *testing.T) {
	t.Parallel()
	db := storetest.NewDB(t)
	ctx := context.Background()
	const n = 1203
	for i := 0; i < n; i++ {
		cur := "TON"
		if i%3 == 0 {
			cur = "USDT"
		}
		post(t, db, ledger.Posting{Ref: fmt.Sprintf("p:%d", i), Kind: "deposit", TxHash: bytes.Repeat([]byte{byte(i)}, 32), TxLT: uint64(i + 1),
			Lines: ledger.Move(cur, big.NewInt(int64(i+1)), ledger.User("u"), ledger.Hot)})
	}
	all := ledger.ExportFilter{From: time.Unix(0, 0), To: time.Now().Add(time.Hour), PageSize: 100}
	var buf bytes.Buffer
	w := ledger.NewCSVWriter(&buf)
	count, err := ledger.Export(ctx, db, all, w.Write)
	if err != nil || w.Close() != nil {
		t.Fatal(err)
	}
	if count != 2*n {
		t.Fatalf("exported %d entries, want %d", count, 2*n)
	}
	recs, err := csv.NewReader(&buf).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 2*n+1 || strings.Join(recs[0], ",") != strings.Join(ledger.ExportColumns, ",") {
		t.Fatalf("csv: %d rows, header %v", len(recs), recs[0])
	}
	debits, credits := new(big.Int), new(big.Int)
	seen := map[string]bool{}
	for _, r := range recs[1:] {
		if seen[r[0]] {
			t.Fatalf("entry %s exported twice", r[0])
		}
		seen[r[0]] = true
		d, _ := new(big.Int).SetString(r[7], 10)
		c, _ := new(big.Int).SetString(r[8], 10)
		debits.Add(debits, d)
		credits.Add(credits, c)
		if r[9] == "" || r[10] == "" {
			t.Fatalf("entry without its chain reference: %v", r)
		}
	}
	if debits.Cmp(credits) != 0 {
		t.Fatalf("export debits %s != credits %s", debits, credits)
	}

	buf.Reset()
	jw := ledger.NewJSONWriter(&buf)
	usdt := all
	usdt.Currency = "USDT"
	count, err = ledger.Export(ctx, db, usdt, jw.Write)
	if err != nil || jw.Close() != nil {
		t.Fatal(err)
	}
	var entries []ledger.Entry
	if err := json.Unmarshal(buf.Bytes(), &entries); err != nil {
		t.Fatalf("json export does not parse: %v", err)
	}
	if want := 2 * ((n + 2) / 3); len(entries) != want || count != want {
		t.Fatalf("USDT export: %d entries (count %d), want %d", len(entries), count, want)
	}
	for _, e := range entries {
		if e.Currency != "USDT" {
			t.Fatalf("currency filter leaked %s", e.Currency)
		}
	}

	// An empty period is an empty document.
	buf.Reset()
	jw = ledger.NewJSONWriter(&buf)
	if _, err := ledger.Export(ctx, db, ledger.ExportFilter{From: time.Unix(0, 0), To: time.Unix(1, 0)}, jw.Write); err != nil || jw.Close() != nil {
		t.Fatal(err)
	}
	if strings.TrimSpace(buf.String()) != "[]" {
		t.Fatalf("empty export: %q", buf.String())
	}
}

func TestEventsCursorNeverSkipsAnEventCommittedLateWithASmallerID(t *testing.T) {
	t.Parallel()
	db := storetest.NewDB(t)
	ctx := context.Background()
	enqueue := func(tx pgx.Tx, id string) {
		t.Helper()
		if _, err := notify.Enqueue(ctx, tx, notify.Event{Topic: "deposit", ID: id, Payload: map[string]string{"id": id}}); err != nil {
			t.Fatal(err)
		}
	}
	// A: takes the smaller outbox id but commits last.
	slow, err := db.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	enqueue(slow, "slow")
	if err := store.InTx(ctx, db, func(tx pgx.Tx) error { enqueue(tx, "fast"); return nil }); err != nil {
		t.Fatal(err)
	}
	// While A is open, nothing after it is served: "fast" waits behind it.
	evs, cur, err := notify.Pull(ctx, db, notify.Cursor{}, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 0 {
		t.Fatalf("served %d events while an older transaction is open", len(evs))
	}
	if err := slow.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	var ids []string
	// Served once every transaction of the server older than them has
	// ended (other tests share the server).
	for deadline := time.Now().Add(30 * time.Second); len(ids) < 2 && time.Now().Before(deadline); {
		evs, next, err := notify.Pull(ctx, db, cur, 1)
		if err != nil {
			t.Fatal(err)
		}
		if len(evs) == 0 {
			time.Sleep(20 * time.Millisecond)
			continue
		}
		ids = append(ids, evs[0].EventID)
		if evs[0].Cursor != next.String() {
			t.Fatalf("event cursor %s, next %s", evs[0].Cursor, next)
		}
		cur = next
	}
	if strings.Join(ids, ",") != "slow,fast" {
		t.Fatalf("events %v, want slow then fast", ids)
	}
	// The cursor is stable: reading from the start again gives the same.
	again, _, err := notify.Pull(ctx, db, notify.Cursor{}, 10)
	if err != nil || len(again) != 2 || again[0].EventID != "slow" || again[1].Cursor != cur.String() {
		t.Fatalf("re-read: %v %v", again, err)
	}
	if c, err := notify.ParseCursor(cur.String()); err != nil || c != cur {
		t.Fatalf("cursor round trip: %v %v", c, err)
	}
	for _, bad := range []string{"x", "1-", "-1-2", "1-2-3", "99999999999999999999999-1"} {
		if _, err := notify.ParseCursor(bad); err == nil {
			t.Fatalf("cursor %q accepted", bad)
		}
	}
}

func TestEventsUnderConcurrentProducersAreEachServedExactlyOnce(t *testing.T) {
	t.Parallel()
	db := storetest.NewDB(t)
	ctx := context.Background()
	const producers, each = 8, 40
	var wg sync.WaitGroup
	got := map[string]int{}
	var cur notify.Cursor
	stop := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		for {
			evs, next, err := notify.Pull(ctx, db, cur, 7)
			if err != nil {
				done <- err
				return
			}
			for _, e := range evs {
				got[e.EventID]++
			}
			cur = next
			if len(evs) == 0 {
				select {
				case <-stop:
					done <- nil
					return
				case <-time.After(5 * time.Millisecond):
				}
			}
		}
	}()
	for p := 0; p < producers; p++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				_ = store.InTx(ctx, db, func(tx pgx.Tx) error {
					_, err := notify.Enqueue(ctx, tx, notify.Event{Topic: "deposit", ID: fmt.Sprintf("e:%d:%d", p, i), Payload: map[string]int{"i": i}})
					if i%5 == 0 {
						time.Sleep(3 * time.Millisecond) // commit later than others that took later ids
					}
					return err
				})
			}
		}()
	}
	wg.Wait()
	// Let the reader drain what is committed (the horizon moves when every
	// older transaction of the server has ended), then stop it.
	var total int
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if err := db.QueryRow(ctx, `SELECT count(*) FROM outbox WHERE xid < pg_snapshot_xmin(pg_current_snapshot())`).Scan(&total); err != nil {
			t.Fatal(err)
		}
		if total == producers*each {
			break
		}
	}
	time.Sleep(100 * time.Millisecond)
	close(stop)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if len(got) != producers*each {
		t.Fatalf("served %d distinct events, want %d", len(got), producers*each)
	}
	for id, n := range got {
		if n != 1 {
			t.Fatalf("event %s served %d times", id, n)
		}
	}
}

// Under Defer, PostAll checks each posting at once but writes nothing
// until Flush, which writes them all (a repeated ref once).
func TestDeferredPostingsAreWrittenAtFlush(t *testing.T) {
	t.Parallel()
	db := storetest.NewDB(t)
	ctx := context.Background()
	dep := ledger.DepositRaw(0, bytes.Repeat([]byte{3}, 32))
	move := func(ref string, v int64) *ledger.Posting {
		return &ledger.Posting{Ref: ref, Kind: "deposit", Lines: ledger.Move("TON", big.NewInt(v), ledger.User("bob"), dep)}
	}
	err := store.InTx(ctx, db, func(tx pgx.Tx) error {
		dctx, d := ledger.Defer(ctx)
		if err := ledger.PostAll(dctx, tx, move("d:1", 100), nil, move("d:2", 20)); err != nil {
			return err
		}
		if err := ledger.PostAll(dctx, tx, move("d:1", 100)); err != nil {
			return err
		}
		bad := &ledger.Posting{Ref: "bad", Kind: "x", Lines: []ledger.Line{{Account: ledger.Hot, Currency: "TON", Amount: big.NewInt(1)}}}
		if err := ledger.PostAll(dctx, tx, bad); !errors.Is(err, ledger.ErrUnbalanced) {
			return fmt.Errorf("unbalanced posting under Defer: %v", err)
		}
		var n int
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM ledger_postings`).Scan(&n); err != nil {
			return err
		}
		if n != 0 {
			return fmt.Errorf("%d postings written before Flush", n)
		}
		return d.Flush(ctx, tx)
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := balanceOf(t, db, dep, "TON"); got != "120" {
		t.Fatalf("deposit balance %s after Flush, want 120", got)
	}
}
