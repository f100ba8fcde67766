// Package liteserver answers TON liteserver queries from a simulated chain,
// with the proofs tonutils-go checks under ProofCheckPolicyFast. The same
// handler serves ADNL TCP (Server) and in-process clients (Client).
package liteserver

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"time"

	"github.com/xssnick/tonutils-go/address"
	"github.com/xssnick/tonutils-go/tl"
	"github.com/xssnick/tonutils-go/ton"
	"github.com/xssnick/tonutils-go/tvm/cell"

	"github.com/ton-custody/processor/internal/tonsim/chain"
)

// Liteserver error codes as the C++ liteserver uses them.
const (
	codeNotReady = 651 // block not found / not applied
	codeTimeout  = 652
	codeError    = -400
	codeUnknown  = -401 // unsupported query
)

// maxWaitAhead is how far past its newest masterchain block a liteserver
// lets waitMasterchainSeqno wait (validator/manager.cpp
// wait_shard_client_state); further is refused as not ready.
const maxWaitAhead = 100

// Handler answers liteserver queries from a chain. Each liteserver node has
// its own handler, so that one can lag behind the others (SetLag).
type Handler struct {
	chain *chain.Chain
	now   func() time.Time

	lagMu      sync.Mutex
	lag        uint32
	lagChanged chan struct{} // closed and replaced when lag changes
}

// NewHandler creates a handler over c.
func NewHandler(c *chain.Chain) *Handler {
	return &Handler{chain: c, now: time.Now, lagChanged: make(chan struct{})}
}

// SetLag makes the handler answer as a liteserver that is blocks masterchain
// blocks behind the chain (0 = up to date): its masterchain info is that
// older block, it knows no newer block (LSError 651, as a node that has not
// applied it yet), waitMasterchainSeqno waits until the node has the block,
// and sendMessage checks the message against its stale state.
func (h *Handler) SetLag(blocks uint32) {
	h.lagMu.Lock()
	defer h.lagMu.Unlock()
	if h.lag == blocks {
		return
	}
	h.lag = blocks
	close(h.lagChanged)
	h.lagChanged = make(chan struct{})
}

// Lag is the number of masterchain blocks the handler is behind.
func (h *Handler) Lag() uint32 {
	h.lagMu.Lock()
	defer h.lagMu.Unlock()
	return h.lag
}

// Head is the newest masterchain block this node has.
func (h *Handler) Head() *chain.Block {
	last := h.chain.Last()
	lag := h.Lag()
	if lag == 0 {
		return last
	}
	seqno := uint32(1) // never fall back to the zero state
	if last.ID.SeqNo > lag {
		seqno = last.ID.SeqNo - lag
	}
	if seqno >= last.ID.SeqNo {
		return last
	}
	b, err := h.chain.MasterBySeqno(seqno)
	if err != nil {
		return last
	}
	return b
}

// waitHead blocks until the node has masterchain block seqno.
func (h *Handler) waitHead(ctx context.Context, seqno uint32) error {
	for {
		next := h.chain.NewMaster()
		h.lagMu.Lock()
		changed := h.lagChanged
		h.lagMu.Unlock()
		if h.Head().ID.SeqNo >= seqno {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-next:
		case <-changed:
		}
	}
}

// block finds a block the node has: one referenced by its newest
// masterchain block or an older one.
func (h *Handler) block(id *ton.BlockIDExt) (*chain.Block, error) {
	b, err := h.chain.Block(id)
	if err != nil {
		return nil, err
	}
	if !h.has(b) {
		return nil, chain.ErrBlockNotFound
	}
	return b, nil
}

func (h *Handler) has(b *chain.Block) bool {
	return h.Lag() == 0 || b.MasterSeqno <= h.Head().ID.SeqNo
}

func lsErr(code int32, format string, a ...any) ton.LSError {
	return ton.LSError{Code: code, Text: fmt.Sprintf(format, a...)}
}

