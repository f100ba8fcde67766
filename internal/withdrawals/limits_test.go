package withdrawals_test

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"sync"
	"testing"

	"github.com/ton-custody/processor/internal/apierr"
	"github.com/ton-custody/processor/internal/withdrawals"
)

func limitedEnv(t *testing.T, limits map[string]withdrawals.Limit) *env {
	e := newEnv(t)
	r, err := withdrawals.NewRequests(e.db, withdrawals.RequestsConfig{HotWallet: hotWallet, JettonWallet: jettonWalletOf, Limits: limits})
	if err != nil {
		t.Fatal(err)
	}
	e.r = r
	return e
}

func limited(q string, amount int64) withdrawals.Request {
	r := request()
	r.QueryID, r.Amount = q, big.NewInt(amount)
	return r
}

func TestPerWithdrawalLimit(t *testing.T) {
	t.Parallel()
	e := limitedEnv(t, map[string]withdrawals.Limit{"TON": {PerWithdrawal: big.NewInt(100)}})
	ctx := context.Background()
	if _, err := e.r.Create(ctx, limited("at", 100)); err != nil {
		t.Fatalf("amount at the limit: %v", err)
	}
	_, err := e.r.Create(ctx, limited("above", 101))
	if !errors.Is(err, apierr.ErrBadRequest) || !strings.Contains(apierr.Message(err), "above the limit of 100 per withdrawal") {
		t.Fatalf("amount above the limit: %v", err)
	}
	usdt := limited("usdt", 1_000_000)
	usdt.Currency = "USDT"
	if _, err := e.r.Create(ctx, usdt); err != nil {
		t.Fatalf("a currency without limits: %v", err)
	}
	if n := e.count(`SELECT count(*) FROM withdrawals`); n != 2 {
		t.Fatalf("%d rows, want 2", n)
	}
}

func TestDailyLimitCountsTheLast24HoursExceptFailed(t *testing.T) {
	t.Parallel()
	e := limitedEnv(t, map[string]withdrawals.Limit{"TON": {PerDay: big.NewInt(100)}})
	ctx := context.Background()
	first, err := e.r.Create(ctx, limited("a", 40))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.r.Create(ctx, limited("b", 60)); err != nil {
		t.Fatal(err)
	}
	_, err = e.r.Create(ctx, limited("c", 1))
	if !errors.Is(err, apierr.ErrBadRequest) || !strings.Contains(apierr.Message(err), "daily limit of 100") {
		t.Fatalf("over the daily limit: %v", err)
	}
	// A retry of an accepted request is still answered with its id.
	if id, err := e.r.Create(ctx, limited("a", 40)); err != nil || id != first {
		t.Fatalf("repeat after the limit is used up: id %d, %v; want %d", id, err, first)
	}
	// A failed withdrawal gives its amount back to the day.
	e.exec(`UPDATE withdrawals SET state = 'failed', fail_reason = 'test' WHERE id = $1`, first)
	if _, err := e.r.Create(ctx, limited("c", 40)); err != nil {
		t.Fatalf("after a failure freed 40: %v", err)
	}
	// Requests older than 24 hours no longer count.
	e.exec(`UPDATE withdrawals SET created_at = now() - interval '25 hours'`)
	if _, err := e.r.Create(ctx, limited("d", 100)); err != nil {
		t.Fatalf("a new day: %v", err)
	}
}

func TestDailyLimitHoldsUnderConcurrentRequests(t *testing.T) {
	t.Parallel()
	e := limitedEnv(t, map[string]withdrawals.Limit{"TON": {PerDay: big.NewInt(100)}})
	const n = 30
	errs := make([]error, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			_, errs[i] = e.r.Create(context.Background(), limited(fmt.Sprint("q", i), 10))
		}()
	}
	close(start)
	wg.Wait()
	accepted := 0
	for _, err := range errs {
		switch {
		case err == nil:
			accepted++
		case !errors.Is(err, apierr.ErrBadRequest):
			t.Fatal(err)
		}
	}
	if accepted != 10 || e.count(`SELECT count(*) FROM withdrawals`) != 10 {
		t.Fatalf("%d accepted, want exactly 10 of 10 each under a daily limit of 100", accepted)
	}
}
