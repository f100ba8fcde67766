package config_test

import (
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/ton-custody/processor/internal/config"
)

func TestConsoleSettings(t *testing.T) {
	t.Parallel()
	env := baseEnv()
	cfg, err := config.Load(getenv(env))
	if err != nil {
		t.Fatal(err)
	}
	want := config.Console{ExplorerURL: "https://tonviewer.com", SessionTTL: 12 * time.Hour, MaxFailedLogins: 5, Lockout: 15 * time.Minute}
	if cfg.Console != want {
		t.Fatalf("defaults: %+v, want %+v", cfg.Console, want)
	}
	env["CONSOLE_ENABLED"] = "true"
	env["CONSOLE_ADDR"] = "127.0.0.1:8090"
	env["CONSOLE_EXPLORER_URL"] = "https://explorer.example/ton/"
	env["CONSOLE_SESSION_TTL"] = "1h"
	env["CONSOLE_MAX_FAILED_LOGINS"] = "3"
	env["CONSOLE_LOCKOUT"] = "5m"
	env["CONSOLE_INSECURE_COOKIE"] = "true"
	if cfg, err = config.Load(getenv(env)); err != nil {
		t.Fatal(err)
	}
	want = config.Console{Enabled: true, Addr: "127.0.0.1:8090", ExplorerURL: "https://explorer.example/ton", SessionTTL: time.Hour,
		MaxFailedLogins: 3, Lockout: 5 * time.Minute, InsecureCookie: true}
	if cfg.Console != want {
		t.Fatalf("set: %+v, want %+v", cfg.Console, want)
	}
	for _, bad := range []struct{ name, value, want string }{
		{"CONSOLE_ENABLED", "yes", "not one of"},
		{"CONSOLE_ADDR", "8090", "host:port"},
		{"CONSOLE_EXPLORER_URL", "tonviewer.com", "http(s) URL"},
		{"CONSOLE_SESSION_TTL", "10s", "between 1m and 720h"},
		{"CONSOLE_MAX_FAILED_LOGINS", "0", "1 to 100"},
		{"CONSOLE_LOCKOUT", "48h", "between 1m and 24h"},
	} {
		env := maps.Clone(env)
		env[bad.name] = bad.value
		_, err := config.Load(getenv(env))
		if got := problemVars(t, err); len(got) != 1 || got[0] != bad.name || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("%s=%q: %v, want a problem mentioning %q", bad.name, bad.value, err, bad.want)
		}
	}
	// The Secure flag may be dropped only on loopback.
	env["CONSOLE_ADDR"] = "0.0.0.0:8090"
	_, err = config.Load(getenv(env))
	if got := problemVars(t, err); len(got) != 1 || got[0] != "CONSOLE_INSECURE_COOKIE" {
		t.Errorf("insecure cookie on 0.0.0.0: %v", err)
	}
	delete(env, "CONSOLE_ADDR")
	env["API_LISTEN"] = "[::1]:8081"
	if _, err := config.Load(getenv(env)); err != nil {
		t.Errorf("insecure cookie on the API's loopback address: %v", err)
	}
	env["TON_NETWORK"] = "testnet"
	env["TON_CONFIG"] = "https://cdn.example/testnet.json"
	delete(env, "CONSOLE_EXPLORER_URL")
	if cfg, err = config.Load(getenv(env)); err != nil || cfg.Console.ExplorerURL != "https://testnet.tonviewer.com" {
		t.Errorf("testnet explorer: %v %+v", err, cfg)
	}
}

// JETTON_DECIMALS gives configured jettons their decimals (display only);
// a jetton without an entry has none (shown in base units).
func TestJettonDecimals(t *testing.T) {
	t.Parallel()
	env := baseEnv()
	env["TON_NETWORK"] = "testnet"
	env["TON_CONFIG"] = "https://cdn.example/testnet.json"
	env["JETTONS"] = "USDT:" + friendly(t, true, 9) + ":0,NOT:" + friendly(t, true, 10) + ":0"
	cfg, err := config.Load(getenv(env))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.JettonDecimals != nil {
		t.Fatalf("default: %v", cfg.JettonDecimals)
	}
	env["JETTON_DECIMALS"] = "USDT:6"
	if cfg, err = config.Load(getenv(env)); err != nil {
		t.Fatal(err)
	}
	if d, ok := cfg.JettonDecimals["USDT"]; !ok || d != 6 {
		t.Fatalf("USDT decimals %v", cfg.JettonDecimals)
	}
	if _, ok := cfg.JettonDecimals["NOT"]; ok {
		t.Fatalf("NOT has decimals: %v", cfg.JettonDecimals)
	}
	for _, bad := range []struct{ value, want string }{
		{"USDT", "must be SYMBOL:DECIMALS"},
		{"TON:9", "not a symbol from JETTONS"},
		{"BTC:8", "not a symbol from JETTONS"},
		{"USDT:6,USDT:9", "listed twice"},
		{"USDT:-1", "0 to 255"},
		{"USDT:256", "0 to 255"},
		{"USDT:six", "0 to 255"},
	} {
		env := maps.Clone(env)
		env["JETTON_DECIMALS"] = bad.value
		_, err := config.Load(getenv(env))
		if got := problemVars(t, err); len(got) != 1 || got[0] != "JETTON_DECIMALS" || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("JETTON_DECIMALS=%q: %v, want a problem mentioning %q", bad.value, err, bad.want)
		}
	}
}
