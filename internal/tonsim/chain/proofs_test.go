package chain

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"math/big"
	"testing"

	"github.com/xssnick/tonutils-go/address"
	"github.com/xssnick/tonutils-go/tlb"
	"github.com/xssnick/tonutils-go/tvm/cell"
)

// txProofByLookups is TxProof as it was before its one-descent walk: one
// tonutils-go dictionary lookup with proof per account.
func txProofByLookups(b *Block, ids []TxID) (*cell.Cell, error) {
	sk := cell.CreateProofSkeleton()
	abRoot := sk.ProofRef(3).ProofRef(2).ProofRef(0)
	extra, err := b.Cell.PeekRef(3)
	if err != nil {
		return nil, err
	}
	ab, err := extra.PeekRef(2)
	if err != nil {
		return nil, err
	}
	sab := new(tlb.ShardAccountBlocks)
	if err := tlb.LoadFromCell(sab, ab.BeginParse()); err != nil {
		return nil, err
	}
	for i := 0; i < len(ids); {
		j := i
		for j < len(ids) && string(ids[j].Account) == string(ids[i].Account) {
			j++
		}
		slc, leafSk, err := sab.Accounts.LoadValueWithProof(cell.BeginCell().MustStoreSlice(ids[i].Account, 256).EndCell(), abRoot)
		if err != nil {
			return nil, err
		}
		if err := tlb.LoadFromCell(new(tlb.CurrencyCollection), slc); err != nil {
			return nil, err
		}
		slc.MustLoadUInt(4)
		slc.MustLoadSlice(256)
		txs, err := slc.ToDict(64)
		if err != nil {
			return nil, err
		}
		for _, id := range ids[i:j] {
			_, txSk, err := txs.LoadValueWithProof(cell.BeginCell().MustStoreUInt(id.LT, 64).EndCell(), leafSk)
			if err != nil {
				return nil, err
			}
			txSk.ProofRef(0)
		}
		i = j
	}
	return b.Cell.CreateProof(sk)
}

// The one-descent proof of a page is the proof the per-account lookups
// give, cell for cell: pages forward and reverse, from a cursor, of one
// transaction, of accounts with several transactions each, and a page
// naming an account the block does not have is refused.
func TestTxProofMatchesPerAccountLookups(t *testing.T) {
	c, err := New(Config{Blockchain: testConfig(t), Shards: 1, MaxTxPerBlock: 10_000}, failExec{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var list []BulkTransfer
	for i := range 900 {
		h := make([]byte, 32)
		binary.BigEndian.PutUint64(h, uint64(i%300)*0x9e3779b97f4a7c15) // three transfers to each of 300 accounts
		list = append(list, BulkTransfer{To: address.NewAddress(0, 0, h), Amount: big.NewInt(int64(1_000_000 + i))})
	}
	if err := c.BulkLoad(list); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ProduceBlock(context.Background()); err != nil {
		t.Fatal(err)
	}
	var b *Block // the transfers' shard block
	for seqno := uint32(0); b == nil && seqno < 4; seqno++ {
		for _, sh := range c.Shards() {
			if blk, err := c.Lookup(0, sh, seqno); err == nil {
				if ids, _ := blk.TxIDs(nil, 0, 1, false); len(ids) > 0 {
					b = blk
				}
			}
		}
	}
	if b == nil {
		t.Fatal("no shard block with the transfers")
	}
	all, _ := b.TxIDs(nil, 0, 1000, false)
	if len(all) != 900 {
		t.Fatalf("%d transactions in the block, want 900", len(all))
	}
	page := func(afterAcc []byte, afterLT uint64, count int, reverse bool) []TxID {
		ids, _ := b.TxIDs(afterAcc, afterLT, count, reverse)
		return ids
	}
	cases := map[string][]TxID{
		"first page":        page(nil, 0, 256, false),
		"reverse page":      page(nil, 0, 256, true),
		"from a cursor":     page(all[400].Account, all[400].LT, 256, false),
		"one transaction":   page(nil, 0, 1, false),
		"every transaction": all,
		"an account's last": {all[899]},
	}
	for name, ids := range cases {
		got, err := TxProof(b, ids)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		want, err := txProofByLookups(b, ids)
		if err != nil {
			t.Fatalf("%s: reference: %v", name, err)
		}
		// Compared as bags of cells: a Merkle proof's own hash is the
		// block's whatever was pruned, its cells are not.
		if g, w := writeBoC(got), writeBoC(want); !bytes.Equal(g, w) {
			t.Errorf("%s (%d ids): proof of %d bytes, the lookups give %d bytes (%x vs %x)", name, len(ids), len(g), len(w),
				sha256.Sum256(g), sha256.Sum256(w))
		}
	}
	missing := []TxID{{Account: make([]byte, 32), LT: 1}}
	if _, err := TxProof(b, missing); err == nil {
		t.Error("a proof for an account the block does not have")
	}
}
