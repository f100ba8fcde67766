package app

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/xssnick/tonutils-go/tlb"
	"github.com/xssnick/tonutils-go/ton/wallet"

	payfieldsim "github.com/ton-custody/processor/internal/bridge/payfield/sim"
	"github.com/ton-custody/processor/internal/config"
	"github.com/ton-custody/processor/internal/devdb"
	"github.com/ton-custody/processor/internal/tonsim"
	"github.com/ton-custody/processor/internal/wallets"
)

// DevOptions configure Dev.
type DevOptions struct {
	// Getenv reads the caller's environment. DATABASE_URL, API_TOKEN,
	// API_LISTEN, SEED/SEED_FILE, TONSIM_LITE_ADDR, TONSIM_HTTP_ADDR and
	// the BRIDGE_* variables replace dev defaults; every other variable
	// (WEBHOOK_URL, LOG_LEVEL, ...) is read as `processor serve` reads it.
	Getenv func(string) string
	// Out receives the banner (token, URLs, curl lines).
	Out io.Writer
	// Ready, when set, receives the running dev environment (tests).
	Ready func(*DevEnv)
}

// DevEnv describes a running dev environment.
type DevEnv struct {
	APIURL     string
	APIToken   string
	TonsimURL  string
	LiteAddr   string
	Network    *tonsim.Network
	App        *App
	JettonSym  string
	DatabaseOK bool
}

// Dev defaults.
const (
	DevLiteAddr = "127.0.0.1:46732"
	DevHTTPAddr = "127.0.0.1:8092"
	DevAPIAddr  = "127.0.0.1:8081"
	devJetton   = "DEMO"
)

