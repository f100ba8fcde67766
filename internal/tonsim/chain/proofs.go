package chain

import (
	"fmt"
	"math/big"

	"github.com/xssnick/tonutils-go/tlb"
	"github.com/xssnick/tonutils-go/tvm/cell"
)

// Proof layouts. Block refs: 0 info, 1 value flow, 2 state update, 3 extra.
// BlockExtra refs: 0 in msgs, 1 out msgs, 2 account blocks, 3 mc extra.
// ShardStateUnsplit refs: 0 out queue, 1 accounts, 2 stats, 3 mc state extra.
// McStateExtra refs: 0 shard hashes, 1 config.

func bigZero() *big.Int { return new(big.Int) }

// stateProof proves b's state root through the state update cell and then
// the parts of the state that sk selects.
func stateProof(b *Block, sk *cell.ProofSkeleton) ([]*cell.Cell, error) {
	bsk := cell.CreateProofSkeleton()
	bsk.ProofRef(2)
	bp, err := b.Cell.CreateProof(bsk)
	if err != nil {
		return nil, fmt.Errorf("block proof: %w", err)
	}
	sp, err := b.State.CreateProof(sk)
	if err != nil {
		return nil, fmt.Errorf("state proof: %w", err)
	}
	return []*cell.Cell{bp, sp}, nil
}

// accountProof proves the presence (or absence) of key in b's accounts.
func accountProof(b *Block, key *cell.Cell) ([]*cell.Cell, error) {
	sk := cell.CreateProofSkeleton()
	accounts := sk.ProofRef(1)
	if !b.Accounts.IsEmpty() {
		// The skeleton is filled along the path even when the key is absent.
		_, _, _ = b.Accounts.LoadValueWithProof(key, accounts.ProofRef(0))
	}
	return stateProof(b, sk)
}

// masterShardProof proves the shard hashes of masterchain block b.
func masterShardProof(b *Block) ([]*cell.Cell, error) {
	sk := cell.CreateProofSkeleton()
	sk.ProofRef(3).ProofRef(0).SetRecursive()
	return stateProof(b, sk)
}

// ConfigProof proves masterchain block b's config dictionary (whole).
func ConfigProof(b *Block) (blockProof, stateProofCell *cell.Cell, err error) {
	sk := cell.CreateProofSkeleton()
	sk.ProofRef(3).ProofRef(1).SetRecursive()
	p, err := stateProof(b, sk)
	if err != nil {
		return nil, nil, err
	}
	return p[0], p[1], nil
}

// MasterShardProof is masterShardProof for the liteserver.
func MasterShardProof(b *Block) ([]*cell.Cell, error) { return masterShardProof(b) }

// AllShardsProof proves McBlockExtra.shard_hashes in masterchain block b.
func AllShardsProof(b *Block) (*cell.Cell, *cell.Cell, error) {
	sk := cell.CreateProofSkeleton()
	sk.ProofRef(3).ProofRef(3).ProofRef(0).SetRecursive()
	p, err := b.Cell.CreateProof(sk)
	if err != nil {
		return nil, nil, err
	}
	var blk tlb.Block
	if err := tlb.LoadFromCell(&blk, b.Cell.BeginParse()); err != nil {
		return nil, nil, err
	}
	data := cell.BeginCell().MustStoreDict(blk.Extra.Custom.ShardHashes).EndCell()
	return p, data, nil
}

// accountBlocks is the block's ShardAccountBlocks dictionary, read once.
func (b *Block) accountBlocks() (*tlb.ShardAccountBlocks, error) {
	b.abOnce.Do(func() {
		// Block refs: 3 extra; BlockExtra refs: 2 account blocks.
		extra, err := b.Cell.PeekRef(3)
		if err != nil {
			b.abErr = err
			return
		}
		ab, err := extra.PeekRef(2)
		if err != nil {
			b.abErr = err
			return
		}
		b.ab = new(tlb.ShardAccountBlocks)
		b.abErr = tlb.LoadFromCell(b.ab, ab.BeginParse())
	})
	return b.ab, b.abErr
}

// TxProof proves the given transactions are in b's account blocks; ids
// must be grouped by account (as listBlockTransactions orders them).
func TxProof(b *Block, ids []TxID) (*cell.Cell, error) {
	sk := cell.CreateProofSkeleton()
	ab := sk.ProofRef(3).ProofRef(2)
	if len(ids) == 0 {
		// Nothing to prove but that the list is empty: the account blocks
		// cell, whose dictionary may have no root at all (ahme_empty$0 in
		// a block without transactions).
		return b.Cell.CreateProof(sk)
	}
	abRoot := ab.ProofRef(0)
	sab, err := b.accountBlocks()
	if err != nil {
		return nil, err
	}
	// Look each account up once: the skeleton returned for a path that is
	// already in the tree is a detached copy, so a second lookup of the same
	// account would lose the first one's transactions.
	for i := 0; i < len(ids); {
		j := i
		for j < len(ids) && string(ids[j].Account) == string(ids[i].Account) {
			j++
		}
		slc, leafSk, err := sab.Accounts.LoadValueWithProof(cell.BeginCell().MustStoreSlice(ids[i].Account, 256).EndCell(), abRoot)
		if err != nil {
			return nil, fmt.Errorf("account %x not in block: %w", ids[i].Account, err)
		}
		if err := tlb.LoadFromCell(new(tlb.CurrencyCollection), slc); err != nil {
			return nil, err
		}
		// acc_trans#5 account_addr:bits256 transactions:(HashmapAug 64 ...),
		// read as tlb.LoadFromCell(&tlb.AccountBlock{}) does but without
		// its reflection (a fifth of a page's time, issue 17).
		if tag, err := slc.LoadUInt(4); err != nil || tag != 5 {
			return nil, fmt.Errorf("account block of %x: bad tag (%v)", ids[i].Account, err)
		}
		if _, err := slc.LoadSlice(256); err != nil {
			return nil, fmt.Errorf("account block of %x: %w", ids[i].Account, err)
		}
		txs, err := slc.ToDict(64)
		if err != nil {
			return nil, fmt.Errorf("account block of %x: %w", ids[i].Account, err)
		}
		// AccountBlock.transactions is inline in the leaf, so the path
		// continues from the leaf's skeleton node.
		for _, id := range ids[i:j] {
			_, txSk, err := txs.LoadValueWithProof(cell.BeginCell().MustStoreUInt(id.LT, 64).EndCell(), leafSk)
			if err != nil {
				return nil, fmt.Errorf("tx %d not in block: %w", id.LT, err)
			}
			txSk.ProofRef(0)
		}
		i = j
	}
	return b.Cell.CreateProof(sk)
}
