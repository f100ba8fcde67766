package soak

import (
	"context"
	"math/rand/v2"
	"time"

	"github.com/ton-custody/processor/internal/tonsim/chain"
	"github.com/ton-custody/processor/internal/tonsim/liteserver"
)

// Fault kinds, as counted in Result.Faults.
const (
	FaultKill9         = "processor kill -9"
	FaultPGRestart     = "postgresql restart"
	FaultLiteDrop      = "liteserver drop"
	FaultLiteStall     = "liteserver stall"
	FaultLoseExternals = "liteserver lose_externals"
	FaultBlockPause    = "block production pause"
	FaultWebhookDown   = "webhook receiver outage"
	FaultShardSplit    = "shard split"
	FaultShardMerge    = "shard merge"
	FaultLiteLag       = "liteserver lagging"
	FaultBrokerDown    = "rabbitmq broker outage"
)

// faultLoop injects a fault about every FaultEvery until ctx ends. The
// kinds come from a shuffled deck holding each kind once (kill -9 twice:
// it is the main subject), refilled when empty: every kind is injected once
// per round of the deck, so even a short run sees all of them.
func (d *driver) faultLoop(ctx context.Context) {
	kinds := []string{FaultKill9, FaultKill9, FaultLiteDrop, FaultLiteStall, FaultLoseExternals, FaultBlockPause,
		FaultWebhookDown, FaultShardSplit, FaultShardMerge, FaultLiteLag}
	if d.dbsrv != nil {
		kinds = append(kinds, FaultPGRestart)
	}
	var deck []string
	// The first fault comes early.
	next := d.opts.FaultEvery / 2
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(next):
		}
		if len(deck) == 0 {
			deck = append(deck, kinds...)
			d.frng.Shuffle(len(deck), func(i, j int) { deck[i], deck[j] = deck[j], deck[i] })
		}
		d.faultMu.Lock()
		d.inject(ctx, deck[0])
		d.faultMu.Unlock()
		deck = deck[1:]
		// Uniform in [FaultEvery/2, 3*FaultEvery/2).
		next = d.opts.FaultEvery/2 + time.Duration(d.fInt64n(int64(d.opts.FaultEvery)))
	}
}

func (d *driver) counted(kind string) {
	d.resMu.Lock()
	d.res.Faults[kind]++
	d.resMu.Unlock()
}

// randDur is uniform in [lo, hi).
func (d *driver) randDur(lo, hi time.Duration) time.Duration {
	return lo + time.Duration(d.fInt64n(int64(hi-lo)))
}

