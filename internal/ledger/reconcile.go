package ledger

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"sort"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/xssnick/tonutils-go/address"
	tonutils "github.com/xssnick/tonutils-go/ton"
)

// Chain is what reconciliation reads, at one pinned block (internal/ton).
type Chain interface {
	AccountStateAt(ctx context.Context, block *tonutils.BlockIDExt, addr *address.Address) (*big.Int, string, error)
	JettonBalanceAt(ctx context.Context, block *tonutils.BlockIDExt, jettonWallet *address.Address) (*big.Int, error)
}

// ReconcilerConfig configures a Reconciler.
type ReconcilerConfig struct {
	// Hot is the hot wallet; HotJettons its jetton wallet per symbol.
	Hot        *address.Address
	HotJettons map[string]*address.Address
	// Cold is the cold wallet (nil: not reconciled).
	Cold *address.Address
	// Dust is the TON difference per wallet that is not reported.
	Dust *big.Int
	// Interval is the period of Run (default 10 minutes).
	Interval time.Duration
	// Parallel bounds concurrent chain reads (default 8).
	Parallel int
}

// Difference is one wallet whose chain balance differs from its ledger
// balance by more than the dust: Difference = Chain - Ledger.
type Difference struct {
	Account    string `json:"account"`
	Address    string `json:"address"`
	Currency   string `json:"currency"`
	Ledger     string `json:"ledger_balance"`
	Chain      string `json:"chain_balance"`
	Difference string `json:"difference"`
}

// Report is one reconciliation run.
type Report struct {
	ID          int64        `json:"id"`
	MasterSeqno uint32       `json:"mc_seqno"`
	CheckedAt   time.Time    `json:"checked_at"`
	Accounts    int          `json:"accounts"`
	Dust        string       `json:"dust"`
	Differences []Difference `json:"differences"`
}

// Reconciler compares the ledger's balance of every wallet the processor
// controls with the chain at one masterchain block: the scanner's cursor,
// the block the ledger is complete up to. Run it on one instance
// (internal/leader).
type Reconciler struct {
	db    *pgxpool.Pool
	chain Chain
	conf  ReconcilerConfig
	log   *slog.Logger
	m     *reconcileMetrics
}

type reconcileMetrics struct {
	differences *prometheus.GaugeVec
	accounts    prometheus.Gauge
	block       prometheus.Gauge
	lastRun     prometheus.Gauge
	failures    prometheus.Counter
}

// NewReconciler creates the job; reg may be nil.
func NewReconciler(db *pgxpool.Pool, chain Chain, conf ReconcilerConfig, reg prometheus.Registerer, log *slog.Logger) *Reconciler {
	if conf.Interval <= 0 {
		conf.Interval = 10 * time.Minute
	}
	if conf.Parallel <= 0 {
		conf.Parallel = 8
	}
	if conf.Dust == nil {
		conf.Dust = new(big.Int)
	}
	if log == nil {
		log = slog.Default()
	}
	m := &reconcileMetrics{
		differences: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "processor_ledger_reconciliation_differences",
			Help: "Wallets whose chain balance differs from the ledger by more than the dust at the last reconciliation, by currency."}, []string{"currency"}),
		accounts: prometheus.NewGauge(prometheus.GaugeOpts{Name: "processor_ledger_reconciliation_accounts",
			Help: "Wallets compared with the chain at the last reconciliation."}),
		block: prometheus.NewGauge(prometheus.GaugeOpts{Name: "processor_ledger_reconciliation_block",
			Help: "Masterchain block of the last reconciliation."}),
		lastRun: prometheus.NewGauge(prometheus.GaugeOpts{Name: "processor_ledger_reconciliation_last_run_timestamp_seconds",
			Help: "When the last reconciliation finished (unix seconds)."}),
		failures: prometheus.NewCounter(prometheus.CounterOpts{Name: "processor_ledger_reconciliation_failures_total",
			Help: "Reconciliation runs that failed (chain or database errors)."}),
	}
	if reg != nil {
		reg.MustRegister(m.differences, m.accounts, m.block, m.lastRun, m.failures)
	}
	return &Reconciler{db: db, chain: chain, conf: conf, log: log, m: m}
}

