// Package soak is the fault and soak suite: it runs a local TON network
// (tonsim, in-process) and the processor as a child process (`processor
// serve`, so it can be killed with SIGKILL) on a throwaway PostgreSQL, drives
// a steady mix of deposits, duplicate-submitted withdrawals and the sweeps
// they cause for a fixed duration while injecting faults (processor kill -9,
// PostgreSQL restart, liteserver drops, stalls and lost externals, block
// production pauses, webhook receiver outages, shard split/merge, RabbitMQ
// broker outages), lets the
// system drain, then checks invariants against the chain and the database.
//
// With Options.BridgePerTick, fiat bridge payins and payouts go through
// /v1/bridge to the Payfield, HighHelp and Paykassma simulators (in-process;
// the processor's BRIDGE_* point at them), each create retried with the same
// body until answered, some sent twice at once or again after the answer.
// The driver plays the providers' side: once a simulator has a payment it
// moves it through a random plan (intermediate statuses, a final one, a
// refund after success, or none: left open). Provider callbacks reach the
// processor through a relay (BRIDGE_PUBLIC_URL) that holds some back, sends
// some twice and replays some seconds later and at the end of the traffic,
// on top of the simulators' own duplicates and reordering. Bridge faults:
// provider 500 before and after creating, timeouts with and without
// creating, malformed answers after creating, failing status calls, and the
// processor killed while a create call is at the provider (the first one
// early: the bridge polls a payment left in created only after a fixed
// one-minute grace); the TON faults (kill -9, PostgreSQL restart, webhook
// outages) hit the bridge too.
//
// Hostile traffic (issue 13; see hostile.go and jetton.go): the demo
// jetton's third-party deposits (with and without forward TON and a
// comment), their sweeps and jetton withdrawals; a cold wallet the hot
// wallet's excess goes to, with faucet top-ups pushing it over the maximum;
// one withdrawal above the hot wallet's balance, paid only after a large
// top-up; a burst of withdrawals (Options.BurstSize) with comments of 0 to
// 1000 bytes; withdrawals to masterchain addresses, which the API refuses.
// The network runs two liteservers, both in TON_CONFIG, so one can lag.
//
// Invariants (each failure is one violation in Result.Violations):
//
//   - Jettons: every jetton deposit is one USDT income (by its jetton
//     wallet's or notification transaction, its amount and owner) with a
//     deposit event, and there is no other; jetton sweeps settle; every
//     jetton withdrawal has one row and ends processed (the destination's
//     jetton wallet holds exactly the amount) or failed (it holds nothing);
//     the hot wallet holds minted + swept - paid.
//   - Cold wallet: it received exactly the processed cold transfers, each
//     once, and holds them (less its storage fee).
//   - Hostile requests: masterchain destinations answered 400 and nothing
//     stored; the oversized withdrawal stays pending while the hot wallet
//     cannot cover it.
//   - Timeouts: no withdrawal stays processing longer than the highload
//     timeout plus processingMargin after its batch was written (checked
//     every 3 s and at the end).
//   - Reserves: every amount reserved is released exactly once: no batch is
//     left sent, a processed withdrawal has exactly one live item, in a
//     confirmed batch, a failed one at most one, a pending one none; no cold
//     transfer is left open.
//   - Deposits: every faucet transfer to a deposit address is one incomes
//     row with its transaction hash, amount and deposit address; there are no
//     other incomes (sweeps, bounces and hot wallet transfers are not
//     deposits).
//   - Withdrawals: both submissions of a request got the same id and there
//     is one row per request; each ends processed or failed. Read from the
//     chain, over every transaction of the hot wallet: a processed
//     withdrawal's (fresh, unique) destination received exactly one message
//     from the hot wallet, of exactly the amount, and holds exactly the
//     amount; a failed one received at most one, which bounced back to the
//     hot wallet, and holds nothing (the money is back).
//   - Hot wallet outflow: the hot wallet sent nothing to any address other
//     than withdrawal destinations, and the sum of what reached destinations
//     and stayed there equals the sum of processed withdrawals.
//   - Sweeps: per deposit address, the hot wallet's incoming (non-bounced)
//     messages from it match its confirmed sweeps in count and total
//     received_amount; no sweep is left unsettled.
//   - Outbox: every income has exactly one deposit:<tx hash> event, every
//     final withdrawal exactly one withdrawal:<id>:<state> event and none for
//     the other state; every event is delivered (none given up); the webhook
//     receiver saw every event id at least once with a valid signature, never
//     an invalid signature and never an id the outbox does not hold.
//   - RabbitMQ (with Options.RabbitMQURL; faults, on a schedule of their
//     own beside the deck: the broker unreachable for seconds, live
//     connections cut): every outbox event is delivered
//     to the RabbitMQ sink (none given up) and reached the run's queue at
//     least once, as documented (at-least-once, the event id as message
//     id): none lost across the outages; a repeat carries the same body;
//     every message is persistent, routed by its event type, its body's
//     event_id its message id, and names an event the outbox holds.
//   - Bridge, API: a create answers 201 at most once per reference, every
//     other answer to the same request is 200 with that payment; a payment
//     answered is stored, with the kind, provider, amount and currency asked.
//   - Bridge, provider: at most one create request per reference reached
//     the provider (counted at the simulator); what it holds is the kind,
//     amount and currency asked; it holds nothing the processor did not store.
//   - Bridge, outcome: a payment ends in the provider's final state (mapped
//     here from each provider's documentation), or stays open (unknown,
//     created, submitted, ...); final without a provider record only as
//     rejected or failed; never final while the provider has it open.
//     (The bridge's alert for open payments that cannot settle is counted
//     where it exists; see "ALERT CHECK" in bridgecheck.go.)
//   - Bridge, history: it starts at created, never goes backwards (terminal
//     statuses are final except succeeded -> reversed, unknown only after
//     created, no lower non-terminal rank) and ends at the stored status.
//   - Bridge, webhooks: every status the history reached after created has
//     exactly one bridge:<reference>:<status> event, and there is none for a
//     status it never took; events are enqueued in a forward order; every
//     delivery's data names that payment and status (plus the outbox checks
//     above: delivered, seen, signed).
//   - Bridge, callbacks: no genuine provider callback (first delivery,
//     duplicate or late replay within the signature window) is refused with
//     a 4xx; 5xx only while the processor or its database is down.
package soak

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/xssnick/tonutils-go/address"
	"github.com/xssnick/tonutils-go/ton/wallet"

	"github.com/ton-custody/processor/internal/config"
	"github.com/ton-custody/processor/internal/devdb"
	"github.com/ton-custody/processor/internal/tonaddr"
	"github.com/ton-custody/processor/internal/tonsim"
	"github.com/ton-custody/processor/internal/wallets"
)

