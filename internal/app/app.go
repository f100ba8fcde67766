// Package app wires the processor together: configuration, database,
// chain client, wallets, read models and the HTTP API. cmd/processor and the
// end-to-end tests use it, so tests run the same composition as production.
package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/xssnick/tonutils-go/address"
	tonutils "github.com/xssnick/tonutils-go/ton"

	"github.com/ton-custody/processor/internal/apierr"
	"github.com/ton-custody/processor/internal/blockscanner"
	"github.com/ton-custody/processor/internal/bridge"
	_ "github.com/ton-custody/processor/internal/bridge/highhelp"
	"github.com/ton-custody/processor/internal/bridge/nemo"
	_ "github.com/ton-custody/processor/internal/bridge/payfield"
	_ "github.com/ton-custody/processor/internal/bridge/paykassma"
	"github.com/ton-custody/processor/internal/config"
	"github.com/ton-custody/processor/internal/console"
	"github.com/ton-custody/processor/internal/httpapi"
	"github.com/ton-custody/processor/internal/leader"
	"github.com/ton-custody/processor/internal/ledger"
	"github.com/ton-custody/processor/internal/notify"
	"github.com/ton-custody/processor/internal/store"
	"github.com/ton-custody/processor/internal/ton"
	"github.com/ton-custody/processor/internal/wallets"
	"github.com/ton-custody/processor/internal/withdrawals"
)

// Options configure New.
type Options struct {
	Config *config.Config
	// LiteClient, when set, is used instead of connecting to Config.TONConfig
	// (an in-process tonsim for dev and tests).
	LiteClient tonutils.LiteClient
	Logger     *slog.Logger
	// Listener, when set, is served instead of listening on Config.APIListen.
	Listener net.Listener
	// ConsoleListener, when set, is served instead of listening on
	// Config.Console.Addr (with CONSOLE_ADDR set).
	ConsoleListener net.Listener
	// Tune adjusts the withdrawal worker's settings (tests shorten delays).
	Tune func(*withdrawals.WorkerConfig)
	// Getenv reads settings that are not in config.Config (the bridge's
	// BRIDGE_* variables); os.Getenv when nil.
	Getenv func(string) string
	// Role selects what this instance runs: RoleAll (default), RoleAPI
	// (the HTTP API only) or RoleWorkers (the background jobs, with only
	// /metrics, /healthz and /readyz on API_LISTEN).
	Role Role
}

func (o Options) getenv() func(string) string {
	if o.Getenv != nil {
		return o.Getenv
	}
	return os.Getenv
}

// Role is what an instance runs.
type Role string

// Roles.
const (
	RoleAll     Role = ""
	RoleAPI     Role = "api"
	RoleWorkers Role = "workers"
)

// App is a composed processor.
type App struct {
	role       Role
	hotBal     *hotBalance
	head       *headCache
	Config     *config.Config
	DB         *pgxpool.Pool
	Chain      *ton.Client
	Wallets    *wallets.Service
	Scanner    *blockscanner.Scanner
	Payouts    *withdrawals.Worker
	Bridge     *bridge.Service
	bridgeConf *bridge.Config
	bridgeOn   bool
	Notifiers  []*notify.Worker // one per configured notification sink
	// Reconciler compares the ledger with the chain (nil: off).
	Reconciler *ledger.Reconciler
	Registry   *prometheus.Registry
	API        *echo.Echo
	// Console is the operator console; nil unless CONSOLE_ENABLED.
	Console         *console.Console
	consoleListener net.Listener
	log             *slog.Logger
	listener        net.Listener
}

// NewLogger builds the process logger: JSON (production) or text.
func NewLogger(w io.Writer, format string, level slog.Level) *slog.Logger {
	opts := &slog.HandlerOptions{Level: level}
	if format == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}

