package chain

import (
	"encoding/binary"
	"fmt"
	"math/big"

	"github.com/xssnick/tonutils-go/tlb"
	"github.com/xssnick/tonutils-go/tvm/cell"
)

// This file builds the TL-B structures of blocks and states by hand where
// tonutils-go only knows how to load them (BlockHeader, Block, BinTree).
// Layouts follow block.tlb; fields the simulator has no use for (validator
// data, value flow, message descriptors) are present but empty.

var emptyCell = cell.BeginCell().EndCell()

func zeroCC() tlb.CurrencyCollection {
	return tlb.CurrencyCollection{Coins: tlb.FromNanoTONU(0)}
}

func mustToCell(v any) *cell.Cell {
	c, err := tlb.ToCell(v)
	if err != nil {
		panic(fmt.Sprintf("tonsim: serialise %T: %v", v, err)) // only fixed-shape structs reach here
	}
	return c
}

// headerParams is block_info in block.tlb.
type headerParams struct {
	workchain   int32
	shard       ShardID
	seqno       uint32
	genUtime    uint32
	startLT     uint64
	endLT       uint64
	afterMerge  bool
	afterSplit  bool
	beforeSplit bool
	wantSplit   bool
	wantMerge   bool
	keyBlock    bool
	minRefMC    uint32
	prevKey     uint32
	prev        []tlb.ExtBlkRef // 1, or 2 after merge
	master      *tlb.ExtBlkRef  // shard blocks only
}

func buildHeader(h headerParams) *cell.Cell {
	notMaster := h.workchain != -1
	b := cell.BeginCell().MustStoreUInt(0x9bc7a987, 32).MustStoreUInt(0, 32).
		MustStoreBoolBit(notMaster).MustStoreBoolBit(h.afterMerge).MustStoreBoolBit(h.beforeSplit).
		MustStoreBoolBit(h.afterSplit).MustStoreBoolBit(h.wantSplit).MustStoreBoolBit(h.wantMerge).
		MustStoreBoolBit(h.keyBlock).MustStoreBoolBit(false). // vert_seqno_incr
		MustStoreUInt(0, 8).                                  // flags: no gen_software
		MustStoreUInt(uint64(h.seqno), 32).MustStoreUInt(0, 32)
	// shard_ident$00 shard_pfx_bits:(#<= 60) workchain_id:int32 shard_prefix:uint64
	b.MustStoreUInt(0, 2).MustStoreUInt(uint64(h.shard.PrefixLen()), 6).
		MustStoreInt(int64(h.workchain), 32).MustStoreUInt(h.shard.Prefix(), 64)
	b.MustStoreUInt(uint64(h.genUtime), 32).MustStoreUInt(h.startLT, 64).MustStoreUInt(h.endLT, 64).
		MustStoreUInt(0, 32). // gen_validator_list_hash_short
		MustStoreUInt(0, 32). // gen_catchain_seqno
		MustStoreUInt(uint64(h.minRefMC), 32).MustStoreUInt(uint64(h.prevKey), 32)
	if notMaster {
		b.MustStoreRef(mustToCell(h.master))
	}
	if h.afterMerge {
		b.MustStoreRef(cell.BeginCell().MustStoreRef(mustToCell(&h.prev[0])).MustStoreRef(mustToCell(&h.prev[1])).EndCell())
	} else {
		b.MustStoreRef(mustToCell(&h.prev[0]))
	}
	return b.EndCell()
}

// prunedBranch replaces c by a level-1 pruned branch cell carrying its
// hash and depth.
func prunedBranch(c *cell.Cell) *cell.Cell {
	data := make([]byte, 2+32+2)
	data[0] = byte(cell.PrunedCellType)
	data[1] = 1 // level mask: pruned under a level-0 parent
	copy(data[2:], c.Hash(0))
	binary.BigEndian.PutUint16(data[34:], c.Depth(0))
	return cell.FromRawUnsafe(cell.RawUnsafeCell{IsSpecial: true, LevelMask: cell.LevelMask{Mask: 1}, BitsSz: uint(len(data) * 8), Data: data})
}

// merkleUpdate is the MERKLE_UPDATE special cell of a block's state update
// with both states pruned, as in a block file: the block then carries only
// the state hashes, and its BOC stays small however large the state is.
//
//	!merkle_update#04 old_hash:bits256 new_hash:bits256 old_depth:uint16 new_depth:uint16 old:^X new:^X
func merkleUpdate(oldState, newState *cell.Cell) *cell.Cell {
	data := make([]byte, 1+32+32+2+2)
	data[0] = byte(cell.MerkleUpdateCellType)
	copy(data[1:], oldState.Hash(0))
	copy(data[33:], newState.Hash(0))
	binary.BigEndian.PutUint16(data[65:], oldState.Depth(0))
	binary.BigEndian.PutUint16(data[67:], newState.Depth(0))
	return cell.FromRawUnsafe(cell.RawUnsafeCell{IsSpecial: true, LevelMask: cell.LevelMask{Mask: 0}, BitsSz: uint(len(data) * 8),
		Data: data, Refs: []*cell.Cell{prunedBranch(oldState), prunedBranch(newState)}})
}

