package app_test

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/ton-custody/processor/internal/operators"
	"github.com/ton-custody/processor/internal/store/storetest"
	"github.com/ton-custody/processor/internal/withdrawals"
)

func addOperators(t *testing.T, p *processor, ops map[string]operators.Role) {
	t.Helper()
	for name, role := range ops {
		if _, err := operators.Add(context.Background(), p.app.DB, "test", name, role, "correct horse battery"); err != nil {
			t.Fatal(err)
		}
	}
}

func controlsOf(t *testing.T, p *processor, approvals int) *withdrawals.Controls {
	t.Helper()
	c, err := withdrawals.NewControls(p.app.DB, withdrawals.ControlsConfig{Network: "testnet", ApprovalsRequired: approvals,
		Currencies: []string{"TON", "USDT"}})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// A withdrawal above APPROVAL_THRESHOLDS waits in awaiting_approval (while
// a smaller one is paid) until two distinct approvers approve it, then is
// paid on tonsim; a rejected one fails with its event.
func TestApprovalGatesPaymentOnTonsim(t *testing.T) {
	t.Parallel()
	n, j := newNetwork(t)
	env := baseEnv(t, n, j, storetest.NewDBURL(t))
	env["WITHDRAWAL_BATCH_INTERVAL"] = "200ms"
	env["APPROVAL_THRESHOLDS"] = "TON:500000000"
	env["APPROVALS_REQUIRED"] = "2"
	p := startProcessor(t, n, env)
	p.fundHot(t, "20")
	addOperators(t, p, map[string]operators.Role{"alice": operators.RoleApprover, "bob": operators.RoleAdmin, "carol": operators.RoleViewer})
	ctl := controlsOf(t, p, 2)
	ctx := context.Background()
	send := func(q, amount string) any {
		return p.ok(p.do("POST", "/v1/withdrawal/send", map[string]any{"user_id": "u", "query_id": q, "currency": "TON",
			"amount": amount, "destination": dest("appr", len(q), false)}, true))["ID"]
	}
	big1 := send("big", "1000000000")
	if st := p.status(big1); st["status"] != "awaiting_approval" {
		t.Fatalf("above the threshold: %v, want awaiting_approval", st["status"])
	}
	small := send("small1", "500000000") // at the threshold: no approval
	p.waitStatus(t, small, "processed", 30*time.Second)
	time.Sleep(time.Second)
	if st := p.status(big1); st["status"] != "awaiting_approval" {
		t.Fatalf("unapproved withdrawal is %v", st["status"])
	}
	if p.count(t, `SELECT count(*) FROM outbox WHERE dedup_key = $1`, fmt.Sprintf("withdrawal:%v:awaiting_approval", big1)) != 1 {
		t.Error("no awaiting_approval event")
	}
	id := int64(big1.(float64))
	if _, err := ctl.Approve(ctx, id, "carol", "looks fine"); !errors.Is(err, operators.ErrForbidden) {
		t.Fatalf("viewer approves: %v", err)
	}
	if st, err := ctl.Approve(ctx, id, "alice", "checked the customer"); err != nil || st != withdrawals.StateAwaitingApproval {
		t.Fatalf("first approval: %v %v", st, err)
	}
	if _, err := ctl.Approve(ctx, id, "alice", "again"); !errors.Is(err, operators.ErrForbidden) {
		t.Fatalf("same operator twice: %v", err)
	}
	time.Sleep(time.Second)
	if st := p.status(big1); st["status"] != "awaiting_approval" {
		t.Fatalf("one of two approvals: %v", st["status"])
	}
	if st, err := ctl.Approve(ctx, id, "bob", "second pair of eyes"); err != nil || st != withdrawals.StatePending {
		t.Fatalf("second approval: %v %v", st, err)
	}
	p.waitStatus(t, big1, "processed", 30*time.Second)
	if p.count(t, `SELECT count(*) FROM audit_log WHERE subject = $1 AND action = 'withdrawal.approve'`, fmt.Sprintf("withdrawal:%d", id)) != 2 {
		t.Error("approvals not audited")
	}

	rej := send("rejected", "2000000000")
	if err := ctl.Reject(ctx, int64(rej.(float64)), "alice", "unknown destination"); err != nil {
		t.Fatal(err)
	}
	st := p.status(rej)
	if st["status"] != "failed" || st["reason"] != "rejected: unknown destination" {
		t.Fatalf("rejected: %v", st)
	}
	if p.count(t, `SELECT count(*) FROM outbox WHERE dedup_key = $1 AND payload->>'reason' = 'rejected: unknown destination'`,
		fmt.Sprintf("withdrawal:%v:failed", rej)) != 1 {
		t.Error("no failed event for the rejected withdrawal")
	}
	if p.count(t, `SELECT count(*) FROM hot_batch_items WHERE withdrawal_id = $1`, rej) != 0 {
		t.Error("the rejected withdrawal was batched")
	}
}

func pausedGauge(t *testing.T, p *processor, currency string) float64 {
	t.Helper()
	mfs, err := p.app.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "processor_withdrawals_paused" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "currency" && l.GetValue() == currency {
					return m.GetGauge().GetValue()
				}
			}
		}
	}
	return -1
}

