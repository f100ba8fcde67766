package tvm

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"math/big"
	"strings"
	"testing"

	"github.com/xssnick/tonutils-go/address"
	"github.com/xssnick/tonutils-go/tlb"
	"github.com/xssnick/tonutils-go/ton/wallet"
	"github.com/xssnick/tonutils-go/tvm/cell"
)

func TestInstanceReportsEmulatorVersion(t *testing.T) {
	in, _ := testInstance(t)
	v, err := in.Version(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var parsed map[string]any
	if err := json.Unmarshal([]byte(v), &parsed); err != nil || parsed["emulatorLibCommitHash"] == nil {
		t.Fatalf("version %q: %v", v, err)
	}
}

func TestV4R2DeployAndTransferThenBadSignatureIsNotAccepted(t *testing.T) {
	ctx := context.Background()
	in, a := testInstance(t)
	em := testEmulator(t, in, a.Config)
	utime := now()

	tw := newTestWallet(t, 1, wallet.V4R2)
	addr := tw.w.WalletAddress()
	dest := addrFromByte(0x11)
	sa := uninitShardAccount(t, addr, tlb.MustFromTON("10"), utime)
	comment, err := wallet.CreateCommentCell("hello")
	if err != nil {
		t.Fatal(err)
	}
	ext := tw.external(t, true, wallet.SimpleMessage(dest, tlb.MustFromTON("1"), comment))

	r, err := em.Emulate(ctx, sa, ext, Params{UTime: utime, LT: 1_000_000})
	if err != nil {
		t.Fatal(err)
	}
	tx := parseTx(t, r)
	if tx.OrigStatus != tlb.AccountStatusUninit || tx.EndStatus != tlb.AccountStatusActive {
		t.Fatalf("status %s -> %s, want UNINIT -> ACTIVE", tx.OrigStatus, tx.EndStatus)
	}
	if vm, ok := ordinary(t, tx).ComputePhase.Phase.(tlb.ComputePhaseVM); !ok || !vm.Success {
		t.Fatalf("compute phase %#v", ordinary(t, tx).ComputePhase.Phase)
	}
	outs := outMessages(t, tx)
	if len(outs) != 1 || tx.OutMsgCount != 1 {
		t.Fatalf("%d out messages", len(outs))
	}
	out := outs[0].AsInternal()
	if !out.DstAddr.Equals(dest) || out.Amount.Nano().Cmp(tlb.MustFromTON("1").Nano()) != 0 {
		t.Fatalf("out message to %s amount %s", out.DstAddr, out.Amount)
	}
	acc := parseAccount(t, r.ShardAccount)
	if acc.status != tlb.AccountStatusActive || acc.code == nil {
		t.Fatalf("account %s", acc.status)
	}
	if r.Actions == nil {
		t.Error("no action list")
	}
	tw.seqno++

	// The same wallet's next message signed with another key: the contract
	// throws before ACCEPT, so no transaction exists.
	impostor := newTestWallet(t, 2, wallet.V4R2)
	impostor.seqno = tw.seqno
	forged, err := impostor.w.PrepareExternalMessageForMany(ctx, false, []*wallet.Message{wallet.SimpleMessage(dest, tlb.MustFromTON("1"), nil)})
	if err != nil {
		t.Fatal(err)
	}
	forged.DstAddr = addr
	r2, err := em.Emulate(ctx, r.ShardAccount, toCell(t, forged), Params{UTime: utime, LT: 2_000_000})
	if err != nil {
		t.Fatal(err)
	}
	if r2.Success || !r2.ExternalNotAccepted || r2.Transaction != nil {
		t.Fatalf("forged external: %+v", r2)
	}
	if r2.VMExitCode != 35 { // wallet v4: throw_unless(35, check_signature(...))
		t.Fatalf("exit code %d, want 35", r2.VMExitCode)
	}
	if !strings.Contains(r2.Error, "not accepted") {
		t.Fatalf("error %q", r2.Error)
	}
}

func TestHighloadV3BatchReplayAndQueryIDBit1023(t *testing.T) {
	ctx := context.Background()
	in, a := testInstance(t)
	em := testEmulator(t, in, a.Config)
	utime := now()
	p := Params{UTime: utime, LT: 1_000_000}

	seed := make([]byte, 32)
	seed[1] = 3
	var qid uint32 = 7
	cfg := wallet.ConfigHighloadV3{MessageTTL: 120, MessageBuilder: func(context.Context, uint32) (uint32, int64, error) {
		return qid, int64(utime) - 10, nil
	}}
	w, err := wallet.FromPrivateKey(nil, ed25519.NewKeyFromSeed(seed), cfg)
	if err != nil {
		t.Fatal(err)
	}
	msgs := []*wallet.Message{
		wallet.SimpleMessage(addrFromByte(0x21), tlb.MustFromTON("0.3"), nil),
		wallet.SimpleMessage(addrFromByte(0x22), tlb.MustFromTON("0.2"), nil),
		wallet.SimpleMessage(addrFromByte(0x23), tlb.MustFromTON("0.1"), nil),
	}
	ext, err := w.PrepareExternalMessageForMany(ctx, true, msgs)
	if err != nil {
		t.Fatal(err)
	}
	extCell := toCell(t, ext)

	// 1. The external deploys the wallet and sends the packed batch to itself.
	r1, err := em.Emulate(ctx, uninitShardAccount(t, w.WalletAddress(), tlb.MustFromTON("5"), utime), extCell, p)
	if err != nil {
		t.Fatal(err)
	}
	tx1 := parseTx(t, r1)
	if tx1.EndStatus != tlb.AccountStatusActive {
		t.Fatalf("end status %s", tx1.EndStatus)
	}
	self := outMessages(t, tx1)
	if len(self) != 1 || !self[0].AsInternal().DstAddr.Equals(w.WalletAddress()) {
		t.Fatalf("want one internal_transfer to self, got %d out messages", len(self))
	}

	// 2. The self message executes the batch: three transfers.
	p.LT = 2_000_000
	r2, err := em.Emulate(ctx, r1.ShardAccount, toCell(t, self[0].AsInternal()), p)
	if err != nil {
		t.Fatal(err)
	}
	tx2 := parseTx(t, r2)
	outs := outMessages(t, tx2)
	if len(outs) != 3 {
		t.Fatalf("batch produced %d messages, want 3", len(outs))
	}
	for i, m := range outs {
		if !m.AsInternal().DstAddr.Equals(msgs[i].InternalMessage.DstAddr) {
			t.Errorf("message %d to %s", i, m.AsInternal().DstAddr)
		}
	}

	// 3. Replaying the same external: the query id is marked processed.
	p.LT = 3_000_000
	r3, err := em.Emulate(ctx, r2.ShardAccount, extCell, p)
	if err != nil {
		t.Fatal(err)
	}
	if r3.Success || !r3.ExternalNotAccepted || r3.VMExitCode != 36 {
		t.Fatalf("replay: success=%v notAccepted=%v exit=%d, want exit 36", r3.Success, r3.ExternalNotAccepted, r3.VMExitCode)
	}

	// 4. bit_number 1023 (low 10 bits of the query id) is out of range: the
	// contract only has bits 0..1022; tonutils-go only checks id < 1<<23.
	qid = 1023
	ext4, err := w.PrepareExternalMessageForMany(ctx, false, msgs[:1])
	if err != nil {
		t.Fatal(err)
	}
	r4, err := em.Emulate(ctx, r2.ShardAccount, toCell(t, ext4), p)
	if err != nil {
		t.Fatal(err)
	}
	if r4.Success || !r4.ExternalNotAccepted {
		t.Fatalf("query id 1023 accepted: %+v", r4)
	}
	t.Logf("query id 1023: exit %d", r4.VMExitCode)

	// and a fresh valid query id still works on the same state
	qid = 8
	ext5, err := w.PrepareExternalMessageForMany(ctx, false, msgs[:1])
	if err != nil {
		t.Fatal(err)
	}
	if r5, err := em.Emulate(ctx, r2.ShardAccount, toCell(t, ext5), p); err != nil || !r5.Success {
		t.Fatalf("fresh query id: %v %+v", err, r5)
	}
}

func TestTransferToNonExistentAccount(t *testing.T) {
	ctx := context.Background()
	in, a := testInstance(t)
	em := testEmulator(t, in, a.Config)
	utime := now()
	src, dst := addrFromByte(0x31), addrFromByte(0x32)
	value := tlb.MustFromTON("2")

	t.Run("non-bounceable keeps the value in an uninit account", func(t *testing.T) {
		r, err := em.Emulate(ctx, NoneShardAccount(), internalMsg(t, src, dst, value, false, nil, nil, utime), Params{UTime: utime, LT: 1_000_000})
		if err != nil {
			t.Fatal(err)
		}
		tx := parseTx(t, r)
		d := ordinary(t, tx)
		skipped, ok := d.ComputePhase.Phase.(tlb.ComputePhaseSkipped)
		if !ok {
			t.Fatalf("compute phase %T, want skipped", d.ComputePhase.Phase)
		}
		if skipped.Reason.Type != tlb.ComputeSkipReasonNoState {
			t.Errorf("skip reason %s", skipped.Reason.Type)
		}
		if !d.Aborted {
			t.Error("aborted=false; the emulator reports aborted=true for a skipped compute phase")
		}
		if tx.OrigStatus != tlb.AccountStatusNonExist || tx.EndStatus != tlb.AccountStatusUninit {
			t.Errorf("status %s -> %s, want NON_EXIST -> UNINIT", tx.OrigStatus, tx.EndStatus)
		}
		if tx.OutMsgCount != 0 {
			t.Errorf("%d out messages", tx.OutMsgCount)
		}
		acc := parseAccount(t, r.ShardAccount)
		if acc.status != tlb.AccountStatusUninit || acc.balance.Sign() <= 0 || acc.balance.Cmp(value.Nano()) > 0 {
			t.Errorf("account %s balance %s", acc.status, acc.balance)
		}
	})

	t.Run("bounceable bounces back", func(t *testing.T) {
		r, err := em.Emulate(ctx, NoneShardAccount(), internalMsg(t, src, dst, value, true, nil, nil, utime), Params{UTime: utime, LT: 1_000_000})
		if err != nil {
			t.Fatal(err)
		}
		tx := parseTx(t, r)
		d := ordinary(t, tx)
		if d.BouncePhase == nil {
			t.Fatal("no bounce phase")
		}
		if _, ok := d.BouncePhase.Phase.(tlb.BouncePhaseOk); !ok {
			t.Fatalf("bounce phase %T", d.BouncePhase.Phase)
		}
		outs := outMessages(t, tx)
		if len(outs) != 1 {
			t.Fatalf("%d out messages, want the bounce", len(outs))
		}
		b := outs[0].AsInternal()
		if !b.Bounced || b.Bounce || !b.DstAddr.Equals(src) {
			t.Fatalf("bounce message bounced=%v bounce=%v dst=%s", b.Bounced, b.Bounce, b.DstAddr)
		}
		if b.Amount.Nano().Sign() <= 0 || b.Amount.Nano().Cmp(value.Nano()) >= 0 {
			t.Errorf("bounced amount %s", b.Amount)
		}
	})
}

func TestJettonMinterWalletAddressMatchesOfflineStateInit(t *testing.T) {
	ctx := context.Background()
	in, a := testInstance(t)
	em := testEmulator(t, in, a.Config)
	utime := now()
	admin, owner := addrFromByte(0x41), addrFromByte(0x42)

	content := cell.BeginCell().MustStoreUInt(1, 8).MustStoreStringSnake("https://example.org/jetton.json").EndCell()
	data := cell.BeginCell().MustStoreCoins(0).MustStoreAddr(admin).MustStoreRef(content).MustStoreRef(a.JettonWalletCode).EndCell()
	si := &tlb.StateInit{Code: a.JettonMinterCode, Data: data}
	minter := address.NewAddress(0, 0, toCell(t, si).Hash())

	// Deploy and mint in one message from the admin:
	// mint#15 query_id:64 to:MsgAddress ton_amount:Coins master_msg:^internal_transfer
	amount := big.NewInt(1_000_000_000_000)
	master := cell.BeginCell().MustStoreUInt(0x178d4519, 32).MustStoreUInt(7, 64).MustStoreBigCoins(amount).
		MustStoreAddr(minter).MustStoreAddr(admin).MustStoreCoins(0).MustStoreBoolBit(false).EndCell()
	body := cell.BeginCell().MustStoreUInt(21, 32).MustStoreUInt(7, 64).MustStoreAddr(owner).
		MustStoreCoins(tlb.MustFromTON("0.05").Nano().Uint64()).MustStoreRef(master).EndCell()
	r, err := em.Emulate(ctx, NoneShardAccount(), internalMsg(t, admin, minter, tlb.MustFromTON("0.2"), true, si, body, utime), Params{UTime: utime, LT: 1_000_000})
	if err != nil {
		t.Fatal(err)
	}
	tx := parseTx(t, r)
	if vm, ok := ordinary(t, tx).ComputePhase.Phase.(tlb.ComputePhaseVM); !ok || !vm.Success || tx.EndStatus != tlb.AccountStatusActive {
		t.Fatalf("minter deploy: end %s compute %#v", tx.EndStatus, ordinary(t, tx).ComputePhase.Phase)
	}
	outs := outMessages(t, tx)
	if len(outs) != 1 {
		t.Fatalf("mint produced %d messages", len(outs))
	}
	used := outs[0].AsInternal().DstAddr

	offData := cell.BeginCell().MustStoreCoins(0).MustStoreAddr(owner).MustStoreAddr(minter).MustStoreRef(a.JettonWalletCode).EndCell()
	offline := address.NewAddress(0, 0, toCell(t, &tlb.StateInit{Code: a.JettonWalletCode, Data: offData}).Hash())

	acc := parseAccount(t, r.ShardAccount)
	gm, err := in.RunGetMethod(ctx, GetMethodParams{
		Code: acc.code, Data: acc.data, Address: minter, Balance: acc.balance, UTime: utime,
		Method: "get_wallet_address", Args: []any{cell.BeginCell().MustStoreAddr(owner).EndCell().BeginParse()},
		Config: a.Config,
	})
	if err != nil {
		t.Fatal(err)
	}
	if gm.ExitCode != 0 || gm.GasUsed <= 0 {
		t.Fatalf("get_wallet_address exit %d gas %d: %s", gm.ExitCode, gm.GasUsed, gm.VMLog)
	}
	vals, err := gm.Values()
	if err != nil {
		t.Fatal(err)
	}
	sl, ok := vals[0].(*cell.Slice)
	if len(vals) != 1 || !ok {
		t.Fatalf("result %v", vals)
	}
	got := sl.MustLoadAddr()
	if !got.Equals(offline) || !got.Equals(used) {
		t.Fatalf("get_wallet_address %s, offline %s, used by the minter %s", got, offline, used)
	}

	// get_jetton_data reflects the mint (multi-value result order)
	gm, err = in.RunGetMethod(ctx, GetMethodParams{Code: acc.code, Data: acc.data, Address: minter, Balance: acc.balance,
		UTime: utime, Method: "get_jetton_data", Config: a.SlimConfig})
	if err != nil {
		t.Fatal(err)
	}
	vals, err = gm.Values()
	if err != nil || len(vals) != 5 {
		t.Fatalf("get_jetton_data %v %v", vals, err)
	}
	if supply, ok := vals[0].(*big.Int); !ok || supply.Cmp(amount) != 0 {
		t.Fatalf("total supply %v, want %s", vals[0], amount)
	}
}

func TestRunGetMethodSeqnoAndErrors(t *testing.T) {
	ctx := context.Background()
	in, a := testInstance(t)
	em := testEmulator(t, in, a.Config)
	utime := now()
	tw, sa := deployedV4R2(t, em, 5, utime)
	acc := parseAccount(t, sa)
	base := GetMethodParams{Code: acc.code, Data: acc.data, Address: tw.w.WalletAddress(), Balance: acc.balance, UTime: utime, Config: a.Config}

	p := base
	p.Method = "seqno"
	gm, err := in.RunGetMethod(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	vals, err := gm.Values()
	if err != nil || gm.ExitCode != 0 || len(vals) != 1 || vals[0].(*big.Int).Int64() != 1 {
		t.Fatalf("seqno: exit %d vals %v err %v", gm.ExitCode, vals, err)
	}

	p.Method = "no_such_method"
	gm, err = in.RunGetMethod(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	if gm.ExitCode != 11 { // method not found in the dictionary
		t.Fatalf("unknown method exit %d", gm.ExitCode)
	}

	p = base
	p.MethodID = 85143 // seqno by id
	if gm, err = in.RunGetMethod(ctx, p); err != nil || gm.ExitCode != 0 {
		t.Fatalf("seqno by id: %v %+v", err, gm)
	}
	p.RandSeed = []byte{1, 2, 3}
	if _, err := in.RunGetMethod(ctx, p); err == nil {
		t.Fatal("short rand seed accepted")
	}
	if _, err := in.RunGetMethod(ctx, GetMethodParams{Method: "seqno"}); err == nil {
		t.Fatal("missing code accepted")
	}
	if in.Err() != nil {
		t.Fatal(in.Err())
	}
}

func TestGarbageConfigIsAnErrorAndTheInstanceSurvives(t *testing.T) {
	ctx := context.Background()
	in, a := testInstance(t)

	cfgDict := a.Config.AsDict(32)
	if err := cfgDict.SetIntKey(big.NewInt(12), cell.BeginCell().MustStoreRef(cell.BeginCell().MustStoreUInt(0xdead, 16).EndCell()).EndCell()); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		cfg  *cell.Cell
	}{
		{"empty cell", cell.BeginCell().EndCell()},
		{"random bits", cell.BeginCell().MustStoreUInt(0xdeadbeefcafebabe, 64).EndCell()},
		{"valid dictionary, garbage workchain descriptions", cfgDict.AsCell()},
		{"jetton code instead of a config", a.JettonMinterCode},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sp := in.sp.Get()
			em, err := in.NewEmulator(ctx, tc.cfg, 0)
			if err == nil {
				_ = em.Close(ctx)
				t.Fatal("garbage config accepted")
			}
			if !errors.Is(err, ErrInvalidConfig) {
				t.Fatalf("error %v does not wrap ErrInvalidConfig", err)
			}
			if in.Err() != nil {
				t.Fatalf("instance broken: %v", in.Err())
			}
			if in.sp.Get() != sp || in.exc.uncaught != 0 || in.exc.last != 0 || len(in.exc.caught) != 0 {
				t.Fatalf("state not restored: sp %d->%d, exceptions %+v", sp, in.sp.Get(), in.exc)
			}
			t.Logf("%v", err)
		})
	}
	// get methods with a garbage config fail without breaking the instance
	if _, err := in.RunGetMethod(ctx, GetMethodParams{Code: a.JettonWalletCode, Data: cell.BeginCell().EndCell(),
		Address: addrFromByte(1), Method: "get_wallet_data", Config: cell.BeginCell().MustStoreUInt(1, 1).EndCell()}); err == nil {
		t.Error("get method with garbage config succeeded")
	}

	// the instance still emulates correctly, repeatedly
	em := testEmulator(t, in, a.Config)
	utime := now()
	for i := range 3 {
		tw, sa := deployedV4R2(t, em, byte(10+i), utime)
		if acc := parseAccount(t, sa); acc.status != tlb.AccountStatusActive {
			t.Fatalf("wallet %s: %s", tw.w.WalletAddress(), acc.status)
		}
	}
	if in.Err() != nil {
		t.Fatal(in.Err())
	}
}

