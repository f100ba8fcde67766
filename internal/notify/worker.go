package notify

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/ton-custody/processor/internal/groupcommit"
)

// Defaults of Options, chosen for a merchant backend on a normal network.
const (
	// DefaultPollInterval only matters when the LISTEN connection is down:
	// new events wake workers at once otherwise.
	DefaultPollInterval = 500 * time.Millisecond
	// DefaultConcurrency bounds parallel sends per worker, so a slow
	// receiver is not flooded and one slow event does not hold up others.
	DefaultConcurrency = 8
	// DefaultSendTimeout is per attempt: for a webhook from connecting to
	// the end of the response headers and what is read of the body, for
	// RabbitMQ from (re)connecting to the broker's confirm.
	DefaultSendTimeout = 10 * time.Second
	// DefaultBackoffBase and DefaultBackoffCap: retries after about 1 s,
	// 2 s, 4 s ... and then every 10 minutes.
	DefaultBackoffBase = time.Second
	DefaultBackoffCap  = 10 * time.Minute
	// DefaultRetryPeriod: an event not delivered within a day of its
	// creation is given up; a day covers a receiver's weekend-length outage
	// only partly, so operators may raise it.
	DefaultRetryPeriod = 24 * time.Hour
)

// leaseMargin is added to SendTimeout to get the default claim lease: long
// enough that a live worker always records its result before another may
// take the event, short enough that a crashed worker's events come back soon.
const leaseMargin = time.Minute

// dbTimeout bounds the statements that record an attempt's outcome; they
// run after the Run context may have ended.
const dbTimeout = 10 * time.Second

// minIdleWait keeps the loop from spinning when due rows exist but are
// locked by another worker's claim in progress.
const minIdleWait = 10 * time.Millisecond

// maxErrorWait caps the wait after the database failed a claim.
const maxErrorWait = 30 * time.Second

// maxLastError is the longest last_error stored, in bytes.
const maxLastError = 500

// Options tune a Worker. Zero values select the Default* constants.
type Options struct {
	// PollInterval is the longest a worker sleeps without looking for due
	// events.
	PollInterval time.Duration
	// Concurrency is the number of sends a worker has in flight at most.
	Concurrency int
	// SendTimeout bounds one attempt (the deadline of Sink.Send's context).
	SendTimeout time.Duration
	// Lease is how long a claimed event is kept from other workers: the
	// longest an event whose worker died waits to be sent again. It must
	// exceed SendTimeout; default SendTimeout + 1 minute.
	Lease time.Duration
	// BackoffBase and BackoffCap shape the retry delays (see the package
	// documentation); BackoffCap >= BackoffBase.
	BackoffBase time.Duration
	BackoffCap  time.Duration
	// RetryPeriod is how long after created_at an event is still
	// attempted; the first failed attempt after it gives the event up.
	RetryPeriod time.Duration
}

func (o Options) withDefaults() (Options, error) {
	for _, d := range []struct {
		name string
		v    *time.Duration
		def  time.Duration
	}{
		{"PollInterval", &o.PollInterval, DefaultPollInterval},
		{"SendTimeout", &o.SendTimeout, DefaultSendTimeout},
		{"Lease", &o.Lease, 0},
		{"BackoffBase", &o.BackoffBase, DefaultBackoffBase},
		{"BackoffCap", &o.BackoffCap, DefaultBackoffCap},
		{"RetryPeriod", &o.RetryPeriod, DefaultRetryPeriod},
	} {
		switch {
		case *d.v < 0:
			return o, fmt.Errorf("notify: %s must not be negative, got %s", d.name, *d.v)
		case *d.v == 0:
			*d.v = d.def
		}
	}
	if o.Lease == 0 {
		o.Lease = o.SendTimeout + leaseMargin
	}
	if o.Lease <= o.SendTimeout {
		// A live worker's send would otherwise be taken over mid-flight.
		return o, fmt.Errorf("notify: Lease (%s) must exceed SendTimeout (%s)", o.Lease, o.SendTimeout)
	}
	switch {
	case o.Concurrency < 0:
		return o, fmt.Errorf("notify: Concurrency must not be negative, got %d", o.Concurrency)
	case o.Concurrency == 0:
		o.Concurrency = DefaultConcurrency
	}
	if o.BackoffCap < o.BackoffBase {
		return o, fmt.Errorf("notify: BackoffCap (%s) is below BackoffBase (%s)", o.BackoffCap, o.BackoffBase)
	}
	return o, nil
}

