package takeover

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// How a running bicycle is told from a stopped one, from what its
// database shows (facts sheet §6, §8):
//
//  1. Quiet: bicycle's scanner writes a block_data row for every shard
//     block of its shard chain (every few seconds), so the newest
//     saved_at is recent while it runs. It must be older than Quiet
//     (default 2 minutes: a graceful stop takes about 80 s, and a batch
//     sent just before it stays valid 50 s more).
//  2. Still: a fingerprint of every table (row counts, the cursor, the
//     flags bicycle's loops flip) must not change during Watch (default
//     10 s). This catches a bicycle whose scanner is stuck while its API
//     still takes addresses and withdrawals.
//  3. Locked: each stage reads bicycle's tables under a SHARE lock taken
//     without waiting, which fails while a transaction of bicycle holds
//     them, and keeps a restarted bicycle from writing during the read;
//     the fingerprint must still be the one seen in 2.
//
// Other sessions on bicycle's database are listed (bicycle keeps idle
// pool connections while it runs); they do not block by themselves, since
// a read-only reporting session is harmless.

// Defaults of the live check.
const (
	DefaultQuiet = 2 * time.Minute
	DefaultWatch = 10 * time.Second
)

// Live is what the live check found.
type Live struct {
	// LastBlockAge is how long ago bicycle's scanner saved its newest
	// block (-1 when it never did).
	LastBlockAge time.Duration
	// Changed lists what changed during the watch window.
	Changed []string
	// Sessions describes other sessions on bicycle's database.
	Sessions []string
	// Quiet is the threshold LastBlockAge was held against.
	Quiet time.Duration
	fp    fingerprint
}

// Running reports whether bicycle looks alive.
func (l *Live) Running() bool {
	return len(l.Changed) > 0 || (l.LastBlockAge >= 0 && l.LastBlockAge < l.Quiet)
}

// Reasons explains Running.
func (l *Live) Reasons() []string {
	var out []string
	if l.LastBlockAge >= 0 && l.LastBlockAge < l.Quiet {
		out = append(out, fmt.Sprintf("its scanner saved a block %s ago (less than %s)", l.LastBlockAge.Round(time.Second), l.Quiet))
	}
	if len(l.Changed) > 0 {
		out = append(out, "its tables changed while watched: "+strings.Join(l.Changed, ", "))
	}
	return out
}

// fingerprint is what bicycle's loops change when they run.
type fingerprint [15]int64

var fingerprintNames = [15]string{
	"block_data rows", "block_data max seqno", "ton_wallets rows", "jetton_wallets rows", "external_incomes rows",
	"internal_incomes rows", "withdrawal_requests rows", "withdrawal_requests processing", "withdrawal_requests processed",
	"external_withdrawals rows", "external_withdrawals settled", "internal_withdrawals rows", "internal_withdrawals settled",
	"service_withdrawal_requests rows", "service_withdrawal_requests processed",
}

const fingerprintSQL = `SELECT
	(SELECT count(*) FROM payments.block_data), (SELECT coalesce(max(seqno), 0) FROM payments.block_data),
	(SELECT count(*) FROM payments.ton_wallets), (SELECT count(*) FROM payments.jetton_wallets),
	(SELECT count(*) FROM payments.external_incomes), (SELECT count(*) FROM payments.internal_incomes),
	(SELECT count(*) FROM payments.withdrawal_requests),
	(SELECT count(*) FROM payments.withdrawal_requests WHERE processing),
	(SELECT count(*) FROM payments.withdrawal_requests WHERE processed),
	(SELECT count(*) FROM payments.external_withdrawals),
	(SELECT count(*) FROM payments.external_withdrawals WHERE processed_at IS NOT NULL OR failed OR confirmed),
	(SELECT count(*) FROM payments.internal_withdrawals),
	(SELECT count(*) FROM payments.internal_withdrawals WHERE finish_lt IS NOT NULL OR failed OR sending_lt IS NOT NULL),
	(SELECT count(*) FROM payments.service_withdrawal_requests),
	(SELECT count(*) FROM payments.service_withdrawal_requests WHERE processed OR filled)`

func readFingerprint(ctx context.Context, q interface {
	QueryRow(context.Context, string, ...any) pgx.Row
}) (fingerprint, error) {
	var f fingerprint
	dst := make([]any, len(f))
	for i := range f {
		dst[i] = &f[i]
	}
	if err := q.QueryRow(ctx, fingerprintSQL).Scan(dst...); err != nil {
		return f, fmt.Errorf("takeover: read bicycle's tables: %w", err)
	}
	return f, nil
}

func (f fingerprint) diff(g fingerprint) []string {
	var out []string
	for i := range f {
		if f[i] != g[i] {
			out = append(out, fmt.Sprintf("%s %d -> %d", fingerprintNames[i], f[i], g[i]))
		}
	}
	return out
}

// CheckLive watches bicycle's database for watch and reports whether
// bicycle still runs (see the rules above). It fails with ErrNotBicycle
// when the database is not bicycle's.
func CheckLive(ctx context.Context, db *pgxpool.Pool, quiet, watch time.Duration) (*Live, error) {
	if quiet <= 0 {
		quiet = DefaultQuiet
	}
	if watch < 0 {
		watch = DefaultWatch
	}
	var exists bool
	if err := db.QueryRow(ctx, `SELECT to_regclass('payments.ton_wallets') IS NOT NULL`).Scan(&exists); err != nil {
		return nil, fmt.Errorf("takeover: bicycle's database: %w", err)
	}
	if !exists {
		return nil, ErrNotBicycle
	}
	l := &Live{Quiet: quiet, LastBlockAge: -1}
	var age *float64
	// The database's own clock on both sides: the machine running the
	// takeover may be off.
	if err := db.QueryRow(ctx, `SELECT extract(epoch FROM now() - max(saved_at))::float8 FROM payments.block_data`).Scan(&age); err != nil {
		return nil, fmt.Errorf("takeover: bicycle's last saved block: %w", err)
	}
	if age != nil {
		l.LastBlockAge = time.Duration(*age * float64(time.Second))
	}
	first, err := readFingerprint(ctx, db)
	if err != nil {
		return nil, err
	}
	if watch > 0 {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(watch):
		}
	}
	last, err := readFingerprint(ctx, db)
	if err != nil {
		return nil, err
	}
	l.Changed, l.fp = first.diff(last), last
	rows, err := db.Query(ctx, `SELECT coalesce(application_name, ''), coalesce(client_addr::text, 'local'), coalesce(state, ''),
			coalesce(extract(epoch FROM now() - state_change)::bigint, 0)
		FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() AND backend_type = 'client backend'
		  AND application_name IS DISTINCT FROM current_setting('application_name') -- the takeover's own pool
		ORDER BY backend_start`)
	if err != nil {
		return nil, fmt.Errorf("takeover: sessions on bicycle's database: %w", err)
	}
	var app, client, state string
	var secs int64
	_, err = pgx.ForEachRow(rows, []any{&app, &client, &state, &secs}, func() error {
		l.Sessions = append(l.Sessions, fmt.Sprintf("%q from %s, %s for %ds", app, client, state, secs))
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("takeover: sessions on bicycle's database: %w", err)
	}
	return l, nil
}