func blockErr(err error) ton.LSError {
	if errors.Is(err, chain.ErrBlockNotFound) {
		return lsErr(codeNotReady, "block is not applied")
	}
	return lsErr(codeError, "%v", err)
}

// Handle answers one query. A query prefixed by waitMasterchainSeqno (as
// tonutils-go's WaitForBlock sends it) first waits for that block. Like a
// real liteserver, a query the code cannot handle gets an error answer: a
// panic while answering one client's query must not bring the network down.
func (h *Handler) Handle(ctx context.Context, q tl.Serializable) (answer tl.Serializable) {
	defer func() {
		if p := recover(); p != nil {
			answer = lsErr(codeError, "internal error answering %T: %v", q, p)
		}
	}()
	if list, ok := q.([]tl.Serializable); ok {
		if len(list) == 0 {
			return lsErr(codeError, "empty query")
		}
		for _, p := range list[:len(list)-1] {
			w, ok := p.(ton.WaitMasterchainSeqno)
			if !ok {
				return lsErr(codeUnknown, "unsupported query prefix %T", p)
			}
			if w.Seqno > 0 && uint32(w.Seqno) > h.Head().ID.SeqNo+maxWaitAhead {
				return lsErr(codeNotReady, "too big masterchain block seqno")
			}
			wctx, cancel := context.WithTimeout(ctx, time.Duration(w.Timeout)*time.Millisecond)
			err := h.waitHead(wctx, uint32(w.Seqno))
			cancel()
			if err != nil {
				return lsErr(codeTimeout, "timeout waiting for masterchain block %d", w.Seqno)
			}
		}
		q = list[len(list)-1]
	}
	switch r := q.(type) {
	case ton.WaitMasterchainSeqno:
		return h.Handle(ctx, []tl.Serializable{r, ton.GetMasterchainInf{}})
	case ton.GetMasterchainInf:
		last := h.Head()
		return ton.MasterchainInfo{Last: idCopy(&last.ID), StateRootHash: last.State.Hash(), Init: h.zeroState()}
	case ton.GetMasterchainInfoExt:
		last := h.Head()
		return ton.MasterchainInfoExt{Mode: r.Mode, Version: 0x101, Capabilities: 7, Last: idCopy(&last.ID), LastUTime: last.GenUtime,
			Now: uint32(h.now().Unix()), StateRootHash: last.State.Hash(), Init: h.zeroState()}
	case ton.GetTime:
		return ton.CurrentTime{Now: uint32(h.now().Unix())}
	case ton.GetVersion:
		return ton.Version{Version: 0x101, Capabilities: 7, Now: uint32(h.now().Unix())}
	case ton.LookupBlock:
		return h.lookupBlock(r)
	case ton.GetBlockHeader:
		b, err := h.block(r.ID)
		if err != nil {
			return blockErr(err)
		}
		return h.header(b, r.Mode)
	case ton.GetBlockData:
		b, err := h.block(r.ID)
		if err != nil {
			return blockErr(err)
		}
		// The block file itself: its sha256 is the block's file hash.
		return ton.BlockData{ID: idCopy(&b.ID), Payload: b.File()}
	case ton.GetAllShardsInfo:
		b, err := h.block(r.ID)
		if err != nil {
			return blockErr(err)
		}
		if b.ID.Workchain != -1 {
			return lsErr(codeError, "not a masterchain block")
		}
		proof, data, err := chain.AllShardsProof(b)
		if err != nil {
			return lsErr(codeError, "%v", err)
		}
		return ton.AllShardsInfo{ID: idCopy(&b.ID), Proof: []*cell.Cell{proof}, Data: data}
	case ton.ListBlockTransactions:
		return h.listBlockTransactions(r)
	case ton.GetOneTransaction:
		return h.oneTransaction(r)
	case ton.GetTransactions:
		return h.transactions(r)
	case ton.GetAccountState:
		return h.accountState(r.ID, r.Account)
	case ton.GetAccountStatePruned:
		return h.accountStatePruned(r.ID, r.Account)
	case ton.RunSmcMethod:
		return h.runSmcMethod(ctx, &r)
	case *ton.RunSmcMethod:
		return h.runSmcMethod(ctx, r)
	case ton.SendMessage:
		var at *ton.BlockIDExt
		if h.Lag() > 0 {
			at = &h.Head().ID
		}
		if err := h.chain.SendExternalAt(ctx, r.Body, at); err != nil {
			return lsErr(codeError, "cannot apply external message to current state: %v", err)
		}
		return ton.SendMessageStatus{Status: 1}
	case ton.GetConfigParams:
		return h.config(r.BlockID, r.Mode)
	case ton.GetConfigAll:
		return h.config(r.BlockID, r.Mode)
	case ton.GetLibraries:
		return h.libraries(r.LibraryList)
	}
	name := "nil"
	if q != nil {
		name = reflect.TypeOf(q).String()
	}
	return lsErr(codeUnknown, "unsupported query %s", name)
}

