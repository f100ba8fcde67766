// Package config loads the processor's configuration from environment
// variables and validates all of it at start, reporting every problem at
// once with the variable it concerns.
//
// Secrets (mnemonic, tokens, passwords) are held as Secret values: no
// printed, logged or error form of a Config ever contains them.
package config

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/big"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/xssnick/tonutils-go/address"

	"github.com/ton-custody/processor/internal/money"
)

// Network is the TON network the processor works on.
type Network string

// Networks.
const (
	Mainnet Network = "mainnet"
	Testnet Network = "testnet"
)

// CountingSide selects what /v1/income totals.
type CountingSide string

// Counting sides, as named by the API.
const (
	// CountDeposit totals everything deposit addresses received.
	CountDeposit CountingSide = "deposit"
	// CountHotWallet totals what deposits forwarded to the hot wallet.
	CountHotWallet CountingSide = "hot_wallet"
)

// TONSymbol is the currency code of toncoin; jettons may not use it.
const TONSymbol = "TON"

// Jetton is one accepted jetton.
type Jetton struct {
	// Symbol is the currency code used by the API, e.g. "USDT".
	Symbol string
	// Master is the jetton master (minter) contract.
	Master *address.Address
	// SweepThreshold is the deposit balance, in jetton base units, above
	// which the deposit is swept to the hot wallet.
	SweepThreshold *big.Int
}

// APIToken is one accepted bearer token of the HTTP API. Name identifies
// it in logs so a token can be rotated without printing it.
type APIToken struct {
	Name  string
	Token Secret
}

// Config is the validated configuration. Load is the only constructor that
// guarantees the invariants documented on the fields.
type Config struct {
	// DatabaseURL is the PostgreSQL connection string (contains a password).
	DatabaseURL Secret
	// Network is mainnet or testnet.
	Network Network
	// TONConfig is a path or http(s) URL of the global config JSON; it is
	// not read or fetched by Load.
	TONConfig string
	// Seed is the 24-word mnemonic, words separated by single spaces.
	Seed Secret
	// SeedFile is the file Seed was read from, "" when it came from SEED.
	SeedFile string
	// APITokens holds at least one token; names and tokens are unique.
	APITokens []APIToken
	// APIListen is the host:port of the HTTP API.
	APIListen string
	// APIRateLimit is requests per second per token (0: unlimited) and
	// APIRateBurst its burst.
	APIRateLimit float64
	APIRateBurst int
	// TLSCertFile and TLSKeyFile, when set, serve the API over TLS.
	TLSCertFile, TLSKeyFile string
	// Jettons are the accepted jettons; symbols and masters are unique.
	Jettons []Jetton
	// TONSweepThreshold is in nanoton (>= 0).
	TONSweepThreshold *big.Int
	// AllowableLag is the scanner lag still counted as in sync (> 0).
	AllowableLag time.Duration
	// WebhookURL is "" when webhooks are off; WebhookSecret is then unset.
	WebhookURL    string
	WebhookSecret Secret
	// ColdWallet is nil when no cold wallet is configured. When it is set,
	// HotWalletMaxBalance > HotWalletResidual >= HotWalletMinBalance and
	// both are non-nil; otherwise both are nil.
	ColdWallet          *address.Address
	HotWalletMinBalance *big.Int
	HotWalletMaxBalance *big.Int
	HotWalletResidual   *big.Int
	// IncomeCountingSide selects what /v1/income totals.
	IncomeCountingSide CountingSide
	// LedgerReconcileInterval is the reconciliation period; 0 is off.
	LedgerReconcileInterval time.Duration
	// LedgerReconcileDust is the TON difference not reported (>= 0).
	LedgerReconcileDust *big.Int
	// LogFormat is "json" or "text".
	LogFormat string
	// LogLevel is the minimum level logged.
	LogLevel slog.Level
	// ScannerStartBlock is the masterchain seqno to start from when no
	// cursor is stored; 0 means not set.
	ScannerStartBlock uint32
	// WithdrawalBatchInterval is the withdrawal batching period (> 0).
	WithdrawalBatchInterval time.Duration
	// HighloadTimeout is the highload v3 timeout, whole seconds in
	// [6s, 2^22-1 s]. It is part of the hot wallet's address.
	HighloadTimeout time.Duration
	// WithdrawalLimits are optional limits by currency (TON or a
	// configured jetton symbol).
	WithdrawalLimits map[string]WithdrawalLimit
	// ApprovalThresholds are amounts by currency above which a withdrawal
	// waits for operators' approval; nil: none.
	ApprovalThresholds map[string]*big.Int
	// ApprovalsRequired is how many distinct operators approve such a
	// withdrawal (1..10).
	ApprovalsRequired int
	// JettonDecimals are the configured jettons' decimals where given
	// (JETTON_DECIMALS); display only.
	JettonDecimals map[string]int
	// APICompat is the HTTP API's compatibility profile; CompatNone
	// serves this processor's own API.
	APICompat APICompat
	// BicycleWebhookURL is "" unless APICompat is CompatBicycle and
	// WEBHOOK_ENDPOINT is set; BicycleWebhookToken may be unset.
	BicycleWebhookURL   string
	BicycleWebhookToken Secret
	// RabbitMQ is nil when notifications are not published to RabbitMQ.
	RabbitMQ *RabbitMQ
	// Console configures the operator console (internal/console).
	Console Console
	// Warnings are things the operator should change but that do not stop
	// the start (gobicycle/bicycle variable names read in place of ours);
	// the caller logs them at start. They never contain secret values.
	Warnings []string
}

// APICompat selects the HTTP API's compatibility profile (API_COMPAT).
type APICompat string

