// Package chain is the state machine of the simulated TON network: accounts,
// a masterchain and the shards of workchain 0, message routing and block
// production. Contracts run through an Executor (the real TON emulator in
// production use); the package builds blocks and states whose hashes and
// proofs tonutils-go accepts.
package chain

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"sort"
	"sync"
	"time"

	"github.com/xssnick/tonutils-go/address"
	"github.com/xssnick/tonutils-go/tlb"
	"github.com/xssnick/tonutils-go/ton"
	"github.com/xssnick/tonutils-go/tvm/cell"

	"github.com/ton-custody/processor/internal/boc"
)

// Executor runs contract code. Implementations must be safe for concurrent use.
type Executor interface {
	// Execute applies one inbound message to an account (given as a
	// ShardAccount cell) and returns the transaction and the new state.
	Execute(ctx context.Context, shardAccount, msg *cell.Cell, p ExecParams) (*ExecResult, error)
	// RunGetMethod runs a get method against code and data.
	RunGetMethod(ctx context.Context, call GetMethodCall) (*GetMethodResult, error)
}

// ExecParams are the block-level inputs of a transaction.
type ExecParams struct {
	UTime    uint32
	LT       uint64
	RandSeed []byte
	Config   *cell.Cell // blockchain config dictionary root
	// Libs are the public libraries (HashmapE 256 ^Cell), nil for none:
	// library cells in code resolve through them.
	Libs *cell.Cell
}

// ExecResult is the outcome of Execute. Success=false means no transaction
// was produced (an external message the contract did not accept).
type ExecResult struct {
	Success      bool
	Error        string
	ExitCode     int
	Transaction  *cell.Cell
	ShardAccount *cell.Cell
	// info and lt, set by the native bulk path, spare parsing the account
	// and the transaction (which has no out messages).
	info *AccountInfo
	lt   uint64
}

// GetMethodCall is one get-method invocation.
type GetMethodCall struct {
	Address  *address.Address
	Code     *cell.Cell
	Data     *cell.Cell
	Balance  *big.Int
	UTime    uint32
	MethodID uint64
	Stack    *cell.Cell // serialised VmStack of arguments
	Config   *cell.Cell
	Libs     *cell.Cell // public libraries, as ExecParams.Libs
}

// GetMethodResult is the outcome of a get method.
type GetMethodResult struct {
	ExitCode int32
	Stack    *cell.Cell // serialised VmStack of results
}

// NativeContract answers get methods in Go for an account whose on-chain code
// is a placeholder (the DNS root resolver).
type NativeContract interface {
	RunGetMethod(methodID uint64, stack *cell.Cell) (*GetMethodResult, error)
}

// GenesisAccount is an account present in the zero state.
type GenesisAccount struct {
	Address *address.Address
	Balance *big.Int
	Code    *cell.Cell // nil for an uninit account
	Data    *cell.Cell
	Native  NativeContract
}

// Config configures a new chain.
type Config struct {
	GlobalID   int32      // -3 (testnet) by default
	Shards     int        // workchain-0 shards, a power of two; default 4
	Blockchain *cell.Cell // config dictionary (HashmapE 32 ^Cell), required
	// GetMethodConfig is passed to get methods (Blockchain when nil).
	GetMethodConfig *cell.Cell
	MaxTxPerBlock   int // transactions per round before the rest waits; default 20000
	Now             func() time.Time
	Logger          *slog.Logger
}

// Errors returned to clients.
var (
	ErrBlockNotFound = errors.New("block not found")
	ErrNotAccepted   = errors.New("external message was not accepted by the contract")
	// ErrExtMsgTooLarge and ErrExtMsgTooDeep carry the validator's words.
	ErrExtMsgTooLarge = errors.New("external message too large, rejecting")
	ErrExtMsgTooDeep  = errors.New("external message is too deep")
)

type accKey struct {
	wc   int32
	addr [32]byte
}

func keyOf(a *address.Address) accKey {
	var k accKey
	k.wc = a.Workchain()
	copy(k.addr[:], a.Data())
	return k
}

// TxRef locates one transaction.
type TxRef struct {
	LT    uint64
	Hash  []byte
	Cell  *cell.Cell
	Block *Block
}

type account struct {
	addr         *address.Address
	shardAccount *cell.Cell
	info         AccountInfo
	txs          []*TxRef // lt ascending
	native       NativeContract
}

