package config_test

import (
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ton-custody/processor/internal/config"
)

// env is baseEnv without the variables a row replaces, plus the row's.
func bicycleEnv(drop []string, set map[string]string) map[string]string {
	env := baseEnv()
	for _, k := range drop {
		delete(env, k)
	}
	for k, v := range set {
		env[k] = v
	}
	return env
}

func TestBicycleVariableNamesAreReadWithAWarning(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name  string
		drop  []string
		set   map[string]string
		check func(*config.Config) bool
		warn  []string // each must appear in one warning
	}{
		{"DB_URI", []string{"DATABASE_URL"}, map[string]string{"DB_URI": dbURL},
			func(c *config.Config) bool { return c.DatabaseURL.Reveal() == dbURL }, []string{"DB_URI", "DATABASE_URL"}},
		{"API_PORT", nil, map[string]string{"API_PORT": "8081"},
			func(c *config.Config) bool { return c.APIListen == ":8081" }, []string{"API_PORT", "API_LISTEN=:8081"}},
		{"IS_TESTNET true", nil, map[string]string{"IS_TESTNET": "true"},
			func(c *config.Config) bool {
				return c.Network == config.Testnet && c.TONConfig == config.TestnetConfigURL
			},
			[]string{"IS_TESTNET", "TON_NETWORK=testnet"}},
		{"IS_TESTNET false", nil, map[string]string{"IS_TESTNET": "0"},
			func(c *config.Config) bool { return c.Network == config.Mainnet }, []string{"TON_NETWORK=mainnet"}},
		{"DEPOSIT_SIDE_BALANCE", nil, map[string]string{"DEPOSIT_SIDE_BALANCE": "false"},
			func(c *config.Config) bool { return c.IncomeCountingSide == config.CountHotWallet }, []string{"INCOME_COUNTING_SIDE=hot_wallet"}},
		{"NETWORK_CONFIG_URL", nil, map[string]string{"NETWORK_CONFIG_URL": "https://example.com/global.config.json"},
			func(c *config.Config) bool { return c.TONConfig == "https://example.com/global.config.json" }, []string{"NETWORK_CONFIG_URL", "TON_CONFIG"}},
		{"ALLOWABLE_LAG seconds", nil, map[string]string{"ALLOWABLE_LAG": "15"},
			func(c *config.Config) bool { return c.AllowableLag == 15*time.Second }, []string{"ALLOWABLE_LAG=15", "15s"}},
		{"ALLOWABLE_LAG 0 is bicycle's 40 s", nil, map[string]string{"ALLOWABLE_LAG": "0"},
			func(c *config.Config) bool { return c.AllowableLag == 40*time.Second }, []string{"40s"}},
		{"TON_CUTOFFS without a cold wallet", nil, map[string]string{"TON_CUTOFFS": "1000000000:50000000000:200000000"},
			func(c *config.Config) bool {
				return c.TONSweepThreshold.String() == "200000000" && c.HotWalletMaxBalance == nil && c.HotWalletMinBalance.Sign() == 0
			}, []string{"TON_SWEEP_THRESHOLD=200000000", "hot_min (1000000000) is not read", "without COLD_WALLET"}},
		{"TON_CUTOFFS with a cold wallet: residual defaults to 95% of hot_max", nil,
			map[string]string{"TON_CUTOFFS": "0:50000000001:200000000", "COLD_WALLET": usdtMainnet},
			func(c *config.Config) bool {
				return c.HotWalletMaxBalance.String() == "50000000001" && c.HotWalletResidual.String() == "47500000000"
			}, []string{"HOT_WALLET_MAX_BALANCE=50000000001", "HOT_WALLET_RESIDUAL=47500000000"}},
		{"TON_CUTOFFS residual", nil, map[string]string{"TON_CUTOFFS": "0:500:20:300", "COLD_WALLET": usdtMainnet},
			func(c *config.Config) bool { return c.HotWalletResidual.String() == "300" }, []string{"HOT_WALLET_RESIDUAL=300"}},
		{"JETTONS in bicycle's form", nil, map[string]string{"JETTONS": "USDT:" + usdtMainnet + ":1000000:5000:900000"},
			func(c *config.Config) bool {
				return len(c.Jettons) == 1 && c.Jettons[0].Symbol == "USDT" && c.Jettons[0].SweepThreshold.String() == "5000"
			}, []string{"JETTONS entry 1 (USDT)", "USDT:" + usdtMainnet + ":5000"}},
		{"JETTONS of ours with a raw master are left alone", nil, map[string]string{"JETTONS": "USDT:" + rawAddr + ":7"},
			func(c *config.Config) bool { return len(c.Jettons) == 1 && c.Jettons[0].SweepThreshold.String() == "7" }, nil},
		{"LITESERVER is not read", nil, map[string]string{"LITESERVER": "1.2.3.4:5", "LITESERVER_KEY": "abc"},
			func(c *config.Config) bool { return true }, []string{"LITESERVER (gobicycle/bicycle) is not read", "TON_CONFIG", "LITESERVER_KEY"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, err := config.Load(getenv(bicycleEnv(tt.drop, tt.set)))
			if err != nil {
				t.Fatal(err)
			}
			if !tt.check(c) {
				t.Errorf("config %v", c)
			}
			for _, w := range tt.warn {
				if !slices.ContainsFunc(c.Warnings, func(s string) bool { return strings.Contains(s, w) }) {
					t.Errorf("no warning mentions %q: %q", w, c.Warnings)
				}
			}
			if len(tt.warn) == 0 && len(c.Warnings) > 0 {
				t.Errorf("warnings %q, want none", c.Warnings)
			}
			for _, w := range c.Warnings {
				if strings.Contains(w, dbPassword) {
					t.Errorf("warning leaks the database password: %q", w)
				}
			}
		})
	}
}

