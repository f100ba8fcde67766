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
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/ton-custody/processor/internal/app"
	"github.com/ton-custody/processor/internal/config"
	"github.com/ton-custody/processor/internal/store"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:])
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "processor:", err)
		os.Exit(1)
	}
}

const usage = `usage: processor [serve [--api-only|--workers-only]|migrate|dev|help]

  serve    run the API and background workers (default); several replicas
           may share one database: each background job runs on the one
           holding its advisory lock. --api-only serves only the API;
           --workers-only runs only the jobs (with /metrics, /healthz and
           /readyz on API_LISTEN)
  migrate  apply database migrations and exit
  dev      start a local TON network, a throwaway database (unless
           DATABASE_URL is set) and the processor, seeded; prints the API
           token, URLs and curl lines. Ctrl-C cleans up.

Environment variables:
`

func run(ctx context.Context, args []string) error {
	cmd := "serve"
	if len(args) > 0 {
		cmd = args[0]
	}
	switch cmd {
	case "serve":
		role := app.RoleAll
		for _, f := range args[1:] {
			switch f {
			case "--api-only":
				role = app.RoleAPI
			case "--workers-only":
				role = app.RoleWorkers
			default:
				return errors.New("unknown flag " + f + "\n" + usage)
			}
		}
		cfg, err := config.Load(os.Getenv)
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
		url, err := config.LoadDatabaseURL(os.Getenv)
		if err != nil {
			return err
		}
		pool, err := store.Open(ctx, url)
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
	case "dev":
		return app.Dev(ctx, app.DevOptions{Getenv: os.Getenv, Out: os.Stdout})
	case "help", "-h", "--help":
		fmt.Print(usage + config.Doc())
		return nil
	}
	return errors.New("unknown command " + cmd + "\n" + usage)
}
