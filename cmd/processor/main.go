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

const usage = `usage: processor [serve|migrate|dev|help]

  serve    run the API and background workers (default)
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
		cfg, err := config.Load(os.Getenv)
		if err != nil {
			return err
		}
		log := app.NewLogger(os.Stderr, cfg.LogFormat, cfg.LogLevel)
		a, err := app.New(ctx, app.Options{Config: cfg, Logger: log})
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
