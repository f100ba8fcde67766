package chain

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sort"

	"github.com/xssnick/tonutils-go/address"
	"github.com/xssnick/tonutils-go/ton"
	"github.com/xssnick/tonutils-go/tvm/cell"
)

// Last is the newest masterchain block.
func (c *Chain) Last() *Block {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.master
}

// WaitMaster blocks until masterchain block seqno exists or ctx ends.
func (c *Chain) WaitMaster(ctx context.Context, seqno uint32) error {
	for {
		c.mu.RLock()
		last, ch := c.master.ID.SeqNo, c.newMaster
		c.mu.RUnlock()
		if last >= seqno {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-ch:
		}
	}
}

// NewMaster returns a channel closed when the next masterchain block appears.
func (c *Chain) NewMaster() <-chan struct{} {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.newMaster
}

// Block finds a block by its full id; the hashes must match.
func (c *Chain) Block(id *ton.BlockIDExt) (*Block, error) {
	if id == nil || len(id.RootHash) != 32 {
		return nil, ErrBlockNotFound
	}
	var h [32]byte
	copy(h[:], id.RootHash)
	c.mu.RLock()
	b := c.byHash[h]
	c.mu.RUnlock()
	if b == nil || b.ID.Workchain != id.Workchain || b.ID.SeqNo != id.SeqNo || b.ID.Shard != id.Shard {
		return nil, ErrBlockNotFound
	}
	return b, nil
}

// Lookup finds a block by workchain, shard and seqno.
func (c *Chain) Lookup(wc int32, shard ShardID, seqno uint32) (*Block, error) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if wc == -1 {
		if int(seqno) < len(c.masters) {
			return c.masters[seqno], nil
		}
		return nil, ErrBlockNotFound
	}
	if b := c.byKey[blockKey{wc, shard, seqno}]; b != nil {
		return b, nil
	}
	return nil, ErrBlockNotFound
}

// MasterBySeqno is the masterchain block with that seqno.
func (c *Chain) MasterBySeqno(seqno uint32) (*Block, error) { return c.Lookup(-1, ShardAll, seqno) }

// AccountView is an account's state as of one block, with the proofs a
// liteserver attaches.
type AccountView struct {
	Shard        *Block     // block whose state holds the account
	ShardAccount *cell.Cell // nil when the account does not exist
	Account      *cell.Cell // the Account cell (nil when absent)
	Info         AccountInfo
	Proof        []*cell.Cell // [block proof, state proof] against Shard
	ShardProof   []*cell.Cell // [mc block proof, mc state proof] when Shard is a shard block
}

// AccountAt returns addr's state as of masterchain (or shard) block id.
func (c *Chain) AccountAt(id *ton.BlockIDExt, addr *address.Address) (*AccountView, error) {
	b, err := c.Block(id)
	if err != nil {
		return nil, err
	}
	v := &AccountView{Shard: b}
	if addr.Workchain() != -1 && b.ID.Workchain == -1 {
		v.Shard = nil
		first := uint64(0)
		for _, x := range addr.Data()[:8] {
			first = first<<8 | uint64(x)
		}
		for _, t := range b.ShardTops {
			if t.Shard.Contains(first) {
				v.Shard = t
			}
		}
		if v.Shard == nil {
			return nil, errors.New("no shard for account")
		}
		if v.ShardProof, err = masterShardProof(b); err != nil {
			return nil, err
		}
	} else if addr.Workchain() != b.ID.Workchain {
		return nil, errors.New("account is not in this block's workchain")
	}
	key := cell.BeginCell().MustStoreSlice(addr.Data(), 256).EndCell()
	if v.Proof, err = accountProof(v.Shard, key); err != nil {
		return nil, err
	}
	leaf, err := v.Shard.Accounts.LoadValue(key)
	if err != nil {
		if errors.Is(err, cell.ErrNoSuchKeyInDict) {
			v.Info.Balance = bigZero()
			return v, nil
		}
		return nil, fmt.Errorf("account lookup: %w", err)
	}
	// Skip DepthBalanceInfo: split_depth:(#<= 30) then CurrencyCollection.
	if _, err := leaf.LoadUInt(5); err != nil {
		return nil, err
	}
	if _, err := leaf.LoadBigCoins(); err != nil {
		return nil, err
	}
	if _, err := leaf.LoadMaybeRef(); err != nil {
		return nil, err
	}
	sa, err := leaf.ToCell()
	if err != nil {
		return nil, err
	}
	v.ShardAccount = sa
	ref, err := sa.BeginParse().LoadRef()
	if err != nil {
		return nil, err
	}
	v.Account = ref.MustToCell()
	if v.Info, err = ParseAccount(v.Account); err != nil {
		return nil, err
	}
	return v, nil
}

// Native returns the Go implementation behind a native account, if any.
func (c *Chain) Native(addr *address.Address) NativeContract {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if a := c.accounts[keyOf(addr)]; a != nil {
		return a.native
	}
	return nil
}

// RunGetMethod runs a get method on addr's state as of block id.
func (c *Chain) RunGetMethod(ctx context.Context, v *AccountView, addr *address.Address, methodID uint64, stack *cell.Cell) (*GetMethodResult, error) {
	if n := c.Native(addr); n != nil {
		return n.RunGetMethod(methodID, stack)
	}
	if v.Info.Code == nil {
		return &GetMethodResult{ExitCode: -256}, nil
	}
	return c.exec.RunGetMethod(ctx, GetMethodCall{Address: addr, Code: v.Info.Code, Data: v.Info.Data, Balance: v.Info.Balance,
		UTime: v.Shard.GenUtime, MethodID: methodID, Stack: stack, Config: c.cfg.GetMethodConfig, Libs: c.Libraries()})
}