func (d *driver) inject(ctx context.Context, kind string) {
	switch kind {
	case FaultKill9:
		if err := d.proc.kill9(); err != nil {
			d.note("kill -9: %v", err)
		} else {
			d.counted(kind)
		}
		// Down for a moment, then back (waitReady starts it).
		time.Sleep(d.randDur(0, 2*time.Second))
		if err := d.proc.waitReady(ctx, 60*time.Second); err != nil && ctx.Err() == nil {
			d.note("processor restart after kill -9: %v", err)
		}
		d.logf("fault: %s", kind)
	case FaultPGRestart:
		rctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		err := d.dbsrv.Restart(rctx)
		cancel()
		if err != nil {
			d.violation("PostgreSQL restart failed: %v", err)
			return
		}
		d.counted(kind)
		d.logf("fault: %s", kind)
	case FaultLiteDrop, FaultLiteStall, FaultLoseExternals:
		mode := map[string]liteserver.FaultMode{FaultLiteDrop: liteserver.FaultDrop, FaultLiteStall: liteserver.FaultStall,
			FaultLoseExternals: liteserver.FaultLoseExternals}[kind]
		dur := d.randDur(2*time.Second, 5*time.Second)
		if err := d.net.Faults.Inject(mode, dur, 0); err != nil {
			d.note("%s: %v", kind, err)
			return
		}
		d.counted(kind)
		d.logf("fault: %s for %s", kind, dur.Round(time.Millisecond))
	case FaultLiteLag:
		// One of the two nodes falls 3..30 blocks behind for a while: the
		// processor's pool still reaches it, and it answers from stale state.
		node, blocks := d.fIntn(len(d.net.Nodes)), 3+d.fIntn(28)
		dur := d.randDur(4*time.Second, 10*time.Second)
		if err := d.net.SetLag(node, blocks); err != nil {
			d.note("%s: %v", kind, err)
			return
		}
		time.AfterFunc(dur, func() { _ = d.net.SetLag(node, 0) })
		d.counted(kind)
		d.logf("fault: %s: node %d %d blocks behind for %s", kind, node, blocks, dur.Round(time.Millisecond))
	case FaultBlockPause:
		dur := d.randDur(2*time.Second, 5*time.Second)
		d.net.PauseBlocks(dur)
		d.counted(kind)
		d.logf("fault: %s for %s", kind, dur.Round(time.Millisecond))
	case FaultWebhookDown:
		dur := d.randDur(3*time.Second, 8*time.Second)
		d.hook.outage(dur)
		d.counted(kind)
		d.logf("fault: %s for %s", kind, dur.Round(time.Millisecond))
	case FaultShardSplit:
		shards := d.net.Chain.Shards()
		sh := shards[d.fIntn(len(shards))]
		if err := d.net.Chain.Split(sh); err != nil {
			d.note("split %s: %v", sh, err)
			return
		}
		d.counted(kind)
		d.logf("fault: %s %s", kind, sh)
	case FaultShardMerge:
		shards := d.net.Chain.Shards()
		have := map[chain.ShardID]bool{}
		for _, sh := range shards {
			have[sh] = true
		}
		var pairs []chain.ShardID
		for _, sh := range shards {
			if sh.IsLeft() && have[sh.Sibling()] {
				pairs = append(pairs, sh)
			}
		}
		if len(pairs) == 0 {
			d.note("no shard pair to merge in %v", shards)
			return
		}
		sh := pairs[d.fIntn(len(pairs))]
		if err := d.net.Chain.Merge(sh); err != nil {
			d.note("merge %s: %v", sh, err)
			return
		}
		d.counted(kind)
		d.logf("fault: %s %s+%s", kind, sh, sh.Sibling())
	}
}

// brokerFaultLoop takes the RabbitMQ broker away from the processor
// (FaultBrokerDown) for 3 to 8 s at a time until ctx ends: the first time
// within the first FaultEvery, then every 3 to 5 FaultEvery. It runs beside
// faultLoop, so broker outages overlap the other faults, and has its own
// random source, so a seed's TON fault schedule stays what it was. The
// processor's connection is cut at the proxy and new ones are refused;
// the shared broker keeps running, and so does the soak's consumer.
func (d *driver) brokerFaultLoop(ctx context.Context) {
	rng := rand.New(rand.NewPCG(uint64(d.opts.Seed), 0xb40c))
	between := func(lo, hi time.Duration) time.Duration { return lo + time.Duration(rng.Int64N(int64(hi-lo))) }
	next := between(d.opts.FaultEvery/4, d.opts.FaultEvery)
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(next):
		}
		dur := between(3*time.Second, 8*time.Second)
		d.mq.proxy.outage(dur)
		d.counted(FaultBrokerDown)
		d.logf("fault: %s for %s", FaultBrokerDown, dur.Round(time.Millisecond))
		next = between(3*d.opts.FaultEvery, 5*d.opts.FaultEvery)
	}
}

// brokerUp ends a broker outage (no-op without RabbitMQ).
func (d *driver) brokerUp() {
	if d.mq != nil {
		d.mq.proxy.up()
	}
}

// The fault schedule has its own random source, so a seed replays the same
// faults whatever the traffic goroutines draw (only faultLoop uses it).
func (d *driver) fIntn(n int) int { return d.frng.IntN(n) }

func (d *driver) fInt64n(n int64) int64 { return d.frng.Int64N(n) }