// Ours win when both names are set; the bicycle name is then only warned
// about.
func TestOurVariablesWinOverBicycleNames(t *testing.T) {
	t.Parallel()
	c, err := config.Load(getenv(bicycleEnv(nil, map[string]string{
		"DB_URI": "postgres://other@elsewhere/db", "API_LISTEN": "127.0.0.1:9000", "API_PORT": "8081",
		"TON_SWEEP_THRESHOLD": "5", "TON_CUTOFFS": "0:100:7",
	})))
	if err != nil {
		t.Fatal(err)
	}
	if c.DatabaseURL.Reveal() != dbURL || c.APIListen != "127.0.0.1:9000" || c.TONSweepThreshold.String() != "5" {
		t.Fatalf("bicycle names won: %v", c)
	}
	for _, w := range []string{"DB_URI (gobicycle/bicycle's name) is ignored: DATABASE_URL is set",
		"API_PORT (gobicycle/bicycle's name) is ignored", "min_sweep is ignored: TON_SWEEP_THRESHOLD is set"} {
		if !slices.ContainsFunc(c.Warnings, func(s string) bool { return strings.Contains(s, w) }) {
			t.Errorf("no warning %q: %q", w, c.Warnings)
		}
	}
	if c, err := config.Load(getenv(baseEnv())); err != nil || len(c.Warnings) != 0 {
		t.Errorf("our own names: warnings %q, %v", c.Warnings, err)
	}
}

func TestBicycleValuesThatDoNotConvertAreProblems(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		set  map[string]string
		want string
	}{
		{map[string]string{"API_PORT": "http"}, "API_PORT"},
		{map[string]string{"IS_TESTNET": "maybe"}, "IS_TESTNET"},
		{map[string]string{"DEPOSIT_SIDE_BALANCE": "yes"}, "DEPOSIT_SIDE_BALANCE"},
		{map[string]string{"TON_CUTOFFS": "1:2"}, "TON_CUTOFFS"},
		{map[string]string{"TON_CUTOFFS": "1:2.5:3"}, "TON_CUTOFFS"},
		// Jettons above hot_max would stay hot: refused, not silently kept.
		{map[string]string{"JETTONS": "USDT:" + usdtMainnet + ":1000:5", "COLD_WALLET": usdtMainnet,
			"HOT_WALLET_MAX_BALANCE": "10", "HOT_WALLET_RESIDUAL": "5"}, "JETTONS"},
		{map[string]string{"API_COMPAT": "bicycle2"}, "API_COMPAT"},
	} {
		_, err := config.Load(getenv(bicycleEnv(nil, tt.set)))
		if got := problemVars(t, err); !slices.Equal(got, []string{tt.want}) {
			t.Errorf("%v: problems %v (%v), want %s", tt.set, got, err, tt.want)
		}
	}
}

func TestAPICompat(t *testing.T) {
	t.Parallel()
	for v, want := range map[string]config.APICompat{"": config.CompatNone, "bicycle": config.CompatBicycle, " Bicycle ": config.CompatBicycle} {
		c, err := config.Load(getenv(bicycleEnv(nil, map[string]string{"API_COMPAT": v})))
		if err != nil || c.APICompat != want {
			t.Errorf("API_COMPAT=%q: %v, %v; want %q", v, c.APICompat, err, want)
		}
	}
}

// The README's configuration tables are Doc and BicycleDoc, verbatim.
func TestREADMEHasTheVariableTables(t *testing.T) {
	t.Parallel()
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	for name, doc := range map[string]string{"Doc": config.Doc(), "BicycleDoc": config.BicycleDoc()} {
		if !strings.Contains(string(readme), doc) {
			t.Errorf("README.md does not contain config.%s() verbatim; paste it:\n%s", name, doc)
		}
	}
}

