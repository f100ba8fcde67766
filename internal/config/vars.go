package config

import (
	"fmt"
	"strings"
)

// Var describes one environment variable: its name, the default applied
// when it is unset or empty, what it does, and whether its value is secret
// (never printed, logged or quoted in an error).
type Var struct {
	Name        string
	Default     string
	Description string
	Secret      bool
}

// Environment variable names.
const (
	EnvDatabaseURL             = "DATABASE_URL"
	EnvTONNetwork              = "TON_NETWORK"
	EnvTONConfig               = "TON_CONFIG"
	EnvTONConfigAllowHTTP      = "TON_CONFIG_ALLOW_HTTP"
	EnvSeed                    = "SEED"
	EnvSeedFile                = "SEED_FILE"
	EnvAPIToken                = "API_TOKEN"
	EnvAPITokens               = "API_TOKENS"
	EnvAPIListen               = "API_LISTEN"
	EnvJettons                 = "JETTONS"
	EnvJettonDecimals          = "JETTON_DECIMALS"
	EnvTONSweepThreshold       = "TON_SWEEP_THRESHOLD"
	EnvAllowableLag            = "ALLOWABLE_LAG"
	EnvWebhookURL              = "WEBHOOK_URL"
	EnvWebhookSecret           = "WEBHOOK_SECRET"
	EnvWebhookEndpoint         = "WEBHOOK_ENDPOINT"
	EnvWebhookToken            = "WEBHOOK_TOKEN"
	EnvRabbitMQURL             = "RABBITMQ_URL"
	EnvRabbitMQExchange        = "RABBITMQ_EXCHANGE"
	EnvRabbitMQQueue           = "RABBITMQ_QUEUE"
	EnvColdWallet              = "COLD_WALLET"
	EnvHotWalletMinBalance     = "HOT_WALLET_MIN_BALANCE"
	EnvHotWalletMaxBalance     = "HOT_WALLET_MAX_BALANCE"
	EnvHotWalletResidual       = "HOT_WALLET_RESIDUAL"
	EnvIncomeCountingSide      = "INCOME_COUNTING_SIDE"
	EnvLedgerReconcileInterval = "LEDGER_RECONCILE_INTERVAL"
	EnvLedgerReconcileDust     = "LEDGER_RECONCILE_DUST"
	EnvLogFormat               = "LOG_FORMAT"
	EnvLogLevel                = "LOG_LEVEL"
	EnvScannerStartBlock       = "SCANNER_START_BLOCK"
	EnvWithdrawalBatchInterval = "WITHDRAWAL_BATCH_INTERVAL"
	EnvHighloadTimeout         = "HIGHLOAD_TIMEOUT"
	EnvAPITokensFile           = "API_TOKENS_FILE"
	EnvAPIRateLimit            = "API_RATE_LIMIT"
	EnvAPIRateBurst            = "API_RATE_BURST"
	EnvTLSCertFile             = "TLS_CERT_FILE"
	EnvTLSKeyFile              = "TLS_KEY_FILE"
	EnvWithdrawalLimits        = "WITHDRAWAL_LIMITS"
	EnvAPICompat               = "API_COMPAT"
	EnvApprovalThresholds      = "APPROVAL_THRESHOLDS"
	EnvApprovalsRequired       = "APPROVALS_REQUIRED"
	EnvConsoleEnabled          = "CONSOLE_ENABLED"
	EnvConsoleAddr             = "CONSOLE_ADDR"
	EnvConsoleExplorerURL      = "CONSOLE_EXPLORER_URL"
	EnvConsoleSessionTTL       = "CONSOLE_SESSION_TTL"
	EnvConsoleMaxFailedLogins  = "CONSOLE_MAX_FAILED_LOGINS"
	EnvConsoleLockout          = "CONSOLE_LOCKOUT"
	EnvConsoleInsecureCookie   = "CONSOLE_INSECURE_COOKIE"
)

// Public global config URLs used when TON_CONFIG is not set.
const (
	MainnetConfigURL = "https://ton.org/global.config.json"
	TestnetConfigURL = "https://ton.org/testnet-global.config.json"
)

