package withdrawals_test

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"sync"
	"testing"

	"github.com/ton-custody/processor/internal/apierr"
	"github.com/ton-custody/processor/internal/operators"
	"github.com/ton-custody/processor/internal/withdrawals"
)

type controlsEnv struct {
	*env
	ctl *withdrawals.Controls
}

// newControlsEnv: TON above 1000 needs `approvals` approvals; operators
// alice and bob (approvers), root (admin), vic (viewer), off (disabled).
func newControlsEnv(t *testing.T, approvals int) *controlsEnv {
	t.Helper()
	e := newEnv(t)
	r, err := withdrawals.NewRequests(e.db, withdrawals.RequestsConfig{HotWallet: hotWallet, JettonWallet: jettonWalletOf,
		ApprovalThresholds: map[string]*big.Int{"TON": big.NewInt(1000)}, Network: "testnet"})
	if err != nil {
		t.Fatal(err)
	}
	e.r = r
	ctl, err := withdrawals.NewControls(e.db, withdrawals.ControlsConfig{Network: "testnet", ApprovalsRequired: approvals, Currencies: []string{"TON", "USDT"}})
	if err != nil {
		t.Fatal(err)
	}
	for name, role := range map[string]operators.Role{"alice": operators.RoleApprover, "bob": operators.RoleApprover,
		"root": operators.RoleAdmin, "vic": operators.RoleViewer, "off": operators.RoleAdmin} {
		if _, err := operators.Add(context.Background(), e.db, "test", name, role, "correct horse battery"); err != nil {
			t.Fatal(err)
		}
	}
	if err := operators.Disable(context.Background(), e.db, "test", "off", "gone"); err != nil {
		t.Fatal(err)
	}
	return &controlsEnv{env: e, ctl: ctl}
}

func (e *controlsEnv) create(q string, amount int64) int64 {
	e.t.Helper()
	req := request()
	req.QueryID, req.Amount = q, big.NewInt(amount)
	id, err := e.r.Create(context.Background(), req)
	if err != nil {
		e.t.Fatal(err)
	}
	return id
}

func (e *controlsEnv) state(id int64) (withdrawals.State, string) {
	e.t.Helper()
	st, err := e.r.Status(context.Background(), id)
	if err != nil {
		e.t.Fatal(err)
	}
	return st.Status, st.Reason
}

func TestAboveThresholdAwaitsApproval(t *testing.T) {
	t.Parallel()
	e := newControlsEnv(t, 2)
	ctx := context.Background()
	at := e.create("at", 1000)
	above := e.create("above", 1001)
	if s, _ := e.state(at); s != withdrawals.StatePending {
		t.Errorf("at the threshold: %s", s)
	}
	if s, _ := e.state(above); s != withdrawals.StateAwaitingApproval {
		t.Fatalf("above the threshold: %s", s)
	}
	// A repeat of the request gives the same ID, no second event.
	if again := e.create("above", 1001); again != above {
		t.Fatalf("repeat: %d, want %d", again, above)
	}
	if n := e.count(`SELECT count(*) FROM outbox WHERE dedup_key = $1 AND payload->>'status' = 'awaiting_approval'`,
		fmt.Sprintf("withdrawal:%d:awaiting_approval", above)); n != 1 {
		t.Errorf("%d awaiting_approval events", n)
	}

	for _, bad := range []struct {
		op   string
		want error
	}{{"vic", operators.ErrForbidden}, {"off", operators.ErrForbidden}, {"nobody", operators.ErrForbidden}} {
		if _, err := e.ctl.Approve(ctx, above, bad.op, "ok"); !errors.Is(err, bad.want) {
			t.Errorf("approve as %s: %v", bad.op, err)
		}
	}
	if _, err := e.ctl.Approve(ctx, above, "alice", ""); !errors.Is(err, apierr.ErrBadRequest) {
		t.Errorf("no reason: %v", err)
	}
	if s, err := e.ctl.Approve(ctx, above, "alice", "known customer"); err != nil || s != withdrawals.StateAwaitingApproval {
		t.Fatalf("first approval: %s %v", s, err)
	}
	// alice again: refused (she last touched it, and approved it).
	if _, err := e.ctl.Approve(ctx, above, "alice", "again"); !errors.Is(err, operators.ErrForbidden) {
		t.Fatalf("same operator twice: %v", err)
	}
	if s, err := e.ctl.Approve(ctx, above, "root", "second"); err != nil || s != withdrawals.StatePending {
		t.Fatalf("second approval: %s %v", s, err)
	}
	if n := e.count(`SELECT count(*) FROM outbox WHERE dedup_key = $1 AND payload->>'status' = 'pending'`, fmt.Sprintf("withdrawal:%d:approved", above)); n != 1 {
		t.Errorf("%d approved events", n)
	}
	if _, err := e.ctl.Approve(ctx, above, "bob", "late"); !errors.Is(err, apierr.ErrConflict) {
		t.Errorf("approve a pending one: %v", err)
	}
	if _, err := e.ctl.Approve(ctx, at, "bob", "x"); !errors.Is(err, apierr.ErrConflict) {
		t.Errorf("approve one that needs none: %v", err)
	}
	if n := e.count(`SELECT count(*) FROM audit_log WHERE subject = $1`, fmt.Sprintf("withdrawal:%d", above)); n != 3 {
		t.Errorf("%d audit entries, want 3 (awaiting, 2 approvals)", n)
	}
}

