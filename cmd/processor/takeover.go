package main

import (
	"context"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/xssnick/tonutils-go/tlb"
	"github.com/xssnick/tonutils-go/tvm/cell"

	"github.com/ton-custody/processor/internal/app"
	"github.com/ton-custody/processor/internal/config"
	"github.com/ton-custody/processor/internal/store"
	"github.com/ton-custody/processor/internal/takeover"
	"github.com/ton-custody/processor/internal/ton"
	"github.com/ton-custody/processor/internal/wallets"
)

const takeoverUsage = `usage: processor takeover-bicycle [--dry-run] --bicycle-db URL [--proxy-code FILE] [--quiet 2m] [--watch 10s]
       processor takeover-bicycle sweep-proxies [--dry-run] [--no-wait]
       processor takeover-bicycle move-hot [--dry-run] [--keep TON] [--no-wait]

Adopts a gobicycle/bicycle deployment (README: Switching from bicycle:
takeover runbook). Runs with the environment of processor serve, whose
SEED must be bicycle's SEED; --bicycle-db (or BICYCLE_DATABASE_URL) is
bicycle's PostgreSQL (its DB_URI), only read.

  (import)       imports deposit addresses, history, withdrawals and the
                 scan position, stage by stage; refuses while bicycle
                 writes to its database; --dry-run prints what it would
                 import and every discrepancy. --proxy-code is bicycle's
                 jetton proxy code (BoC file, binary or hex), needed when
                 bicycle has jetton deposits.
  sweep-proxies  moves the jettons (or TON) of bicycle's jetton deposit
                 addresses to this processor's hot wallet through
                 bicycle's hot wallet; run it whenever they hold funds.
  move-hot       moves bicycle's hot wallet's TON (keeping --keep, default
                 1 TON, for sweep-proxies) and jettons to this processor's
                 hot wallet.
`

func takeoverBicycle(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	sub := ""
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		sub, args = args[0], args[1:]
	}
	fs := flag.NewFlagSet("takeover-bicycle", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	dry := fs.Bool("dry-run", false, "")
	bicycleDB := fs.String("bicycle-db", getenv("BICYCLE_DATABASE_URL"), "")
	proxyCode := fs.String("proxy-code", "", "")
	quiet := fs.Duration("quiet", takeover.DefaultQuiet, "")
	watch := fs.Duration("watch", takeover.DefaultWatch, "")
	keep := fs.String("keep", "1", "")
	noWait := fs.Bool("no-wait", false, "")
	if err := fs.Parse(args); err != nil || fs.NArg() > 0 {
		if err == nil {
			err = fmt.Errorf("unexpected argument %q", fs.Arg(0))
		}
		return fmt.Errorf("%w\n%s", err, takeoverUsage)
	}
	switch sub {
	case "", "sweep-proxies", "move-hot":
	default:
		return fmt.Errorf("unknown takeover-bicycle command %q (usage: %s)", sub, strings.TrimSpace(takeoverUsage))
	}
	if sub == "" && *bicycleDB == "" {
		return fmt.Errorf("takeover-bicycle needs bicycle's database: --bicycle-db URL or BICYCLE_DATABASE_URL (usage: %s)", strings.TrimSpace(takeoverUsage))
	}
	cfg, err := config.Load(getenv)
	if err != nil {
		return err
	}
	keys, err := wallets.DeriveKeys(cfg.SeedWords())
	if err != nil {
		return err
	}
	ours, err := store.Open(ctx, cfg.DatabaseURL.Reveal())
	if err != nil {
		return err
	}
	defer ours.Close()
	// The import writes through this processor's schema: it must be current.
	if _, err := store.Migrate(ctx, ours); err != nil {
		return err
	}
	log := app.NewLogger(os.Stderr, cfg.LogFormat, cfg.LogLevel)
	client, err := ton.Connect(ctx, cfg.TONConfig, ton.Options{Logger: log})
	if err != nil {
		return fmt.Errorf("connect to TON (%s): %w", cfg.TONConfig, err)
	}
	defer client.Close()
	chain := takeover.TonChain{C: client}

	switch sub {
	case "":
		var code *cell.Cell
		if *proxyCode != "" {
			if code, err = readBOCFile(*proxyCode); err != nil {
				return fmt.Errorf("--proxy-code: %w", err)
			}
		}
		bdb, err := openBicycleDB(ctx, *bicycleDB)
		if err != nil {
			return err
		}
		defer bdb.Close()
		rep, err := takeover.Run(ctx, takeover.Options{Ours: ours, Bicycle: bdb, Chain: chain, Keys: keys, ProxyCode: code,
			Jettons: cfg.Jettons, CountingSide: cfg.IncomeCountingSide, DryRun: *dry, Quiet: *quiet, Watch: *watch,
			ExpiryGrace: cfg.AllowableLag, Log: log})
		if rep != nil {
			rep.Write(stdout)
		}
		return err
	case "sweep-proxies", "move-hot":
		hot, err := wallets.NewHotWallet(keys, cfg.HighloadTimeout)
		if err != nil {
			return err
		}
		c, err := tlb.FromTON(*keep)
		if err != nil {
			return fmt.Errorf("--keep %q is not an amount of TON: %w", *keep, err)
		}
		k := c.Nano()
		o := takeover.FundsOptions{Ours: ours, Chain: chain, Keys: keys, OurHot: hot.Address(), Jettons: cfg.Jettons,
			DryRun: *dry, Keep: k, NoWait: *noWait, Out: stdout}
		if sub == "sweep-proxies" {
			_, err = takeover.SweepProxies(ctx, o)
		} else {
			_, err = takeover.MoveHot(ctx, o)
		}
		return err
	}
	return fmt.Errorf("unknown takeover-bicycle command %q\n%s", sub, takeoverUsage)
}

// openBicycleDB opens bicycle's database under its own application name,
// so the live check can tell the takeover's sessions from bicycle's.
func openBicycleDB(ctx context.Context, url string) (*pgxpool.Pool, error) {
	if !strings.Contains(url, "application_name") {
		sep := "?"
		if strings.Contains(url, "?") {
			sep = "&"
		}
		if strings.HasPrefix(url, "postgres://") || strings.HasPrefix(url, "postgresql://") {
			url += sep + "application_name=processor-takeover"
		} else {
			url += " application_name=processor-takeover"
		}
	}
	db, err := store.Open(ctx, url)
	if err != nil {
		return nil, fmt.Errorf("bicycle's database: %w", err)
	}
	return db, nil
}

// readBOCFile reads a BoC, binary or hex.
func readBOCFile(path string) (*cell.Cell, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if h := strings.TrimSpace(string(b)); len(h) > 0 && strings.Trim(strings.ToLower(h), "0123456789abcdef") == "" {
		if b, err = hex.DecodeString(h); err != nil {
			return nil, err
		}
	}
	c, err := cell.FromBOC(b)
	if err != nil {
		return nil, fmt.Errorf("not a bag of cells: %w", err)
	}
	return c, nil
}