// variables is the single table behind Variables, Doc and Load's defaults.
var variables = []Var{
	{Name: EnvDatabaseURL, Secret: true,
		Description: "PostgreSQL connection URL (postgres://user:pass@host:5432/db). Required. Pool settings go in its query: pool_max_conns (default 20), pool_min_conns (connections kept open: a pool that starts empty opens backends under the first load, tens of ms each)."},
	{Name: EnvTONNetwork, Default: string(Mainnet),
		Description: "mainnet or testnet. Addresses and TON_CONFIG must match it."},
	{Name: EnvTONConfig,
		Description: "Path or http(s) URL of the network's global config JSON. Default: " +
			MainnetConfigURL + " on mainnet, " + TestnetConfigURL + " on testnet. On mainnet a URL must be https: the config names the liteservers and their keys, so whoever can alter it in transit chooses the chain the processor believes."},
	{Name: EnvTONConfigAllowHTTP, Default: "false",
		Description: "true allows a plain http:// TON_CONFIG on mainnet (e.g. a config server on a private network you trust). Leave false otherwise."},
	{Name: EnvSeed, Secret: true,
		Description: "24-word TON mnemonic of all wallets (hot and deposits). Set exactly one of SEED and SEED_FILE."},
	{Name: EnvSeedFile,
		Description: "File holding the mnemonic instead of SEED; must not be accessible by group or others (chmod 600)."},
	{Name: EnvAPIToken, Secret: true,
		Description: "Bearer token of the HTTP API, at least 16 visible ASCII characters. API_TOKEN or API_TOKENS is required."},
	{Name: EnvAPITokens, Secret: true,
		Description: "Several named tokens for rotation: name:token,name2:token2. May be combined with API_TOKEN (named \"default\")."},
	{Name: EnvAPIListen, Default: "127.0.0.1:8081",
		Description: "host:port the HTTP API listens on."},
	{Name: EnvAPICompat,
		Description: "HTTP API compatibility profile. Empty: this processor's API as documented. bicycle: answers as gobicycle/bicycle's API does where the two differ (amount may be a JSON number, unknown fields and query parameters are ignored, 400 for an unknown withdrawal ID, any deposit/history limit); see README, Switching from bicycle."},
	{Name: EnvJettons,
		Description: "Accepted jettons: SYMBOL:MASTER_ADDRESS:SWEEP_THRESHOLD[,...]; symbol A-Z0-9 up to 12 characters, threshold in base units."},
	{Name: EnvJettonDecimals,
		Description: "Optional decimals of JETTONS symbols, for display only (the operator console): SYMBOL:DECIMALS[,...], e.g. USDT:6. A jetton without them is shown in base units. Amounts in the API and webhooks are always base units."},
	{Name: EnvTONSweepThreshold, Default: "1000000000",
		Description: "Deposit TON balance (nanoton) above which it is swept to the hot wallet."},
	{Name: EnvAllowableLag, Default: "30s",
		Description: "How far the last scanned block may trail wall time and the network head and still count as in sync (withdrawals stop when not)."},
	{Name: EnvWebhookURL,
		Description: "http(s) URL that receives signed deposit and withdrawal notifications. Empty: no webhooks."},
	{Name: EnvWebhookSecret, Secret: true,
		Description: "Key that signs webhook bodies, at least 16 characters. Required with WEBHOOK_URL."},
	{Name: EnvWebhookEndpoint,
		Description: "Only with API_COMPAT=bicycle (the name is gobicycle/bicycle's): http(s) URL that receives each credited deposit in bicycle's shape, and no withdrawal events (README, Webhooks). Independent of WEBHOOK_URL: both may be set. Empty: off."},
	{Name: EnvWebhookToken, Secret: true,
		Description: "Sent to WEBHOOK_ENDPOINT as Authorization: Bearer <token>, as bicycle's WEBHOOK_TOKEN; visible ASCII. Empty: no Authorization header."},
	{Name: EnvRabbitMQURL, Secret: true,
		Description: "amqp://user:password@host:5672/vhost (or amqps://): notifications are also published to RabbitMQ, from the same outbox (README, RabbitMQ). Empty: off. With API_COMPAT=bicycle, bicycle's QUEUE_ENABLED=true and QUEUE_URI are read as this."},
	{Name: EnvRabbitMQExchange,
		Description: "Exchange the notifications are published to. Default processor.events, a durable topic exchange (routing key = event type). With API_COMPAT=bicycle required (bicycle's QUEUE_NAME is read as this): a fanout exchange, declared as bicycle declares it when missing."},
	{Name: EnvRabbitMQQueue,
		Description: "Durable queue declared (when missing) and bound to RABBITMQ_EXCHANGE for every event, so messages wait there while no consumer runs. Default processor.events; with API_COMPAT=bicycle none (bicycle declares none). - declares none: consumers bind their own queues, and a message no queue takes is retried until one does."},
	{Name: EnvColdWallet,
		Description: "Cold wallet address. When set, hot wallet TON above HOT_WALLET_MAX_BALANCE is sent there down to HOT_WALLET_RESIDUAL."},
	{Name: EnvHotWalletMinBalance, Default: "0",
		Description: "Nanoton the hot wallet keeps: withdrawals that would take it lower wait."},
	{Name: EnvHotWalletMaxBalance,
		Description: "Nanoton above which the hot wallet sends the excess to COLD_WALLET. Required with COLD_WALLET."},
	{Name: EnvHotWalletResidual,
		Description: "Nanoton left on the hot wallet after a cold transfer; MAX > RESIDUAL >= MIN. Required with COLD_WALLET."},
	{Name: EnvIncomeCountingSide, Default: string(CountDeposit),
		Description: "What /v1/income totals: deposit (everything received by deposit addresses) or hot_wallet (what was swept to the hot wallet)."},
	{Name: EnvLedgerReconcileInterval, Default: "10m",
		Description: "How often the ledger is reconciled with the chain at one masterchain block (README, Ledger and reconciliation); 0 turns the job off."},
	{Name: EnvLedgerReconcileDust, Default: "10000000",
		Description: "Nanoton a wallet's TON may differ from its ledger balance without being reported (storage fees and fees of transactions the processor does not account for). Jetton balances must match exactly."},
	{Name: EnvLogFormat, Default: "json",
		Description: "json or text."},
	{Name: EnvLogLevel, Default: "info",
		Description: "debug, info, warn or error."},
	{Name: EnvScannerStartBlock,
		Description: "Masterchain seqno the scanner starts from when the database has no cursor yet; ignored afterwards. Empty: the scanner's default."},
	{Name: EnvWithdrawalBatchInterval, Default: "5s",
		Description: "How often queued withdrawals are packed into one hot wallet message."},
	{Name: EnvWithdrawalLimits,
		Description: "Optional per-currency limits in base units: SYMBOL:MAX_PER_WITHDRAWAL:MAX_PER_DAY[,...]; an empty field is no limit, e.g. TON:100000000000:1000000000000,USDT::5000000000. The daily limit covers all withdrawals of the currency accepted in the last 24 hours, failed ones not counted; requests above a limit get 400."},
	{Name: EnvApprovalThresholds,
		Description: "Optional per-currency approval thresholds in base units: SYMBOL:AMOUNT[,...], e.g. TON:100000000000,USDT:1000000000. A withdrawal above its currency's threshold is stored awaiting_approval and is not paid until APPROVALS_REQUIRED operators approve it (README, Withdrawal controls). Empty: no approvals."},
	{Name: EnvApprovalsRequired, Default: "1",
		Description: "Distinct operators (role approver or admin) that must approve a withdrawal above APPROVAL_THRESHOLDS, 1 to 10."},
	{Name: EnvHighloadTimeout, Default: "60s",
		Description: "Highload wallet v3 message timeout, whole seconds between 6s and 4194303s. Part of the hot wallet's initial data: changing it changes the hot wallet address."},
	{Name: EnvAPITokensFile,
		Description: "File with one name:token per line (# comments allowed), added to API_TOKEN/API_TOKENS; must not be accessible by group or others. Re-read at start: rotate by adding the new token, restarting, then removing the old one."},
	{Name: EnvAPIRateLimit, Default: "500",
		Description: "Requests per second allowed per API token (0: no limit); excess requests get 429."},
	{Name: EnvAPIRateBurst, Default: "1000",
		Description: "Burst size of the per-token rate limit."},
	{Name: EnvTLSCertFile,
		Description: "PEM certificate for serving the API over TLS; set together with TLS_KEY_FILE. Empty: plain HTTP (terminate TLS in front)."},
	{Name: EnvTLSKeyFile,
		Description: "PEM private key for TLS_CERT_FILE."},
	{Name: EnvConsoleEnabled, Default: "false",
		Description: "true serves the operator console (README, Operator console) under /console: on API_LISTEN, or on CONSOLE_ADDR when set."},
	{Name: EnvConsoleAddr,
		Description: "host:port the operator console listens on by itself (e.g. an internal network only), with TLS_CERT_FILE when set. Empty: served on API_LISTEN beside the API."},
	{Name: EnvConsoleExplorerURL,
		Description: "Base URL of the explorer the console links addresses and transactions to (<base>/<address>, <base>/transaction/<hash>). Default: https://tonviewer.com on mainnet, https://testnet.tonviewer.com on testnet."},
	{Name: EnvConsoleSessionTTL, Default: "12h",
		Description: "How long a console login lasts (absolute, from login), 1m to 720h."},
	{Name: EnvConsoleMaxFailedLogins, Default: "5",
		Description: "Failed console logins in a row, within CONSOLE_LOCKOUT, after which the operator name is locked out for CONSOLE_LOCKOUT; 1 to 100."},
	{Name: EnvConsoleLockout, Default: "15m",
		Description: "How long failed console logins count and a locked-out operator name stays locked, 1m to 24h."},
	{Name: EnvConsoleInsecureCookie, Default: "false",
		Description: "true leaves the Secure flag off the console's session cookie, for plain http on a loopback address in development (processor dev); refused unless the console listens on a loopback address."},
}

// Variables returns every environment variable the processor reads, in
// documentation order. The slice is a copy.
func Variables() []Var {
	return append([]Var(nil), variables...)
}

// Doc returns the variables as a Markdown table for the README.
func Doc() string {
	var b strings.Builder
	b.WriteString("| Variable | Default | Description |\n|---|---|---|\n")
	for _, v := range variables {
		def := v.Default
		if def != "" {
			def = "`" + def + "`"
		}
		desc := v.Description
		if v.Secret {
			desc += " Secret: never logged."
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s |\n", v.Name, def, strings.ReplaceAll(desc, "|", "\\|"))
	}
	return b.String()
}
