package blockscanner

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/xssnick/tonutils-go/tlb"
	tonutils "github.com/xssnick/tonutils-go/ton"
	"github.com/xssnick/tonutils-go/tvm/cell"
)

// Chain is what the scanner reads from the network. TonChain implements it
// over internal/ton's client (retries, limits and metrics included).
type Chain interface {
	// Head returns the newest masterchain block.
	Head(ctx context.Context) (*tonutils.BlockIDExt, error)
	// WaitHead returns the newest masterchain block once its seqno is above
	// after, or when wait passes (then possibly the same block).
	WaitHead(ctx context.Context, after uint32, wait time.Duration) (*tonutils.BlockIDExt, error)
	// Master finds masterchain block seqno.
	Master(ctx context.Context, seqno uint32) (*tonutils.BlockIDExt, error)
	// Block downloads a block; its hash is checked against id.
	Block(ctx context.Context, id *tonutils.BlockIDExt) (*tlb.Block, error)
}

// TonChain adapts a tonutils-go client (internal/ton's Client.API()).
type TonChain struct{ API tonutils.APIClientWrapped }

// Head implements Chain.
func (c TonChain) Head(ctx context.Context) (*tonutils.BlockIDExt, error) {
	return c.API.GetMasterchainInfo(ctx)
}

// WaitHead implements Chain: liteServer.waitMasterchainSeqno answers as
// soon as the block exists, so a new block is seen without polling delay.
func (c TonChain) WaitHead(ctx context.Context, after uint32, wait time.Duration) (*tonutils.BlockIDExt, error) {
	wctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	b, err := c.API.WaitForBlock(after + 1).GetMasterchainInfo(wctx)
	if err == nil {
		return b, nil
	}
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	return c.API.GetMasterchainInfo(ctx) // no new block within wait
}

// Master implements Chain.
func (c TonChain) Master(ctx context.Context, seqno uint32) (*tonutils.BlockIDExt, error) {
	return c.API.WaitForBlock(seqno).LookupBlock(ctx, -1, int64(-1<<63), seqno)
}

// Block implements Chain.
func (c TonChain) Block(ctx context.Context, id *tonutils.BlockIDExt) (*tlb.Block, error) {
	return c.API.GetBlockData(ctx, id)
}

// masterInfo is what the scanner needs from one masterchain block.
type masterInfo struct {
	id       *tonutils.BlockIDExt
	genUtime uint32
	tops     []*tonutils.BlockIDExt // workchain-0 shard tops it references
	// prevRoot is the root hash of the previous masterchain block as this
	// block names it (prev_ref): the chain of these from the stored cursor
	// is what makes a block ours, whatever a liteserver claims.
	prevRoot []byte
}

func fetchMaster(ctx context.Context, ch Chain, seqno uint32) (*masterInfo, error) {
	id, err := ch.Master(ctx, seqno)
	if err != nil {
		return nil, fmt.Errorf("find masterchain block %d: %w", seqno, err)
	}
	blk, err := ch.Block(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("masterchain block %d: %w", seqno, err)
	}
	if blk.Extra == nil || blk.Extra.Custom == nil {
		return nil, fmt.Errorf("masterchain block %d has no shard hashes", seqno)
	}
	all, err := tonutils.LoadShardsFromHashes(blk.Extra.Custom.ShardHashes, false)
	if err != nil {
		return nil, fmt.Errorf("masterchain block %d shard hashes: %w", seqno, err)
	}
	if blk.BlockInfo.PrevRef.Prev1.RootHash == nil {
		return nil, fmt.Errorf("masterchain block %d has no prev_ref", seqno)
	}
	m := &masterInfo{id: id, genUtime: blk.BlockInfo.GenUtime, prevRoot: blk.BlockInfo.PrevRef.Prev1.RootHash}
	for _, s := range all {
		if s.Workchain == 0 {
			m.tops = append(m.tops, s)
		}
	}
	return m, nil
}