// Options configure Run. Zero values get the defaults in brackets.
type Options struct {
	Duration           time.Duration // traffic and faults [10m]
	Tick               time.Duration // traffic period [2s]
	DepositsPerTick    int           // [2]
	WithdrawalsPerTick int           // [2]
	Faults             bool          // inject faults
	FaultEvery         time.Duration // mean time between faults [8s]
	Seed               int64         // random choices (0: from the clock)
	DrainTimeout       time.Duration // after traffic, how long to wait for everything to settle [120s]
	BlockInterval      time.Duration // tonsim block interval [500ms]
	// BridgePerTick is the number of fiat bridge payments (payins and
	// payouts at the Payfield, HighHelp and Paykassma simulators) created
	// per tick; 0: no bridge traffic.
	BridgePerTick int
	// BridgeUnknownGiveUp is the processor's BRIDGE_UNKNOWN_GIVE_UP [20s]:
	// short, so the path that gives up on unknown payments is exercised.
	BridgeUnknownGiveUp time.Duration
	// BurstSize is the number of withdrawals submitted at once, with
	// comments of mixed length up to 1000 bytes, once in the middle of the
	// traffic; 0: no burst.
	BurstSize int
	// JettonDepositsPerTick and JettonWithdrawalsPerTick are the demo
	// jetton's (USDT) third-party deposits and payouts per tick.
	JettonDepositsPerTick, JettonWithdrawalsPerTick int
	// MasterchainEvery is how many ticks apart a withdrawal to a masterchain
	// address is tried (the API must refuse it) [5].
	MasterchainEvery int
	// RabbitMQURL is a RabbitMQ broker (amqp://user:password@host:port/vhost)
	// the processor also publishes every event to, through a proxy the
	// broker outage fault cuts; the run uses an exchange and a queue of its
	// own there and deletes them. Empty: no RabbitMQ sink. A broker that
	// does not answer fails the run's setup.
	RabbitMQURL string

	// DatabaseURL, when set, is an existing empty database; the PostgreSQL
	// restart fault is then skipped. Empty: a throwaway server (devdb).
	DatabaseURL string
	// ProcessorBin is a built cmd/processor; empty: built from ModuleDir.
	ProcessorBin string
	// ModuleDir is the module root; empty: found from the working directory.
	ModuleDir string
	// WorkDir holds the processor binary, its log and the global config;
	// empty: a temporary directory, removed unless KeepWorkDir.
	WorkDir     string
	KeepWorkDir bool
	// Progress receives one line per phase and fault; nil: nothing.
	Progress io.Writer
	// Emulator, when set, is reused (tests share one); else opened here.
	Emulator *tonsim.Emulator
}

