package tonsim_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"log/slog"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/xssnick/tonutils-go/address"
	"github.com/xssnick/tonutils-go/liteclient"
	"github.com/xssnick/tonutils-go/tlb"
	"github.com/xssnick/tonutils-go/ton"
	"github.com/xssnick/tonutils-go/ton/dns"
	"github.com/xssnick/tonutils-go/ton/jetton"
	"github.com/xssnick/tonutils-go/ton/wallet"
	"github.com/xssnick/tonutils-go/tvm/cell"

	"github.com/ton-custody/processor/internal/tonsim"
)

var emu *tonsim.Emulator

func TestMain(m *testing.M) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	var err error
	emu, err = tonsim.OpenEmulator(ctx, "", 0)
	cancel()
	if err != nil {
		fmt.Fprintln(os.Stderr, "tonsim tests need the TON emulator assets (fetched with npm on first use):", err)
		os.Exit(1)
	}
	code := m.Run()
	_ = emu.Close(context.Background())
	os.Exit(code)
}

type testNet struct {
	*tonsim.Network
	api  ton.APIClientWrapped // over ADNL TCP, ProofCheckPolicyFast
	pool *liteclient.ConnectionPool
	ctrl *httptest.Server
}

// freshAPI is a client with its own masterchain-info cache. tonutils-go
// caches CurrentMasterchainInfo for 5 s; a wallet that sends right after
// being funded would otherwise look up its own state in a block from before
// the funding and never find its first transaction (a real-network quirk
// of tonutils-go, not of tonsim).
func (n *testNet) freshAPI() ton.APIClientWrapped {
	return ton.NewAPIClient(n.pool, ton.ProofCheckPolicyFast).WithRetry(3)
}

func startNet(t *testing.T, opts tonsim.Options) *testNet {
	t.Helper()
	if opts.BlockInterval == 0 {
		opts.BlockInterval = 100 * time.Millisecond
	}
	opts.LiteAddr = "127.0.0.1:0"
	n, err := tonsim.Start(context.Background(), emu, emu.Contracts, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = n.Close() })
	gc, err := n.GlobalConfig()
	if err != nil {
		t.Fatal(err)
	}
	pool := liteclient.NewConnectionPool()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := pool.AddConnectionsFromConfig(ctx, gc); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Stop)
	ctrl := httptest.NewServer(n.ControlHandler())
	t.Cleanup(ctrl.Close)
	return &testNet{Network: n, api: ton.NewAPIClient(pool, ton.ProofCheckPolicyFast).WithRetry(3), pool: pool, ctrl: ctrl}
}

