package store

import (
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
)

// poolCollector exports pgxpool statistics, read at scrape time.
type poolCollector struct {
	pool                                  *pgxpool.Pool
	total, idle, acquired, max            *prometheus.Desc
	acquires, waits, waitSeconds, cancels *prometheus.Desc
}

// NewPoolCollector returns a Prometheus collector for pool's statistics.
func NewPoolCollector(pool *pgxpool.Pool) prometheus.Collector {
	d := func(name, help string) *prometheus.Desc {
		return prometheus.NewDesc("processor_db_pool_"+name, help, nil, nil)
	}
	return &poolCollector{pool: pool,
		total:       d("connections", "Open connections."),
		idle:        d("idle_connections", "Idle connections."),
		acquired:    d("acquired_connections", "Connections in use."),
		max:         d("max_connections", "Configured maximum connections."),
		acquires:    d("acquires_total", "Connections acquired from the pool."),
		waits:       d("empty_acquires_total", "Acquires that had to wait for a connection."),
		waitSeconds: d("acquire_wait_seconds_total", "Time spent waiting for connections."),
		cancels:     d("canceled_acquires_total", "Acquires canceled by their context."),
	}
}

// Describe implements prometheus.Collector.
func (c *poolCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.total, c.idle, c.acquired, c.max, c.acquires, c.waits, c.waitSeconds, c.cancels} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *poolCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.pool.Stat()
	g := func(d *prometheus.Desc, v float64) { ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v) }
	k := func(d *prometheus.Desc, v float64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v)
	}
	g(c.total, float64(s.TotalConns()))
	g(c.idle, float64(s.IdleConns()))
	g(c.acquired, float64(s.AcquiredConns()))
	g(c.max, float64(s.MaxConns()))
	k(c.acquires, float64(s.AcquireCount()))
	k(c.waits, float64(s.EmptyAcquireCount()))
	k(c.waitSeconds, s.AcquireDuration().Seconds())
	k(c.cancels, float64(s.CanceledAcquireCount()))
}
