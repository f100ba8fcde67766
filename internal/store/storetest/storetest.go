// Package storetest gives integration tests a fresh PostgreSQL database
// each, dropped when the test ends, so tests can run in parallel and leave
// nothing behind.
//
// The server comes from TEST_DATABASE_URL when it is set (any database on
// a server where that user may CREATE DATABASE, e.g.
// postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable). Otherwise a
// postgres container is started through testcontainers-go, once per test
// binary, when a Docker engine answers. With neither the test fails: an
// integration test that silently skips hides failures in CI.
package storetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	tcpostgres "github.com/testcontainers/testcontainers-go/modules/postgres"

	"github.com/ton-custody/processor/internal/store"
	"github.com/ton-custody/processor/migrations"
)

// EnvServerURL names the variable that points tests at a PostgreSQL server.
const EnvServerURL = "TEST_DATABASE_URL"

// containerImage is the server used when no TEST_DATABASE_URL is given;
// the same major version as the development machines.
const containerImage = "postgres:15-alpine"

// poolMaxConns caps each test's pool: many tests run at once against one
// server whose max_connections is typically 100.
const poolMaxConns = "10"

// setupTimeout bounds creating, migrating and dropping a test database.
const setupTimeout = 2 * time.Minute

// NewDB returns a pool on a fresh database with all migrations applied.
// The pool is closed and the database dropped when the test ends.
func NewDB(tb testing.TB) *pgxpool.Pool {
	tb.Helper()
	pool := open(tb, newDatabase(tb))
	ctx, cancel := context.WithTimeout(context.Background(), setupTimeout)
	defer cancel()
	if _, err := store.Migrate(ctx, pool); err != nil {
		tb.Fatalf("storetest: migrate test database: %v", err)
	}
	return pool
}

// NewDBURL returns the URL of a fresh, migrated database, for code that
// opens its own pool. The database is dropped when the test ends; close
// your pools in t.Cleanup (dropping ends leftover sessions anyway).
func NewDBURL(tb testing.TB) string {
	tb.Helper()
	u := newDatabase(tb)
	ctx, cancel := context.WithTimeout(context.Background(), setupTimeout)
	defer cancel()
	pool, err := store.Open(ctx, u)
	if err != nil {
		tb.Fatalf("storetest: %v", err)
	}
	defer pool.Close()
	if _, err := store.Migrate(ctx, pool); err != nil {
		tb.Fatalf("storetest: migrate test database: %v", err)
	}
	return u
}

// NewEmptyDB returns a pool on a fresh database without migrations.
func NewEmptyDB(tb testing.TB) *pgxpool.Pool {
	tb.Helper()
	return open(tb, newDatabase(tb))
}

// NewDBAround returns a pool on a fresh database where the embedded
// migrations before the one whose name starts with prefix were applied,
// then before ran (to write rows as an older release did), then the
// rest: a test of what that migration does to existing data.
func NewDBAround(tb testing.TB, prefix string, before func(*pgxpool.Pool)) *pgxpool.Pool {
	tb.Helper()
	pool := NewEmptyDB(tb)
	files, err := fs.Glob(migrations.FS, "*.sql")
	if err != nil {
		tb.Fatal(err)
	}
	slices.Sort(files)
	i := slices.IndexFunc(files, func(f string) bool { return strings.HasPrefix(f, prefix) })
	if i < 0 {
		tb.Fatalf("storetest: no migration %s*", prefix)
	}
	apply := func(names []string) {
		for _, name := range names {
			sql, err := fs.ReadFile(migrations.FS, name)
			if err != nil {
				tb.Fatal(err)
			}
			if _, err := pool.Exec(context.Background(), string(sql)); err != nil {
				tb.Fatalf("storetest: apply %s: %v", name, err)
			}
		}
	}
	apply(files[:i])
	before(pool)
	apply(files[i:])
	return pool
}

// NewEmptyDBURL returns the URL of a fresh database without migrations.
func NewEmptyDBURL(tb testing.TB) string {
	tb.Helper()
	return newDatabase(tb)
}