func testLogger() *slog.Logger {
	if os.Getenv("TONSIM_DEBUG") == "" {
		return nil
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	t.Cleanup(cancel)
	return c
}

func key(b byte) ed25519.PrivateKey {
	seed := make([]byte, 32)
	seed[0], seed[31] = b, 0x7e
	return ed25519.NewKeyFromSeed(seed)
}

func freshAddr(b byte) *address.Address {
	h := bytes.Repeat([]byte{b}, 32)
	h[31] = 0x01
	a := address.NewAddress(0, 0, h)
	a.SetTestnetOnly(true)
	return a
}

func (n *testNet) fund(t *testing.T, to *address.Address, ton string) {
	t.Helper()
	if _, err := n.Faucet(ctx(t), to, tlb.MustFromTON(ton).Nano(), false, ""); err != nil {
		t.Fatal(err)
	}
}

func (n *testNet) account(t *testing.T, a *address.Address) *tlb.Account {
	t.Helper()
	c := ctx(t)
	mc, err := n.api.GetMasterchainInfo(c)
	if err != nil {
		t.Fatal(err)
	}
	acc, err := n.api.WaitForBlock(mc.SeqNo).GetAccount(c, mc, a)
	if err != nil {
		t.Fatal(err)
	}
	return acc
}

// lastTxs returns up to 16 transactions of a, oldest first.
func (n *testNet) lastTxs(t *testing.T, a *address.Address) []*tlb.Transaction {
	t.Helper()
	acc := n.account(t, a)
	if acc.LastTxLT == 0 {
		return nil
	}
	txs, err := n.api.ListTransactions(ctx(t), a, 16, acc.LastTxLT, acc.LastTxHash)
	if err != nil {
		t.Fatal(err)
	}
	return txs
}

func TestWalletsDeployAndTransferWithComments(t *testing.T) {
	t.Parallel()
	n := startNet(t, tonsim.Options{Logger: testLogger()})
	versions := []struct {
		name string
		ver  wallet.VersionConfig
	}{
		{"V3R2", wallet.V3R2},
		{"V4R2", wallet.V4R2},
		{"V5R1", wallet.ConfigV5R1Final{NetworkGlobalID: tonsim.GlobalID}},
	}
	for i, v := range versions {
		w, err := wallet.FromPrivateKey(n.freshAPI(), key(byte(10+i)), v.ver)
		if err != nil {
			t.Fatal(err)
		}
		n.fund(t, w.WalletAddress(), "5")
		to := freshAddr(byte(0x40 + i))
		comment := "hello from " + v.name
		msg, err := w.BuildTransfer(to, tlb.MustFromTON("1.25"), false, comment)
		if err != nil {
			t.Fatal(err)
		}
		tx, _, err := w.SendWaitTransaction(ctx(t), msg)
		if err != nil {
			t.Fatalf("%s transfer: %v", v.name, err)
		}
		if tx.OutMsgCount != 1 {
			t.Fatalf("%s: %d out messages, want 1", v.name, tx.OutMsgCount)
		}
		if st := n.account(t, w.WalletAddress()).State.Status; st != tlb.AccountStatusActive {
			t.Fatalf("%s wallet is %s after its first transfer, want active", v.name, st)
		}
		// The recipient's transaction is in a later block: wait for it.
		var got *tlb.Transaction
		for deadline := time.Now().Add(10 * time.Second); got == nil && time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
			if txs := n.lastTxs(t, to); len(txs) > 0 {
				got = txs[len(txs)-1]
			}
		}
		if got == nil {
			t.Fatalf("%s: recipient never received the transfer", v.name)
		}
		in := got.IO.In.AsInternal()
		if in.Comment() != comment || in.Amount.Nano().Cmp(tlb.MustFromTON("1.25").Nano()) != 0 || !in.SrcAddr.Equals(w.WalletAddress()) {
			t.Fatalf("%s: recipient got %s from %s with comment %q", v.name, in.Amount, in.SrcAddr, in.Comment())
		}
	}
}

