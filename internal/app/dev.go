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
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/xssnick/tonutils-go/tlb"
	"github.com/xssnick/tonutils-go/ton/wallet"

	"github.com/ton-custody/processor/internal/apierr"
	payfieldsim "github.com/ton-custody/processor/internal/bridge/payfield/sim"
	"github.com/ton-custody/processor/internal/config"
	"github.com/ton-custody/processor/internal/devdb"
	"github.com/ton-custody/processor/internal/ledger"
	"github.com/ton-custody/processor/internal/operators"
	"github.com/ton-custody/processor/internal/store"
	"github.com/ton-custody/processor/internal/tonsim"
	"github.com/ton-custody/processor/internal/wallets"
)

// DevOptions configure Dev.
type DevOptions struct {
	// Getenv reads the caller's environment. DATABASE_URL, API_TOKEN,
	// API_LISTEN, SEED/SEED_FILE, TONSIM_LITE_ADDR, TONSIM_HTTP_ADDR, the
	// BRIDGE_* variables, CONSOLE_ENABLED, CONSOLE_ADDR,
	// APPROVAL_THRESHOLDS and APPROVALS_REQUIRED replace dev defaults
	// (CONSOLE_ENABLED=false turns the console off); every other variable
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
	// ConsoleURL is the operator console's login page; "" when
	// CONSOLE_ENABLED=false.
	ConsoleURL string
	// Operators are the demo console operators (an admin and an
	// approver) with their passwords and TOTP secrets.
	Operators []DevOperator
}

// DevOperator is a demo console operator of `processor dev`.
type DevOperator struct {
	Name       string
	Role       operators.Role
	Password   string
	TOTPSecret string
	TOTPURI    string
}

// Dev defaults.
const (
	DevLiteAddr = "127.0.0.1:46732"
	DevHTTPAddr = "127.0.0.1:8092"
	DevAPIAddr  = "127.0.0.1:8081"
	devJetton   = "DEMO"
	// The demo jetton's decimals (JETTON_DECIMALS), as deployed.
	devJettonDecimals = 9
	// Dev approval policy unless set: above 100 TON, two operators.
	devApprovalThresholds = "TON:100000000000"
	devApprovalsRequired  = "2"
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

	jetton, err := net_.DeployJetton(ctx, devJetton, devJettonDecimals)
	if err != nil {
		return fmt.Errorf("demo jetton: %w", err)
	}
	env["JETTONS"] = fmt.Sprintf("%s:%s:%d", devJetton, jetton.Master.String(), 1_000_000_000)
	env["JETTON_DECIMALS"] = fmt.Sprintf("%s:%d", devJetton, devJettonDecimals)

	// The operator console, on API_LISTEN (or CONSOLE_ADDR), with an
	// approval policy to try it on. Plain http is allowed on loopback.
	env["CONSOLE_ENABLED"] = or("CONSOLE_ENABLED", "true")
	env["CONSOLE_ADDR"] = getenv("CONSOLE_ADDR")
	if getenv("CONSOLE_INSECURE_COOKIE") == "" && isLoopback(or("CONSOLE_ADDR", env["API_LISTEN"])) {
		env["CONSOLE_INSECURE_COOKIE"] = "true"
	}
	env["APPROVAL_THRESHOLDS"] = or("APPROVAL_THRESHOLDS", devApprovalThresholds)
	env["APPROVALS_REQUIRED"] = or("APPROVALS_REQUIRED", devApprovalsRequired)

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
	minted := tlb.MustFromTON("1000000").Nano()
	if _, err := net_.Mint(ctx, jetton.Master, hot.Address(), minted); err != nil {
		return fmt.Errorf("mint demo jettons to the hot wallet: %w", err)
	}

	a, err := New(ctx, Options{Config: cfg, Logger: log, Getenv: merged})
	if err != nil {
		return err
	}
	cleanups = append(cleanups, a.Close)
	if err := bookDevFunding(ctx, a, net_, hot, minted); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.APIListen)
	if err != nil {
		return fmt.Errorf("API_LISTEN %s: %w", cfg.APIListen, err)
	}
	a.listener = ln
	consoleURL := ""
	var ops []DevOperator
	if a.Console != nil {
		consoleURL = "http://" + ln.Addr().String() + "/console/"
		if cfg.Console.Addr != "" {
			cln, err := net.Listen("tcp", cfg.Console.Addr)
			if err != nil {
				return fmt.Errorf("CONSOLE_ADDR %s: %w", cfg.Console.Addr, err)
			}
			a.consoleListener = cln
			consoleURL = "http://" + cln.Addr().String() + "/console/"
		}
		if ops, err = devOperators(ctx, a); err != nil {
			return err
		}
	}
	serveErr := make(chan error, 1)
	sctx, stop := context.WithCancel(ctx)
	defer stop()
	go func() { serveErr <- a.Serve(sctx) }()

	d := &DevEnv{APIURL: "http://" + ln.Addr().String(), APIToken: token, TonsimURL: "http://" + ctrlLn.Addr().String(),
		LiteAddr: net_.LiteURL, Network: net_, App: a, JettonSym: devJetton, ConsoleURL: consoleURL, Operators: ops}
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

