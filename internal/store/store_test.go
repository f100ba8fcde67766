package store_test

import (
	"context"
	"errors"
	"math/big"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/ton-custody/processor/internal/money"
	"github.com/ton-custody/processor/internal/store"
	"github.com/ton-custody/processor/internal/store/storetest"
)

func TestOpen(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := storetest.NewEmptyDBURL(t)
	pool, err := store.Open(ctx, url)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer pool.Close()
	var app string
	if err := pool.QueryRow(ctx, "SELECT current_setting('application_name')").Scan(&app); err != nil {
		t.Fatal(err)
	}
	if app != "ton-processor" {
		t.Errorf("application_name = %q", app)
	}
	if got := pool.Config().MaxConns; got != 20 {
		t.Errorf("MaxConns = %d, want the default 20", got)
	}

	sep := "?"
	if strings.Contains(url, "?") {
		sep = "&"
	}
	own, err := store.Open(ctx, url+sep+"pool_max_conns=3&application_name=mine")
	if err != nil {
		t.Fatalf("Open with parameters: %v", err)
	}
	defer own.Close()
	if err := own.QueryRow(ctx, "SELECT current_setting('application_name')").Scan(&app); err != nil {
		t.Fatal(err)
	}
	if own.Config().MaxConns != 3 || app != "mine" {
		t.Errorf("URL parameters not respected: max %d, application_name %q", own.Config().MaxConns, app)
	}

	// pool_min_conns keeps connections open from the start (README: a pool
	// that starts empty opens backends under the first load).
	warm, err := store.Open(ctx, url+sep+"pool_min_conns=3")
	if err != nil {
		t.Fatalf("Open with pool_min_conns: %v", err)
	}
	defer warm.Close()
	for deadline := time.Now().Add(10 * time.Second); warm.Stat().TotalConns() < 3; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("pool_min_conns=3: %d connections open", warm.Stat().TotalConns())
		}
	}
}

func TestOpenErrorsDoNotLeakPassword(t *testing.T) {
	t.Parallel()
	const password = "Distinctive-Pw-123"
	tests := []struct{ name, url string }{
		{"bad port", "postgres://u:" + password + "@localhost:notaport/db"},
		{"bad key=value", "host=localhost password=" + password + " port=abc"},
		{"nobody listens", "postgres://u:" + password + "@127.0.0.1:1/db?connect_timeout=2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			pool, err := store.Open(context.Background(), tt.url)
			if err == nil {
				pool.Close()
				t.Fatal("Open succeeded")
			}
			if strings.Contains(err.Error(), password) {
				t.Fatalf("error leaks the password: %v", err)
			}
		})
	}
}

var errBoom = errors.New("boom")

