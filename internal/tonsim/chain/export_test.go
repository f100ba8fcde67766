package chain

import (
	"math/big"

	"github.com/xssnick/tonutils-go/address"
	"github.com/xssnick/tonutils-go/tlb"
	"github.com/xssnick/tonutils-go/tvm/cell"
)

// NativeCreditForTest builds natively the transaction of msgCell into the
// non-existent account dst, if the chain configured with config would:
// ok is false when the emulator must run it.
func NativeCreditForTest(config *cell.Cell, dst *address.Address, msgCell *cell.Cell, p ExecParams) (res *ExecResult, ok bool, err error) {
	gas, err := gasPricesFromConfig(config)
	if err != nil {
		return nil, false, err
	}
	c := &Chain{gas: gas}
	a := &account{addr: dst, shardAccount: shardAccountCell(noneAccount, nil, 0), info: AccountInfo{Balance: new(big.Int)}}
	var in *tlb.InternalMessage
	if !c.nativeCredit(a, queued{dst: dst, msg: msgCell}, &in) {
		return nil, false, nil
	}
	res, err = bulkExecute(a, msgCell, in, p)
	return res, true, err
}

// NoAccountForTest is the ShardAccount of a non-existent account.
func NoAccountForTest() *cell.Cell { return shardAccountCell(noneAccount, nil, 0) }