// Run reconciles every Interval until ctx ends; errors are logged and
// counted, and the next run comes at the next interval.
func (r *Reconciler) Run(ctx context.Context) error {
	for {
		if _, err := r.Once(ctx); err != nil && ctx.Err() == nil {
			r.m.failures.Inc()
			r.log.Warn("ledger reconciliation failed", "err", err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(r.conf.Interval):
		}
	}
}

type wallet struct {
	account  string
	currency string
	addr     *address.Address // TON: the wallet; jettons: the jetton wallet
	owner    *address.Address
}

// Once reconciles now and stores the report.
func (r *Reconciler) Once(ctx context.Context) (*Report, error) {
	var block tonutils.BlockIDExt
	ledgerBal := map[[2]string]*big.Int{}
	var wallets []wallet
	err := pgx.BeginTxFunc(ctx, r.db, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		var seqno int64
		if err := tx.QueryRow(ctx, `SELECT mc_seqno, root_hash, file_hash FROM scanner_cursor`).Scan(&seqno, &block.RootHash, &block.FileHash); err != nil {
			return fmt.Errorf("scanner cursor: %w", err)
		}
		block.Workchain, block.Shard, block.SeqNo = -1, int64(-0x8000000000000000), uint32(seqno)
		rows, err := tx.Query(ctx, `SELECT account, currency, sum(amount)::text FROM ledger_entries
			WHERE account = 'hot' OR account LIKE 'deposit:%' OR account LIKE 'cold:%' GROUP BY account, currency`)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var a, c, v string
			if err := rows.Scan(&a, &c, &v); err != nil {
				return err
			}
			ledgerBal[[2]string{a, c}], _ = new(big.Int).SetString(v, 10)
		}
		if err := rows.Err(); err != nil {
			return err
		}
		rows.Close()
		rows, err = tx.Query(ctx, `SELECT currency, workchain, address, jetton_wallet_workchain, jetton_wallet FROM deposit_wallets
			WHERE derivation <> 'bicycle_proxy' ORDER BY id`)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var cur string
			var wc int32
			var a, jw []byte
			var jwc *int32
			if err := rows.Scan(&cur, &wc, &a, &jwc, &jw); err != nil {
				return err
			}
			owner := address.NewAddress(0, byte(wc), a)
			w := wallet{account: DepositRaw(wc, a), currency: cur, addr: owner, owner: owner}
			if jw != nil {
				w.addr = address.NewAddress(0, byte(*jwc), jw)
			}
			wallets = append(wallets, w)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("ledger: reconcile: read the ledger: %w", err)
	}
	wallets = append(wallets, wallet{account: Hot, currency: "TON", addr: r.conf.Hot, owner: r.conf.Hot})
	for sym, jw := range r.conf.HotJettons {
		wallets = append(wallets, wallet{account: Hot, currency: sym, addr: jw, owner: r.conf.Hot})
	}
	if r.conf.Cold != nil {
		wallets = append(wallets, wallet{account: Cold(r.conf.Cold), currency: "TON", addr: r.conf.Cold, owner: r.conf.Cold})
	}

	chainBal := make([]*big.Int, len(wallets))
	sem := make(chan struct{}, r.conf.Parallel)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	for i, w := range wallets {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			var b *big.Int
			var err error
			if w.currency == "TON" {
				b, _, err = r.chain.AccountStateAt(ctx, &block, w.addr)
			} else {
				b, err = r.chain.JettonBalanceAt(ctx, &block, w.addr)
			}
			if err != nil {
				mu.Lock()
				if firstErr == nil {
					firstErr = fmt.Errorf("%s %s: %w", w.account, w.currency, err)
				}
				mu.Unlock()
				return
			}
			chainBal[i] = b
		}()
	}
	wg.Wait()
	if firstErr != nil {
		return nil, fmt.Errorf("ledger: reconcile at block %d: %w", block.SeqNo, firstErr)
	}

	rep := &Report{MasterSeqno: block.SeqNo, Accounts: len(wallets), Dust: r.conf.Dust.String(), Differences: []Difference{}}
	byCurrency := map[string]int{"TON": 0}
	for sym := range r.conf.HotJettons {
		byCurrency[sym] = 0
	}
	for i, w := range wallets {
		l := ledgerBal[[2]string{w.account, w.currency}]
		if l == nil {
			l = new(big.Int)
		}
		d := new(big.Int).Sub(chainBal[i], l)
		tolerance := new(big.Int)
		if w.currency == "TON" {
			tolerance = r.conf.Dust
		}
		if new(big.Int).Abs(d).Cmp(tolerance) <= 0 {
			continue
		}
		byCurrency[w.currency]++
		rep.Differences = append(rep.Differences, Difference{Account: w.account, Address: w.addr.StringRaw(), Currency: w.currency,
			Ledger: l.String(), Chain: chainBal[i].String(), Difference: d.String()})
	}
	sort.Slice(rep.Differences, func(i, j int) bool {
		a, b := rep.Differences[i], rep.Differences[j]
		if a.Currency != b.Currency {
			return a.Currency < b.Currency
		}
		return a.Account < b.Account
	})
	diffs, err := json.Marshal(rep.Differences)
	if err != nil {
		return nil, err
	}
	if err := r.db.QueryRow(ctx, `INSERT INTO ledger_reconciliations (mc_seqno, accounts, dust, differences) VALUES ($1, $2, $3::numeric, $4::jsonb)
		RETURNING id, created_at`, int64(block.SeqNo), rep.Accounts, rep.Dust, string(diffs)).Scan(&rep.ID, &rep.CheckedAt); err != nil {
		return nil, fmt.Errorf("ledger: store reconciliation: %w", err)
	}
	for cur, n := range byCurrency {
		r.m.differences.WithLabelValues(cur).Set(float64(n))
	}
	r.m.accounts.Set(float64(rep.Accounts))
	r.m.block.Set(float64(block.SeqNo))
	r.m.lastRun.SetToCurrentTime()
	for _, d := range rep.Differences {
		r.log.Error("ledger and chain differ", "account", d.Account, "address", d.Address, "currency", d.Currency,
			"ledger_balance", d.Ledger, "chain_balance", d.Chain, "difference", d.Difference, "mc_seqno", block.SeqNo,
			"block_root_hash", hex.EncodeToString(block.RootHash))
	}
	if len(rep.Differences) == 0 {
		r.log.Info("ledger reconciled with the chain", "mc_seqno", block.SeqNo, "accounts", rep.Accounts)
	}
	return rep, nil
}

// ErrNoReport is returned by LastReport before the first reconciliation.
var ErrNoReport = errors.New("ledger: no reconciliation has run yet")

// LastReport returns the newest stored reconciliation.
func LastReport(ctx context.Context, q Querier) (*Report, error) {
	var rep Report
	var seqno int64
	var diffs []byte
	err := q.QueryRow(ctx, `SELECT id, mc_seqno, created_at, accounts, dust::text, differences FROM ledger_reconciliations ORDER BY id DESC LIMIT 1`).
		Scan(&rep.ID, &seqno, &rep.CheckedAt, &rep.Accounts, &rep.Dust, &diffs)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, ErrNoReport
	}
	if err != nil {
		return nil, fmt.Errorf("ledger: last reconciliation: %w", err)
	}
	rep.MasterSeqno = uint32(seqno)
	if err := json.Unmarshal(diffs, &rep.Differences); err != nil {
		return nil, err
	}
	return &rep, nil
}
