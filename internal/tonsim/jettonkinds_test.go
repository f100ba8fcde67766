package tonsim_test

import (
	"bytes"
	"encoding/json"
	"math/big"
	"net/http"
	"testing"
	"time"

	"github.com/xssnick/tonutils-go/address"
	"github.com/xssnick/tonutils-go/tlb"
	"github.com/xssnick/tonutils-go/ton/jetton"
	"github.com/xssnick/tonutils-go/ton/wallet"
	"github.com/xssnick/tonutils-go/tvm/cell"

	"github.com/ton-custody/processor/internal/tonsim"
	"github.com/ton-custody/processor/internal/tonsim/assets"
)

// The governed jetton's wallet code is a public masterchain library, as
// USDT's: each wallet's state holds only the exotic library cell, and the
// chain resolves it everywhere a real network does: the transactions run
// the code, get methods answer through the ADNL liteserver (proofs
// checked), and getLibraries serves the code by its hash.
func TestGovernedJettonWalletCodeIsAPublicLibrary(t *testing.T) {
	t.Parallel()
	n := startNet(t, tonsim.Options{})
	walletCode := emu.Contracts.Compiled[assets.ContractGovernedWallet]
	if libs, err := n.api.GetLibraries(ctx(t), walletCode.Hash()); err != nil || len(libs) != 1 || libs[0] != nil {
		t.Fatalf("getLibraries before publication: %v %v", libs, err)
	}
	j, err := n.DeployJettonKind(ctx(t), "GUSD", 6, tonsim.JettonGoverned)
	if err != nil {
		t.Fatal(err)
	}
	owner := freshAddr(0x91)
	if _, err := n.Mint(ctx(t), j.Master, owner, big.NewInt(7000)); err != nil {
		t.Fatal(err)
	}
	master := jetton.NewJettonMasterClient(n.api, j.Master)
	jw, err := master.GetJettonWallet(ctx(t), owner)
	if err != nil {
		t.Fatal(err)
	}
	if bal, err := jw.GetBalance(ctx(t)); err != nil || bal.Int64() != 7000 {
		t.Fatalf("balance through get_wallet_data: %v %v", bal, err)
	}
	acc := n.account(t, jw.Address())
	if !acc.IsActive || acc.Code == nil {
		t.Fatalf("jetton wallet not active: %+v", acc)
	}
	if acc.Code.GetType() != cell.LibraryCellType {
		t.Fatalf("jetton wallet code is a %v cell, want a library cell", acc.Code.GetType())
	}
	if ref := acc.Code.BeginParse().MustLoadSlice(8 + 256)[1:]; !bytes.Equal(ref, walletCode.Hash()) {
		t.Fatalf("library cell names %x, want the wallet code %x", ref, walletCode.Hash())
	}
	// The master's wallet_code is the same library cell.
	data, err := master.GetJettonData(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(data.WalletCode.Hash(), acc.Code.Hash()) {
		t.Fatal("get_jetton_data's wallet_code is not the wallets' library cell")
	}
	libs, err := n.api.GetLibraries(ctx(t), walletCode.Hash(), bytes.Repeat([]byte{1}, 32))
	if err != nil {
		t.Fatal(err)
	}
	if len(libs) != 2 || libs[0] == nil || !bytes.Equal(libs[0].Hash(), walletCode.Hash()) || libs[1] != nil {
		t.Fatalf("getLibraries: %v", libs)
	}
	// A transfer between two library-code wallets, with a notification.
	alice, err := wallet.FromPrivateKey(n.freshAPI(), key(41), wallet.V4R2)
	if err != nil {
		t.Fatal(err)
	}
	n.fund(t, alice.WalletAddress(), "3")
	if _, err := n.Mint(ctx(t), j.Master, alice.WalletAddress(), big.NewInt(500)); err != nil {
		t.Fatal(err)
	}
	aw, err := master.GetJettonWallet(ctx(t), alice.WalletAddress())
	if err != nil {
		t.Fatal(err)
	}
	body, err := aw.BuildTransferPayloadV2(owner, alice.WalletAddress(), tlb.FromNanoTONU(200), tlb.MustFromTON("0.01"), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := alice.SendWaitTransaction(ctx(t), wallet.SimpleMessage(aw.Address(), tlb.MustFromTON("0.2"), body)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, func() bool { b, err := jw.GetBalance(ctx(t)); return err == nil && b.Int64() == 7200 })
	if b, err := aw.GetBalance(ctx(t)); err != nil || b.Int64() != 300 {
		t.Fatalf("alice after sending 200 of 500: %v %v", b, err)
	}
}

// jettonWalletTx is the newest transaction of jw whose inbound message
// carries op.
func (n *testNet) jettonWalletTx(t *testing.T, jw *address.Address, op uint64) *tlb.Transaction {
	t.Helper()
	var found *tlb.Transaction
	for _, tx := range n.lastTxs(t, jw) {
		if tx.IO.In == nil || tx.IO.In.MsgType != tlb.MsgTypeInternal {
			continue
		}
		s := tx.IO.In.AsInternal().Body.BeginParse()
		if got, err := s.LoadUInt(32); err == nil && got == op {
			found = tx
		}
	}
	return found
}

func exitCode(t *testing.T, tx *tlb.Transaction) (int32, bool) {
	t.Helper()
	d := tx.Description.(tlb.TransactionDescriptionOrdinary)
	vm, ok := d.ComputePhase.Phase.(tlb.ComputePhaseVM)
	if !ok {
		t.Fatalf("compute phase %T", d.ComputePhase.Phase)
	}
	return vm.Details.ExitCode, d.BouncePhase != nil
}

// The admin of a governed jetton locks a wallet (its owner can neither send
// nor receive, exit code 45, and the refused transfer bounces back), moves
// jettons out of it and burns from it while it is locked, and unlocks it.
func TestGovernedJettonAdminLocksMovesAndBurns(t *testing.T) {
	t.Parallel()
	n := startNet(t, tonsim.Options{})
	j, err := n.DeployJettonKind(ctx(t), "GUSD", 6, tonsim.JettonGoverned)
	if err != nil {
		t.Fatal(err)
	}
	master := jetton.NewJettonMasterClient(n.api, j.Master)
	alice, err := wallet.FromPrivateKey(n.freshAPI(), key(42), wallet.V4R2)
	if err != nil {
		t.Fatal(err)
	}
	n.fund(t, alice.WalletAddress(), "5")
	if _, err := n.Mint(ctx(t), j.Master, alice.WalletAddress(), big.NewInt(1000)); err != nil {
		t.Fatal(err)
	}
	aw, err := master.GetJettonWallet(ctx(t), alice.WalletAddress())
	if err != nil {
		t.Fatal(err)
	}
	bob, carol := freshAddr(0x92), freshAddr(0x93)
	send := func(to *address.Address, amount uint64) {
		t.Helper()
		body, err := aw.BuildTransferPayloadV2(to, alice.WalletAddress(), tlb.FromNanoTONU(amount), tlb.MustFromTON("0"), nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		w, err := wallet.FromPrivateKey(n.freshAPI(), key(42), wallet.V4R2)
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := w.SendWaitTransaction(ctx(t), wallet.SimpleMessage(aw.Address(), tlb.MustFromTON("0.2"), body)); err != nil {
			t.Fatal(err)
		}
	}
	balance := func(owner *address.Address) int64 {
		t.Helper()
		w, err := master.GetJettonWallet(ctx(t), owner)
		if err != nil {
			t.Fatal(err)
		}
		b, err := w.GetBalance(ctx(t))
		if err != nil {
			t.Fatal(err)
		}
		return b.Int64()
	}

	if _, err := n.LockJettonWallet(ctx(t), j.Master, alice.WalletAddress()); err != nil {
		t.Fatal(err)
	}
	if st, err := n.JettonWalletStatus(ctx(t), j.Master, alice.WalletAddress()); err != nil || st != tonsim.StatusLocked {
		t.Fatalf("status %d %v", st, err)
	}
	// The owner's own transfer is refused, and its TON bounce back.
	send(bob, 100)
	var refused *tlb.Transaction
	waitFor(t, 10*time.Second, func() bool { refused = n.jettonWalletTx(t, aw.Address(), 0x0f8a7ea5); return refused != nil })
	if code, bounced := exitCode(t, refused); code != tonsim.ExitContractLocked || !bounced {
		t.Fatalf("locked wallet's transfer: exit code %d, bounced %v", code, bounced)
	}
	if b := balance(alice.WalletAddress()); b != 1000 {
		t.Fatalf("alice holds %d after a refused transfer", b)
	}
	// Incoming transfers are refused too: the genesis wallet's jettons
	// bounce back to its jetton wallet.
	if _, err := n.Mint(ctx(t), j.Master, n.Genesis.WalletAddress(), big.NewInt(50)); err != nil {
		t.Fatal(err)
	}
	if _, err := n.TransferJetton(ctx(t), j.Master, alice.WalletAddress(), big.NewInt(50), nil, ""); err != nil {
		t.Fatal(err)
	}
	in := n.jettonWalletTx(t, aw.Address(), 0x178d4519)
	if code, bounced := exitCode(t, in); code != tonsim.ExitContractLocked || !bounced {
		t.Fatalf("locked wallet's incoming transfer: exit code %d, bounced %v", code, bounced)
	}
	waitFor(t, 10*time.Second, func() bool { return balance(n.Genesis.WalletAddress()) == 50 })

	// The admin moves and burns out of the locked wallet.
	moved, err := n.AdminTransfer(ctx(t), j.Master, alice.WalletAddress(), carol, big.NewInt(300))
	if err != nil {
		t.Fatal(err)
	}
	if !moved.JettonWallet.Equals(moved.Receive.Account) {
		t.Fatalf("the admin's transfer reached %s, not carol's jetton wallet %s", moved.Receive.Account, moved.JettonWallet)
	}
	waitFor(t, 10*time.Second, func() bool { return balance(carol) == 300 })
	if _, err := n.AdminBurn(ctx(t), j.Master, alice.WalletAddress(), big.NewInt(200)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, func() bool { return balance(alice.WalletAddress()) == 500 })
	waitFor(t, 10*time.Second, func() bool {
		data, err := master.GetJettonData(ctx(t))
		return err == nil && data.TotalSupply.Int64() == 1050-200
	})
	// More than the wallet holds is refused by the wallet.
	if _, err := n.AdminBurn(ctx(t), j.Master, alice.WalletAddress(), big.NewInt(501)); err == nil {
		t.Fatal("burning more than the balance succeeded")
	}

	if _, err := n.UnlockJettonWallet(ctx(t), j.Master, alice.WalletAddress()); err != nil {
		t.Fatal(err)
	}
	send(bob, 100)
	waitFor(t, 10*time.Second, func() bool { return balance(bob) == 100 && balance(alice.WalletAddress()) == 400 })
}

// A transfer with a forward amount to an owner without code: the
// notification of the bounceable flavour bounces back to the recipient's
// jetton wallet, the non-bounceable one stays on the owner; either way the
// jettons are the recipient's.
func TestNotificationBounceFlagToAnUndeployedOwner(t *testing.T) {
	t.Parallel()
	for _, kind := range []tonsim.JettonKind{tonsim.JettonNotifyBounceable, tonsim.JettonNotifyNonBounceable, tonsim.JettonGoverned} {
		t.Run(string(kind), func(t *testing.T) {
			t.Parallel()
			n := startNet(t, tonsim.Options{})
			j, err := n.DeployJettonKind(ctx(t), "NTF", 6, kind)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := n.Mint(ctx(t), j.Master, n.Genesis.WalletAddress(), big.NewInt(1000)); err != nil {
				t.Fatal(err)
			}
			owner := freshAddr(0x94)
			res, err := n.TransferJetton(ctx(t), j.Master, owner, big.NewInt(400), tlb.MustFromTON("0.02").Nano(), "hi")
			if err != nil {
				t.Fatal(err)
			}
			in := res.Notification.Tx.IO.In.AsInternal()
			wantBounce := kind == tonsim.JettonNotifyBounceable
			if in.Bounce != wantBounce {
				t.Fatalf("notification bounce flag %v, want %v", in.Bounce, wantBounce)
			}
			d := res.Notification.Tx.Description.(tlb.TransactionDescriptionOrdinary)
			if (d.BouncePhase != nil) != wantBounce {
				t.Fatalf("notification bounce phase %+v", d.BouncePhase)
			}
			jw := jetton.NewJettonMasterClient(n.api, j.Master)
			w, err := jw.GetJettonWallet(ctx(t), owner)
			if err != nil {
				t.Fatal(err)
			}
			if wantBounce {
				// The bounced notification reaches the jetton wallet, which
				// keeps the jettons all the same.
				waitFor(t, 10*time.Second, func() bool {
					for _, tx := range n.lastTxs(t, w.Address()) {
						if tx.IO.In != nil && tx.IO.In.MsgType == tlb.MsgTypeInternal && tx.IO.In.AsInternal().Bounced {
							return true
						}
					}
					return false
				})
			}
			if b, err := w.GetBalance(ctx(t)); err != nil || b.Int64() != 400 {
				t.Fatalf("recipient's jetton wallet holds %v %v", b, err)
			}
		})
	}
}

// The control API deploys every kind and drives the governed jetton's admin
// operations; it refuses them on a jetton that has no admin powers.
func TestControlAPIGovernedJetton(t *testing.T) {
	t.Parallel()
	n := startNet(t, tonsim.Options{})
	url := n.ctrl.URL
	post(t, url+"/jettons", map[string]any{"symbol": "X", "kind": "usdt"}, http.StatusBadRequest)
	std := post(t, url+"/jettons", map[string]any{"symbol": "STD"}, http.StatusOK)
	if std["kind"] != "standard" {
		t.Fatalf("default kind %v", std["kind"])
	}
	g := post(t, url+"/jettons", map[string]any{"symbol": "GUSD", "decimals": 6, "kind": "governed"}, http.StatusOK)
	if g["kind"] != "governed" {
		t.Fatalf("kind %v", g["kind"])
	}
	m := g["master"].(string)
	owner, to := freshAddr(0x95).String(), freshAddr(0x96).String()
	post(t, url+"/jettons/"+m+"/mint", map[string]any{"owner": owner, "amount": "900"}, http.StatusOK)
	post(t, url+"/jettons/"+std["master"].(string)+"/lock", map[string]any{"owner": owner}, http.StatusBadRequest)
	post(t, url+"/jettons/"+m+"/lock", map[string]any{"owner": owner, "status": 4}, http.StatusBadRequest)
	if out := post(t, url+"/jettons/"+m+"/lock", map[string]any{"owner": owner}, http.StatusOK); out["status"] != float64(3) {
		t.Fatalf("lock: %v", out)
	}
	resp, err := http.Get(url + "/jettons/" + m + "/wallet?owner=" + owner)
	if err != nil {
		t.Fatal(err)
	}
	var w map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&w)
	resp.Body.Close()
	if w["status"] != float64(3) || w["jetton_wallet"] == "" {
		t.Fatalf("wallet: %v", w)
	}
	tr := post(t, url+"/jettons/"+m+"/admin-transfer", map[string]any{"from": owner, "to": to, "amount": "400"}, http.StatusOK)
	if tr["tx_hash"] == "" || tr["jetton_wallet"] == "" {
		t.Fatalf("admin-transfer: %v", tr)
	}
	post(t, url+"/jettons/"+m+"/admin-burn", map[string]any{"owner": owner, "amount": "500"}, http.StatusOK)
	// Nothing is left to burn: the wallet refuses (balance error).
	post(t, url+"/jettons/"+m+"/admin-burn", map[string]any{"owner": owner, "amount": "1"}, http.StatusBadRequest)
	post(t, url+"/jettons/"+m+"/unlock", map[string]any{"owner": owner}, http.StatusOK)
	master, _ := address.ParseAddr(m)
	if st, err := n.JettonWalletStatus(ctx(t), master, freshAddr(0x95)); err != nil || st != tonsim.StatusUnlocked {
		t.Fatalf("status after unlock: %d %v", st, err)
	}
}

// A restarted network keeps its published libraries (they live in the
// librarian's masterchain state) and its governed jettons.
func TestRestartKeepsLibrariesAndGovernedJettons(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	n := startNet(t, tonsim.Options{StateDir: dir})
	j, err := n.DeployJettonKind(ctx(t), "GUSD", 6, tonsim.JettonGoverned)
	if err != nil {
		t.Fatal(err)
	}
	owner := freshAddr(0x97)
	if _, err := n.Mint(ctx(t), j.Master, owner, big.NewInt(321)); err != nil {
		t.Fatal(err)
	}
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	n2 := startNet(t, tonsim.Options{StateDir: dir})
	code := emu.Contracts.Compiled[assets.ContractGovernedWallet]
	if libs, err := n2.api.GetLibraries(ctx(t), code.Hash()); err != nil || len(libs) != 1 || libs[0] == nil {
		t.Fatalf("getLibraries after a restart: %v %v", libs, err)
	}
	if js := n2.Jettons(); len(js) != 1 || js[0].Kind != tonsim.JettonGoverned {
		t.Fatalf("jettons after a restart: %+v", js)
	}
	// Minting again (a transaction on a library-code wallet) still works.
	if _, err := n2.Mint(ctx(t), j.Master, owner, big.NewInt(1)); err != nil {
		t.Fatal(err)
	}
	w, err := jetton.NewJettonMasterClient(n2.api, j.Master).GetJettonWallet(ctx(t), owner)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, func() bool { b, err := w.GetBalance(ctx(t)); return err == nil && b.Int64() == 322 })
}