// A bad parameter makes emulate_with_emulator free the emulator object; the
// Emulator must drop the pointer and recreate the object on the next call.
func TestEmulatorRecreatedAfterCSideFreesIt(t *testing.T) {
	ctx := context.Background()
	in, a := testInstance(t)
	em := testEmulator(t, in, a.Config)
	utime := now()
	src, dst := addrFromByte(0x51), addrFromByte(0x52)
	msg := internalMsg(t, src, dst, tlb.MustFromTON("1"), false, nil, nil, utime)

	old := em.ptr
	out, err := in.callString(ctx, expEmulateWithEmulator, []uint64{uint64(em.ptr)}, cArg{null: true},
		cArg{s: bocB64(NoneShardAccount())}, cArg{s: bocB64(msg)},
		cArg{s: `{"utime":0,"lt":"1","rand_seed":"abcd","ignore_chksig":false,"debug_enabled":false}`})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, msgCantSetParams) {
		t.Fatalf("unexpected output %s", out)
	}
	em.ptr = 0 // what Emulate does on that message

	r, err := em.Emulate(ctx, NoneShardAccount(), msg, Params{UTime: utime, LT: 1})
	if err != nil || !r.Success {
		t.Fatalf("after recreate: %v %+v", err, r)
	}
	if em.ptr == 0 {
		t.Fatal("emulator not recreated")
	}
	t.Logf("emulator object %#x freed by the C side, recreated as %#x", old, em.ptr)

	if _, err := em.Emulate(ctx, NoneShardAccount(), msg, Params{RandSeed: make([]byte, 31)}); err == nil {
		t.Fatal("31-byte seed accepted")
	}
}