// buildBlock assembles block#11ef55aa.
func buildBlock(globalID int32, header, oldState, newState, extra *cell.Cell) *cell.Cell {
	return cell.BeginCell().MustStoreUInt(0x11ef55aa, 32).MustStoreInt(int64(globalID), 32).
		MustStoreRef(header).MustStoreRef(emptyCell).MustStoreRef(merkleUpdate(oldState, newState)).MustStoreRef(extra).EndCell()
}

// txInBlock is one transaction as stored in a block.
type txInBlock struct {
	account [32]byte
	lt      uint64
	cell    *cell.Cell
	old     []byte   // account hash before
	new     []byte   // account hash after
	fees    *big.Int // total_fees, the transaction's extra in account_blocks; nil = 0
}

func buildExtra(txs []txInBlock, randSeed, createdBy []byte, mc *tlb.McBlockExtra) *cell.Cell {
	be := tlb.BlockExtra{InMsgDesc: emptyCell, OutMsgDesc: emptyCell, ShardAccountBlocks: buildAccountBlocks(txs),
		RandSeed: randSeed, CreatedBy: createdBy, Custom: mc}
	return mustToCell(be)
}

// buildShardState is ShardStateUnsplit over the given accounts dictionary.
func buildShardState(globalID int32, wc int32, shard ShardID, seqno, utime uint32, lt uint64, minRefMC uint32,
	accounts *cell.Dictionary, mcExtra *cell.Cell) *cell.Cell {
	st := tlb.ShardStateUnsplit{GlobalID: globalID,
		ShardIdent: tlb.ShardIdent{PrefixBits: int8(shard.PrefixLen()), WorkchainID: wc, ShardPrefix: shard.Prefix()},
		Seqno:      seqno, GenUTime: utime, GenLT: lt, MinRefMCSeqno: minRefMC,
		OutMsgQueueInfo: emptyCell, Stats: emptyCell, McStateExtra: mcExtra}
	st.Accounts.ShardAccounts = accounts
	return mustToCell(st)
}

// shardAccountLeaf is the value stored in ShardAccounts for one account:
// DepthBalanceInfo (the aug extra) followed by ShardAccount.
func shardAccountLeaf(balance *big.Int, shardAccount *cell.Cell) *cell.Cell {
	dbi := mustToCell(tlb.DepthBalanceInfo{Currencies: tlb.CurrencyCollection{Coins: tlb.FromNanoTON(balance)}})
	return cell.BeginCell().MustStoreBuilder(dbi.ToBuilder()).MustStoreBuilder(shardAccount.ToBuilder()).EndCell()
}

// shardDescr is one workchain-0 shard as recorded in the masterchain.
type shardDescr struct {
	id        ShardID
	seqno     uint32
	regMC     uint32
	startLT   uint64
	endLT     uint64
	rootHash  []byte
	fileHash  []byte
	genUtime  uint32
	wantSplit bool
	wantMerge bool
}

func (d shardDescr) cell() *cell.Cell {
	sd := tlb.ShardDesc{SeqNo: d.seqno, RegMcSeqno: d.regMC, StartLT: d.startLT, EndLT: d.endLT,
		RootHash: d.rootHash, FileHash: d.fileHash, WantSplit: d.wantSplit, WantMerge: d.wantMerge,
		NextValidatorShard: int64(d.id), MinRefMcSeqNo: d.regMC, GenUTime: d.genUtime,
		SplitMergeAt: tlb.FutureSplitMergeNone{}}
	sd.Currencies.FeesCollected = zeroCC()
	sd.Currencies.FundsCreated = zeroCC()
	return mustToCell(sd)
}

// buildBinTree lays shards (sorted, covering the workchain) out as
// BinTree ShardDescr: bt_leaf$0 leaf:X | bt_fork$1 left:^BinTree right:^BinTree.
func buildBinTree(shards []shardDescr) (*cell.Cell, error) {
	var build func(prefix ShardID, list []shardDescr) (*cell.Cell, error)
	build = func(node ShardID, list []shardDescr) (*cell.Cell, error) {
		if len(list) == 1 && list[0].id == node {
			return cell.BeginCell().MustStoreUInt(0, 1).MustStoreBuilder(list[0].cell().ToBuilder()).EndCell(), nil
		}
		l, r, err := node.Children()
		if err != nil {
			return nil, fmt.Errorf("shard layout does not form a tree: %w", err)
		}
		var left, right []shardDescr
		for _, s := range list {
			if l.Contains(uint64(s.id)) {
				left = append(left, s)
			} else {
				right = append(right, s)
			}
		}
		if len(left) == 0 || len(right) == 0 {
			return nil, fmt.Errorf("shard layout leaves a gap under %s", node)
		}
		lc, err := build(l, left)
		if err != nil {
			return nil, err
		}
		rc, err := build(r, right)
		if err != nil {
			return nil, err
		}
		return cell.BeginCell().MustStoreUInt(1, 1).MustStoreRef(lc).MustStoreRef(rc).EndCell(), nil
	}
	return build(ShardAll, shards)
}

// buildShardHashes is ShardHashes: HashmapE 32 ^(BinTree ShardDescr), one key (workchain 0).
func buildShardHashes(shards []shardDescr) (*cell.Dictionary, error) {
	tree, err := buildBinTree(shards)
	if err != nil {
		return nil, err
	}
	d := cell.NewDict(32)
	if err := d.SetIntKey(big.NewInt(0), cell.BeginCell().MustStoreRef(tree).EndCell()); err != nil {
		return nil, fmt.Errorf("shard hashes dict: %w", err)
	}
	return d, nil
}