// Block is one produced block with its state.
type Block struct {
	ID       ton.BlockIDExt
	Shard    ShardID
	Cell     *cell.Cell
	State    *cell.Cell
	StartLT  uint64
	EndLT    uint64
	GenUtime uint32
	// Accounts is the state's ShardAccounts dictionary (for proofs).
	Accounts *cell.Dictionary
	// Txs are ordered by account then lt, the order of listBlockTransactions.
	Txs []txInBlock
	// ShardTops (masterchain blocks only) are the workchain-0 blocks this
	// block references.
	ShardTops []*Block
	// MasterSeqno is the masterchain block that first referenced this shard
	// block (0 while not yet final); for masterchain blocks, their own seqno.
	MasterSeqno uint32
}

type shardChain struct {
	id       ShardID
	top      *Block
	accounts *cell.Dictionary
}

type queued struct {
	dst      *address.Address
	msg      *cell.Cell
	external bool
	bulk     *tlb.InternalMessage // set for bulk transfers: built natively, not emulated
	depth    int
}

type blockKey struct {
	wc    int32
	shard ShardID
	seqno uint32
}

// Chain is the simulated network. All methods are safe for concurrent use.
type Chain struct {
	cfg    Config
	exec   Executor
	log    *slog.Logger
	limits SizeLimits // config param 43
	gas    gasPrices  // config param 21

	// mu guards the state below. A round (produce) holds it except while
	// it emulates a transaction or builds its blocks from copies, so
	// queries and sendMessage are answered while a block is being made,
	// as a real liteserver answers while validators work; prodMu keeps
	// rounds one at a time.
	mu         sync.RWMutex
	prodMu     sync.Mutex
	accounts   map[accKey]*account
	shards     []*shardChain // sorted by id
	master     *Block
	masters    []*Block // index = seqno
	mcAccounts *cell.Dictionary
	byHash     map[[32]byte]*Block
	byKey      map[blockKey]*Block
	queue      []queued
	inRound    int // messages the running round has yet to execute
	lt         uint64
	splits     map[ShardID]bool
	merges     map[ShardID]bool
	newMaster  chan struct{} // closed and replaced when a masterchain block appears
	txCount    uint64
	dirty      map[accKey]*account // changed this round, not yet in the state dicts
	// supply is all value ever created: genesis balances plus bulk
	// credits (the one place value is created afterwards).
	supply     *big.Int
	configAddr []byte // config param 0, the config contract's account id
	// libs are the public libraries of the masterchain accounts (see
	// libraries.go), nil while there are none.
	libs *cell.Dictionary
}

// New creates a chain with the given genesis accounts and produces its first
// masterchain block (seqno 1 on top of the zero state, seqno 0).
func New(cfg Config, exec Executor, genesis []GenesisAccount) (*Chain, error) {
	c, err := newEmpty(cfg, exec)
	if err != nil {
		return nil, err
	}
	ids, err := evenShards(c.cfg.Shards)
	if err != nil {
		return nil, err
	}
	now := uint32(c.cfg.Now().Unix())
	for _, id := range ids {
		c.shards = append(c.shards, &shardChain{id: id, accounts: cell.NewDict(256)})
	}
	for _, g := range genesis {
		if g.Balance != nil {
			c.supply.Add(c.supply, g.Balance)
		}
		var acc *cell.Cell
		if g.Code != nil {
			acc = activeAccount(g.Address, g.Balance, g.Code, g.Data, now)
		} else {
			acc = uninitAccount(g.Address, g.Balance, 0, now)
		}
		a := &account{addr: g.Address, native: g.Native}
		if err := c.setAccountState(a, shardAccountCell(acc, nil, 0)); err != nil {
			return nil, fmt.Errorf("genesis account %s: %w", g.Address, err)
		}
		c.accounts[keyOf(g.Address)] = a
	}
	if err := c.refreshLibraries(); err != nil {
		return nil, err
	}
	if err := c.zeroState(now); err != nil {
		return nil, err
	}
	c.mu.Lock()
	_, err = c.produce(context.Background())
	c.mu.Unlock()
	if err != nil {
		return nil, fmt.Errorf("first block: %w", err)
	}
	return c, nil
}