func (o *Options) defaults() {
	if o.Duration <= 0 {
		o.Duration = 10 * time.Minute
	}
	if o.Tick <= 0 {
		o.Tick = 2 * time.Second
	}
	if o.DepositsPerTick < 0 {
		o.DepositsPerTick = 0
	}
	if o.WithdrawalsPerTick < 0 {
		o.WithdrawalsPerTick = 0
	}
	if o.FaultEvery <= 0 {
		o.FaultEvery = 8 * time.Second
	}
	if o.Seed == 0 {
		o.Seed = time.Now().UnixNano()
	}
	if o.DrainTimeout <= 0 {
		o.DrainTimeout = 120 * time.Second
	}
	if o.BlockInterval <= 0 {
		o.BlockInterval = 500 * time.Millisecond
	}
	if o.BridgePerTick < 0 {
		o.BridgePerTick = 0
	}
	if o.MasterchainEvery <= 0 {
		o.MasterchainEvery = 5
	}
	if o.BridgeUnknownGiveUp <= 0 {
		o.BridgeUnknownGiveUp = 20 * time.Second
	}
}

const (
	apiToken      = "soak-token-0123456789abcdef"
	webhookSecret = "soak-webhook-secret-0123456789"
	// highloadTimeout is short so lost batches expire (and are replaced)
	// within a soak run.
	highloadTimeout = "10s"
	sweepThreshold  = 1_000_000_000 // 1 TON
	withdrawUser    = "soak-payouts"
)

// driver is one run's state.
type driver struct {
	opts     Options
	rng      *rand.Rand
	rngMu    sync.Mutex
	frng     *rand.Rand // fault schedule (faultLoop only)
	net      *tonsim.Network
	db       *pgxpool.Pool
	dbsrv    *devdb.Server
	proc     *supervisor
	hook     *receiver
	mq       *rabbitRun // nil without RabbitMQ
	api      *apiClient
	hot      *address.Address
	cold     *address.Address
	jetton   *address.Address // the demo jetton's master
	res      *Result
	resMu    sync.Mutex
	progress io.Writer

	br              *bridgeState  // nil without bridge traffic
	highloadTimeout time.Duration // the processor's HIGHLOAD_TIMEOUT
	faultMu         sync.Mutex    // one processor or database fault at a time
	drainDeadline   time.Time

	mu          sync.Mutex
	deposits    []*deposit
	withdrawals []*withdrawal
	depAddrs    []*depositAddr
	masterchain []*masterchainRequest
	jettonDeps  []*jettonDeposit
	jettonWs    []*withdrawal
	nextUser    int
	nextW       int
}

func (d *driver) logf(format string, a ...any) {
	if d.progress != nil {
		fmt.Fprintf(d.progress, "%s soak: %s\n", time.Now().Format("15:04:05.000"), fmt.Sprintf(format, a...))
	}
}

func (d *driver) intn(n int) int {
	d.rngMu.Lock()
	defer d.rngMu.Unlock()
	return d.rng.IntN(n)
}

func (d *driver) int64n(n int64) int64 {
	d.rngMu.Lock()
	defer d.rngMu.Unlock()
	return d.rng.Int64N(n)
}

func (d *driver) note(format string, a ...any) {
	d.resMu.Lock()
	d.res.Notes = append(d.res.Notes, fmt.Sprintf(format, a...))
	d.resMu.Unlock()
}

func (d *driver) count(counter *int) {
	d.resMu.Lock()
	*counter++
	d.resMu.Unlock()
}

