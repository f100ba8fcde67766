// Command tonsim runs a local TON network: blocks on a timer (or on
// request), contracts on the official TON emulator, a liteserver that the
// unmodified tonutils-go client connects to, and a control API.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/ton-custody/processor/internal/tonsim"
	"github.com/ton-custody/processor/internal/tonsim/assets"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "tonsim:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("tonsim", flag.ContinueOnError)
	liteAddr := fs.String("lite-addr", "127.0.0.1:46732", "liteserver (ADNL TCP) listen address; node i listens on its port + i")
	liteServers := fs.Int("liteservers", 2, "liteserver nodes in the global config (one can be made to lag: POST /faults/lag)")
	httpAddr := fs.String("http-addr", "127.0.0.1:8092", "control API listen address")
	advertise := fs.String("advertise", "", "host:port to put in the global config instead of the bound address (e.g. tonsim:46732 in docker compose); node i gets port + i")
	configOut := fs.String("config-out", "", "write the global config JSON (for tonutils-go) to this file")
	interval := fs.Duration("block-interval", time.Second, "time between blocks")
	shards := fs.Int("shards", 4, "workchain-0 shards (power of two)")
	stateDir := fs.String("state-dir", "", "keep the chain in this directory across restarts (default: in memory)")
	manual := fs.Bool("manual", false, "produce blocks only on request (POST /blocks)")
	trafficTPS := fs.Int("traffic-tps", 0, "steady background traffic: bulk transfers per second to unwatched accounts spread over the shards (POST /traffic changes it)")
	trafficAccounts := fs.Int("traffic-accounts", tonsim.DefaultTrafficAccounts, "destination accounts of the background traffic")
	assetsDir := fs.String("assets-dir", "", "emulator assets cache (default: $TONSIM_ASSETS_DIR or <repo>/.cache/tonsim-assets)")
	emulators := fs.Int("emulators", 0, "emulator instances (default: one per CPU)")
	verbose := fs.Bool("v", false, "debug logging")
	fetchOnly := fs.Bool("fetch", false, "fetch the pinned emulator assets with npm and exit")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: tonsim [flags]\n\nA local TON network (testnet-flavoured: global id -3).\n\nFlags:\n")
		fs.PrintDefaults()
		fmt.Fprintf(fs.Output(), "\n%s", tonsim.ControlDoc)
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if *fetchOnly {
		dir := *assetsDir
		if dir == "" {
			dir = assets.DefaultDir()
		}
		a, err := assets.Ensure(context.Background(), dir)
		if err != nil {
			return err
		}
		fmt.Printf("emulator assets ready in %s (@ton/sandbox %s, @ton-community/assets-sdk %s)\n", a.Dir, a.SandboxVersion, a.AssetsSDKVersion)
		return nil
	}
	level := slog.LevelInfo
	if *verbose {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	started := time.Now()
	emu, err := tonsim.OpenEmulator(ctx, *assetsDir, *emulators)
	if err != nil {
		return err
	}
	defer emu.Close(context.Background())
	n, err := tonsim.Start(ctx, emu, emu.Contracts, tonsim.Options{Shards: *shards, BlockInterval: *interval, Manual: *manual,
		LiteAddr: *liteAddr, LiteServers: *liteServers, Advertise: *advertise, StateDir: *stateDir, Logger: log,
		Traffic: tonsim.Traffic{TPS: *trafficTPS, Accounts: *trafficAccounts}})
	if err != nil {
		return err
	}
	defer func() {
		if err := n.Close(); err != nil {
			log.Error("shutdown", "err", err)
		}
	}()
	gc, err := n.GlobalConfig()
	if err != nil {
		return err
	}
	if *configOut != "" {
		b, _ := json.MarshalIndent(gc, "", "  ")
		if err := os.WriteFile(*configOut, b, 0o644); err != nil {
			return fmt.Errorf("config-out: %w", err)
		}
	}
	ln, err := net.Listen("tcp", *httpAddr)
	if err != nil {
		return fmt.Errorf("control API: %w", err)
	}
	srv := &http.Server{Handler: n.ControlHandler(), ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("control API stopped", "err", err)
			stop()
		}
	}()
	urls := make([]string, len(n.Nodes))
	for i, nd := range n.Nodes {
		urls[i] = nd.URL
	}
	log.Info("tonsim ready", "liteservers", strings.Join(urls, ","), "control", "http://"+ln.Addr().String(),
		"config", "http://"+ln.Addr().String()+"/config.json", "genesis", tonsim.Friendly(n.Genesis.WalletAddress()),
		"startup", time.Since(started).Round(time.Millisecond), "state_dir", *stateDir)
	<-ctx.Done()
	log.Info("stopping")
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return srv.Shutdown(sctx)
}