func TestHighloadV3BatchOf500ExecutesOnceEvenWhenReplayed(t *testing.T) {
	t.Parallel()
	n := startNet(t, tonsim.Options{})
	qid := uint32(1)
	w, err := wallet.FromPrivateKey(n.freshAPI(), key(20), wallet.ConfigHighloadV3{MessageTTL: 120,
		MessageBuilder: func(context.Context, uint32) (uint32, int64, error) { return qid, time.Now().Unix() - 5, nil }})
	if err != nil {
		t.Fatal(err)
	}
	n.fund(t, w.WalletAddress(), "100")
	var msgs []*wallet.Message
	var dsts []*address.Address
	for i := 0; i < 500; i++ {
		h := make([]byte, 32)
		h[0], h[1], h[2] = 0xa5, byte(i>>8), byte(i)
		d := address.NewAddress(0, 0, h)
		dsts = append(dsts, d)
		msgs = append(msgs, wallet.SimpleMessage(d, tlb.MustFromTON("0.01"), nil))
		msgs[i].InternalMessage.Bounce = false
	}
	ext, err := w.PrepareExternalMessageForMany(ctx(t), true, msgs)
	if err != nil {
		t.Fatal(err)
	}
	if err := n.api.SendExternalMessage(ctx(t), ext); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, func() bool { return n.account(t, dsts[499]).State != nil && n.account(t, dsts[499]).State.IsValid })
	for _, i := range []int{0, 1, 252, 253, 254, 499} {
		acc := n.account(t, dsts[i])
		if acc.State == nil || acc.State.Balance.Nano().Cmp(tlb.MustFromTON("0.01").Nano()) != 0 {
			t.Fatalf("recipient %d: %+v", i, acc.State)
		}
	}
	// The same signed message again: a liteserver refuses it (replay
	// protection), and even pushed into a block it would not execute.
	if err := n.api.SendExternalMessage(ctx(t), ext); err == nil {
		t.Fatal("replayed highload external was accepted")
	}
	mc, _ := n.api.GetMasterchainInfo(ctx(t))
	if _, err := n.api.WaitForBlock(mc.SeqNo + 3).GetMasterchainInfo(ctx(t)); err != nil {
		t.Fatal(err)
	}
	if acc := n.account(t, dsts[7]); acc.State.Balance.Nano().Cmp(tlb.MustFromTON("0.01").Nano()) != 0 {
		t.Fatalf("recipient paid twice: %s", acc.State.Balance)
	}
	// Bit number 1023 is invalid in highload v3 even though tonutils-go accepts it.
	qid = 1023
	bad, err := w.PrepareExternalMessageForMany(ctx(t), false, msgs[:1])
	if err != nil {
		t.Fatal(err)
	}
	if err := n.api.SendExternalMessage(ctx(t), bad); err == nil {
		t.Fatal("query id with bit number 1023 was accepted")
	}
}

func waitFor(t *testing.T, d time.Duration, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(d); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatal("condition not met in", d)
}

func TestTransfersToMissingAccounts(t *testing.T) {
	t.Parallel()
	n := startNet(t, tonsim.Options{})
	t.Run("bounceable bounces back", func(t *testing.T) {
		to := freshAddr(0x51)
		res, err := n.Faucet(ctx(t), to, tlb.MustFromTON("2").Nano(), true, "")
		if err != nil {
			t.Fatal(err)
		}
		d := res.Tx.Description.(tlb.TransactionDescriptionOrdinary)
		if d.BouncePhase == nil || res.Tx.OutMsgCount != 1 {
			t.Fatalf("no bounce: %s", res.Tx.String())
		}
		out, err := res.Tx.IO.Out.ToSlice()
		if err != nil || !out[0].AsInternal().Bounced || !out[0].AsInternal().DstAddr.Equals(n.Genesis.WalletAddress()) {
			t.Fatalf("bounce message: %+v %v", out, err)
		}
		if acc := n.account(t, to); acc.IsActive && acc.State.Balance.Nano().Sign() > 0 {
			t.Fatalf("bounced value stayed: %s", acc.State.Balance)
		}
	})
	t.Run("non-bounceable creates an uninit account", func(t *testing.T) {
		to := freshAddr(0x52)
		res, err := n.Faucet(ctx(t), to, tlb.MustFromTON("2").Nano(), false, "deposit")
		if err != nil {
			t.Fatal(err)
		}
		d := res.Tx.Description.(tlb.TransactionDescriptionOrdinary)
		if _, skipped := d.ComputePhase.Phase.(tlb.ComputePhaseSkipped); !skipped || !d.Aborted {
			t.Fatalf("want compute skipped and aborted (value stays): %s", res.Tx.String())
		}
		acc := n.account(t, to)
		if acc.State.Status != tlb.AccountStatusUninit || acc.State.Balance.Nano().Cmp(tlb.MustFromTON("2").Nano()) != 0 {
			t.Fatalf("account %s with %s, want uninit with 2 TON", acc.State.Status, acc.State.Balance)
		}
	})
}

// Every jetton kind tonsim deploys (the reference one, the governed one with
// library wallet code, the two notification flavours) mints, transfers,
// notifies and returns excesses as TEP-74 says.
func TestJettonMintTransferNotificationAndExcesses(t *testing.T) {
	t.Parallel()
	for _, kind := range tonsim.JettonKinds() {
		t.Run(string(kind), func(t *testing.T) {
			t.Parallel()
			testJettonMintTransferNotificationAndExcesses(t, kind)
		})
	}
}

