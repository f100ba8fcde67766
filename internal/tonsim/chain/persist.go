package chain

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/xssnick/tonutils-go/address"
	"github.com/xssnick/tonutils-go/tlb"
	"github.com/xssnick/tonutils-go/ton"
	"github.com/xssnick/tonutils-go/tvm/cell"
)

// A snapshot holds every block with its state; everything else (current
// account states, transaction lists, shard layout) is derived from them on
// restore. Format: 8-byte big-endian length, JSON metadata, then one
// multi-root BOC (cells shared between states are stored once).

const snapshotVersion = 1

type snapTx struct {
	Account [32]byte `json:"a"`
	LT      uint64   `json:"lt"`
	Old     []byte   `json:"o"`
	New     []byte   `json:"n"`
}

type snapBlock struct {
	WC          int32    `json:"wc"`
	Shard       uint64   `json:"shard"`
	Seqno       uint32   `json:"seqno"`
	FileHash    []byte   `json:"fh"`
	StartLT     uint64   `json:"slt"`
	EndLT       uint64   `json:"elt"`
	GenUtime    uint32   `json:"ut"`
	MasterSeqno uint32   `json:"mc"`
	Txs         []snapTx `json:"txs,omitempty"`
	Tops        [][]byte `json:"tops,omitempty"` // root hashes of referenced shard blocks
}

type snapshot struct {
	Version  int         `json:"version"`
	GlobalID int32       `json:"global_id"`
	LT       uint64      `json:"lt"`
	TxCount  uint64      `json:"tx_count"`
	Shards   []uint64    `json:"shards"`
	Blocks   []snapBlock `json:"blocks"` // creation order
	// Supply is the total supply (decimal); snapshots from before it was
	// kept lack it.
	Supply string `json:"supply,omitempty"`
}

// Snapshot writes the chain to w. Queued messages are not saved: like a
// node restart, messages not yet in a block are lost.
func (c *Chain) Snapshot(w io.Writer) error {
	c.prodMu.Lock() // not in the middle of a round
	defer c.prodMu.Unlock()
	c.mu.RLock()
	defer c.mu.RUnlock()
	s := snapshot{Version: snapshotVersion, GlobalID: c.cfg.GlobalID, LT: c.lt, TxCount: c.txCount, Supply: c.supply.String()}
	for _, sh := range c.shards {
		s.Shards = append(s.Shards, uint64(sh.id))
	}
	blocks := c.allBlocks()
	var roots []*cell.Cell
	for _, b := range blocks {
		sb := snapBlock{WC: b.ID.Workchain, Shard: uint64(b.Shard), Seqno: b.ID.SeqNo, FileHash: b.ID.FileHash,
			StartLT: b.StartLT, EndLT: b.EndLT, GenUtime: b.GenUtime, MasterSeqno: b.MasterSeqno}
		for _, t := range b.Txs {
			sb.Txs = append(sb.Txs, snapTx{Account: t.account, LT: t.lt, Old: t.old, New: t.new})
		}
		for _, t := range b.ShardTops {
			sb.Tops = append(sb.Tops, t.ID.RootHash)
		}
		s.Blocks = append(s.Blocks, sb)
		roots = append(roots, b.Cell, b.State)
		for _, t := range b.Txs {
			roots = append(roots, t.cell)
		}
	}
	meta, err := json.Marshal(s)
	if err != nil {
		return err
	}
	bw := bufio.NewWriter(w)
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], uint64(len(meta)))
	if _, err := bw.Write(n[:]); err != nil {
		return err
	}
	if _, err := bw.Write(meta); err != nil {
		return err
	}
	if _, err := bw.Write(cell.ToBOCWithFlags(roots, false)); err != nil {
		return err
	}
	return bw.Flush()
}

