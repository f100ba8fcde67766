// Package console is the operator console: a web UI served under /console
// (CONSOLE_ENABLED) where operators see the processor (sync, hot and cold
// wallets, queues, outbox, bridge, alerts), search deposits, withdrawals,
// bridge payments and webhook deliveries, follow one withdrawal through
// its whole life, and act: cancel, approve or reject a withdrawal, replay
// webhook events, pause and resume a currency's withdrawals.
//
// It has its own authentication, independent of the HTTP API's tokens:
// operators (internal/operators) log in with password and TOTP code;
// sessions live in PostgreSQL (console_sessions) with an absolute expiry
// and reach the browser as an HttpOnly, SameSite=Strict, Secure cookie
// scoped to /console; every POST carries a CSRF token; repeated failed
// logins lock the name out (console_logins); every login, failed login
// and logout is in the audit log. An API token opens nothing here and a
// console session opens nothing in the API.
//
// The console decides nothing about money: every action goes through the
// withdrawal service (withdrawals.Controls), which enforces the rules
// (roles, two-person rule, states) and writes the audit entry in the
// action's own transaction, or through notify.Replay for webhooks. Its
// own reads run in read-only transactions.
//
// Pages are server-rendered html/template with embedded templates and a
// small vanilla-JS file (no build step): status colours, timestamps
// rendered as UTC in <time> tags and shown in the browser's zone, explorer
// links, copy buttons, and a dashboard fragment polled every few seconds.
package console

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"math/big"
	"net/http"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/ton-custody/processor/internal/bridge"
	"github.com/ton-custody/processor/internal/config"
	"github.com/ton-custody/processor/internal/withdrawals"
)

// Prefix is the path the console is served under.
const Prefix = "/console"

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Options configure New. DB and Controls are required; the functions are
// optional (the dashboard says "unknown" without them).
type Options struct {
	DB       *pgxpool.Pool
	Controls *withdrawals.Controls
	// Network renders addresses (testnet flag) and parses searched ones.
	Network config.Network
	// Currencies are TON and the configured jettons, in order.
	Currencies []string
	// Decimals are the jettons' decimals where configured
	// (JETTON_DECIMALS); a jetton without them is shown in base units.
	Decimals map[string]int
	// ExplorerURL is the explorer's base URL (no trailing slash).
	ExplorerURL string
	// SessionTTL is how long a login lasts; default 12h.
	SessionTTL time.Duration
	// MaxFailedLogins in a row within Lockout lock a name for Lockout;
	// defaults 5 and 15m.
	MaxFailedLogins int
	Lockout         time.Duration
	// InsecureCookie leaves the Secure flag off the session cookie (plain
	// http on loopback, development only).
	InsecureCookie bool
	// AllowableLag is the lag still counted as in sync (ALLOWABLE_LAG).
	AllowableLag time.Duration
	// HotWallet is the hot wallet's user-friendly address.
	HotWallet string
	// MinBalance is HOT_WALLET_MIN_BALANCE (TON, nanoton); nil: none.
	MinBalance *big.Int
	// ColdWallet is the cold wallet's user-friendly address; "": none.
	ColdWallet string
	// ApprovalThresholds and ApprovalsRequired are shown on the
	// dashboard.
	ApprovalThresholds map[string]*big.Int
	ApprovalsRequired  int
	// Head returns the network's last masterchain block (seqno, gen
	// time).
	Head func(ctx context.Context) (uint32, int64, error)
	// HotBalance returns the hot wallet's balance in currency.
	HotBalance func(ctx context.Context, currency string) (*big.Int, error)
	// BridgeBalances returns the fiat providers' balances.
	BridgeBalances func(ctx context.Context) ([]bridge.ProviderBalance, []bridge.ProviderError)
	// Logger logs internal errors (their text is never shown).
	Logger *slog.Logger
	// Now is the clock (tests); time.Now when nil.
	Now func() time.Time
}

// Console is the console's http.Handler, serving paths under Prefix.
type Console struct {
	opts  Options
	db    *pgxpool.Pool
	log   *slog.Logger
	pages map[string]*template.Template
	mux   *http.ServeMux
}

