package config_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/xssnick/tonutils-go/address"

	"github.com/ton-custody/processor/internal/config"
)

// testMnemonic is a valid TON mnemonic (it passes the checksum) made of
// words that no message of this package would contain, so finding any one
// of them in an output is a leak.
const testMnemonic = "kangaroo giraffe dolphin lobster hamster gorilla zebra oyster pumpkin volcano mushroom tornado umbrella jaguar cactus coconut avocado broccoli cinnamon gadget gossip lizard pelican raccoon"

// badChecksum swaps the last two words: same words, invalid mnemonic.
const badChecksum = "kangaroo giraffe dolphin lobster hamster gorilla zebra oyster pumpkin volcano mushroom tornado umbrella jaguar cactus coconut avocado broccoli cinnamon gadget gossip lizard raccoon pelican"

const (
	dbPassword    = "Pw4DistinctiveDb"
	dbURL         = "postgres://proc:" + dbPassword + "@db.internal:5432/processor?sslmode=disable&sslpassword=" + dbPassword
	apiToken      = "tok-Distinctive-0123456789"
	webhookSecret = "whsec-Distinctive-0123456789"

	usdtMainnet = "EQCxE6mUtQJKFnGfaROTKOt1lZbDiiX1kCixRv7Nw2Id_sDs"
	// The same kind of addresses, testnet-flagged (from the API spec).
	testnetBounceable    = "kQCKt2WPGX-fh0cIAz38Ljd_OKQjoZE_cqk7QrYGsNP6wfP0"
	testnetNonBounceable = "0QB7BSerVyP9xAKnxp3QpqR8JO2HKwZhl10zsfwg7aJ281ZR"
)

// rawAddr is the USDT master in raw form: same account, no flags.
var rawAddr = address.MustParseAddr(usdtMainnet).StringRaw()

// friendly builds a user-friendly address with the given flags.
func friendly(t *testing.T, testnet bool, fill byte) string {
	t.Helper()
	data := bytes.Repeat([]byte{fill}, 32)
	a := address.NewAddress(0x11, 0, data)
	a.SetTestnetOnly(testnet)
	return a.String()
}

func baseEnv() map[string]string {
	return map[string]string{
		"DATABASE_URL": dbURL,
		"SEED":         testMnemonic,
		"API_TOKEN":    apiToken,
	}
}

func getenv(env map[string]string) func(string) string {
	return func(k string) string { return env[k] }
}

// problemVars returns the sorted distinct variables named by a Load error.
func problemVars(t *testing.T, err error) []string {
	t.Helper()
	var ve *config.ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("error %v is not a *config.ValidationError", err)
	}
	var vars []string
	for _, p := range ve.Problems {
		if p.Var == "" || p.Message == "" {
			t.Fatalf("problem without variable or message: %+v", p)
		}
		if !strings.Contains(err.Error(), p.Var+": ") {
			t.Fatalf("error text %q does not name %s", err, p.Var)
		}
		vars = append(vars, p.Var)
	}
	slices.Sort(vars)
	return slices.Compact(vars)
}

func TestLoadDefaults(t *testing.T) {
	t.Parallel()
	cfg, err := config.Load(getenv(baseEnv()))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"Network", cfg.Network, config.Mainnet},
		{"TONConfig", cfg.TONConfig, config.MainnetConfigURL},
		{"DatabaseURL", cfg.DatabaseURL.Reveal(), dbURL},
		{"SeedWords", strings.Join(cfg.SeedWords(), " "), testMnemonic},
		{"SeedFile", cfg.SeedFile, ""},
		{"APITokens", len(cfg.APITokens), 1},
		{"APITokens[0].Name", cfg.APITokens[0].Name, "default"},
		{"APITokens[0].Token", cfg.APITokens[0].Token.Reveal(), apiToken},
		{"APIListen", cfg.APIListen, "127.0.0.1:8081"},
		{"Jettons", len(cfg.Jettons), 0},
		{"TONSweepThreshold", cfg.TONSweepThreshold.String(), "1000000000"},
		{"AllowableLag", cfg.AllowableLag, 30 * time.Second},
		{"WebhookURL", cfg.WebhookURL, ""},
		{"WebhookSecret set", cfg.WebhookSecret.IsSet(), false},
		{"ColdWallet nil", cfg.ColdWallet == nil, true},
		{"HotWalletMinBalance", cfg.HotWalletMinBalance.String(), "0"},
		{"HotWalletMaxBalance nil", cfg.HotWalletMaxBalance == nil, true},
		{"HotWalletResidual nil", cfg.HotWalletResidual == nil, true},
		{"IncomeCountingSide", cfg.IncomeCountingSide, config.CountDeposit},
		{"LogFormat", cfg.LogFormat, "json"},
		{"LogLevel", cfg.LogLevel, slog.LevelInfo},
		{"ScannerStartBlock", cfg.ScannerStartBlock, uint32(0)},
		{"WithdrawalBatchInterval", cfg.WithdrawalBatchInterval, 5 * time.Second},
		{"HighloadTimeout", cfg.HighloadTimeout, 60 * time.Second},
		{"Currencies", strings.Join(cfg.Currencies(), ","), "TON"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
}

