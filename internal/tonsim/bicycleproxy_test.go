package tonsim_test

import (
	"testing"
	"time"

	"github.com/xssnick/tonutils-go/address"
	"github.com/xssnick/tonutils-go/tlb"
	"github.com/xssnick/tonutils-go/ton/wallet"
	"github.com/xssnick/tonutils-go/tvm/cell"

	"github.com/ton-custody/processor/internal/tonsim"
)

// The bicycle proxy stand-in forwards each body reference with mode 160
// when its owner commands it (deploying, sending everything and destroying
// itself in one transaction), and refuses anyone else with exit code 403.
func TestBicycleProxyStandIn(t *testing.T) {
	t.Parallel()
	n := startNet(t, tonsim.Options{})
	gen := n.Genesis.WalletAddress()
	command := func(owner *address.Address, sub uint32, to *address.Address) *address.Address {
		t.Helper()
		si := &tlb.StateInit{Code: tonsim.BicycleProxyCode(), Data: tonsim.BicycleProxyData(owner, sub)}
		root, err := tlb.ToCell(si)
		if err != nil {
			t.Fatal(err)
		}
		proxy := address.NewAddress(0, 0, root.Hash())
		dst := to.Copy()
		dst.SetBounce(false)
		inner, err := tlb.ToCell(&tlb.InternalMessage{IHRDisabled: true, DstAddr: dst, Amount: tlb.ZeroCoins})
		if err != nil {
			t.Fatal(err)
		}
		if err := n.SendFromGenesis(ctx(t), &wallet.Message{Mode: wallet.PayGasSeparately, InternalMessage: &tlb.InternalMessage{
			IHRDisabled: true, Bounce: true, DstAddr: proxy, Amount: tlb.MustFromTON("0.5"), StateInit: si,
			Body: cell.BeginCell().MustStoreRef(inner).EndCell()}}); err != nil {
			t.Fatal(err)
		}
		return proxy
	}
	// From the chain itself: a proxy that destroyed itself has no account
	// state naming its last transaction.
	lastTx := func(a *address.Address) *tlb.Transaction {
		var last tlb.Transaction
		waitFor(t, 20*time.Second, func() bool {
			txs := n.Chain.TxsSince(a, 0)
			if len(txs) == 0 {
				return false
			}
			if err := tlb.LoadFromCell(&last, txs[len(txs)-1].Cell.BeginParse()); err != nil {
				t.Fatal(err)
			}
			return true
		})
		return &last
	}
	dest := freshAddr(0x51)
	proxy := command(gen, 7, dest)
	tx := lastTx(proxy)
	if vm, ok := tx.Description.(tlb.TransactionDescriptionOrdinary).ComputePhase.Phase.(tlb.ComputePhaseVM); !ok || !vm.Success {
		t.Fatalf("owner's command failed: %s", tx.Dump())
	}
	got := lastTx(dest)
	in := got.IO.In.AsInternal()
	if !in.SrcAddr.Equals(proxy) || in.Amount.Nano().Cmp(tlb.MustFromTON("0.4").Nano()) < 0 {
		t.Fatalf("destination got %s from %s, want about 0.5 TON from the proxy %s", in.Amount, in.SrcAddr, proxy)
	}
	if acc := n.account(t, proxy); acc.IsActive || acc.State != nil && acc.State.Balance.Nano().Sign() != 0 {
		t.Fatalf("the proxy still exists after sending everything: %+v", acc.State)
	}

	stranger := freshAddr(0x52)
	other := command(stranger, 8, dest)
	tx = lastTx(other)
	vm, ok := tx.Description.(tlb.TransactionDescriptionOrdinary).ComputePhase.Phase.(tlb.ComputePhaseVM)
	if !ok || vm.Success || vm.Details.ExitCode != tonsim.ExitProxyNotOwner {
		t.Fatalf("a command from a non-owner: %+v, want exit code %d", tx.Description, tonsim.ExitProxyNotOwner)
	}
}