// New builds the console.
func New(opts Options) (*Console, error) {
	if opts.DB == nil || opts.Controls == nil {
		return nil, errors.New("console: a database pool and the withdrawal controls are required")
	}
	if opts.SessionTTL <= 0 {
		opts.SessionTTL = 12 * time.Hour
	}
	if opts.MaxFailedLogins <= 0 {
		opts.MaxFailedLogins = 5
	}
	if opts.Lockout <= 0 {
		opts.Lockout = 15 * time.Minute
	}
	if opts.ExplorerURL == "" {
		opts.ExplorerURL = config.MainnetExplorerURL
		if opts.Network == config.Testnet {
			opts.ExplorerURL = config.TestnetExplorerURL
		}
	}
	opts.ExplorerURL = strings.TrimRight(opts.ExplorerURL, "/")
	if len(opts.Currencies) == 0 {
		opts.Currencies = []string{config.TONSymbol}
	}
	if opts.ApprovalsRequired < 1 {
		opts.ApprovalsRequired = 1
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	c := &Console{opts: opts, db: opts.DB, log: opts.Logger.With("component", "console")}
	var err error
	if c.pages, err = parsePages(template.FuncMap{"amount": c.formatAmount}); err != nil {
		return nil, err
	}
	c.routes()
	return c, nil
}

// parsePages parses every page with the layout and the partials; own
// replaces or adds template functions.
func parsePages(own template.FuncMap) (map[string]*template.Template, error) {
	names, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		return nil, fmt.Errorf("console: templates: %w", err)
	}
	pages := map[string]*template.Template{}
	for _, n := range names {
		base := strings.TrimSuffix(strings.TrimPrefix(n, "templates/"), ".html")
		if base == "layout" || base == "partials" {
			continue
		}
		t, err := template.New(base).Funcs(funcs).Funcs(own).ParseFS(templateFS, "templates/layout.html", "templates/partials.html", n)
		if err != nil {
			return nil, fmt.Errorf("console: template %s: %w", n, err)
		}
		pages[base] = t
	}
	return pages, nil
}

func (c *Console) routes() {
	m := http.NewServeMux()
	static, _ := fs.Sub(staticFS, "static")
	m.Handle("GET "+Prefix+"/static/", http.StripPrefix(Prefix+"/static/", http.FileServerFS(static)))
	m.HandleFunc("GET "+Prefix+"/login", c.loginPage)
	m.HandleFunc("POST "+Prefix+"/login", c.loginSubmit)
	m.HandleFunc("POST "+Prefix+"/logout", c.authed(c.logout))
	m.HandleFunc("GET "+Prefix, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, Prefix+"/", http.StatusSeeOther)
	})
	m.HandleFunc("GET "+Prefix+"/{$}", c.authed(c.dashboardPage))
	m.HandleFunc("GET "+Prefix+"/fragment/dashboard", c.authed(c.dashboardFragment))
	m.HandleFunc("GET "+Prefix+"/deposits", c.authed(c.depositsPage))
	m.HandleFunc("GET "+Prefix+"/withdrawals", c.authed(c.withdrawalsPage))
	m.HandleFunc("GET "+Prefix+"/withdrawals/{id}", c.authed(c.withdrawalPage))
	m.HandleFunc("POST "+Prefix+"/withdrawals/{id}/{action}", c.authed(c.withdrawalAction))
	m.HandleFunc("GET "+Prefix+"/bridge", c.authed(c.bridgePage))
	m.HandleFunc("GET "+Prefix+"/webhooks", c.authed(c.webhooksPage))
	m.HandleFunc("POST "+Prefix+"/webhooks/replay", c.authed(c.replay))
	m.HandleFunc("GET "+Prefix+"/audit", c.authed(c.auditPage))
	m.HandleFunc("POST "+Prefix+"/pauses", c.authed(c.pauseAction))
	m.HandleFunc(Prefix+"/", func(w http.ResponseWriter, r *http.Request) {
		c.fail(w, r, nil, http.StatusNotFound, "No such page.")
	})
	c.mux = m
}

// ServeHTTP serves the console's paths with its security headers.
func (c *Console) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-store")
	if !c.opts.InsecureCookie {
		h.Set("Strict-Transport-Security", "max-age=31536000")
	}
	c.mux.ServeHTTP(w, r)
}

// Mount returns a handler that serves the console under Prefix and
// everything else with next (the API on a shared listener).
func Mount(c *Console, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == Prefix || strings.HasPrefix(r.URL.Path, Prefix+"/") {
			c.ServeHTTP(w, r)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// read runs f in a read-only transaction: the console's own queries
// cannot change anything.
func (c *Console) read(ctx context.Context, f func(tx pgx.Tx) error) error {
	return pgx.BeginTxFunc(ctx, c.db, pgx.TxOptions{AccessMode: pgx.ReadOnly}, f)
}

// page is what every page template gets.
type page struct {
	Title    string
	Nav      string
	Session  *session
	Explorer string
	Network  string
	Flash    string
	Error    string
	Data     any
}

// render writes a page with status.
func (c *Console) render(w http.ResponseWriter, status int, name string, p page) {
	t, ok := c.pages[name]
	if !ok {
		c.log.Error("console: no template", "name", name)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	p.Explorer = c.opts.ExplorerURL
	p.Network = string(c.opts.Network)
	var b strings.Builder
	if err := t.ExecuteTemplate(&b, "layout", p); err != nil {
		c.log.Error("console: render", "page", name, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(b.String()))
}

// fail renders an error page. Internal errors are logged, never shown.
func (c *Console) fail(w http.ResponseWriter, r *http.Request, s *session, status int, msg string) {
	c.render(w, status, "error", page{Title: http.StatusText(status), Session: s, Error: msg})
}

// internal logs err and renders a 500.
func (c *Console) internal(w http.ResponseWriter, r *http.Request, s *session, err error) {
	c.log.Error("console: request failed", "path", r.URL.Path, "err", err)
	c.fail(w, r, s, http.StatusInternalServerError, "Something went wrong; the processor's log has the details.")
}