// Worker delivers the outbox to one sink. Create it with NewWorker; it is
// used by one Run at a time.
type Worker struct {
	pool *pgxpool.Pool
	sink Sink
	name string
	opts Options
	m    *metrics
	log  *slog.Logger
	// successes records the deliveries that finish together in one
	// statement (a transaction per delivery bounded the drain rate).
	successes *groupcommit.Group[int64, claimed, success]
}

// success is what recording one delivery did: recorded is false when the
// row was already delivered (a second sender after a lease ran out).
type success struct {
	recorded bool
	latency  float64 // seconds from the event's creation
	err      error
}

// successRunners and successBatch bound the recording of deliveries:
// statements at a time, deliveries per statement.
const (
	successRunners = 2
	successBatch   = 64
)

// NewWorker registers sink in the database (outbox_sinks: from now on every
// event enqueued with one of its topics is queued for it) and returns a
// worker that delivers those events to it. Call it before anything that
// enqueues events for the sink starts, or they are not queued for it. Its
// metrics are registered on reg (nil: not registered; a metric already
// registered by another Worker is shared). A nil log means slog.Default().
func NewWorker(ctx context.Context, pool *pgxpool.Pool, sink Sink, opts Options,
	reg prometheus.Registerer, log *slog.Logger) (*Worker, error) {
	if pool == nil {
		return nil, errors.New("notify: no database pool")
	}
	if err := checkSink(sink); err != nil {
		return nil, err
	}
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.Default()
	}
	name := sink.Name()
	m, err := newMetrics(reg, pool, name, log)
	if err != nil {
		return nil, err
	}
	var topics []string
	if t := sink.Topics(); len(t) > 0 {
		topics = t
	}
	if _, err := pool.Exec(ctx, `INSERT INTO outbox_sinks (name, topics) VALUES ($1, $2)
		ON CONFLICT (name) DO UPDATE SET topics = EXCLUDED.topics, updated_at = now()
		WHERE outbox_sinks.topics IS DISTINCT FROM EXCLUDED.topics`, name, topics); err != nil {
		return nil, fmt.Errorf("notify: register sink %s: %w", name, err)
	}
	w := &Worker{pool: pool, sink: sink, name: name, opts: opts, m: m, log: log.With("sink", name)}
	w.successes = &groupcommit.Group[int64, claimed, success]{
		Key: func(c claimed) int64 { return c.id }, Run: w.recordSuccesses,
		MaxBatch: successBatch, MaxRunning: successRunners,
	}
	return w, nil
}

// Sink returns the worker's sink.
func (w *Worker) Sink() Sink { return w.sink }

// claimed is an outbox event taken for one attempt.
type claimed struct {
	id        int64
	topic     string
	eventID   string
	createdAt time.Time
	payload   string
	// attempts after the claim: the fence that keeps a worker whose lease
	// ran out from overwriting a newer attempt's outcome.
	attempts int32
}