// Every bicycle variable the README's table lists is read as it says:
// set (with the bicycle profile), it earns a warning that names it and,
// when it stands in for one of ours, ours; bicycle's webhook variables,
// whose names are ours, are simply read. A name added to the table
// without a sample here fails, so the table cannot list a name nothing
// reads.
func TestBicycleTableNamesAreRead(t *testing.T) {
	t.Parallel()
	queue := map[string]string{"QUEUE_ENABLED": "true", "QUEUE_URI": rabbitURL, "QUEUE_NAME": "incomes"}
	samples := map[string]map[string]string{
		"DB_URI":                {"DB_URI": dbURL},
		"API_PORT":              {"API_PORT": "8081"},
		"IS_TESTNET":            {"IS_TESTNET": "true"},
		"DEPOSIT_SIDE_BALANCE":  {"DEPOSIT_SIDE_BALANCE": "false"},
		"NETWORK_CONFIG_URL":    {"NETWORK_CONFIG_URL": "https://example.com/global.config.json"},
		"TON_CUTOFFS":           {"TON_CUTOFFS": "0:100:7"},
		"JETTONS":               {"JETTONS": "USDT:" + usdtMainnet + ":1000000:5000"},
		"ALLOWABLE_LAG":         {"ALLOWABLE_LAG": "15"},
		"QUEUE_ENABLED":         queue,
		"QUEUE_URI":             queue,
		"QUEUE_NAME":            queue,
		"WEBHOOK_ENDPOINT":      {"WEBHOOK_ENDPOINT": "https://merchant.example/deposit", "WEBHOOK_TOKEN": bicycleToken},
		"WEBHOOK_TOKEN":         {"WEBHOOK_ENDPOINT": "https://merchant.example/deposit", "WEBHOOK_TOKEN": bicycleToken},
		"LITESERVER":            {"LITESERVER": "1.2.3.4:5"},
		"LITESERVER_KEY":        {"LITESERVER_KEY": "abc"},
		"LITESERVER_RATE_LIMIT": {"LITESERVER_RATE_LIMIT": "10"},
		"FORWARD_TON_AMOUNT":    {"FORWARD_TON_AMOUNT": "1"},
		"PROOF_CHECK_ENABLED":   {"PROOF_CHECK_ENABLED": "true"},
	}
	for _, v := range config.BicycleVariables() {
		sample, ok := samples[v.Name]
		if !ok {
			t.Errorf("%s is in the README's bicycle table but has no sample here: add one", v.Name)
			continue
		}
		set := map[string]string{"API_COMPAT": "bicycle"}
		for k, val := range sample {
			set[k] = val
		}
		c, err := config.Load(getenv(bicycleEnv(nil, set)))
		if err != nil {
			t.Errorf("%s: %v", v.Name, err)
			continue
		}
		if v.Name == v.Ours && strings.HasPrefix(v.Name, "WEBHOOK_") {
			// bicycle's webhook names are ours: read, nothing to rename.
			if c.BicycleWebhookURL != sample["WEBHOOK_ENDPOINT"] || c.BicycleWebhookToken.Reveal() != bicycleToken {
				t.Errorf("%s: bicycle's webhook is not on (%q)", v.Name, c.BicycleWebhookURL)
			}
			continue
		}
		var names []string
		for _, w := range c.Warnings {
			if strings.Contains(w, v.Name) {
				names = append(names, w)
			}
		}
		if len(names) == 0 {
			t.Errorf("%s set: no warning names it: %q", v.Name, c.Warnings)
			continue
		}
		if v.Ours == "" || v.Ours == v.Name {
			continue
		}
		ours := strings.Split(v.Ours, ", ")[0]
		if !slices.ContainsFunc(names, func(w string) bool { return strings.Contains(w, ours) }) {
			t.Errorf("%s set: its warnings %q do not name ours, %s", v.Name, names, ours)
		}
	}
}

// bicycle's SEED may be 12 words or more (tonutils-go's rule; BICYCLE.md
// §3): such a mnemonic is accepted when it passes TON's checksum, with a
// warning; fewer than 12 words, or a short one that fails the checksum,
// is the wrong length.
func TestBicycleTwelveWordSeed(t *testing.T) {
	t.Parallel()
	const words12 = "marine moon giggle list giggle bring clock afford lock claim staff horror"
	c, err := config.Load(getenv(bicycleEnv([]string{"SEED", "SEED_FILE"}, map[string]string{"SEED": "  " + strings.ReplaceAll(words12, " ", "  ")})))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(c.SeedWords(), " ") != words12 {
		t.Fatalf("seed words %d, want the 12 given", len(c.SeedWords()))
	}
	if !slices.ContainsFunc(c.Warnings, func(s string) bool { return strings.Contains(s, "SEED is a TON mnemonic of 12 words") }) {
		t.Errorf("no warning about the 12-word seed: %q", c.Warnings)
	}
	for _, w := range c.Warnings {
		if strings.Contains(w, "giggle") {
			t.Errorf("a warning quotes the mnemonic: %q", w)
		}
	}
	for _, seed := range []string{
		strings.Join(strings.Fields(words12)[:11], " "),
		strings.Join(append(strings.Fields(words12)[1:], "marine"), " "),
	} {
		_, err := config.Load(getenv(bicycleEnv([]string{"SEED", "SEED_FILE"}, map[string]string{"SEED": seed})))
		if err == nil || !strings.Contains(err.Error(), "must be 24 words, got") {
			t.Errorf("%d words: %v, want the wrong length", len(strings.Fields(seed)), err)
		}
	}
}