// New connects to the database (applying migrations) and the chain and
// builds every component. Close releases them.
func New(ctx context.Context, opts Options) (_ *App, err error) {
	cfg := opts.Config
	if cfg == nil {
		return nil, errors.New("app: no configuration")
	}
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	// Settings to change that did not stop the start (gobicycle/bicycle's
	// variable names): said once, at start.
	for _, w := range cfg.Warnings {
		log.Warn("configuration warning", "warning", w)
	}
	a := &App{Config: cfg, log: log, Registry: prometheus.NewRegistry(), listener: opts.Listener, role: opts.Role,
		consoleListener: opts.ConsoleListener}
	defer func() {
		if err != nil {
			a.Close()
		}
	}()
	a.Registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	if a.DB, err = store.Open(ctx, cfg.DatabaseURL.Reveal()); err != nil {
		return nil, err
	}
	a.Registry.MustRegister(store.NewPoolCollector(a.DB))
	applied, err := store.Migrate(ctx, a.DB)
	if err != nil {
		return nil, err
	}
	if len(applied) > 0 {
		log.Info("database migrated", "applied", applied)
	}

	tonOpts := ton.Options{Registerer: a.Registry, Logger: log}
	if opts.LiteClient != nil {
		a.Chain = ton.New(opts.LiteClient, tonOpts)
	} else if a.Chain, err = ton.Connect(ctx, cfg.TONConfig, tonOpts); err != nil {
		return nil, fmt.Errorf("connect to TON (%s): %w", cfg.TONConfig, err)
	}

	keys, err := wallets.DeriveKeys(cfg.SeedWords())
	if err != nil {
		return nil, err
	}
	if a.Wallets, err = wallets.NewService(a.DB, a.Chain, keys, cfg); err != nil {
		return nil, err
	}
	var hot [32]byte
	copy(hot[:], a.Wallets.HotWalletAddress().Data())
	jettons := map[string]withdrawals.Jetton{}
	for _, j := range cfg.Jettons {
		jw, err := a.Chain.JettonWalletAddress(ctx, j.Master, a.Wallets.HotWalletAddress())
		if err != nil {
			return nil, fmt.Errorf("jetton %s: the hot wallet's jetton wallet: %w", j.Symbol, err)
		}
		jettons[j.Symbol] = withdrawals.Jetton{Symbol: j.Symbol, Master: j.Master, HotJettonWallet: jw, SweepThreshold: j.SweepThreshold}
	}
	outcomes := withdrawals.NewOutcomes(a.DB, a.Wallets.HotWalletAddress(), jettons, cfg.Network, log.With("component", "outcomes"))
	a.Registry.MustRegister(outcomes.Collectors()...)
	a.Scanner = blockscanner.New(a.DB, blockscanner.TonChain{API: a.Chain.API()}, enqueueDeposit,
		blockscanner.Config{Network: cfg.Network, StartBlock: cfg.ScannerStartBlock, HotWallet: hot, Hook: outcomes},
		a.Registry, log.With("component", "scanner"))
	// Before anything can enqueue: a sink gets the events enqueued after
	// its worker registered it.
	if a.Notifiers, err = newNotifiers(ctx, a.DB, cfg, a.Registry, log); err != nil {
		return nil, err
	}
	if err := a.Scanner.Init(ctx); err != nil {
		return nil, err
	}
	a.head = &headCache{scanner: a.Scanner, chain: blockscanner.TonChain{API: a.Chain.API()}}
	readModel, err := blockscanner.NewReadModel(a.DB, blockscanner.ReadModelConfig{Network: cfg.Network,
		CountingSide: cfg.IncomeCountingSide, AllowableLag: cfg.AllowableLag, Head: a.head.Head})
	if err != nil {
		return nil, err
	}
	wconf := withdrawals.WorkerConfig{Interval: cfg.WithdrawalBatchInterval, MinBalance: cfg.HotWalletMinBalance, Jettons: jettons, Network: cfg.Network,
		Sweeps: withdrawals.SweepConfig{Deposits: a.Wallets.Deposits(), TONThreshold: cfg.TONSweepThreshold},
		Cold:   withdrawals.ColdConfig{Address: cfg.ColdWallet, Max: cfg.HotWalletMaxBalance, Residual: cfg.HotWalletResidual}}
	if opts.Tune != nil {
		opts.Tune(&wconf)
	}
	a.Payouts = withdrawals.NewWorker(a.DB, a.Chain, a.Wallets.HotWallet(), wconf,
		func(ctx context.Context) bool {
			ok, _, err := readModel.SyncStatus(ctx)
			return err == nil && ok
		}, a.Registry, log.With("component", "withdrawals"))
	ceiling := &supplyCeiling{chain: a.Chain, masters: map[string]*address.Address{}, cached: map[string]cachedSupply{},
		log: log.With("component", "withdrawals")}
	for _, j := range cfg.Jettons {
		ceiling.masters[j.Symbol] = j.Master
	}
	requests, err := withdrawals.NewRequests(a.DB, withdrawals.RequestsConfig{HotWallet: a.Wallets.HotWalletAddress(), Limits: withdrawalLimits(cfg),
		ApprovalThresholds: cfg.ApprovalThresholds, Network: cfg.Network,
		Ceiling: ceiling.Ceiling, JettonMasters: ceiling.masters,
		JettonWallet: func(ctx context.Context, master, owner *address.Address) (*address.Address, error) {
			jw, err := a.Chain.JettonWalletAddress(ctx, master, owner)
			switch {
			case ton.IsNotInitialized(err):
				return nil, apierr.BadRequest("%s is not a deployed jetton master", master.String())
			case errors.Is(err, ton.ErrNotJettonMaster):
				return nil, apierr.BadRequest("%s is not a jetton master: it cannot answer get_wallet_address", master.String())
			}
			return jw, err
		}})
	if err != nil {
		return nil, err
	}
	if a.bridgeConf, err = bridge.LoadConfig(opts.getenv()); err != nil {
		return nil, err
	}
	breg, err := bridge.Build(a.bridgeConf, bridge.NewMetrics(a.Registry))
	if err != nil {
		return nil, err
	}
	a.bridgeOn = len(breg.Names()) > 0
	a.Bridge = bridge.NewService(a.DB, breg, bridge.ServiceOptions{PublicURL: a.bridgeConf.PublicURL,
		RecheckAfter: a.bridgeConf.ReconcileInterval, UnknownGiveUp: a.bridgeConf.UnknownGiveUp, Logger: log.With("component", "bridge")})
	a.Registry.MustRegister(newQueueCollector(a.DB, log))
	a.hotBal = newHotBalance(a.Chain, a.Wallets.HotWalletAddress(), cfg.HotWalletMinBalance, a.Registry)
	if cfg.LedgerReconcileInterval > 0 {
		rc := ledger.ReconcilerConfig{Hot: a.Wallets.HotWalletAddress(), HotJettons: map[string]*address.Address{}, Cold: cfg.ColdWallet,
			Dust: cfg.LedgerReconcileDust, Interval: cfg.LedgerReconcileInterval}
		for sym, j := range jettons {
			rc.HotJettons[sym] = j.HotJettonWallet
		}
		a.Reconciler = ledger.NewReconciler(a.DB, a.Chain, rc, a.Registry, log.With("component", "reconciliation"))
	}
	a.API, err = httpapi.New(httpapi.Options{Config: cfg, Wallets: walletsAPI{a.Wallets}, Resolver: resolverAPI{a.Chain},
		Incomes: readModel, Withdrawals: wakeOnCreate{requests, a.Payouts}, Sync: readModel, Registerer: a.Registry, Gatherer: a.Registry,
		Ready: a.ready, Logger: log,
		Mount: func(e *echo.Echo, auth echo.MiddlewareFunc) error {
			if err := bridge.NewAPI(a.Bridge).Register(e, auth); err != nil {
				return err
			}
			if err := ledger.NewAPI(a.DB, cfg.Currencies()).Register(e, auth); err != nil {
				return err
			}
			nemo.New(a.bridgeConf.Nemo, a.Bridge, nemo.Options{Logger: log.With("component", "nemo")}).Register(e)
			return nil
		}})
	if err != nil {
		return nil, err
	}
	if err := a.newConsole(ceiling.masters); err != nil {
		return nil, err
	}
	log.Info("processor ready", "network", string(cfg.Network), "hot_wallet", a.Wallets.FormatAddress(a.Wallets.HotWalletAddress(), true),
		"currencies", cfg.Currencies())
	return a, nil
}