func TestEmulateIsDeterministicWithFixedParams(t *testing.T) {
	ctx := context.Background()
	in, a := testInstance(t)
	em := testEmulator(t, in, a.Config)
	utime := now()
	src, dst := addrFromByte(0x61), addrFromByte(0x62)
	msg := internalMsg(t, src, dst, tlb.MustFromTON("1"), true, nil, nil, utime)
	seed := bytes.Repeat([]byte{7}, 32)
	var first []byte
	for i := range 3 {
		r, err := em.Emulate(ctx, NoneShardAccount(), msg, Params{UTime: utime, LT: 5_000_000, RandSeed: seed})
		if err != nil {
			t.Fatal(err)
		}
		h := r.Transaction.Hash()
		if i == 0 {
			first = h
		} else if !bytes.Equal(h, first) {
			t.Fatalf("run %d produced a different transaction", i)
		}
	}
}

func TestSlimConfigKeepsWhatGetMethodsAndTransactionsNeed(t *testing.T) {
	ctx := context.Background()
	in, a := testInstance(t)
	slim, err := SlimConfig(a.Config)
	if err != nil {
		t.Fatal(err)
	}
	if len(slim.ToBOC()) > len(a.Config.ToBOC())/10 {
		t.Errorf("slim config is %d bytes, full %d", len(slim.ToBOC()), len(a.Config.ToBOC()))
	}
	for _, k := range []int64{0, 8, 12, 20, 21, 24, 25, 45} {
		if !hasParam(slim, k) {
			t.Errorf("param %d dropped", k)
		}
	}
	if !hasParam(a.Config, 34) {
		t.Fatal("SlimConfig modified its input")
	}
	// transactions and get methods work with it
	em := testEmulator(t, in, slim)
	tw, sa := deployedV4R2(t, em, 0x33, now())
	acc := parseAccount(t, sa)
	r, err := in.RunGetMethod(ctx, GetMethodParams{Code: acc.code, Data: acc.data, Address: tw.w.WalletAddress(),
		Balance: acc.balance, UTime: now(), Method: "get_public_key", Config: slim})
	if err != nil || r.ExitCode != 0 {
		t.Fatalf("%v %+v", err, r)
	}
	if _, err := SlimConfig(nil); err == nil {
		t.Error("nil config accepted")
	}
}