// Profiles.
const (
	// CompatNone is this processor's API as api/openapi.yaml documents it.
	CompatNone APICompat = ""
	// CompatBicycle answers as gobicycle/bicycle's processor API does
	// where the two differ (README, Switching from bicycle).
	CompatBicycle APICompat = "bicycle"
)

// WithdrawalLimit caps one currency's withdrawals, in base units; a nil
// field is no limit.
type WithdrawalLimit struct {
	PerWithdrawal *big.Int
	PerDay        *big.Int
}

// Problem is one invalid setting: the variable and what is wrong with it.
// Message never contains the value of a secret variable.
type Problem struct {
	Var     string
	Message string
}

// Error returns "VAR: message".
func (p Problem) Error() string { return p.Var + ": " + p.Message }

// ValidationError lists every problem Load found.
type ValidationError struct {
	Problems []Problem
}

// Error lists the problems, one per line.
func (e *ValidationError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "invalid configuration (%d problem", len(e.Problems))
	if len(e.Problems) != 1 {
		b.WriteString("s")
	}
	b.WriteString("):")
	for _, p := range e.Problems {
		b.WriteString("\n  ")
		b.WriteString(p.Error())
	}
	return b.String()
}

// Unwrap gives errors.As access to each Problem.
func (e *ValidationError) Unwrap() []error {
	errs := make([]error, len(e.Problems))
	for i, p := range e.Problems {
		errs[i] = p
	}
	return errs
}

// Load reads and validates the configuration for `processor serve`.
// getenv is os.Getenv in production and a map lookup in tests. Values are
// trimmed of surrounding white space; empty means unset. On failure the
// error is a *ValidationError naming every bad variable.
func Load(getenv func(string) string) (*Config, error) {
	l := newLoader(getenv)
	c := &Config{}

	c.Network = l.network()
	c.DatabaseURL = l.databaseURL()
	c.TONConfig = l.tonConfig(c.Network)
	c.Seed, c.SeedFile = l.seed()
	c.APITokens = l.apiTokens()
	c.APIListen = l.listen(EnvAPIListen)
	c.APIRateLimit, c.APIRateBurst = l.rateLimit()
	c.TLSCertFile, c.TLSKeyFile = l.tls()
	c.Jettons = l.jettons(c.Network)
	c.TONSweepThreshold = l.amount(EnvTONSweepThreshold, money.ParseNonNegative)
	c.AllowableLag = l.duration(EnvAllowableLag)
	c.WebhookURL, c.WebhookSecret = l.webhook()
	c.ColdWallet = l.optionalAddress(EnvColdWallet, c.Network)
	// The raw value decides, so a mistyped cold wallet does not also make
	// the balances look unused.
	c.HotWalletMinBalance, c.HotWalletMaxBalance, c.HotWalletResidual = l.hotWalletBalances(l.get(EnvColdWallet) != "")
	c.IncomeCountingSide = CountingSide(l.oneOf(EnvIncomeCountingSide, string(CountDeposit), string(CountHotWallet)))
	c.LedgerReconcileInterval = l.optionalDuration(EnvLedgerReconcileInterval)
	c.LedgerReconcileDust = l.amount(EnvLedgerReconcileDust, money.ParseNonNegative)
	c.LogFormat = l.oneOf(EnvLogFormat, "json", "text")
	c.LogLevel = l.logLevel()
	c.ScannerStartBlock = l.startBlock()
	c.WithdrawalBatchInterval = l.duration(EnvWithdrawalBatchInterval)
	c.HighloadTimeout = l.highloadTimeout()
	c.WithdrawalLimits = l.withdrawalLimits(c.Jettons)
	c.ApprovalThresholds = l.approvalThresholds(c.Jettons)
	c.ApprovalsRequired = l.approvalsRequired()
	c.JettonDecimals = l.jettonDecimals(c.Jettons)
	c.APICompat = l.apiCompat()
	c.BicycleWebhookURL, c.BicycleWebhookToken = l.bicycleWebhook(c.APICompat)
	c.RabbitMQ = l.rabbitMQ(c.APICompat)
	c.Console = l.console(c.Network, c.APIListen)
	c.Warnings = l.warnings

	if len(l.problems) > 0 {
		return nil, &ValidationError{Problems: l.problems}
	}
	return c, nil
}

// LoadDatabaseURL reads and checks only DATABASE_URL, for commands such as
// `processor migrate` that need nothing else.
func LoadDatabaseURL(getenv func(string) string) (string, error) {
	l := newLoader(getenv)
	u := l.databaseURL()
	if len(l.problems) > 0 {
		return "", &ValidationError{Problems: l.problems}
	}
	return u.Reveal(), nil
}

// LoadControls reads what the operator commands (processor withdrawal
// approve|reject, withdrawals pause|resume) need besides DATABASE_URL:
// TON_NETWORK (addresses in webhook events) and APPROVALS_REQUIRED.
func LoadControls(getenv func(string) string) (Network, int, error) {
	l := newLoader(getenv)
	n := l.network()
	k := l.approvalsRequired()
	if len(l.problems) > 0 {
		return "", 0, &ValidationError{Problems: l.problems}
	}
	return n, k, nil
}

// LoadKeys reads only what names the processor's wallets (TON_NETWORK,
// SEED or SEED_FILE, HIGHLOAD_TIMEOUT), for offline commands such as
// `processor hot-wallet` that need no database or chain.
func LoadKeys(getenv func(string) string) (*Config, error) {
	l := newLoader(getenv)
	c := &Config{}
	c.Network = l.network()
	c.Seed, c.SeedFile = l.seed()
	c.HighloadTimeout = l.highloadTimeout()
	if len(l.problems) > 0 {
		return nil, &ValidationError{Problems: l.problems}
	}
	return c, nil
}

