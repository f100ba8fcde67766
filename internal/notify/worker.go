package notify

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/ton-custody/processor/internal/config"
)

// Defaults of Options, chosen for a merchant backend on a normal network.
const (
	// DefaultPollInterval only matters when the LISTEN connection is down:
	// new events wake workers at once otherwise.
	DefaultPollInterval = 500 * time.Millisecond
	// DefaultConcurrency bounds parallel requests per worker, so a slow
	// receiver is not flooded and one slow event does not hold up others.
	DefaultConcurrency = 8
	// DefaultRequestTimeout is per attempt, from connecting to the end of
	// the response headers and what is read of the body.
	DefaultRequestTimeout = 10 * time.Second
	// DefaultBackoffBase and DefaultBackoffCap: retries after about 1 s,
	// 2 s, 4 s ... and then every 10 minutes.
	DefaultBackoffBase = time.Second
	DefaultBackoffCap  = 10 * time.Minute
	// DefaultRetryPeriod: an event not delivered within a day of its
	// creation is given up; a day covers a receiver's weekend-length outage
	// only partly, so operators may raise it.
	DefaultRetryPeriod = 24 * time.Hour
)

// leaseMargin is added to RequestTimeout to get the claim lease: long
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
	// Concurrency is the number of requests a worker has in flight at most.
	Concurrency int
	// RequestTimeout bounds one attempt.
	RequestTimeout time.Duration
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
		{"RequestTimeout", &o.RequestTimeout, DefaultRequestTimeout},
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

// Worker delivers the outbox to one webhook URL. Create it with NewWorker;
// it is used by one Run at a time.
type Worker struct {
	pool   *pgxpool.Pool
	url    string
	secret config.Secret
	opts   Options
	client *http.Client
	m      *metrics
	log    *slog.Logger
	// lease is how far a claim pushes next_attempt_at.
	lease time.Duration
}

// NewWorker returns a worker that POSTs pool's outbox to webhookURL (an
// absolute http or https URL), signed with secret. Its metrics are
// registered on reg (nil: not registered; a metric already registered by
// another Worker is shared). A nil log means slog.Default().
func NewWorker(pool *pgxpool.Pool, webhookURL string, secret config.Secret, opts Options,
	reg prometheus.Registerer, log *slog.Logger) (*Worker, error) {
	if pool == nil {
		return nil, errors.New("notify: no database pool")
	}
	// The URL may carry a token in its query, so errors do not quote it.
	u, err := url.Parse(webhookURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, errors.New("notify: webhook URL must be an absolute http:// or https:// URL")
	}
	if !secret.IsSet() {
		return nil, errors.New("notify: webhook secret is empty")
	}
	opts, err = opts.withDefaults()
	if err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.Default()
	}
	m, err := newMetrics(reg, pool, log)
	if err != nil {
		return nil, err
	}
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.MaxIdleConnsPerHost = opts.Concurrency
	client := &http.Client{
		Transport: transport,
		// A redirected POST would be re-sent elsewhere (or turned into a
		// GET): count 3xx as a failure the merchant has to fix instead.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return &Worker{pool: pool, url: webhookURL, secret: secret, opts: opts, client: client, m: m, log: log,
		lease: opts.RequestTimeout + leaseMargin}, nil
}

// claimed is an outbox row taken for one attempt.
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

// Run delivers due events until ctx ends, then waits for the requests in
// flight (each bounded by RequestTimeout) and records their outcomes, so
// they are neither lost nor sent again. Database and receiver failures are
// logged and retried, never returned; Run returns nil once ctx has ended.
func (w *Worker) Run(ctx context.Context) error {
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
				// or lease end, a notification, or a finished request.
				dbFailures = 0
				if next, ok, err := w.nextDue(ctx); err == nil && ok {
					wait = max(min(next, wait), minIdleWait)
				}
			default:
				// Maybe more due: claim again when a request finishes.
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
		case <-timer.C:
		}
	}
	for ; inFlight > 0; inFlight-- {
		<-done
	}
	return nil
}