// Jetton wallet code stored as a library cell (as USDT-style minters do):
// it runs only when Params.Libs provides the code, and libs passed to one
// call must not leak into the next (the C emulator keeps them otherwise).
func TestLibrariesAreResolvedAndNotSticky(t *testing.T) {
	ctx := context.Background()
	in, a := testInstance(t)
	em := testEmulator(t, in, a.Config)
	utime := now()
	code := a.JettonWalletCode

	libCell := cell.BeginCell().MustStoreUInt(2, 8).MustStoreSlice(code.Hash(), 256).EndCell()
	libCell.UnsafeModify(cell.LevelMask{}, true) // exotic library cell
	libs := cell.NewDict(256)
	if err := libs.Set(cell.BeginCell().MustStoreSlice(code.Hash(), 256).EndCell(), cell.BeginCell().MustStoreRef(code).EndCell()); err != nil {
		t.Fatal(err)
	}

	master, owner := addrFromByte(0x81), addrFromByte(0x82)
	data := cell.BeginCell().MustStoreCoins(0).MustStoreAddr(owner).MustStoreAddr(master).MustStoreRef(libCell).EndCell()
	si := &tlb.StateInit{Code: libCell, Data: data}
	jw := address.NewAddress(0, 0, toCell(t, si).Hash())
	// internal_transfer#178d4519 query_id amount from response_address forward_ton_amount forward_payload
	body := cell.BeginCell().MustStoreUInt(0x178d4519, 32).MustStoreUInt(1, 64).MustStoreCoins(1000).
		MustStoreAddr(master).MustStoreAddr(owner).MustStoreCoins(0).MustStoreBoolBit(false).EndCell()
	msg := internalMsg(t, master, jw, tlb.MustFromTON("0.1"), true, si, body, utime)
	p := Params{UTime: utime, LT: 1_000_000}

	computeOK := func(r *Result) bool {
		vm, ok := ordinary(t, parseTx(t, r)).ComputePhase.Phase.(tlb.ComputePhaseVM)
		return ok && vm.Success
	}
	p.Libs = libs.AsCell()
	withLibs, err := em.Emulate(ctx, NoneShardAccount(), msg, p)
	if err != nil {
		t.Fatal(err)
	}
	if !computeOK(withLibs) {
		t.Fatalf("library code did not run with libs: %s", withLibs.VMLog)
	}

	p.Libs = nil
	reused, err := em.Emulate(ctx, NoneShardAccount(), msg, p)
	if err != nil {
		t.Fatal(err)
	}
	fresh, err := testEmulator(t, in, a.Config).Emulate(ctx, NoneShardAccount(), msg, p)
	if err != nil {
		t.Fatal(err)
	}
	if computeOK(reused) || computeOK(fresh) {
		t.Fatal("library code ran without libs")
	}
	if !bytes.Equal(reused.Transaction.Hash(), fresh.Transaction.Hash()) {
		t.Fatal("libs from an earlier call leaked into a call without libs")
	}
}

func hasParam(cfg *cell.Cell, k int64) bool {
	_, err := cfg.AsDict(32).LoadValueByIntKey(big.NewInt(k))
	return err == nil
}