// Currencies returns "TON" followed by the jetton symbols in configured order.
func (c *Config) Currencies() []string {
	out := []string{TONSymbol}
	for _, j := range c.Jettons {
		out = append(out, j.Symbol)
	}
	return out
}

// Jetton returns the jetton with the given symbol.
func (c *Config) Jetton(symbol string) (Jetton, bool) {
	for _, j := range c.Jettons {
		if j.Symbol == symbol {
			return j, true
		}
	}
	return Jetton{}, false
}

// SeedWords returns the mnemonic as words, the form key derivation takes.
func (c *Config) SeedWords() []string {
	return strings.Fields(c.Seed.Reveal())
}

// LogValue renders the configuration for slog with every secret redacted
// (passwords inside URLs included).
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(c.attrs()...)
}

// String renders the configuration as key=value pairs, secrets redacted.
func (c Config) String() string {
	var b strings.Builder
	b.WriteString("config{")
	for i, a := range c.attrs() {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(a.Key)
		b.WriteByte('=')
		b.WriteString(a.Value.String())
	}
	b.WriteByte('}')
	return b.String()
}

// MarshalJSON renders the same redacted view as LogValue, as one object.
func (c Config) MarshalJSON() ([]byte, error) {
	m := make(map[string]string)
	for _, a := range c.attrs() {
		m[a.Key] = a.Value.String()
	}
	return json.Marshal(m)
}

// GoString is String, so %#v cannot bypass the redaction.
func (c Config) GoString() string { return c.String() }

// Format makes every fmt verb print String: fmt would otherwise walk the
// struct and print fields itself.
func (c Config) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, c.String()) }

func (c Config) attrs() []slog.Attr {
	tokenNames := make([]string, 0, len(c.APITokens))
	for _, t := range c.APITokens {
		tokenNames = append(tokenNames, t.Name)
	}
	jettons := make([]string, 0, len(c.Jettons))
	for _, j := range c.Jettons {
		jettons = append(jettons, j.Symbol+":"+addrString(j.Master)+":"+bigString(j.SweepThreshold))
	}
	seed := redacted
	if c.SeedFile != "" {
		seed = redacted + " from " + c.SeedFile
	}
	return []slog.Attr{
		slog.String("network", string(c.Network)),
		slog.String("ton_config", c.TONConfig),
		slog.String("database_url", redactURL(c.DatabaseURL.Reveal(), false)),
		slog.String("seed", seed),
		slog.String("api_tokens", strings.Join(tokenNames, ",")),
		slog.String("api_listen", c.APIListen),
		slog.String("jettons", strings.Join(jettons, ",")),
		slog.String("ton_sweep_threshold", bigString(c.TONSweepThreshold)),
		slog.Duration("allowable_lag", c.AllowableLag),
		slog.String("webhook_url", redactURL(c.WebhookURL, true)),
		slog.String("webhook_secret", c.WebhookSecret.String()),
		slog.String("cold_wallet", addrString(c.ColdWallet)),
		slog.String("hot_wallet_min_balance", bigString(c.HotWalletMinBalance)),
		slog.String("hot_wallet_max_balance", bigString(c.HotWalletMaxBalance)),
		slog.String("hot_wallet_residual", bigString(c.HotWalletResidual)),
		slog.String("income_counting_side", string(c.IncomeCountingSide)),
		slog.String("log_format", c.LogFormat),
		slog.String("log_level", c.LogLevel.String()),
		slog.Uint64("scanner_start_block", uint64(c.ScannerStartBlock)),
		slog.Duration("withdrawal_batch_interval", c.WithdrawalBatchInterval),
		slog.Duration("highload_timeout", c.HighloadTimeout),
		slog.String("api_compat", string(c.APICompat)),
		slog.String("webhook_endpoint", redactURL(c.BicycleWebhookURL, true)),
		slog.String("webhook_token", c.BicycleWebhookToken.String()),
		slog.String("rabbitmq", c.RabbitMQ.String()),
		slog.Bool("console_enabled", c.Console.Enabled),
		slog.String("console_addr", c.Console.Addr),
	}
}

func addrString(a *address.Address) string {
	if a == nil {
		return ""
	}
	return a.String()
}

func bigString(v *big.Int) string {
	if v == nil {
		return ""
	}
	return v.String()
}

// redactURL keeps scheme, host and path of a URL and hides the password,
// and either the whole query (webhook URLs often carry a token there) or
// only its password parameters (a database URL's sslmode is worth seeing).
// Anything that does not parse as a URL, such as a key=value DSN, is
// hidden entirely.
func redactURL(s string, hideQuery bool) string {
	if s == "" {
		return ""
	}
	u, err := url.Parse(s)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return redacted
	}
	switch {
	case u.RawQuery == "":
	case hideQuery:
		u.RawQuery = "REDACTED"
	default:
		q, err := url.ParseQuery(u.RawQuery)
		if err != nil {
			u.RawQuery = "REDACTED"
			break
		}
		for k := range q {
			if strings.Contains(strings.ToLower(k), "password") {
				q.Set(k, "xxxxx")
			}
		}
		u.RawQuery = q.Encode()
	}
	u.Fragment = ""
	return u.Redacted()
}

// loader collects problems while reading variables through the table.
type loader struct {
	// getenv reads variables outside the table (gobicycle/bicycle's).
	getenv   func(string) string
	env      map[string]string
	secret   map[string]bool
	problems []Problem
	warnings []string
}

