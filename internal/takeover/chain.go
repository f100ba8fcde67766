package takeover

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"sort"

	"github.com/xssnick/tonutils-go/address"
	"github.com/xssnick/tonutils-go/tlb"
	tonutils "github.com/xssnick/tonutils-go/ton"

	"github.com/ton-custody/processor/internal/ton"
)

// Chain is what the takeover reads from (and sends to) the network. The
// processor's own chain client implements it (TonChain), so the takeover
// reaches the chain the way the processor does.
type Chain interface {
	// Block downloads a block (its hash is checked against id).
	Block(ctx context.Context, id *tonutils.BlockIDExt) (*tlb.Block, error)
	// Master finds masterchain block seqno.
	Master(ctx context.Context, seqno uint32) (*tonutils.BlockIDExt, error)
	// Head is the newest masterchain block.
	Head(ctx context.Context) (*tonutils.BlockIDExt, error)
	// JettonWalletAddress is master's get_wallet_address(owner).
	JettonWalletAddress(ctx context.Context, master, owner *address.Address) (*address.Address, error)
	// AccountState is an account's balance and status at the head.
	AccountState(ctx context.Context, addr *address.Address) (*big.Int, string, error)
	// JettonBalance is a jetton wallet's balance (0 when not deployed).
	JettonBalance(ctx context.Context, jettonWallet *address.Address) (*big.Int, error)
	// TransactionsSince lists addr's transactions with lt >= fromLT,
	// oldest first.
	TransactionsSince(ctx context.Context, addr *address.Address, fromLT uint64) ([]*tlb.Transaction, error)
	// LastTxLT is the logical time of addr's last transaction (0: none).
	LastTxLT(ctx context.Context, addr *address.Address) (uint64, error)
	// SendExternal submits an external message.
	SendExternal(ctx context.Context, msg *tlb.ExternalMessage) error
}

// TonChain implements Chain over the processor's chain client.
type TonChain struct{ C *ton.Client }

// Block implements Chain.
func (c TonChain) Block(ctx context.Context, id *tonutils.BlockIDExt) (*tlb.Block, error) {
	return c.C.API().GetBlockData(ctx, id)
}

// Master implements Chain.
func (c TonChain) Master(ctx context.Context, seqno uint32) (*tonutils.BlockIDExt, error) {
	return c.C.API().WaitForBlock(seqno).LookupBlock(ctx, -1, int64(-1<<63), seqno)
}

// Head implements Chain.
func (c TonChain) Head(ctx context.Context) (*tonutils.BlockIDExt, error) { return c.C.MasterHead(ctx) }

// JettonWalletAddress implements Chain.
func (c TonChain) JettonWalletAddress(ctx context.Context, master, owner *address.Address) (*address.Address, error) {
	return c.C.JettonWalletAddress(ctx, master, owner)
}

// AccountState implements Chain.
func (c TonChain) AccountState(ctx context.Context, addr *address.Address) (*big.Int, string, error) {
	return c.C.AccountState(ctx, addr)
}

// JettonBalance implements Chain.
func (c TonChain) JettonBalance(ctx context.Context, jw *address.Address) (*big.Int, error) {
	return c.C.JettonBalance(ctx, jw)
}

// SendExternal implements Chain.
func (c TonChain) SendExternal(ctx context.Context, msg *tlb.ExternalMessage) error {
	return c.C.SendExternalMessage(ctx, msg)
}

// LastTxLT implements Chain.
func (c TonChain) LastTxLT(ctx context.Context, addr *address.Address) (uint64, error) {
	head, err := c.C.MasterHead(ctx)
	if err != nil {
		return 0, err
	}
	acc, err := c.C.Account(ctx, head, addr)
	if err != nil {
		return 0, err
	}
	if acc == nil {
		return 0, nil
	}
	return acc.LastTxLT, nil
}

// maxTxPages bounds TransactionsSince: the takeover only looks at the few
// minutes after bicycle stopped.
const maxTxPages = 200

// TransactionsSince implements Chain: it walks back from the account's
// last transaction until fromLT.
func (c TonChain) TransactionsSince(ctx context.Context, addr *address.Address, fromLT uint64) ([]*tlb.Transaction, error) {
	head, err := c.C.MasterHead(ctx)
	if err != nil {
		return nil, err
	}
	acc, err := c.C.Account(ctx, head, addr)
	if err != nil {
		return nil, err
	}
	if acc == nil || (!acc.IsActive && acc.LastTxLT == 0) {
		return nil, nil
	}
	var out []*tlb.Transaction
	lt, hash := acc.LastTxLT, acc.LastTxHash
	for page := 0; lt >= fromLT && lt != 0; page++ {
		if page == maxTxPages {
			return nil, fmt.Errorf("more than %d pages of transactions of %s since lt %d", maxTxPages, addr.StringRaw(), fromLT)
		}
		txs, err := c.C.API().ListTransactions(ctx, addr, 16, lt, hash)
		if errors.Is(err, tonutils.ErrNoTransactionsWereFound) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("transactions of %s: %w", addr.StringRaw(), err)
		}
		if len(txs) == 0 {
			break
		}
		for _, t := range txs {
			if t.LT >= fromLT {
				out = append(out, t)
			}
		}
		oldest := txs[0]
		for _, t := range txs {
			if t.LT < oldest.LT {
				oldest = t
			}
		}
		lt, hash = oldest.PrevTxLT, oldest.PrevTxHash
	}
	sort.Slice(out, func(i, j int) bool { return out[i].LT < out[j].LT })
	return out, nil
}

// masterTops is a masterchain block's id, generation time and the
// workchain-0 shard blocks it references (what the scanner's cursor
// holds).
type masterTops struct {
	id       *tonutils.BlockIDExt
	genUtime uint32
	tops     []*tonutils.BlockIDExt
}

func fetchMasterTops(ctx context.Context, ch Chain, seqno uint32) (*masterTops, error) {
	id, err := ch.Master(ctx, seqno)
	if err != nil {
		return nil, fmt.Errorf("find masterchain block %d: %w", seqno, err)
	}
	blk, err := ch.Block(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("masterchain block %d: %w", seqno, err)
	}
	if blk.Extra == nil || blk.Extra.Custom == nil {
		return nil, fmt.Errorf("masterchain block %d has no shard hashes", seqno)
	}
	all, err := tonutils.LoadShardsFromHashes(blk.Extra.Custom.ShardHashes, false)
	if err != nil {
		return nil, fmt.Errorf("masterchain block %d shard hashes: %w", seqno, err)
	}
	m := &masterTops{id: id, genUtime: blk.BlockInfo.GenUtime}
	for _, s := range all {
		if s.Workchain == 0 {
			m.tops = append(m.tops, s)
		}
	}
	return m, nil
}
