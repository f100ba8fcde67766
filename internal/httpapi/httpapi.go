// Package httpapi serves the processor's HTTP API (the contract is
// api/openapi.yaml, described for people in docs/API.md; compatible with
// the processor API of gobicycle/bicycle) with echo.
//
// Handlers depend only on the small interfaces declared here, so nothing
// imports this package: cmd/processor plugs in wallets, the TON DNS
// resolver, the blockscanner read model and the withdrawal request store.
//
// Errors from those implementations are mapped by class (package apierr):
// ErrBadRequest -> 400, ErrNotFound -> 404, ErrConflict -> 409, their
// message shown to the client; anything else -> 500 with a generic message
// and the request id, the error itself only logged. Every error body is
// {"error": "..."}.
package httpapi

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"net/http"
	"time"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/xssnick/tonutils-go/address"

	"github.com/ton-custody/processor/internal/blockscanner"
	"github.com/ton-custody/processor/internal/config"
	"github.com/ton-custody/processor/internal/withdrawals"
)

// Address is one deposit address of a user.
type Address struct {
	// Address is the user-friendly form handed out (non-bounceable).
	Address string
	// Currency is TON or a jetton symbol.
	Currency string
}

// Wallets gives out deposit addresses and reads balances.
type Wallets interface {
	// NewAddress creates a deposit address of currency for userID and
	// returns it in user-friendly non-bounceable form. An unknown currency
	// is an apierr.ErrBadRequest error (the handler checks it first too).
	NewAddress(ctx context.Context, userID, currency string) (string, error)
	// Addresses lists userID's deposit addresses, oldest first; an unknown
	// user has none (not an error).
	Addresses(ctx context.Context, userID string) ([]Address, error)
	// Balance returns the balance of addr (nil: the hot wallet) in
	// currency, in base units; for jettons, of addr's jetton wallet. For
	// TON, status is the account status: active, uninit, frozen or
	// non_exist; for jettons it is ignored.
	Balance(ctx context.Context, currency string, addr *address.Address) (balance *big.Int, status string, err error)
	// HotWalletAddress returns the hot wallet's address.
	HotWalletAddress() *address.Address
}

// Resolver resolves TON DNS names.
type Resolver interface {
	// ResolveWallet returns the wallet record (dns_smc_address#9fd3) of
	// domain, or an apierr.ErrNotFound error when the domain or the record
	// does not exist.
	ResolveWallet(ctx context.Context, domain string) (*address.Address, error)
}

// Incomes answers the deposit endpoints; blockscanner.ReadModel
// implements it.
type Incomes interface {
	// TotalIncome returns the counting side and the total per deposit
	// address of userID (empty for an unknown user).
	TotalIncome(ctx context.Context, userID string) (blockscanner.Totals, error)
	// History returns one page of userID's incomes in currency, newest
	// first unless asc.
	History(ctx context.Context, userID, currency string, limit, offset int, asc bool) ([]blockscanner.Income, error)
	// IncomeByTxHash returns the income credited by a transaction, or an
	// apierr.ErrNotFound error for an unknown hash.
	IncomeByTxHash(ctx context.Context, hash []byte) (blockscanner.Income, error)
}

// Withdrawals stores withdrawal requests; withdrawals.Requests implements
// it. Create returns apierr.ErrConflict for a reused (user_id, query_id)
// with another body, Status and ServiceStatus apierr.ErrNotFound for
// unknown ids.
type Withdrawals interface {
	// Create stores a withdrawal request idempotently and returns its ID.
	Create(ctx context.Context, req withdrawals.Request) (int64, error)
	// Status returns the state of withdrawal id.
	Status(ctx context.Context, id int64) (withdrawals.RequestStatus, error)
	// CreateServiceTON requests moving all TON of a deposit address to the
	// hot wallet and returns the memo.
	CreateServiceTON(ctx context.Context, from *address.Address) (uuid.UUID, error)
	// CreateServiceJetton requests moving all jettons of master held by
	// owner to the hot wallet and returns the memo.
	CreateServiceJetton(ctx context.Context, owner, master *address.Address) (uuid.UUID, error)
	// ServiceStatus returns the state of the service withdrawal with memo.
	ServiceStatus(ctx context.Context, memo uuid.UUID) (withdrawals.ServiceRequestStatus, error)
	// QueueTotals returns the sums of processing and pending withdrawals
	// of currency.
	QueueTotals(ctx context.Context, currency string) (processing, pending *big.Int, err error)
	// Cancel fails a pending or awaiting_approval withdrawal with the
	// reason "cancelled: <reason>"; one in a batch or final is an
	// apierr.ErrConflict error. actor is recorded in the audit log.
	Cancel(ctx context.Context, id int64, actor, reason string) (withdrawals.RequestStatus, error)
}

