package app

import (
	"context"
	"log/slog"
	"math/big"
	"net/http"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/ton-custody/processor/internal/blockscanner"
	"github.com/ton-custody/processor/internal/ton"
	"github.com/xssnick/tonutils-go/address"
)

// queueCollector reports the withdrawal queue from the database at scrape
// time, so every replica shows the same numbers (aggregate with max).
type queueCollector struct {
	db         *pgxpool.Pool
	depth, age *prometheus.Desc
	log        *slog.Logger
}

func newQueueCollector(db *pgxpool.Pool, log *slog.Logger) *queueCollector {
	return &queueCollector{db: db, log: log,
		depth: prometheus.NewDesc("processor_withdrawal_queue", "Withdrawals waiting for operators (awaiting_approval), waiting for a batch (pending) or in flight (processing).", []string{"state"}, nil),
		age:   prometheus.NewDesc("processor_withdrawal_queue_oldest_age_seconds", "Age of the oldest pending withdrawal.", nil, nil)}
}

// Describe implements prometheus.Collector.
func (c *queueCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.depth; ch <- c.age }

// Collect implements prometheus.Collector.
func (c *queueCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	var pending, processing, awaiting int64
	var oldest float64
	err := c.db.QueryRow(ctx, `SELECT count(*) FILTER (WHERE state = 'pending'), count(*) FILTER (WHERE state = 'processing'),
		coalesce(extract(epoch FROM now() - min(created_at) FILTER (WHERE state = 'pending')), 0),
		count(*) FILTER (WHERE state = 'awaiting_approval')
		FROM withdrawals WHERE state IN ('pending', 'processing', 'awaiting_approval')`).Scan(&pending, &processing, &oldest, &awaiting)
	if err != nil {
		c.log.Warn("withdrawal queue metrics", "err", err)
		return
	}
	ch <- prometheus.MustNewConstMetric(c.depth, prometheus.GaugeValue, float64(pending), "pending")
	ch <- prometheus.MustNewConstMetric(c.depth, prometheus.GaugeValue, float64(processing), "processing")
	ch <- prometheus.MustNewConstMetric(c.depth, prometheus.GaugeValue, float64(awaiting), "awaiting_approval")
	ch <- prometheus.MustNewConstMetric(c.age, prometheus.GaugeValue, oldest)
}

// hotBalance polls the hot wallet's TON balance for the dashboard and the
// HotWalletBelowMinimum alert.
type hotBalance struct {
	chain      *ton.Client
	addr       *address.Address
	balance    prometheus.Gauge
	minBalance prometheus.Gauge
}

func newHotBalance(chain *ton.Client, addr *address.Address, minBalance *big.Int, reg prometheus.Registerer) *hotBalance {
	h := &hotBalance{chain: chain, addr: addr,
		balance:    prometheus.NewGauge(prometheus.GaugeOpts{Name: "processor_hot_wallet_balance_nanoton", Help: "Hot wallet TON balance (polled)."}),
		minBalance: prometheus.NewGauge(prometheus.GaugeOpts{Name: "processor_hot_wallet_min_balance_nanoton", Help: "HOT_WALLET_MIN_BALANCE."})}
	if minBalance != nil {
		f, _ := new(big.Float).SetInt(minBalance).Float64()
		h.minBalance.Set(f)
	}
	reg.MustRegister(h.balance, h.minBalance)
	return h
}

// run polls every interval until ctx ends.
func (h *hotBalance) run(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if bal, _, err := h.chain.AccountState(ctx, h.addr); err == nil {
			f, _ := new(big.Float).SetInt(bal).Float64()
			h.balance.Set(f)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// opsHandler serves what a workers-only instance exposes: metrics and
// health.
func (a *App) opsHandler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(a.Registry, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("ok\n")) })
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if err := a.ready(r.Context()); err != nil {
			http.Error(w, "database unavailable", http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ok\n"))
	})
	return mux
}

// headCache answers the sync flag's "network head": the scanner's own view
// when this instance runs it, else a fresh look at the chain (API-only
// replicas), cached for two seconds.
type headCache struct {
	scanner *blockscanner.Scanner
	chain   blockscanner.TonChain
	mu      sync.Mutex
	at      time.Time
	seqno   uint32
	utime   int64
}

// Head implements blockscanner.HeadFunc.
func (h *headCache) Head(ctx context.Context) (uint32, int64, error) {
	if seqno, utime, err := h.scanner.Head(ctx); err == nil && time.Since(time.Unix(utime, 0)) < time.Minute {
		return seqno, utime, nil
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if time.Since(h.at) < 2*time.Second {
		return h.seqno, h.utime, nil
	}
	id, err := h.chain.Head(ctx)
	if err != nil {
		return 0, 0, err
	}
	blk, err := h.chain.Block(ctx, id)
	if err != nil {
		return 0, 0, err
	}
	h.at, h.seqno, h.utime = time.Now(), id.SeqNo, int64(blk.BlockInfo.GenUtime)
	return h.seqno, h.utime, nil
}