func TestLoadValid(t *testing.T) {
	t.Parallel()
	tonConfigFile := filepath.Join(t.TempDir(), "global.config.json")
	if err := os.WriteFile(tonConfigFile, []byte("{}"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		env   map[string]string
		check func(t *testing.T, c *config.Config)
	}{
		{
			name: "testnet defaults to the testnet config URL and takes testnet addresses",
			env: map[string]string{"TON_NETWORK": "testnet", "COLD_WALLET": testnetBounceable,
				"HOT_WALLET_MAX_BALANCE": "100", "HOT_WALLET_RESIDUAL": "50",
				"JETTONS": "TGR:" + testnetNonBounceable + ":0"},
			check: func(t *testing.T, c *config.Config) {
				if c.Network != config.Testnet || c.TONConfig != config.TestnetConfigURL {
					t.Errorf("network %s config %s", c.Network, c.TONConfig)
				}
				if c.ColdWallet == nil || !c.ColdWallet.IsTestnetOnly() {
					t.Errorf("cold wallet %v", c.ColdWallet)
				}
			},
		},
		{
			name: "network name is case-insensitive and trimmed",
			env:  map[string]string{"TON_NETWORK": " Mainnet "},
			check: func(t *testing.T, c *config.Config) {
				if c.Network != config.Mainnet {
					t.Errorf("network %s", c.Network)
				}
			},
		},
		{
			name: "jettons with friendly and raw masters",
			env:  map[string]string{"JETTONS": "USDT:" + usdtMainnet + ":1000000, NOT:" + rawAddr[:2] + strings.Repeat("ab", 32) + ":0"},
			check: func(t *testing.T, c *config.Config) {
				if len(c.Jettons) != 2 {
					t.Fatalf("jettons %v", c.Jettons)
				}
				u, ok := c.Jetton("USDT")
				if !ok || u.Master.String() != usdtMainnet || u.SweepThreshold.String() != "1000000" {
					t.Errorf("USDT = %+v", u)
				}
				n, ok := c.Jetton("NOT")
				if !ok || n.Master.Workchain() != 0 || n.SweepThreshold.Sign() != 0 {
					t.Errorf("NOT = %+v", n)
				}
				if got := strings.Join(c.Currencies(), ","); got != "TON,USDT,NOT" {
					t.Errorf("currencies %s", got)
				}
			},
		},
		{
			name: "raw addresses are accepted on testnet",
			env: map[string]string{"TON_NETWORK": "testnet", "JETTONS": "USDT:" + rawAddr + ":1",
				"COLD_WALLET": rawAddr, "HOT_WALLET_MAX_BALANCE": "2", "HOT_WALLET_RESIDUAL": "1"},
		},
		{
			name: "standard base64 alphabet is accepted",
			env:  map[string]string{"COLD_WALLET": strings.NewReplacer("-", "+", "_", "/").Replace(usdtMainnet), "HOT_WALLET_MAX_BALANCE": "2", "HOT_WALLET_RESIDUAL": "1"},
			check: func(t *testing.T, c *config.Config) {
				if c.ColdWallet.String() != usdtMainnet {
					t.Errorf("cold wallet %s", c.ColdWallet)
				}
			},
		},
		{
			name: "token rotation: API_TOKEN plus API_TOKENS",
			env:  map[string]string{"API_TOKENS": "ops:ops-token-0123456789, ci.bot:ci-token-0123456789:x"},
			check: func(t *testing.T, c *config.Config) {
				var names []string
				for _, tok := range c.APITokens {
					names = append(names, tok.Name+"="+tok.Token.Reveal())
				}
				want := "default=" + apiToken + ",ops=ops-token-0123456789,ci.bot=ci-token-0123456789:x"
				if got := strings.Join(names, ","); got != want {
					t.Errorf("tokens %s, want %s", got, want)
				}
			},
		},
		{
			name: "API_TOKENS alone",
			env:  map[string]string{"API_TOKEN": "", "API_TOKENS": "a:aaaaaaaaaaaaaaaa"},
		},
		{
			name: "cold wallet with residual equal to min",
			env: map[string]string{"COLD_WALLET": usdtMainnet, "HOT_WALLET_MIN_BALANCE": "5",
				"HOT_WALLET_MAX_BALANCE": "10", "HOT_WALLET_RESIDUAL": "5"},
			check: func(t *testing.T, c *config.Config) {
				if c.HotWalletMaxBalance.String() != "10" || c.HotWalletResidual.String() != "5" || c.HotWalletMinBalance.String() != "5" {
					t.Errorf("balances %v %v %v", c.HotWalletMinBalance, c.HotWalletMaxBalance, c.HotWalletResidual)
				}
			},
		},
		{
			name: "everything else set",
			env: map[string]string{"TON_CONFIG": tonConfigFile, "API_LISTEN": ":9000",
				"WEBHOOK_URL": "https://merchant.example/hook", "WEBHOOK_SECRET": webhookSecret,
				"TON_SWEEP_THRESHOLD": "0", "ALLOWABLE_LAG": "1m", "INCOME_COUNTING_SIDE": "hot_wallet",
				"LOG_FORMAT": "text", "LOG_LEVEL": "debug", "SCANNER_START_BLOCK": "4294967295",
				"WITHDRAWAL_BATCH_INTERVAL": "250ms", "HIGHLOAD_TIMEOUT": "6s"},
			check: func(t *testing.T, c *config.Config) {
				checks := []struct {
					name      string
					got, want any
				}{
					{"TONConfig", c.TONConfig, tonConfigFile},
					{"APIListen", c.APIListen, ":9000"},
					{"WebhookURL", c.WebhookURL, "https://merchant.example/hook"},
					{"WebhookSecret", c.WebhookSecret.Reveal(), webhookSecret},
					{"TONSweepThreshold", c.TONSweepThreshold.String(), "0"},
					{"AllowableLag", c.AllowableLag, time.Minute},
					{"IncomeCountingSide", c.IncomeCountingSide, config.CountHotWallet},
					{"LogFormat", c.LogFormat, "text"},
					{"LogLevel", c.LogLevel, slog.LevelDebug},
					{"ScannerStartBlock", c.ScannerStartBlock, uint32(4294967295)},
					{"WithdrawalBatchInterval", c.WithdrawalBatchInterval, 250 * time.Millisecond},
					{"HighloadTimeout", c.HighloadTimeout, 6 * time.Second},
				}
				for _, ch := range checks {
					if ch.got != ch.want {
						t.Errorf("%s = %v, want %v", ch.name, ch.got, ch.want)
					}
				}
			},
		},
		{
			name: "local tonsim config URL is accepted on either network",
			env:  map[string]string{"TON_NETWORK": "testnet", "TON_CONFIG": "http://127.0.0.1:8089/config.json"},
		},
		{
			name: "plain http config on mainnet with the explicit opt-out",
			env:  map[string]string{"TON_CONFIG": "http://10.0.0.5/global.config.json", "TON_CONFIG_ALLOW_HTTP": "true"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			env := baseEnv()
			for k, v := range tt.env {
				env[k] = v
			}
			cfg, err := config.Load(getenv(env))
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if tt.check != nil {
				tt.check(t, cfg)
			}
		})
	}
}

func TestLoadInvalid(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	testnetConfigFile := filepath.Join(dir, "testnet-global.config.json")
	if err := os.WriteFile(testnetConfigFile, []byte("{}"), 0o644); err != nil {
		t.Fatal(err)
	}
	mainnetA, testnetA := friendly(t, false, 7), friendly(t, true, 7)
	tests := []struct {
		name     string
		env      map[string]string // applied over baseEnv; "" deletes
		wantVars []string          // exactly these variables, sorted
		wantText string            // optional substring of the error
	}{
		{name: "nothing set reports every required variable at once",
			env:      map[string]string{"DATABASE_URL": "", "SEED": "", "API_TOKEN": ""},
			wantVars: []string{"API_TOKEN", "DATABASE_URL", "SEED"}},
		{name: "database URL does not parse", env: map[string]string{"DATABASE_URL": "postgres://proc:" + dbPassword + "@db:notaport/x"},
			wantVars: []string{"DATABASE_URL"}},
		{name: "unknown network", env: map[string]string{"TON_NETWORK": "mainet"},
			wantVars: []string{"TON_NETWORK"}, wantText: `"mainet"`},

		{name: "testnet config URL on mainnet", env: map[string]string{"TON_CONFIG": config.TestnetConfigURL},
			wantVars: []string{"TON_CONFIG"}, wantText: "TON_NETWORK=mainnet"},
		{name: "testnet config file on mainnet", env: map[string]string{"TON_CONFIG": testnetConfigFile},
			wantVars: []string{"TON_CONFIG"}},
		{name: "public mainnet config URL on testnet",
			env:      map[string]string{"TON_NETWORK": "testnet", "TON_CONFIG": config.MainnetConfigURL},
			wantVars: []string{"TON_CONFIG"}, wantText: "TON_NETWORK=testnet"},
		{name: "mainnet-named config URL on testnet",
			env:      map[string]string{"TON_NETWORK": "testnet", "TON_CONFIG": "https://cdn.example/mainnet.json"},
			wantVars: []string{"TON_CONFIG"}},
		{name: "config file missing", env: map[string]string{"TON_CONFIG": filepath.Join(dir, "nope.json")},
			wantVars: []string{"TON_CONFIG"}},
		{name: "config is a directory", env: map[string]string{"TON_CONFIG": dir},
			wantVars: []string{"TON_CONFIG"}},
		{name: "config scheme", env: map[string]string{"TON_CONFIG": "ftp://ton.org/global.config.json"},
			wantVars: []string{"TON_CONFIG"}},
		{name: "plain http config on mainnet", env: map[string]string{"TON_CONFIG": "http://config.example/global.config.json"},
			wantVars: []string{"TON_CONFIG"}, wantText: "TON_CONFIG_ALLOW_HTTP=true"},
		{name: "allow http is a boolean", env: map[string]string{"TON_CONFIG_ALLOW_HTTP": "yes please"},
			wantVars: []string{"TON_CONFIG_ALLOW_HTTP"}},

		{name: "both SEED and SEED_FILE", env: map[string]string{"SEED_FILE": "/run/secrets/seed"},
			wantVars: []string{"SEED"}},
		{name: "mnemonic with 23 words", env: map[string]string{"SEED": testMnemonic[:strings.LastIndexByte(testMnemonic, ' ')]},
			wantVars: []string{"SEED"}, wantText: "got 23"},
		{name: "mnemonic with upper case", env: map[string]string{"SEED": "Kangaroo" + testMnemonic[len("kangaroo"):]},
			wantVars: []string{"SEED"}, wantText: "word 1"},
		{name: "mnemonic with bad checksum", env: map[string]string{"SEED": badChecksum},
			wantVars: []string{"SEED"}, wantText: "checksum"},

		{name: "short token", env: map[string]string{"API_TOKEN": "short-Distinct"}, wantVars: []string{"API_TOKEN"}},
		{name: "token with space", env: map[string]string{"API_TOKEN": "has space Distinctive-0123"}, wantVars: []string{"API_TOKEN"}},
		{name: "token list entry without name",
			env: map[string]string{"API_TOKENS": "noname-Distinctive-0123456789"}, wantVars: []string{"API_TOKENS"}, wantText: "entry 1"},
		{name: "token list bad name",
			env: map[string]string{"API_TOKENS": "ok:ok-Distinctive-0123456789,bad name:x-Distinctive-0123456789"}, wantVars: []string{"API_TOKENS"}, wantText: "entry 2"},
		{name: "token list duplicate name",
			env:      map[string]string{"API_TOKENS": "default:other-Distinctive-0123456789"},
			wantVars: []string{"API_TOKENS"}, wantText: `"default"`},
		{name: "token list repeats a token", env: map[string]string{"API_TOKENS": "second:" + apiToken},
			wantVars: []string{"API_TOKENS"}},
		{name: "token list short token", env: map[string]string{"API_TOKEN": "", "API_TOKENS": "a:short-Distinct"},
			wantVars: []string{"API_TOKENS"}},

		{name: "listen without host", env: map[string]string{"API_LISTEN": "8081"}, wantVars: []string{"API_LISTEN"}},
		{name: "listen named port", env: map[string]string{"API_LISTEN": "localhost:http"}, wantVars: []string{"API_LISTEN"}},

		{name: "jetton entry malformed", env: map[string]string{"JETTONS": "USDT"}, wantVars: []string{"JETTONS"}, wantText: "entry 1"},
		{name: "jetton trailing comma", env: map[string]string{"JETTONS": "USDT:" + usdtMainnet + ":1,"},
			wantVars: []string{"JETTONS"}, wantText: "entry 2"},
		{name: "jetton lower-case symbol", env: map[string]string{"JETTONS": "usdt:" + usdtMainnet + ":1"}, wantVars: []string{"JETTONS"}},
		{name: "jetton symbol too long", env: map[string]string{"JETTONS": "ABCDEFGHIJKLM:" + usdtMainnet + ":1"}, wantVars: []string{"JETTONS"}},
		{name: "jetton symbol TON", env: map[string]string{"JETTONS": "TON:" + usdtMainnet + ":1"},
			wantVars: []string{"JETTONS"}, wantText: "reserved"},
		{name: "jetton symbol twice", env: map[string]string{"JETTONS": "A:" + usdtMainnet + ":1,A:" + mainnetA + ":1"},
			wantVars: []string{"JETTONS"}, wantText: "twice"},
		{name: "jetton master twice", env: map[string]string{"JETTONS": "A:" + usdtMainnet + ":1,B:" + rawAddr + ":1"},
			wantVars: []string{"JETTONS"}, wantText: "already used by A"},
		{name: "jetton master checksum", env: map[string]string{"JETTONS": "USDT:" + usdtMainnet[:47] + "t:1"}, wantVars: []string{"JETTONS"}},
		{name: "jetton master testnet on mainnet", env: map[string]string{"JETTONS": "USDT:" + testnetA + ":1"},
			wantVars: []string{"JETTONS"}, wantText: "TON_NETWORK=mainnet"},
		{name: "jetton master mainnet on testnet", env: map[string]string{"TON_NETWORK": "testnet", "JETTONS": "USDT:" + usdtMainnet + ":1"},
			wantVars: []string{"JETTONS"}, wantText: "TON_NETWORK=testnet"},
		{name: "jetton master raw workchain 5", env: map[string]string{"JETTONS": "USDT:5:" + strings.Repeat("ab", 32) + ":1"},
			wantVars: []string{"JETTONS"}, wantText: "workchain"},
		{name: "jetton negative threshold", env: map[string]string{"JETTONS": "USDT:" + usdtMainnet + ":-1"}, wantVars: []string{"JETTONS"}},
		{name: "jetton fractional threshold", env: map[string]string{"JETTONS": "USDT:" + usdtMainnet + ":1.5"}, wantVars: []string{"JETTONS"}},

		{name: "sweep threshold exponent", env: map[string]string{"TON_SWEEP_THRESHOLD": "1e9"}, wantVars: []string{"TON_SWEEP_THRESHOLD"}},
		// Bare seconds ("30") are bicycle's form, read with a warning (bicycle_test.go).
		{name: "lag with an unknown unit", env: map[string]string{"ALLOWABLE_LAG": "30sec"}, wantVars: []string{"ALLOWABLE_LAG"}},
		{name: "negative lag", env: map[string]string{"ALLOWABLE_LAG": "-1s"}, wantVars: []string{"ALLOWABLE_LAG"}},
		{name: "zero batch interval", env: map[string]string{"WITHDRAWAL_BATCH_INTERVAL": "0s"}, wantVars: []string{"WITHDRAWAL_BATCH_INTERVAL"}},
		{name: "highload timeout too short", env: map[string]string{"HIGHLOAD_TIMEOUT": "5s"}, wantVars: []string{"HIGHLOAD_TIMEOUT"}},
		{name: "highload timeout fraction", env: map[string]string{"HIGHLOAD_TIMEOUT": "60500ms"}, wantVars: []string{"HIGHLOAD_TIMEOUT"}},
		{name: "highload timeout 2^22 s", env: map[string]string{"HIGHLOAD_TIMEOUT": "4194304s"}, wantVars: []string{"HIGHLOAD_TIMEOUT"}},

		{name: "webhook without secret", env: map[string]string{"WEBHOOK_URL": "https://merchant.example/hook"}, wantVars: []string{"WEBHOOK_SECRET"}},
		{name: "webhook short secret", env: map[string]string{"WEBHOOK_URL": "https://merchant.example/hook", "WEBHOOK_SECRET": "short-Distinct"},
			wantVars: []string{"WEBHOOK_SECRET"}},
		{name: "webhook relative URL", env: map[string]string{"WEBHOOK_URL": "/hook", "WEBHOOK_SECRET": webhookSecret}, wantVars: []string{"WEBHOOK_URL"}},
		{name: "webhook secret without URL", env: map[string]string{"WEBHOOK_SECRET": webhookSecret}, wantVars: []string{"WEBHOOK_SECRET"}},

		{name: "cold wallet testnet on mainnet", env: map[string]string{"COLD_WALLET": testnetA, "HOT_WALLET_MAX_BALANCE": "2", "HOT_WALLET_RESIDUAL": "1"},
			wantVars: []string{"COLD_WALLET"}},
		{name: "cold wallet mainnet on testnet", env: map[string]string{"TON_NETWORK": "testnet", "COLD_WALLET": mainnetA, "HOT_WALLET_MAX_BALANCE": "2", "HOT_WALLET_RESIDUAL": "1"},
			wantVars: []string{"COLD_WALLET"}},
		{name: "cold wallet with unknown tag", env: map[string]string{"COLD_WALLET": badTag(t), "HOT_WALLET_MAX_BALANCE": "2", "HOT_WALLET_RESIDUAL": "1"},
			wantVars: []string{"COLD_WALLET"}, wantText: "tag"},
		{name: "cold wallet without balances", env: map[string]string{"COLD_WALLET": mainnetA},
			wantVars: []string{"HOT_WALLET_MAX_BALANCE", "HOT_WALLET_RESIDUAL"}},
		{name: "max equal to residual", env: map[string]string{"COLD_WALLET": mainnetA, "HOT_WALLET_MAX_BALANCE": "5", "HOT_WALLET_RESIDUAL": "5"},
			wantVars: []string{"HOT_WALLET_MAX_BALANCE"}},
		{name: "residual below min", env: map[string]string{"COLD_WALLET": mainnetA, "HOT_WALLET_MIN_BALANCE": "3", "HOT_WALLET_MAX_BALANCE": "5", "HOT_WALLET_RESIDUAL": "2"},
			wantVars: []string{"HOT_WALLET_RESIDUAL"}},
		{name: "zero max", env: map[string]string{"COLD_WALLET": mainnetA, "HOT_WALLET_MAX_BALANCE": "0", "HOT_WALLET_RESIDUAL": "0"},
			wantVars: []string{"HOT_WALLET_MAX_BALANCE"}},
		{name: "max without cold wallet", env: map[string]string{"HOT_WALLET_MAX_BALANCE": "5"}, wantVars: []string{"HOT_WALLET_MAX_BALANCE"}},
		{name: "min balance negative", env: map[string]string{"HOT_WALLET_MIN_BALANCE": "-5"}, wantVars: []string{"HOT_WALLET_MIN_BALANCE"}},

		{name: "counting side", env: map[string]string{"INCOME_COUNTING_SIDE": "both"}, wantVars: []string{"INCOME_COUNTING_SIDE"}},
		{name: "log format", env: map[string]string{"LOG_FORMAT": "xml"}, wantVars: []string{"LOG_FORMAT"}},
		{name: "log level", env: map[string]string{"LOG_LEVEL": "loud"}, wantVars: []string{"LOG_LEVEL"}},
		{name: "start block text", env: map[string]string{"SCANNER_START_BLOCK": "abc"}, wantVars: []string{"SCANNER_START_BLOCK"}},
		{name: "start block zero", env: map[string]string{"SCANNER_START_BLOCK": "0"}, wantVars: []string{"SCANNER_START_BLOCK"}},
		{name: "start block over uint32", env: map[string]string{"SCANNER_START_BLOCK": "4294967296"}, wantVars: []string{"SCANNER_START_BLOCK"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			env := baseEnv()
			for k, v := range tt.env {
				env[k] = v
			}
			cfg, err := config.Load(getenv(env))
			if err == nil {
				t.Fatalf("Load succeeded: %v", cfg)
			}
			if got := problemVars(t, err); !slices.Equal(got, tt.wantVars) {
				t.Fatalf("problems name %v, want %v; error:\n%v", got, tt.wantVars, err)
			}
			if !strings.Contains(err.Error(), tt.wantText) {
				t.Fatalf("error does not contain %q:\n%v", tt.wantText, err)
			}
			assertNoSecrets(t, "error", err.Error(), env)
		})
	}
}

// badTag is a friendly address whose checksum is right but whose tag byte
// is none of the four valid ones.
func badTag(t *testing.T) string {
	t.Helper()
	a := address.MustParseAddr(friendly(t, false, 9))
	raw := make([]byte, 0, 36)
	raw = append(raw, 0x22, 0)
	raw = append(raw, a.Data()...)
	crc := crc16xmodem(raw)
	raw = append(raw, byte(crc>>8), byte(crc))
	s := base64URL(raw)
	if _, err := address.ParseAddr(s); err != nil {
		t.Fatalf("test address does not even parse: %v", err)
	}
	return s
}

// secretsOf lists the secret values present in env that must never leak:
// each mnemonic word, tokens and passwords.
func secretsOf(env map[string]string) []string {
	out := []string{dbPassword}
	for _, name := range []string{"SEED", "API_TOKEN", "WEBHOOK_SECRET"} {
		if v := env[name]; v != "" {
			out = append(out, strings.Fields(v)...)
		}
	}
	for _, entry := range strings.Split(env["API_TOKENS"], ",") {
		if _, tok, ok := strings.Cut(entry, ":"); ok {
			out = append(out, tok)
		} else if entry != "" {
			out = append(out, entry)
		}
	}
	out = append(out, strings.Fields(testMnemonic)...)
	var long []string
	for _, s := range out {
		// Short fragments such as "has" from "has space ..." are not secrets
		// by themselves and would match ordinary words.
		if len(s) >= 6 {
			long = append(long, s)
		}
	}
	return long
}

func assertNoSecrets(t *testing.T, what, text string, env map[string]string) {
	t.Helper()
	for _, s := range secretsOf(env) {
		if strings.Contains(text, s) {
			t.Fatalf("%s leaks secret %q:\n%s", what, s, text)
		}
	}
}

func TestSecretsNeverPrinted(t *testing.T) {
	t.Parallel()
	env := baseEnv()
	env["API_TOKENS"] = "ops:ops-Distinctive-0123456789"
	env["WEBHOOK_URL"] = "https://hook:" + dbPassword + "@merchant.example/hook?token=" + dbPassword
	env["WEBHOOK_SECRET"] = webhookSecret
	cfg, err := config.Load(getenv(env))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	var jsonLog, textLog bytes.Buffer
	slog.New(slog.NewJSONHandler(&jsonLog, nil)).Info("start", "config", cfg, "value", *cfg, "seed", cfg.Seed, "tokens", cfg.APITokens)
	slog.New(slog.NewTextHandler(&textLog, nil)).Info("start", "config", cfg, "value", *cfg, "seed", cfg.Seed, "tokens", cfg.APITokens)
	marshalled, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	// A Secret kept in an unexported field is printed by reflection, where
	// fmt cannot call its methods.
	hidden := struct{ s config.Secret }{cfg.Seed}

	outputs := map[string]string{
		"%v":             fmt.Sprintf("%v", cfg),
		"%+v":            fmt.Sprintf("%+v", cfg),
		"%#v":            fmt.Sprintf("%#v", cfg),
		"%s":             fmt.Sprintf("%s", cfg),
		"%v value":       fmt.Sprintf("%v", *cfg),
		"%+v value":      fmt.Sprintf("%+v", *cfg),
		"%#v value":      fmt.Sprintf("%#v", *cfg),
		"%q seed":        fmt.Sprintf("%q", cfg.Seed),
		"%x seed":        fmt.Sprintf("%x", cfg.Seed),
		"%+v tokens":     fmt.Sprintf("%+v", cfg.APITokens),
		"%#v tokens":     fmt.Sprintf("%#v", cfg.APITokens),
		"unexported %+v": fmt.Sprintf("%+v", hidden),
		"unexported %#v": fmt.Sprintf("%#v", hidden),
		"String":         cfg.String(),
		"slog json":      jsonLog.String(),
		"slog text":      textLog.String(),
		"json.Marshal":   string(marshalled),
	}
	// Non-vacuity: the outputs do describe the configuration.
	if !strings.Contains(outputs["%v"], "network=mainnet") || !strings.Contains(outputs["slog json"], `"api_tokens":"default,ops"`) {
		t.Fatalf("outputs do not describe the config:\n%s\n%s", outputs["%v"], outputs["slog json"])
	}
	if !strings.Contains(outputs["String"], "postgres://proc:xxxxx@db.internal:5432/processor?sslmode=disable&sslpassword=xxxxx") {
		t.Errorf("database URL should stay readable without its password: %s", outputs["String"])
	}
	for what, text := range outputs {
		assertNoSecrets(t, what, text, env)
		if env["WEBHOOK_URL"] != "" && strings.Contains(text, "token="+dbPassword) {
			t.Fatalf("%s leaks the webhook URL query", what)
		}
	}
}

func TestSecretsNeverInErrors(t *testing.T) {
	t.Parallel()
	words := strings.Fields(testMnemonic)
	cases := []map[string]string{
		{"SEED": strings.Join(words[:23], " ")},
		{"SEED": strings.Join(append(words, "kangaroo"), " ")},
		{"SEED": strings.ToUpper(testMnemonic)},
		{"SEED": badChecksum},
		{"SEED": strings.Join(words[:12], "-")},
		{"SEED_FILE": "/nonexistent"},
		{"API_TOKEN": "ab,cd-Distinctive-0123456789"},
		{"API_TOKENS": "x:y:z-Distinctive,w-Distinctive-0123456789"},
		{"API_TOKENS": "bad name-Distinctive:tok-Distinctive-0123456789"},
		{"DATABASE_URL": "postgres://proc:" + dbPassword + "@db:99999999/x"},
		{"DATABASE_URL": "host=db password=" + dbPassword + " port=abc"},
		{"WEBHOOK_URL": "ftp://u:" + dbPassword + "@x/", "WEBHOOK_SECRET": "short-Distinct"},
	}
	for i, c := range cases {
		env := baseEnv()
		for k, v := range c {
			env[k] = v
		}
		_, err := config.Load(getenv(env))
		if err == nil {
			t.Fatalf("case %d: Load succeeded", i)
		}
		assertNoSecrets(t, fmt.Sprintf("case %d error", i), err.Error(), env)
	}
}

func TestSeedFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(name, content string, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		// Chmod after writing: WriteFile's mode is filtered by the umask.
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	multiline := strings.ReplaceAll(testMnemonic, " ", "\n") + "\n"
	tests := []struct {
		name     string
		path     string
		wantErr  string // "" means valid
		wantFile bool
	}{
		{name: "0600", path: write("ok600", testMnemonic+"\n", 0o600)},
		{name: "0400 one word per line", path: write("ok400", multiline, 0o400)},
		{name: "group readable 0640", path: write("g640", testMnemonic, 0o640), wantErr: "mode 0640"},
		{name: "world readable 0604", path: write("w604", testMnemonic, 0o604), wantErr: "mode 0604"},
		{name: "group writable 0620", path: write("g620", testMnemonic, 0o620), wantErr: "chmod 600"},
		{name: "missing", path: filepath.Join(dir, "missing"), wantErr: "no such file"},
		{name: "directory", path: dir, wantErr: "not a regular file"},
		{name: "too large", path: write("big", testMnemonic+strings.Repeat(" ", 5000), 0o600), wantErr: "larger than"},
		{name: "bad checksum", path: write("bad", badChecksum, 0o600), wantErr: "checksum"},
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := baseEnv()
			delete(env, "SEED")
			env["SEED_FILE"] = tt.path
			cfg, err := config.Load(getenv(env))
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Load: %v", err)
				}
				if cfg.SeedFile != tt.path || strings.Join(cfg.SeedWords(), " ") != testMnemonic {
					t.Fatalf("seed not loaded from %s", tt.path)
				}
				if s := cfg.String(); !strings.Contains(s, tt.path) {
					t.Errorf("String does not say where the seed came from: %s", s)
				}
				assertNoSecrets(t, "String", cfg.String(), env)
				return
			}
			if err == nil {
				t.Fatal("Load succeeded")
			}
			if got := problemVars(t, err); !slices.Equal(got, []string{"SEED_FILE"}) {
				t.Fatalf("problems name %v, want [SEED_FILE]: %v", got, err)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("error does not contain %q: %v", tt.wantErr, err)
			}
			assertNoSecrets(t, "error", err.Error(), env)
		})
	}
}

