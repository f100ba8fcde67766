package soak

import (
	"cmp"
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/ton-custody/processor/internal/devdb"
	"github.com/ton-custody/processor/internal/store/storetest"
)

// TestSoakShort is the CI-sized soak: about 45 s of traffic with faults on
// this 2-core machine's budget, then the drain and every invariant. It
// fails on any violation, and also when the run was too small to mean
// anything (no deposits credited, no withdrawal processed, no bounce, no
// sweep, no kill -9, no webhook delivered, no RabbitMQ message, no
// RabbitMQ connection cut or delivery retried; for the bridge: no payment
// succeeded or ended otherwise at a provider, no payment killed mid-create
// that left created since, no duplicated, held back or late callback).
func TestSoakShort(t *testing.T) {
	opts := Options{
		Duration:                 45 * time.Second,
		Tick:                     2 * time.Second,
		DepositsPerTick:          2,
		WithdrawalsPerTick:       3,
		Faults:                   true,
		FaultEvery:               3500 * time.Millisecond,
		Seed:                     20260501,
		DrainTimeout:             50 * time.Second,
		BridgePerTick:            1,
		BurstSize:                100,
		JettonDepositsPerTick:    1,
		JettonWithdrawalsPerTick: 1,
		Progress:                 testWriter{t},
		// The shared broker (scripts/with-rabbitmq.sh, make test, .ci/run);
		// the run uses an exchange and a queue of its own.
		RabbitMQURL: cmp.Or(os.Getenv("TEST_RABBITMQ_URL"), "amqp://guest:guest@127.0.0.1:5672/"),
	}
	opts.KeepWorkDir = os.Getenv("SOAK_KEEP") != ""
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	// A throwaway server when the machine has PostgreSQL's binaries (the
	// restart fault needs one of our own; Run tries it first); else a fresh
	// database on the test server, without the restart fault.
	res, err := Run(ctx, opts)
	if errors.Is(err, devdb.ErrNoBinaries) {
		if os.Getenv("CI") != "" {
			t.Fatalf("CI must exercise the PostgreSQL restart fault: %v", err)
		}
		opts.DatabaseURL = storetest.NewDBURL(t)
		res, err = Run(ctx, opts)
	}
	if res != nil {
		var b strings.Builder
		if werr := res.WriteTable(&b); werr != nil {
			t.Error(werr)
		}
		t.Log("\n" + b.String())
	}
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range res.Violations {
		t.Error("violation:", v)
	}
	// Not vacuous: the run exercised what it claims to.
	for _, c := range []struct {
		n    int
		what string
	}{
		{res.DepositsCredited, "deposits credited"},
		{res.WithdrawalsProcessed, "withdrawals processed"},
		{res.WithdrawalsBounced, "withdrawals bounced back"},
		{res.SweepsConfirmed, "sweeps confirmed"},
		{res.Faults[FaultKill9], "kill -9"},
		{res.WebhookEventsSeen, "webhook events"},
		{res.Bridge.Provider["succeeded"], "bridge payments succeeded at the provider"},
		{res.Bridge.Provider["failed"] + res.Bridge.Provider["canceled"] + res.Bridge.Provider["expired"],
			"bridge payments failed, canceled or expired at the provider"},
		{res.Bridge.MidCreateResolved, "bridge payments killed mid-create and out of created since"},
		{res.Bridge.Relay.Duplicated, "duplicated callbacks"},
		{res.Bridge.Relay.HeldBack, "held back callbacks"},
		{res.Bridge.Relay.Replays, "late callbacks"},
		{res.Traffic[TrafficMasterchain], "masterchain withdrawals tried"},
		{res.Traffic[TrafficBurst], "burst withdrawals"},
		{res.Traffic[TrafficOversized], "withdrawals above the hot wallet balance"},
		{res.ColdProcessed, "cold transfers processed"},
		{res.JettonDepositsCredited, "jetton deposits credited"},
		{res.JettonWithdrawalsProcessed, "jetton withdrawals processed"},
		{res.JettonSweepsConfirmed, "jetton sweeps confirmed"},
		{res.RabbitEventsSeen, "events in the RabbitMQ queue"},
		{res.RabbitConnsCut, "RabbitMQ connections cut by an outage"},
		{res.RabbitRetried, "RabbitMQ deliveries retried"},
		{res.LedgerCurrencies, "ledger currencies balanced"},
		{res.LedgerWalletsReconciled, "wallets reconciled with the chain"},
	} {
		if c.n == 0 {
			t.Errorf("no %s: the run proves nothing", c.what)
		}
	}
	// Every fault kind was injected (the schedule deals each once per round).
	kinds := []string{FaultKill9, FaultLiteDrop, FaultLiteStall, FaultLoseExternals, FaultBlockPause, FaultWebhookDown,
		FaultShardSplit, FaultShardMerge, FaultLiteLag, FaultBrokerDown}
	kinds = append(kinds, BridgeFaultKinds...)
	if opts.DatabaseURL == "" {
		kinds = append(kinds, FaultPGRestart)
	} else {
		t.Log("external test database: no PostgreSQL restart fault")
	}
	for _, k := range kinds {
		if res.Faults[k] == 0 {
			t.Errorf("fault %q was never injected", k)
		}
	}
	requests := res.WithdrawalRequests + res.JettonWithdrawalRequests
	if res.DepositsCredited != res.DepositsSent || res.JettonDepositsCredited != res.JettonDepositsSent || res.Submissions != 2*requests {
		t.Errorf("%d deposits sent, %d credited; %d jetton deposits sent, %d credited; %d submissions for %d requests",
			res.DepositsSent, res.DepositsCredited, res.JettonDepositsSent, res.JettonDepositsCredited, res.Submissions, requests)
	}
	if os.Getenv("SOAK_KEEP") != "" {
		t.Log("work dir:", res.WorkDir)
	}
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
