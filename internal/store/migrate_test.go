package store_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/ton-custody/processor/internal/store"
	"github.com/ton-custody/processor/internal/store/storetest"
)

func sqlFS(files map[string]string) fstest.MapFS {
	fsys := fstest.MapFS{}
	for name, body := range files {
		fsys[name] = &fstest.MapFile{Data: []byte(body)}
	}
	return fsys
}

func count(t *testing.T, pool *pgxpool.Pool, sql string, args ...any) int {
	t.Helper()
	var n int
	if err := pool.QueryRow(context.Background(), sql, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return n
}

// advisoryLocksHeld counts advisory locks in the current database (their
// key space is per database, so parallel tests do not see each other's).
func advisoryLocksHeld(t *testing.T, pool *pgxpool.Pool) int {
	t.Helper()
	return count(t, pool, `SELECT count(*) FROM pg_locks l JOIN pg_database d ON d.oid = l.database
		WHERE l.locktype = 'advisory' AND d.datname = current_database()`)
}

func TestMigrateAppliesEmbeddedMigrationsToEmptyDatabase(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := storetest.NewEmptyDB(t)

	applied, err := store.Migrate(ctx, pool)
	if err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	if len(applied) == 0 || applied[0] != "0001_init" {
		t.Fatalf("applied %v, want 0001_init first", applied)
	}
	if n := count(t, pool, "SELECT count(*) FROM schema_migrations"); n != len(applied) {
		t.Fatalf("schema_migrations has %d rows, applied %d", n, len(applied))
	}
	var name, checksum string
	if err := pool.QueryRow(ctx, "SELECT name, checksum FROM schema_migrations WHERE version = 1").Scan(&name, &checksum); err != nil {
		t.Fatal(err)
	}
	if name != "0001_init" || len(checksum) != 64 {
		t.Fatalf("version 1 recorded as %q with checksum %q", name, checksum)
	}
	for _, table := range []string{"deposit_wallets", "incomes", "scanner_cursor", "scanner_shard_tops", "withdrawals",
		"hot_batches", "hot_batch_items", "deposit_wallet_messages", "sweeps", "service_withdrawals", "cold_transfers",
		"outbox", "hot_jetton_wallets"} {
		if n := count(t, pool, "SELECT count(*) FROM pg_tables WHERE schemaname = 'public' AND tablename = $1", table); n != 1 {
			t.Errorf("table %s missing", table)
		}
	}
	if n := advisoryLocksHeld(t, pool); n != 0 {
		t.Fatalf("%d advisory locks still held", n)
	}
}

func TestMigrateTwiceIsANoop(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := storetest.NewDB(t) // migrated once already
	var before time.Time
	if err := pool.QueryRow(ctx, "SELECT max(applied_at) FROM schema_migrations").Scan(&before); err != nil {
		t.Fatal(err)
	}
	applied, err := store.Migrate(ctx, pool)
	if err != nil {
		t.Fatalf("second Migrate: %v", err)
	}
	if len(applied) != 0 {
		t.Fatalf("second Migrate applied %v", applied)
	}
	var after time.Time
	var rows int
	if err := pool.QueryRow(ctx, "SELECT max(applied_at), count(*) FROM schema_migrations").Scan(&after, &rows); err != nil {
		t.Fatal(err)
	}
	if !after.Equal(before) || rows == 0 {
		t.Fatalf("schema_migrations changed: %d rows, applied_at %v -> %v", rows, before, after)
	}
}

// Instances starting together: each has its own pool, as separate
// processes would.
func TestConcurrentMigrateAppliesEachMigrationOnce(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := storetest.NewEmptyDBURL(t)
	const instances = 4

	// The slow first migration makes the runs overlap: without the lock,
	// the second CREATE TABLE or version row would fail.
	slow := sqlFS(map[string]string{
		"0001_slow.sql": "SELECT pg_sleep(0.3); CREATE TABLE slow_marker (id int);",
		"0002_next.sql": "CREATE TABLE next_marker (id int);",
	})
	pools := make([]*pgxpool.Pool, instances)
	for i := range pools {
		p, err := store.Open(ctx, url)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(p.Close)
		pools[i] = p
	}

	var wg sync.WaitGroup
	start := make(chan struct{})
	results := make([][]string, instances)
	errs := make([]error, instances)
	for i := range instances {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			results[i], errs[i] = store.MigrateFS(ctx, pools[i], slow)
		}()
	}
	began := time.Now()
	close(start)
	wg.Wait()

	var all []string
	for i := range instances {
		if errs[i] != nil {
			t.Fatalf("instance %d: %v", i, errs[i])
		}
		all = append(all, results[i]...)
	}
	if strings.Join(all, ",") != "0001_slow,0002_next" {
		t.Fatalf("migrations applied across instances: %v, want each exactly once", all)
	}
	if elapsed := time.Since(began); elapsed < 300*time.Millisecond {
		t.Fatalf("finished in %v: the slow migration did not run", elapsed)
	}
	if n := count(t, pools[0], "SELECT count(*) FROM schema_migrations"); n != 2 {
		t.Fatalf("schema_migrations has %d rows, want 2", n)
	}
	if n := advisoryLocksHeld(t, pools[0]); n != 0 {
		t.Fatalf("%d advisory locks still held", n)
	}
}