func TestLoadDatabaseURL(t *testing.T) {
	t.Parallel()
	got, err := config.LoadDatabaseURL(getenv(map[string]string{"DATABASE_URL": " " + dbURL + " "}))
	if err != nil || got != dbURL {
		t.Fatalf("LoadDatabaseURL = %q, %v", got, err)
	}
	_, err = config.LoadDatabaseURL(getenv(nil))
	if got := problemVars(t, err); !slices.Equal(got, []string{"DATABASE_URL"}) {
		t.Fatalf("problems %v", got)
	}
}

func TestVariablesDocumentEverything(t *testing.T) {
	t.Parallel()
	vars := config.Variables()
	doc := config.Doc()
	seen := map[string]bool{}
	for _, v := range vars {
		if seen[v.Name] {
			t.Errorf("%s listed twice", v.Name)
		}
		seen[v.Name] = true
		if v.Description == "" {
			t.Errorf("%s has no description", v.Name)
		}
		if !strings.Contains(doc, "`"+v.Name+"`") {
			t.Errorf("Doc does not mention %s", v.Name)
		}
	}
	// The brief's list; a variable added to Load must be added here too.
	want := []string{"DATABASE_URL", "TON_NETWORK", "TON_CONFIG", "TON_CONFIG_ALLOW_HTTP", "SEED", "SEED_FILE", "API_TOKEN", "API_TOKENS",
		"API_LISTEN", "JETTONS", "JETTON_DECIMALS", "TON_SWEEP_THRESHOLD", "ALLOWABLE_LAG", "WEBHOOK_URL", "WEBHOOK_SECRET",
		"COLD_WALLET", "HOT_WALLET_MIN_BALANCE", "HOT_WALLET_MAX_BALANCE", "HOT_WALLET_RESIDUAL",
		"INCOME_COUNTING_SIDE", "LEDGER_RECONCILE_INTERVAL", "LEDGER_RECONCILE_DUST", "LOG_FORMAT", "LOG_LEVEL", "SCANNER_START_BLOCK", "WITHDRAWAL_BATCH_INTERVAL", "HIGHLOAD_TIMEOUT",
		"API_TOKENS_FILE", "API_RATE_LIMIT", "API_RATE_BURST", "TLS_CERT_FILE", "TLS_KEY_FILE", "WITHDRAWAL_LIMITS", "API_COMPAT",
		"WEBHOOK_ENDPOINT", "WEBHOOK_TOKEN", "RABBITMQ_URL", "RABBITMQ_EXCHANGE", "RABBITMQ_QUEUE",
		"APPROVAL_THRESHOLDS", "APPROVALS_REQUIRED",
		"CONSOLE_ENABLED", "CONSOLE_ADDR", "CONSOLE_EXPLORER_URL", "CONSOLE_SESSION_TTL", "CONSOLE_MAX_FAILED_LOGINS", "CONSOLE_LOCKOUT",
		"CONSOLE_INSECURE_COOKIE"}
	for _, name := range want {
		if !seen[name] {
			t.Errorf("%s is not documented", name)
		}
	}
	if len(vars) != len(want) {
		t.Errorf("%d variables, want %d", len(vars), len(want))
	}
	for _, name := range []string{"DATABASE_URL", "SEED", "API_TOKEN", "API_TOKENS", "WEBHOOK_SECRET", "WEBHOOK_TOKEN", "RABBITMQ_URL"} {
		for _, v := range vars {
			if v.Name == name && !v.Secret {
				t.Errorf("%s must be marked secret", name)
			}
		}
	}
	vars[0].Name = "CHANGED"
	if config.Variables()[0].Name == "CHANGED" {
		t.Error("Variables returns the package's own slice")
	}
}