func newEmpty(cfg Config, exec Executor) (*Chain, error) {
	if cfg.GlobalID == 0 {
		cfg.GlobalID = -3
	}
	if cfg.Shards == 0 {
		cfg.Shards = 4
	}
	if cfg.MaxTxPerBlock == 0 {
		cfg.MaxTxPerBlock = 20000
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Blockchain == nil {
		return nil, errors.New("blockchain config is required")
	}
	if cfg.GetMethodConfig == nil {
		cfg.GetMethodConfig = cfg.Blockchain
	}
	limits, err := SizeLimitsFromConfig(cfg.Blockchain)
	if err != nil {
		return nil, err
	}
	gas, err := gasPricesFromConfig(cfg.Blockchain)
	if err != nil {
		return nil, err
	}
	configAddr, err := configAddress(cfg.Blockchain)
	if err != nil {
		return nil, err
	}
	return &Chain{cfg: cfg, exec: exec, log: cfg.Logger, limits: limits, gas: gas, accounts: map[accKey]*account{},
		supply: new(big.Int), configAddr: configAddr,
		byHash: map[[32]byte]*Block{}, byKey: map[blockKey]*Block{}, splits: map[ShardID]bool{}, merges: map[ShardID]bool{},
		newMaster: make(chan struct{}), lt: 1_000_000, mcAccounts: cell.NewDict(256), dirty: map[accKey]*account{}}, nil
}

func (c *Chain) setAccountState(a *account, sa *cell.Cell) error {
	if err := a.setState(sa, nil); err != nil {
		return err
	}
	leaf := shardAccountLeaf(a.info.Balance, sa)
	key := cell.BeginCell().MustStoreSlice(a.addr.Data(), 256).EndCell()
	if a.addr.Workchain() == -1 {
		return c.mcAccounts.Set(key, leaf)
	}
	sh := c.shardFor(a.addr)
	return sh.accounts.Set(key, leaf)
}

// setState records a new ShardAccount; info is parsed unless given.
func (a *account) setState(sa *cell.Cell, info *AccountInfo) error {
	if info == nil {
		var s tlb.ShardAccount
		if err := tlb.LoadFromCell(&s, sa.BeginParse()); err != nil {
			return fmt.Errorf("parse shard account: %w", err)
		}
		parsed, err := ParseAccount(s.Account)
		if err != nil {
			return err
		}
		info = &parsed
	}
	a.shardAccount, a.info = sa, *info
	return nil
}

// flushDirty writes the accounts changed this round into the state
// dictionaries: one batch update per shard, shards in parallel. A destroyed
// account (account_none) leaves the dictionary, as on TON.
func (c *Chain) flushDirty() error {
	if len(c.dirty) == 0 {
		return nil
	}
	type group struct {
		dict    **cell.Dictionary
		entries []hmEntry
	}
	groups := map[**cell.Dictionary]*group{}
	for _, a := range c.dirty {
		d := &c.mcAccounts
		if a.addr.Workchain() != -1 {
			d = &c.shardFor(a.addr).accounts
		}
		g := groups[d]
		if g == nil {
			g = &group{dict: d}
			groups[d] = g
		}
		e := hmEntry{key: a.addr.Data()}
		if a.info.Exists {
			e.val = shardAccountLeaf(a.info.Balance, a.shardAccount).ToBuilder()
		}
		g.entries = append(g.entries, e)
	}
	clear(c.dirty)
	errs := make(chan error, len(groups))
	for _, g := range groups {
		go func() {
			sort.Slice(g.entries, func(i, j int) bool { return string(g.entries[i].key) < string(g.entries[j].key) })
			root, err := updateHashmap((*g.dict).AsCell(), 256, g.entries)
			if err != nil {
				errs <- fmt.Errorf("update account states: %w", err)
				return
			}
			if root == nil {
				*g.dict = cell.NewDict(256)
			} else {
				*g.dict = root.AsDict(256)
			}
			errs <- nil
		}()
	}
	var first error
	for range groups {
		if err := <-errs; err != nil && first == nil {
			first = err
		}
	}
	return first
}

func (c *Chain) shardFor(a *address.Address) *shardChain {
	first := binary.BigEndian.Uint64(a.Data()[:8])
	for _, s := range c.shards {
		if s.id.Contains(first) {
			return s
		}
	}
	panic("tonsim: shards do not cover the workchain") // guarded by split/merge invariants
}

// zeroState creates seqno-0 blocks for the masterchain and every shard.
func (c *Chain) zeroState(now uint32) error {
	zero := make([]byte, 32)
	for _, s := range c.shards {
		st := buildShardState(c.cfg.GlobalID, 0, s.id, 0, now, 0, 0, s.accounts.Copy(), nil)
		h := buildHeader(headerParams{workchain: 0, shard: s.id, genUtime: now,
			prev: []tlb.ExtBlkRef{{RootHash: zero, FileHash: zero}}, master: &tlb.ExtBlkRef{RootHash: zero, FileHash: zero}})
		bc := buildBlock(c.cfg.GlobalID, h, st, st, buildExtra(nil, zero, zero, nil))
		blk := c.finish(0, s.id, 0, bc, st, 0, 0, now, nil, s.accounts.Copy(), BlockFileHash(bc))
		s.top = blk
	}
	mcExtra, mcState, err := c.masterState(0, now, 0)
	if err != nil {
		return err
	}
	h := buildHeader(headerParams{workchain: -1, shard: ShardAll, genUtime: now, keyBlock: true,
		prev: []tlb.ExtBlkRef{{RootHash: zero, FileHash: zero}}})
	bc := buildBlock(c.cfg.GlobalID, h, mcState, mcState, buildExtra(nil, zero, zero, mcExtra))
	blk := c.finish(-1, ShardAll, 0, bc, mcState, 0, 0, now, nil, c.mcAccounts.Copy(), BlockFileHash(bc))
	blk.ShardTops = c.tops()
	c.master = blk
	c.masters = append(c.masters, blk)
	for _, s := range c.shards {
		s.top.MasterSeqno = 0
	}
	return nil
}

func (c *Chain) tops() []*Block {
	out := make([]*Block, len(c.shards))
	for i, s := range c.shards {
		out[i] = s.top
	}
	return out
}

// finish registers a built block. fileHash is BlockFileHash(blk), passed
// in because shard blocks compute it in parallel.
func (c *Chain) finish(wc int32, shard ShardID, seqno uint32, blk, state *cell.Cell, startLT, endLT uint64, utime uint32,
	txs []txInBlock, accounts *cell.Dictionary, fileHash []byte) *Block {
	b := &Block{ID: ton.BlockIDExt{Workchain: wc, Shard: int64(shard), SeqNo: seqno, RootHash: blk.Hash(), FileHash: fileHash},
		Shard: shard, Cell: blk, State: state, StartLT: startLT, EndLT: endLT, GenUtime: utime, Txs: txs, Accounts: accounts}
	var h [32]byte
	copy(h[:], b.ID.RootHash)
	c.byHash[h] = b
	c.byKey[blockKey{wc, shard, seqno}] = b
	return b
}

// masterState builds McBlockExtra and the masterchain state for a new block.
func (c *Chain) masterState(seqno, utime uint32, lt uint64) (*tlb.McBlockExtra, *cell.Cell, error) {
	descs := make([]shardDescr, len(c.shards))
	for i, s := range c.shards {
		descs[i] = shardDescr{id: s.id, seqno: s.top.ID.SeqNo, regMC: seqno, startLT: s.top.StartLT, endLT: s.top.EndLT,
			rootHash: s.top.ID.RootHash, fileHash: s.top.ID.FileHash, genUtime: s.top.GenUtime,
			wantSplit: c.splits[s.id], wantMerge: c.merges[s.id]}
	}
	sh, err := buildShardHashes(descs)
	if err != nil {
		return nil, nil, err
	}
	// McStateExtra (block.tlb): global_balance is the total supply, here
	// all value ever created (tonsim mints and burns nothing else);
	// config_addr repeats config param 0.
	mse := tlb.McStateExtra{ShardHashes: sh, Info: emptyCell, GlobalBalance: tlb.CurrencyCollection{Coins: tlb.FromNanoTON(c.supply)}}
	mse.ConfigParams.ConfigAddr = c.configAddr
	mse.ConfigParams.Config.Params = c.cfg.Blockchain.AsDict(32)
	mseCell := mustToCell(mse)
	st := buildShardState(c.cfg.GlobalID, -1, ShardAll, seqno, utime, lt, seqno, c.mcAccounts.Copy(), mseCell)
	return &tlb.McBlockExtra{ShardHashes: sh, ShardFees: cell.NewDict(96)}, st, nil
}

// Split asks for shard s to split into two at the next block.
func (c *Chain) Split(s ShardID) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, sh := range c.shards {
		if sh.id == s {
			if _, _, err := s.Children(); err != nil {
				return err
			}
			delete(c.merges, s)
			c.splits[s] = true
			return nil
		}
	}
	return fmt.Errorf("no shard %s", s)
}