// Dev runs `processor dev`: a local TON network (tonsim) with a funded and
// deployed hot wallet and a demo jetton, a database (DATABASE_URL or a
// throwaway local PostgreSQL) and the processor on testnet settings, until
// ctx ends. Everything it started is stopped and removed on return.
func Dev(ctx context.Context, opts DevOptions) (err error) {
	getenv := opts.Getenv
	if getenv == nil {
		getenv = os.Getenv
	}
	out := opts.Out
	if out == nil {
		out = os.Stdout
	}
	log := NewLogger(os.Stderr, "text", slog.LevelInfo)
	var cleanups []func()
	defer func() {
		for i := len(cleanups) - 1; i >= 0; i-- {
			cleanups[i]()
		}
	}()
	env := map[string]string{"TON_NETWORK": "testnet", "LOG_FORMAT": "text"}
	or := func(name, def string) string {
		if v := getenv(name); v != "" {
			return v
		}
		return def
	}

	// Database.
	dbURL := getenv("DATABASE_URL")
	if dbURL == "" {
		fmt.Fprintln(out, "starting a throwaway PostgreSQL (set DATABASE_URL to use your own)...")
		db, err := devdb.Start(ctx)
		if err != nil {
			return fmt.Errorf("no DATABASE_URL and no local PostgreSQL could be started (%w); set DATABASE_URL=postgres://user:pass@host:5432/db", err)
		}
		cleanups = append(cleanups, func() { _ = db.Stop() })
		dbURL = db.URL
	}
	env["DATABASE_URL"] = dbURL

	// The local TON network.
	fmt.Fprintln(out, "starting the local TON network (tonsim) with the TON emulator...")
	emu, err := tonsim.OpenEmulator(ctx, "", 0)
	if err != nil {
		return err
	}
	cleanups = append(cleanups, func() { _ = emu.Close(context.Background()) })
	net_, err := tonsim.Start(ctx, emu, emu.Contracts, tonsim.Options{LiteAddr: or("TONSIM_LITE_ADDR", DevLiteAddr), Logger: log})
	if err != nil {
		return fmt.Errorf("tonsim (TONSIM_LITE_ADDR): %w", err)
	}
	cleanups = append(cleanups, func() { _ = net_.Close() })
	ctrlLn, err := net.Listen("tcp", or("TONSIM_HTTP_ADDR", DevHTTPAddr))
	if err != nil {
		return fmt.Errorf("tonsim control API (TONSIM_HTTP_ADDR): %w", err)
	}
	ctrl := &http.Server{Handler: net_.ControlHandler(), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = ctrl.Serve(ctrlLn) }()
	cleanups = append(cleanups, func() { _ = ctrl.Close() })
	tmp, err := os.MkdirTemp("", "processor-dev-")
	if err != nil {
		return err
	}
	cleanups = append(cleanups, func() { _ = os.RemoveAll(tmp) })
	gc, err := net_.GlobalConfig()
	if err != nil {
		return err
	}
	gcPath := filepath.Join(tmp, "global.config.json")
	b, _ := json.MarshalIndent(gc, "", "  ")
	if err := os.WriteFile(gcPath, b, 0o644); err != nil {
		return err
	}
	env["TON_CONFIG"] = gcPath

	// Secrets: the caller's, or fresh ones for this run (the mnemonic is
	// never printed; the API token is, it is what the developer needs).
	if s, f := getenv("SEED"), getenv("SEED_FILE"); s != "" || f != "" {
		env["SEED"], env["SEED_FILE"] = s, f
	} else {
		env["SEED"] = strings.Join(wallet.NewSeed(), " ")
	}
	token := getenv("API_TOKEN")
	if token == "" {
		raw := make([]byte, 16)
		if _, err := rand.Read(raw); err != nil {
			return err
		}
		token = "dev-" + hex.EncodeToString(raw)
	}
	env["API_TOKEN"] = token
	env["API_LISTEN"] = or("API_LISTEN", DevAPIAddr)

	jetton, err := net_.DeployJetton(ctx, devJetton, 9)
	if err != nil {
		return fmt.Errorf("demo jetton: %w", err)
	}
	env["JETTONS"] = fmt.Sprintf("%s:%s:%d", devJetton, jetton.Master.String(), 1_000_000_000)

	// A Payfield simulator stands in for the fiat providers: payments
	// created through /v1/bridge settle as successful after 5 s.
	pf, err := payfieldsim.Start(payfieldsim.Options{APIKey: "dev-payfield-key", Secret: "dev-payfield-secret-0123456789",
		WebhookSecret: "dev-payfield-webhook-0123456789", AutoSettle: 5 * time.Second})
	if err != nil {
		return fmt.Errorf("payfield simulator: %w", err)
	}
	cleanups = append(cleanups, func() { _ = pf.Close() })
	for k, v := range map[string]string{"BRIDGE_PROVIDERS": "payfield", "BRIDGE_PAYFIELD_BASE_URL": pf.URL,
		"BRIDGE_PAYFIELD_API_KEY": "dev-payfield-key", "BRIDGE_PAYFIELD_SECRET": "dev-payfield-secret-0123456789",
		"BRIDGE_PAYFIELD_WEBHOOK_SECRET": "dev-payfield-webhook-0123456789", "BRIDGE_PUBLIC_URL": "http://" + env["API_LISTEN"]} {
		if getenv(k) == "" {
			env[k] = v
		}
	}
	merged := func(k string) string {
		if v, ok := env[k]; ok {
			return v
		}
		return getenv(k)
	}
	cfg, err := config.Load(merged)
	if err != nil {
		return err
	}

	// The hot wallet: funded from genesis and deployed.
	hot, err := wallets.HotWalletOf(cfg)
	if err != nil {
		return err
	}
	if err := deployHotWallet(ctx, net_, hot); err != nil {
		return err
	}
	if _, err := net_.Mint(ctx, jetton.Master, hot.Address(), tlb.MustFromTON("1000000").Nano()); err != nil {
		return fmt.Errorf("mint demo jettons to the hot wallet: %w", err)
	}

	a, err := New(ctx, Options{Config: cfg, Logger: log, Getenv: merged})
	if err != nil {
		return err
	}
	cleanups = append(cleanups, a.Close)
	ln, err := net.Listen("tcp", cfg.APIListen)
	if err != nil {
		return fmt.Errorf("API_LISTEN %s: %w", cfg.APIListen, err)
	}
	a.listener = ln
	serveErr := make(chan error, 1)
	sctx, stop := context.WithCancel(ctx)
	defer stop()
	go func() { serveErr <- a.Serve(sctx) }()

	d := &DevEnv{APIURL: "http://" + ln.Addr().String(), APIToken: token, TonsimURL: "http://" + ctrlLn.Addr().String(),
		LiteAddr: net_.LiteURL, Network: net_, App: a, JettonSym: devJetton}
	printBanner(out, d, a)
	if opts.Ready != nil {
		opts.Ready(d)
	}
	select {
	case err := <-serveErr:
		return err
	case <-ctx.Done():
		fmt.Fprintln(out, "\nstopping; removing the dev database and network...")
		stop()
		return <-serveErr
	}
}