func TestTokensFileRateLimitAndTLS(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "tokens")
	if err := os.WriteFile(file, []byte("# rotation\nops:ops-token-0123456789abcdef\n\nci:ci-token-0123456789abcdef\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := baseEnv()
	env["API_TOKENS_FILE"] = file
	env["API_RATE_LIMIT"] = "25.5"
	env["API_RATE_BURST"] = "50"
	cfg, err := config.Load(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, tok := range cfg.APITokens {
		names = append(names, tok.Name)
	}
	if strings.Join(names, ",") != "default,ops,ci" || cfg.APIRateLimit != 25.5 || cfg.APIRateBurst != 50 {
		t.Fatalf("tokens %v, rate %v/%d", names, cfg.APIRateLimit, cfg.APIRateBurst)
	}
	if strings.Contains(fmt.Sprint(cfg), "ops-token-0123456789abcdef") {
		t.Fatal("a token from the file is printed")
	}
	for _, tc := range []struct {
		name, mode, content string
		env                 map[string]string
		want                string
	}{
		{"readable by others", "0644", "ops:ops-token-0123456789abcdef\n", nil, "API_TOKENS_FILE"},
		{"bad line", "0600", "no colon here\n", nil, "API_TOKENS_FILE: line 1"},
		{"short token", "0600", "ops:short\n", nil, "API_TOKENS_FILE: line 1"},
		{"negative rate", "0600", "", map[string]string{"API_RATE_LIMIT": "-1"}, "API_RATE_LIMIT"},
		{"zero burst", "0600", "", map[string]string{"API_RATE_BURST": "0"}, "API_RATE_BURST"},
		{"cert without key", "0600", "", map[string]string{"TLS_CERT_FILE": file}, "TLS_CERT_FILE"},
		{"missing key file", "0600", "", map[string]string{"TLS_CERT_FILE": file, "TLS_KEY_FILE": filepath.Join(dir, "nope")}, "TLS_KEY_FILE"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := baseEnv()
			if tc.content != "" {
				p := filepath.Join(t.TempDir(), "tokens")
				var mode os.FileMode = 0o600
				if tc.mode == "0644" {
					mode = 0o644
				}
				if err := os.WriteFile(p, []byte(tc.content), mode); err != nil {
					t.Fatal(err)
				}
				if err := os.Chmod(p, mode); err != nil {
					t.Fatal(err)
				}
				env["API_TOKENS_FILE"] = p
			}
			for k, v := range tc.env {
				env[k] = v
			}
			_, err := config.Load(func(k string) string { return env[k] })
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one naming %s", err, tc.want)
			}
		})
	}
}

