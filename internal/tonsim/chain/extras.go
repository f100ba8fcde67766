package chain

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math/big"

	"github.com/xssnick/tonutils-go/tvm/cell"
)

// BlockFile is the block file a node stores and getBlock serves: the
// block's BoC with an index and a CRC32C (nodes read block files with
// check_crc32c on, validator/impl/block.cpp). Its bytes depend on the cell
// tree alone, so serialising again (after a restart too) yields the same
// file and the same file hash; tonutils-go's ToBOC orders shared cells by
// map iteration, which does not promise that.
func BlockFile(blk *cell.Cell) []byte { return writeBoC(blk) }

// writeBoC serialises one root (block.tlb/boc.tlb):
//
//	serialized_boc#b5ee9c72 has_idx:(## 1) has_crc32c:(## 1) has_cache_bits:(## 1) flags:(## 2)
//	  size:(## 3) off_bytes:(## 8) cells:(##(size * 8)) roots:(##(size * 8)) absent:(##(size * 8))
//	  tot_cells_size:(##(off_bytes * 8)) root_list:(roots * ##(size * 8))
//	  index:has_idx?(cells * ##(off_bytes * 8)) cell_data:(tot_cells_size * [ uint8 ])
//	  crc32c:has_crc32c?uint32
//
// Cells are unique by hash and ordered parents first: the reverse of a
// depth-first post-order, refs in order.
func writeBoC(root *cell.Cell) []byte {
	index := map[[32]byte]int{}
	byPtr := map[*cell.Cell]int{} // spares hashing cells met again by pointer
	var post []*cell.Cell
	var visit func(c *cell.Cell)
	visit = func(c *cell.Cell) {
		if _, ok := byPtr[c]; ok {
			return
		}
		var h [32]byte
		copy(h[:], c.Hash())
		if i, ok := index[h]; ok {
			byPtr[c] = i
			return
		}
		for i := 0; i < int(c.RefsNum()); i++ {
			visit(c.MustPeekRef(i))
		}
		index[h] = len(post)
		byPtr[c] = len(post)
		post = append(post, c)
	}
	visit(root)
	n := len(post)
	pos := func(c *cell.Cell) int { return n - 1 - byPtr[c] } // reversed post-order
	size := bytesFor(uint64(n))
	data := make([]byte, 0, n*64)
	ends := make([]uint64, n)
	for i := n - 1; i >= 0; i-- {
		c := post[i]
		raw := c.ToRawUnsafe()
		bits := raw.BitsSz
		full := int(bits / 8)
		d2 := byte(bits/8 + (bits+7)/8)
		special := byte(0)
		if raw.IsSpecial {
			special = 8
		}
		data = append(data, byte(len(raw.Refs))+special+32*raw.LevelMask.Mask, d2)
		data = append(data, raw.Data[:full]...)
		if rem := bits % 8; rem != 0 {
			// Unused bits are cleared and the completion tag set.
			last := raw.Data[full] &^ (0xff >> rem)
			data = append(data, last|0x80>>rem)
		}
		for _, r := range raw.Refs {
			data = appendUint(data, uint64(pos(r)), size)
		}
		ends[n-1-i] = uint64(len(data))
	}
	off := bytesFor(uint64(len(data)))
	out := make([]byte, 0, len(data)+n*off+32)
	out = append(out, 0xb5, 0xee, 0x9c, 0x72, 0x80|0x40|byte(size), byte(off))
	out = appendUint(out, uint64(n), size) // cells
	out = appendUint(out, 1, size)         // roots
	out = appendUint(out, 0, size)         // absent
	out = appendUint(out, uint64(len(data)), off)
	out = appendUint(out, 0, size) // the root is cell 0
	for _, e := range ends {
		out = appendUint(out, e, off)
	}
	out = append(out, data...)
	return binary.LittleEndian.AppendUint32(out, crc32.Checksum(out, crc32.MakeTable(crc32.Castagnoli)))
}