// Merge asks for shard s and its sibling to merge at the next block.
func (c *Chain) Merge(s ShardID) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	var found, sib bool
	for _, sh := range c.shards {
		found = found || sh.id == s
		sib = sib || sh.id == s.Sibling()
	}
	if s == ShardAll || !found || !sib {
		return fmt.Errorf("shard %s has no sibling to merge with", s)
	}
	delete(c.splits, s)
	delete(c.splits, s.Sibling())
	c.merges[s] = true
	c.merges[s.Sibling()] = true
	return nil
}

// Shards returns the current workchain-0 shard ids.
func (c *Chain) Shards() []ShardID {
	c.mu.RLock()
	defer c.mu.RUnlock()
	out := make([]ShardID, len(c.shards))
	for i, s := range c.shards {
		out[i] = s.id
	}
	return out
}

// GlobalID is the network's global id.
func (c *Chain) GlobalID() int32 { return c.cfg.GlobalID }

// BlockchainConfig is the config dictionary root.
func (c *Chain) BlockchainConfig() *cell.Cell { return c.cfg.Blockchain }

// SizeLimits are the limits of config param 43 the chain enforces.
func (c *Chain) SizeLimits() SizeLimits { return c.limits }

// TxCount is the number of transactions produced so far.
func (c *Chain) TxCount() uint64 {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.txCount
}

