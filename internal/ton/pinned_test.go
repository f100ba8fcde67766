package ton_test

import (
	"context"
	"math/big"
	"testing"
	"time"

	"github.com/xssnick/tonutils-go/tl"
	"github.com/xssnick/tonutils-go/tlb"
	tonutils "github.com/xssnick/tonutils-go/ton"

	"github.com/ton-custody/processor/internal/ton"
	"github.com/ton-custody/processor/internal/tonsim"
	"github.com/ton-custody/processor/internal/tonsim/liteserver"
)

type poolNodeKey struct{}

// firstNodePool is a liteserver pool over tonsim's nodes whose balancer
// always picks node first for a query's first try (the lagging one, to
// make its effect certain) and the next node for each retry, as
// tonutils-go's ConnectionPool does through StickyContextNextNode.
type firstNodePool struct {
	nodes []*liteserver.Client
	first int
}

var _ tonutils.LiteClient = (*firstNodePool)(nil)

func newFirstNodePool(n *tonsim.Network, first int) *firstNodePool {
	p := &firstNodePool{first: first}
	for _, nd := range n.Nodes {
		p.nodes = append(p.nodes, liteserver.NewClient(nd.Handler, nil))
	}
	return p
}

func (p *firstNodePool) node(ctx context.Context) int {
	if i, ok := ctx.Value(poolNodeKey{}).(int); ok {
		return i
	}
	return p.first
}

func (p *firstNodePool) QueryLiteserver(ctx context.Context, payload, result tl.Serializable) error {
	return p.nodes[p.node(ctx)].QueryLiteserver(ctx, payload, result)
}

func (p *firstNodePool) StickyContext(ctx context.Context) context.Context {
	return context.WithValue(ctx, poolNodeKey{}, p.node(ctx))
}

func (p *firstNodePool) StickyContextNextNode(ctx context.Context) (context.Context, error) {
	return context.WithValue(ctx, poolNodeKey{}, (p.node(ctx)+1)%len(p.nodes)), nil
}

func (p *firstNodePool) StickyContextNextNodeBalanced(ctx context.Context) (context.Context, error) {
	return p.StickyContextNextNode(ctx)
}

func (p *firstNodePool) StickyNodeID(ctx context.Context) uint32 { return uint32(p.node(ctx) + 1) }

// A read at a block from PinnedAt(min) answers from a block at or after
// min, even when the node the pool asks first lags behind min: a little
// (it waits until it has the block) or far (it refuses or times out and
// the retry goes to the node that has it). The same node's own head, what
// reads at "the current head" used, is older than min.
func TestPinnedReadsNeverAnswerFromBeforeTheAskedBlock(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		// behind is how far node 1's head is behind the first block
		// that matters when the lag is set.
		behind int
		opts   ton.Options
	}{
		{name: "node waits for the block", behind: 15},
		// Far beyond what waitMasterchainSeqno waits for: the lagging
		// node refuses or times out, the retry reaches node 0.
		{name: "node far behind", behind: 5000, opts: ton.Options{CallTimeout: 2 * time.Second}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			n := startNet(t, tonsim.Options{LiteServers: 2})
			ctx := testCtx(t)
			j, err := n.DeployJetton(ctx, "PIN", 6)
			if err != nil {
				t.Fatal(err)
			}
			acc, owner := freshAddr(0x31), freshAddr(0x32)
			amount := tlb.MustFromTON("3").Nano()
			paid, err := n.Faucet(ctx, acc, amount, false, "")
			if err != nil {
				t.Fatal(err)
			}
			minted := big.NewInt(424242)
			mint, err := n.Mint(ctx, j.Master, owner, minted)
			if err != nil {
				t.Fatal(err)
			}
			jw, err := n.JettonWallet(ctx, j.Master, owner)
			if err != nil {
				t.Fatal(err)
			}
			// cursor plays the scanner's: both effects are final by it.
			cursor := max(paid.MasterSeqno, mint.MasterSeqno)
			first := min(paid.MasterSeqno, mint.MasterSeqno)

			opts := tc.opts
			opts.BackoffMin, opts.BackoffMax = 20*time.Millisecond, 100*time.Millisecond
			c := ton.New(newFirstNodePool(n, 1), opts)
			lag := int(n.Chain.Last().ID.SeqNo) - int(first) + tc.behind
			if err := n.SetLag(1, min(lag, tonsim.MaxLag)); err != nil {
				t.Fatal(err)
			}
			// The fault is in force: node 1's head, which reads at the
			// current head would use, has neither effect yet.
			if head, err := c.MasterHead(ctx); err != nil || head.SeqNo >= first {
				t.Fatalf("lagging node's head %v (%v), want one before block %d", head, err, first)
			}

			at, err := c.PinnedAt(ctx, cursor)
			if err != nil {
				t.Fatal(err)
			}
			if at.SeqNo < cursor {
				t.Fatalf("PinnedAt(%d) = block %d, older than asked", cursor, at.SeqNo)
			}
			bal, status, err := c.AccountStateAt(ctx, at, acc)
			if err != nil || bal.Cmp(amount) != 0 || status != ton.StatusUninit {
				t.Fatalf("AccountStateAt(%d) = %v %q %v, want %s uninit", at.SeqNo, bal, status, err, amount)
			}
			jb, err := c.JettonBalanceAt(ctx, at, jw)
			if err != nil || jb.Cmp(minted) != 0 {
				t.Fatalf("JettonBalanceAt(%d) = %v %v, want %s", at.SeqNo, jb, err, minted)
			}
			// An explicit block is honoured as is: the answer is that
			// block's state, not a newer one.
			old, err := n.Chain.MasterBySeqno(paid.MasterSeqno - 1)
			if err != nil {
				t.Fatal(err)
			}
			if bal, status, err := c.AccountStateAt(ctx, &old.ID, acc); err != nil || bal.Sign() != 0 || status != ton.StatusNonExist {
				t.Fatalf("AccountStateAt(%d), before the payment: %v %q %v, want 0 non_exist", old.ID.SeqNo, bal, status, err)
			}
		})
	}
}