func testJettonMintTransferNotificationAndExcesses(t *testing.T, kind tonsim.JettonKind) {
	n := startNet(t, tonsim.Options{})
	j, err := n.DeployJettonKind(ctx(t), "TST", 6, kind)
	if err != nil {
		t.Fatal(err)
	}
	alice, err := wallet.FromPrivateKey(n.freshAPI(), key(30), wallet.V4R2)
	if err != nil {
		t.Fatal(err)
	}
	bob := freshAddr(0x61)
	n.fund(t, alice.WalletAddress(), "5")
	if _, err := n.Mint(ctx(t), j.Master, alice.WalletAddress(), big.NewInt(1_000_000)); err != nil {
		t.Fatal(err)
	}
	master := jetton.NewJettonMasterClient(n.api, j.Master)
	data, err := master.GetJettonData(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	if data.TotalSupply.Int64() != 1_000_000 {
		t.Fatalf("total supply %s", data.TotalSupply)
	}
	aw, err := master.GetJettonWallet(ctx(t), alice.WalletAddress())
	if err != nil {
		t.Fatal(err)
	}
	if bal, err := aw.GetBalance(ctx(t)); err != nil || bal.Int64() != 1_000_000 {
		t.Fatalf("alice balance %v %v", bal, err)
	}
	bw, err := master.GetJettonWallet(ctx(t), bob)
	if err != nil {
		t.Fatal(err)
	}
	send := func(amount int64, fwd string, comment string) {
		var fwdPayload *cell.Cell
		if comment != "" {
			fwdPayload, _ = wallet.CreateCommentCell(comment)
		}
		body, err := aw.BuildTransferPayloadV2(bob, alice.WalletAddress(), tlb.FromNanoTONU(uint64(amount)), tlb.MustFromTON(fwd), fwdPayload, nil)
		if err != nil {
			t.Fatal(err)
		}
		// A client of its own per send: within tonutils-go's 5 s
		// masterchain-info cache the second send would read alice's
		// seqno from before the first (exit code 33).
		sender, err := wallet.FromPrivateKey(n.freshAPI(), key(30), wallet.V4R2)
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := sender.SendWaitTransaction(ctx(t), wallet.SimpleMessage(aw.Address(), tlb.MustFromTON("0.2"), body)); err != nil {
			t.Fatal(err)
		}
	}
	if kind == tonsim.JettonNotifyBounceable {
		// A bounced message leaves no account behind where there was
		// none, nor a transaction to list: give bob an (uninit) account.
		n.fund(t, bob, "0.1")
	}
	notes := func() []*tlb.Transaction {
		var out []*tlb.Transaction
		for _, tx := range n.lastTxs(t, bob) {
			if tx.IO.In != nil && tx.IO.In.MsgType == tlb.MsgTypeInternal && tx.IO.In.AsInternal().SrcAddr.Equals(bw.Address()) {
				out = append(out, tx)
			}
		}
		return out
	}
	// forward_ton_amount = 0: bob's jetton wallet is credited, bob gets no notification.
	send(100, "0", "")
	waitFor(t, 10*time.Second, func() bool { b, err := bw.GetBalance(ctx(t)); return err == nil && b.Int64() == 100 })
	if txs := notes(); len(txs) != 0 {
		t.Fatalf("bob got %d transactions for a transfer without forward amount", len(txs))
	}
	// forward_ton_amount > 0: transfer_notification reaches bob with the comment.
	send(250, "0.01", "order 42")
	var note *tlb.Transaction
	waitFor(t, 10*time.Second, func() bool {
		if txs := notes(); len(txs) > 0 {
			note = txs[len(txs)-1]
		}
		return note != nil
	})
	in := note.IO.In.AsInternal()
	s := in.Body.BeginParse()
	if op := s.MustLoadUInt(32); op != 0x7362d09c {
		t.Fatalf("bob got op %x, want transfer_notification", op)
	}
	s.MustLoadUInt(64)
	if amt := s.MustLoadBigCoins(); amt.Int64() != 250 {
		t.Fatalf("notification amount %s", amt)
	}
	if !in.SrcAddr.Equals(bw.Address()) {
		t.Fatalf("notification from %s, want bob's jetton wallet %s", in.SrcAddr, bw.Address())
	}
	// Excesses went back to alice (response destination).
	found := false
	for _, tx := range n.lastTxs(t, alice.WalletAddress()) {
		if tx.IO.In != nil && tx.IO.In.MsgType == tlb.MsgTypeInternal {
			if b := tx.IO.In.AsInternal().Body.BeginParse(); b.BitsLeft() >= 32 && b.MustLoadUInt(32) == 0xd53276db {
				found = true
			}
		}
	}
	if !found {
		t.Fatal("no excesses message reached alice")
	}
}

func TestDNSResolvesWalletRecord(t *testing.T) {
	t.Parallel()
	n := startNet(t, tonsim.Options{})
	target := freshAddr(0x71)
	post(t, n.ctrl.URL+"/dns", map[string]any{"domain": "alice.ton", "address": target.String()}, http.StatusOK)
	root, err := dns.GetRootContractAddr(ctx(t), n.api)
	if err != nil {
		t.Fatal(err)
	}
	d, err := dns.NewDNSClient(n.api, root).Resolve(ctx(t), "alice.ton")
	if err != nil {
		t.Fatal(err)
	}
	if got := d.GetWalletRecord(); got == nil || !got.Equals(target) {
		t.Fatalf("alice.ton -> %v, want %s", got, target)
	}
	d, err = dns.NewDNSClient(n.api, root).Resolve(ctx(t), "nobody.ton")
	if err != nil {
		t.Fatal(err)
	}
	if d.GetWalletRecord() != nil {
		t.Fatal("unknown domain resolved")
	}
}

func TestShardSplitAndMergeThroughControlAPI(t *testing.T) {
	t.Parallel()
	n := startNet(t, tonsim.Options{Shards: 2})
	post(t, n.ctrl.URL+"/shards/split", map[string]any{"shard": "4000000000000000"}, http.StatusOK)
	mc, _ := n.api.GetMasterchainInfo(ctx(t))
	shards, err := n.api.GetBlockShardsInfo(ctx(t), mc)
	if err != nil || len(shards) != 3 {
		t.Fatalf("after split: %d shards, %v", len(shards), err)
	}
	post(t, n.ctrl.URL+"/shards/merge", map[string]any{"shard": "2000000000000000"}, http.StatusOK)
	mc, _ = n.api.GetMasterchainInfo(ctx(t))
	shards, err = n.api.GetBlockShardsInfo(ctx(t), mc)
	if err != nil || len(shards) != 2 {
		t.Fatalf("after merge: %d shards, %v", len(shards), err)
	}
	// Deposits keep working across the new layout.
	to := freshAddr(0x10)
	n.fund(t, to, "1")
	if n.account(t, to).State.Balance.Nano().Cmp(tlb.MustFromTON("1").Nano()) != 0 {
		t.Fatal("deposit after merge lost")
	}
}

func TestRestartWithStateDirKeepsBalances(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	n := startNet(t, tonsim.Options{StateDir: dir})
	to := freshAddr(0x81)
	n.fund(t, to, "3")
	head := n.Chain.Last().ID
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	n2 := startNet(t, tonsim.Options{StateDir: dir})
	if n2.Chain.Last().ID.SeqNo < head.SeqNo {
		t.Fatalf("restarted at %d, was at %d", n2.Chain.Last().ID.SeqNo, head.SeqNo)
	}
	if b, err := n2.Chain.MasterBySeqno(head.SeqNo); err != nil || !b.ID.Equals(&head) {
		t.Fatalf("old head not kept: %v", err)
	}
	if bal := n2.account(t, to).State.Balance.Nano(); bal.Cmp(tlb.MustFromTON("3").Nano()) != 0 {
		t.Fatalf("balance after restart %s", bal)
	}
	// Genesis query ids are not replayed after a restart. The uninit
	// account pays storage for the time between the two transfers (a
	// nanoton when the machine is slow), which the emulator reports.
	r, err := n2.Faucet(ctx(t), to, tlb.MustFromTON("1").Nano(), false, "")
	if err != nil {
		t.Fatal(err)
	}
	want := tlb.MustFromTON("4").Nano()
	if d, ok := r.Tx.Description.(tlb.TransactionDescriptionOrdinary); ok && d.StoragePhase != nil {
		want.Sub(want, d.StoragePhase.StorageFeesCollected.Nano())
	}
	if bal := n2.account(t, to).State.Balance.Nano(); bal.Cmp(want) != 0 {
		t.Fatalf("balance after second faucet %s, want %s", bal, want)
	}
}

func post(t *testing.T, url string, body any, want int) map[string]any {
	t.Helper()
	var rd *bytes.Reader
	switch b := body.(type) {
	case string:
		rd = bytes.NewReader([]byte(b))
	default:
		raw, _ := json.Marshal(b)
		rd = bytes.NewReader(raw)
	}
	resp, err := http.Post(url, "application/json", rd)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatalf("%s: answer is not a JSON object: %v", url, err)
	}
	if resp.StatusCode != want {
		t.Fatalf("%s: status %d (%v), want %d", url, resp.StatusCode, out, want)
	}
	return out
}