// ready backs /readyz: the database answers.
func (a *App) ready(ctx context.Context) error {
	return a.DB.Ping(ctx)
}

// enqueueDeposit writes scanner events to the webhook outbox, in the
// scanner's transaction.
func enqueueDeposit(ctx context.Context, tx pgx.Tx, events []blockscanner.Event) error {
	out := make([]notify.Event, len(events))
	for i, ev := range events {
		out[i] = notify.Event{Topic: ev.Topic, ID: ev.ID, Payload: ev.Data}
	}
	_, err := notify.EnqueueAll(ctx, tx, out)
	return err
}

// Serve runs the HTTP API, the block scanner and the webhook worker until
// ctx ends, then shuts down gracefully.
func (a *App) Serve(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	defer wg.Wait()
	if a.role != RoleAPI {
		// Each job runs on exactly one instance: the holder of its advisory
		// lock (internal/leader); another takes over when it dies.
		jobs := map[string]func(context.Context) error{
			"scanner":     a.Scanner.Run,
			"withdrawals": a.Payouts.Run,
		}
		for _, w := range a.Notifiers {
			jobs[notifierJob(w.Sink().Name())] = w.Run
		}
		if a.bridgeOn {
			jobs["bridge-reconciler"] = bridge.ReconcilerFor(a.Bridge, a.bridgeConf).Run
		}
		if a.Reconciler != nil {
			jobs["ledger-reconciler"] = a.Reconciler.Run
		}
		for name, job := range jobs {
			e := &leader.Elector{DB: a.DB, Name: name, Log: a.log.With("component", "leader")}
			wg.Add(1)
			go func() {
				defer wg.Done()
				_ = e.Run(ctx, job)
			}()
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			a.hotBal.run(ctx, 15*time.Second)
		}()
	}
	var handler http.Handler = a.API
	if a.role == RoleWorkers {
		handler = a.opsHandler()
	}
	if a.Console != nil {
		if a.Config.Console.Addr == "" {
			handler = console.Mount(a.Console, handler)
		} else {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := a.serveConsole(ctx); err != nil {
					a.log.Error("console stopped", "err", err)
				}
			}()
		}
	}
	srv := httpapi.NewHTTPServer(a.Config.APIListen, handler, a.log)
	return a.serveHTTP(ctx, srv, a.listener, "API_LISTEN", "API listening", "role", string(a.role))
}