// Run executes one soak run. It returns an error when the run could not be
// carried out (setup failed); invariant violations are in the Result.
func Run(ctx context.Context, opts Options) (res *Result, err error) {
	opts.defaults()
	start := time.Now()
	d := &driver{opts: opts, rng: rand.New(rand.NewPCG(uint64(opts.Seed), 0x50a4)),
		frng: rand.New(rand.NewPCG(uint64(opts.Seed), 0xfa17)), progress: opts.Progress,
		res: &Result{Seed: opts.Seed, Faults: map[string]int{}, Traffic: map[string]int{}, FaultsEnabled: opts.Faults}}
	var cleanups []func()
	defer func() {
		for i := len(cleanups) - 1; i >= 0; i-- {
			cleanups[i]()
		}
	}()

	// Work directory.
	work := opts.WorkDir
	if work == "" {
		if work, err = os.MkdirTemp("", "processor-soak-"); err != nil {
			return nil, fmt.Errorf("work directory: %w", err)
		}
		if !opts.KeepWorkDir {
			cleanups = append(cleanups, func() { _ = os.RemoveAll(work) })
		}
	} else if err := os.MkdirAll(work, 0o755); err != nil {
		return nil, fmt.Errorf("work directory: %w", err)
	}
	d.res.WorkDir = work

	// Database.
	dbURL := opts.DatabaseURL
	if dbURL == "" {
		d.logf("starting a throwaway PostgreSQL")
		if d.dbsrv, err = devdb.Start(ctx); err != nil {
			return nil, fmt.Errorf("throwaway PostgreSQL (or set a database URL): %w", err)
		}
		cleanups = append(cleanups, func() { _ = d.dbsrv.Stop() })
		dbURL = d.dbsrv.URL
		// The throwaway server runs with synchronous_commit=off, which loses
		// the last commits in a crash: the restart fault (a crash, immediate
		// mode) would then roll the database back in time, which no
		// processor can survive and no production setup does. Commits are
		// durable against a process crash with synchronous_commit on (fsync
		// off only matters when the OS crashes).
		if err := durableCommits(ctx, dbURL); err != nil {
			return nil, err
		}
	} else {
		d.note("external database: the PostgreSQL restart fault is not injected")
	}
	if d.db, err = pgxpool.New(ctx, dbURL); err != nil {
		return nil, fmt.Errorf("database pool: %w", err)
	}
	cleanups = append(cleanups, d.db.Close)

	// The processor binary.
	bin := opts.ProcessorBin
	if bin == "" {
		mod := opts.ModuleDir
		if mod == "" {
			wd, err := os.Getwd()
			if err != nil {
				return nil, fmt.Errorf("working directory: %w", err)
			}
			if mod, err = moduleRoot(wd); err != nil {
				return nil, err
			}
		}
		d.logf("building cmd/processor")
		if bin, err = buildProcessor(ctx, mod, work); err != nil {
			return nil, err
		}
	}

	// The TON network.
	emu := opts.Emulator
	if emu == nil {
		d.logf("opening the TON emulator")
		if emu, err = tonsim.OpenEmulator(ctx, "", 0); err != nil {
			return nil, fmt.Errorf("TON emulator: %w", err)
		}
		cleanups = append(cleanups, func() { _ = emu.Close(context.Background()) })
	}
	d.net, err = tonsim.Start(ctx, emu, emu.Contracts, tonsim.Options{BlockInterval: opts.BlockInterval, LiteAddr: "127.0.0.1:0",
		// Two liteservers, both in the processor's TON_CONFIG, so one can lag
		// (FaultLiteLag) while the other is current.
		LiteServers: 2,
		Logger:      slog.New(slog.DiscardHandler)})
	if err != nil {
		return nil, fmt.Errorf("tonsim: %w", err)
	}
	cleanups = append(cleanups, func() { _ = d.net.Close() })
	jctx, jcancel := context.WithTimeout(ctx, 60*time.Second)
	// USDT-style (governed, wallet code as a masterchain library): the
	// jetton exchanges see most.
	jt, err := d.net.DeployJettonKind(jctx, jettonSymbol, 6, tonsim.JettonGoverned)
	if err == nil {
		d.jetton = jt.Master
		_, err = d.net.Mint(jctx, d.jetton, d.net.Genesis.WalletAddress(), big.NewInt(jettonGenesis))
	}
	jcancel()
	if err != nil {
		return nil, fmt.Errorf("demo jetton: %w", err)
	}
	gc, err := d.net.GlobalConfig()
	if err != nil {
		return nil, fmt.Errorf("tonsim global config: %w", err)
	}
	gcJSON, err := json.Marshal(gc)
	if err != nil {
		return nil, fmt.Errorf("global config: %w", err)
	}
	gcPath := filepath.Join(work, "global.config.json")
	if err := os.WriteFile(gcPath, gcJSON, 0o644); err != nil {
		return nil, fmt.Errorf("global config: %w", err)
	}

	// Webhook receiver.
	if d.hook, err = startReceiver(webhookSecret); err != nil {
		return nil, err
	}
	cleanups = append(cleanups, d.hook.close)

	// RabbitMQ: this run's exchange and queue, behind a proxy.
	if opts.RabbitMQURL != "" {
		if d.mq, err = startRabbit(ctx, opts.RabbitMQURL); err != nil {
			return nil, err
		}
		cleanups = append(cleanups, d.mq.close)
		d.res.RabbitMQ = true
	}

	// The processor's configuration and hot wallet.
	apiAddr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	env := map[string]string{
		"DATABASE_URL":              dbURL,
		"TON_NETWORK":               "testnet",
		"TON_CONFIG":                gcPath,
		"SEED":                      strings.Join(wallet.NewSeed(), " "),
		"API_TOKEN":                 apiToken,
		"API_LISTEN":                apiAddr,
		"WEBHOOK_URL":               d.hook.URL,
		"WEBHOOK_SECRET":            webhookSecret,
		"HIGHLOAD_TIMEOUT":          highloadTimeout,
		"TON_SWEEP_THRESHOLD":       fmt.Sprint(sweepThreshold),
		"WITHDRAWAL_BATCH_INTERVAL": "1s",
		"LOG_LEVEL":                 "warn",
		"LEDGER_RECONCILE_INTERVAL": reconcileEvery.String(),
		"JETTONS":                   fmt.Sprintf("%s:%s:%d", jettonSymbol, d.jetton.String(), jettonThreshold),
		"COLD_WALLET":               tonaddr.Format(coldAddr(opts.Seed), config.Testnet, false),
		"HOT_WALLET_MAX_BALANCE":    fmt.Sprint(int64(coldMax)),
		"HOT_WALLET_RESIDUAL":       fmt.Sprint(int64(coldResidual)),
	}
	d.cold = coldAddr(opts.Seed)
	if d.mq != nil {
		env["RABBITMQ_URL"] = d.mq.processorURL()
		env["RABBITMQ_EXCHANGE"] = d.mq.exchange
		env["RABBITMQ_QUEUE"] = d.mq.queue
	}
	if opts.BridgePerTick > 0 {
		benv, err := d.startBridge("http://" + apiAddr)
		if err != nil {
			return nil, err
		}
		cleanups = append(cleanups, d.closeBridge)
		for k, v := range benv {
			env[k] = v
		}
		d.res.Bridge.Enabled, d.res.Bridge.UnknownGiveUp = true, opts.BridgeUnknownGiveUp
	}
	cfg, err := config.Load(func(k string) string { return env[k] })
	if err != nil {
		return nil, fmt.Errorf("processor configuration: %w", err)
	}
	keys, err := wallets.DeriveKeys(cfg.SeedWords())
	if err != nil {
		return nil, fmt.Errorf("keys: %w", err)
	}
	hw, err := wallets.NewHotWallet(keys, cfg.HighloadTimeout)
	if err != nil {
		return nil, fmt.Errorf("hot wallet: %w", err)
	}
	d.hot = hw.Address()
	d.highloadTimeout = cfg.HighloadTimeout
	fctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	hotFunded, err := d.net.Faucet(fctx, d.hot, big.NewInt(hotFunding), false, "soak hot wallet")
	var hotMinted *tonsim.TxResult
	if err == nil {
		hotMinted, err = d.net.Mint(fctx, d.jetton, d.hot, big.NewInt(jettonHot))
	}
	cancel()
	if err != nil {
		return nil, fmt.Errorf("fund the hot wallet: %w", err)
	}

	// The processor.
	d.api = newAPIClient("http://"+apiAddr, apiToken)
	d.proc = newSupervisor(bin, env, filepath.Join(work, "processor.log"), "http://"+apiAddr)
	cleanups = append(cleanups, d.proc.stop)
	if err := d.proc.start(); err != nil {
		return nil, err
	}
	if err := d.proc.waitReady(ctx, 60*time.Second); err != nil {
		return nil, err
	}
	// The funding above, booked once the processor has made its tables.
	d.bookFunding(ctx, fundingRef(hotFunded.Hash), "TON", big.NewInt(hotFunding))
	d.bookFunding(ctx, fundingRef(hotMinted.Hash), jettonSymbol, big.NewInt(jettonHot))
	d.res.SetupTime = time.Since(start)
	d.logf("setup done in %s; traffic for %s (faults: %v, seed %d)", d.res.SetupTime.Round(time.Millisecond), opts.Duration, opts.Faults, opts.Seed)

	// The providers' side of bridge payments runs through the drain.
	var settler sync.WaitGroup
	sctx, stopSettler := context.WithCancel(ctx)
	defer stopSettler()
	if d.br != nil {
		settler.Add(1)
		go func() {
			defer settler.Done()
			d.settleLoop(sctx)
		}()
	}

	// The processing watchdog runs through the traffic and the drain.
	var watch sync.WaitGroup
	wctx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	watch.Add(1)
	go func() {
		defer watch.Done()
		d.watchProcessing(wctx)
	}()

	// Traffic and faults.
	trafficStart := time.Now()
	d.runTraffic(ctx)
	d.res.TrafficTime = time.Since(trafficStart)

	// Drain: faults off, processor up, everything settles.
	drainStart := time.Now()
	d.net.ClearFaults()
	d.hook.up()
	d.brokerUp()
	if err := d.proc.waitReady(ctx, 60*time.Second); err != nil {
		d.violation("processor does not come back after the faults: %v", err)
	}
	if d.br != nil {
		// Late callbacks: a sample of old ones again, mostly for payments
		// that have moved on since.
		stats, _, _ := d.br.relay.snapshot()
		n := d.br.relay.burst(min(40, stats.Received/4))
		d.logf("replaying %d old callbacks", n)
	}
	d.logf("draining (up to %s)", opts.DrainTimeout)
	settled := d.drain(ctx)
	d.res.DrainTime = time.Since(drainStart)
	stopSettler()
	settler.Wait()
	stopWatch()
	watch.Wait()
	if !settled {
		d.note("not everything settled within the drain timeout %s; the checks below say what", opts.DrainTimeout)
	}
	d.logf("checking invariants")
	checkStart := time.Now()
	if err := d.check(ctx); err != nil {
		return d.res, fmt.Errorf("invariant checks could not run: %w", err)
	}
	if err := d.checkLedger(ctx, checkStart); err != nil {
		return d.res, fmt.Errorf("ledger checks could not run: %w", err)
	}
	starts, kills, unplanned := d.proc.stats()
	d.res.ProcessorStarts, d.res.Kills = starts, kills
	d.res.UnplannedExits = unplanned
	d.res.Elapsed = time.Since(start)
	return d.res, nil
}

