// Package store owns the PostgreSQL connection pool, transactions and the
// embedded schema migrations. Other packages own their tables' queries;
// this package gives them the plumbing every one of them needs.
package store

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgconn/ctxwatch"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Pool defaults, applied unless the URL sets them (pool_max_conns=...,
// connect_timeout=..., application_name=...).
const (
	// defaultMaxConns leaves room for the background workers, each of
	// which holds one connection for its advisory lock, besides the API.
	defaultMaxConns       = 20
	defaultConnectTimeout = 10 * time.Second
	defaultAppName        = "ton-processor"
	// Connections are recycled hourly (pgx default); the jitter keeps all
	// of them from reconnecting in the same second.
	maxConnLifetimeJitter = 5 * time.Minute
	// cancelDeadline is how long a cancelled statement may take to stop
	// before its connection is closed.
	cancelDeadline = 2 * time.Second
)

// Open creates a connection pool for url and checks the database answers.
// Errors never quote url, which may contain a password.
func Open(ctx context.Context, url string) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		// pgx redacts passwords only on a best-effort basis; say no more.
		return nil, errors.New("store: invalid database URL (details withheld: the URL may contain a password)")
	}
	if !strings.Contains(url, "pool_max_conns") {
		cfg.MaxConns = defaultMaxConns
	}
	cfg.MaxConnLifetimeJitter = maxConnLifetimeJitter
	if cfg.ConnConfig.ConnectTimeout == 0 {
		cfg.ConnConfig.ConnectTimeout = defaultConnectTimeout
	}
	if _, ok := cfg.ConnConfig.RuntimeParams["application_name"]; !ok {
		cfg.ConnConfig.RuntimeParams["application_name"] = defaultAppName
	}
	// pgx's default reaction to a cancelled context is to drop the socket,
	// which leaves the statement running on the server, still holding its
	// row and advisory locks. Ask the server to cancel it instead; the
	// connection is closed only if the server does not answer in time.
	cfg.ConnConfig.BuildContextWatcherHandler = func(c *pgconn.PgConn) ctxwatch.Handler {
		return &pgconn.CancelRequestContextWatcherHandler{Conn: c, DeadlineDelay: cancelDeadline}
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("store: create pool: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("store: connect to database: %w", err)
	}
	return pool, nil
}

// Beginner starts transactions: *pgxpool.Pool, *pgx.Conn, and pgx.Tx (which
// starts a savepoint) all satisfy it.
type Beginner interface {
	Begin(ctx context.Context) (pgx.Tx, error)
}

// rollbackTimeout bounds the rollback that runs after ctx may have been
// cancelled.
const rollbackTimeout = 5 * time.Second

// RollbackContext is the context a ROLLBACK after a failure runs in:
// detached from ctx's cancellation (the failure is often ctx ending, and a
// clean ROLLBACK keeps the connection usable where pgx would close it),
// bounded by rollbackTimeout.
func RollbackContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), rollbackTimeout)
}

// InTx runs fn in one transaction: committed if fn returns nil, rolled back
// if it returns an error or panics (the panic is then re-raised). fn's
// error is returned as is, so errors.Is works on it. fn must not commit or
// roll back tx itself, and runs once: InTx does not retry.
func InTx(ctx context.Context, db Beginner, fn func(pgx.Tx) error) (err error) {
	tx, err := db.Begin(ctx)
	if err != nil {
		return fmt.Errorf("store: begin transaction: %w", err)
	}
	defer func() {
		if p := recover(); p != nil {
			_ = rollback(ctx, tx)
			panic(p)
		}
	}()
	if err := fn(tx); err != nil {
		if rbErr := rollback(ctx, tx); rbErr != nil {
			return errors.Join(err, rbErr)
		}
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("store: commit: %w", err)
	}
	return nil
}

// rollback rolls tx back in RollbackContext(ctx).
func rollback(ctx context.Context, tx pgx.Tx) error {
	rctx, cancel := RollbackContext(ctx)
	defer cancel()
	if err := tx.Rollback(rctx); err != nil && !errors.Is(err, pgx.ErrTxClosed) {
		return fmt.Errorf("store: rollback: %w", err)
	}
	return nil
}

// LockKey derives the 64-bit PostgreSQL advisory lock key for a named job
// ("migrations", "scanner", ...). Deriving keys from names in one place
// keeps packages from picking colliding constants.
func LockKey(name string) int64 {
	sum := sha256.Sum256([]byte("ton-custody/processor:" + name))
	return int64(binary.BigEndian.Uint64(sum[:8]))
}

// IsUniqueViolation reports whether err is a PostgreSQL unique violation of
// the named constraint (or of any constraint when constraint is "").
func IsUniqueViolation(err error, constraint string) bool {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != "23505" {
		return false
	}
	return constraint == "" || pgErr.ConstraintName == constraint
}
