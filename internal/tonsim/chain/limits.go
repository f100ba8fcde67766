package chain

import (
	"errors"
	"fmt"
	"math/big"

	"github.com/xssnick/tonutils-go/tvm/cell"
)

// SizeLimits are the message limits of config param 43 (SizeLimitsConfig)
// that matter to tonsim. Validators refuse an inbound external message whose
// BoC is longer than MaxExtMsgSize bytes or whose root cell is MaxExtMsgDepth
// deep or deeper (validator/impl/external-message.cpp); the emulator applies
// MaxMsgBits/MaxMsgCells to inbound and outgoing messages itself.
type SizeLimits struct {
	MaxMsgBits      uint32
	MaxMsgCells     uint32
	MaxLibraryCells uint32
	MaxVMDataDepth  uint16
	MaxExtMsgSize   uint32 // bytes of the serialized bag of cells
	MaxExtMsgDepth  uint16 // a root cell this deep or deeper is refused
}

// DefaultSizeLimits are the node's defaults when param 43 is absent
// (crypto/block/mc-config.h SizeLimitsConfig), which are also mainnet's
// values (docs.ton.org, "Blockchain limits").
func DefaultSizeLimits() SizeLimits {
	return SizeLimits{MaxMsgBits: 1 << 21, MaxMsgCells: 1 << 13, MaxLibraryCells: 1000, MaxVMDataDepth: 512,
		MaxExtMsgSize: 65535, MaxExtMsgDepth: 512}
}

// Size limits config constructors: size_limits_config#01 and
// size_limits_config_v2#02 share the leading fields tonsim reads.
const (
	sizeLimitsV1 = 0x01
	sizeLimitsV2 = 0x02
)

// Cell encodes l as size_limits_config#01. Every node version parses v1;
// the fields v2 appends have changed between releases (the bundled emulator
// refuses the v2 layouts in the public block.tlb), and when v1 is given the
// node takes its defaults for them, which equal mainnet's.
func (l SizeLimits) Cell() *cell.Cell {
	return cell.BeginCell().MustStoreUInt(sizeLimitsV1, 8).
		MustStoreUInt(uint64(l.MaxMsgBits), 32).MustStoreUInt(uint64(l.MaxMsgCells), 32).
		MustStoreUInt(uint64(l.MaxLibraryCells), 32).MustStoreUInt(uint64(l.MaxVMDataDepth), 16).
		MustStoreUInt(uint64(l.MaxExtMsgSize), 32).MustStoreUInt(uint64(l.MaxExtMsgDepth), 16).EndCell()
}

// SizeLimitsFromConfig reads param 43 from a config dictionary root
// (HashmapE 32 ^Cell); the defaults when the param is absent.
func SizeLimitsFromConfig(cfg *cell.Cell) (SizeLimits, error) {
	l := DefaultSizeLimits()
	if cfg == nil {
		return l, nil
	}
	v, err := cfg.AsDict(32).LoadValueByIntKey(big.NewInt(43))
	if errors.Is(err, cell.ErrNoSuchKeyInDict) {
		return l, nil
	}
	if err != nil {
		return l, fmt.Errorf("config param 43: %w", err)
	}
	ref, err := v.LoadRef()
	if err != nil {
		return l, fmt.Errorf("config param 43: %w", err)
	}
	tag, err := ref.LoadUInt(8)
	if err != nil {
		return l, fmt.Errorf("config param 43: %w", err)
	}
	if tag != sizeLimitsV1 && tag != sizeLimitsV2 {
		return l, fmt.Errorf("config param 43: unknown size limits constructor %#x", tag)
	}
	fields := []struct {
		bits uint
		dst  func(uint64)
	}{
		{32, func(x uint64) { l.MaxMsgBits = uint32(x) }},
		{32, func(x uint64) { l.MaxMsgCells = uint32(x) }},
		{32, func(x uint64) { l.MaxLibraryCells = uint32(x) }},
		{16, func(x uint64) { l.MaxVMDataDepth = uint16(x) }},
		{32, func(x uint64) { l.MaxExtMsgSize = uint32(x) }},
		{16, func(x uint64) { l.MaxExtMsgDepth = uint16(x) }},
	}
	for _, f := range fields {
		x, err := ref.LoadUInt(f.bits)
		if err != nil {
			return DefaultSizeLimits(), fmt.Errorf("config param 43: %w", err)
		}
		f.dst(x)
	}
	return l, nil
}

// gasPrices are the basechain's gas prices (config param 21) that decide
// whether a message buys any gas at all.
type gasPrices struct {
	known                       bool   // the config has param 21
	flatLimit, flatPrice, price uint64 // price: nanotons per 2^16 gas
}

// gasPricesFromConfig reads config param 21 (gas_flat_pfx#d1
// flat_gas_limit:uint64 flat_gas_price:uint64 other:GasLimitsPrices;
// gas_prices#dd or gas_prices_ext#de gas_price:uint64 ...).
func gasPricesFromConfig(cfg *cell.Cell) (gasPrices, error) {
	v, err := cfg.AsDict(32).LoadValueByIntKey(big.NewInt(21))
	if errors.Is(err, cell.ErrNoSuchKeyInDict) {
		return gasPrices{}, nil
	}
	if err != nil {
		return gasPrices{}, fmt.Errorf("config param 21: %w", err)
	}
	s, err := v.LoadRef()
	if err != nil {
		return gasPrices{}, fmt.Errorf("config param 21: %w", err)
	}
	p := gasPrices{known: true}
	tag, err := s.LoadUInt(8)
	if err == nil && tag == 0xd1 {
		if p.flatLimit, err = s.LoadUInt(64); err == nil {
			if p.flatPrice, err = s.LoadUInt(64); err == nil {
				tag, err = s.LoadUInt(8)
			}
		}
	}
	if err == nil && tag != 0xdd && tag != 0xde {
		err = fmt.Errorf("unknown gas prices constructor %#x", tag)
	}
	if err == nil {
		p.price, err = s.LoadUInt(64)
	}
	if err != nil {
		return gasPrices{}, fmt.Errorf("config param 21: %w", err)
	}
	return p, nil
}

// buysGas reports whether value (nanotons) buys any gas: gas_bought_for
// in the node's transaction.cpp, zero below the flat price.
func (p gasPrices) buysGas(value *big.Int) bool {
	if !p.known {
		return false
	}
	if value.Cmp(new(big.Int).SetUint64(p.flatPrice)) < 0 {
		return false
	}
	rest := new(big.Int).Sub(value, new(big.Int).SetUint64(p.flatPrice))
	bought := rest.Lsh(rest, 16).Quo(rest, new(big.Int).SetUint64(max(p.price, 1)))
	return bought.Sign() > 0 || p.flatLimit > 0
}
