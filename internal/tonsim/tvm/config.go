package tvm

import (
	"errors"
	"fmt"
	"math/big"

	"github.com/xssnick/tonutils-go/tvm/cell"
)

// slimDroppedParams are the config parameters SlimConfig removes: the
// previous/temporary/current/next validator sets (32-37), read only by
// consensus and the elector, and the suspended-address list (44), which only
// concerns mainnet addresses. Together they are ~96% of the mainnet config.
func slimDroppedParams() []int64 { return []int64{32, 33, 34, 35, 36, 37, 44} }

// SlimConfig returns a copy of cfg (a ConfigParams dictionary root) without
// the parameters listed in slimDroppedParams.
//
// Why: run_get_method receives the config as a base64 BOC and deserialises
// it on every call (the C API has no way to keep it), so get methods cost
// time proportional to the config size. Measured on the @ton/sandbox 0.41.0
// mainnet config (115 KB), a wallet's seqno took ~3.4 ms with the full
// config and ~0.5 ms with SlimConfig's output; @ton/sandbox's own slim
// config (params 0-31 only, assets.Assets.SlimConfig) is about as fast.
// Transactions do not need it: an Emulator parses its config once.
//
// Use it for get methods whose contracts do not read validator sets (all
// wallets and jettons); keep the full config where fidelity matters more.
func SlimConfig(cfg *cell.Cell) (*cell.Cell, error) {
	if cfg == nil {
		return nil, errors.New("tvm: SlimConfig: nil config")
	}
	d := cfg.AsDict(32) // a new Dictionary value: cfg itself is never modified
	for _, k := range slimDroppedParams() {
		if err := d.DeleteIntKey(big.NewInt(k)); err != nil {
			return nil, fmt.Errorf("tvm: SlimConfig: drop param %d: %w", k, err)
		}
	}
	c := d.AsCell()
	if c == nil {
		return nil, errors.New("tvm: SlimConfig: config holds only dropped parameters")
	}
	return c, nil
}
