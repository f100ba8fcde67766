// Package leader runs a job on exactly one of several processor instances
// sharing a database. The holder of a PostgreSQL session-level advisory
// lock, taken on a dedicated connection, runs the job; when that
// connection dies (process killed, network cut, database restarted) the
// server releases the lock and another instance takes over within seconds.
//
// No split brain: the holder checks its connection every CheckInterval and
// stops the job as soon as a check fails or times out; a new holder waits
// TakeoverDelay (longer than a holder needs to notice) before it starts.
package leader

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/ton-custody/processor/internal/store"
)

// Defaults.
const (
	DefaultCheckInterval = time.Second
	DefaultRetryInterval = 2 * time.Second
	DefaultCheckTimeout  = time.Second
)

// Elector runs one named job under its advisory lock.
type Elector struct {
	DB   *pgxpool.Pool
	Name string // the job; the lock key is derived from it
	Log  *slog.Logger
	// CheckInterval and CheckTimeout bound how long a holder that lost its
	// connection keeps working; TakeoverDelay (default CheckInterval +
	// 2 x CheckTimeout) is how long a new holder waits before starting.
	CheckInterval, CheckTimeout, RetryInterval, TakeoverDelay time.Duration
	// OnChange, if set, is told when this instance gains or loses the job.
	OnChange func(leading bool)
}

func (e *Elector) defaults() {
	if e.CheckInterval <= 0 {
		e.CheckInterval = DefaultCheckInterval
	}
	if e.CheckTimeout <= 0 {
		e.CheckTimeout = DefaultCheckTimeout
	}
	if e.RetryInterval <= 0 {
		e.RetryInterval = DefaultRetryInterval
	}
	if e.TakeoverDelay <= 0 {
		e.TakeoverDelay = e.CheckInterval + 2*e.CheckTimeout
	}
	if e.Log == nil {
		e.Log = slog.Default()
	}
}

// Run competes for the lock and runs job while holding it, until ctx ends.
// job must return when its context is cancelled; its errors are logged and
// it is restarted while the lock is held.
func (e *Elector) Run(ctx context.Context, job func(ctx context.Context) error) error {
	e.defaults()
	key := store.LockKey("leader:" + e.Name)
	for ctx.Err() == nil {
		conn, err := e.acquire(ctx, key)
		if err != nil {
			e.Log.Debug("leader election: lock not taken", "job", e.Name, "err", err)
			sleep(ctx, e.RetryInterval)
			continue
		}
		if conn == nil {
			sleep(ctx, e.RetryInterval)
			continue
		}
		e.lead(ctx, conn, job)
		_ = conn.Close(context.Background()) // ends the session: releases the lock
	}
	return ctx.Err()
}

// acquire takes a connection out of the pool for good and tries the lock on
// it; nil, nil means another instance holds it.
func (e *Elector) acquire(ctx context.Context, key int64) (*pgx.Conn, error) {
	pc, err := e.DB.Acquire(ctx)
	if err != nil {
		return nil, err
	}
	conn := pc.Hijack() // the lock lives as long as this session
	var ok bool
	if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock($1)`, key).Scan(&ok); err != nil {
		_ = conn.Close(context.Background())
		return nil, fmt.Errorf("try lock: %w", err)
	}
	if !ok {
		_ = conn.Close(context.Background())
		return nil, nil
	}
	return conn, nil
}

// lead runs job while the lock's connection answers.
func (e *Elector) lead(ctx context.Context, conn *pgx.Conn, job func(context.Context) error) {
	// A previous holder may not have noticed yet that it lost the lock.
	if !sleep(ctx, e.TakeoverDelay) || !e.alive(ctx, conn) {
		return
	}
	e.Log.Info("leading", "job", e.Name)
	if e.OnChange != nil {
		e.OnChange(true)
	}
	defer func() {
		e.Log.Info("stopped leading", "job", e.Name)
		if e.OnChange != nil {
			e.OnChange(false)
		}
	}()
	jctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for jctx.Err() == nil {
			if err := job(jctx); err != nil && jctx.Err() == nil {
				e.Log.Error("job failed; restarting", "job", e.Name, "err", err)
				sleep(jctx, time.Second)
			}
		}
	}()
	t := time.NewTicker(e.CheckInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			cancel()
			<-done
			return
		case <-done:
			cancel()
			return
		case <-t.C:
			if !e.alive(ctx, conn) {
				e.Log.Warn("lost the lock's database session; stopping the job", "job", e.Name)
				cancel()
				<-done // stopped before anyone else may start
				return
			}
		}
	}
}

func (e *Elector) alive(ctx context.Context, conn *pgx.Conn) bool {
	cctx, cancel := context.WithTimeout(ctx, e.CheckTimeout)
	defer cancel()
	_, err := conn.Exec(cctx, `SELECT 1`)
	return err == nil
}

// sleep waits d or until ctx ends; false if ctx ended.
func sleep(ctx context.Context, d time.Duration) bool {
	select {
	case <-ctx.Done():
		return false
	case <-time.After(d):
		return true
	}
}