func idCopy(id *ton.BlockIDExt) *ton.BlockIDExt { return id.Copy() }

func (h *Handler) zeroState() *ton.ZeroStateIDExt {
	z, err := h.chain.MasterBySeqno(0)
	if err != nil {
		return &ton.ZeroStateIDExt{Workchain: -1, RootHash: make([]byte, 32), FileHash: make([]byte, 32)}
	}
	return &ton.ZeroStateIDExt{Workchain: -1, RootHash: z.State.Hash(), FileHash: z.ID.FileHash}
}

// header answers getBlockHeader: a proof of the block header whose
// contents mode selects, as continue_getBlockHeader in
// validator/impl/liteserver.cpp builds it: always the block info with its
// master_ref and prev_ref (whole), with state_update (1), value_flow (2),
// the block extra (16) and, of a masterchain block, its shard hashes (32).
func (h *Handler) header(b *chain.Block, mode uint32) tl.Serializable {
	sk := cell.CreateProofSkeleton()
	sk.ProofRef(0).SetRecursive() // block info, its master_ref and prev_ref
	if mode&1 != 0 {
		sk.ProofRef(2)
	}
	if mode&2 != 0 {
		sk.ProofRef(1).SetRecursive()
	}
	if mode&16 != 0 {
		extra := sk.ProofRef(3)
		if b.ID.Workchain == -1 {
			mcExtra := extra.ProofRef(3)
			if mode&32 != 0 {
				mcExtra.ProofRef(0).SetRecursive()
			}
		}
	}
	p, err := b.Cell.CreateProof(sk)
	if err != nil {
		return lsErr(codeError, "%v", err)
	}
	return ton.BlockHeader{ID: idCopy(&b.ID), Mode: mode, HeaderProof: p.ToBOCWithFlags(false)}
}

// lookupBlock finds a block by seqno (mode 1), by lt (2: the first block
// whose end lt is at least lt) or by gen_utime (4: the first generated at
// or after it) in the shard holding the account prefix id.shard
// (perform_lookupBlock in validator/impl/liteserver.cpp). The header proof
// is built with mode >> 4, as there.
func (h *Handler) lookupBlock(r ton.LookupBlock) tl.Serializable {
	if r.ID == nil {
		return lsErr(codeError, "no block id")
	}
	var b *chain.Block
	var err error
	prefix := uint64(r.ID.Shard)
	head := h.Head().ID.SeqNo
	switch r.Mode & 7 {
	case 1:
		b, err = h.chain.Lookup(r.ID.Workchain, chain.ShardID(prefix), uint32(r.ID.Seqno))
		if err == nil && !h.has(b) {
			err = chain.ErrBlockNotFound
		}
	case 2:
		b, err = h.chain.LookupByLT(r.ID.Workchain, prefix, r.LT, head)
	case 4:
		b, err = h.chain.LookupByUtime(r.ID.Workchain, prefix, r.UTime, head)
	default:
		return lsErr(codeError, "exactly one of mode.0, mode.1 and mode.2 bits must be set")
	}
	if err != nil {
		return blockErr(err)
	}
	return h.header(b, r.Mode>>4)
}

