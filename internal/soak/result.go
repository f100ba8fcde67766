package soak

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"
)

// Result is what a run did and found.
type Result struct {
	Seed          int64
	FaultsEnabled bool
	WorkDir       string

	SetupTime, TrafficTime, DrainTime, Elapsed time.Duration

	DepositsSent, DepositsCredited, DepositAddrFailures int
	WithdrawalRequests, Submissions                     int
	WithdrawalsProcessed, WithdrawalsFailed             int
	WithdrawalsBounced, WithdrawalsUnsubmitted          int
	ProcessedAmount, DestinationsReceived               string
	SweepsConfirmed, SweepsFailed                       int
	// LedgerCurrencies balanced to zero; LedgerWalletsReconciled: wallets
	// the final reconciliation found equal to the chain.
	LedgerCurrencies, LedgerWalletsReconciled           int
	ColdProcessed, ColdFailed                           int
	JettonDepositsSent, JettonDepositsCredited          int
	JettonWithdrawalRequests                            int
	JettonWithdrawalsProcessed, JettonWithdrawalsFailed int
	JettonSweepsConfirmed, JettonSweepsFailed           int
	ColdAmount                                          string
	HotWalletTxs                                        int
	OutboxEvents                                        int
	EventsByTopic                                       map[string]int
	WebhookEventsSeen, WebhookDeliveries                int
	WebhookRedeliveries, WebhookRefused                 int
	// RabbitMQ (Options.RabbitMQURL): event ids the run's queue got,
	// messages in all (repeats included), messages the broker flagged
	// redelivered, the sink's deliveries that needed more than one attempt,
	// and the processor's connections the outages cut.
	RabbitMQ                         bool
	RabbitEventsSeen, RabbitMessages int
	RabbitRedelivered, RabbitRetried int
	RabbitConnsCut                   int

	Bridge BridgeResult

	Traffic         map[string]int // requests by kind (see the Traffic* constants)
	Faults          map[string]int // by kind (see the Fault* constants)
	ProcessorStarts int
	Kills           int
	UnplannedExits  []string // processor exits the driver did not cause

	Violations []string
	Notes      []string
}

// BridgeResult is what the bridge traffic did.
type BridgeResult struct {
	Enabled               bool
	Payments, Submissions int
	Created, Repeated     int            // API answers 201 and 200 (the same request again)
	Unanswered            int            // payments whose create the API never answered
	ByProvider            map[string]int // "<provider> <kind>" -> payments
	Ours                  map[string]int // stored status at the end -> payments
	Provider              map[string]int // the provider's final state, "open" or "absent" -> payments
	Open                  int            // stored status not final at the end
	OpenProviderFinal     int            // ... although the provider's is
	OpenProviderOpen      int            // ... as the provider's
	OpenProviderAbsent    int            // ... and the provider never got it
	OpenFlagged           int            // ... flagged for a person (attention; once issue 12's alert lands)
	Conflicts             int            // conflict events: a provider contradicted a final status
	MidCreateKills        int            // payments whose create was cut by kill -9 (stored created)
	MidCreateResolved     int            // ... that left created since (reconciler after its grace, or a callback)
	Events                int            // bridge_payment outbox events
	Relay                 RelayStats     // callbacks between the simulators and the processor
	UnknownGiveUp         time.Duration  // BRIDGE_UNKNOWN_GIVE_UP of the run
}

// OK reports a run without invariant violations.
func (r *Result) OK() bool { return len(r.Violations) == 0 }

// TotalFaults is the number of faults injected.
func (r *Result) TotalFaults() int {
	n := 0
	for _, v := range r.Faults {
		n += v
	}
	return n
}