func open(tb testing.TB, dbURL string) *pgxpool.Pool {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), setupTimeout)
	defer cancel()
	pool, err := store.Open(ctx, withParam(dbURL, "pool_max_conns", poolMaxConns))
	if err != nil {
		tb.Fatalf("storetest: %v", err)
	}
	// Registered after the drop, so it runs before it.
	tb.Cleanup(pool.Close)
	return pool
}

// newDatabase creates a database with a unique name and registers its drop.
func newDatabase(tb testing.TB) string {
	tb.Helper()
	server := serverURL(tb)
	name := databaseName(tb.Name())
	ctx, cancel := context.WithTimeout(context.Background(), setupTimeout)
	defer cancel()
	if err := adminExec(ctx, server, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		tb.Fatalf("storetest: create database %s: %v", name, err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), setupTimeout)
		defer cancel()
		// FORCE ends sessions a test left open (PostgreSQL 13+).
		if err := adminExec(ctx, server, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
			tb.Errorf("storetest: drop database %s: %v", name, err)
		}
	})
	return withDatabase(server, name)
}

func adminExec(ctx context.Context, server, sql string) error {
	conn, err := pgx.Connect(ctx, server)
	if err != nil {
		return fmt.Errorf("connect to %s server: %w", EnvServerURL, err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	_, err = conn.Exec(ctx, sql)
	return err
}

// databaseName is readable (the test's name, for whoever finds a leftover)
// and unique (random suffix: parallel tests and test binaries share the
// server), within PostgreSQL's 63-byte identifier limit.
func databaseName(testName string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(testName) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
		if b.Len() >= 30 {
			break
		}
	}
	var suffix [8]byte
	_, _ = rand.Read(suffix[:]) // crypto/rand.Read never fails
	return "t_" + b.String() + "_" + hex.EncodeToString(suffix[:])
}

// withDatabase points a server URL (URL or key=value form) at database name.
func withDatabase(server, name string) string {
	if u, ok := parseURL(server); ok {
		u.Path = "/" + name
		u.RawPath = ""
		return u.String()
	}
	// key=value form: a later key overrides an earlier one.
	return server + " dbname=" + name
}

// withParam adds a connection parameter to a URL or key=value string.
func withParam(conn, key, value string) string {
	if u, ok := parseURL(conn); ok {
		q := u.Query()
		q.Set(key, value)
		u.RawQuery = q.Encode()
		return u.String()
	}
	return conn + " " + key + "=" + value
}

func parseURL(s string) (*url.URL, bool) {
	if !strings.HasPrefix(s, "postgres://") && !strings.HasPrefix(s, "postgresql://") {
		return nil, false
	}
	u, err := url.Parse(s)
	return u, err == nil
}

var container struct {
	once sync.Once
	url  string
	err  error
}

// serverURL returns the server to create test databases on.
func serverURL(tb testing.TB) string {
	tb.Helper()
	if u := strings.TrimSpace(os.Getenv(EnvServerURL)); u != "" {
		return u
	}
	container.once.Do(startContainer)
	if container.err != nil {
		tb.Fatalf("storetest: no PostgreSQL server for integration tests. Either set %s to a server where the user may create databases "+
			"(e.g. %s=postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable), or run a Docker engine so testcontainers-go can start %s. "+
			"Starting the container failed: %v", EnvServerURL, EnvServerURL, containerImage, container.err)
	}
	return container.url
}

// startContainer runs one postgres container for the whole test binary;
// testcontainers' reaper removes it when the binary exits.
func startContainer() {
	defer func() {
		// Some Docker client setups panic instead of returning an error
		// when no engine is reachable.
		if p := recover(); p != nil {
			container.err = fmt.Errorf("testcontainers panicked: %v", p)
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	c, err := tcpostgres.Run(ctx, containerImage, tcpostgres.BasicWaitStrategies())
	if err != nil {
		container.err = err
		return
	}
	container.url, container.err = c.ConnectionString(ctx, "sslmode=disable")
}