func TestConcurrentMigrateOfEmbeddedMigrations(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := storetest.NewEmptyDBURL(t)
	var wg sync.WaitGroup
	start := make(chan struct{})
	results := make([][]string, 2)
	errs := make([]error, 2)
	for i := range 2 {
		p, err := store.Open(ctx, url)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(p.Close)
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			results[i], errs[i] = store.Migrate(ctx, p)
		}()
	}
	close(start)
	wg.Wait()
	if errs[0] != nil || errs[1] != nil {
		t.Fatalf("Migrate errors: %v, %v", errs[0], errs[1])
	}
	if len(results[0])+len(results[1]) == 0 || (len(results[0]) > 0 && len(results[1]) > 0) {
		t.Fatalf("applied %v and %v: want everything applied by exactly one instance", results[0], results[1])
	}
}

func TestMigrateRefusesChangedMigration(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := storetest.NewEmptyDB(t)
	if _, err := store.MigrateFS(ctx, pool, sqlFS(map[string]string{"0001_a.sql": "CREATE TABLE a (id int);\nSELECT 1;\n"})); err != nil {
		t.Fatal(err)
	}

	// A CRLF checkout of the same file is not a change.
	if _, err := store.MigrateFS(ctx, pool, sqlFS(map[string]string{"0001_a.sql": "CREATE TABLE a (id int);\r\nSELECT 1;\r\n"})); err != nil {
		t.Fatalf("same content with CRLF: %v", err)
	}

	edited := sqlFS(map[string]string{
		"0001_a.sql": "CREATE TABLE a (id bigint);\nSELECT 1;\n",
		"0002_b.sql": "CREATE TABLE b (id int);",
	})
	applied, err := store.MigrateFS(ctx, pool, edited)
	if !errors.Is(err, store.ErrMigrationChanged) {
		t.Fatalf("Migrate with edited 0001 = %v, want ErrMigrationChanged", err)
	}
	if !strings.Contains(err.Error(), "0001_a") {
		t.Fatalf("error does not name the migration: %v", err)
	}
	if len(applied) != 0 || count(t, pool, "SELECT count(*) FROM pg_tables WHERE tablename = 'b'") != 0 {
		t.Fatal("a later migration was applied although an earlier one was edited")
	}
	if n := advisoryLocksHeld(t, pool); n != 0 {
		t.Fatalf("%d advisory locks still held after the refusal", n)
	}
}

func TestMigrateRefusesNewerDatabase(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := storetest.NewEmptyDB(t)
	v2 := sqlFS(map[string]string{"0001_a.sql": "CREATE TABLE a (id int);", "0002_b.sql": "CREATE TABLE b (id int);"})
	if _, err := store.MigrateFS(ctx, pool, v2); err != nil {
		t.Fatal(err)
	}
	v1 := sqlFS(map[string]string{"0001_a.sql": "CREATE TABLE a (id int);"})
	_, err := store.MigrateFS(ctx, pool, v1)
	if !errors.Is(err, store.ErrSchemaNewer) {
		t.Fatalf("older binary on newer schema: %v, want ErrSchemaNewer", err)
	}
	if !strings.Contains(err.Error(), "0002") {
		t.Fatalf("error does not name the unknown version: %v", err)
	}
}