// deployHotWallet funds the hot wallet from genesis and deploys it with a
// first external message (a 0.01 TON transfer back to genesis).
func deployHotWallet(ctx context.Context, n *tonsim.Network, hot *wallets.HotWallet) error {
	if _, err := n.Faucet(ctx, hot.Address(), tlb.MustFromTON("100000").Nano(), false, "hot wallet funding"); err != nil {
		return fmt.Errorf("fund the hot wallet: %w", err)
	}
	// The last id of the highload cycle: the withdrawal worker starts at the
	// other end, so this deployment never collides with its batches.
	const deployQueryID = 8191<<10 | 1021
	w, err := hot.Wallet(n.API, func(context.Context, uint32) (uint32, int64, error) {
		return deployQueryID, time.Now().Unix() - 1, nil
	})
	if err != nil {
		return err
	}
	ext, err := w.PrepareExternalMessageForMany(ctx, true, []*wallet.Message{
		wallet.SimpleMessage(n.Genesis.WalletAddress(), tlb.MustFromTON("0.01"), nil)})
	if err != nil {
		return fmt.Errorf("hot wallet deployment: %w", err)
	}
	c, err := tlb.ToCell(ext)
	if err != nil {
		return err
	}
	if err := n.Chain.SendExternal(ctx, c.ToBOCWithFlags(false)); err != nil {
		return fmt.Errorf("hot wallet deployment: %w", err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		last := n.Chain.Last()
		v, err := n.Chain.AccountAt(&last.ID, hot.Address())
		if err == nil && v.Info.Code != nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-n.Chain.NewMaster():
		case <-time.After(2 * time.Second):
		}
	}
	return errors.New("hot wallet was not deployed within 30s")
}

func printBanner(out io.Writer, d *DevEnv, a *App) {
	hot := a.Wallets.FormatAddress(a.Wallets.HotWalletAddress(), true)
	auth := "Authorization: Bearer " + d.APIToken
	webhooks := "off (set WEBHOOK_URL, e.g. WEBHOOK_URL=http://127.0.0.1:9000/hook make dev)"
	if u := a.Config.WebhookURL; u != "" {
		webhooks = "on: POST " + u
	}
	fmt.Fprintf(out, `
processor dev is running (testnet settings, local TON network)

  API           %[1]s        token: %[2]s
  OpenAPI       %[1]s/openapi.yaml
  metrics       %[1]s/metrics
  tonsim        %[3]s   (control API; liteserver %[4]s)
  hot wallet    %[5]s
  jetton        %[6]s
  webhooks      %[8]s

Try:
  curl -s -H '%[7]s' -d '{"user_id":"alice","currency":"TON"}' %[1]s/v1/address/new
  curl -s -H '%[7]s' -d '{"user_id":"alice","currency":"%[6]s"}' %[1]s/v1/address/new
  curl -s -H '%[7]s' '%[1]s/v1/address/all?user_id=alice'
  curl -s -d '{"address":"<deposit address>","amount":"2500000000","comment":"first deposit"}' %[3]s/faucet
  curl -s -H '%[7]s' '%[1]s/v1/deposit/history?user_id=alice&currency=TON&limit=10&offset=0'
  curl -s -H '%[7]s' '%[1]s/v1/balance?currency=TON'
  curl -s %[1]s/v1/system/sync
  curl -s -H '%[7]s' -d '{"reference":"order-1","provider":"payfield","amount":"150000","currency":"RUB"}' %[1]s/v1/bridge/payins

Ctrl-C stops everything and removes the dev database.
`, d.APIURL, d.APIToken, d.TonsimURL, d.LiteAddr, hot, d.JettonSym, auth, webhooks)
}