// bookDevFunding books the hot wallet's funding (the faucet's TON less the
// deployment, and the minted demo jettons) in the ledger: money an operator
// moves in from outside is booked with ledger-adjust, or reconciliation
// reports it as a difference. The refs name this network's hot wallet
// state, so a database kept from an earlier run (DATABASE_URL) books again.
func bookDevFunding(ctx context.Context, a *App, n *tonsim.Network, hot *wallets.HotWallet, jettons *big.Int) error {
	last := n.Chain.Last()
	v, err := n.Chain.AccountAt(&last.ID, hot.Address())
	if err != nil {
		return fmt.Errorf("hot wallet balance: %w", err)
	}
	ref := "dev-funding-" + hex.EncodeToString(last.ID.RootHash[:8])
	return store.InTx(ctx, a.DB, func(tx pgx.Tx) error {
		if _, err := ledger.Adjust(ctx, tx, ref+"-ton", ledger.Hot, "TON", v.Info.Balance); err != nil {
			return fmt.Errorf("book the hot wallet's TON funding: %w", err)
		}
		if _, err := ledger.Adjust(ctx, tx, ref+"-"+devJetton, ledger.Hot, devJetton, jettons); err != nil {
			return fmt.Errorf("book the hot wallet's %s: %w", devJetton, err)
		}
		return nil
	})
}

// devOperators creates the demo console operators: an admin and an
// approver, each with a random password and TOTP secret. With a database
// of an earlier run (DATABASE_URL) they are reset to new ones.
func devOperators(ctx context.Context, a *App) ([]DevOperator, error) {
	var out []DevOperator
	for _, o := range []struct {
		name string
		role operators.Role
	}{{"admin", operators.RoleAdmin}, {"approver", operators.RoleApprover}} {
		raw := make([]byte, 12)
		if _, err := rand.Read(raw); err != nil {
			return nil, err
		}
		pw := "dev-" + hex.EncodeToString(raw)
		enr, err := operators.Add(ctx, a.DB, "processor dev", o.name, o.role, pw)
		if errors.Is(err, apierr.ErrConflict) {
			enr, err = operators.Reset(ctx, a.DB, "processor dev", o.name, o.role, pw)
		}
		if err != nil {
			return nil, fmt.Errorf("demo operator %s: %w", o.name, err)
		}
		out = append(out, DevOperator{Name: o.name, Role: o.role, Password: pw, TOTPSecret: enr.TOTPSecret, TOTPURI: enr.TOTPURI})
	}
	return out, nil
}

// isLoopback reports whether a host:port listens on a loopback address.
func isLoopback(hostport string) bool {
	host, _, err := net.SplitHostPort(hostport)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
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
%[9]s
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
`, d.APIURL, d.APIToken, d.TonsimURL, d.LiteAddr, hot, d.JettonSym, auth, webhooks, consoleBanner(d, a))
}

// consoleBanner is the banner's console part: the URL, the demo operators'
// passwords and TOTP secrets, and how to get a code.
func consoleBanner(d *DevEnv, a *App) string {
	if d.ConsoleURL == "" {
		return "  console       off (CONSOLE_ENABLED=false)\n"
	}
	var b strings.Builder
	policy := "none"
	if v := a.Config.ApprovalThresholds; len(v) > 0 {
		var parts []string
		for _, c := range a.Config.Currencies() {
			t, ok := v[c]
			switch {
			case !ok:
			case c == config.TONSymbol:
				parts = append(parts, "TON above "+strings.TrimRight(strings.TrimRight(new(big.Rat).SetFrac(t, big.NewInt(1e9)).FloatString(9), "0"), ".")+" TON")
			default:
				parts = append(parts, c+" above "+t.String()+" base units")
			}
		}
		policy = fmt.Sprintf("%s wait for %d approval(s)", strings.Join(parts, ", "), a.Config.ApprovalsRequired)
	}
	fmt.Fprintf(&b, "  console       %s   (approvals: %s)\n", d.ConsoleURL, policy)
	for _, o := range d.Operators {
		fmt.Fprintf(&b, "    %-9s   role %s, password %s, TOTP secret %s\n", o.Name, o.Role, o.Password, o.TOTPSecret)
		fmt.Fprintf(&b, "                %s\n", o.TOTPURI)
	}
	if len(d.Operators) > 0 {
		fmt.Fprintf(&b, "    TOTP code:  add the otpauth:// URI to an authenticator app, or: oathtool --totp -b %s\n", d.Operators[0].TOTPSecret)
	}
	return b.String()
}