// A paused currency's pending withdrawal is not batched while another
// currency's is, and is paid after resume (by an admin).
func TestPausedCurrencyIsNotBatchedOnTonsim(t *testing.T) {
	t.Parallel()
	n, j := newNetwork(t)
	env := baseEnv(t, n, j, storetest.NewDBURL(t))
	env["WITHDRAWAL_BATCH_INTERVAL"] = "200ms"
	p := startProcessor(t, n, env)
	p.fundHot(t, "20")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if _, err := n.Mint(ctx, j.Master, p.app.Wallets.HotWalletAddress(), big.NewInt(1_000_000)); err != nil {
		t.Fatal(err)
	}
	addOperators(t, p, map[string]operators.Role{"alice": operators.RoleApprover, "bob": operators.RoleAdmin})
	ctl := controlsOf(t, p, 1)
	if err := ctl.Pause(ctx, "USDT", "alice", "incident 42"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "processor_withdrawals_paused{USDT} 1", func() bool { return pausedGauge(t, p, "USDT") == 1 })
	if g := pausedGauge(t, p, "TON"); g != 0 {
		t.Errorf("TON gauge %v", g)
	}
	send := func(q, currency, amount string) any {
		return p.ok(p.do("POST", "/v1/withdrawal/send", map[string]any{"user_id": "u", "query_id": q, "currency": currency,
			"amount": amount, "destination": dest("pause", len(q), false)}, true))["ID"]
	}
	jet := send("jet", "USDT", "1000")
	ton := send("tonpay", "TON", "1000000")
	p.waitStatus(t, ton, "processed", 30*time.Second)
	time.Sleep(time.Second)
	if st := p.status(jet); st["status"] != "pending" {
		t.Fatalf("paused USDT withdrawal is %v, want pending", st["status"])
	}
	if err := ctl.Resume(ctx, "USDT", "alice", "fixed"); !errors.Is(err, operators.ErrForbidden) {
		t.Fatalf("an approver resumes: %v", err)
	}
	if err := ctl.Resume(ctx, "USDT", "bob", "incident 42 resolved"); err != nil {
		t.Fatal(err)
	}
	p.waitStatus(t, jet, "processed", 60*time.Second)
	waitFor(t, 10*time.Second, "processor_withdrawals_paused{USDT} 0", func() bool { return pausedGauge(t, p, "USDT") == 0 })
	if p.count(t, `SELECT count(*) FROM audit_log WHERE subject = 'currency:USDT' AND action IN ('withdrawals.pause', 'withdrawals.resume')`) != 2 {
		t.Error("pause and resume not audited")
	}
}

// Cancels race the worker batching the same withdrawals: each cancel
// either wins (the withdrawal fails, is in no batch and is not paid) or
// gets 409 because a batch holds it (and it is paid); never both.
func TestCancelRacesTheBatchPickerOnTonsim(t *testing.T) {
	t.Parallel()
	n, j := newNetwork(t)
	env := baseEnv(t, n, j, storetest.NewDBURL(t))
	env["WITHDRAWAL_BATCH_INTERVAL"] = "50ms"
	p := startProcessor(t, n, env)
	p.fundHot(t, "20")
	// The worker is live: a first withdrawal is paid.
	warm := p.ok(p.do("POST", "/v1/withdrawal/send", map[string]any{"user_id": "u", "query_id": "warm", "currency": "TON",
		"amount": "1000000", "destination": dest("race", 1000, false)}, true))["ID"]
	p.waitStatus(t, warm, "processed", 30*time.Second)
	const count = 60
	ids := make([]any, count)
	codes := make([]int, count)
	var wg sync.WaitGroup
	for i := range count {
		ids[i] = p.ok(p.do("POST", "/v1/withdrawal/send", map[string]any{"user_id": "u", "query_id": fmt.Sprint("race", i), "currency": "TON",
			"amount": "1000000", "destination": dest("race", i, false)}, true))["ID"]
		wg.Add(1)
		go func() {
			defer wg.Done()
			time.Sleep(time.Duration(i%8) * 25 * time.Millisecond)
			codes[i] = p.do("POST", "/v1/withdrawal/cancel", map[string]any{"id": ids[i], "reason": "race"}, true).status
		}()
	}
	wg.Wait()
	won, lost := 0, 0
	for i, id := range ids {
		switch codes[i] {
		case http.StatusOK:
			won++
			st := p.status(id)
			if st["status"] != "failed" || st["reason"] != "cancelled: race" {
				t.Errorf("cancelled %v is %v", id, st)
			}
			if p.count(t, `SELECT count(*) FROM hot_batch_items WHERE withdrawal_id = $1`, id) != 0 {
				t.Errorf("cancelled %v is in a batch", id)
			}
		case http.StatusConflict:
			lost++
			p.waitStatus(t, id, "processed", 60*time.Second)
		default:
			t.Errorf("cancel %v: status %d", id, codes[i])
		}
	}
	t.Logf("%d cancelled, %d already batched", won, lost)
	if won == 0 || lost == 0 {
		t.Errorf("%d cancels won, %d lost: the race was not run both ways", won, lost)
	}
	if p.count(t, `SELECT count(*) FROM audit_log WHERE action = 'withdrawal.cancel'`) != won {
		t.Error("audit entries do not match the cancels")
	}
}