// ProduceBlock runs one round: executes queued messages and produces a block
// for every shard plus the masterchain block that references them.
func (c *Chain) ProduceBlock(ctx context.Context) (*Block, error) {
	c.prodMu.Lock()
	defer c.prodMu.Unlock()
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.produce(ctx)
}

func (c *Chain) produce(ctx context.Context) (*Block, error) {
	now := uint32(c.cfg.Now().Unix())
	if now < c.master.GenUtime {
		now = c.master.GenUtime
	}
	mcSeqno := c.master.ID.SeqNo + 1
	seed := sha256.Sum256(append(append([]byte{}, c.master.ID.RootHash...), byte(mcSeqno), byte(mcSeqno>>8), byte(mcSeqno>>16), byte(mcSeqno>>24)))
	prevMaster := c.master

	// Shard layout changes happen at the start of a round: children start
	// from the parent's last block (after_split), a merged shard from both.
	type origin struct {
		prev       []*Block
		afterSplit bool
		afterMerge bool
	}
	origins := map[ShardID]origin{}
	var next []*shardChain
	for i := 0; i < len(c.shards); i++ {
		s := c.shards[i]
		switch {
		case c.splits[s.id]:
			l, r, _ := s.id.Children()
			ls, rs := &shardChain{id: l, accounts: cell.NewDict(256)}, &shardChain{id: r, accounts: cell.NewDict(256)}
			kvs, err := s.accounts.LoadAll()
			if err != nil {
				return nil, fmt.Errorf("split %s: %w", s.id, err)
			}
			for _, kv := range kvs {
				k := kv.Key.MustToCell()
				first := binary.BigEndian.Uint64(k.BeginParse().MustLoadSlice(64))
				dst := rs
				if l.Contains(first) {
					dst = ls
				}
				if err := dst.accounts.Set(k, kv.Value.MustToCell()); err != nil {
					return nil, fmt.Errorf("split %s: %w", s.id, err)
				}
			}
			origins[l] = origin{prev: []*Block{s.top}, afterSplit: true}
			origins[r] = origin{prev: []*Block{s.top}, afterSplit: true}
			next = append(next, ls, rs)
			delete(c.splits, s.id)
		case c.merges[s.id] && s.id.IsLeft() && i+1 < len(c.shards) && c.shards[i+1].id == s.id.Sibling():
			r := c.shards[i+1]
			m := &shardChain{id: s.id.Parent(), accounts: s.accounts.Copy()}
			kvs, err := r.accounts.LoadAll()
			if err != nil {
				return nil, fmt.Errorf("merge %s: %w", s.id, err)
			}
			for _, kv := range kvs {
				if err := m.accounts.Set(kv.Key.MustToCell(), kv.Value.MustToCell()); err != nil {
					return nil, fmt.Errorf("merge %s: %w", s.id, err)
				}
			}
			origins[m.id] = origin{prev: []*Block{s.top, r.top}, afterMerge: true}
			next = append(next, m)
			delete(c.merges, s.id)
			delete(c.merges, r.id)
			i++
		default:
			origins[s.id] = origin{prev: []*Block{s.top}}
			next = append(next, s)
		}
	}
	c.shards = next

	startLT := c.lt
	txs, err := c.runQueue(ctx, now, seed[:])
	if err != nil {
		return nil, err
	}
	c.lt++
	endLT := c.lt
	if err := c.flushDirty(); err != nil {
		return nil, err
	}

	masterRef := &tlb.ExtBlkRef{EndLt: prevMaster.EndLT, SeqNo: prevMaster.ID.SeqNo, RootHash: prevMaster.ID.RootHash, FileHash: prevMaster.ID.FileHash}
	// Shard blocks are independent: build them in parallel, register them
	// (map writes) afterwards.
	type built struct {
		seqno      uint32
		blk, state *cell.Cell
		fileHash   []byte
		txs        []txInBlock
		accounts   *cell.Dictionary
	}
	out := make([]built, len(c.shards))
	var wg sync.WaitGroup
	// Built from copies: queries are answered meanwhile (the round's
	// executed transactions stay unlisted until their block is bound).
	for i, s := range c.shards {
		o := origins[s.id]
		var seqno uint32
		var prevRefs []tlb.ExtBlkRef
		for _, p := range o.prev {
			if p.ID.SeqNo >= seqno {
				seqno = p.ID.SeqNo
			}
			prevRefs = append(prevRefs, tlb.ExtBlkRef{EndLt: p.EndLT, SeqNo: p.ID.SeqNo, RootHash: p.ID.RootHash, FileHash: p.ID.FileHash})
		}
		seqno++
		hp := headerParams{workchain: 0, shard: s.id, seqno: seqno, genUtime: now, startLT: startLT, endLT: endLT,
			afterMerge: o.afterMerge, afterSplit: o.afterSplit, wantSplit: c.splits[s.id], wantMerge: c.merges[s.id],
			minRefMC: prevMaster.ID.SeqNo, prev: prevRefs, master: masterRef}
		mine := txs[blockKey{0, s.id, 0}]
		accounts := s.accounts.Copy()
		oldState := o.prev[0].State
		wg.Add(1)
		go func() {
			defer wg.Done()
			state := buildShardState(c.cfg.GlobalID, 0, s.id, seqno, now, endLT, prevMaster.ID.SeqNo, accounts, nil)
			blk := buildBlock(c.cfg.GlobalID, buildHeader(hp), oldState, state, buildExtra(mine, seed[:], make([]byte, 32), nil))
			out[i] = built{seqno: seqno, blk: blk, state: state, fileHash: BlockFileHash(blk), txs: mine, accounts: accounts}
		}()
	}
	c.mu.Unlock()
	wg.Wait()
	c.mu.Lock()
	for i, s := range c.shards {
		b := out[i]
		s.top = c.finish(0, s.id, b.seqno, b.blk, b.state, startLT, endLT, now, b.txs, b.accounts, b.fileHash)
		c.bindTxs(s.top)
	}

	mcStart := c.lt
	c.lt++
	mcExtra, mcState, err := c.masterState(mcSeqno, now, c.lt)
	if err != nil {
		return nil, err
	}
	mine := txs[blockKey{-1, ShardAll, 0}]
	hdr := buildHeader(headerParams{workchain: -1, shard: ShardAll, seqno: mcSeqno, genUtime: now, startLT: mcStart, endLT: c.lt,
		minRefMC: prevMaster.ID.SeqNo, prev: []tlb.ExtBlkRef{{EndLt: prevMaster.EndLT, SeqNo: prevMaster.ID.SeqNo,
			RootHash: prevMaster.ID.RootHash, FileHash: prevMaster.ID.FileHash}}})
	blk := buildBlock(c.cfg.GlobalID, hdr, prevMaster.State, mcState, buildExtra(mine, seed[:], make([]byte, 32), mcExtra))
	mb := c.finish(-1, ShardAll, mcSeqno, blk, mcState, mcStart, c.lt, now, mine, c.mcAccounts.Copy(), BlockFileHash(blk))
	mb.ShardTops = c.tops()
	mb.MasterSeqno = mcSeqno
	c.bindTxs(mb)
	for _, s := range c.shards {
		c.markFinal(s.top, mcSeqno)
	}
	c.master = mb
	c.masters = append(c.masters, mb)
	close(c.newMaster)
	c.newMaster = make(chan struct{})
	return mb, nil
}

