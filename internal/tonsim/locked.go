package tonsim

import (
	"context"
	"errors"
	"fmt"

	"github.com/xssnick/tonutils-go/address"
)

// DeployLockedJetton deploys a governed (USDT-style) jetton and has its
// admin lock the jetton wallet of owner locked both ways: a transfer to
// locked then fails in its jetton wallet with exit code ExitContractLocked
// and bounces back to the sender's jetton wallet, which restores its
// balance. Every other wallet of the jetton works as usual; the lock can
// be lifted with UnlockJettonWallet.
func (n *Network) DeployLockedJetton(ctx context.Context, symbol string, decimals int, locked *address.Address) (*Jetton, error) {
	if locked == nil || locked.Workchain() != 0 {
		return nil, errors.New("the locked owner must be a workchain-0 address")
	}
	j, err := n.DeployJettonKind(ctx, symbol, decimals, JettonGoverned)
	if err != nil {
		return nil, err
	}
	if _, err := n.LockJettonWallet(ctx, j.Master, locked); err != nil {
		return nil, fmt.Errorf("lock %s: %w", locked, err)
	}
	return j, nil
}
