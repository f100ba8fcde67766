package tonsim_test

import (
	"math/big"
	"testing"
	"time"

	"github.com/xssnick/tonutils-go/tlb"
	"github.com/xssnick/tonutils-go/ton/jetton"
	"github.com/xssnick/tonutils-go/ton/wallet"

	"github.com/ton-custody/processor/internal/tonsim"
)

// A locked jetton wallet refuses an incoming transfer: the internal_transfer
// fails with exit code 45 and bounces, and the sender's jetton wallet gets
// its jettons back. Other wallets of the jetton work as usual.
func TestLockedJettonWalletBouncesIncomingTransfers(t *testing.T) {
	t.Parallel()
	n := startNet(t, tonsim.Options{})
	locked, open := freshAddr(0x71), freshAddr(0x72)
	j, err := n.DeployLockedJetton(ctx(t), "LCK", 6, locked)
	if err != nil {
		t.Fatal(err)
	}
	alice, err := wallet.FromPrivateKey(n.freshAPI(), key(31), wallet.V4R2)
	if err != nil {
		t.Fatal(err)
	}
	n.fund(t, alice.WalletAddress(), "5")
	if _, err := n.Mint(ctx(t), j.Master, alice.WalletAddress(), big.NewInt(1000)); err != nil {
		t.Fatal(err)
	}
	master := jetton.NewJettonMasterClient(n.api, j.Master)
	aw, err := master.GetJettonWallet(ctx(t), alice.WalletAddress())
	if err != nil {
		t.Fatal(err)
	}
	if bal, err := aw.GetBalance(ctx(t)); err != nil || bal.Int64() != 1000 {
		t.Fatalf("alice balance %v %v", bal, err)
	}
	send := func(to string, amount int64) {
		dst := open
		if to == "locked" {
			dst = locked
		}
		body, err := aw.BuildTransferPayloadV2(dst, alice.WalletAddress(), tlb.FromNanoTONU(uint64(amount)), tlb.MustFromTON("0"), nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		sender, err := wallet.FromPrivateKey(n.freshAPI(), key(31), wallet.V4R2)
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := sender.SendWaitTransaction(ctx(t), wallet.SimpleMessage(aw.Address(), tlb.MustFromTON("0.2"), body)); err != nil {
			t.Fatal(err)
		}
	}
	send("open", 100)
	ow, err := master.GetJettonWallet(ctx(t), open)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, func() bool { b, err := ow.GetBalance(ctx(t)); return err == nil && b.Int64() == 100 })

	send("locked", 300)
	lw, err := master.GetJettonWallet(ctx(t), locked)
	if err != nil {
		t.Fatal(err)
	}
	var refused *tlb.Transaction
	waitFor(t, 10*time.Second, func() bool {
		for _, tx := range n.lastTxs(t, lw.Address()) {
			refused = tx
		}
		return refused != nil
	})
	d := refused.Description.(tlb.TransactionDescriptionOrdinary)
	vm, ok := d.ComputePhase.Phase.(tlb.ComputePhaseVM)
	if !ok || vm.Success || vm.Details.ExitCode != tonsim.ExitContractLocked || d.BouncePhase == nil {
		t.Fatalf("locked wallet transaction: compute %+v, bounce %+v", d.ComputePhase.Phase, d.BouncePhase)
	}
	// The bounce restored alice's balance: 1000 - 100.
	waitFor(t, 10*time.Second, func() bool { b, err := aw.GetBalance(ctx(t)); return err == nil && b.Int64() == 900 })
}
