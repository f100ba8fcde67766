package withdrawals

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"time"

	"github.com/xssnick/tonutils-go/address"
	"github.com/xssnick/tonutils-go/tlb"
	"github.com/xssnick/tonutils-go/ton/wallet"
	"github.com/xssnick/tonutils-go/tvm/cell"
)

// What a hot wallet batch may be and what it costs.
//
// Validators refuse an external message over max_ext_msg_size (65535
// bytes), max_msg_cells (8192) or max_ext_msg_depth (512) of config param
// 43; a refused batch would be re-sent and refused until it expires, and
// then batched again the same way. Batches are cut well under the limits,
// measured on the final signed bag of cells.
const (
	MaxExternalBytes = 60_000
	MaxExternalCells = 7_000
	MaxExternalDepth = 400
)

// tonutils-go v1.12.0 (ton/wallet/highloadv3.go) sends more than one
// message as one internal message to the wallet itself (op 0xae42e5a4)
// carrying the list, with 253 messages per list and the rest nested in a
// further such message. Each of those messages carries the values of all
// it holds plus 0.007 TON per list entry plus 0.01 TON for processing, and
// the wallet pays its forward fee on top: all of that must be on the
// balance when the external runs, or the wallet skips the wrapper (mode +2)
// and nothing is paid although the external executed.
const packPerList = 253

var (
	packPerEntry = tlb.MustFromTON("0.007").Nano()
	packFixed    = tlb.MustFromTON("0.01").Nano()
)

// Gas bounds (units) of the highload v3 wallet's transactions: the
// external (signature, replay dictionary, commit) and a packed list to
// itself (set_actions). Measured well below these on the emulator.
const (
	externalGas = 20_000
	packGas     = 10_000
)

// feePrices are the basechain's message forward prices (config param 25)
// and gas prices (param 21), in the config's units (1/65536 nanoton per
// bit, cell and gas unit).
type feePrices struct {
	lump, bitPrice, cellPrice *big.Int
	flatGas, flatGasPrice     *big.Int
	gasPrice                  *big.Int
}

// defaultPrices are mainnet's basechain prices (those of the emulator's
// config too), used when the chain's config cannot be read.
func defaultPrices() feePrices {
	return feePrices{lump: big.NewInt(400_000), bitPrice: big.NewInt(26_214_400), cellPrice: big.NewInt(2_621_440_000),
		flatGas: big.NewInt(100), flatGasPrice: big.NewInt(40_000), gasPrice: big.NewInt(26_214_400)}
}

var frac16 = big.NewInt(1 << 16)

// ceilShift16 is ceil(v / 2^16).
func ceilShift16(v *big.Int) *big.Int {
	q, m := new(big.Int).QuoRem(v, frac16, new(big.Int))
	if m.Sign() > 0 {
		q.Add(q, big.NewInt(1))
	}
	return q
}

// sizeFee is the size part of a forward fee for cells/bits.
func (p feePrices) sizeFee(s treeSize) *big.Int {
	v := new(big.Int).Mul(p.bitPrice, big.NewInt(s.bits))
	v.Add(v, new(big.Int).Mul(p.cellPrice, big.NewInt(s.cells)))
	return ceilShift16(v)
}

// fwdFee is the forward (or import) fee of a message of that size: every
// cell is counted, the root too, which errs high by one cell.
func (p feePrices) fwdFee(s treeSize) *big.Int {
	return new(big.Int).Add(p.lump, p.sizeFee(s))
}

func (p feePrices) gasFee(gas int64) *big.Int {
	v := new(big.Int).Set(p.flatGasPrice)
	if extra := gas - p.flatGas.Int64(); extra > 0 {
		v.Add(v, ceilShift16(new(big.Int).Mul(p.gasPrice, big.NewInt(extra))))
	}
	return v
}