// markFinal records the first masterchain block that references b and its
// not yet referenced ancestors.
func (c *Chain) markFinal(b *Block, mc uint32) {
	if b.MasterSeqno != 0 || b.ID.SeqNo == 0 {
		return
	}
	b.MasterSeqno = mc
}

func (c *Chain) bindTxs(b *Block) {
	for _, t := range b.Txs {
		a := c.accounts[accKey{b.ID.Workchain, t.account}]
		for i := len(a.txs) - 1; i >= 0; i-- {
			if a.txs[i].LT == t.lt {
				a.txs[i].Block = b
				break
			}
		}
	}
}

// runQueue executes queued messages in order, breadth first, until the queue
// is empty or the round's budget is used; the rest waits for the next round.
// As a collator takes external messages from the mempool when it starts a
// block, messages that arrive while the round runs (queries and sends are
// answered meanwhile) wait for the next round: a round that kept taking
// them would grow with the traffic, and nothing of it would be visible
// until it ended.
func (c *Chain) runQueue(ctx context.Context, now uint32, seed []byte) (map[blockKey][]txInBlock, error) {
	out := map[blockKey][]txInBlock{}
	work := c.queue
	c.queue = nil
	defer func() { c.queue, c.inRound = append(work, c.queue...), 0 }()
	n := 0
	for len(work) > 0 && n < c.cfg.MaxTxPerBlock {
		q := work[0]
		work = work[1:]
		c.inRound = len(work) + 1
		tx, outs, err := c.apply(ctx, q, now, seed)
		if err != nil {
			// An external message can stop being acceptable between
			// sendMessage and the block (a replay, a seqno already used):
			// TON drops it too. Anything else is logged and dropped
			// rather than halting the chain.
			level := slog.LevelWarn
			if q.external {
				level = slog.LevelDebug
			}
			c.log.Log(ctx, level, "message dropped", "dst", q.dst.String(), "external", q.external, "err", err)
			continue
		}
		n++
		k := blockKey{0, 0, 0}
		if q.dst.Workchain() == -1 {
			k = blockKey{-1, ShardAll, 0}
		} else {
			k.shard = c.shardFor(q.dst).id
		}
		out[k] = append(out[k], tx)
		for _, m := range outs {
			work = append(work, queued{dst: m.dst, msg: m.msg, depth: q.depth + 1})
		}
	}
	for _, list := range out {
		sort.SliceStable(list, func(i, j int) bool {
			if list[i].account != list[j].account {
				return string(list[i].account[:]) < string(list[j].account[:])
			}
			return list[i].lt < list[j].lt
		})
	}
	return out, nil
}

