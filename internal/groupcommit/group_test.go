package groupcommit

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"
)

// Calls that arrive while a run is in flight share the next run, at most
// MaxBatch of them, never two of one key, and calls of one key run in
// their order of arrival; a lone call runs at once.
func TestGroupMergesWaitingCalls(t *testing.T) {
	t.Parallel()
	type call struct {
		key string
		n   int
	}
	gate := make(chan struct{})
	var mu sync.Mutex
	var runs [][]call
	g := &Group[string, call, string]{
		Key: func(c call) string { return c.key },
		Run: func(cs []call) []string {
			mu.Lock()
			first := len(runs) == 0
			runs = append(runs, slices.Clone(cs))
			mu.Unlock()
			if first {
				<-gate // hold the first run while the others arrive
			}
			out := make([]string, len(cs))
			for i, c := range cs {
				out[i] = fmt.Sprintf("%s/%d", c.key, c.n)
			}
			return out
		},
		MaxBatch: 4, MaxRunning: 1,
	}
	var wg sync.WaitGroup
	results := make(map[call]string)
	var rmu sync.Mutex
	do := func(c call) {
		wg.Go(func() {
			r := g.Do(c)
			rmu.Lock()
			results[c] = r
			rmu.Unlock()
		})
	}
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		for deadline := time.Now().Add(5 * time.Second); !cond(); time.Sleep(time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
		}
	}

	do(call{"a", 0}) // runs at once, held at the gate
	waitFor("the first run", func() bool { mu.Lock(); defer mu.Unlock(); return len(runs) == 1 })
	// Arrive in this order while the first run is held: b, a, c, a, d, e, f.
	for _, c := range []call{{"b", 1}, {"a", 1}, {"c", 1}, {"a", 2}, {"d", 1}, {"e", 1}, {"f", 1}} {
		do(c)
		waitFor(fmt.Sprint(c, " to queue"), func() bool { // before the next one arrives
			g.mu.Lock()
			defer g.mu.Unlock()
			return slices.ContainsFunc(g.waiting, func(w *groupCall[call, string]) bool { return w.in == c })
		})
	}
	close(gate)
	wg.Wait()

	want := [][]call{
		{{"a", 0}},
		{{"b", 1}, {"a", 1}, {"c", 1}, {"d", 1}}, // a/2 waits for a/1; four at most
		{{"a", 2}, {"e", 1}, {"f", 1}},
	}
	if !slices.EqualFunc(runs, want, slices.Equal) {
		t.Errorf("runs %v, want %v", runs, want)
	}
	for c, r := range results {
		if r != fmt.Sprintf("%s/%d", c.key, c.n) {
			t.Errorf("%v got %q", c, r)
		}
	}
	if len(results) != 8 {
		t.Errorf("%d results, want 8", len(results))
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.running != 0 || len(g.waiting) != 0 {
		t.Errorf("after the calls: %d running, %d waiting", g.running, len(g.waiting))
	}
}
