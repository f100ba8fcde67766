package tonsim_test

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/xssnick/tonutils-go/address"
	"github.com/xssnick/tonutils-go/liteclient"
	"github.com/xssnick/tonutils-go/tlb"
	"github.com/xssnick/tonutils-go/ton"
	"github.com/xssnick/tonutils-go/ton/wallet"
	"github.com/xssnick/tonutils-go/tvm/cell"

	"github.com/ton-custody/processor/internal/tonsim"
	"github.com/ton-custody/processor/internal/tonsim/chain"
)

// treeBody is a body of distinct cells holding payload bytes in all, 127
// per cell, four references per cell breadth first: wide and shallow, so
// that only the size grows with payload.
func treeBody(payload int, seed byte) *cell.Cell {
	n := (payload + 126) / 127
	data := make([][]byte, n)
	for i := range data {
		size := 127
		if i == n-1 && payload%127 != 0 {
			size = payload % 127
		}
		h := sha256.Sum256([]byte{seed, byte(i >> 8), byte(i)})
		data[i] = append(h[:], h[:]...) // 64 bytes, repeated to size
		for len(data[i]) < size {
			data[i] = append(data[i], h[:]...)
		}
		data[i] = data[i][:size]
	}
	return tree(n, 4, func(i int, b *cell.Builder) { b.MustStoreSlice(data[i], uint(len(data[i]))*8) })
}

// tinyCellsBody is count distinct cells of 16 data bits each, four
// references per cell: many cells in few bytes.
func tinyCellsBody(count int) *cell.Cell {
	return tree(count, 4, func(i int, b *cell.Builder) { b.MustStoreUInt(uint64(i), 16) })
}

// tree builds n cells where cell i refers to cells fan*i+1..fan*i+fan.
func tree(n, fan int, fill func(int, *cell.Builder)) *cell.Cell {
	built := make([]*cell.Cell, n)
	for i := n - 1; i >= 0; i-- {
		b := cell.BeginCell()
		fill(i, b)
		for c := fan*i + 1; c <= fan*i+fan && c < n; c++ {
			b.MustStoreRef(built[c])
		}
		built[i] = b.EndCell()
	}
	return built[0]
}

// chainBody is a snake of n distinct cells: depth n-1.
func chainBody(n int) *cell.Cell {
	var c *cell.Cell
	for i := n - 1; i >= 0; i-- {
		b := cell.BeginCell().MustStoreUInt(uint64(i), 16)
		if c != nil {
			b.MustStoreRef(c)
		}
		c = b.EndCell()
	}
	return c
}

// deployExternal is w's first external (state init, seqno 0) sending body
// to to; built offline, as nothing about the undeployed wallet is read.
func deployExternal(t *testing.T, w *wallet.Wallet, to *address.Address, body *cell.Cell) (*tlb.ExternalMessage, *cell.Cell) {
	t.Helper()
	msg := wallet.SimpleMessage(to, tlb.MustFromTON("0.1"), body)
	msg.InternalMessage.Bounce = false
	ext, err := w.PrepareExternalMessageForMany(ctx(t), true, []*wallet.Message{msg})
	if err != nil {
		t.Fatal(err)
	}
	c, err := tlb.ToCell(ext)
	if err != nil {
		t.Fatal(err)
	}
	return ext, c
}

// bocSize is what tonutils-go's SendExternalMessage puts on the wire.
func bocSize(c *cell.Cell) int { return len(c.ToBOCWithFlags(false)) }