// Sync reports whether the scanner is in sync; blockscanner.ReadModel
// implements it.
type Sync interface {
	SyncStatus(ctx context.Context) (isSynced bool, lastBlockGenUtime int64, err error)
}

// The implementations in this module satisfy the interfaces.
var (
	_ Incomes     = (*blockscanner.ReadModel)(nil)
	_ Sync        = (*blockscanner.ReadModel)(nil)
	_ Withdrawals = (*withdrawals.Requests)(nil)
)

// Defaults for Options.
const (
	// DefaultRequestTimeout bounds each request's context.
	DefaultRequestTimeout = 30 * time.Second
	// DefaultMaxBodyBytes is the largest request body accepted (413 above).
	DefaultMaxBodyBytes = 1 << 20
	// readyTimeout bounds the readiness check of /readyz.
	readyTimeout = 5 * time.Second
)

// Options are the dependencies of the API. All are required except where
// a default is stated.
type Options struct {
	// Config supplies Network (address flags), APITokens (bearer tokens)
	// and the configured currencies.
	Config      *config.Config
	Wallets     Wallets
	Resolver    Resolver
	Incomes     Incomes
	Withdrawals Withdrawals
	Sync        Sync
	// Registerer receives the HTTP metrics; Gatherer is served at /metrics.
	Registerer prometheus.Registerer
	Gatherer   prometheus.Gatherer
	// Ready backs /readyz (e.g. a database ping); nil means always ready.
	Ready func(ctx context.Context) error
	// Logger defaults to slog.Default().
	Logger *slog.Logger
	// RequestTimeout defaults to DefaultRequestTimeout.
	RequestTimeout time.Duration
	// MaxBodyBytes defaults to DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// Mount adds routes of other packages (the fiat bridge) after the
	// processor's own; auth is the bearer-token middleware (with the
	// per-token rate limit) for the routes that need it.
	Mount func(e *echo.Echo, auth echo.MiddlewareFunc) error
}

// server holds the handlers' dependencies.
type server struct {
	limiters   *tokenLimiters
	opts       Options
	network    config.Network
	currencies map[string]bool
	currList   string
	tokens     []tokenHash
	log        *slog.Logger
	metrics    *httpMetrics
	routePaths map[string]bool
	// promHandler serves /metrics from Options.Gatherer.
	promHandler http.Handler
	// bicycle is the bicycle compatibility profile (API_COMPAT=bicycle,
	// bicycle.go); pager serves its deposit histories.
	bicycle bool
	pager   HistoryPager
}

type tokenHash struct {
	name string
	sum  [sha256.Size]byte
}

