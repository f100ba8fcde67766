package tonsim

import (
	"context"
	"errors"
	"fmt"
	"math/big"

	"github.com/xssnick/tonutils-go/address"
	"github.com/xssnick/tonutils-go/tlb"
	"github.com/xssnick/tonutils-go/ton/wallet"
	"github.com/xssnick/tonutils-go/tvm/cell"

	"github.com/ton-custody/processor/internal/tonsim/assets"
)

// JettonKind says which contracts a jetton runs. Exchanges meet all of
// these on mainnet; each behaves differently at the edges.
type JettonKind string

// Jetton kinds.
const (
	// JettonStandard is the TEP-74 jetton of @ton-community/assets-sdk.
	JettonStandard JettonKind = "standard"
	// JettonGoverned is USDT-style: the wallet code is a public
	// masterchain library (each wallet's state holds a library cell), and
	// the admin (the genesis wallet) locks wallets and transfers or burns
	// out of any wallet, locked or not (LockJettonWallet, AdminTransfer,
	// AdminBurn). Its transfer_notification is non-bounceable.
	JettonGoverned JettonKind = "governed"
	// JettonNotifyBounceable is a TEP-74 jetton whose wallets send
	// transfer_notification bounceable: to an owner without code it
	// bounces back to the jetton wallet (the jettons stay credited).
	JettonNotifyBounceable JettonKind = "notify-bounceable"
	// JettonNotifyNonBounceable is a TEP-74 jetton whose wallets send it
	// non-bounceable.
	JettonNotifyNonBounceable JettonKind = "notify-non-bounceable"
)

// JettonKinds lists every kind, the default first.
func JettonKinds() []JettonKind {
	return []JettonKind{JettonStandard, JettonGoverned, JettonNotifyBounceable, JettonNotifyNonBounceable}
}

// Operation codes of tonsim's own jettons (assets/contracts/jetton-common.fc).
const (
	opMintGoverned = 0x642b7d07
	opCallTo       = 0x235caf52
	opSetStatus    = 0xeed236d3
	opBurn         = 0x595f07bc
	opBurnNotify   = 0x7bdd97de
)

// Governed jetton wallet status bits (what the admin locked).
const (
	StatusUnlocked   = 0
	StatusNoOutgoing = 1 // the owner cannot send or burn
	StatusNoIncoming = 2 // other wallets cannot send to it
	StatusLocked     = StatusNoOutgoing | StatusNoIncoming
)

// ExitContractLocked is the exit code of a locked jetton wallet refusing a
// message (USDT's error::contract_locked).
const ExitContractLocked = 45

// ErrNotGoverned is returned for an admin operation on a jetton without one.
var ErrNotGoverned = errors.New("not a governed jetton")

// kindName is j's kind as the control API shows it.
func (j *Jetton) kindName() JettonKind {
	if j.Kind == "" {
		return JettonStandard
	}
	return j.Kind
}

func (k JettonKind) mintOp() uint64 {
	if k == JettonGoverned {
		return opMintGoverned
	}
	return opMint
}

// DeployJettonKind deploys a jetton of kind (admin: the genesis wallet).
// A governed jetton first publishes its wallet code as a library from a
// masterchain account, once per network.
func (n *Network) DeployJettonKind(ctx context.Context, symbol string, decimals int, kind JettonKind) (*Jetton, error) {
	compiled := func(names ...string) ([]*cell.Cell, error) {
		out := make([]*cell.Cell, len(names))
		for i, name := range names {
			if out[i] = n.code.Compiled[name]; out[i] == nil {
				return nil, fmt.Errorf("tonsim was started without its compiled contracts (%s): jetton kind %s is unavailable", name, kind)
			}
		}
		return out, nil
	}
	switch kind {
	case JettonStandard, "":
		return n.DeployJetton(ctx, symbol, decimals)
	case JettonGoverned:
		c, err := compiled(assets.ContractGovernedMinter, assets.ContractGovernedWallet, assets.ContractLibrarian)
		if err != nil {
			return nil, err
		}
		lib, err := n.PublishLibrary(ctx, c[1], c[2])
		if err != nil {
			return nil, err
		}
		return n.deployJetton(ctx, symbol, decimals, kind, c[0], lib)
	case JettonNotifyBounceable, JettonNotifyNonBounceable:
		wallet := assets.ContractWalletBounceable
		if kind == JettonNotifyNonBounceable {
			wallet = assets.ContractWalletNonBounceable
		}
		c, err := compiled(assets.ContractReferenceMinter, wallet)
		if err != nil {
			return nil, err
		}
		return n.deployJetton(ctx, symbol, decimals, kind, c[0], c[1])
	}
	return nil, fmt.Errorf("unknown jetton kind %q (one of %v)", kind, JettonKinds())
}