func TestWithdrawalLimits(t *testing.T) {
	t.Parallel()
	env := baseEnv()
	env["TON_NETWORK"] = "testnet"
	env["TON_CONFIG"] = "https://cdn.example/testnet.json"
	env["JETTONS"] = "USDT:" + friendly(t, true, 9) + ":0"
	env["WITHDRAWAL_LIMITS"] = "TON:100000000000:1000000000000, USDT::5000000"
	cfg, err := config.Load(getenv(env))
	if err != nil {
		t.Fatal(err)
	}
	ton, usdt := cfg.WithdrawalLimits["TON"], cfg.WithdrawalLimits["USDT"]
	if ton.PerWithdrawal.String() != "100000000000" || ton.PerDay.String() != "1000000000000" || usdt.PerWithdrawal != nil || usdt.PerDay.String() != "5000000" {
		t.Fatalf("limits %+v %+v", ton, usdt)
	}
	for _, bad := range []struct{ value, want string }{
		{"TON:1", "must be SYMBOL:MAX_PER_WITHDRAWAL:MAX_PER_DAY"},
		{"BTC:1:2", "neither TON nor a symbol from JETTONS"},
		{"TON:1:2,TON:3:4", "listed twice"},
		{"TON:-1:", "max per withdrawal"},
		{"TON::1.5", "max per day"},
	} {
		env["WITHDRAWAL_LIMITS"] = bad.value
		_, err := config.Load(getenv(env))
		if got := problemVars(t, err); len(got) != 1 || got[0] != "WITHDRAWAL_LIMITS" || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("%q: %v, want a WITHDRAWAL_LIMITS problem mentioning %q", bad.value, err, bad.want)
		}
	}
}