// Run delivers due events until ctx ends, then waits for the sends in
// flight (each bounded by SendTimeout) and records their outcomes, so they
// are neither lost nor sent again. Database and sink failures are logged
// and retried, never returned; Run returns nil once ctx has ended. A sink
// that has a Close method is closed when Run returns (it is reopened by
// the next Send, should Run be called again).
func (w *Worker) Run(ctx context.Context) error {
	if c, ok := w.sink.(interface{ Close() error }); ok {
		defer func() {
			if err := c.Close(); err != nil {
				w.log.Warn("notify: closing the sink failed", "err", err)
			}
		}()
	}
	wake := make(chan struct{}, 1)
	listenCtx, stopListening := context.WithCancel(ctx)
	var listener sync.WaitGroup
	listener.Go(func() { w.listen(listenCtx, wake) })
	defer listener.Wait()
	defer stopListening()

	done := make(chan struct{}, w.opts.Concurrency)
	inFlight := 0
	dbFailures := 0
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for ctx.Err() == nil {
		wait := w.opts.PollInterval
		if free := w.opts.Concurrency - inFlight; free > 0 {
			rows, err := w.claim(ctx, free)
			switch {
			case err != nil && ctx.Err() != nil:
				// Stopping: the loop ends below.
			case err != nil:
				dbFailures++
				wait = min(w.opts.PollInterval<<min(dbFailures, 16), maxErrorWait)
				w.log.Warn("notify: claiming outbox events failed", "err", err, "retry_in", wait)
			case len(rows) < free:
				// Everything due was claimed: sleep until the next retry
				// or lease end, a notification, or a finished send.
				dbFailures = 0
				if next, ok, err := w.nextDue(ctx); err == nil && ok {
					wait = max(min(next, wait), minIdleWait)
				}
			default:
				// Maybe more due: claim again when a send finishes.
				dbFailures = 0
			}
			for _, r := range rows {
				inFlight++
				go w.deliverAndSignal(context.WithoutCancel(ctx), r, done)
			}
		}
		timer.Reset(wait)
		select {
		case <-ctx.Done():
		case <-wake:
		case <-done:
			inFlight--
			// Count every send finished meanwhile, so that one claim
			// refills all their slots: claiming one event per finished
			// send was a transaction per event.
			for more := true; more; {
				select {
				case <-done:
					inFlight--
				default:
					more = false
				}
			}
		case <-timer.C:
		}
	}
	for ; inFlight > 0; inFlight-- {
		<-done
	}
	return nil
}