// LibraryCell is the exotic library cell (type 2) standing for code: what
// an account holds in place of code published as a library.
func LibraryCell(code *cell.Cell) *cell.Cell {
	c := cell.BeginCell().MustStoreUInt(uint64(cell.LibraryCellType), 8).MustStoreSlice(code.Hash(), 256).EndCell()
	c.UnsafeModify(cell.LevelMask{}, true)
	return c
}

// librarianFunds pays the library's masterchain storage for years.
var librarianFunds = tlb.MustFromTON("100")

// PublishLibrary publishes code as a public masterchain library: it deploys
// the librarian contract (holding code, on the masterchain) from the
// genesis wallet and waits until the library is in force. It returns the
// library cell that stands for code. Publishing the same code again is a
// no-op.
func (n *Network) PublishLibrary(ctx context.Context, code, librarian *cell.Cell) (*cell.Cell, error) {
	lib := LibraryCell(code)
	if n.Chain.Library(code.Hash()) != nil {
		return lib, nil
	}
	si := &tlb.StateInit{Code: librarian, Data: cell.BeginCell().MustStoreRef(code).EndCell()}
	siCell, err := tlb.ToCell(si)
	if err != nil {
		return nil, fmt.Errorf("librarian state init: %w", err)
	}
	addr := address.NewAddress(0, 0xff, siCell.Hash()) // workchain -1
	since := lastLT(n.Chain, addr)
	msg := &wallet.Message{Mode: wallet.PayGasSeparately, InternalMessage: &tlb.InternalMessage{IHRDisabled: true, Bounce: false,
		DstAddr: addr, Amount: librarianFunds, StateInit: si, Body: cell.BeginCell().EndCell()}}
	if err := n.SendFromGenesis(ctx, msg); err != nil {
		return nil, err
	}
	res, err := n.waitTx(ctx, addr, since, func(*tlb.Transaction) bool { return true })
	if err != nil {
		return nil, err
	}
	if n.Chain.Library(code.Hash()) == nil {
		return nil, fmt.Errorf("the librarian's transaction %x did not publish the library", res.Hash)
	}
	return lib, nil
}

// governed returns master's jetton if it is a governed one.
func (n *Network) governed(master *address.Address) (*Jetton, error) {
	j, err := n.jetton(master)
	if err != nil {
		return nil, err
	}
	if j.Kind != JettonGoverned {
		return nil, fmt.Errorf("%w: %s is %s", ErrNotGoverned, j.Symbol, j.Kind)
	}
	return j, nil
}

