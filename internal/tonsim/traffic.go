package tonsim

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"math/big"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/xssnick/tonutils-go/address"

	"github.com/ton-custody/processor/internal/tonsim/chain"
)

// Traffic is steady background load, the irrelevant transactions a
// mainnet-shaped chain carries: bulk-mode transfers (natively built, no
// emulator) to a fixed pool of accounts nobody watches, at a steady rate
// in wall time. The accounts' addresses are hashes, so the transfers
// spread evenly over however many shards the workchain has.
type Traffic struct {
	// TPS is the rate in transfers per second; 0 means no traffic.
	TPS int
	// Accounts is the size of the destination pool (DefaultTrafficAccounts
	// when 0); each transfer picks one at random.
	Accounts int
}

// DefaultTrafficAccounts is the destination pool of Traffic by default:
// at 1,000 transfers a second nearly every transfer of a round goes to an
// account of its own, as on mainnet, while the state stays small enough
// for tonsim's rounds to stay short (each round rehashes what changed).
const DefaultTrafficAccounts = 10_000

// MaxTrafficTPS bounds Traffic.TPS (bulk mode's own throughput is in the
// tens of thousands per second).
const MaxTrafficTPS = 100_000

// trafficAmount is what each traffic transfer carries: 0.001 TON.
var trafficAmount = big.NewInt(1_000_000)

// maxTrafficBacklog bounds how much traffic a round may catch up on after
// blocks stopped (a pause, a slow round): at most this much wall time.
const maxTrafficBacklog = 10 * time.Second

// TrafficAccount is the i-th account of the traffic pool (workchain 0).
func TrafficAccount(i int) *address.Address {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(i))
	h := sha256.Sum256(append([]byte("tonsim traffic account:"), b[:]...))
	return address.NewAddress(0, 0, h[:])
}

// trafficGen turns wall time into transfers: due(now) returns the
// transfers owed since the previous call, carrying the fraction over so
// the long-run rate is exact whatever the block interval.
type trafficGen struct {
	mu    sync.Mutex
	tps   int
	pool  []*address.Address
	rnd   *rand.Rand
	last  time.Time
	carry float64 // transfers owed but not yet whole
}

func newTrafficGen(t Traffic, now time.Time) *trafficGen {
	n := t.Accounts
	if n <= 0 {
		n = DefaultTrafficAccounts
	}
	pool := make([]*address.Address, n)
	for i := range pool {
		pool[i] = TrafficAccount(i)
	}
	return &trafficGen{tps: t.TPS, pool: pool, rnd: rand.New(rand.NewPCG(1, 2)), last: now}
}

// setTPS changes the rate from now on.
func (g *trafficGen) setTPS(tps int, now time.Time) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.tps, g.last, g.carry = tps, now, 0
}

func (g *trafficGen) rate() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.tps
}

// due returns the transfers owed between the previous call and now.
func (g *trafficGen) due(now time.Time) []chain.BulkTransfer {
	g.mu.Lock()
	defer g.mu.Unlock()
	d := now.Sub(g.last)
	if d <= 0 {
		return nil
	}
	g.last = now
	if d > maxTrafficBacklog {
		d = maxTrafficBacklog
	}
	owed := g.carry + float64(g.tps)*d.Seconds()
	n := int(owed)
	g.carry = owed - float64(n)
	if n == 0 {
		return nil
	}
	out := make([]chain.BulkTransfer, n)
	for i := range out {
		out[i] = chain.BulkTransfer{To: g.pool[g.rnd.IntN(len(g.pool))], Amount: trafficAmount}
	}
	return out
}

// SetTraffic changes the background traffic rate (transfers per second,
// 0 stops it); the pool is Options.Traffic's, or the default one.
func (n *Network) SetTraffic(tps int) error {
	if tps < 0 || tps > MaxTrafficTPS {
		return fmt.Errorf("traffic tps must be between 0 and %d, got %d", MaxTrafficTPS, tps)
	}
	n.mu.Lock()
	if n.traffic == nil {
		n.traffic = newTrafficGen(Traffic{TPS: tps, Accounts: n.opts.Traffic.Accounts}, time.Now())
		n.mu.Unlock()
		return nil
	}
	g := n.traffic
	n.mu.Unlock()
	g.setTPS(tps, time.Now())
	return nil
}

// TrafficTPS is the current background traffic rate.
func (n *Network) TrafficTPS() int {
	n.mu.Lock()
	g := n.traffic
	n.mu.Unlock()
	if g == nil {
		return 0
	}
	return g.rate()
}

// queueTraffic queues the traffic owed up to now, just before a round.
func (n *Network) queueTraffic(now time.Time) error {
	n.mu.Lock()
	g := n.traffic
	n.mu.Unlock()
	if g == nil {
		return nil
	}
	list := g.due(now)
	if len(list) == 0 {
		return nil
	}
	return n.Chain.BulkLoad(list)
}