// WriteTable prints the summary table.
func (r *Result) WriteTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	row := func(k string, v any) { fmt.Fprintf(tw, "  %s\t%v\n", k, v) }
	section := func(s string) { fmt.Fprintf(tw, "%s\t\n", s) }
	section("run")
	row("seed", r.Seed)
	row("setup / traffic / drain / total", fmt.Sprintf("%s / %s / %s / %s", r.SetupTime.Round(time.Second),
		r.TrafficTime.Round(time.Second), r.DrainTime.Round(time.Second), r.Elapsed.Round(time.Second)))
	section("traffic sent, by kind")
	tkinds := make([]string, 0, len(r.Traffic))
	for k := range r.Traffic {
		tkinds = append(tkinds, k)
	}
	sort.Strings(tkinds)
	for _, k := range tkinds {
		row(k, r.Traffic[k])
	}
	section("events")
	row("deposits sent (faucet)", r.DepositsSent)
	row("deposits credited (incomes rows)", r.DepositsCredited)
	if r.DepositAddrFailures > 0 {
		row("deposit addresses not created", r.DepositAddrFailures)
	}
	row("withdrawal requests / API submissions", fmt.Sprintf("%d / %d", r.WithdrawalRequests, r.Submissions))
	row("withdrawals processed / failed (bounced back)", fmt.Sprintf("%d / %d (%d)", r.WithdrawalsProcessed, r.WithdrawalsFailed, r.WithdrawalsBounced))
	if r.WithdrawalsUnsubmitted > 0 {
		row("withdrawals never accepted", r.WithdrawalsUnsubmitted)
	}
	row("processed total = reached destinations (nanoton)", fmt.Sprintf("%s = %s", r.ProcessedAmount, r.DestinationsReceived))
	row("sweeps confirmed / failed", fmt.Sprintf("%d / %d", r.SweepsConfirmed, r.SweepsFailed))
	row("ledger currencies balanced / wallets reconciled with the chain", fmt.Sprintf("%d / %d", r.LedgerCurrencies, r.LedgerWalletsReconciled))
	row("jetton deposits sent / credited", fmt.Sprintf("%d / %d", r.JettonDepositsSent, r.JettonDepositsCredited))
	row("jetton withdrawals requested / processed / failed", fmt.Sprintf("%d / %d / %d", r.JettonWithdrawalRequests,
		r.JettonWithdrawalsProcessed, r.JettonWithdrawalsFailed))
	row("jetton sweeps confirmed / failed", fmt.Sprintf("%d / %d", r.JettonSweepsConfirmed, r.JettonSweepsFailed))
	row("cold transfers processed (nanoton) / failed", fmt.Sprintf("%d (%s) / %d", r.ColdProcessed, r.ColdAmount, r.ColdFailed))
	row("hot wallet transactions", r.HotWalletTxs)
	topics := make([]string, 0, len(r.EventsByTopic))
	for t, n := range r.EventsByTopic {
		topics = append(topics, fmt.Sprintf("%s %d", t, n))
	}
	sort.Strings(topics)
	row("outbox events", fmt.Sprintf("%d (%s)", r.OutboxEvents, strings.Join(topics, ", ")))
	row("webhook ids seen / deliveries / redeliveries / refused (outage)", fmt.Sprintf("%d / %d / %d / %d",
		r.WebhookEventsSeen, r.WebhookDeliveries, r.WebhookRedeliveries, r.WebhookRefused))
	if r.RabbitMQ {
		row("rabbitmq ids in queue / messages / repeats (redelivered)", fmt.Sprintf("%d / %d / %d (%d)",
			r.RabbitEventsSeen, r.RabbitMessages, r.RabbitMessages-r.RabbitEventsSeen, r.RabbitRedelivered))
		row("rabbitmq deliveries retried / connections cut (outage)", fmt.Sprintf("%d / %d", r.RabbitRetried, r.RabbitConnsCut))
	}
	if b := r.Bridge; b.Enabled {
		section("bridge (payfield, highhelp, paykassma simulators)")
		row("payments / API submissions / 201 / 200 again / never answered", fmt.Sprintf("%d / %d / %d / %d / %d",
			b.Payments, b.Submissions, b.Created, b.Repeated, b.Unanswered))
		row("by provider and kind", counts(b.ByProvider))
		row("provider side at the end", counts(b.Provider))
		row("stored status at the end", counts(b.Ours))
		row("open: provider final / provider open / provider never got it", fmt.Sprintf("%d: %d / %d / %d",
			b.Open, b.OpenProviderFinal, b.OpenProviderOpen, b.OpenProviderAbsent))
		row("open flagged for attention / conflict events", fmt.Sprintf("%d / %d", b.OpenFlagged, b.Conflicts))
		row("killed mid-create / out of created since", fmt.Sprintf("%d / %d", b.MidCreateKills, b.MidCreateResolved))
		row("bridge_payment events", b.Events)
		rs := b.Relay
		row("callbacks received / forwarded (2xx, 5xx or down, 4xx)", fmt.Sprintf("%d / %d (%d, %d, %d)",
			rs.Received, rs.Forwarded, rs.Answered2xx, rs.Answered5xx, rs.Answered4xx))
		row("callbacks duplicated / held back / replayed late", fmt.Sprintf("%d / %d / %d", rs.Duplicated, rs.HeldBack, rs.Replays))
		row("BRIDGE_UNKNOWN_GIVE_UP", b.UnknownGiveUp)
	}
	section("faults injected")
	if !r.FaultsEnabled {
		row("(faults off)", "")
	}
	kinds := make([]string, 0, len(r.Faults))
	for k := range r.Faults {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	for _, k := range kinds {
		row(k, r.Faults[k])
	}
	row("total", r.TotalFaults())
	row("processor starts / unplanned exits", fmt.Sprintf("%d / %d", r.ProcessorStarts, len(r.UnplannedExits)))
	section("invariants")
	row("violations", len(r.Violations))
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("summary: %w", err)
	}
	for _, v := range r.Violations {
		fmt.Fprintln(w, "  VIOLATION:", v)
	}
	for _, u := range r.UnplannedExits {
		fmt.Fprintln(w, "  unplanned processor exit:", u)
	}
	for _, n := range r.Notes {
		fmt.Fprintln(w, "  note:", n)
	}
	return nil
}

// counts formats a map as "k n, k n" in key order.
func counts(m map[string]int) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s %d", k, m[k])
	}
	return strings.Join(parts, ", ")
}