type routed struct {
	dst *address.Address
	msg *cell.Cell
}

// nativeCredit reports whether q is a message TON only credits: internal,
// not bounceable, no state init, TON only, into an account that does not
// exist, and enough value to buy gas (below it the compute phase is
// skipped for want of gas, not of state). Such a transaction is built
// natively, bit for bit what the emulator builds
// (TestNativeCreditMatchesEmulator), at a fraction of the cost: a
// withdrawal batch sends hundreds of them. in receives the message.
func (c *Chain) nativeCredit(a *account, q queued, in **tlb.InternalMessage) bool {
	if q.external || a.info.Exists || q.dst.Workchain() != 0 {
		return false
	}
	var m tlb.Message
	if err := tlb.LoadFromCell(&m, q.msg.BeginParse()); err != nil || m.MsgType != tlb.MsgTypeInternal {
		return false
	}
	im := m.AsInternal()
	if im.Bounce || im.StateInit != nil || (im.ExtraCurrencies != nil && !im.ExtraCurrencies.IsEmpty()) || !c.gas.buysGas(im.Amount.Nano()) {
		return false
	}
	*in = im
	return true
}

// apply executes one message and commits its effects to the current state.
func (c *Chain) apply(ctx context.Context, q queued, now uint32, seed []byte) (txInBlock, []routed, error) {
	dst, msg := q.dst, q.msg
	k := keyOf(dst)
	a := c.accounts[k]
	if a == nil {
		a = &account{addr: dst, shardAccount: shardAccountCell(noneAccount, nil, 0), info: AccountInfo{Balance: new(big.Int)}}
	}
	p := ExecParams{UTime: now, LT: c.lt, RandSeed: seed, Config: c.cfg.Blockchain, Libs: c.librariesCell()}
	var res *ExecResult
	var err error
	if in := q.bulk; in != nil || c.nativeCredit(a, q, &in) {
		res, err = bulkExecute(a, msg, in, p)
	} else {
		// Emulation is most of a round: let queries in meanwhile. Only
		// rounds change accounts, and they run one at a time (prodMu).
		sa := a.shardAccount
		c.mu.Unlock()
		res, err = c.exec.Execute(ctx, sa, msg, p)
		c.mu.Lock()
	}
	if err != nil {
		return txInBlock{}, nil, err
	}
	if !res.Success {
		return txInBlock{}, nil, fmt.Errorf("%w: %s (exit code %d)", ErrNotAccepted, res.Error, res.ExitCode)
	}
	var tx tlb.Transaction
	fees := new(big.Int) // bulk transactions (res.info set) charge none
	if res.info != nil {
		tx.LT = res.lt
	} else if err := tlb.LoadFromCell(&tx, res.Transaction.BeginParse()); err != nil {
		return txInBlock{}, nil, fmt.Errorf("parse transaction: %w", err)
	} else {
		fees = tx.TotalFees.Coins.Nano()
	}
	old := accountHash(a.shardAccount)
	if err := a.setState(res.ShardAccount, res.info); err != nil {
		return txInBlock{}, nil, err
	}
	c.accounts[k] = a
	c.dirty[k] = a
	if k.wc == -1 {
		// A masterchain account may have published or dropped a library.
		if err := c.refreshLibraries(); err != nil {
			return txInBlock{}, nil, err
		}
	}
	ref := &TxRef{LT: tx.LT, Hash: res.Transaction.Hash(), Cell: res.Transaction}
	a.txs = append(a.txs, ref)
	c.txCount++
	if q.bulk != nil {
		c.supply.Add(c.supply, q.bulk.Amount.Nano())
	}
	var outs []routed
	if tx.IO.Out != nil && tx.IO.Out.List != nil {
		kvs, err := tx.IO.Out.List.LoadAll()
		if err != nil {
			return txInBlock{}, nil, fmt.Errorf("out messages: %w", err)
		}
		cells := make([]*cell.Cell, len(kvs))
		for _, kv := range kvs {
			idx := kv.Key.MustLoadUInt(15)
			if int(idx) >= len(cells) {
				return txInBlock{}, nil, fmt.Errorf("out message index %d out of range", idx)
			}
			cells[idx] = kv.Value.MustLoadRef().MustToCell()
		}
		for _, mc := range cells {
			var m tlb.Message
			if err := tlb.LoadFromCell(&m, mc.BeginParse()); err != nil {
				return txInBlock{}, nil, fmt.Errorf("out message: %w", err)
			}
			if m.MsgType == tlb.MsgTypeInternal {
				outs = append(outs, routed{dst: m.AsInternal().DstAddr, msg: mc})
			}
		}
	}
	if end := tx.LT + uint64(len(outs)) + 2; end > c.lt {
		c.lt = end
	}
	return txInBlock{account: k.addr, lt: tx.LT, cell: res.Transaction, old: old, new: accountHash(a.shardAccount), fees: fees}, outs, nil
}