// claim takes up to n due events of the sink, leasing them to this worker
// and counting the attempt. The event due the longest goes first: new
// events are due from their transaction's start, so they go roughly in id
// order; a retried event queues behind those due before it rather than
// jumping ahead of newer events by its older id. The order is also the due
// index's, so a claim reads only the rows it takes, however large the
// backlog. An event with an order key waits while an earlier event of its
// key is pending for the sink (in flight, or waiting for a retry).
func (w *Worker) claim(ctx context.Context, n int) ([]claimed, error) {
	rows, err := w.pool.Query(ctx, `UPDATE outbox_deliveries d
		SET attempts = d.attempts + 1, next_attempt_at = now() + make_interval(secs => $3)
		FROM (SELECT p.outbox_id FROM outbox_deliveries p
		      WHERE p.sink = $1 AND p.delivered_at IS NULL AND p.given_up_at IS NULL AND p.next_attempt_at <= now()
		        AND (p.order_key IS NULL OR NOT EXISTS (SELECT 1 FROM outbox_deliveries q
		             WHERE q.sink = p.sink AND q.order_key = p.order_key AND q.outbox_id < p.outbox_id
		               AND q.delivered_at IS NULL AND q.given_up_at IS NULL))
		      ORDER BY p.next_attempt_at, p.outbox_id LIMIT $2 FOR UPDATE SKIP LOCKED) due, outbox o
		WHERE d.sink = $1 AND d.outbox_id = due.outbox_id AND o.id = d.outbox_id
		RETURNING o.id, o.topic, coalesce(o.dedup_key, 'outbox:' || o.id), o.created_at, o.payload::text, d.attempts`,
		w.name, n, w.opts.Lease.Seconds())
	if err != nil {
		return nil, fmt.Errorf("notify: claim events: %w", err)
	}
	var out []claimed
	var c claimed
	_, err = pgx.ForEachRow(rows, []any{&c.id, &c.topic, &c.eventID, &c.createdAt, &c.payload, &c.attempts}, func() error {
		out = append(out, c)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("notify: claim events: %w", err)
	}
	// UPDATE ... RETURNING comes in no particular order; start the oldest
	// first.
	slices.SortFunc(out, func(a, b claimed) int { return cmp.Compare(a.id, b.id) })
	return out, nil
}

// nextDue returns how long until the earliest claimable pending event is
// due (by the database's clock), ok=false when none is pending. Events held
// back by their order key are left out: they become claimable when the
// event before them is recorded, which wakes the loop anyway.
func (w *Worker) nextDue(ctx context.Context) (time.Duration, bool, error) {
	var secs *float64
	err := w.pool.QueryRow(ctx, `SELECT extract(epoch FROM min(p.next_attempt_at) - now())::float8
		FROM outbox_deliveries p
		WHERE p.sink = $1 AND p.delivered_at IS NULL AND p.given_up_at IS NULL
		  AND (p.order_key IS NULL OR NOT EXISTS (SELECT 1 FROM outbox_deliveries q
		       WHERE q.sink = p.sink AND q.order_key = p.order_key AND q.outbox_id < p.outbox_id
		         AND q.delivered_at IS NULL AND q.given_up_at IS NULL))`, w.name).Scan(&secs)
	if err != nil {
		return 0, false, fmt.Errorf("notify: next due event: %w", err)
	}
	if secs == nil {
		return 0, false, nil
	}
	return time.Duration(*secs * float64(time.Second)), true, nil
}

func (w *Worker) deliverAndSignal(ctx context.Context, c claimed, done chan<- struct{}) {
	defer func() {
		// A bug here must not take the process down, nor leak the slot.
		if p := recover(); p != nil {
			w.log.Error("notify: delivery panicked; the event is retried when its lease ends", "event_id", c.eventID, "panic", p)
		}
		done <- struct{}{}
	}()
	w.deliver(ctx, c)
}

// deliver makes one attempt and records its outcome.
func (w *Worker) deliver(ctx context.Context, c claimed) {
	msg := Message{EventID: c.eventID, Topic: c.topic, CreatedAt: c.createdAt, Data: []byte(c.payload), Attempt: int(c.attempts)}
	sendCtx, cancel := context.WithTimeout(ctx, w.opts.SendTimeout)
	start := time.Now()
	err := w.sink.Send(sendCtx, msg)
	timedOut := sendCtx.Err() != nil
	cancel()
	w.m.sendDuration.Observe(time.Since(start).Seconds())
	if err != nil {
		w.m.errors.Inc()
		reason := err.Error()
		if timedOut && errors.Is(err, context.DeadlineExceeded) {
			reason = fmt.Sprintf("no answer within %s", w.opts.SendTimeout)
		}
		w.recordFailure(ctx, c, printable(reason))
		return
	}
	w.m.ok.Inc()
	w.recordSuccess(c)
}

// printable keeps s storable and readable in one line: valid UTF-8 (text
// columns refuse anything else, NUL included), no control characters.
func printable(s string) string {
	s = strings.ToValidUTF8(s, "?")
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || unicode.IsSpace(r) {
			return ' '
		}
		return r
	}, s)
	return strings.Join(strings.Fields(s), " ")
}

// recordSuccess marks the event delivered to the sink, in one statement
// with the deliveries that finish meanwhile. A row already delivered (a
// second sender after a lease ran out) is left as it is.
func (w *Worker) recordSuccess(c claimed) {
	r := w.successes.Do(c)
	switch {
	case r.err != nil:
		// The lease ends and the event is sent again: at least once.
		w.log.Error("notify: event delivered but not recorded; it will be sent again", "event_id", c.eventID, "err", r.err)
	case !r.recorded:
		w.log.Info("notify: event was already marked delivered", "event_id", c.eventID)
	default:
		w.m.latency.Observe(r.latency)
		w.log.Debug("notify: event delivered", "event_id", c.eventID, "attempt", c.attempts, "latency", r.latency)
	}
}