// allBlocks lists blocks so that every block comes after its predecessors.
func (c *Chain) allBlocks() []*Block {
	seen := map[*Block]bool{}
	var out []*Block
	visit := func(b *Block) {
		if seen[b] {
			return
		}
		seen[b] = true
		out = append(out, b)
	}
	for _, m := range c.masters {
		for _, t := range m.ShardTops {
			c.visitShard(t, seen, &out)
		}
		visit(m)
	}
	for _, s := range c.shards {
		c.visitShard(s.top, seen, &out)
	}
	return out
}

// visitShard appends b after its not yet listed ancestors.
func (c *Chain) visitShard(b *Block, seen map[*Block]bool, out *[]*Block) {
	if seen[b] {
		return
	}
	var hdr tlb.Block
	if err := tlb.LoadFromCell(&hdr, b.Cell.BeginParse()); err == nil && b.ID.SeqNo > 0 {
		parents, err := hdr.BlockInfo.GetParentBlocks()
		if err == nil {
			for _, p := range parents {
				var h [32]byte
				copy(h[:], p.RootHash)
				if pb := c.byHash[h]; pb != nil {
					c.visitShard(pb, seen, out)
				}
			}
		}
	}
	seen[b] = true
	*out = append(*out, b)
}

// Restore rebuilds a chain from a snapshot. natives re-attaches Go contracts
// to their accounts (they are not serialised).
func Restore(cfg Config, exec Executor, natives map[string]NativeContract, r io.Reader) (*Chain, error) {
	var n [8]byte
	if _, err := io.ReadFull(r, n[:]); err != nil {
		return nil, fmt.Errorf("snapshot header: %w", err)
	}
	metaLen := binary.BigEndian.Uint64(n[:])
	if metaLen > 1<<32 {
		return nil, errors.New("snapshot header is corrupt")
	}
	meta := make([]byte, metaLen)
	if _, err := io.ReadFull(r, meta); err != nil {
		return nil, fmt.Errorf("snapshot metadata: %w", err)
	}
	var s snapshot
	if err := json.Unmarshal(meta, &s); err != nil {
		return nil, fmt.Errorf("snapshot metadata: %w", err)
	}
	if s.Version != snapshotVersion {
		return nil, fmt.Errorf("snapshot version %d, this tonsim reads %d", s.Version, snapshotVersion)
	}
	boc, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("snapshot cells: %w", err)
	}
	roots, err := cell.FromBOCMultiRoot(boc)
	if err != nil {
		return nil, fmt.Errorf("snapshot cells: %w", err)
	}
	cfg.GlobalID = s.GlobalID
	c, err := newEmpty(cfg, exec)
	if err != nil {
		return nil, err
	}
	c.lt, c.txCount = s.LT, s.TxCount
	i := 0
	next := func() (*cell.Cell, error) {
		if i >= len(roots) {
			return nil, errors.New("snapshot has fewer cells than its metadata lists")
		}
		i++
		return roots[i-1], nil
	}
	tops := map[ShardID]*Block{}
	for _, sb := range s.Blocks {
		blk, err := next()
		if err != nil {
			return nil, err
		}
		state, err := next()
		if err != nil {
			return nil, err
		}
		var st tlb.ShardStateUnsplit
		if err := tlb.LoadFromCell(&st, state.BeginParse()); err != nil {
			return nil, fmt.Errorf("snapshot state %d:%d: %w", sb.WC, sb.Seqno, err)
		}
		b := &Block{ID: ton.BlockIDExt{Workchain: sb.WC, Shard: int64(sb.Shard), SeqNo: sb.Seqno, RootHash: blk.Hash(), FileHash: sb.FileHash},
			Shard: ShardID(sb.Shard), Cell: blk, State: state, StartLT: sb.StartLT, EndLT: sb.EndLT, GenUtime: sb.GenUtime,
			MasterSeqno: sb.MasterSeqno, Accounts: st.Accounts.ShardAccounts}
		if b.Accounts == nil {
			b.Accounts = cell.NewDict(256)
		}
		for _, t := range sb.Txs {
			txc, err := next()
			if err != nil {
				return nil, err
			}
			b.Txs = append(b.Txs, txInBlock{account: t.Account, lt: t.LT, cell: txc, old: t.Old, new: t.New})
			k := accKey{sb.WC, t.Account}
			a := c.accounts[k]
			if a == nil {
				a = &account{addr: address.NewAddress(0, byte(sb.WC), append([]byte{}, t.Account[:]...))}
				c.accounts[k] = a
			}
			a.txs = append(a.txs, &TxRef{LT: t.LT, Hash: txc.Hash(), Cell: txc, Block: b})
		}
		var h [32]byte
		copy(h[:], b.ID.RootHash)
		c.byHash[h] = b
		c.byKey[blockKey{b.ID.Workchain, b.Shard, b.ID.SeqNo}] = b
		if sb.WC == -1 {
			for _, th := range sb.Tops {
				copy(h[:], th)
				t := c.byHash[h]
				if t == nil {
					return nil, fmt.Errorf("snapshot master %d references an unknown shard block", sb.Seqno)
				}
				b.ShardTops = append(b.ShardTops, t)
			}
			c.masters = append(c.masters, b)
			c.master = b
		} else {
			tops[b.Shard] = b
		}
	}
	if c.master == nil || len(c.masters) != int(c.master.ID.SeqNo)+1 {
		return nil, errors.New("snapshot masterchain is incomplete")
	}
	for _, id := range s.Shards {
		t := tops[ShardID(id)]
		if t == nil {
			return nil, fmt.Errorf("snapshot has no blocks for shard %x", id)
		}
		c.shards = append(c.shards, &shardChain{id: ShardID(id), top: t, accounts: t.Accounts.Copy()})
	}
	c.mcAccounts = c.master.Accounts.Copy()
	// Current account states come from the newest states.
	load := func(wc int32, d *cell.Dictionary) error {
		kvs, err := d.LoadAll()
		if err != nil {
			return err
		}
		for _, kv := range kvs {
			var id [32]byte
			copy(id[:], kv.Key.MustLoadSlice(256))
			leaf := kv.Value
			if _, err := leaf.LoadUInt(5); err != nil {
				return err
			}
			if _, err := leaf.LoadBigCoins(); err != nil {
				return err
			}
			if _, err := leaf.LoadMaybeRef(); err != nil {
				return err
			}
			sa, err := leaf.ToCell()
			if err != nil {
				return err
			}
			k := accKey{wc, id}
			a := c.accounts[k]
			if a == nil {
				a = &account{addr: address.NewAddress(0, byte(wc), id[:])}
				c.accounts[k] = a
			}
			a.native = natives[a.addr.StringRaw()]
			var s tlb.ShardAccount
			if err := tlb.LoadFromCell(&s, sa.BeginParse()); err != nil {
				return err
			}
			if a.info, err = ParseAccount(s.Account); err != nil {
				return err
			}
			a.shardAccount = sa
		}
		return nil
	}
	if err := load(-1, c.mcAccounts); err != nil {
		return nil, fmt.Errorf("restore masterchain accounts: %w", err)
	}
	for _, sh := range c.shards {
		if err := load(0, sh.accounts); err != nil {
			return nil, fmt.Errorf("restore shard %s accounts: %w", sh.id, err)
		}
	}
	if err := c.refreshLibraries(); err != nil {
		return nil, fmt.Errorf("restore libraries: %w", err)
	}
	if _, ok := c.supply.SetString(s.Supply, 10); !ok {
		// An older snapshot: the value the accounts hold is the best
		// estimate left (fees paid since genesis are missing from it).
		c.supply.SetInt64(0)
		for _, a := range c.accounts {
			if a.info.Balance != nil {
				c.supply.Add(c.supply, a.info.Balance)
			}
		}
	}
	return c, nil
}
