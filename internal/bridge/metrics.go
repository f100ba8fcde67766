package bridge

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics counts provider calls, rejected callbacks and payments a person
// must look at; one set per process, registered by the caller and handed
// to Build (the Service takes it from the Registry).
type Metrics struct {
	requests  *prometheus.CounterVec
	errors    *prometheus.CounterVec
	latency   *prometheus.HistogramVec
	rejected  *prometheus.CounterVec
	attention *prometheus.CounterVec
}

// Reasons of processor_bridge_payments_attention_total.
const (
	// AttentionNoAnswer: an unknown payment past UnknownGiveUp that its
	// provider neither reported nor definitely denied.
	AttentionNoAnswer = "no_definite_answer"
	// AttentionConflict: a final status reported after a contradicting
	// local final status (paid after failed).
	AttentionConflict = "status_conflict"
)

// NewMetrics registers the bridge's metrics on reg (nil: unregistered).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "processor_bridge_provider_requests_total",
			Help: "HTTP requests to fiat providers, by provider and status code."}, []string{"provider", "code"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "processor_bridge_provider_errors_total",
			Help: "Provider requests that failed: transport errors and 5xx answers."}, []string{"provider"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "processor_bridge_provider_request_duration_seconds",
			Help: "Provider request latency.", Buckets: prometheus.DefBuckets}, []string{"provider"}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "processor_bridge_callbacks_rejected_total",
			Help: "Provider callbacks refused (nothing changed), by provider and reason."}, []string{"provider", "reason"}),
		attention: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "processor_bridge_payments_attention_total",
			Help: "Payments flagged for a person to decide (needs_attention), by provider and reason: " +
				AttentionNoAnswer + " or " + AttentionConflict + "."}, []string{"provider", "reason"}),
	}
	if reg != nil {
		reg.MustRegister(m.requests, m.errors, m.latency, m.rejected, m.attention)
	}
	return m
}

// transport counts every request a provider client makes.
type transport struct {
	name string
	m    *Metrics
	next http.RoundTripper
}

func (t transport) RoundTrip(r *http.Request) (*http.Response, error) {
	start := time.Now()
	resp, err := t.next.RoundTrip(r)
	t.m.latency.WithLabelValues(t.name).Observe(time.Since(start).Seconds())
	if err != nil {
		t.m.requests.WithLabelValues(t.name, "error").Inc()
		t.m.errors.WithLabelValues(t.name).Inc()
		return nil, err
	}
	t.m.requests.WithLabelValues(t.name, strconv.Itoa(resp.StatusCode)).Inc()
	if resp.StatusCode >= 500 {
		t.m.errors.WithLabelValues(t.name).Inc()
	}
	return resp, nil
}

// instrument returns a client for provider name whose requests are counted.
func (m *Metrics) instrument(name string, c *http.Client) *http.Client {
	if m == nil {
		return c
	}
	next := c.Transport
	if next == nil {
		next = http.DefaultTransport
	}
	c.Transport = transport{name: name, m: m, next: next}
	m.errors.WithLabelValues(name) // the series exists before the first error
	return c
}