// bytesFor is the fewest bytes (at least 1) that hold v.
func bytesFor(v uint64) int {
	n := 1
	for v >= 1<<(8*n) && n < 8 {
		n++
	}
	return n
}

func appendUint(b []byte, v uint64, n int) []byte {
	for i := n - 1; i >= 0; i-- {
		b = append(b, byte(v>>(8*i)))
	}
	return b
}

// BlockFileHash is a block's file_hash: the sha256 of its block file, which
// clients that download a block check it against.
func BlockFileHash(blk *cell.Cell) []byte {
	h := sha256.Sum256(BlockFile(blk))
	return h[:]
}

// File is the block file of b (see BlockFile).
func (b *Block) File() []byte { return BlockFile(b.Cell) }

// Supply is all value ever created on the chain, the masterchain state's
// global_balance.
func (c *Chain) Supply() *big.Int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return new(big.Int).Set(c.supply)
}

// configAddress reads config param 0 (_ config_addr:bits256 = ConfigParam 0),
// which McStateExtra repeats as config_addr; zeros when the config lacks it.
func configAddress(cfg *cell.Cell) ([]byte, error) {
	v, err := cfg.AsDict(32).LoadValueByIntKey(big.NewInt(0))
	if errors.Is(err, cell.ErrNoSuchKeyInDict) {
		return make([]byte, 32), nil
	}
	if err != nil {
		return nil, fmt.Errorf("config param 0: %w", err)
	}
	ref, err := v.LoadRef()
	if err != nil {
		return nil, fmt.Errorf("config param 0: %w", err)
	}
	id, err := ref.LoadSlice(256)
	if err != nil {
		return nil, fmt.Errorf("config param 0: %w", err)
	}
	return id, nil
}

// storeCC stores a CurrencyCollection of grams only:
// currencies$_ grams:Grams other:ExtraCurrencyCollection (empty HashmapE).
func storeCC(b *cell.Builder, grams *big.Int) {
	if grams == nil {
		grams = new(big.Int)
	}
	b.MustStoreBigCoins(grams).MustStoreBoolBit(false)
}

// augEntry is one entry of an augmented dictionary: its key, its extra
// (grams of a CurrencyCollection) and the value bits/refs after the extra.
type augEntry struct {
	key   []byte
	extra *big.Int
	val   *cell.Builder
}

// buildAugNode builds HashmapAug m X CurrencyCollection for sorted, unique
// entries sharing the first off key bits, and returns it with its extra.
// block.tlb:
//
//	ahm_edge#_ label:(HmLabel ~l n) node:(HashmapAugNode m X Y) = HashmapAug n X Y;
//	ahmn_leaf#_ extra:Y value:X = HashmapAugNode 0 X Y;
//	ahmn_fork#_ left:^(HashmapAug n X Y) right:^(HashmapAug n X Y) extra:Y = HashmapAugNode (n + 1) X Y;
//
// A fork's extra is the sum of its children's (the CurrencyCollection
// augmentation adds up), which strict parsers and validators check.
func buildAugNode(entries []augEntry, off, m uint) (*cell.Cell, *big.Int) {
	b := cell.BeginCell()
	first, last := entries[0].key, entries[len(entries)-1].key
	if len(entries) == 1 {
		storeLabel(b, first, off, m, m)
		extra := entries[0].extra
		if extra == nil {
			extra = new(big.Int)
		}
		storeCC(b, extra)
		b.MustStoreBuilder(entries[0].val)
		return b.EndCell(), extra
	}
	p := uint(0)
	for p < m && bitAt(first, off+p) == bitAt(last, off+p) {
		p++
	}
	storeLabel(b, first, off, p, m)
	split := off + p
	i := 0
	for i < len(entries) && bitAt(entries[i].key, split) == 0 {
		i++
	}
	left, le := buildAugNode(entries[:i], split+1, m-p-1)
	right, re := buildAugNode(entries[i:], split+1, m-p-1)
	sum := new(big.Int).Add(le, re)
	b.MustStoreRef(left).MustStoreRef(right)
	storeCC(b, sum)
	return b.EndCell(), sum
}