// shardBlock is a downloaded workchain-0 block.
type shardBlock struct {
	id  *tonutils.BlockIDExt
	blk *tlb.Block
}

// maxWalk bounds how many shard blocks one masterchain block may add: a
// walk that does not meet the previous tops by then is not on this chain.
const maxWalk = 512

var errWrongChain = errors.New("the previous shard tops are not ancestors of the new ones: the cursor is from another chain (wrong TON_CONFIG or a reset network?)")

// newShardBlocks returns the shard blocks from tops back to (excluding)
// prev: the blocks a masterchain block adds. Splits and merges are
// followed through GetParentBlocks. With no prev (first block), only the
// tops themselves.
func newShardBlocks(ctx context.Context, ch Chain, prev, tops []*tonutils.BlockIDExt) ([]shardBlock, error) {
	type key struct {
		shard int64
		seqno uint32
	}
	known := map[key]*tonutils.BlockIDExt{}
	for _, p := range prev {
		known[key{p.Shard, p.SeqNo}] = p
	}
	visited := map[string]bool{}
	var out []shardBlock
	queue := append([]*tonutils.BlockIDExt(nil), tops...)
	for len(queue) > 0 {
		id := queue[0]
		queue = queue[1:]
		if p, ok := known[key{id.Shard, id.SeqNo}]; ok {
			if string(p.RootHash) != string(id.RootHash) {
				return nil, errWrongChain
			}
			continue
		}
		if visited[string(id.RootHash)] {
			continue
		}
		visited[string(id.RootHash)] = true
		if len(out) >= maxWalk {
			return nil, errWrongChain
		}
		blk, err := ch.Block(ctx, id)
		if err != nil {
			return nil, fmt.Errorf("shard block %d:%x:%d: %w", id.Workchain, uint64(id.Shard), id.SeqNo, err)
		}
		out = append(out, shardBlock{id: id, blk: blk})
		if len(prev) == 0 {
			continue
		}
		parents, err := blk.BlockInfo.GetParentBlocks()
		if err != nil {
			return nil, fmt.Errorf("shard block %d parents: %w", id.SeqNo, err)
		}
		for _, p := range parents {
			if p.SeqNo == 0 {
				continue // the zero state has no transactions
			}
			queue = append(queue, p)
		}
	}
	return out, nil
}

// watchedTxs extracts the transactions of watched accounts from a block,
// reading the block's account blocks directly: one download per block,
// covered by the block's root hash, instead of a listing plus one request
// per transaction.
func watchedTxs(blk *tlb.Block, ix *Index) (matched []matchedTx, total int, err error) {
	if blk.Extra == nil || blk.Extra.ShardAccountBlocks == nil {
		return nil, 0, nil
	}
	var sab tlb.ShardAccountBlocks
	if err := tlb.LoadFromCell(&sab, blk.Extra.ShardAccountBlocks.BeginParse()); err != nil {
		return nil, 0, fmt.Errorf("account blocks: %w", err)
	}
	if sab.Accounts == nil || sab.Accounts.IsEmpty() {
		return nil, 0, nil
	}
	kvs, err := sab.Accounts.LoadAll()
	if err != nil {
		return nil, 0, fmt.Errorf("account blocks: %w", err)
	}
	for _, kv := range kvs {
		var acct [32]byte
		raw, err := kv.Key.LoadSlice(256)
		if err != nil {
			return nil, 0, fmt.Errorf("account block key: %w", err)
		}
		copy(acct[:], raw)
		w, ok := ix.Lookup(acct)
		if !ok {
			total++ // at least one; irrelevant accounts are not parsed further
			continue
		}
		if err := tlb.LoadFromCell(new(tlb.CurrencyCollection), kv.Value); err != nil {
			return nil, 0, fmt.Errorf("account block %x: %w", acct, err)
		}
		var ab tlb.AccountBlock
		if err := tlb.LoadFromCell(&ab, kv.Value); err != nil {
			return nil, 0, fmt.Errorf("account block %x: %w", acct, err)
		}
		txs, err := ab.Transactions.LoadAll()
		if err != nil {
			return nil, 0, fmt.Errorf("account block %x transactions: %w", acct, err)
		}
		for _, t := range txs {
			if err := tlb.LoadFromCell(new(tlb.CurrencyCollection), t.Value); err != nil {
				return nil, 0, fmt.Errorf("transaction of %x: %w", acct, err)
			}
			ref, err := t.Value.LoadRef()
			if err != nil {
				return nil, 0, fmt.Errorf("transaction of %x: %w", acct, err)
			}
			c, err := ref.ToCell()
			if err != nil {
				return nil, 0, err
			}
			tx, err := parseTx(c)
			if err != nil {
				return nil, 0, fmt.Errorf("transaction of %x: %w", acct, err)
			}
			mt := matchedTx{tx: tx, w: w}
			if w.Kind == KindHot || w.Kind == KindHotJetton || w.Kind == KindDestination || depositExternal(w, tx) || depositSideOfSweep(w, tx, ix.hot) {
				if mt.inHash, mt.outs, err = rawMessages(c, tx); err != nil {
					return nil, 0, fmt.Errorf("transaction of %x: %w", acct, err)
				}
			}
			matched = append(matched, mt)
			total++
		}
	}
	return matched, total, nil
}