func (h *Handler) listBlockTransactions(r ton.ListBlockTransactions) tl.Serializable {
	b, err := h.block(r.ID)
	if err != nil {
		return blockErr(err)
	}
	reverse := r.Mode&(1<<6) != 0
	var afterAcc []byte
	var afterLT uint64
	if r.Mode&(1<<7) != 0 && r.After != nil {
		afterAcc, afterLT = r.After.Account, r.After.LT
	}
	count := int(r.Count)
	if count > 256 || count <= 0 {
		count = 256
	}
	ids, more := b.TxIDs(afterAcc, afterLT, count, reverse)
	res := ton.BlockTransactions{ID: idCopy(&b.ID), ReqCount: int32(r.Count), Incomplete: more, TransactionIds: make([]ton.TransactionID, 0, len(ids))}
	for _, id := range ids {
		res.TransactionIds = append(res.TransactionIds, ton.TransactionID{Flags: r.Mode & 7, Account: id.Account, LT: id.LT, Hash: id.Hash})
	}
	if r.Mode&(1<<5) != 0 {
		p, err := chain.TxProof(b, ids)
		if err != nil {
			return lsErr(codeError, "%v", err)
		}
		res.Proof = p
	}
	return res
}

func (h *Handler) oneTransaction(r ton.GetOneTransaction) tl.Serializable {
	b, err := h.block(r.ID)
	if err != nil {
		return blockErr(err)
	}
	if r.AccID == nil {
		return lsErr(codeError, "no account")
	}
	tx, ok := b.Transaction(r.AccID.ID, uint64(r.LT))
	if !ok {
		return ton.TransactionInfo{ID: idCopy(&b.ID), Proof: []byte{}, Transaction: []byte{}}
	}
	p, err := chain.TxProof(b, []chain.TxID{{Account: r.AccID.ID, LT: uint64(r.LT)}})
	if err != nil {
		return lsErr(codeError, "%v", err)
	}
	return ton.TransactionInfo{ID: idCopy(&b.ID), Proof: p.ToBOCWithFlags(false), Transaction: tx.ToBOCWithFlags(false)}
}

func (h *Handler) transactions(r ton.GetTransactions) tl.Serializable {
	if r.AccID == nil || len(r.AccID.ID) != 32 {
		return lsErr(codeError, "bad account")
	}
	limit := int(r.Limit)
	if limit <= 0 || limit > 16 {
		limit = 16
	}
	addr := address.NewAddress(0, byte(r.AccID.Workchain), r.AccID.ID)
	txs, err := h.chain.AccountTxs(addr, uint64(r.LT), r.TxHash, limit)
	if err != nil {
		return lsErr(0, "%v", err)
	}
	// The list runs newest first from the requested transaction: a node
	// that lags has none of it when it lacks the first one's block.
	if len(txs) > 0 && !h.has(txs[0].Block) {
		return blockErr(chain.ErrBlockNotFound)
	}
	ids := make([]*ton.BlockIDExt, len(txs))
	roots := make([]*cell.Cell, len(txs))
	for i, t := range txs {
		ids[i], roots[i] = idCopy(&t.Block.ID), t.Cell
	}
	return ton.TransactionList{IDs: ids, Transactions: cell.ToBOCWithFlags(roots, false)}
}

func (h *Handler) accountState(id *ton.BlockIDExt, acc ton.AccountID) tl.Serializable {
	if len(acc.ID) != 32 {
		return lsErr(codeError, "bad account id")
	}
	addr := address.NewAddress(0, byte(acc.Workchain), acc.ID)
	if _, err := h.block(id); err != nil {
		return blockErr(err)
	}
	v, err := h.chain.AccountAt(id, addr)
	if err != nil {
		return blockErr(err)
	}
	res := ton.AccountState{ID: idCopy(id), Shard: idCopy(&v.Shard.ID), ShardProof: v.ShardProof, Proof: v.Proof, State: v.Account}
	if v.ShardProof == nil {
		res.ShardProof = []*cell.Cell{}
	}
	return res
}