// parseFeePrices reads params 21 and 25 as GetBlockchainConfig returns
// them (the values' cells).
func parseFeePrices(gas, fwd *cell.Cell) (feePrices, error) {
	if gas == nil || fwd == nil {
		return feePrices{}, errors.New("config params 21 and 25 are needed")
	}
	p := feePrices{flatGas: new(big.Int), flatGasPrice: new(big.Int)}
	// msg_forward_prices#ea lump_price:uint64 bit_price:uint64 cell_price:uint64 ...
	s := fwd.BeginParse()
	if tag, err := s.LoadUInt(8); err != nil || tag != 0xea {
		return feePrices{}, fmt.Errorf("config param 25: not msg_forward_prices (%v)", err)
	}
	var err error
	for _, dst := range []**big.Int{&p.lump, &p.bitPrice, &p.cellPrice} {
		if *dst, err = s.LoadBigUInt(64); err != nil {
			return feePrices{}, fmt.Errorf("config param 25: %w", err)
		}
	}
	// gas_flat_pfx#d1 flat_gas_limit:uint64 flat_gas_price:uint64 other:GasLimitsPrices;
	// gas_prices#dd / gas_prices_ext#de gas_price:uint64 ...
	s = gas.BeginParse()
	tag, err := s.LoadUInt(8)
	if err != nil {
		return feePrices{}, fmt.Errorf("config param 21: %w", err)
	}
	if tag == 0xd1 {
		if p.flatGas, err = s.LoadBigUInt(64); err != nil {
			return feePrices{}, fmt.Errorf("config param 21: %w", err)
		}
		if p.flatGasPrice, err = s.LoadBigUInt(64); err != nil {
			return feePrices{}, fmt.Errorf("config param 21: %w", err)
		}
		if tag, err = s.LoadUInt(8); err != nil {
			return feePrices{}, fmt.Errorf("config param 21: %w", err)
		}
	}
	if tag != 0xdd && tag != 0xde {
		return feePrices{}, fmt.Errorf("config param 21: unknown gas prices constructor %#x", tag)
	}
	if p.gasPrice, err = s.LoadBigUInt(64); err != nil {
		return feePrices{}, fmt.Errorf("config param 21: %w", err)
	}
	return p, nil
}

// pricesTTL is how long the chain's prices are kept: they change by
// validator vote, rarely.
const pricesTTL = 10 * time.Minute

// prices returns the basechain prices, read from the chain at most every
// pricesTTL; the last known (or mainnet's) prices when that fails.
func (w *Worker) prices(ctx context.Context) feePrices {
	if w.feePrices.lump != nil && time.Since(w.feePricesAt) < pricesTTL {
		return w.feePrices
	}
	p, err := w.readPrices(ctx)
	if err != nil {
		if w.feePrices.lump != nil {
			return w.feePrices
		}
		w.log.Warn("cannot read fee prices from the chain; reserving with mainnet's", "err", err)
		return defaultPrices()
	}
	w.feePrices, w.feePricesAt = p, time.Now()
	return p
}

func (w *Worker) readPrices(ctx context.Context) (feePrices, error) {
	head, err := w.chain.MasterHead(ctx)
	if err != nil {
		return feePrices{}, fmt.Errorf("fee prices: %w", err)
	}
	cfg, err := w.chain.API().GetBlockchainConfig(ctx, head, 21, 25)
	if err != nil {
		return feePrices{}, fmt.Errorf("fee prices: %w", err)
	}
	return parseFeePrices(cfg.Get(21), cfg.Get(25))
}

// treeSize counts a cell tree as a message fee counts it: cells and data
// bits, each distinct cell once (a bag of cells stores it once).
type treeSize struct{ cells, bits int64 }

func sizeOf(c *cell.Cell) treeSize {
	var s treeSize
	seen := map[string]struct{}{}
	var walk func(*cell.Cell)
	walk = func(c *cell.Cell) {
		k := string(c.Hash())
		if _, ok := seen[k]; ok {
			return
		}
		seen[k] = struct{}{}
		s.cells++
		s.bits += int64(c.BitsSize())
		for i := 0; i < int(c.RefsNum()); i++ {
			walk(c.MustPeekRef(i))
		}
	}
	walk(c)
	return s
}

// bocBytes bounds what a tree adds to a bag of cells with 2-byte
// references (fewer than 65536 cells): 2 descriptor bytes, the data and
// the references of each cell, counted without deduplication.
func bocBytes(c *cell.Cell) int {
	n := 2 + int(c.BitsSize()+7)/8 + 2*int(c.RefsNum())
	for i := 0; i < int(c.RefsNum()); i++ {
		n += bocBytes(c.MustPeekRef(i))
	}
	return n
}

// A list entry: out_list$_ prev:^OutList action_send_msg#0ec3c86d mode:uint8
// out_msg:^Message, one cell of 40 bits and two references.
var listEntry = treeSize{cells: 1, bits: 40}

const listEntryBytes = 2 + 5 + 4

// packLevels is how many packed lists carry n messages (0: one message
// goes out directly).
func packLevels(n int) int {
	if n <= 1 {
		return 0
	}
	return 1 + (n-2)/packPerList
}