// serveHTTP serves srv on ln (nil: a new listener on srv.Addr, named by
// envName in errors), with TLS when configured, until ctx ends; then it
// shuts srv down gracefully. logAttrs go with the "listening" line.
func (a *App) serveHTTP(ctx context.Context, srv *http.Server, ln net.Listener, envName, listening string, logAttrs ...any) error {
	if ln == nil {
		var err error
		if ln, err = net.Listen("tcp", srv.Addr); err != nil {
			return fmt.Errorf("listen on %s (%s): %w", srv.Addr, envName, err)
		}
	}
	a.log.Info(listening, append([]any{"addr", ln.Addr().String(), "tls", a.Config.TLSCertFile != ""}, logAttrs...)...)
	errc := make(chan error, 1)
	go func() {
		if a.Config.TLSCertFile != "" {
			errc <- srv.ServeTLS(ln, a.Config.TLSCertFile, a.Config.TLSKeyFile)
			return
		}
		errc <- srv.Serve(ln)
	}()
	select {
	case err := <-errc:
		if errors.Is(err, http.ErrServerClosed) {
			return nil
		}
		return fmt.Errorf("%s server: %w", envName, err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	a.log.Info("shutting down", "server", envName)
	return srv.Shutdown(sctx)
}

// Close releases the database pool and the chain connection.
func (a *App) Close() {
	if a.Chain != nil {
		a.Chain.Close()
	}
	if a.DB != nil {
		a.DB.Close()
	}
}

// wakeOnCreate starts a batch as soon as a withdrawal is accepted, instead
// of at the next batch interval.
type wakeOnCreate struct {
	*withdrawals.Requests
	w *withdrawals.Worker
}

func (x wakeOnCreate) Create(ctx context.Context, req withdrawals.Request) (int64, error) {
	id, err := x.Requests.Create(ctx, req)
	if err == nil {
		x.w.Wake()
	}
	return id, err
}

// walletsAPI adapts wallets.Service to httpapi.Wallets.
type walletsAPI struct{ s *wallets.Service }

func (w walletsAPI) NewAddress(ctx context.Context, userID, currency string) (string, error) {
	addr, err := w.s.NewAddress(ctx, userID, currency)
	return addr, classifyWallets(err)
}

func (w walletsAPI) Addresses(ctx context.Context, userID string) ([]httpapi.Address, error) {
	list, err := w.s.Addresses(ctx, userID)
	if err != nil {
		return nil, classifyWallets(err)
	}
	out := make([]httpapi.Address, len(list))
	for i, a := range list {
		out[i] = httpapi.Address{Address: a.Address, Currency: a.Currency}
	}
	return out, nil
}

func (w walletsAPI) Balance(ctx context.Context, currency string, addr *address.Address) (*big.Int, string, error) {
	b, st, err := w.s.Balance(ctx, currency, addr)
	return b, st, classifyWallets(err)
}

func (w walletsAPI) HotWalletAddress() *address.Address { return w.s.HotWalletAddress() }

func classifyWallets(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, wallets.ErrUnknownCurrency), errors.Is(err, wallets.ErrInvalidUserID):
		return apierr.Mark(apierr.ErrBadRequest, err)
	}
	return err
}

// resolverAPI adapts the chain client's DNS to httpapi.Resolver.
type resolverAPI struct{ c *ton.Client }

func (r resolverAPI) ResolveWallet(ctx context.Context, domain string) (*address.Address, error) {
	a, err := r.c.ResolveWallet(ctx, domain)
	switch {
	case errors.Is(err, ton.ErrNotFound):
		return nil, apierr.NotFound("%s has no wallet record", domain)
	case errors.Is(err, ton.ErrInvalidDomain):
		return nil, apierr.Mark(apierr.ErrBadRequest, err)
	}
	return a, err
}

func withdrawalLimits(cfg *config.Config) map[string]withdrawals.Limit {
	out := make(map[string]withdrawals.Limit, len(cfg.WithdrawalLimits))
	for sym, l := range cfg.WithdrawalLimits {
		out[sym] = withdrawals.Limit{PerWithdrawal: l.PerWithdrawal, PerDay: l.PerDay}
	}
	return out
}