func newLoader(getenv func(string) string) *loader {
	l := &loader{getenv: getenv, env: make(map[string]string, len(variables)), secret: make(map[string]bool)}
	for _, v := range variables {
		l.env[v.Name] = strings.TrimSpace(getenv(v.Name))
		l.secret[v.Name] = v.Secret
	}
	// Before the defaults: a bicycle name fills only a variable the
	// operator left unset (ours win when both are set).
	l.bicycleNames(getenv)
	for _, v := range variables {
		if l.env[v.Name] == "" {
			l.env[v.Name] = v.Default
		}
	}
	return l
}

// get returns a variable's value or its default. Every name must be in the
// variables table (tests read all of them); a missing one is a programming
// error, not a configuration problem.
func (l *loader) get(name string) string {
	v, ok := l.env[name]
	if !ok {
		panic("config: variable " + name + " is not in the variables table")
	}
	return v
}

func (l *loader) problemf(name, format string, args ...any) {
	l.problems = append(l.problems, Problem{Var: name, Message: fmt.Sprintf(format, args...)})
}

// quote shows a bad value in a message, unless the variable is secret.
func (l *loader) quote(name, val string) string {
	if l.secret[name] {
		return "value"
	}
	if len(val) > 80 {
		val = val[:80] + "..."
	}
	return strconv.Quote(val)
}

func (l *loader) network() Network {
	v := strings.ToLower(l.get(EnvTONNetwork))
	switch Network(v) {
	case Mainnet, Testnet:
		return Network(v)
	}
	l.problemf(EnvTONNetwork, "%s is not one of mainnet, testnet", l.quote(EnvTONNetwork, v))
	return Mainnet // keeps the network checks below meaningful
}

func (l *loader) databaseURL() Secret {
	v := l.get(EnvDatabaseURL)
	if v == "" {
		l.problemf(EnvDatabaseURL, "required (postgres://user:password@host:5432/dbname)")
		return Secret{}
	}
	// The parser's own message may quote the string with a password that
	// its best-effort redaction missed, so only the fact is reported.
	if _, err := pgconn.ParseConfig(v); err != nil {
		l.problemf(EnvDatabaseURL, "is not a valid PostgreSQL connection string")
		return Secret{}
	}
	return NewSecret(v)
}

func (l *loader) tonConfig(network Network) string {
	allowHTTP := l.boolean(EnvTONConfigAllowHTTP)
	v := l.get(EnvTONConfig)
	if v == "" {
		if network == Testnet {
			return TestnetConfigURL
		}
		return MainnetConfigURL
	}
	lower := strings.ToLower(v)
	var name string // what the network check looks at
	if strings.HasPrefix(lower, "http://") || strings.HasPrefix(lower, "https://") {
		u, err := url.Parse(v)
		if err != nil || u.Host == "" {
			l.problemf(EnvTONConfig, "%s is not a valid http(s) URL", l.quote(EnvTONConfig, v))
			return ""
		}
		if network == Mainnet && strings.HasPrefix(lower, "http://") && !allowHTTP {
			l.problemf(EnvTONConfig, "%s is plain http on mainnet: anyone on the path could name the liteservers the processor trusts; use https, a file, or set %s=true",
				l.quote(EnvTONConfig, v), EnvTONConfigAllowHTTP)
			return ""
		}
		name = lower
	} else {
		if strings.Contains(v, "://") {
			l.problemf(EnvTONConfig, "%s: only file paths and http(s) URLs are supported", l.quote(EnvTONConfig, v))
			return ""
		}
		st, err := os.Stat(v)
		if err != nil {
			l.problemf(EnvTONConfig, "cannot use file: %v", err)
			return ""
		}
		if !st.Mode().IsRegular() {
			l.problemf(EnvTONConfig, "%s is not a regular file", l.quote(EnvTONConfig, v))
			return ""
		}
		// Directories say little about the network; the file name does.
		name = strings.ToLower(filepath.Base(v))
	}
	switch network {
	case Mainnet:
		if strings.Contains(name, "testnet") {
			l.problemf(EnvTONConfig, "%s looks like a testnet config but TON_NETWORK=mainnet", l.quote(EnvTONConfig, v))
		}
	case Testnet:
		if strings.Contains(name, "mainnet") || isPublicMainnetConfigURL(name) {
			l.problemf(EnvTONConfig, "%s looks like a mainnet config but TON_NETWORK=testnet", l.quote(EnvTONConfig, v))
		}
	}
	return v
}

// isPublicMainnetConfigURL recognises the well-known mainnet config URLs,
// whose names do not say "mainnet".
func isPublicMainnetConfigURL(lower string) bool {
	for _, u := range []string{MainnetConfigURL, "https://ton-blockchain.github.io/global.config.json"} {
		if strings.TrimPrefix(strings.TrimPrefix(lower, "https://"), "http://") == strings.TrimPrefix(u, "https://") {
			return true
		}
	}
	return false
}

func (l *loader) seed() (Secret, string) {
	inline, file := l.get(EnvSeed), l.get(EnvSeedFile)
	switch {
	case inline != "" && file != "":
		l.problemf(EnvSeed, "set only one of SEED and SEED_FILE")
		return Secret{}, ""
	case inline == "" && file == "":
		l.problemf(EnvSeed, "required: set SEED or SEED_FILE to the 24-word mnemonic")
		return Secret{}, ""
	case inline != "":
		words, warn, err := checkMnemonic(inline)
		if err != nil {
			l.problemf(EnvSeed, "%v", err)
			return Secret{}, ""
		}
		if warn != "" {
			l.warnf("%s %s", EnvSeed, warn)
		}
		return NewSecret(words), ""
	}
	raw, err := readSeedFile(file)
	if err != nil {
		l.problemf(EnvSeedFile, "%v", err)
		return Secret{}, ""
	}
	words, warn, err := checkMnemonic(raw)
	if err != nil {
		l.problemf(EnvSeedFile, "content %v", err)
		return Secret{}, ""
	}
	if warn != "" {
		l.warnf("%s: the content %s", EnvSeedFile, warn)
	}
	return NewSecret(words), file
}

