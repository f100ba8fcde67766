package ledger_test

import (
	"context"
	"io"
	"testing"
	"time"

	"github.com/ton-custody/processor/internal/ledger"
	"github.com/ton-custody/processor/internal/store/storetest"
)

// BenchmarkLedgerExport streams 1M ledger entries (500k postings, a month
// of a busy exchange) as CSV through the export's keyset pages, from a
// fresh database, and reports entries/s. Each iteration is one full export.
func BenchmarkLedgerExport(b *testing.B) {
	db := storetest.NewDB(b)
	ctx := context.Background()
	const postings = 500_000
	// Bulk load: the generated rows balance by construction, so the
	// balance check is off while they are written.
	if _, err := db.Exec(ctx, `ALTER TABLE ledger_entries DISABLE TRIGGER ledger_entries_balanced`); err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	if _, err := db.Exec(ctx, `
		INSERT INTO ledger_postings (ref, kind, tx_hash, tx_lt, mc_seqno, utime, created_at)
		SELECT 'deposit:' || g, 'deposit', sha256(g::text::bytea), g, g / 10, 1700000000 + g / 20,
		       timestamptz '2025-01-01' + g * interval '5 seconds'
		FROM generate_series(1, $1) g`, postings); err != nil {
		b.Fatal(err)
	}
	if _, err := db.Exec(ctx, `
		INSERT INTO ledger_entries (posting_id, account, currency, amount, created_at)
		SELECT p.id, a.account, CASE WHEN p.id % 4 = 0 THEN 'USDT' ELSE 'TON' END, a.sign * (1000000 + p.id), p.created_at
		FROM ledger_postings p CROSS JOIN (VALUES ('deposit:0:' || repeat('ab', 32), 1), ('user:user-' , -1)) AS a(account, sign)
		ORDER BY p.id, a.sign DESC`); err != nil {
		b.Fatal(err)
	}
	if _, err := db.Exec(ctx, `ALTER TABLE ledger_entries ENABLE TRIGGER ledger_entries_balanced`); err != nil {
		b.Fatal(err)
	}
	if _, err := db.Exec(ctx, `ANALYZE ledger_entries; ANALYZE ledger_postings`); err != nil {
		b.Fatal(err)
	}
	b.Logf("loaded %d entries in %s", 2*postings, time.Since(start).Round(time.Millisecond))
	f := ledger.ExportFilter{From: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC), To: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	b.ResetTimer()
	total := 0
	for i := 0; i < b.N; i++ {
		w := ledger.NewCSVWriter(io.Discard)
		n, err := ledger.Export(ctx, db, f, w.Write)
		if err != nil || w.Close() != nil {
			b.Fatal(err)
		}
		if n != 2*postings {
			b.Fatalf("exported %d entries, want %d", n, 2*postings)
		}
		total += n
	}
	b.StopTimer()
	b.ReportMetric(float64(total)/b.Elapsed().Seconds(), "entries/s")
}