// recordSuccesses marks the events of cs (distinct) delivered, in one
// statement bounded by dbTimeout (it serves several sends, so none of
// their contexts may cancel it).
func (w *Worker) recordSuccesses(cs []claimed) []success {
	ctx, cancel := context.WithTimeout(context.Background(), dbTimeout)
	defer cancel()
	out := make([]success, len(cs))
	ids := make([]int64, len(cs))
	at := make(map[int64]int, len(cs))
	for i, c := range cs {
		ids[i], at[c.id] = c.id, i
	}
	rows, err := w.pool.Query(ctx, `UPDATE outbox_deliveries SET delivered_at = now(), given_up_at = NULL
		WHERE outbox_id = ANY($1) AND sink = $2 AND delivered_at IS NULL
		RETURNING outbox_id, extract(epoch FROM now() - created_at)::float8`, ids, w.name)
	if err == nil {
		var id int64
		var latency float64
		_, err = pgx.ForEachRow(rows, []any{&id, &latency}, func() error {
			out[at[id]] = success{recorded: true, latency: latency}
			return nil
		})
	}
	if err != nil {
		for i := range out {
			out[i] = success{err: err}
		}
	}
	return out
}

// recordFailure stores why the attempt failed and schedules the next one,
// or gives the event up once its retry period is over.
func (w *Worker) recordFailure(ctx context.Context, c claimed, reason string) {
	reason = truncate(reason, maxLastError)
	delay := backoff(int(c.attempts), w.opts.BackoffBase, w.opts.BackoffCap, rand.Int64N)
	ctx, cancel := context.WithTimeout(ctx, dbTimeout)
	defer cancel()
	var givenUp bool
	var next time.Time
	err := w.pool.QueryRow(ctx, `UPDATE outbox_deliveries SET last_error = $4,
		    given_up_at = CASE WHEN now() >= created_at + make_interval(secs => $5) THEN now() END,
		    next_attempt_at = least(now() + make_interval(secs => $6), created_at + make_interval(secs => $5))
		WHERE outbox_id = $1 AND sink = $2 AND attempts = $3 AND delivered_at IS NULL AND given_up_at IS NULL
		RETURNING given_up_at IS NOT NULL, next_attempt_at`,
		c.id, w.name, c.attempts, reason, w.opts.RetryPeriod.Seconds(), delay.Seconds()).Scan(&givenUp, &next)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		w.log.Info("notify: event was taken over by another attempt", "event_id", c.eventID, "attempt", c.attempts)
	case err != nil:
		w.log.Error("notify: recording a failed attempt failed; the event is retried when its lease ends",
			"event_id", c.eventID, "err", err)
	case givenUp:
		w.m.givenUp.Inc()
		w.log.Error("notify: event given up after its retry period", "event_id", c.eventID, "attempts", c.attempts,
			"retry_period", w.opts.RetryPeriod, "last_error", reason)
	default:
		w.log.Warn("notify: attempt failed", "event_id", c.eventID, "attempt", c.attempts,
			"err", reason, "next_attempt_at", next)
	}
}

// backoff is the delay after the attempt-th failed attempt (1-based): a
// random duration in [d/2, d], d = min(base * 2^(attempt-1), cap). The
// jitter spreads the retries of events that failed together (receiver
// down) instead of sending them back in one burst.
func backoff(attempt int, base, cap time.Duration, randN func(int64) int64) time.Duration {
	d := base
	for i := 1; i < attempt && d < cap; i++ {
		if d > cap/2 {
			d = cap
			break
		}
		d *= 2
	}
	half := d / 2
	return half + time.Duration(randN(int64(d-half)+1))
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	s = s[:n]
	// Do not cut a UTF-8 sequence in two.
	return strings.ToValidUTF8(s, "")
}
