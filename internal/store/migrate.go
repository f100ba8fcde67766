package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/ton-custody/processor/migrations"
)

// Errors that stop Migrate before it changes anything. They are wrapped
// with the version concerned.
var (
	// ErrMigrationChanged: an applied migration's file differs from what
	// was applied. Applied files are history; fix with a new migration.
	ErrMigrationChanged = errors.New("applied migration was changed")
	// ErrSchemaNewer: the database has a migration this binary does not
	// know, i.e. a newer release migrated it. Running older code on a newer
	// schema could corrupt it, so upgrade the binary instead.
	ErrSchemaNewer = errors.New("database schema is newer than this binary")
)

// migrationLockName names the advisory lock held while migrating.
const migrationLockName = "migrations"

// unlockTimeout bounds the advisory unlock that runs after ctx may have
// been cancelled.
const unlockTimeout = 10 * time.Second

type migration struct {
	version  int
	name     string // file name without .sql, e.g. "0001_init"
	sql      string
	checksum string // hex SHA-256 of the file, line endings normalised
}

var migrationFileRE = regexp.MustCompile(`^([0-9]{4})_[a-z0-9_]+\.sql$`)

// loadMigrations reads NNNN_name.sql files from the root of fsys. Versions
// must run 1, 2, 3... without gaps or repeats so a lost file is noticed.
func loadMigrations(fsys fs.FS) ([]migration, error) {
	entries, err := fs.ReadDir(fsys, ".")
	if err != nil {
		return nil, fmt.Errorf("store: list migrations: %w", err)
	}
	var ms []migration
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".sql") {
			continue
		}
		match := migrationFileRE.FindStringSubmatch(e.Name())
		if match == nil {
			return nil, fmt.Errorf("store: migration file %q is not named NNNN_lower_case_name.sql", e.Name())
		}
		version, _ := strconv.Atoi(match[1])
		body, err := fs.ReadFile(fsys, e.Name())
		if err != nil {
			return nil, fmt.Errorf("store: read migration %s: %w", e.Name(), err)
		}
		// CRLF checkouts must not look like an edited migration.
		normalized := strings.ReplaceAll(string(body), "\r\n", "\n")
		sum := sha256.Sum256([]byte(normalized))
		ms = append(ms, migration{
			version:  version,
			name:     strings.TrimSuffix(e.Name(), ".sql"),
			sql:      normalized,
			checksum: hex.EncodeToString(sum[:]),
		})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].version < ms[j].version })
	for i, m := range ms {
		if m.version != i+1 {
			return nil, fmt.Errorf("store: migrations must be numbered 0001, 0002, ... without gaps or repeats; found %s where version %d was expected", m.name, i+1)
		}
	}
	return ms, nil
}

// Migrate applies the embedded migrations that the database lacks and
// returns the names of those it applied (empty when up to date).
//
// It holds a PostgreSQL advisory lock on one connection for the whole run,
// so instances starting together apply each migration exactly once; the
// others wait and then find nothing to do. Each migration runs in its own
// transaction together with its schema_migrations row. Before applying
// anything it refuses a database whose applied migrations were edited
// (ErrMigrationChanged) or that has migrations this binary does not know
// (ErrSchemaNewer).
func Migrate(ctx context.Context, pool *pgxpool.Pool) (applied []string, err error) {
	return migrate(ctx, pool, migrations.FS)
}

func migrate(ctx context.Context, pool *pgxpool.Pool, fsys fs.FS) (applied []string, err error) {
	ms, err := loadMigrations(fsys)
	if err != nil {
		return nil, err
	}
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return nil, fmt.Errorf("store: migrate: acquire connection: %w", err)
	}
	defer conn.Release()

	// Session-level lock: it belongs to this connection, so every statement
	// below runs on conn, and the deferred unlock runs even when ctx is
	// cancelled or a migration fails.
	key := LockKey(migrationLockName)
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1)", key); err != nil {
		// A cancellation can race with the grant; ending the session makes
		// sure no lock is left behind in a pooled connection.
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), unlockTimeout)
		defer cancel()
		_ = conn.Conn().Close(cctx)
		return nil, fmt.Errorf("store: migrate: take advisory lock: %w", err)
	}
	defer func() {
		uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), unlockTimeout)
		defer cancel()
		if _, uerr := conn.Exec(uctx, "SELECT pg_advisory_unlock($1)", key); uerr != nil {
			// The session may still hold the lock; closing it releases the
			// lock, and the pool discards a closed connection.
			_ = conn.Conn().Close(uctx)
		}
	}()

	if _, err := conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    integer PRIMARY KEY,
		name       text NOT NULL,
		checksum   text NOT NULL,
		applied_at timestamptz NOT NULL DEFAULT now()
	)`); err != nil {
		return nil, fmt.Errorf("store: migrate: create schema_migrations: %w", err)
	}

	done, err := appliedMigrations(ctx, conn.Conn())
	if err != nil {
		return nil, err
	}
	known := make(map[int]migration, len(ms))
	for _, m := range ms {
		known[m.version] = m
	}
	versions := make([]int, 0, len(done))
	for v := range done {
		versions = append(versions, v)
	}
	sort.Ints(versions)
	maxApplied := 0
	for _, version := range versions {
		checksum := done[version]
		m, ok := known[version]
		if !ok {
			return nil, fmt.Errorf("store: migrate: %w: the database has migration %04d, this binary knows up to %04d", ErrSchemaNewer, version, len(ms))
		}
		if checksum != m.checksum {
			return nil, fmt.Errorf("store: migrate: %w: %s.sql differs from the version applied to this database (checksum %s, applied %s)", ErrMigrationChanged, m.name, short(m.checksum), short(checksum))
		}
		maxApplied = max(maxApplied, version)
	}

	for _, m := range ms {
		if _, ok := done[m.version]; ok {
			continue
		}
		if m.version < maxApplied {
			return applied, fmt.Errorf("store: migrate: %s was never applied but later migration %04d was; repair schema_migrations by hand", m.name, maxApplied)
		}
		if err := applyMigration(ctx, conn.Conn(), m); err != nil {
			return applied, err
		}
		applied = append(applied, m.name)
	}
	return applied, nil
}

func appliedMigrations(ctx context.Context, conn *pgx.Conn) (map[int]string, error) {
	rows, err := conn.Query(ctx, "SELECT version, checksum FROM schema_migrations")
	if err != nil {
		return nil, fmt.Errorf("store: migrate: read schema_migrations: %w", err)
	}
	done := map[int]string{}
	var version int
	var checksum string
	_, err = pgx.ForEachRow(rows, []any{&version, &checksum}, func() error {
		done[version] = checksum
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: migrate: read schema_migrations: %w", err)
	}
	return done, nil
}

func applyMigration(ctx context.Context, conn *pgx.Conn, m migration) error {
	err := InTx(ctx, conn, func(tx pgx.Tx) error {
		// No arguments: pgx uses the simple protocol, which runs a
		// multi-statement script.
		if _, err := tx.Exec(ctx, m.sql); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, "INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)",
			m.version, m.name, m.checksum)
		return err
	})
	if err != nil {
		return fmt.Errorf("store: migrate: apply %s: %w", m.name, err)
	}
	return nil
}

func short(checksum string) string {
	if len(checksum) > 12 {
		return checksum[:12]
	}
	return checksum
}