func accountHash(sa *cell.Cell) []byte {
	ref, err := sa.BeginParse().LoadRef()
	if err != nil {
		return make([]byte, 32)
	}
	return ref.MustToCell().Hash()
}

// SendExternal validates an inbound external message against the current
// state (as a liteserver does) and queues it for the next block.
func (c *Chain) SendExternal(ctx context.Context, boc []byte) error {
	return c.SendExternalAt(ctx, boc, nil)
}

// SendExternalAt is SendExternal on a liteserver whose newest masterchain
// block is at (nil = the chain's newest): a lagging node checks the message
// against its stale copy of the account and forwards it all the same, and
// the block that includes it runs it against the current state.
func (c *Chain) SendExternalAt(ctx context.Context, msgBOC []byte, at *ton.BlockIDExt) error {
	// The validator's checks, in its order: BoC size before parsing, then
	// the root's depth (validator/impl/external-message.cpp).
	if len(msgBOC) > int(c.limits.MaxExtMsgSize) {
		return fmt.Errorf("%w: %d bytes, the limit is %d", ErrExtMsgTooLarge, len(msgBOC), c.limits.MaxExtMsgSize)
	}
	msgCell, err := boc.Parse(msgBOC)
	if err != nil {
		return fmt.Errorf("bad message boc: %w", err)
	}
	if d := msgCell.Depth(); d >= c.limits.MaxExtMsgDepth {
		return fmt.Errorf("%w: depth %d, the limit is below %d", ErrExtMsgTooDeep, d, c.limits.MaxExtMsgDepth)
	}
	var msg tlb.Message
	if err := msg.LoadFromCell(msgCell.BeginParse()); err != nil {
		return fmt.Errorf("bad message: %w", err)
	}
	if msg.MsgType != tlb.MsgTypeExternalIn {
		return errors.New("not an inbound external message")
	}
	dst := msg.AsExternalIn().DstAddr
	sa := shardAccountCell(noneAccount, nil, 0)
	c.mu.RLock()
	now, lt := uint32(c.cfg.Now().Unix()), c.lt
	if now < c.master.GenUtime {
		now = c.master.GenUtime
	}
	if a := c.accounts[keyOf(dst)]; a != nil && at == nil {
		sa = a.shardAccount
	}
	libs := c.librariesCell()
	c.mu.RUnlock()
	if at != nil {
		v, err := c.AccountAt(at, dst)
		if err != nil {
			return fmt.Errorf("account state at %d: %w", at.SeqNo, err)
		}
		if v.ShardAccount != nil {
			sa = v.ShardAccount
		}
	}
	res, err := c.exec.Execute(ctx, sa, msgCell, ExecParams{UTime: now, LT: lt, RandSeed: make([]byte, 32), Config: c.cfg.Blockchain, Libs: libs})
	if err != nil {
		return err
	}
	if !res.Success {
		return fmt.Errorf("%w: %s (exit code %d)", ErrNotAccepted, res.Error, res.ExitCode)
	}
	c.mu.Lock()
	c.queue = append(c.queue, queued{dst: dst, msg: msgCell, external: true})
	c.mu.Unlock()
	return nil
}

// QueueLen is the number of messages waiting for a block, those of the
// round being made included.
func (c *Chain) QueueLen() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.queue) + c.inRound
}