func TestApprovalThresholds(t *testing.T) {
	t.Parallel()
	env := baseEnv()
	env["TON_NETWORK"] = "testnet"
	env["TON_CONFIG"] = "https://cdn.example/testnet.json"
	env["JETTONS"] = "USDT:" + friendly(t, true, 9) + ":0"
	cfg, err := config.Load(getenv(env))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.ApprovalThresholds != nil || cfg.ApprovalsRequired != 1 {
		t.Fatalf("defaults: %v %d", cfg.ApprovalThresholds, cfg.ApprovalsRequired)
	}
	env["APPROVAL_THRESHOLDS"] = "TON:100000000000, USDT:1000000000"
	env["APPROVALS_REQUIRED"] = "2"
	if cfg, err = config.Load(getenv(env)); err != nil {
		t.Fatal(err)
	}
	if cfg.ApprovalThresholds["TON"].String() != "100000000000" || cfg.ApprovalThresholds["USDT"].String() != "1000000000" || cfg.ApprovalsRequired != 2 {
		t.Fatalf("thresholds %v, approvals %d", cfg.ApprovalThresholds, cfg.ApprovalsRequired)
	}
	for _, bad := range []struct{ name, value, want string }{
		{"APPROVAL_THRESHOLDS", "TON", "must be SYMBOL:AMOUNT"},
		{"APPROVAL_THRESHOLDS", "BTC:1", "neither TON nor a symbol from JETTONS"},
		{"APPROVAL_THRESHOLDS", "TON:1,TON:2", "listed twice"},
		{"APPROVAL_THRESHOLDS", "TON:-1", "TON"},
		{"APPROVALS_REQUIRED", "0", "1 to 10"},
		{"APPROVALS_REQUIRED", "x", "1 to 10"},
	} {
		env := maps.Clone(env)
		env[bad.name] = bad.value
		_, err := config.Load(getenv(env))
		if got := problemVars(t, err); len(got) != 1 || got[0] != bad.name || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("%s=%q: %v, want a problem mentioning %q", bad.name, bad.value, err, bad.want)
		}
	}
}