type matchedTx struct {
	tx     *tlb.Transaction
	w      Watched
	inHash []byte
	outs   []*cell.Cell
}

// rawMessages returns the hash of a transaction's inbound message cell and
// its emitted message cells in order, as they are in the transaction:
// transaction refs start with ^[ in_msg:(Maybe ^Message) out_msgs:(HashmapE 15 ^Message) ].
func rawMessages(txCell *cell.Cell, tx *tlb.Transaction) ([]byte, []*cell.Cell, error) {
	io, err := txCell.PeekRef(0)
	if err != nil {
		return nil, nil, err
	}
	s := io.BeginParse()
	var inHash []byte
	if has, err := s.LoadBoolBit(); err != nil {
		return nil, nil, err
	} else if has {
		in, err := s.LoadRef()
		if err != nil {
			return nil, nil, err
		}
		c, err := in.ToCell()
		if err != nil {
			return nil, nil, err
		}
		inHash = c.Hash()
	}
	if tx.IO.Out == nil || tx.IO.Out.List == nil || tx.IO.Out.List.IsEmpty() {
		return inHash, nil, nil
	}
	kvs, err := tx.IO.Out.List.LoadAll()
	if err != nil {
		return nil, nil, err
	}
	outs := make([]*cell.Cell, len(kvs))
	for _, kv := range kvs {
		idx, err := kv.Key.LoadUInt(15)
		if err != nil || int(idx) >= len(outs) {
			return nil, nil, fmt.Errorf("out message index: %v", err)
		}
		ref, err := kv.Value.LoadRef()
		if err != nil {
			return nil, nil, err
		}
		if outs[idx], err = ref.ToCell(); err != nil {
			return nil, nil, err
		}
	}
	return inHash, outs, nil
}

func parseTx(c *cell.Cell) (*tlb.Transaction, error) {
	var tx tlb.Transaction
	if err := tlb.LoadFromCell(&tx, c.BeginParse()); err != nil {
		return nil, err
	}
	tx.Hash = c.Hash()
	return &tx, nil
}

// depositExternal reports a deposit wallet's own external-message
// transaction: a sweep or service withdrawal it signed, which the hook
// confirms. Such a transaction never credits (Classify reads internal
// messages only).
func depositExternal(w Watched, tx *tlb.Transaction) bool {
	return w.Kind == KindDeposit && tx.IO.In != nil && tx.IO.In.MsgType == tlb.MsgTypeExternalIn
}
