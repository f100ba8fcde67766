package tonsim

import (
	"context"
	"fmt"
	"math"
	"math/big"

	"github.com/xssnick/tonutils-go/tvm/cell"

	"github.com/ton-custody/processor/internal/tonsim/assets"
	"github.com/ton-custody/processor/internal/tonsim/chain"
	"github.com/ton-custody/processor/internal/tonsim/tvm"
)

// EmulatorExecutor runs transactions and get methods on the official TON
// emulator through a pool of wasm instances.
type EmulatorExecutor struct {
	pool *tvm.Pool
}

// NewEmulatorExecutor wraps a tvm pool.
func NewEmulatorExecutor(p *tvm.Pool) *EmulatorExecutor { return &EmulatorExecutor{pool: p} }

// Execute implements chain.Executor.
func (e *EmulatorExecutor) Execute(ctx context.Context, shardAccount, msg *cell.Cell, p chain.ExecParams) (*chain.ExecResult, error) {
	r, err := e.pool.Emulate(ctx, p.Config, shardAccount, msg, tvm.Params{UTime: p.UTime, LT: p.LT, RandSeed: p.RandSeed, Libs: p.Libs})
	if err != nil {
		return nil, err
	}
	return &chain.ExecResult{Success: r.Success, Error: r.Error, ExitCode: r.VMExitCode, Transaction: r.Transaction, ShardAccount: r.ShardAccount}, nil
}

var maxInt64 = big.NewInt(math.MaxInt64)

// RunGetMethod implements chain.Executor.
func (e *EmulatorExecutor) RunGetMethod(ctx context.Context, call chain.GetMethodCall) (*chain.GetMethodResult, error) {
	bal := call.Balance
	if bal != nil && bal.Cmp(maxInt64) > 0 {
		bal = maxInt64 // the emulator takes a 64-bit balance; only genesis exceeds it
	}
	r, err := e.pool.RunGetMethod(ctx, tvm.GetMethodParams{Code: call.Code, Data: call.Data, Address: call.Address, Balance: bal,
		UTime: call.UTime, MethodID: int64(call.MethodID), Stack: call.Stack, Config: call.Config, Libs: call.Libs})
	if err != nil {
		return nil, err
	}
	return &chain.GetMethodResult{ExitCode: int32(r.ExitCode), Stack: r.Stack}, nil
}

// Emulator is a ready executor plus the contracts and config from the
// emulator's npm packages.
type Emulator struct {
	*EmulatorExecutor
	Contracts Contracts
	engine    *tvm.Engine
	pool      *tvm.Pool
}

// OpenEmulator loads (fetching with npm on first use) the pinned emulator
// assets from dir ("" = assets.DefaultDir()) and starts a pool of size
// instances (0 = one per CPU).
func OpenEmulator(ctx context.Context, dir string, size int) (*Emulator, error) {
	if dir == "" {
		dir = assets.DefaultDir()
	}
	a, err := assets.Ensure(ctx, dir)
	if err != nil {
		return nil, fmt.Errorf("tonsim emulator assets: %w", err)
	}
	eng, err := tvm.NewEngine(ctx, a)
	if err != nil {
		return nil, fmt.Errorf("tonsim emulator: %w", err)
	}
	pool := tvm.NewPool(eng, tvm.PoolOptions{Size: size})
	return &Emulator{EmulatorExecutor: NewEmulatorExecutor(pool), engine: eng, pool: pool,
		Contracts: Contracts{Config: a.Config, GetMethodConfig: a.SlimConfig, JettonMinterCode: a.JettonMinterCode, JettonWalletCode: a.JettonWalletCode,
			Compiled: a.Contracts}}, nil
}

// Close frees the wasm instances.
func (e *Emulator) Close(ctx context.Context) error {
	if err := e.pool.Close(ctx); err != nil {
		return err
	}
	return e.engine.Close(ctx)
}
