package tonsim

import (
	"encoding/binary"
	"testing"
	"time"
)

func TestTrafficGenKeepsTheRateAcrossUnevenRounds(t *testing.T) {
	t0 := time.Unix(1_700_000_000, 0)
	g := newTrafficGen(Traffic{TPS: 1000, Accounts: 500}, t0)
	total := 0
	// Rounds of 333 ms, 667 ms, 1 s and 10 ms: the fraction carries over,
	// so whole seconds get exactly TPS transfers.
	for _, ms := range []int{333, 1000, 2000, 2010, 2020, 3000} {
		total += len(g.due(t0.Add(time.Duration(ms) * time.Millisecond)))
	}
	if total != 3000 {
		t.Fatalf("%d transfers in 3 s at 1000/s", total)
	}
	if n := len(g.due(t0.Add(3 * time.Second))); n != 0 {
		t.Fatalf("%d transfers for no elapsed time", n)
	}
	// A slow rate still comes out right: 3/s in 100 ms rounds.
	g = newTrafficGen(Traffic{TPS: 3, Accounts: 10}, t0)
	total = 0
	for i := 1; i <= 20; i++ {
		total += len(g.due(t0.Add(time.Duration(i) * 100 * time.Millisecond)))
	}
	if total != 6 {
		t.Fatalf("%d transfers in 2 s at 3/s", total)
	}
	// After a long stop only maxTrafficBacklog is caught up on.
	if n := len(g.due(t0.Add(time.Hour))); n != 30 {
		t.Fatalf("%d transfers after an hour's stop at 3/s, want %d", n, 30)
	}
	g.setTPS(0, t0.Add(time.Hour))
	if n := len(g.due(t0.Add(2 * time.Hour))); n != 0 {
		t.Fatalf("%d transfers at rate 0", n)
	}
}

func TestTrafficGenSpreadsOverSixteenShards(t *testing.T) {
	t0 := time.Unix(1_700_000_000, 0)
	g := newTrafficGen(Traffic{TPS: 16_000}, t0)
	list := g.due(t0.Add(time.Second))
	if len(list) != 16_000 {
		t.Fatalf("%d transfers", len(list))
	}
	var perShard [16]int
	seen := map[string]bool{}
	for _, tr := range list {
		if tr.To.Workchain() != 0 || tr.Amount.Cmp(trafficAmount) != 0 {
			t.Fatalf("transfer %v %v", tr.To, tr.Amount)
		}
		perShard[binary.BigEndian.Uint64(tr.To.Data())>>60]++
		seen[string(tr.To.Data())] = true
	}
	for i, n := range perShard {
		// 1,000 expected each; 800 is over six standard deviations away.
		if n < 800 || n > 1200 {
			t.Fatalf("shard %x got %d of 16,000 transfers: %v", i, n, perShard)
		}
	}
	// 16,000 draws from 10,000 accounts reach about 8,000 of them.
	if len(seen) < 7_500 {
		t.Fatalf("only %d distinct accounts in 16,000 transfers over a pool of %d", len(seen), DefaultTrafficAccounts)
	}
}
