package withdrawals

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/ton-custody/processor/internal/store/storetest"
)

// inFlightReference is what inFlightSQL must return, as plainly as it can
// be said (the form it had before it was split for its indexes).
const inFlightReference = `
	SELECT w.currency, sum(w.amount)::text,
		coalesce(sum(w.amount) FILTER (WHERE b.state = 'sent' AND b.ton_reserve IS NULL), 0)::text,
		count(*) FILTER (WHERE b.state = 'sent' AND b.ton_reserve IS NULL)
	FROM hot_batches b JOIN withdrawals w ON w.batch_id = b.id
	WHERE w.state = 'processing'
	  AND ((w.currency <> 'TON' AND b.state IN ('sent', 'confirmed')) OR (b.state = 'sent' AND b.ton_reserve IS NULL))
	GROUP BY w.currency`

// The in-flight totals read through the indexes equal the plain reading
// on random mixes of batches (sent, confirmed, expired; with and without
// a reserve) and withdrawals (TON and jettons on both sides of "TON" in
// sort order; pending, processing, processed).
func TestInFlightSQLMatchesItsDefinition(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := storetest.NewDB(t)
	read := func(sql string) []string {
		t.Helper()
		rows, err := pool.Query(ctx, sql)
		if err != nil {
			t.Fatal(err)
		}
		got, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (string, error) {
			var cur, sum, legacySum string
			var legacy int64
			err := r.Scan(&cur, &sum, &legacySum, &legacy)
			return fmt.Sprintf("%s %s %s %d", cur, sum, legacySum, legacy), err
		})
		if err != nil {
			t.Fatal(err)
		}
		slices.Sort(got)
		return got
	}
	currencies := []string{"TON", "AAA", "USDT", "ZZZ"}
	nonEmpty := 0
	for seed := range uint64(8) {
		r := rand.New(rand.NewPCG(seed, 17))
		if _, err := pool.Exec(ctx, `TRUNCATE withdrawals, hot_batches CASCADE`); err != nil {
			t.Fatal(err)
		}
		var batches []int64
		for i := range 12 {
			state := []string{"sent", "confirmed", "expired"}[r.IntN(3)]
			var id int64
			err := pool.QueryRow(ctx, `INSERT INTO hot_batches (query_seq, created_at_chain, timeout_seconds, signed_message, message_hash,
					ton_reserve, state, tx_hash, tx_lt)
				VALUES (nextval('hot_query_seq'), 1000, 60, '\x01', sha256($1::bytea), $2, $3,
					CASE WHEN $3 = 'confirmed' THEN sha256($1::bytea) END, CASE WHEN $3 = 'confirmed' THEN 1 END)
				RETURNING id`, fmt.Appendf(nil, "%d/%d", seed, i), []any{nil, "5000"}[r.IntN(2)], state).Scan(&id)
			if err != nil {
				t.Fatal(err)
			}
			batches = append(batches, id)
		}
		for i := range 150 {
			state := []string{"pending", "processing", "processing", "processed"}[r.IntN(4)]
			var batch any
			if state != "pending" {
				batch = batches[r.IntN(len(batches))]
			}
			_, err := pool.Exec(ctx, `INSERT INTO withdrawals (user_id, query_id, currency, amount, destination_workchain,
					destination_address, bounceable, request_hash, state, batch_id, tx_hash)
				VALUES ('u', $1, $2, $3, 0, sha256($6), false, sha256($6), $4, $5, CASE WHEN $4 = 'processed' THEN sha256($6) END)`,
				fmt.Sprint(i), currencies[r.IntN(len(currencies))], 1+r.IntN(1_000_000), state, batch, fmt.Appendf(nil, "%d/%d", seed, i))
			if err != nil {
				t.Fatal(err)
			}
		}
		want, got := read(inFlightReference), read(inFlightSQL)
		if !slices.Equal(got, want) {
			t.Fatalf("seed %d: in flight\n %q\nwant\n %q", seed, got, want)
		}
		if len(want) > 0 {
			nonEmpty++
		}
	}
	if nonEmpty < 6 {
		t.Errorf("only %d of 8 mixes had anything in flight: the comparison proves little", nonEmpty)
	}
}