func TestControlAPIRejectsBadInput(t *testing.T) {
	t.Parallel()
	n := startNet(t, tonsim.Options{Manual: true})
	good := freshAddr(0x91).String()
	cases := []struct {
		name, path string
		body       any
	}{
		{"invalid address", "/faucet", map[string]any{"address": "EQnot-an-address", "amount": "1"}},
		{"bad checksum", "/faucet", map[string]any{"address": good[:len(good)-1] + "A", "amount": "1"}},
		{"negative amount", "/faucet", map[string]any{"address": good, "amount": "-5"}},
		{"fractional amount", "/faucet", map[string]any{"address": good, "amount": "1.5"}},
		{"fractional number", "/faucet", `{"address":"` + good + `","amount":1.5}`},
		{"zero amount", "/faucet", map[string]any{"address": good, "amount": "0"}},
		{"missing amount", "/faucet", map[string]any{"address": good}},
		{"not json", "/faucet", "{"},
		{"unknown field", "/faucet", map[string]any{"address": good, "amount": "1", "colour": "red"}},
		{"unknown master", "/jettons/" + good + "/mint", map[string]any{"owner": good, "amount": "1"}},
		{"bad symbol", "/jettons", map[string]any{"symbol": "no spaces", "decimals": 9}},
		{"bad decimals", "/jettons", map[string]any{"symbol": "OK", "decimals": 40}},
		{"bad domain", "/dns", map[string]any{"domain": "a..ton", "address": good}},
		{"bad shard", "/shards/split", map[string]any{"shard": "xyz"}},
		{"unknown shard", "/shards/split", map[string]any{"shard": "1000000000000000"}},
		{"bad fault", "/faults", map[string]any{"mode": "explode", "duration": "1s"}},
		{"bad duration", "/faults", map[string]any{"mode": "drop", "duration": "forever"}},
		{"lag on a missing node", "/faults/lag", map[string]any{"node": 1, "blocks": 5}},
		{"negative lag", "/faults/lag", map[string]any{"node": 0, "blocks": -1}},
		{"lag without node", "/faults/lag", map[string]any{"blocks": 5}},
		{"bad block count", "/blocks", map[string]any{"count": -1}},
		{"bulk to nobody", "/bulk", map[string]any{"transfers": []any{}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out := post(t, n.ctrl.URL+c.path, c.body, http.StatusBadRequest)
			if msg, _ := out["error"].(string); strings.TrimSpace(msg) == "" {
				t.Fatalf("no error message: %v", out)
			}
		})
	}
}
