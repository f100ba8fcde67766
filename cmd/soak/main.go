// Command soak runs the fault and soak suite (internal/soak): tonsim and
// the processor under a steady mix of TON and jetton deposits,
// duplicate-submitted withdrawals, sweeps, cold wallet transfers, a burst of
// withdrawals, a withdrawal above the hot wallet balance, refused masterchain
// destinations and fiat bridge payins and payouts at provider simulators,
// with faults injected (RabbitMQ broker outages among them: the processor
// also publishes to a RabbitMQ broker through a proxy), for a fixed
// duration; then
// it checks the invariants against the chain, prints the summary table and
// exits 1 on any violation (2 when the run itself could not be carried out).
package main

import (
	"cmp"
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/ton-custody/processor/internal/soak"
)

func main() {
	var o soak.Options
	flag.DurationVar(&o.Duration, "duration", 10*time.Minute, "traffic and fault time")
	flag.DurationVar(&o.Tick, "tick", 2*time.Second, "traffic period")
	flag.IntVar(&o.DepositsPerTick, "deposits", 2, "deposits per tick")
	flag.IntVar(&o.WithdrawalsPerTick, "withdrawals", 3, "withdrawal requests per tick (each submitted twice)")
	flag.IntVar(&o.JettonDepositsPerTick, "jetton-deposits", 1, "demo jetton (USDT) third-party deposits per tick")
	flag.IntVar(&o.JettonWithdrawalsPerTick, "jetton-withdrawals", 1, "demo jetton (USDT) withdrawals per tick (each submitted twice)")
	flag.IntVar(&o.BurstSize, "burst", 1000, "withdrawals submitted at once halfway through, comments up to 1000 bytes (0: none)")
	flag.IntVar(&o.MasterchainEvery, "masterchain-every", 5, "ticks between withdrawals to a masterchain address (refused with 400)")
	flag.BoolVar(&o.Faults, "faults", true, "inject faults")
	flag.DurationVar(&o.FaultEvery, "fault-every", 8*time.Second, "mean time between faults")
	flag.Int64Var(&o.Seed, "seed", 0, "random seed (0: from the clock; printed)")
	flag.IntVar(&o.BridgePerTick, "bridge", 2, "fiat bridge payments per tick (Payfield, HighHelp, Paykassma simulators; 0: none)")
	flag.DurationVar(&o.BridgeUnknownGiveUp, "bridge-give-up", 20*time.Second, "the processor's BRIDGE_UNKNOWN_GIVE_UP")
	flag.DurationVar(&o.DrainTimeout, "drain", 120*time.Second, "how long to wait for everything to settle after the traffic")
	flag.StringVar(&o.RabbitMQURL, "rabbitmq", cmp.Or(os.Getenv("TEST_RABBITMQ_URL"), "amqp://guest:guest@127.0.0.1:5672/"),
		"RabbitMQ broker the processor also publishes to, through a proxy the broker outage fault cuts (an exchange and queue of the run's own; \"\": no RabbitMQ)")
	flag.StringVar(&o.DatabaseURL, "database-url", "", "an existing empty database instead of a throwaway PostgreSQL (no restart fault)")
	flag.StringVar(&o.ProcessorBin, "processor", "", "a built cmd/processor (default: go build from the module)")
	flag.StringVar(&o.WorkDir, "work-dir", "", "keep the processor binary, log and config here (default: a temporary directory)")
	quiet := flag.Bool("q", false, "no progress lines")
	flag.Parse()
	if !*quiet {
		o.Progress = os.Stderr
	}
	o.KeepWorkDir = o.WorkDir != ""
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	res, err := soak.Run(ctx, o)
	stop()
	if res != nil {
		fmt.Println()
		if werr := res.WriteTable(os.Stdout); werr != nil {
			fmt.Fprintln(os.Stderr, "soak:", werr)
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "soak:", err)
		os.Exit(2)
	}
	if !res.OK() {
		fmt.Fprintf(os.Stderr, "soak: %d invariant violations\n", len(res.Violations))
		os.Exit(1)
	}
}