// claim takes up to n due events, leasing them to this worker and counting
// the attempt. The event due the longest goes first: new events are due
// from their transaction's start, so they go roughly in id order; a
// retried event queues behind those due before it
// rather than jumping ahead of newer events by its older id. The order is
// also the due index's, so a claim reads only the rows it takes, however
// large the backlog (ORDER BY id alone sorted every due row on each claim).
func (w *Worker) claim(ctx context.Context, n int) ([]claimed, error) {
	rows, err := w.pool.Query(ctx, `UPDATE outbox o
		SET attempts = o.attempts + 1, next_attempt_at = now() + make_interval(secs => $2)
		FROM (SELECT id FROM outbox
		      WHERE delivered_at IS NULL AND given_up_at IS NULL AND next_attempt_at <= now()
		      ORDER BY next_attempt_at, id LIMIT $1 FOR UPDATE SKIP LOCKED) due
		WHERE o.id = due.id
		RETURNING o.id, o.topic, coalesce(o.dedup_key, 'outbox:' || o.id), o.created_at, o.payload::text, o.attempts`,
		n, w.lease.Seconds())
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

// nextDue returns how long until the earliest pending event is due (by the
// database's clock), ok=false when nothing is pending.
func (w *Worker) nextDue(ctx context.Context) (time.Duration, bool, error) {
	var secs *float64
	err := w.pool.QueryRow(ctx, `SELECT extract(epoch FROM min(next_attempt_at) - now())::float8
		FROM outbox WHERE delivered_at IS NULL AND given_up_at IS NULL`).Scan(&secs)
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
	body, err := envelope(c)
	if err != nil {
		// Cannot happen for a payload PostgreSQL stored as jsonb; retried
		// like a failed request so it ends given up, visibly.
		w.recordFailure(ctx, c, err.Error())
		return
	}
	start := time.Now()
	failure := w.post(ctx, c.eventID, body)
	w.m.requestDuration.Observe(time.Since(start).Seconds())
	if failure != "" {
		w.m.deliveries.WithLabelValues(resultError).Inc()
		w.recordFailure(ctx, c, failure)
		return
	}
	w.m.deliveries.WithLabelValues(resultOK).Inc()
	w.recordSuccess(ctx, c)
}

// envelope is the webhook body; field order is the documented one.
func envelope(c claimed) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	// Keep data as stored: no \u003c for "<" in, say, a comment.
	enc.SetEscapeHTML(false)
	err := enc.Encode(struct {
		EventID   string          `json:"event_id"`
		Type      string          `json:"type"`
		CreatedAt string          `json:"created_at"`
		Data      json.RawMessage `json:"data"`
	}{c.eventID, c.topic, c.createdAt.UTC().Format(time.RFC3339), json.RawMessage(c.payload)})
	if err != nil {
		return nil, fmt.Errorf("notify: build body of %s: %w", c.eventID, err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// post sends one attempt and returns "" on a 2xx answer, else why not, in
// a form fit for last_error and logs: never the URL (its query may hold a
// token) nor the secret.
func (w *Worker) post(ctx context.Context, eventID string, body []byte) string {
	ctx, cancel := context.WithTimeout(ctx, w.opts.RequestTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.url, bytes.NewReader(body))
	if err != nil {
		return "build request: " + unwrapURLError(err)
	}
	ts := time.Now().Unix()
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "ton-custody-processor")
	req.Header.Set(HeaderEventID, eventID)
	req.Header.Set(HeaderTimestamp, strconv.FormatInt(ts, 10))
	req.Header.Set(HeaderSignature, Sign(w.secret.Reveal(), ts, body))
	resp, err := w.client.Do(req)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return fmt.Sprintf("no answer within %s", w.opts.RequestTimeout)
		}
		return unwrapURLError(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		// Read a little so the connection can be reused.
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		return ""
	}
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 256))
	msg := "HTTP " + resp.Status
	if s := printable(string(snippet)); s != "" {
		msg += ": " + s
	}
	return msg
}

// unwrapURLError drops the URL that net/http puts in its errors.
func unwrapURLError(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Op + ": " + ue.Err.Error()
	}
	return err.Error()
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

// recordSuccess marks the event delivered. A row already delivered (a
// second sender after a lease ran out) is left as it is.
func (w *Worker) recordSuccess(ctx context.Context, c claimed) {
	ctx, cancel := context.WithTimeout(ctx, dbTimeout)
	defer cancel()
	var latency float64
	err := w.pool.QueryRow(ctx, `UPDATE outbox SET delivered_at = now(), given_up_at = NULL
		WHERE id = $1 AND delivered_at IS NULL
		RETURNING extract(epoch FROM now() - created_at)::float8`, c.id).Scan(&latency)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		w.log.Info("notify: event was already marked delivered", "event_id", c.eventID)
	case err != nil:
		// The lease ends and the event is sent again: at least once.
		w.log.Error("notify: event delivered but not recorded; it will be sent again", "event_id", c.eventID, "err", err)
	default:
		w.m.latency.Observe(latency)
		w.log.Debug("notify: event delivered", "event_id", c.eventID, "attempt", c.attempts, "latency", latency)
	}
}

// recordFailure stores why the attempt failed and schedules the next one,
// or gives the event up once its retry period is over.
func (w *Worker) recordFailure(ctx context.Context, c claimed, reason string) {
	reason = truncate(strings.ReplaceAll(reason, w.secret.Reveal(), "[REDACTED]"), maxLastError)
	delay := backoff(int(c.attempts), w.opts.BackoffBase, w.opts.BackoffCap, rand.Int64N)
	ctx, cancel := context.WithTimeout(ctx, dbTimeout)
	defer cancel()
	var givenUp bool
	var next time.Time
	err := w.pool.QueryRow(ctx, `UPDATE outbox SET last_error = $3,
		    given_up_at = CASE WHEN now() >= created_at + make_interval(secs => $4) THEN now() END,
		    next_attempt_at = least(now() + make_interval(secs => $5), created_at + make_interval(secs => $4))
		WHERE id = $1 AND attempts = $2 AND delivered_at IS NULL AND given_up_at IS NULL
		RETURNING given_up_at IS NOT NULL, next_attempt_at`,
		c.id, c.attempts, reason, w.opts.RetryPeriod.Seconds(), delay.Seconds()).Scan(&givenUp, &next)
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
		w.log.Warn("notify: webhook attempt failed", "event_id", c.eventID, "attempt", c.attempts,
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