// maxSeedFile bounds what is read from SEED_FILE: 24 words fit in 300 bytes.
const maxSeedFile = 4096

// readSeedFile reads the mnemonic file after checking, on the opened file
// (no race with a rename), that only its owner can access it: whoever can
// read it owns every wallet, whoever can write it can redirect deposits.
func readSeedFile(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("cannot open: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return "", fmt.Errorf("cannot stat: %w", err)
	}
	if !st.Mode().IsRegular() {
		return "", fmt.Errorf("%s is not a regular file", path)
	}
	if perm := st.Mode().Perm(); perm&0o077 != 0 {
		return "", fmt.Errorf("%s has mode %04o: it must not be accessible by group or others (chmod 600 %s)", path, perm, path)
	}
	data, err := io.ReadAll(io.LimitReader(f, maxSeedFile+1))
	if err != nil {
		return "", fmt.Errorf("cannot read %s: %w", path, err)
	}
	if len(data) > maxSeedFile {
		return "", fmt.Errorf("%s is larger than %d bytes; it should hold only the mnemonic", path, maxSeedFile)
	}
	return string(data), nil
}

var tokenNameRE = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,64}$`)

// minSecretLen is the minimum length of API tokens and the webhook secret.
const minSecretLen = 16

// checkToken accepts what can travel in an Authorization header and in the
// comma-separated API_TOKENS list: visible ASCII except ','.
func checkToken(t string) error {
	if len(t) < minSecretLen {
		return fmt.Errorf("must be at least %d characters", minSecretLen)
	}
	for i := 0; i < len(t); i++ {
		if t[i] < 0x21 || t[i] > 0x7e || t[i] == ',' {
			return errors.New("must contain only visible ASCII characters other than ','")
		}
	}
	return nil
}

func (l *loader) apiTokens() []APIToken {
	var tokens []APIToken
	bad := false
	if t := l.get(EnvAPIToken); t != "" {
		if err := checkToken(t); err != nil {
			l.problemf(EnvAPIToken, "%v", err)
			bad = true
		} else {
			tokens = append(tokens, APIToken{Name: "default", Token: NewSecret(t)})
		}
	}
	if list := l.get(EnvAPITokens); list != "" {
		for i, entry := range strings.Split(list, ",") {
			// Positions only: any part of an entry may be a token.
			name, tok, ok := strings.Cut(strings.TrimSpace(entry), ":")
			switch {
			case !ok:
				l.problemf(EnvAPITokens, "entry %d must be name:token", i+1)
			case !tokenNameRE.MatchString(name):
				l.problemf(EnvAPITokens, "entry %d: name must be 1-64 characters A-Z a-z 0-9 _ . -", i+1)
			default:
				if err := checkToken(tok); err != nil {
					l.problemf(EnvAPITokens, "entry %d: token %v", i+1, err)
					bad = true
					continue
				}
				tokens = append(tokens, APIToken{Name: name, Token: NewSecret(tok)})
				continue
			}
			bad = true
		}
	}
	if path := l.get(EnvAPITokensFile); path != "" {
		data, err := readSeedFile(path) // same rules: a regular file only its owner can read
		if err != nil {
			l.problemf(EnvAPITokensFile, "%v", err)
			bad = true
		}
		for i, line := range strings.Split(data, "\n") {
			line = strings.TrimSpace(line)
			if line == "" || strings.HasPrefix(line, "#") {
				continue
			}
			name, tok, ok := strings.Cut(line, ":")
			switch {
			case !ok || !tokenNameRE.MatchString(name):
				l.problemf(EnvAPITokensFile, "line %d must be name:token with a name of 1-64 characters A-Z a-z 0-9 _ . -", i+1)
				bad = true
			case checkToken(tok) != nil:
				l.problemf(EnvAPITokensFile, "line %d: token %v", i+1, checkToken(tok))
				bad = true
			default:
				tokens = append(tokens, APIToken{Name: name, Token: NewSecret(tok)})
			}
		}
	}
	names := map[string]bool{}
	values := map[string]bool{}
	for _, t := range tokens {
		if names[t.Name] {
			l.problemf(EnvAPITokens, "token name %q is used twice (API_TOKEN is named \"default\")", t.Name)
		}
		if values[t.Token.Reveal()] {
			l.problemf(EnvAPITokens, "token named %q repeats another token's value", t.Name)
		}
		names[t.Name], values[t.Token.Reveal()] = true, true
	}
	if len(tokens) == 0 && !bad {
		l.problemf(EnvAPIToken, "required: set API_TOKEN or API_TOKENS")
	}
	return tokens
}

func (l *loader) rateLimit() (float64, int) {
	limit, burst := 500.0, 1000
	if v := l.get(EnvAPIRateLimit); v != "" {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || f < 0 || math.IsInf(f, 0) || math.IsNaN(f) {
			l.problemf(EnvAPIRateLimit, "must be a number of requests per second >= 0")
		} else {
			limit = f
		}
	}
	if v := l.get(EnvAPIRateBurst); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			l.problemf(EnvAPIRateBurst, "must be a whole number >= 1")
		} else {
			burst = n
		}
	}
	return limit, burst
}

func (l *loader) tls() (string, string) {
	cert, key := l.get(EnvTLSCertFile), l.get(EnvTLSKeyFile)
	if (cert == "") != (key == "") {
		l.problemf(EnvTLSCertFile, "set both TLS_CERT_FILE and TLS_KEY_FILE, or neither")
		return "", ""
	}
	for _, p := range []struct{ name, path string }{{EnvTLSCertFile, cert}, {EnvTLSKeyFile, key}} {
		if p.path == "" {
			continue
		}
		if st, err := os.Stat(p.path); err != nil || !st.Mode().IsRegular() {
			l.problemf(p.name, "%s is not a readable regular file", p.path)
		}
	}
	return cert, key
}

func (l *loader) listen(name string) string {
	v := l.get(name)
	_, port, err := net.SplitHostPort(v)
	if err != nil {
		l.problemf(name, "%s must be host:port", l.quote(name, v))
		return ""
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		l.problemf(name, "%s: port must be a number 0-65535", l.quote(name, v))
		return ""
	}
	return v
}

var symbolRE = regexp.MustCompile(`^[A-Z0-9]{1,12}$`)

func (l *loader) jettons(network Network) []Jetton {
	v := l.get(EnvJettons)
	if v == "" {
		return nil
	}
	var out []Jetton
	symbols := map[string]bool{}
	masters := map[string]string{}
	for i, entry := range strings.Split(v, ",") {
		entry = strings.TrimSpace(entry)
		n := i + 1
		// SYMBOL:ADDRESS:THRESHOLD, where a raw ADDRESS has a colon itself.
		sym, rest, ok1 := strings.Cut(entry, ":")
		cut := strings.LastIndexByte(rest, ':')
		if !ok1 || cut < 0 {
			l.problemf(EnvJettons, "entry %d %s must be SYMBOL:MASTER_ADDRESS:SWEEP_THRESHOLD", n, l.quote(EnvJettons, entry))
			continue
		}
		addrText, thresholdText := strings.TrimSpace(rest[:cut]), strings.TrimSpace(rest[cut+1:])
		sym = strings.TrimSpace(sym)
		ok := true
		switch {
		case !symbolRE.MatchString(sym):
			l.problemf(EnvJettons, "entry %d: symbol %s must be 1-12 characters A-Z 0-9", n, l.quote(EnvJettons, sym))
			ok = false
		case sym == TONSymbol:
			l.problemf(EnvJettons, "entry %d: symbol TON is reserved for toncoin", n)
			ok = false
		case symbols[sym]:
			l.problemf(EnvJettons, "entry %d: symbol %s is listed twice", n, sym)
			ok = false
		}
		symbols[sym] = true
		master, err := parseAddress(addrText, network)
		if err != nil {
			l.problemf(EnvJettons, "entry %d (%s): master address %v", n, sym, err)
			ok = false
		} else {
			key := master.StringRaw()
			if prev, dup := masters[key]; dup {
				l.problemf(EnvJettons, "entry %d (%s): master address is already used by %s", n, sym, prev)
				ok = false
			}
			masters[key] = sym
		}
		threshold, err := money.ParseNonNegative(thresholdText)
		if err != nil {
			l.problemf(EnvJettons, "entry %d (%s): sweep threshold: %v", n, sym, err)
			ok = false
		}
		if ok {
			out = append(out, Jetton{Symbol: sym, Master: master, SweepThreshold: threshold})
		}
	}
	return out
}

func (l *loader) withdrawalLimits(jettons []Jetton) map[string]WithdrawalLimit {
	v := l.get(EnvWithdrawalLimits)
	if v == "" {
		return nil
	}
	known := map[string]bool{TONSymbol: true}
	for _, j := range jettons {
		known[j.Symbol] = true
	}
	out := map[string]WithdrawalLimit{}
	for i, entry := range strings.Split(v, ",") {
		n := i + 1
		parts := strings.Split(strings.TrimSpace(entry), ":")
		if len(parts) != 3 {
			l.problemf(EnvWithdrawalLimits, "entry %d %s must be SYMBOL:MAX_PER_WITHDRAWAL:MAX_PER_DAY (an empty field is no limit)",
				n, l.quote(EnvWithdrawalLimits, entry))
			continue
		}
		sym := strings.TrimSpace(parts[0])
		if !known[sym] {
			l.problemf(EnvWithdrawalLimits, "entry %d: %s is neither TON nor a symbol from JETTONS", n, l.quote(EnvWithdrawalLimits, sym))
			continue
		}
		if _, dup := out[sym]; dup {
			l.problemf(EnvWithdrawalLimits, "entry %d: %s is listed twice", n, sym)
			continue
		}
		var lim WithdrawalLimit
		ok := true
		for k, dst := range []**big.Int{&lim.PerWithdrawal, &lim.PerDay} {
			f := strings.TrimSpace(parts[k+1])
			if f == "" {
				continue
			}
			amt, err := money.Parse(f)
			if err != nil {
				l.problemf(EnvWithdrawalLimits, "entry %d (%s): %s: %v", n, sym, []string{"max per withdrawal", "max per day"}[k], err)
				ok = false
				continue
			}
			*dst = amt
		}
		if ok {
			out[sym] = lim
		}
	}
	return out
}

func (l *loader) approvalThresholds(jettons []Jetton) map[string]*big.Int {
	v := l.get(EnvApprovalThresholds)
	if v == "" {
		return nil
	}
	known := map[string]bool{TONSymbol: true}
	for _, j := range jettons {
		known[j.Symbol] = true
	}
	out := map[string]*big.Int{}
	for i, entry := range strings.Split(v, ",") {
		n := i + 1
		sym, amount, ok := strings.Cut(strings.TrimSpace(entry), ":")
		sym = strings.TrimSpace(sym)
		if !ok {
			l.problemf(EnvApprovalThresholds, "entry %d %s must be SYMBOL:AMOUNT", n, l.quote(EnvApprovalThresholds, entry))
			continue
		}
		if !known[sym] {
			l.problemf(EnvApprovalThresholds, "entry %d: %s is neither TON nor a symbol from JETTONS", n, l.quote(EnvApprovalThresholds, sym))
			continue
		}
		if _, dup := out[sym]; dup {
			l.problemf(EnvApprovalThresholds, "entry %d: %s is listed twice", n, sym)
			continue
		}
		amt, err := money.Parse(strings.TrimSpace(amount))
		if err != nil {
			l.problemf(EnvApprovalThresholds, "entry %d (%s): %v", n, sym, err)
			continue
		}
		out[sym] = amt
	}
	return out
}

func (l *loader) jettonDecimals(jettons []Jetton) map[string]int {
	v := l.get(EnvJettonDecimals)
	if v == "" {
		return nil
	}
	known := map[string]bool{}
	for _, j := range jettons {
		known[j.Symbol] = true
	}
	out := map[string]int{}
	for i, entry := range strings.Split(v, ",") {
		n := i + 1
		sym, digits, ok := strings.Cut(strings.TrimSpace(entry), ":")
		sym = strings.TrimSpace(sym)
		if !ok {
			l.problemf(EnvJettonDecimals, "entry %d %s must be SYMBOL:DECIMALS", n, l.quote(EnvJettonDecimals, entry))
			continue
		}
		if !known[sym] {
			l.problemf(EnvJettonDecimals, "entry %d: %s is not a symbol from JETTONS", n, l.quote(EnvJettonDecimals, sym))
			continue
		}
		if _, dup := out[sym]; dup {
			l.problemf(EnvJettonDecimals, "entry %d: %s is listed twice", n, sym)
			continue
		}
		d, err := strconv.Atoi(strings.TrimSpace(digits))
		if err != nil || d < 0 || d > 255 {
			l.problemf(EnvJettonDecimals, "entry %d (%s): decimals must be a whole number from 0 to 255", n, sym)
			continue
		}
		out[sym] = d
	}
	return out
}

func (l *loader) approvalsRequired() int {
	v := l.get(EnvApprovalsRequired)
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > 10 {
		l.problemf(EnvApprovalsRequired, "must be a whole number from 1 to 10, not %s", l.quote(EnvApprovalsRequired, v))
		return 1
	}
	return n
}

func (l *loader) amount(name string, parse func(string) (*big.Int, error)) *big.Int {
	v, err := parse(l.get(name))
	if err != nil {
		l.problemf(name, "%v", err)
		return nil
	}
	return v
}

// optionalDuration is duration with 0 allowed (off).
func (l *loader) optionalDuration(name string) time.Duration {
	if v := l.get(name); v == "0" {
		return 0
	}
	return l.duration(name)
}

func (l *loader) duration(name string) time.Duration {
	v := l.get(name)
	d, err := time.ParseDuration(v)
	if err != nil {
		l.problemf(name, "%s is not a duration such as 30s or 1m", l.quote(name, v))
		return 0
	}
	if d <= 0 {
		l.problemf(name, "must be positive")
		return 0
	}
	return d
}

// Highload v3 stores timeout in 22 bits; tonutils-go refuses <= 5 s.
const (
	minHighloadTimeout = 6 * time.Second
	maxHighloadTimeout = (1<<22 - 1) * time.Second
)

func (l *loader) highloadTimeout() time.Duration {
	d := l.duration(EnvHighloadTimeout)
	if d == 0 {
		return 0
	}
	if d%time.Second != 0 || d < minHighloadTimeout || d > maxHighloadTimeout {
		l.problemf(EnvHighloadTimeout, "must be whole seconds between %ds and %ds", minHighloadTimeout/time.Second, maxHighloadTimeout/time.Second)
		return 0
	}
	return d
}

func (l *loader) webhook() (string, Secret) {
	u, secret := l.get(EnvWebhookURL), l.get(EnvWebhookSecret)
	if u == "" {
		if secret != "" {
			l.problemf(EnvWebhookSecret, "is set but WEBHOOK_URL is not, so nothing would be sent")
		}
		return "", Secret{}
	}
	ok := true
	// The URL may carry credentials, so it is not quoted back.
	parsed, err := url.Parse(u)
	if err != nil || (parsed.Scheme != "http" && parsed.Scheme != "https") || parsed.Host == "" {
		l.problemf(EnvWebhookURL, "must be an absolute http:// or https:// URL")
		ok = false
	}
	switch {
	case secret == "":
		l.problemf(EnvWebhookSecret, "required when WEBHOOK_URL is set")
		ok = false
	case len(secret) < minSecretLen:
		l.problemf(EnvWebhookSecret, "must be at least %d characters", minSecretLen)
		ok = false
	}
	if !ok {
		return "", Secret{}
	}
	return u, NewSecret(secret)
}

func (l *loader) optionalAddress(name string, network Network) *address.Address {
	v := l.get(name)
	if v == "" {
		return nil
	}
	a, err := parseAddress(v, network)
	if err != nil {
		l.problemf(name, "%v", err)
		return nil
	}
	return a
}

func (l *loader) hotWalletBalances(cold bool) (minBal, maxBal, residual *big.Int) {
	minBal = l.amount(EnvHotWalletMinBalance, money.ParseNonNegative)
	maxText, residualText := l.get(EnvHotWalletMaxBalance), l.get(EnvHotWalletResidual)
	if !cold {
		for _, nv := range [][2]string{{EnvHotWalletMaxBalance, maxText}, {EnvHotWalletResidual, residualText}} {
			if nv[1] != "" {
				l.problemf(nv[0], "is set but COLD_WALLET is not, so it would have no effect")
			}
		}
		return minBal, nil, nil
	}
	if maxText == "" {
		l.problemf(EnvHotWalletMaxBalance, "required when COLD_WALLET is set")
	} else {
		maxBal = l.amount(EnvHotWalletMaxBalance, money.Parse)
	}
	if residualText == "" {
		l.problemf(EnvHotWalletResidual, "required when COLD_WALLET is set")
	} else {
		residual = l.amount(EnvHotWalletResidual, money.ParseNonNegative)
	}
	if maxBal != nil && residual != nil && maxBal.Cmp(residual) <= 0 {
		l.problemf(EnvHotWalletMaxBalance, "must be greater than HOT_WALLET_RESIDUAL (%s <= %s)", maxBal, residual)
	}
	if residual != nil && minBal != nil && residual.Cmp(minBal) < 0 {
		l.problemf(EnvHotWalletResidual, "must be at least HOT_WALLET_MIN_BALANCE (%s < %s)", residual, minBal)
	}
	return minBal, maxBal, residual
}

func (l *loader) oneOf(name string, allowed ...string) string {
	v := strings.ToLower(l.get(name))
	for _, a := range allowed {
		if v == a {
			return a
		}
	}
	l.problemf(name, "%s is not one of %s", l.quote(name, v), strings.Join(allowed, ", "))
	return ""
}

func (l *loader) logLevel() slog.Level {
	v := l.get(EnvLogLevel)
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(v)); err != nil {
		l.problemf(EnvLogLevel, "%s is not one of debug, info, warn, error", l.quote(EnvLogLevel, v))
	}
	return lvl
}

func (l *loader) startBlock() uint32 {
	v := l.get(EnvScannerStartBlock)
	if v == "" {
		return 0
	}
	n, err := strconv.ParseUint(v, 10, 32)
	if err != nil || n == 0 {
		l.problemf(EnvScannerStartBlock, "%s must be a masterchain seqno between 1 and 4294967295", l.quote(EnvScannerStartBlock, v))
		return 0
	}
	return uint32(n)
}

func (l *loader) apiCompat() APICompat {
	switch v := strings.ToLower(l.get(EnvAPICompat)); APICompat(v) {
	case CompatNone, CompatBicycle:
		return APICompat(v)
	}
	l.problemf(EnvAPICompat, "%s is not a profile: set bicycle, or leave it empty for this processor's own API", l.quote(EnvAPICompat, l.get(EnvAPICompat)))
	return CompatNone
}

// boolean reads a true/false variable (default from its Var).
func (l *loader) boolean(name string) bool {
	return l.oneOf(name, "true", "false") == "true"
}

// Console configures the operator console.
type Console struct {
	// Enabled serves the console (CONSOLE_ENABLED).
	Enabled bool
	// Addr is the console's own host:port; "" serves it on APIListen.
	Addr string
	// ExplorerURL is the explorer's base URL, without a trailing slash.
	ExplorerURL string
	// SessionTTL is how long a login lasts.
	SessionTTL time.Duration
	// MaxFailedLogins in a row within Lockout lock a name for Lockout.
	MaxFailedLogins int
	Lockout         time.Duration
	// InsecureCookie leaves the Secure flag off the session cookie (plain
	// http on loopback only).
	InsecureCookie bool
}

// Explorer base URLs used when CONSOLE_EXPLORER_URL is not set.
const (
	MainnetExplorerURL = "https://tonviewer.com"
	TestnetExplorerURL = "https://testnet.tonviewer.com"
)

func (l *loader) console(network Network, apiListen string) Console {
	c := Console{Enabled: l.boolean(EnvConsoleEnabled), InsecureCookie: l.boolean(EnvConsoleInsecureCookie)}
	if l.get(EnvConsoleAddr) != "" {
		c.Addr = l.listen(EnvConsoleAddr)
	}
	c.ExplorerURL = strings.TrimRight(l.get(EnvConsoleExplorerURL), "/")
	if c.ExplorerURL == "" {
		c.ExplorerURL = MainnetExplorerURL
		if network == Testnet {
			c.ExplorerURL = TestnetExplorerURL
		}
	} else if u, err := url.Parse(c.ExplorerURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		l.problemf(EnvConsoleExplorerURL, "%s must be an http(s) URL", l.quote(EnvConsoleExplorerURL, c.ExplorerURL))
	}
	c.SessionTTL = l.duration(EnvConsoleSessionTTL)
	if c.SessionTTL != 0 && (c.SessionTTL < time.Minute || c.SessionTTL > 720*time.Hour) {
		l.problemf(EnvConsoleSessionTTL, "must be between 1m and 720h")
	}
	c.Lockout = l.duration(EnvConsoleLockout)
	if c.Lockout != 0 && (c.Lockout < time.Minute || c.Lockout > 24*time.Hour) {
		l.problemf(EnvConsoleLockout, "must be between 1m and 24h")
	}
	n, err := strconv.Atoi(l.get(EnvConsoleMaxFailedLogins))
	if err != nil || n < 1 || n > 100 {
		l.problemf(EnvConsoleMaxFailedLogins, "must be a whole number from 1 to 100")
	}
	c.MaxFailedLogins = n
	if c.InsecureCookie {
		addr := c.Addr
		if addr == "" {
			addr = apiListen
		}
		if !isLoopback(addr) {
			l.problemf(EnvConsoleInsecureCookie, "true is allowed only when the console listens on a loopback address (CONSOLE_ADDR, else API_LISTEN), not %s", addr)
		}
	}
	return c
}

// isLoopback reports whether host:port names a loopback host.
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
