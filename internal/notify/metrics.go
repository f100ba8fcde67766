package notify

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
)

// Values of the result label of processor_webhook_deliveries_total.
const (
	resultOK    = "ok"
	resultError = "error"
)

// scrapeTimeout bounds the backlog query run at each scrape.
const scrapeTimeout = 5 * time.Second

// metrics are a Worker's Prometheus metrics.
type metrics struct {
	deliveries      *prometheus.CounterVec
	givenUp         prometheus.Counter
	requestDuration prometheus.Histogram
	latency         prometheus.Histogram
}

// latencyBuckets spread from the steady state (milliseconds) to retries
// that succeed hours later.
var latencyBuckets = []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 4 * 3600, 24 * 3600}

func newMetrics(reg prometheus.Registerer, pool *pgxpool.Pool, log *slog.Logger) (*metrics, error) {
	m := &metrics{
		deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "processor_webhook_deliveries_total",
			Help: "Webhook attempts by result: ok (2xx) or error (other status, timeout, connection error).",
		}, []string{"result"}),
		givenUp: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "processor_webhook_given_up_total",
			Help: "Outbox events given up by this process: still failing after the retry period.",
		}),
		requestDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "processor_webhook_request_duration_seconds",
			Help:    "Duration of one webhook attempt, whatever its result.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "processor_webhook_delivery_latency_seconds",
			Help:    "From an event's created_at (start of the transaction that enqueued it) to its successful delivery, retries included.",
			Buckets: latencyBuckets,
		}),
	}
	if reg == nil {
		return m, nil
	}
	var err error
	if m.deliveries, err = register(reg, m.deliveries); err != nil {
		return nil, err
	}
	if m.givenUp, err = register(reg, m.givenUp); err != nil {
		return nil, err
	}
	if m.requestDuration, err = register(reg, m.requestDuration); err != nil {
		return nil, err
	}
	if m.latency, err = register(reg, m.latency); err != nil {
		return nil, err
	}
	if _, err = register[prometheus.Collector](reg, newBacklogCollector(pool, log)); err != nil {
		return nil, err
	}
	// Both series exist from the start, so rate() and alerts see zeros.
	m.deliveries.WithLabelValues(resultOK)
	m.deliveries.WithLabelValues(resultError)
	return m, nil
}

// register registers c on reg, or returns the equal collector already
// registered (a second Worker on the same registry shares the series).
func register[C prometheus.Collector](reg prometheus.Registerer, c C) (C, error) {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing, nil
			}
		}
		return c, fmt.Errorf("notify: register metrics: %w", err)
	}
	return c, nil
}

// backlogCollector reads the backlog from the database at scrape time, so
// the gauges are right whichever instance delivered what. Every instance
// reports the same database-wide values (aggregate with max, not sum).
type backlogCollector struct {
	pool            *pgxpool.Pool
	log             *slog.Logger
	backlog, oldest *prometheus.Desc
}

func newBacklogCollector(pool *pgxpool.Pool, log *slog.Logger) *backlogCollector {
	return &backlogCollector{pool: pool, log: log,
		backlog: prometheus.NewDesc("processor_outbox_backlog",
			"Outbox events neither delivered nor given up (database-wide).", nil, nil),
		oldest: prometheus.NewDesc("processor_outbox_oldest_age_seconds",
			"Age of the oldest event neither delivered nor given up; 0 when there is none (database-wide).", nil, nil),
	}
}

// Describe implements prometheus.Collector.
func (c *backlogCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.backlog
	ch <- c.oldest
}

// Collect implements prometheus.Collector. When the database does not
// answer it reports nothing rather than an invalid metric, which would make
// the whole /metrics scrape fail.
func (c *backlogCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), scrapeTimeout)
	defer cancel()
	var n int64
	var age float64
	err := c.pool.QueryRow(ctx, `SELECT count(*), coalesce(extract(epoch FROM now() - min(created_at))::float8, 0)
		FROM outbox WHERE delivered_at IS NULL AND given_up_at IS NULL`).Scan(&n, &age)
	if err != nil {
		c.log.Warn("notify: outbox backlog metrics unavailable", "err", err)
		return
	}
	ch <- prometheus.MustNewConstMetric(c.backlog, prometheus.GaugeValue, float64(n))
	ch <- prometheus.MustNewConstMetric(c.oldest, prometheus.GaugeValue, max(age, 0))
}