// refusedUnexecuted sends ext, wants a liteserver error containing want,
// and checks that the wallet did not run it.
func (n *testNet) refusedUnexecuted(t *testing.T, w *wallet.Wallet, ext *tlb.ExternalMessage, want string) {
	t.Helper()
	before := n.Chain.LastTx(w.WalletAddress())
	err := n.api.SendExternalMessage(ctx(t), ext)
	var lsErr ton.LSError
	if !errors.As(err, &lsErr) || !strings.Contains(lsErr.Text, want) {
		t.Fatalf("liteserver answered %v, want an LSError saying %q", err, want)
	}
	if q := n.Chain.QueueLen(); q != 0 {
		t.Fatalf("refused message queued (%d in the queue)", q)
	}
	for i := 0; i < 2; i++ {
		if _, err := n.ProduceBlock(ctx(t)); err != nil {
			t.Fatal(err)
		}
	}
	if after := n.Chain.LastTx(w.WalletAddress()); after != before {
		t.Fatalf("refused external was executed: lt %d", after.LT)
	}
}

// acceptedExecuted sends ext and waits for to to receive body from w.
func (n *testNet) acceptedExecuted(t *testing.T, w *wallet.Wallet, ext *tlb.ExternalMessage, to *address.Address, body *cell.Cell) {
	t.Helper()
	if err := n.api.SendExternalMessage(ctx(t), ext); err != nil {
		t.Fatalf("external refused: %v", err)
	}
	if _, err := n.ProduceBlock(ctx(t)); err != nil {
		t.Fatal(err)
	}
	txs := n.lastTxs(t, to)
	if len(txs) != 1 || txs[0].IO.In == nil || txs[0].IO.In.MsgType != tlb.MsgTypeInternal {
		t.Fatalf("recipient has %d transactions, want the one message", len(txs))
	}
	in := txs[0].IO.In.AsInternal()
	if !in.SrcAddr.Equals(w.WalletAddress()) || string(in.Body.Hash()) != string(body.Hash()) {
		t.Fatalf("recipient got a message from %s with another body", in.SrcAddr)
	}
}

// Validators refuse an external whose BoC is over max_ext_msg_size (65535
// bytes, config param 43): liteServer.sendMessage answers with an error and
// nothing runs. One byte under the limit goes through.
func TestExternalOver64KiBIsRefused(t *testing.T) {
	t.Parallel()
	n := startNet(t, tonsim.Options{Manual: true})
	limit := int(n.Chain.SizeLimits().MaxExtMsgSize)
	if limit != 65535 {
		t.Fatalf("max_ext_msg_size %d, want mainnet's 65535", limit)
	}
	w, err := wallet.FromPrivateKey(n.API, key(40), wallet.V4R2)
	if err != nil {
		t.Fatal(err)
	}
	n.fund(t, w.WalletAddress(), "10")
	to := freshAddr(0xa1)
	// The largest body whose external still fits: sizes grow with the
	// payload (a byte or a cell at a time).
	lo, hi := 50_000, 70_000
	for lo+1 < hi {
		mid := (lo + hi) / 2
		if _, c := deployExternal(t, w, to, treeBody(mid, 1)); bocSize(c) <= limit {
			lo = mid
		} else {
			hi = mid
		}
	}
	under, underCell := deployExternal(t, w, to, treeBody(lo, 1))
	over, overCell := deployExternal(t, w, to, treeBody(hi, 1))
	if s := bocSize(underCell); s > limit || s < limit-200 {
		t.Fatalf("the external under the limit is %d bytes", s)
	}
	if s := bocSize(overCell); s <= limit {
		t.Fatalf("the external over the limit is %d bytes", s)
	}
	t.Logf("refusing %d bytes, accepting %d bytes", bocSize(overCell), bocSize(underCell))
	n.refusedUnexecuted(t, w, over, "external message too large")
	n.acceptedExecuted(t, w, under, to, treeBody(lo, 1))
}