// adminCall has the governed master tell owner's jetton wallet to execute
// inner (call_to#235caf52 query_id to_owner ton_amount ^master_msg), sent
// by the admin (the genesis wallet), and waits for the wallet's transaction
// on inner. The wallet's compute phase is not checked: callers read it.
func (n *Network) adminCall(ctx context.Context, master, owner *address.Address, qid uint64, inner *cell.Cell) (*TxResult, error) {
	if _, err := n.governed(master); err != nil {
		return nil, err
	}
	jw, err := n.JettonWallet(ctx, master, owner)
	if err != nil {
		return nil, err
	}
	body := cell.BeginCell().MustStoreUInt(opCallTo, 32).MustStoreUInt(qid, 64).MustStoreAddr(owner).
		MustStoreBigCoins(tlb.MustFromTON("0.1").Nano()).MustStoreRef(inner).EndCell()
	since := lastLT(n.Chain, jw)
	msg := &wallet.Message{Mode: wallet.PayGasSeparately, InternalMessage: &tlb.InternalMessage{IHRDisabled: true, Bounce: true,
		DstAddr: master, Amount: tlb.MustFromTON("0.2"), Body: body}}
	if err := n.SendFromGenesis(ctx, msg); err != nil {
		return nil, err
	}
	op := inner.BeginParse().MustLoadUInt(32)
	return n.waitTx(ctx, jw, since, func(tx *tlb.Transaction) bool {
		if tx.IO.In == nil || tx.IO.In.MsgType != tlb.MsgTypeInternal {
			return false
		}
		s := tx.IO.In.AsInternal().Body.BeginParse()
		got, err := s.LoadUInt(32)
		if err != nil || got != op {
			return false
		}
		q, err := s.LoadUInt(64)
		return err == nil && q == qid
	})
}

// SetJettonWalletStatus sets the lock status of owner's wallet of a
// governed jetton (Status* bits) as its admin does, deploying the wallet if
// it does not exist yet, and waits until the wallet applied it.
func (n *Network) SetJettonWalletStatus(ctx context.Context, master, owner *address.Address, status int) (*TxResult, error) {
	if status < 0 || status > StatusLocked {
		return nil, fmt.Errorf("status must be between 0 and %d", StatusLocked)
	}
	qid := uint64(n.queryID.Add(1))
	inner := cell.BeginCell().MustStoreUInt(opSetStatus, 32).MustStoreUInt(qid, 64).MustStoreUInt(uint64(status), 4).EndCell()
	res, err := n.adminCall(ctx, master, owner, qid, inner)
	if err != nil {
		return nil, err
	}
	return res, computeOK(res)
}

// LockJettonWallet locks owner's wallet of a governed jetton both ways:
// it then refuses incoming transfers and its owner's transfers and burns
// (exit code ExitContractLocked); the admin can still move its jettons.
func (n *Network) LockJettonWallet(ctx context.Context, master, owner *address.Address) (*TxResult, error) {
	return n.SetJettonWalletStatus(ctx, master, owner, StatusLocked)
}

// UnlockJettonWallet lifts every lock of owner's wallet.
func (n *Network) UnlockJettonWallet(ctx context.Context, master, owner *address.Address) (*TxResult, error) {
	return n.SetJettonWalletStatus(ctx, master, owner, StatusUnlocked)
}

// JettonWalletStatus is the lock status (get_status) of owner's wallet of a
// governed jetton; a wallet that does not exist yet is unlocked.
func (n *Network) JettonWalletStatus(ctx context.Context, master, owner *address.Address) (int, error) {
	if _, err := n.governed(master); err != nil {
		return 0, err
	}
	jw, err := n.JettonWallet(ctx, master, owner)
	if err != nil {
		return 0, err
	}
	mc, err := n.API.GetMasterchainInfo(ctx)
	if err != nil {
		return 0, err
	}
	acc, err := n.API.GetAccount(ctx, mc, jw)
	if err != nil {
		return 0, fmt.Errorf("jetton wallet %s: %w", jw, err)
	}
	if !acc.IsActive {
		return StatusUnlocked, nil
	}
	res, err := n.API.RunGetMethod(ctx, mc, jw, "get_status")
	if err != nil {
		return 0, fmt.Errorf("get_status: %w", err)
	}
	v, err := res.Int(0)
	if err != nil {
		return 0, fmt.Errorf("get_status result: %w", err)
	}
	return int(v.Int64()), nil
}

