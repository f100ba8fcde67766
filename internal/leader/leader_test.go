package leader_test

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/ton-custody/processor/internal/leader"
	"github.com/ton-custody/processor/internal/store/storetest"
)

// Two instances, one job: exactly one runs it; a holder that loses its
// database session stops the job and the job is re-elected within seconds;
// a holder that dies hands it to the other instance; the two never run
// together.
func TestOneHolderAndTakeoverWithoutOverlap(t *testing.T) {
	db := storetest.NewDB(t)
	var mu sync.Mutex
	running := map[string]bool{}
	overlap := false
	starts := map[string]int{}
	job := func(name string) func(ctx context.Context) error {
		return func(ctx context.Context) error {
			mu.Lock()
			running[name] = true
			starts[name]++
			for other, on := range running {
				if other != name && on {
					overlap = true
				}
			}
			mu.Unlock()
			<-ctx.Done()
			mu.Lock()
			running[name] = false
			mu.Unlock()
			return nil
		}
	}
	quiet := slog.New(slog.DiscardHandler)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	kill := map[string]context.CancelFunc{}
	for _, name := range []string{"a", "b"} {
		e := &leader.Elector{DB: db, Name: "scanner", Log: quiet, CheckInterval: 200 * time.Millisecond,
			CheckTimeout: 200 * time.Millisecond, RetryInterval: 200 * time.Millisecond}
		ictx, icancel := context.WithCancel(ctx)
		kill[name] = icancel
		wg.Add(1)
		go func() { defer wg.Done(); _ = e.Run(ictx, job(name)) }()
	}
	totalStarts := func() int {
		mu.Lock()
		defer mu.Unlock()
		return starts["a"] + starts["b"]
	}
	holder := func() string {
		mu.Lock()
		defer mu.Unlock()
		for n, on := range running {
			if on {
				return n
			}
		}
		return ""
	}
	wait := func(cond func() bool, what string) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for time.Now().Before(deadline) {
			if cond() {
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
		t.Fatalf("%s: not within 10s", what)
	}
	terminate := func() {
		t.Helper()
		// Only this test's database, never the caller's own session: other
		// packages' tests share the server and hold advisory locks too.
		if _, err := db.Exec(context.Background(), `SELECT pg_terminate_backend(l.pid) FROM pg_locks l
			WHERE l.locktype = 'advisory' AND l.granted AND l.pid <> pg_backend_pid()
			  AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())`); err != nil {
			t.Fatal(err)
		}
	}
	wait(func() bool { return holder() != "" }, "a holder")
	// The holder's database session dies: it stops, and one of the two
	// (either may win the race) runs the job again.
	before := totalStarts()
	terminate()
	start := time.Now()
	wait(func() bool { return totalStarts() > before && holder() != "" }, "re-election after the session died")
	t.Logf("re-elected after %v", time.Since(start).Round(10*time.Millisecond))
	// The holder dies (its process is gone: no retries, session cut).
	first := holder()
	kill[first]()
	terminate()
	start = time.Now()
	wait(func() bool { h := holder(); return h != "" && h != first }, "takeover by the other instance")
	t.Logf("takeover after %v", time.Since(start).Round(10*time.Millisecond))
	cancel()
	wg.Wait()
	if overlap {
		t.Fatal("two instances ran the job at the same time")
	}
}