// Validators refuse an external whose root cell is max_ext_msg_depth (512)
// deep or deeper. (511 is allowed, which chain's tests check: the WASM
// emulator itself traps on messages deeper than about 300 cells.)
func TestExternalTooDeepIsRefused(t *testing.T) {
	t.Parallel()
	n := startNet(t, tonsim.Options{Manual: true})
	limit := int(n.Chain.SizeLimits().MaxExtMsgDepth)
	if limit != 512 {
		t.Fatalf("max_ext_msg_depth %d, want mainnet's 512", limit)
	}
	w, err := wallet.FromPrivateKey(n.API, key(41), wallet.V4R2)
	if err != nil {
		t.Fatal(err)
	}
	n.fund(t, w.WalletAddress(), "10")
	to := freshAddr(0xa2)
	// Depth the external adds above its body (a long body, so that the
	// state init's code is not the deepest branch).
	_, probe := deployExternal(t, w, to, chainBody(100))
	base := int(probe.Depth()) - 99
	for _, depth := range []int{limit, limit + 100} {
		deep, deepCell := deployExternal(t, w, to, chainBody(depth-base+1))
		if d := int(deepCell.Depth()); d != depth {
			t.Fatalf("deep external has depth %d, want %d", d, depth)
		}
		n.refusedUnexecuted(t, w, deep, "external message is too deep")
	}
	body := chainBody(10)
	ok, _ := deployExternal(t, w, to, body)
	n.acceptedExecuted(t, w, ok, to, body)
}

// max_msg_cells (8192, config param 43) applies to inbound externals too:
// the emulator refuses one over it before the contract runs, although its
// BoC is well under 64 KiB.
func TestExternalOverMaxMsgCellsIsRefused(t *testing.T) {
	t.Parallel()
	n := startNet(t, tonsim.Options{Manual: true})
	cells := int(n.Chain.SizeLimits().MaxMsgCells)
	if cells != 8192 {
		t.Fatalf("max_msg_cells %d, want mainnet's 8192", cells)
	}
	w, err := wallet.FromPrivateKey(n.API, key(42), wallet.V4R2)
	if err != nil {
		t.Fatal(err)
	}
	n.fund(t, w.WalletAddress(), "10")
	to := freshAddr(0xa3)
	over, overCell := deployExternal(t, w, to, tinyCellsBody(cells+100))
	if s := bocSize(overCell); s >= 65535 {
		t.Fatalf("the external is %d bytes: the size limit, not the cell limit, would refuse it", s)
	}
	n.refusedUnexecuted(t, w, over, "rejected")
	body := tinyCellsBody(cells - 200)
	ok, _ := deployExternal(t, w, to, body)
	n.acceptedExecuted(t, w, ok, to, body)
}

func TestNetworkConfigCarriesSizeLimits(t *testing.T) {
	t.Parallel()
	n := startNet(t, tonsim.Options{Manual: true})
	mc, err := n.api.GetMasterchainInfo(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := n.api.GetBlockchainConfig(ctx(t), mc, 43)
	if err != nil {
		t.Fatal(err)
	}
	p := cfg.Get(43)
	if p == nil {
		t.Fatal("config param 43 is missing")
	}
	root := cell.NewDict(32)
	if err := root.SetIntKey(big.NewInt(43), cell.BeginCell().MustStoreRef(p).EndCell()); err != nil {
		t.Fatal(err)
	}
	got, err := chain.SizeLimitsFromConfig(root.AsCell())
	if err != nil {
		t.Fatal(err)
	}
	if got != chain.DefaultSizeLimits() {
		t.Fatalf("param 43 = %+v, want mainnet's %+v", got, chain.DefaultSizeLimits())
	}
}

// lsAddr is a global config entry's host:port.
func lsAddr(ls liteclient.LiteserverConfig) string {
	ip := uint32(ls.IP)
	return fmt.Sprintf("%d.%d.%d.%d:%d", byte(ip>>24), byte(ip>>16), byte(ip>>8), byte(ip), ls.Port)
}

// pinned is a client that talks to liteserver node i of the global config only.
func (n *testNet) pinned(t *testing.T, i int) ton.APIClientWrapped {
	t.Helper()
	gc, err := n.GlobalConfig()
	if err != nil {
		t.Fatal(err)
	}
	pool := liteclient.NewConnectionPool()
	c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := pool.AddConnection(c, lsAddr(gc.Liteservers[i]), gc.Liteservers[i].ID.Key); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Stop)
	return ton.NewAPIClient(pool, ton.ProofCheckPolicyFast)
}

