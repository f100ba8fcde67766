package bridge_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/ton-custody/processor/api/apitest"
	"github.com/ton-custody/processor/internal/bridge"
	"github.com/ton-custody/processor/internal/bridge/payfield"
	"github.com/ton-custody/processor/internal/bridge/payfield/sim"
	"github.com/ton-custody/processor/internal/config"
	"github.com/ton-custody/processor/internal/store/storetest"
)

const (
	token   = "test-token-0123456789"
	apiKey  = "pf-key-0123456789"
	secret  = "pf-secret-0123456789"
	whSecet = "pf-webhook-0123456789"
)

// bearer stands in for the processor's authentication middleware.
func bearer(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if c.Request().Header.Get("Authorization") != "Bearer "+token {
			return c.JSON(http.StatusUnauthorized, map[string]string{"error": "invalid API token"})
		}
		return next(c)
	}
}

type env struct {
	t       testing.TB
	pool    *pgxpool.Pool
	sim     *sim.Sim
	pf      *payfield.Client
	svc     *bridge.Service
	srv     *httptest.Server
	http    *http.Client
	metrics *prometheus.Registry
}

type envOpts struct {
	sim        sim.Options
	timeout    time.Duration
	noCallback bool
	extra      []bridge.Provider
}

func newEnv(t testing.TB, o envOpts) *env {
	t.Helper()
	return newEnvFor(t, o, func(e *env) []bridge.Provider {
		o.sim.APIKey, o.sim.Secret, o.sim.WebhookSecret = apiKey, secret, whSecet
		s, err := sim.Start(o.sim)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close() })
		e.sim = s
		s.SetBalance("RUB", 100_000_00, 5_000_00)
		e.pf, err = payfield.New(payfield.Options{BaseURL: s.URL, APIKey: config.NewSecret(apiKey), Secret: config.NewSecret(secret),
			WebhookSecret: config.NewSecret(whSecet), Client: &http.Client{Timeout: o.timeout,
				Transport: &http.Transport{MaxIdleConnsPerHost: 100}}})
		if err != nil {
			t.Fatal(err)
		}
		return []bridge.Provider{e.pf}
	})
}

// newEnvFor runs the bridge API over the providers mk returns; mk runs
// once e.srv (the bridge's public URL, where simulators call back) is up.
func newEnvFor(t testing.TB, o envOpts, mk func(e *env) []bridge.Provider) *env {
	t.Helper()
	e := &env{t: t, pool: storetest.NewDB(t), metrics: prometheus.NewRegistry()}
	if o.timeout == 0 {
		o.timeout = 2 * time.Second
	}
	ec := echo.New()
	ec.HideBanner = true
	e.srv = httptest.NewServer(ec)
	t.Cleanup(e.srv.Close)
	reg, err := bridge.NewRegistry(append(mk(e), o.extra...)...)
	if err != nil {
		t.Fatal(err)
	}
	opts := bridge.ServiceOptions{PublicURL: e.srv.URL, Logger: slog.New(slog.DiscardHandler),
		RecheckAfter: time.Hour, UnknownGiveUp: time.Hour, Metrics: bridge.NewMetrics(e.metrics)}
	if o.noCallback {
		opts.PublicURL = ""
	}
	e.svc = bridge.NewService(e.pool, reg, opts)
	if err := bridge.NewAPI(e.svc).Register(ec, bearer); err != nil {
		t.Fatal(err)
	}
	var rt http.RoundTripper = &http.Transport{MaxIdleConnsPerHost: 100}
	if tt, ok := t.(*testing.T); ok { // benchmarks measure the bridge, not the validator
		rt = apitest.Transport(tt, rt)
	}
	e.http = &http.Client{Timeout: 10 * time.Second, Transport: rt}
	return e
}

// call sends a request to the bridge API and decodes the JSON answer.
func (e *env) call(method, path string, body any, auth bool) (int, map[string]any) {
	e.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, e.srv.URL+path, rd)
	req.Header.Set("Content-Type", "application/json")
	if auth {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := e.http.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if err := json.Unmarshal(raw, &out); err != nil {
		e.t.Fatalf("%s %s: answer is not JSON: %q", method, path, raw)
	}
	return resp.StatusCode, out
}

// postRaw posts a raw body with headers (callbacks).
func (e *env) postRaw(path string, body []byte, h http.Header) (int, string) {
	e.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, e.srv.URL+path, bytes.NewReader(body))
	for k, v := range h {
		req.Header[k] = v
	}
	resp, err := e.http.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, strings.TrimSpace(string(raw))
}

func payinBody(ref string, amount string) map[string]any {
	return map[string]any{"reference": ref, "provider": "payfield", "amount": amount, "currency": "RUB",
		"customer": map[string]string{"user_id": "alice", "ip": "127.0.0.1"}}
}

// snapshot is what a payment looks like in the database: row, history and
// outbox, to assert that a rejected callback changed nothing.
type snapshot struct {
	Status, RawStatus string
	Updated           time.Time
	History, Outbox   int
}

func (e *env) snapshot(ref string) snapshot {
	e.t.Helper()
	var s snapshot
	err := e.pool.QueryRow(context.Background(), `SELECT p.status, p.raw_status, p.updated_at,
		(SELECT count(*) FROM bridge_payment_events WHERE payment_id = p.id),
		(SELECT count(*) FROM outbox WHERE dedup_key LIKE 'bridge:' || p.reference || ':%')
		FROM bridge_payments p WHERE reference = $1`, ref).Scan(&s.Status, &s.RawStatus, &s.Updated, &s.History, &s.Outbox)
	if err != nil {
		e.t.Fatal(err)
	}
	return s
}

func (e *env) outboxIDs(ref string) []string {
	e.t.Helper()
	rows, err := e.pool.Query(context.Background(), `SELECT dedup_key FROM outbox WHERE dedup_key LIKE 'bridge:' || $1 || ':%' ORDER BY id`, ref)
	if err != nil {
		e.t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		_ = rows.Scan(&s)
		out = append(out, s)
	}
	return out
}

func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// counter reads a bridge counter with the given labels (0 when absent).
func (e *env) counter(name string, labels ...string) float64 {
	e.t.Helper()
	mfs, err := e.metrics.Gather()
	if err != nil {
		e.t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	metric:
		for _, m := range mf.GetMetric() {
			got := map[string]string{}
			for _, l := range m.GetLabel() {
				got[l.GetName()] = l.GetValue()
			}
			for i := 0; i+1 < len(labels); i += 2 {
				if got[labels[i]] != labels[i+1] {
					continue metric
				}
			}
			return m.GetCounter().GetValue()
		}
	}
	return 0
}