// accountStatePruned answers getAccountStatePrunned: the account as a
// Merkle proof of its root cell with code, data and libraries pruned
// (finish_getAccountState in validator/impl/liteserver.cpp, mode
// 0x40000000: "does not include code, data and libs into proof, but it
// includes extra currencies"; tonsim accounts hold no extra currencies, so
// every ref of the account cell is pruned).
func (h *Handler) accountStatePruned(id *ton.BlockIDExt, acc ton.AccountID) tl.Serializable {
	res := h.accountState(id, acc)
	st, ok := res.(ton.AccountState)
	if !ok || st.State == nil {
		return res
	}
	st.State = chain.PrunedProof(st.State)
	return st
}

func (h *Handler) runSmcMethod(ctx context.Context, r *ton.RunSmcMethod) tl.Serializable {
	if len(r.Account.ID) != 32 {
		return lsErr(codeError, "bad account id")
	}
	addr := address.NewAddress(0, byte(r.Account.Workchain), r.Account.ID)
	if _, err := h.block(r.ID); err != nil {
		return blockErr(err)
	}
	v, err := h.chain.AccountAt(r.ID, addr)
	if err != nil {
		return blockErr(err)
	}
	res := ton.RunMethodResult{Mode: r.Mode, ID: idCopy(r.ID), ShardBlock: idCopy(&v.Shard.ID)}
	if r.Mode&1 != 0 {
		res.ShardProof, res.Proof = v.ShardProof, v.Proof
		if res.ShardProof == nil {
			res.ShardProof = []*cell.Cell{}
		}
	}
	if r.Mode&2 != 0 && v.Account != nil {
		sp, err := v.Account.CreateProof(cell.CreateProofSkeleton())
		if err != nil {
			return lsErr(codeError, "%v", err)
		}
		res.StateProof = sp
	}
	if v.Account == nil || (v.Info.Code == nil && h.chain.Native(addr) == nil) {
		res.ExitCode = -256
		return res
	}
	stack := r.Params
	if stack == nil {
		stack = cell.BeginCell().MustStoreUInt(0, 24).EndCell()
	}
	out, err := h.chain.RunGetMethod(ctx, v, addr, r.MethodID, stack)
	if err != nil {
		return lsErr(codeError, "get method: %v", err)
	}
	res.ExitCode = out.ExitCode
	if r.Mode&4 != 0 && out.Stack != nil {
		res.Result = out.Stack
	}
	return res
}

func (h *Handler) config(id *ton.BlockIDExt, mode int32) tl.Serializable {
	b, err := h.block(id)
	if err != nil {
		return blockErr(err)
	}
	if b.ID.Workchain != -1 {
		return lsErr(codeError, "not a masterchain block")
	}
	bp, sp, err := chain.ConfigProof(b)
	if err != nil {
		return lsErr(codeError, "%v", err)
	}
	return ton.ConfigAll{Mode: int(mode), ID: idCopy(&b.ID), StateProof: bp, ConfigProof: sp}
}

// libraries answers getLibraries from the public masterchain libraries:
// an entry for each hash that is one (in the order asked, duplicates
// once), nothing for the others. As the C++ liteserver, it looks at the
// first chain.MaxLibrariesPerQuery hashes only.
func (h *Handler) libraries(hashes [][]byte) tl.Serializable {
	if len(hashes) > chain.MaxLibrariesPerQuery {
		hashes = hashes[:chain.MaxLibrariesPerQuery]
	}
	out := []*ton.LibraryEntry{}
	seen := map[string]bool{}
	for _, hash := range hashes {
		if seen[string(hash)] {
			continue
		}
		seen[string(hash)] = true
		if code := h.chain.Library(hash); code != nil {
			out = append(out, &ton.LibraryEntry{Hash: append([]byte(nil), hash...), Data: code})
		}
	}
	return ton.LibraryResult{Result: out}
}
