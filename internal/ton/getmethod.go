package ton

import (
	"context"
	"errors"
	"fmt"
	"math/big"

	"github.com/xssnick/tonutils-go/address"
	tonutils "github.com/xssnick/tonutils-go/ton"
	"github.com/xssnick/tonutils-go/tvm/cell"
)

// IsNotInitialized reports whether err says a get method ran on an account
// without code: runSmcMethod exit code -256 (non-existent, uninit, or
// frozen account).
func IsNotInitialized(err error) bool {
	var e tonutils.ContractExecError
	return errors.As(err, &e) && e.Code == tonutils.ErrCodeContractNotInitialized
}

// RunGetMethod runs a get method of addr at block (nil = the current
// masterchain head; pass one from PinnedAt where a decision rests on the
// answer) and returns its stack; the liteserver waits until it has block.
// A non-zero, non-one exit code is a tonutils ContractExecError (see
// IsNotInitialized). Params are what tonutils-go accepts: *big.Int and
// integer types, *cell.Cell, *cell.Slice.
func (c *Client) RunGetMethod(ctx context.Context, block *tonutils.BlockIDExt, addr *address.Address, method string, params ...any) (*tonutils.ExecutionResult, error) {
	if block == nil {
		var err error
		if block, err = c.MasterHead(ctx); err != nil {
			return nil, err
		}
	}
	res, err := c.api.WaitForBlock(block.SeqNo).RunGetMethod(ctx, block, addr, method, params...)
	if err != nil {
		return nil, fmt.Errorf("ton: run %s on %s at block %d: %w", method, addr.StringRaw(), block.SeqNo, err)
	}
	return res, nil
}

// JettonWalletAddress asks the jetton master for owner's jetton wallet
// (get_wallet_address). It is never computed offline: wallet code and
// data layout differ between jettons (USDT, for one), and the master's
// answer is what a transfer_notification's sender must match.
func (c *Client) JettonWalletAddress(ctx context.Context, master, owner *address.Address) (*address.Address, error) {
	arg := cell.BeginCell()
	if err := arg.StoreAddr(owner); err != nil {
		return nil, fmt.Errorf("ton: encode jetton owner %s: %w", owner.StringRaw(), err)
	}
	res, err := c.RunGetMethod(ctx, nil, master, "get_wallet_address", arg.EndCell().BeginParse())
	if err != nil {
		if IsNotInitialized(err) {
			return nil, fmt.Errorf("ton: jetton master %s is not deployed: %w", master.StringRaw(), errors.Join(ErrNotJettonMaster, err))
		}
		if isExecError(err) {
			return nil, fmt.Errorf("ton: %s cannot answer get_wallet_address: %w", master.StringRaw(), errors.Join(ErrNotJettonMaster, err))
		}
		return nil, err
	}
	s, err := res.Slice(0)
	if err != nil {
		return nil, fmt.Errorf("ton: get_wallet_address on %s returned no slice: %w", master.StringRaw(), errors.Join(ErrNotJettonMaster, err))
	}
	w, err := s.LoadAddr()
	if err != nil {
		return nil, fmt.Errorf("ton: get_wallet_address on %s returned no address: %w", master.StringRaw(), errors.Join(ErrNotJettonMaster, err))
	}
	if w.Type() != address.StdAddress || (w.Workchain() != 0 && w.Workchain() != address.MasterchainID) {
		return nil, fmt.Errorf("ton: get_wallet_address on %s returned %s, not a basechain or masterchain address: %w", master.StringRaw(), w.StringRaw(), ErrNotJettonMaster)
	}
	return w, nil
}

// ErrNotJettonMaster marks answers of a contract that is not a jetton
// master: not deployed, a get method that fails (e.g. exit code 11, no
// such method) or returns the wrong shape. It is the caller's mistake, not
// a chain failure.
var ErrNotJettonMaster = errors.New("not a jetton master")

// isExecError reports whether err is a get method's non-zero exit code
// (the contract ran and refused), as opposed to a network failure.
func isExecError(err error) bool {
	var e tonutils.ContractExecError
	return errors.As(err, &e)
}

// JettonTotalSupply returns a jetton master's total_supply
// (get_jetton_data, first value) at the current head.
func (c *Client) JettonTotalSupply(ctx context.Context, master *address.Address) (*big.Int, error) {
	res, err := c.RunGetMethod(ctx, nil, master, "get_jetton_data")
	if err != nil {
		if isExecError(err) {
			return nil, fmt.Errorf("ton: %s cannot answer get_jetton_data: %w", master.StringRaw(), errors.Join(ErrNotJettonMaster, err))
		}
		return nil, err
	}
	v, err := res.Int(0)
	if err != nil || v.Sign() < 0 {
		return nil, fmt.Errorf("ton: get_jetton_data on %s returned no total supply (%v): %w", master.StringRaw(), err, ErrNotJettonMaster)
	}
	return v, nil
}

// JettonBalance returns a jetton wallet's balance in jetton base units
// (get_wallet_data, first value) at the current head. A jetton wallet that
// does not exist yet holds nothing: balance 0, not an error (so does any
// account without code, exit code -256; callers pass the address the
// master named, which is a jetton wallet or nothing yet).
func (c *Client) JettonBalance(ctx context.Context, jettonWallet *address.Address) (*big.Int, error) {
	return c.JettonBalanceAt(ctx, nil, jettonWallet)
}

// JettonBalanceAt is JettonBalance at masterchain block (from PinnedAt,
// for reads a decision rests on; nil = the current head). As RunGetMethod,
// it waits until the liteserver has the block.
func (c *Client) JettonBalanceAt(ctx context.Context, block *tonutils.BlockIDExt, jettonWallet *address.Address) (*big.Int, error) {
	res, err := c.RunGetMethod(ctx, block, jettonWallet, "get_wallet_data")
	if IsNotInitialized(err) {
		return new(big.Int), nil
	}
	if err != nil {
		return nil, err
	}
	bal, err := res.Int(0)
	if err != nil {
		return nil, fmt.Errorf("ton: get_wallet_data on %s returned no balance: %w", jettonWallet.StringRaw(), err)
	}
	if bal.Sign() < 0 {
		return nil, fmt.Errorf("ton: get_wallet_data on %s returned a negative balance %s", jettonWallet.StringRaw(), bal)
	}
	return bal, nil
}
