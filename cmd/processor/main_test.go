package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/ton-custody/processor/internal/bridge"
	"github.com/ton-custody/processor/internal/config"
	"github.com/ton-custody/processor/internal/tonaddr"
	"github.com/ton-custody/processor/internal/wallets"
)

// With no arguments the processor serves (the documented default): it
// must load its configuration and report what is missing, not panic.
func TestNoArgumentsServesAndReportsMissingConfig(t *testing.T) {
	env := map[string]string{}
	var out strings.Builder
	err := run(context.Background(), nil, func(k string) string { return env[k] }, &out)
	if err == nil {
		t.Fatal("serve with an empty environment started")
	}
	if !strings.Contains(err.Error(), "DATABASE_URL") {
		t.Fatalf("error does not name the missing DATABASE_URL: %v", err)
	}
}

func TestUnknownServeFlagIsRefused(t *testing.T) {
	err := run(context.Background(), []string{"serve", "--bogus"}, func(string) string { return "" }, &strings.Builder{})
	if err == nil || !strings.Contains(err.Error(), "unknown flag --bogus") {
		t.Fatalf("got %v", err)
	}
}

// help lists every variable the processor reads, the bridge's included.
func TestHelpListsBridgeVariables(t *testing.T) {
	var out strings.Builder
	if err := run(context.Background(), []string{"help"}, func(string) string { return "" }, &out); err != nil {
		t.Fatal(err)
	}
	want := []string{bridge.EnvProviders, bridge.EnvPublicURL, bridge.EnvUnknownGiveUp, bridge.EnvNemoSecret}
	names := bridge.DriverNames()
	if len(names) < 3 {
		t.Fatalf("drivers registered: %v", names)
	}
	for _, n := range names {
		d, _ := bridge.LookupDriver(n)
		want = append(want, bridge.ProviderVar(n, "BASE_URL"))
		for _, s := range d.Settings {
			want = append(want, bridge.ProviderVar(n, s.Key))
		}
	}
	for _, v := range want {
		if !strings.Contains(out.String(), "`"+v+"`") {
			t.Errorf("help does not list %s", v)
		}
	}
}

// hot-wallet prints, offline, the address the running processor uses as
// its hot wallet (the one to fund); new-seed prints a usable mnemonic.
func TestHotWalletAddressMatchesTheProcessorsAndNeedsNoDatabase(t *testing.T) {
	var seed strings.Builder
	if err := run(context.Background(), []string{"new-seed"}, func(string) string { return "" }, &seed); err != nil {
		t.Fatal(err)
	}
	words := strings.Fields(seed.String())
	if len(words) != 24 {
		t.Fatalf("new-seed printed %d words", len(words))
	}
	env := map[string]string{"SEED": strings.Join(words, " "), "TON_NETWORK": "testnet", "HIGHLOAD_TIMEOUT": "120s"}
	var out strings.Builder
	if err := run(context.Background(), []string{"hot-wallet"}, func(k string) string { return env[k] }, &out); err != nil {
		t.Fatal(err)
	}
	keys, err := wallets.DeriveKeys(words)
	if err != nil {
		t.Fatal(err)
	}
	hot, err := wallets.NewHotWallet(keys, 120*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if want := tonaddr.Format(hot.Address(), config.Testnet, true); strings.TrimSpace(out.String()) != want {
		t.Fatalf("hot-wallet printed %q, want %q", out.String(), want)
	}
	env["HIGHLOAD_TIMEOUT"] = "60s" // part of the wallet's initial data
	out.Reset()
	if err := run(context.Background(), []string{"hot-wallet"}, func(k string) string { return env[k] }, &out); err != nil {
		t.Fatal(err)
	}
	if strings.TrimSpace(out.String()) == tonaddr.Format(hot.Address(), config.Testnet, true) {
		t.Fatal("another HIGHLOAD_TIMEOUT gave the same hot wallet")
	}
}