// batchItem is one message of a batch being built, with what it may cost
// and take up.
type batchItem struct {
	msg   *wallet.Message
	value *big.Int // TON the message carries
	size  treeSize // the message tree plus its list entry
	bytes int      // its share of the external's bag of cells, bound
	depth int      // depth of the message tree
}

func newBatchItem(m *wallet.Message) (batchItem, error) {
	c, err := tlb.ToCell(m.InternalMessage)
	if err != nil {
		return batchItem{}, fmt.Errorf("serialize message: %w", err)
	}
	s := sizeOf(c)
	s.cells += listEntry.cells
	s.bits += listEntry.bits
	return batchItem{msg: m, value: m.InternalMessage.Amount.Nano(), size: s, bytes: bocBytes(c) + listEntryBytes, depth: int(c.Depth())}, nil
}

// Per pack level, the wrapper message and its body: a bound of their
// cells, bits and bag of cells bytes (address, coins, header, op, query id,
// references) plus the list entry that carries a nested one.
var packOverhead = treeSize{cells: 3, bits: 700 + 96 + 40}

const packOverheadBytes = 200

// External overhead: signature cell, signed payload, and the bag of cells
// header; with the state init of a first (deploying) message, the
// wallet's code and data.
const (
	externalOverheadBytes = 200
	stateInitBytes        = 1_200
)

var (
	externalOverhead = treeSize{cells: 2, bits: 512 + 32 + 8 + 23 + 64 + 22}
	stateInitSize    = treeSize{cells: 20, bits: 9_000}
)

// batchBudget is what a batch being built has taken so far: the bound of
// its TON reserve (sizes counted as if the batch had maxLevels levels)
// and of its size.
type batchBudget struct {
	prices    feePrices
	maxLevels int64
	n         int
	bytes     int
	cells     int64
	depth     int
	// values and fees of the items (fees before the margin).
	values, fees *big.Int
	deploy       bool
}

func newBudget(p feePrices, maxMessages int, deploy bool) *batchBudget {
	b := &batchBudget{prices: p, maxLevels: int64(packLevels(maxMessages)), values: new(big.Int), fees: new(big.Int), deploy: deploy,
		bytes: externalOverheadBytes, cells: externalOverhead.cells}
	if deploy {
		b.bytes += stateInitBytes
		b.cells += stateInitSize.cells
	}
	return b
}

// itemFees bounds the fees one message adds: its own forward fee, and its
// size in the external's import fee and in every wrapper that carries it.
func (b *batchBudget) itemFees(it batchItem) *big.Int {
	f := b.prices.fwdFee(it.size)
	return f.Add(f, new(big.Int).Mul(b.prices.sizeFee(it.size), big.NewInt(b.maxLevels+1)))
}

// fixedFees bounds the fees of a batch apart from its messages': the
// external's gas, import lump and overhead, and per level the wrapper's
// gas, forward fee lump and overhead carried by every outer level.
func (b *batchBudget) fixedFees(levels int64) *big.Int {
	p := b.prices
	ext := externalOverhead
	if b.deploy {
		ext.cells += stateInitSize.cells
		ext.bits += stateInitSize.bits
	}
	f := new(big.Int).Add(p.gasFee(externalGas), p.fwdFee(ext))
	per := new(big.Int).Add(p.gasFee(packGas), p.fwdFee(packOverhead))
	per.Add(per, new(big.Int).Mul(p.sizeFee(packOverhead), big.NewInt(levels+1)))
	return f.Add(f, per.Mul(per, big.NewInt(levels)))
}

// withMargin is a fee bound plus half: prices or gas may be somewhat
// above what was counted.
func withMargin(fees *big.Int) *big.Int {
	return new(big.Int).Add(fees, new(big.Int).Rsh(fees, 1))
}

// reserveWith bounds the batch's TON reserve if it also held it (nil: as
// it is).
func (b *batchBudget) reserveWith(it *batchItem) *big.Int {
	n, values, fees := b.n, new(big.Int).Set(b.values), new(big.Int).Set(b.fees)
	if it != nil {
		n++
		values.Add(values, it.value)
		fees.Add(fees, b.itemFees(*it))
	}
	levels := int64(packLevels(n))
	fees.Add(fees, b.fixedFees(levels))
	// Values the wrappers carry for their own processing: 0.007 TON per
	// entry (the messages and the nested wrappers) and 0.01 TON each.
	if levels > 0 {
		entries := big.NewInt(int64(n) + levels - 1)
		values.Add(values, new(big.Int).Mul(packPerEntry, entries))
		values.Add(values, new(big.Int).Mul(packFixed, big.NewInt(levels)))
	}
	return values.Add(values, withMargin(fees))
}