func (d *driver) violation(format string, a ...any) {
	d.resMu.Lock()
	d.res.Violations = append(d.res.Violations, fmt.Sprintf(format, a...))
	d.resMu.Unlock()
}

// depositAddr is a deposit address the driver created.
type depositAddr struct {
	user string
	addr *address.Address
}

// deposit is a faucet transfer to a deposit address.
type deposit struct {
	to     *depositAddr
	amount *big.Int
	txHash []byte
}

// withdrawal is one request, submitted twice.
type withdrawal struct {
	queryID    string
	dest       *address.Address
	destText   string
	bounceable bool
	amount     *big.Int
	currency   string   // "": TON
	comment    string   // "": "soak <query id>"
	ids        [2]int64 // the id each submission got (0: none)
	errs       []string
}

// durableCommits turns synchronous_commit on for every new session of the
// database (a per-database setting overrides the server's command line).
func durableCommits(ctx context.Context, dbURL string) error {
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		return fmt.Errorf("database: %w", err)
	}
	defer func() { _ = conn.Close(context.Background()) }()
	if _, err := conn.Exec(ctx, `ALTER DATABASE postgres SET synchronous_commit = on`); err != nil {
		return fmt.Errorf("synchronous_commit: %w", err)
	}
	var v string
	c2, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		return fmt.Errorf("database: %w", err)
	}
	defer func() { _ = c2.Close(context.Background()) }()
	if err := c2.QueryRow(ctx, `SHOW synchronous_commit`).Scan(&v); err != nil || v != "on" {
		return fmt.Errorf("synchronous_commit is %q after ALTER DATABASE (%v)", v, err)
	}
	return nil
}