func TestInTx(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := storetest.NewEmptyDB(t)
	if _, err := pool.Exec(ctx, "CREATE TABLE t (v text PRIMARY KEY)"); err != nil {
		t.Fatal(err)
	}
	insert := func(v string) func(pgx.Tx) error {
		return func(tx pgx.Tx) error {
			_, err := tx.Exec(ctx, "INSERT INTO t VALUES ($1)", v)
			return err
		}
	}
	exists := func(v string) bool {
		return count(t, pool, "SELECT count(*) FROM t WHERE v = $1", v) == 1
	}

	t.Run("commits", func(t *testing.T) {
		if err := store.InTx(ctx, pool, insert("committed")); err != nil {
			t.Fatal(err)
		}
		if !exists("committed") {
			t.Fatal("row missing after commit")
		}
	})
	t.Run("rolls back on error and returns it", func(t *testing.T) {
		err := store.InTx(ctx, pool, func(tx pgx.Tx) error {
			if err := insert("errored")(tx); err != nil {
				return err
			}
			return errBoom
		})
		if !errors.Is(err, errBoom) {
			t.Fatalf("InTx = %v, want errBoom", err)
		}
		if exists("errored") {
			t.Fatal("row survived the error")
		}
	})
	t.Run("rolls back on panic and re-panics", func(t *testing.T) {
		func() {
			defer func() {
				if p := recover(); p != "kaboom" {
					t.Fatalf("recovered %v, want the original panic", p)
				}
			}()
			_ = store.InTx(ctx, pool, func(tx pgx.Tx) error {
				if err := insert("panicked")(tx); err != nil {
					return err
				}
				panic("kaboom")
			})
		}()
		if exists("panicked") {
			t.Fatal("row survived the panic")
		}
	})
	t.Run("rolls back when the context is cancelled", func(t *testing.T) {
		cctx, cancel := context.WithCancel(ctx)
		err := store.InTx(cctx, pool, func(tx pgx.Tx) error {
			if err := insert("cancelled")(tx); err != nil {
				return err
			}
			cancel()
			return cctx.Err()
		})
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("InTx = %v", err)
		}
		if exists("cancelled") {
			t.Fatal("row survived the cancellation")
		}
	})
	t.Run("nested InTx is a savepoint", func(t *testing.T) {
		err := store.InTx(ctx, pool, func(tx pgx.Tx) error {
			if err := insert("outer")(tx); err != nil {
				return err
			}
			if err := store.InTx(ctx, tx, func(inner pgx.Tx) error {
				if err := insert("inner")(inner); err != nil {
					return err
				}
				return errBoom
			}); !errors.Is(err, errBoom) {
				return errors.New("inner error lost")
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if !exists("outer") || exists("inner") {
			t.Fatalf("outer %v inner %v, want outer kept and inner rolled back", exists("outer"), exists("inner"))
		}
	})
	t.Run("commit failure is reported", func(t *testing.T) {
		if _, err := pool.Exec(ctx, `CREATE TABLE d (v int UNIQUE DEFERRABLE INITIALLY DEFERRED)`); err != nil {
			t.Fatal(err)
		}
		err := store.InTx(ctx, pool, func(tx pgx.Tx) error {
			_, err := tx.Exec(ctx, "INSERT INTO d VALUES (1), (1)")
			return err
		})
		if !store.IsUniqueViolation(err, "d_v_key") {
			t.Fatalf("InTx = %v, want the deferred unique violation from COMMIT", err)
		}
	})
}

func TestIsUniqueViolation(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := storetest.NewEmptyDB(t)
	if _, err := pool.Exec(ctx, "CREATE TABLE u (v int CONSTRAINT u_v_key UNIQUE CHECK (v > 0))"); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, "INSERT INTO u VALUES (1)"); err != nil {
		t.Fatal(err)
	}
	_, dup := pool.Exec(ctx, "INSERT INTO u VALUES (1)")
	_, check := pool.Exec(ctx, "INSERT INTO u VALUES (-1)")
	tests := []struct {
		name       string
		err        error
		constraint string
		want       bool
	}{
		{"named", dup, "u_v_key", true},
		{"any", dup, "", true},
		{"wrapped", errors.Join(errBoom, dup), "u_v_key", true},
		{"other constraint", dup, "other_key", false},
		{"check violation", check, "", false},
		{"nil", nil, "", false},
		{"plain error", errBoom, "", false},
	}
	for _, tt := range tests {
		if got := store.IsUniqueViolation(tt.err, tt.constraint); got != tt.want {
			t.Errorf("%s: IsUniqueViolation = %v, want %v (err %v)", tt.name, got, tt.want, tt.err)
		}
	}
}

func TestLockKey(t *testing.T) {
	t.Parallel()
	// Pinned: every instance of every release must agree on the key.
	const migrationsLockKey = 1977189610639475266
	if got := store.LockKey("migrations"); got != migrationsLockKey {
		t.Fatalf("LockKey(migrations) = %d, want %d", got, migrationsLockKey)
	}
	seen := map[int64]string{}
	for _, name := range []string{"migrations", "scanner", "withdrawals", "outbox", "sweeper", ""} {
		k := store.LockKey(name)
		if prev, dup := seen[k]; dup {
			t.Fatalf("%q and %q share key %d", prev, name, k)
		}
		seen[k] = name
	}
}

func TestBigIntScan(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := storetest.NewEmptyDB(t)
	if _, err := pool.Exec(ctx, "CREATE TABLE a (v numeric(78,0))"); err != nil {
		t.Fatal(err)
	}
	ten30, _ := new(big.Int).SetString("1000000000000000000000000000000", 10)
	for _, v := range []*big.Int{big.NewInt(0), big.NewInt(1), big.NewInt(1_000_000_000), ten30, money.Max()} {
		var got big.Int
		var null *big.Int
		err := pool.QueryRow(ctx, "INSERT INTO a VALUES ($1) RETURNING v, v", v).Scan(store.BigInt(&got), store.NullBigInt(&null))
		if err != nil {
			t.Fatalf("round trip of %s: %v", v, err)
		}
		if got.Cmp(v) != 0 || null == nil || null.Cmp(v) != 0 {
			t.Fatalf("round trip of %s gave %s and %v", v, &got, null)
		}
	}

	tests := []struct {
		name    string
		expr    string
		want    string // "" with wantErr
		wantErr bool
	}{
		{name: "scaled integer", expr: "'5.000'::numeric", want: "5"},
		{name: "trailing zeros", expr: "'120000'::numeric", want: "120000"},
		{name: "negative", expr: "'-7'::numeric", want: "-7"},
		{name: "fraction", expr: "'5.5'::numeric", wantErr: true},
		{name: "NaN", expr: "'NaN'::numeric", wantErr: true},
		{name: "NULL", expr: "NULL::numeric", wantErr: true},
	}
	for _, tt := range tests {
		var got big.Int
		err := pool.QueryRow(ctx, "SELECT "+tt.expr).Scan(store.BigInt(&got))
		if tt.wantErr {
			if err == nil {
				t.Errorf("%s: scanned %s, want an error", tt.name, &got)
			}
			continue
		}
		if err != nil || got.String() != tt.want {
			t.Errorf("%s: got %s, %v; want %s", tt.name, &got, err, tt.want)
		}
	}

	null := big.NewInt(99)
	if err := pool.QueryRow(ctx, "SELECT NULL::numeric").Scan(store.NullBigInt(&null)); err != nil || null != nil {
		t.Fatalf("NULL into NullBigInt: %v, %v", null, err)
	}
	var nilArg *big.Int
	var isNull bool
	if err := pool.QueryRow(ctx, "SELECT $1::numeric IS NULL", nilArg).Scan(&isNull); err != nil || !isNull {
		t.Fatalf("nil *big.Int argument: null=%v err=%v", isNull, err)
	}
}

// Each test gets its own database: two parallel tests insert the same
// unique key and both succeed, and they see different databases.
func TestEachTestGetsItsOwnDatabase(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	names := map[string]bool{}
	t.Cleanup(func() {
		if len(names) != 2 {
			t.Errorf("the two tests used databases %v, want two distinct ones", names)
		}
	})
	for _, sub := range []string{"first", "second"} {
		t.Run(sub, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			pool := storetest.NewDB(t)
			insertWithdrawal(t, pool, "same-user", "same-query")
			if n := count(t, pool, "SELECT count(*) FROM withdrawals"); n != 1 {
				t.Fatalf("%d withdrawals visible, want only this test's one", n)
			}
			var name string
			if err := pool.QueryRow(ctx, "SELECT current_database()").Scan(&name); err != nil {
				t.Fatal(err)
			}
			mu.Lock()
			names[name] = true
			mu.Unlock()
		})
	}
}

func TestTestDatabaseIsDroppedAfterTheTest(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	observer := storetest.NewEmptyDB(t)
	var name string
	t.Run("user", func(t *testing.T) {
		pool := storetest.NewDB(t)
		if err := pool.QueryRow(ctx, "SELECT current_database()").Scan(&name); err != nil {
			t.Fatal(err)
		}
	})
	if name == "" {
		t.Fatal("subtest did not report its database")
	}
	if n := count(t, observer, "SELECT count(*) FROM pg_database WHERE datname = $1", name); n != 0 {
		t.Fatalf("database %s still exists after its test ended", name)
	}
}