// AdminTransfer moves amount base units out of from's wallet of a
// governed jetton to to, as its admin can (call_to with a transfer; a lock
// does not stop it), with the excess to the admin and no notification. It
// waits until the recipient's jetton wallet executed the transfer. It does
// not check from's balance: a transfer beyond it fails in from's wallet
// (Receive is then nil and From tells).
func (n *Network) AdminTransfer(ctx context.Context, master, from, to *address.Address, amount *big.Int) (*AdminTransferResult, error) {
	if amount == nil || amount.Sign() <= 0 {
		return nil, errors.New("amount must be positive")
	}
	toWallet, err := n.JettonWallet(ctx, master, to)
	if err != nil {
		return nil, err
	}
	qid := uint64(n.queryID.Add(1))
	inner := cell.BeginCell().MustStoreUInt(opTransfer, 32).MustStoreUInt(qid, 64).MustStoreBigCoins(amount).
		MustStoreAddr(to).MustStoreAddr(n.Genesis.WalletAddress()).MustStoreBoolBit(false).MustStoreCoins(0).
		MustStoreBoolBit(false).EndCell()
	sinceTo := lastLT(n.Chain, toWallet)
	res, err := n.adminCall(ctx, master, from, qid, inner)
	if err != nil {
		return nil, err
	}
	out := &AdminTransferResult{From: res, JettonWallet: toWallet}
	if err := computeOK(res); err != nil {
		return out, err
	}
	if out.Receive, err = n.waitTx(ctx, toWallet, sinceTo, withQuery(opInternalTransfer, qid)); err != nil {
		return nil, err
	}
	return out, nil
}

// AdminTransferResult is the outcome of AdminTransfer.
type AdminTransferResult struct {
	// From is the source jetton wallet's transaction executing the
	// admin's transfer; Receive the recipient's jetton wallet's.
	From, Receive *TxResult
	// JettonWallet is the recipient's jetton wallet.
	JettonWallet *address.Address
}

// AdminBurn burns amount base units out of owner's wallet of a governed
// jetton, as its admin can (call_to with a burn; a lock does not stop it),
// and waits until the master has lowered the supply. It returns the
// wallet's transaction.
func (n *Network) AdminBurn(ctx context.Context, master, owner *address.Address, amount *big.Int) (*TxResult, error) {
	if amount == nil || amount.Sign() <= 0 {
		return nil, errors.New("amount must be positive")
	}
	qid := uint64(n.queryID.Add(1))
	// burn#595f07bc query_id amount response_destination custom_payload:(Maybe ^Cell)
	inner := cell.BeginCell().MustStoreUInt(opBurn, 32).MustStoreUInt(qid, 64).MustStoreBigCoins(amount).
		MustStoreAddr(n.Genesis.WalletAddress()).MustStoreBoolBit(false).EndCell()
	sinceMaster := lastLT(n.Chain, master)
	res, err := n.adminCall(ctx, master, owner, qid, inner)
	if err != nil {
		return nil, err
	}
	if err := computeOK(res); err != nil {
		return res, err
	}
	if _, err := n.waitTx(ctx, master, sinceMaster, withQuery(opBurnNotify, qid)); err != nil {
		return nil, err
	}
	return res, nil
}

// withQuery matches an internal message with op and query id.
func withQuery(op, qid uint64) func(*tlb.Transaction) bool {
	return func(tx *tlb.Transaction) bool {
		if tx.IO.In == nil || tx.IO.In.MsgType != tlb.MsgTypeInternal {
			return false
		}
		s := tx.IO.In.AsInternal().Body.BeginParse()
		if got, err := s.LoadUInt(32); err != nil || got != op {
			return false
		}
		q, err := s.LoadUInt(64)
		return err == nil && q == qid
	}
}

// ErrRefused is wrapped when a contract's compute phase failed.
var ErrRefused = errors.New("refused by the contract")

// computeOK reports a failed compute phase of res's transaction.
func computeOK(res *TxResult) error {
	d, ok := res.Tx.Description.(tlb.TransactionDescriptionOrdinary)
	if !ok {
		return nil
	}
	vm, ok := d.ComputePhase.Phase.(tlb.ComputePhaseVM)
	if !ok {
		return fmt.Errorf("%w: transaction %x was not computed", ErrRefused, res.Hash)
	}
	if !vm.Success {
		return fmt.Errorf("%w: transaction %x, exit code %d", ErrRefused, res.Hash, vm.Details.ExitCode)
	}
	return nil
}
