package chain

import (
	"bytes"
	"fmt"
	"math/big"
	"slices"
	"sort"

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

// proveLeaves finds the leaves of keys (distinct, ascending, 256 bits,
// sharing the depth bits the path to c consumed) in the HashmapAug node c,
// marks the path to each in sk (c's skeleton), and calls leaf with the
// key's index (first for keys[0]), the leaf's slice after its label
// (extra and value) and the leaf's skeleton. A key that is not there is
// an error.
func proveLeaves(c *cell.Cell, sk *cell.ProofSkeleton, depth uint, keys [][]byte, first int,
	leaf func(i int, s *cell.Slice, sk *cell.ProofSkeleton) error) error {
	const n = 256
	s := c.BeginParse()
	l, label, err := parseLabel(s, n-depth)
	if err != nil {
		return err
	}
	for _, k := range keys {
		for i := range l {
			if bitAt(k, depth+i) != bitAt(label, i) {
				return fmt.Errorf("account %x not in block", k)
			}
		}
	}
	depth += l
	if depth == n {
		if len(keys) != 1 {
			return fmt.Errorf("%d keys at one leaf", len(keys))
		}
		return leaf(first, s, sk)
	}
	// ahmn_fork: left:^ right:^ extra. Keys are ascending, so those with a
	// 0 at depth come first.
	split := sort.Search(len(keys), func(i int) bool { return bitAt(keys[i], depth) == 1 })
	for side, part := range [2][][]byte{keys[:split], keys[split:]} {
		if len(part) == 0 {
			continue
		}
		child, err := c.PeekRef(side)
		if err != nil {
			return err
		}
		if err := proveLeaves(child, sk.ProofRef(side), depth+1, part, first+side*split, leaf); err != nil {
			return err
		}
	}
	return nil
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
	// ahme_root$1 root:^(HashmapAug 256 ...) extra: the dictionary root is
	// ref 0 of the account blocks cell (Block ref 3, BlockExtra ref 2).
	extra, err := b.Cell.PeekRef(3)
	if err != nil {
		return nil, err
	}
	abCell, err := extra.PeekRef(2)
	if err != nil {
		return nil, err
	}
	root, err := abCell.PeekRef(0)
	if err != nil {
		return nil, fmt.Errorf("account blocks of a block with transactions: %w", err)
	}
	// ids come grouped by account; each account's leaf is found once, in
	// one descent that reads every dictionary node once however many of
	// the page's accounts pass through it (256 lookups from the root each,
	// with tonutils-go's big-integer label parsing, were the largest part
	// of a page's time, issue 17).
	type accountTxs struct {
		account []byte
		ids     []TxID
	}
	var accts []accountTxs
	for i := 0; i < len(ids); {
		j := i
		for j < len(ids) && string(ids[j].Account) == string(ids[i].Account) {
			j++
		}
		accts = append(accts, accountTxs{ids[i].Account, ids[i:j]})
		i = j
	}
	slices.SortFunc(accts, func(a, b accountTxs) int { return bytes.Compare(a.account, b.account) })
	keys := make([][]byte, len(accts))
	for i, a := range accts {
		keys[i] = a.account
	}
	err = proveLeaves(root, ab.ProofRef(0), 0, keys, 0, func(i int, slc *cell.Slice, leafSk *cell.ProofSkeleton) error {
		acct := keys[i]
		if err := tlb.LoadFromCell(new(tlb.CurrencyCollection), slc); err != nil {
			return err
		}
		// acc_trans#5 account_addr:bits256 transactions:(HashmapAug 64 ...),
		// read as tlb.LoadFromCell(&tlb.AccountBlock{}) does but without
		// its reflection (a fifth of a page's time, issue 17).
		if tag, err := slc.LoadUInt(4); err != nil || tag != 5 {
			return fmt.Errorf("account block of %x: bad tag (%v)", acct, err)
		}
		if _, err := slc.LoadSlice(256); err != nil {
			return fmt.Errorf("account block of %x: %w", acct, err)
		}
		txs, err := slc.ToDict(64)
		if err != nil {
			return fmt.Errorf("account block of %x: %w", acct, err)
		}
		// AccountBlock.transactions is inline in the leaf, so the path
		// continues from the leaf's skeleton node.
		for _, id := range accts[i].ids {
			_, txSk, err := txs.LoadValueWithProof(cell.BeginCell().MustStoreUInt(id.LT, 64).EndCell(), leafSk)
			if err != nil {
				return fmt.Errorf("tx %d not in block: %w", id.LT, err)
			}
			txSk.ProofRef(0)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return b.Cell.CreateProof(sk)
}
