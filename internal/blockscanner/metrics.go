package blockscanner

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	lastSeqno, lastUtime, lag, headSeqno prometheus.Gauge
	blocks, txs, errors, fakes, unlinked prometheus.Counter
	deposits                             *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		lastSeqno: prometheus.NewGauge(prometheus.GaugeOpts{Name: "processor_scanner_last_seqno", Help: "Last fully processed masterchain seqno."}),
		lastUtime: prometheus.NewGauge(prometheus.GaugeOpts{Name: "processor_scanner_last_gen_utime", Help: "Generation time of the last processed masterchain block (unix seconds)."}),
		lag:       prometheus.NewGauge(prometheus.GaugeOpts{Name: "processor_scanner_lag_seconds", Help: "Wall time minus the last processed block's generation time, at processing."}),
		headSeqno: prometheus.NewGauge(prometheus.GaugeOpts{Name: "processor_scanner_head_seqno", Help: "Newest masterchain seqno the scanner has seen."}),
		blocks:    prometheus.NewCounter(prometheus.CounterOpts{Name: "processor_scanner_blocks_total", Help: "Masterchain blocks processed."}),
		txs:       prometheus.NewCounter(prometheus.CounterOpts{Name: "processor_scanner_transactions_total", Help: "Shard-block accounts and watched transactions scanned."}),
		errors:    prometheus.NewCounter(prometheus.CounterOpts{Name: "processor_scanner_errors_total", Help: "Failed scanner steps (retried)."}),
		fakes:     prometheus.NewCounter(prometheus.CounterOpts{Name: "processor_scanner_fake_jettons_total", Help: "Jetton notifications to deposits from wallets that are not ours (ignored)."}),
		unlinked: prometheus.NewCounter(prometheus.CounterOpts{Name: "processor_scanner_unlinked_blocks_total",
			Help: "Masterchain blocks refused because their prev_ref is not the block before them (a liteserver serving another chain)."}),
		deposits: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "processor_deposits_total", Help: "Credited deposits by currency."}, []string{"currency"}),
	}
	if reg != nil {
		reg.MustRegister(m.lastSeqno, m.lastUtime, m.lag, m.headSeqno, m.blocks, m.txs, m.errors, m.fakes, m.unlinked, m.deposits)
	}
	return m
}