func lsCode(err error) int32 {
	var e ton.LSError
	if errors.As(err, &e) {
		return e.Code
	}
	return 0
}

// A liteserver node made to lag behind serves an older masterchain block,
// account and get-method state as of it, refuses newer blocks with 651,
// makes waitMasterchainSeqno wait, and catches up when the fault clears.
func TestLaggingLiteserver(t *testing.T) {
	t.Parallel()
	n := startNet(t, tonsim.Options{Manual: true, LiteServers: 2})
	gc, err := n.GlobalConfig()
	if err != nil {
		t.Fatal(err)
	}
	if len(gc.Liteservers) != 2 || gc.Liteservers[0].ID.Key == gc.Liteservers[1].ID.Key {
		t.Fatalf("global config lists %d liteservers, want 2 with their own keys", len(gc.Liteservers))
	}
	produce := func(k int) {
		for i := 0; i < k; i++ {
			if _, err := n.ProduceBlock(ctx(t)); err != nil {
				t.Fatal(err)
			}
		}
	}
	sender, to := key(43), freshAddr(0xa4)
	senderAddr := func() *address.Address {
		w, err := wallet.FromPrivateKey(n.API, sender, wallet.V4R2)
		if err != nil {
			t.Fatal(err)
		}
		return w.WalletAddress()
	}()
	n.fund(t, senderAddr, "10")
	transfer := func(amount string) (uint32, *tlb.ExternalMessage) {
		// A client of its own each time: tonutils-go caches the
		// masterchain info, and with it the wallet's seqno, for 5 s.
		w, err := wallet.FromPrivateKey(n.freshAPI(), sender, wallet.V4R2)
		if err != nil {
			t.Fatal(err)
		}
		msg := wallet.SimpleMessage(to, tlb.MustFromTON(amount), nil)
		msg.InternalMessage.Bounce = false
		ext, err := w.BuildExternalMessageForMany(ctx(t), []*wallet.Message{msg})
		if err != nil {
			t.Fatal(err)
		}
		if err := n.api.SendExternalMessage(ctx(t), ext); err != nil {
			t.Fatal(err)
		}
		produce(1)
		return n.Chain.LastTx(to).Block.MasterSeqno, ext
	}
	first, _ := transfer("1")
	produce(5)
	second, secondExt := transfer("2")
	produce(2)
	last := n.Chain.Last().ID.SeqNo

	lag := post(t, n.ctrl.URL+"/faults/lag", map[string]any{"node": 1, "blocks": 5}, http.StatusOK)
	if got := uint32(lag["master_seqno"].(float64)); got != last-5 || last-5 < first || last-5 >= second {
		t.Fatalf("lagging node serves %d (chain %d, transfers final in %d and %d)", got, last, first, second)
	}
	stale, fresh := n.pinned(t, 1), n.pinned(t, 0)
	old, err := stale.GetMasterchainInfo(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	head, err := fresh.GetMasterchainInfo(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	if old.SeqNo != last-5 || head.SeqNo != last {
		t.Fatalf("lagging node at %d, up-to-date node at %d; want %d and %d", old.SeqNo, head.SeqNo, last-5, last)
	}
	oldAcc, err := stale.GetAccount(ctx(t), old, to)
	if err != nil {
		t.Fatal(err)
	}
	newAcc, err := fresh.GetAccount(ctx(t), head, to)
	if err != nil {
		t.Fatal(err)
	}
	if oldAcc.State.Balance.Nano().Cmp(tlb.MustFromTON("1").Nano()) != 0 || newAcc.State.Balance.Nano().Cmp(tlb.MustFromTON("2.9").Nano()) <= 0 {
		t.Fatalf("balance %s on the lagging node, %s on the other; want 1 and about 3", oldAcc.State.Balance, newAcc.State.Balance)
	}
	seqno := func(api ton.APIClientWrapped, at *ton.BlockIDExt) int64 {
		res, err := api.RunGetMethod(ctx(t), at, senderAddr, "seqno")
		if err != nil {
			t.Fatal(err)
		}
		return res.MustInt(0).Int64()
	}
	if o, f := seqno(stale, old), seqno(fresh, head); o != 1 || f != 2 {
		t.Fatalf("wallet seqno %d on the lagging node, %d on the other; want 1 and 2", o, f)
	}
	// Blocks it does not have yet: not ready, as a node that has not
	// applied them; waitMasterchainSeqno waits, or times out.
	if _, err := stale.GetAccount(ctx(t), head, to); lsCode(err) != 651 {
		t.Fatalf("lagging node on a block it lacks: %v, want LSError 651", err)
	}
	short, cancel := context.WithTimeout(ctx(t), 500*time.Millisecond)
	_, err = stale.WaitForBlock(last).GetMasterchainInfo(short)
	cancel()
	if err == nil {
		t.Fatal("waitMasterchainSeqno for a block the lagging node lacks answered at once")
	}
	if _, err := stale.WaitForBlock(last + 200).GetMasterchainInfo(ctx(t)); lsCode(err) != 651 {
		t.Fatalf("waitMasterchainSeqno far ahead: %v, want LSError 651", err)
	}
	waited, wctx := make(chan error, 1), ctx(t)
	go func() {
		_, err := stale.WaitForBlock(last-3).GetAccount(wctx, head, to)
		waited <- err
	}()
	time.Sleep(100 * time.Millisecond)
	produce(2) // the lagging node now has last-3, not yet head
	select {
	case err := <-waited:
		if lsCode(err) != 651 {
			t.Fatalf("after the wait, the block the node still lacks: %v, want LSError 651", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("waitMasterchainSeqno did not return once the lagging node had the block")
	}
	// The lagging node checks externals against its stale state: it takes
	// the replay of a transfer it has not seen yet, the other node refuses
	// it, and the block does not run it again.
	if err := stale.SendExternalMessage(ctx(t), secondExt); err != nil {
		t.Fatalf("lagging node refused a message that is new to it: %v", err)
	}
	if err := fresh.SendExternalMessage(ctx(t), secondExt); err == nil {
		t.Fatal("up-to-date node accepted a replayed message")
	}
	before := n.Chain.LastTx(senderAddr)
	produce(1)
	if n.Chain.LastTx(senderAddr) != before {
		t.Fatal("the replayed transfer ran again")
	}
	// A client pool with both nodes gets around the stale one (tonutils-go
	// retries 651 on the next node).
	for i := 0; i < 5; i++ {
		if _, err := n.api.GetAccount(ctx(t), head, to); err != nil {
			t.Fatalf("pool with one lagging node: %v", err)
		}
	}

	post(t, n.ctrl.URL+"/faults/lag", map[string]any{"node": 1, "blocks": 0}, http.StatusOK)
	caught, err := stale.GetMasterchainInfo(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	if caught.SeqNo != n.Chain.Last().ID.SeqNo {
		t.Fatalf("after clearing the lag the node serves %d, the chain is at %d", caught.SeqNo, n.Chain.Last().ID.SeqNo)
	}
	acc, err := stale.GetAccount(ctx(t), caught, to)
	if err != nil {
		t.Fatal(err)
	}
	if acc.State.Balance.Nano().Cmp(newAcc.State.Balance.Nano()) != 0 {
		t.Fatalf("after clearing the lag the balance is %s, want %s", acc.State.Balance, newAcc.State.Balance)
	}

	// The Go method, and DELETE /faults clears lags with the other faults.
	if err := n.SetLag(1, 3); err != nil {
		t.Fatal(err)
	}
	if err := n.SetLag(2, 3); err == nil {
		t.Fatal("lag on a node the network does not have was accepted")
	}
	req, _ := http.NewRequest(http.MethodDelete, n.ctrl.URL+"/faults", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if lag := n.Nodes[1].Handler.Lag(); lag != 0 {
		t.Fatalf("DELETE /faults left a lag of %d", lag)
	}
}
