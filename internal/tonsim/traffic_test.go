package tonsim_test

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/ton-custody/processor/internal/tonsim"
)

// A 16-shard network (workchain 0 split to depth 4, like mainnet) with
// background traffic: every round carries the transfers owed for the wall
// time since the previous one, in every shard, and the control API turns
// the traffic off and on.
func TestTrafficOnSixteenShards(t *testing.T) {
	t.Parallel()
	before := time.Now()
	n := startNet(t, tonsim.Options{Shards: 16, Manual: true, Traffic: tonsim.Traffic{TPS: 4000, Accounts: 5000}})
	started := time.Now()
	if got := len(n.Chain.Shards()); got != 16 {
		t.Fatalf("%d shards", got)
	}
	txs0 := n.Chain.TxCount()
	time.Sleep(500 * time.Millisecond)
	lower := time.Since(started)
	if _, err := n.ProduceBlock(ctx(t)); err != nil {
		t.Fatal(err)
	}
	upper := time.Since(before)
	got := int(n.Chain.TxCount() - txs0)
	if min, max := int(4000*lower.Seconds()), int(4000*upper.Seconds())+1; got < min || got > max {
		t.Fatalf("%d transactions in one round, want %d..%d (4000/s)", got, min, max)
	}
	last := n.Chain.Last()
	if len(last.ShardTops) != 16 {
		t.Fatalf("masterchain block references %d shard blocks", len(last.ShardTops))
	}
	for _, b := range last.ShardTops {
		if len(b.Txs) == 0 {
			t.Fatalf("shard %s block %d has no transactions out of %d", b.Shard, b.ID.SeqNo, got)
		}
	}
	resp, err := http.Get(n.ctrl.URL + "/status")
	if err != nil {
		t.Fatal(err)
	}
	var status map[string]any
	err = json.NewDecoder(resp.Body).Decode(&status)
	resp.Body.Close()
	if err != nil || status["traffic_tps"] != float64(4000) {
		t.Fatalf("status traffic_tps = %v", status["traffic_tps"])
	}

	post(t, n.ctrl.URL+"/traffic", map[string]any{"tps": 0}, http.StatusOK)
	time.Sleep(50 * time.Millisecond)
	txs1 := n.Chain.TxCount()
	if _, err := n.ProduceBlock(ctx(t)); err != nil {
		t.Fatal(err)
	}
	if d := n.Chain.TxCount() - txs1; d != 0 {
		t.Fatalf("%d transactions with the traffic off", d)
	}
	post(t, n.ctrl.URL+"/traffic", map[string]any{"tps": 100}, http.StatusOK)
	time.Sleep(100 * time.Millisecond)
	if _, err := n.ProduceBlock(ctx(t)); err != nil {
		t.Fatal(err)
	}
	if n.TrafficTPS() != 100 || n.Chain.TxCount() == txs1 {
		t.Fatalf("traffic back on at %d/s: %d transactions", n.TrafficTPS(), n.Chain.TxCount()-txs1)
	}
	post(t, n.ctrl.URL+"/traffic", map[string]any{"tps": -1}, http.StatusBadRequest)
	post(t, n.ctrl.URL+"/traffic", map[string]any{"tps": tonsim.MaxTrafficTPS + 1}, http.StatusBadRequest)
	post(t, n.ctrl.URL+"/traffic", map[string]any{}, http.StatusBadRequest)
}