// Transaction finds the transaction of account at lt in block b.
func (b *Block) Transaction(account []byte, lt uint64) (*cell.Cell, bool) {
	for _, t := range b.Txs {
		if t.lt == lt && bytes.Equal(t.account[:], account) {
			return t.cell, true
		}
	}
	return nil, false
}

// TxID is one entry of listBlockTransactions.
type TxID struct {
	Account []byte
	LT      uint64
	Hash    []byte
}

// TxIDs lists b's transactions after (account, lt), at most count of them;
// more reports whether the list was cut. In reverse the list runs from the
// last account's newest transaction down and "after" means before: the
// same account's older transactions, then lower accounts
// (finish_listBlockTransactions in validator/impl/liteserver.cpp).
func (b *Block) TxIDs(afterAcc []byte, afterLT uint64, count int, reverse bool) (ids []TxID, more bool) {
	n := len(b.Txs)
	for i := 0; i < n; i++ {
		t := &b.Txs[i]
		if reverse {
			t = &b.Txs[n-1-i]
		}
		if afterAcc != nil {
			c := bytes.Compare(t.account[:], afterAcc)
			if reverse && (c > 0 || (c == 0 && t.lt >= afterLT)) {
				continue
			}
			if !reverse && (c < 0 || (c == 0 && t.lt <= afterLT)) {
				continue
			}
		}
		if len(ids) == count {
			return ids, true
		}
		acc := t.account
		ids = append(ids, TxID{Account: acc[:], LT: t.lt, Hash: t.cell.Hash()})
	}
	return ids, false
}

// LookupByLT finds, among the blocks of workchain wc whose shard holds the
// account prefix, the first one whose end lt is at least lt, as a node's
// ltdb does (get_block_by_lt, validator/db/archive-slice.cpp: blocks are
// indexed by end lt, a lookup answers the first at or above it). Only
// blocks final by masterchain block maxMaster count.
func (c *Chain) LookupByLT(wc int32, prefix uint64, lt uint64, maxMaster uint32) (*Block, error) {
	return c.lookupFirst(wc, prefix, maxMaster, func(b *Block) bool { return b.EndLT >= lt })
}

// LookupByUtime is LookupByLT by gen_utime: the first block generated at or
// after utime (get_block_by_unix_time).
func (c *Chain) LookupByUtime(wc int32, prefix uint64, utime uint32, maxMaster uint32) (*Block, error) {
	return c.lookupFirst(wc, prefix, maxMaster, func(b *Block) bool { return b.GenUtime >= utime })
}

// lookupFirst binary-searches the rounds 1..maxMaster: every round produces
// one block per shard (the masterchain block's ShardTops) and end lt and
// gen_utime grow with the rounds. Zero states are not indexed, as on a node.
func (c *Chain) lookupFirst(wc int32, prefix uint64, maxMaster uint32, ok func(*Block) bool) (*Block, error) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	hi := len(c.masters) - 1
	if int(maxMaster) < hi {
		hi = int(maxMaster)
	}
	at := func(k int) *Block {
		m := c.masters[k]
		if wc == -1 {
			return m
		}
		for _, t := range m.ShardTops {
			if t.Shard.Contains(prefix) {
				return t
			}
		}
		return nil
	}
	if wc != -1 && wc != 0 {
		return nil, ErrBlockNotFound
	}
	k := 1 + sort.Search(max(hi, 0), func(i int) bool {
		b := at(i + 1)
		return b != nil && ok(b)
	})
	if k > hi {
		return nil, ErrBlockNotFound
	}
	if b := at(k); b != nil {
		return b, nil
	}
	return nil, ErrBlockNotFound
}

// AccountTxs returns up to limit transactions of addr, newest first,
// starting at (lt, hash).
func (c *Chain) AccountTxs(addr *address.Address, lt uint64, hash []byte, limit int) ([]*TxRef, error) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	a := c.accounts[keyOf(addr)]
	if a == nil {
		return nil, errors.New("account has no transactions")
	}
	i := len(a.txs) - 1
	for i >= 0 && a.txs[i].LT > lt {
		i--
	}
	if i < 0 || a.txs[i].LT != lt || !bytes.Equal(a.txs[i].Hash, hash) {
		return nil, errors.New("cannot locate transaction")
	}
	var out []*TxRef
	for ; i >= 0 && len(out) < limit; i-- {
		if a.txs[i].Block == nil {
			continue // executed but its block is not built yet
		}
		out = append(out, a.txs[i])
	}
	return out, nil
}

// LastTx is the newest transaction of addr, if any.
func (c *Chain) LastTx(addr *address.Address) *TxRef {
	c.mu.RLock()
	defer c.mu.RUnlock()
	a := c.accounts[keyOf(addr)]
	if a == nil {
		return nil
	}
	for i := len(a.txs) - 1; i >= 0; i-- {
		if a.txs[i].Block != nil { // executed in a round whose block is not built yet
			return a.txs[i]
		}
	}
	return nil
}

// TxsSince returns addr's transactions with lt > after, oldest first.
func (c *Chain) TxsSince(addr *address.Address, after uint64) []*TxRef {
	c.mu.RLock()
	defer c.mu.RUnlock()
	a := c.accounts[keyOf(addr)]
	if a == nil {
		return nil
	}
	var out []*TxRef
	for _, t := range a.txs {
		if t.LT > after && t.Block != nil {
			out = append(out, t)
		}
	}
	return out
}
