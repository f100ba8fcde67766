// Command processor is the TON custody processor.
//
//	processor [serve]   run the API and background workers (default)
//	processor migrate   apply database migrations and exit
//	processor dev       a local TON network + database + the processor, seeded
//
// Configuration comes from environment variables; see README.md or
// `processor help`.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/xssnick/tonutils-go/ton/wallet"

	"github.com/ton-custody/processor/internal/app"
	"github.com/ton-custody/processor/internal/bridge"
	"github.com/ton-custody/processor/internal/config"
	"github.com/ton-custody/processor/internal/store"
	"github.com/ton-custody/processor/internal/tonaddr"
	"github.com/ton-custody/processor/internal/wallets"
	"github.com/ton-custody/processor/internal/withdrawals"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	restore := func() {}
	if len(os.Args) > 1 && os.Args[1] == "dev" {
		ctx, stop = withCancel(ctx, stop)
		restore = stopOnCtrlC(os.Stdin, stop)
	}
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout)
	restore()
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "processor:", err)
		os.Exit(1)
	}
}

// openDB opens DATABASE_URL alone, for commands that need nothing else.
func openDB(ctx context.Context, getenv func(string) string) (*pgxpool.Pool, error) {
	url, err := config.LoadDatabaseURL(getenv)
	if err != nil {
		return nil, err
	}
	return store.Open(ctx, url)
}

// withCancel adds a cancel to ctx; the returned stop runs both.
func withCancel(ctx context.Context, stop context.CancelFunc) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(ctx)
	return ctx, func() { cancel(); stop() }
}

const usage = `usage: processor [serve [--api-only|--workers-only]|migrate|hot-wallet|new-seed|resume-withdrawals NOTE|takeover-bicycle ...|
                 withdrawal ...|withdrawals ...|operator ...|ledger-backfill|ledger-adjust ...|dev|help]

  serve    run the API and background workers (default); several replicas
           may share one database: each background job runs on the one
           holding its advisory lock. --api-only serves only the API;
           --workers-only runs only the jobs (with /metrics, /healthz and
           /readyz on API_LISTEN)
  migrate  apply database migrations and exit
  hot-wallet
           print the hot wallet's address (bounceable) from SEED/SEED_FILE,
           HIGHLOAD_TIMEOUT and TON_NETWORK, offline: fund this address
  resume-withdrawals NOTE
           restart withdrawals stopped because a batch declared expired
           executed (log line CRITICAL, metric processor_withdrawals_halted);
           NOTE says who checked the batch's withdrawals and what was found
  new-seed print a new random 24-word mnemonic (keep it secret; store it
           in a file for SEED_FILE)
  takeover-bicycle [--dry-run] --bicycle-db URL [--proxy-code FILE]
           adopt a stopped gobicycle/bicycle deployment (SEED = its seed):
           import its addresses, history, withdrawals and scan position;
           takeover-bicycle sweep-proxies|move-hot move its funds (README:
           Switching from bicycle: takeover runbook)
  withdrawal approve|reject ID --operator NAME --reason TEXT
           approve or reject a withdrawal awaiting approval (above
           APPROVAL_THRESHOLDS); APPROVALS_REQUIRED distinct operators other
           than its creator and last changer approve it (README: Withdrawal
           controls)
  withdrawals pause|resume CURRENCY --operator NAME --reason TEXT
           stop or restart batching a currency's withdrawals (kill switch;
           pause: approver or admin, resume: admin)
  operator add|reset NAME --role viewer|approver|admin
           create an operator or give it a new password, TOTP secret and
           role; the password is read from OPERATOR_PASSWORD or the first
           line of standard input, the TOTP secret printed once as an
           otpauth:// URI
  operator disable NAME [--reason TEXT]
           disable an operator
  ledger-backfill
           build the ledger from the rows of events settled before it
           existed (deposits, withdrawals, sweeps, service withdrawals,
           cold transfers); safe to run again
  ledger-adjust REF ACCOUNT CURRENCY AMOUNT
           book a signed AMOUNT (base units) on ACCOUNT (hot, cold:..,
           deposit:..) against external, once per REF: the hot wallet's
           funding, or a reconciliation difference a person explained
  dev      start a local TON network, a throwaway database (unless
           DATABASE_URL is set) and the processor, seeded; prints the API
           token, URLs and curl lines. Ctrl-C cleans up.

Environment variables:
`

func run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	cmd, flags := "serve", []string(nil)
	if len(args) > 0 {
		cmd, flags = args[0], args[1:]
	}
	switch cmd {
	case "serve":
		role := app.RoleAll
		for _, f := range flags {
			switch f {
			case "--api-only":
				role = app.RoleAPI
			case "--workers-only":
				role = app.RoleWorkers
			default:
				return errors.New("unknown flag " + f + "\n" + usage)
			}
		}
		cfg, err := config.Load(getenv)
		if err != nil {
			return err
		}
		log := app.NewLogger(os.Stderr, cfg.LogFormat, cfg.LogLevel)
		a, err := app.New(ctx, app.Options{Config: cfg, Logger: log, Role: role})
		if err != nil {
			return err
		}
		defer a.Close()
		return a.Serve(ctx)
	case "migrate":
		pool, err := openDB(ctx, getenv)
		if err != nil {
			return err
		}
		defer pool.Close()
		applied, err := store.Migrate(ctx, pool)
		if err != nil {
			return err
		}
		slog.Info("migrations applied", "count", len(applied), "names", applied)
		return nil
	case "resume-withdrawals":
		// Recorded with the halt: who resumed (from flags) after checking.
		by := strings.Join(flags, " ")
		if by == "" {
			return errors.New("resume-withdrawals needs a note of who checked what, e.g. processor resume-withdrawals 'alice: batch 12 checked, no double payment'")
		}
		pool, err := openDB(ctx, getenv)
		if err != nil {
			return err
		}
		defer pool.Close()
		reasons, err := withdrawals.Resume(ctx, pool, by)
		if err != nil {
			return err
		}
		if len(reasons) == 0 {
			fmt.Fprintln(stdout, "withdrawals were not stopped")
		}
		for _, r := range reasons {
			fmt.Fprintln(stdout, "cleared:", r)
		}
		return nil
	case "hot-wallet":
		cfg, err := config.LoadKeys(getenv)
		if err != nil {
			return err
		}
		hot, err := wallets.HotWalletOf(cfg)
		if err != nil {
			return err
		}
		fmt.Fprintln(stdout, tonaddr.Format(hot.Address(), cfg.Network, true))
		return nil
	case "new-seed":
		fmt.Fprintln(stdout, strings.Join(wallet.NewSeed(), " "))
		return nil
	case "takeover-bicycle":
		return takeoverBicycle(ctx, flags, getenv, stdout)
	case "withdrawal":
		return withdrawalCommand(ctx, flags, getenv, stdout)
	case "withdrawals":
		return withdrawalsCommand(ctx, flags, getenv, stdout)
	case "operator":
		return operatorCommand(ctx, flags, getenv, stdout)
	case "ledger-backfill", "ledger-adjust":
		return ledgerCommand(ctx, cmd, flags, getenv, stdout)
	case "dev":
		return app.Dev(ctx, app.DevOptions{Getenv: getenv, Out: stdout})
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage+config.Doc()+"\nFiat bridge (see README, Fiat bridge):\n"+bridge.Doc()+
			"\nbicycle's variable names, read as aliases with a warning (ours win):\n"+config.BicycleDoc())
		return nil
	}
	return errors.New("unknown command " + cmd + "\n" + usage)
}