// New builds the API's echo instance: every route of api/openapi.yaml plus
// /metrics, /healthz, /readyz and /openapi.yaml, with request ids, access
// logs, metrics, panic recovery, a body size limit, a per-request timeout
// and bearer authentication on /v1/* (except /v1/system/sync). Serve it
// with an http.Server such as NewHTTPServer returns.
func New(opts Options) (*echo.Echo, error) {
	if err := opts.check(); err != nil {
		return nil, fmt.Errorf("httpapi: %w", err)
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.RequestTimeout <= 0 {
		opts.RequestTimeout = DefaultRequestTimeout
	}
	if opts.MaxBodyBytes <= 0 {
		opts.MaxBodyBytes = DefaultMaxBodyBytes
	}
	m, err := newHTTPMetrics(opts.Registerer)
	if err != nil {
		return nil, fmt.Errorf("httpapi: %w", err)
	}
	s := &server{
		opts:       opts,
		network:    opts.Config.Network,
		currencies: make(map[string]bool),
		log:        opts.Logger,
		metrics:    m,
		routePaths: make(map[string]bool),
		promHandler: promhttp.HandlerFor(opts.Gatherer, promhttp.HandlerOpts{
			ErrorLog: slog.NewLogLogger(opts.Logger.Handler(), slog.LevelError),
		}),
	}
	for i, c := range opts.Config.Currencies() {
		s.currencies[c] = true
		if i > 0 {
			s.currList += ", "
		}
		s.currList += c
	}
	for _, t := range opts.Config.APITokens {
		s.tokens = append(s.tokens, tokenHash{name: t.Name, sum: sha256.Sum256([]byte(t.Token.Reveal()))})
	}
	s.limiters = newTokenLimiters(opts.Config.APIRateLimit, opts.Config.APIRateBurst)
	if err := s.profile(); err != nil {
		return nil, fmt.Errorf("httpapi: %w", err)
	}

	e := echo.New()
	e.HideBanner = true
	e.HidePort = true
	e.HTTPErrorHandler = s.handleError
	e.Use(s.requestID, s.observe, s.recoverPanic, s.limitBody, s.timeout)
	for _, r := range routeTable {
		mw := []echo.MiddlewareFunc{}
		if r.auth {
			mw = append(mw, s.authenticate, s.rateLimit)
		}
		mw = append(mw, checkQuery(r.query, s.bicycle))
		h := r.handler
		e.Add(r.method, r.path, func(c echo.Context) error { return h(s, c) }, mw...)
		s.routePaths[r.path] = true
	}
	if opts.Mount != nil {
		auth := func(next echo.HandlerFunc) echo.HandlerFunc { return s.authenticate(s.rateLimit(next)) }
		if err := opts.Mount(e, auth); err != nil {
			return nil, fmt.Errorf("httpapi: mount: %w", err)
		}
		// Mounted routes are labelled by their templates too; only
		// requests no route matched are "unmatched".
		for _, r := range e.Routes() {
			s.routePaths[r.Path] = true
		}
	}
	return e, nil
}

func (o *Options) check() error {
	var missing []string
	for _, d := range []struct {
		name string
		nil  bool
	}{
		{"Config", o.Config == nil},
		{"Wallets", o.Wallets == nil},
		{"Resolver", o.Resolver == nil},
		{"Incomes", o.Incomes == nil},
		{"Withdrawals", o.Withdrawals == nil},
		{"Sync", o.Sync == nil},
		{"Registerer", o.Registerer == nil},
		{"Gatherer", o.Gatherer == nil},
	} {
		if d.nil {
			missing = append(missing, d.name)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("options missing: %v", missing)
	}
	if len(o.Config.APITokens) == 0 {
		return errors.New("no API tokens configured")
	}
	for _, t := range o.Config.APITokens {
		if !t.Token.IsSet() {
			return fmt.Errorf("API token %q is empty", t.Name)
		}
	}
	if o.Wallets.HotWalletAddress() == nil {
		return errors.New("wallets report no hot wallet address")
	}
	return nil
}

// Server timeouts of NewHTTPServer. WriteTimeout exceeds the default
// request timeout, so a slow handler ends with a JSON error from the
// timeout middleware rather than a cut connection.
const (
	ReadHeaderTimeout = 10 * time.Second
	ReadTimeout       = 30 * time.Second
	WriteTimeout      = DefaultRequestTimeout + 15*time.Second
	IdleTimeout       = 2 * time.Minute
	MaxHeaderBytes    = 64 << 10
)

// NewHTTPServer returns an http.Server for h on addr with the timeouts
// above, logging its own errors (TLS handshakes, bad requests) to logger.
// With an Options.RequestTimeout above DefaultRequestTimeout, raise
// WriteTimeout on the result to match.
func NewHTTPServer(addr string, h http.Handler, logger *slog.Logger) *http.Server {
	if logger == nil {
		logger = slog.Default()
	}
	return &http.Server{
		Addr:              addr,
		Handler:           h,
		ReadHeaderTimeout: ReadHeaderTimeout,
		ReadTimeout:       ReadTimeout,
		WriteTimeout:      WriteTimeout,
		IdleTimeout:       IdleTimeout,
		MaxHeaderBytes:    MaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
}