func TestMigrateRefusesDatabaseFromANewerRelease(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := storetest.NewDB(t)
	if _, err := pool.Exec(ctx, "INSERT INTO schema_migrations (version, name, checksum) VALUES (9999, '9999_future', 'x')"); err != nil {
		t.Fatal(err)
	}
	_, err := store.Migrate(ctx, pool)
	if !errors.Is(err, store.ErrSchemaNewer) || !strings.Contains(err.Error(), "9999") {
		t.Fatalf("Migrate on a newer schema: %v, want ErrSchemaNewer naming 9999", err)
	}
}

func TestFailedMigrationIsRolledBackAndCanBeFixed(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := storetest.NewEmptyDB(t)
	broken := sqlFS(map[string]string{
		"0001_a.sql": "CREATE TABLE a (id int);",
		"0002_b.sql": "CREATE TABLE b (id int); SELECT 1/0;",
	})
	applied, err := store.MigrateFS(ctx, pool, broken)
	if err == nil || !strings.Contains(err.Error(), "0002_b") {
		t.Fatalf("Migrate = %v, want an error naming 0002_b", err)
	}
	if strings.Join(applied, ",") != "0001_a" {
		t.Fatalf("applied %v, want [0001_a]", applied)
	}
	if count(t, pool, "SELECT count(*) FROM pg_tables WHERE tablename = 'b'") != 0 {
		t.Fatal("table b survived the failed migration")
	}
	if n := advisoryLocksHeld(t, pool); n != 0 {
		t.Fatalf("%d advisory locks still held after the failure", n)
	}
	fixed := sqlFS(map[string]string{
		"0001_a.sql": "CREATE TABLE a (id int);",
		"0002_b.sql": "CREATE TABLE b (id int);",
	})
	applied, err = store.MigrateFS(ctx, pool, fixed)
	if err != nil || strings.Join(applied, ",") != "0002_b" {
		t.Fatalf("after the fix: applied %v, err %v", applied, err)
	}
}

func TestMigrateReleasesLockWhenCancelled(t *testing.T) {
	t.Parallel()
	pool := storetest.NewEmptyDB(t)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	_, err := store.MigrateFS(ctx, pool, sqlFS(map[string]string{"0001_sleep.sql": "SELECT pg_sleep(5);"}))
	if err == nil {
		t.Fatal("Migrate outlived its context")
	}
	if n := advisoryLocksHeld(t, pool); n != 0 {
		t.Fatalf("%d advisory locks still held after cancellation", n)
	}
	if n := count(t, pool, "SELECT count(*) FROM schema_migrations"); n != 0 {
		t.Fatalf("cancelled migration recorded: %d rows", n)
	}
}

func TestMigrationFileRules(t *testing.T) {
	t.Parallel()
	pool := storetest.NewEmptyDB(t)
	tests := []struct {
		name    string
		files   map[string]string
		wantErr string // "" = valid
	}{
		{name: "other files are ignored", files: map[string]string{"0001_a.sql": "SELECT 1;", "README.md": "x", "migrations.go": "package x"}},
		{name: "gap", files: map[string]string{"0001_a.sql": "SELECT 1;", "0003_c.sql": "SELECT 1;"}, wantErr: "0003_c"},
		{name: "repeated version", files: map[string]string{"0001_a.sql": "SELECT 1;", "0001_b.sql": "SELECT 1;"}, wantErr: "0001_b"},
		{name: "starts at 2", files: map[string]string{"0002_b.sql": "SELECT 1;"}, wantErr: "0002_b"},
		{name: "short number", files: map[string]string{"1_init.sql": "SELECT 1;"}, wantErr: "1_init.sql"},
		{name: "upper case", files: map[string]string{"0001_Init.sql": "SELECT 1;"}, wantErr: "0001_Init.sql"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Invalid sets fail before touching the database; the valid one
			// applies a harmless SELECT.
			_, err := store.MigrateFS(context.Background(), pool, sqlFS(tt.files))
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Migrate: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Migrate = %v, want an error naming %s", err, tt.wantErr)
			}
		})
	}
}