// fits reports whether the batch can also hold it within the size limits.
func (b *batchBudget) fits(it batchItem) bool {
	levels := packLevels(b.n + 1)
	bytes := b.bytes + it.bytes + levels*packOverheadBytes
	cells := b.cells + it.size.cells + int64(levels)*packOverhead.cells
	// A list is a chain of entries, the first message at its bottom;
	// nested wrappers hang near the top of their parent's list.
	depth := max(b.depth, it.depth) + 4 + min(b.n+1, packPerList) + 4*levels
	return bytes <= MaxExternalBytes && cells <= MaxExternalCells && depth <= MaxExternalDepth
}

func (b *batchBudget) add(it batchItem) {
	b.n++
	b.depth = max(b.depth, it.depth)
	b.bytes += it.bytes
	b.cells += it.size.cells
	b.values.Add(b.values, it.value)
	b.fees.Add(b.fees, b.itemFees(it))
}

// externalReserve is what a signed batch needs on the hot wallet's balance
// from the moment its external runs until its last wrapper has: the value
// the external sends (the messages' values and the wrappers' own), and the
// fees of the external, of each wrapper and of each message, plus the
// margin. It reads the signed message itself (ext, with its body), so it
// is exact up to gas.
func externalReserve(p feePrices, ext, body *cell.Cell, hot *address.Address) (*big.Int, error) {
	// body: signature:bits512 ^[subwallet:uint32 ^msg mode:uint8 ...]
	payload, err := body.PeekRef(0)
	if err != nil {
		return nil, fmt.Errorf("external without payload: %w", err)
	}
	root, err := payload.PeekRef(0)
	if err != nil {
		return nil, fmt.Errorf("external without message: %w", err)
	}
	var m tlb.InternalMessage
	if err := tlb.LoadFromCell(&m, root.BeginParse()); err != nil {
		return nil, fmt.Errorf("external's message: %w", err)
	}
	fees := new(big.Int).Add(p.gasFee(externalGas), p.fwdFee(sizeOf(ext)))
	fees.Add(fees, p.fwdFee(sizeOf(root)))
	var walk func(m *tlb.InternalMessage) error
	walk = func(m *tlb.InternalMessage) error {
		if m.DstAddr == nil || !m.DstAddr.Equals(hot) || m.Body == nil {
			return nil
		}
		actions, err := packActions(m.Body)
		if err != nil {
			return err
		}
		fees.Add(fees, p.gasFee(packGas))
		for _, a := range actions {
			fees.Add(fees, p.fwdFee(sizeOf(a)))
			var am tlb.InternalMessage
			if err := tlb.LoadFromCell(&am, a.BeginParse()); err != nil {
				return fmt.Errorf("packed message: %w", err)
			}
			if err := walk(&am); err != nil {
				return err
			}
		}
		return nil
	}
	if err := walk(&m); err != nil {
		return nil, err
	}
	return new(big.Int).Add(m.Amount.Nano(), withMargin(fees)), nil
}

// errNotPack: a body that is not a highload v3 packed action list.
var errNotPack = errors.New("not a packed action list")

// packActions returns the messages of a packed list (op 0xae42e5a4,
// query_id:uint64, ^OutList), first to last.
func packActions(body *cell.Cell) ([]*cell.Cell, error) {
	s := body.BeginParse()
	if op, err := s.LoadUInt(32); err != nil || op != opHighloadPack {
		return nil, errNotPack
	}
	if _, err := s.LoadUInt(64); err != nil {
		return nil, errNotPack
	}
	list, err := s.LoadRef()
	if err != nil {
		return nil, errNotPack
	}
	// out_list$_ prev:^(OutList n) action:OutAction, the last action at
	// the root; action_send_msg#0ec3c86d mode:uint8 out_msg:^Message.
	var out []*cell.Cell
	for cur := list; cur.BitsLeft() > 0 || cur.RefsNum() > 0; {
		prev, err := cur.LoadRef()
		if err != nil {
			return nil, fmt.Errorf("packed list: %w", err)
		}
		tag, err := cur.LoadUInt(32)
		if err != nil {
			return nil, fmt.Errorf("packed list: %w", err)
		}
		if tag == 0x0ec3c86d {
			if _, err := cur.LoadUInt(8); err != nil {
				return nil, fmt.Errorf("packed list: %w", err)
			}
			m, err := cur.LoadRefCell()
			if err != nil {
				return nil, fmt.Errorf("packed list: %w", err)
			}
			out = append(out, m)
		}
		cur = prev
	}
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out, nil
}