func TestCreatorCannotApprove(t *testing.T) {
	t.Parallel()
	e := newControlsEnv(t, 1)
	ctx := context.Background()
	id := e.create("mine", 5000)
	// As the console will record a withdrawal an operator enters.
	e.exec(`UPDATE withdrawals SET created_by = 'alice' WHERE id = $1`, id)
	if _, err := e.ctl.Approve(ctx, id, "alice", "mine"); !errors.Is(err, operators.ErrForbidden) {
		t.Fatalf("creator approves: %v", err)
	}
	if s, err := e.ctl.Approve(ctx, id, "bob", "checked"); err != nil || s != withdrawals.StatePending {
		t.Fatalf("another approver: %s %v", s, err)
	}
}

func TestRejectFailsWithEvent(t *testing.T) {
	t.Parallel()
	e := newControlsEnv(t, 1)
	ctx := context.Background()
	id := e.create("rej", 5000)
	if err := e.ctl.Reject(ctx, id, "vic", "no"); !errors.Is(err, operators.ErrForbidden) {
		t.Errorf("viewer rejects: %v", err)
	}
	if err := e.ctl.Reject(ctx, id, "bob", "sanctioned address"); err != nil {
		t.Fatal(err)
	}
	if s, r := e.state(id); s != withdrawals.StateFailed || r != "rejected: sanctioned address" {
		t.Fatalf("rejected: %s %q", s, r)
	}
	if n := e.count(`SELECT count(*) FROM outbox WHERE dedup_key = $1 AND payload->>'reason' = 'rejected: sanctioned address'`,
		fmt.Sprintf("withdrawal:%d:failed", id)); n != 1 {
		t.Errorf("%d failed events", n)
	}
	if err := e.ctl.Reject(ctx, id, "bob", "again"); !errors.Is(err, apierr.ErrConflict) {
		t.Errorf("reject a failed one: %v", err)
	}
	if _, err := e.ctl.Cancel(ctx, id, "api", "x"); !errors.Is(err, apierr.ErrConflict) {
		t.Errorf("cancel a failed one: %v", err)
	}
}

// Concurrent approvals of the last missing one: exactly one makes it
// pending and one approved event is written.
func TestConcurrentApprovals(t *testing.T) {
	t.Parallel()
	e := newControlsEnv(t, 2)
	ctx := context.Background()
	id := e.create("conc", 5000)
	var wg sync.WaitGroup
	errs := make([]error, 3)
	for i, op := range []string{"alice", "bob", "root"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = e.ctl.Approve(ctx, id, op, "ok")
		}()
	}
	wg.Wait()
	ok := 0
	for _, err := range errs {
		if err == nil {
			ok++
		} else if !errors.Is(err, apierr.ErrConflict) && !errors.Is(err, operators.ErrForbidden) {
			t.Errorf("approve: %v", err)
		}
	}
	if ok != 2 {
		t.Errorf("%d approvals accepted, want 2 (%v)", ok, errs)
	}
	if s, _ := e.state(id); s != withdrawals.StatePending {
		t.Errorf("state %s", s)
	}
	if n := e.count(`SELECT count(*) FROM outbox WHERE dedup_key = $1`, fmt.Sprintf("withdrawal:%d:approved", id)); n != 1 {
		t.Errorf("%d approved events", n)
	}
}

func TestPauseResume(t *testing.T) {
	t.Parallel()
	e := newControlsEnv(t, 1)
	ctx := context.Background()
	if err := e.ctl.Pause(ctx, "BTC", "alice", "x"); !errors.Is(err, apierr.ErrBadRequest) {
		t.Errorf("unknown currency: %v", err)
	}
	if err := e.ctl.Pause(ctx, "TON", "vic", "x"); !errors.Is(err, operators.ErrForbidden) {
		t.Errorf("viewer pauses: %v", err)
	}
	if err := e.ctl.Pause(ctx, "TON", "alice", "incident"); err != nil {
		t.Fatal(err)
	}
	if err := e.ctl.Pause(ctx, "TON", "bob", "incident"); !errors.Is(err, apierr.ErrConflict) {
		t.Errorf("paused twice: %v", err)
	}
	ps, err := withdrawals.Paused(ctx, e.db)
	if err != nil || len(ps) != 1 || ps[0].Currency != "TON" || ps[0].By != "alice" {
		t.Fatalf("paused %+v %v", ps, err)
	}
	if err := e.ctl.Resume(ctx, "TON", "bob", "x"); !errors.Is(err, operators.ErrForbidden) {
		t.Errorf("approver resumes: %v", err)
	}
	if err := e.ctl.Resume(ctx, "TON", "root", "fixed"); err != nil {
		t.Fatal(err)
	}
	if err := e.ctl.Resume(ctx, "TON", "root", "fixed"); !errors.Is(err, apierr.ErrConflict) {
		t.Errorf("resume twice: %v", err)
	}
	if n := e.count(`SELECT count(*) FROM audit_log WHERE subject = 'currency:TON'`); n != 2 {
		t.Errorf("%d audit entries", n)
	}
}
