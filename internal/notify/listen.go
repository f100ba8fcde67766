package notify

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgconn/ctxwatch"
)

// channel is the NOTIFY channel of the outbox trigger (migration 0002).
const channel = "processor_outbox"

// Reconnection delays of the LISTEN connection; polling covers the gap.
const (
	listenRetryMin = time.Second
	listenRetryMax = 30 * time.Second
	closeTimeout   = 5 * time.Second
)

// listen signals wake whenever an outbox insert commits, until ctx ends.
// It uses a connection of its own rather than one of the pool: the
// connection sits in LISTEN all the time, and it is built with pgx's
// deadline handler so that ending ctx interrupts the wait at once (the
// pool's cancel-request handler would wait seconds for a query that does
// not exist).
func (w *Worker) listen(ctx context.Context, wake chan<- struct{}) {
	delay := listenRetryMin
	for ctx.Err() == nil {
		listening, err := w.listenOnce(ctx, wake)
		if ctx.Err() != nil {
			return
		}
		if listening {
			delay = listenRetryMin
		}
		w.log.Warn("notify: LISTEN connection failed; polling until it is back",
			"err", err, "poll_interval", w.opts.PollInterval, "retry_in", delay)
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		delay = min(2*delay, listenRetryMax)
	}
}

// listenOnce connects, LISTENs and forwards notifications until the
// connection fails or ctx ends. listening reports whether LISTEN succeeded.
func (w *Worker) listenOnce(ctx context.Context, wake chan<- struct{}) (listening bool, err error) {
	cfg := w.pool.Config().ConnConfig.Copy()
	cfg.BuildContextWatcherHandler = func(c *pgconn.PgConn) ctxwatch.Handler {
		return &pgconn.DeadlineContextWatcherHandler{Conn: c.Conn()}
	}
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return false, fmt.Errorf("notify: connect for LISTEN: %w", err)
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), closeTimeout)
		defer cancel()
		_ = conn.Close(cctx)
	}()
	if _, err := conn.Exec(ctx, "LISTEN "+channel); err != nil {
		return false, fmt.Errorf("notify: LISTEN %s: %w", channel, err)
	}
	// Events committed while nobody listened are found by this wake-up.
	signal(wake)
	for {
		if _, err := conn.WaitForNotification(ctx); err != nil {
			return true, fmt.Errorf("notify: wait for notification: %w", err)
		}
		signal(wake)
	}
}

// signal wakes the worker loop without blocking: one pending wake-up is
// enough, since the loop claims everything due when it runs.
func signal(wake chan<- struct{}) {
	select {
	case wake <- struct{}{}:
	default:
	}
}