// buildAccountBlocks builds ShardAccountBlocks (block.tlb):
//
//	_ (HashmapAugE 256 AccountBlock CurrencyCollection) = ShardAccountBlocks;
//	acc_trans#5 account_addr:bits256 transactions:(HashmapAug 64 ^Transaction CurrencyCollection)
//	  state_update:^(HASH_UPDATE Account) = AccountBlock;
//	ahme_empty$0 extra:Y = HashmapAugE n X Y;  ahme_root$1 root:^(HashmapAug n X Y) extra:Y = HashmapAugE n X Y;
//
// The extras are the transactions' total fees, summed up the tree (an
// account's is its transactions' sum). txs must be sorted by account, then lt.
func buildAccountBlocks(txs []txInBlock) *cell.Cell {
	var accounts []augEntry
	for i := 0; i < len(txs); {
		j := i
		var list []augEntry
		for j < len(txs) && txs[j].account == txs[i].account {
			var k [8]byte
			binary.BigEndian.PutUint64(k[:], txs[j].lt)
			list = append(list, augEntry{key: k[:], extra: txs[j].fees, val: cell.BeginCell().MustStoreRef(txs[j].cell)})
			j++
		}
		upd := cell.BeginCell().MustStoreUInt(0x72, 8).MustStoreSlice(txs[i].old, 256).MustStoreSlice(txs[j-1].new, 256).EndCell()
		acc := txs[i].account
		root, fees := buildAugNode(list, 0, 64)
		// The transactions' HashmapAug root is inline in the AccountBlock.
		leaf := cell.BeginCell().MustStoreUInt(5, 4).MustStoreSlice(acc[:], 256).
			MustStoreBuilder(root.ToBuilder()).MustStoreRef(upd)
		accounts = append(accounts, augEntry{key: acc[:], extra: fees, val: leaf})
		i = j
	}
	b := cell.BeginCell()
	if len(accounts) == 0 {
		b.MustStoreBoolBit(false)
		storeCC(b, nil)
		return b.EndCell()
	}
	root, total := buildAugNode(accounts, 0, 256)
	b.MustStoreBoolBit(true).MustStoreRef(root)
	storeCC(b, total)
	return b.EndCell()
}

// PrunedProof is a Merkle proof of c's root cell alone: every ref of c is a
// pruned branch, whether or not it has refs of its own (as a node's
// MerkleProofBuilder leaves every cell it did not visit; tonutils-go's
// CreateProof keeps leaf cells).
//
//	!merkle_proof#03 virtual_hash:bits256 depth:uint16 virtual_root:^X = MERKLE_PROOF X;
func PrunedProof(c *cell.Cell) *cell.Cell {
	refs := make([]*cell.Cell, c.RefsNum())
	mask := byte(0)
	for i := range refs {
		refs[i] = prunedBranch(c.MustPeekRef(i))
		mask = 1
	}
	data := c.BeginParse().MustLoadSlice(c.BitsSize())
	body := cell.FromRawUnsafe(cell.RawUnsafeCell{LevelMask: cell.LevelMask{Mask: mask}, BitsSz: c.BitsSize(), Data: data, Refs: refs})
	pd := make([]byte, 1+32+2)
	pd[0] = byte(cell.MerkleProofCellType)
	copy(pd[1:], c.Hash(0))
	binary.BigEndian.PutUint16(pd[33:], c.Depth(0))
	return cell.FromRawUnsafe(cell.RawUnsafeCell{IsSpecial: true, BitsSz: uint(len(pd) * 8), Data: pd, Refs: []*cell.Cell{body}})
}
