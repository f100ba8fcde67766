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

// Values of the result label of processor_notify_deliveries_total.
const (
	resultOK    = "ok"
	resultError = "error"
)

// scrapeTimeout bounds the backlog query run at each scrape.
const scrapeTimeout = 5 * time.Second

// metrics are a Worker's Prometheus series, all labelled with its sink.
type metrics struct {
	ok, errors   prometheus.Counter
	givenUp      prometheus.Counter
	sendDuration prometheus.Observer
	latency      prometheus.Observer
}

// latencyBuckets spread from the steady state (milliseconds) to retries
// that succeed hours later.
var latencyBuckets = []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 4 * 3600, 24 * 3600}

func newMetrics(reg prometheus.Registerer, pool *pgxpool.Pool, sink string, log *slog.Logger) (*metrics, error) {
	deliveries := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "processor_notify_deliveries_total",
		Help: "Attempts to hand an outbox event to a sink, by sink and result: ok (2xx, broker confirm) or error (other status, timeout, connection error, broker down or refusing).",
	}, []string{"sink", "result"})
	givenUp := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "processor_notify_given_up_total",
		Help: "Outbox events given up for a sink by this process: still failing after the retry period.",
	}, []string{"sink"})
	sendDuration := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "processor_notify_send_duration_seconds",
		Help:    "Duration of one attempt to hand an event to a sink, whatever its result.",
		Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
	}, []string{"sink"})
	latency := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "processor_notify_delivery_latency_seconds",
		Help:    "From an event's created_at (start of the transaction that enqueued it) to its delivery to a sink, retries included.",
		Buckets: latencyBuckets,
	}, []string{"sink"})
	if reg != nil {
		var err error
		if deliveries, err = register(reg, deliveries); err != nil {
			return nil, err
		}
		if givenUp, err = register(reg, givenUp); err != nil {
			return nil, err
		}
		if sendDuration, err = register(reg, sendDuration); err != nil {
			return nil, err
		}
		if latency, err = register(reg, latency); err != nil {
			return nil, err
		}
		if _, err = register[prometheus.Collector](reg, newBacklogCollector(pool, sink, log)); err != nil {
			return nil, err
		}
	}
	// Every series exists from the start, so rate() and alerts see zeros.
	return &metrics{
		ok:           deliveries.WithLabelValues(sink, resultOK),
		errors:       deliveries.WithLabelValues(sink, resultError),
		givenUp:      givenUp.WithLabelValues(sink),
		sendDuration: sendDuration.WithLabelValues(sink),
		latency:      latency.WithLabelValues(sink),
	}, nil
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

// backlogCollector reads one sink's backlog from the database at scrape
// time, so the gauges are right whichever instance delivered what. Every
// instance configured with the sink reports the same database-wide values
// (aggregate with max, not sum).
type backlogCollector struct {
	pool            *pgxpool.Pool
	sink            string
	log             *slog.Logger
	backlog, oldest *prometheus.Desc
}

func newBacklogCollector(pool *pgxpool.Pool, sink string, log *slog.Logger) *backlogCollector {
	labels := prometheus.Labels{"sink": sink}
	return &backlogCollector{pool: pool, sink: sink, log: log,
		backlog: prometheus.NewDesc("processor_outbox_backlog",
			"Outbox events neither delivered to the sink nor given up for it (database-wide).", nil, labels),
		oldest: prometheus.NewDesc("processor_outbox_oldest_age_seconds",
			"Age of the sink's oldest event neither delivered nor given up; 0 when there is none (database-wide).", nil, labels),
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
		FROM outbox_deliveries WHERE sink = $1 AND delivered_at IS NULL AND given_up_at IS NULL`, c.sink).Scan(&n, &age)
	if err != nil {
		c.log.Warn("notify: outbox backlog metrics unavailable", "sink", c.sink, "err", err)
		return
	}
	ch <- prometheus.MustNewConstMetric(c.backlog, prometheus.GaugeValue, float64(n))
	ch <- prometheus.MustNewConstMetric(c.oldest, prometheus.GaugeValue, max(age, 0))
}
