package liteserver_test

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"math/big"
	"testing"
	"time"

	"github.com/xssnick/tonutils-go/address"
	"github.com/xssnick/tonutils-go/liteclient"
	"github.com/xssnick/tonutils-go/tl"
	"github.com/xssnick/tonutils-go/tlb"
	"github.com/xssnick/tonutils-go/ton"
	"github.com/xssnick/tonutils-go/tvm/cell"

	"github.com/ton-custody/processor/internal/tonsim/chain"
	"github.com/ton-custody/processor/internal/tonsim/liteserver"
)

// noExec fails every emulator call: these tests use bulk transfers only.
type noExec struct{}

func (noExec) Execute(context.Context, *cell.Cell, *cell.Cell, chain.ExecParams) (*chain.ExecResult, error) {
	return &chain.ExecResult{Success: false, Error: "no emulator in this test"}, nil
}
func (noExec) RunGetMethod(context.Context, chain.GetMethodCall) (*chain.GetMethodResult, error) {
	return &chain.GetMethodResult{ExitCode: 11}, nil
}

func minimalConfig(t *testing.T) *cell.Cell { return minimalConfigTB(t) }

func minimalConfigTB(t testing.TB) *cell.Cell {
	d := cell.NewDict(32)
	set := func(k int64, v *cell.Cell) {
		if err := d.SetIntKey(big.NewInt(k), cell.BeginCell().MustStoreRef(v).EndCell()); err != nil {
			t.Fatal(err)
		}
	}
	set(4, cell.BeginCell().MustStoreSlice(make([]byte, 32), 256).EndCell())
	set(19, cell.BeginCell().MustStoreInt(-3, 32).EndCell())
	return d.AsCell()
}

func addr(i int) *address.Address {
	h := make([]byte, 32)
	h[0], h[1], h[2], h[31] = byte(i*37), byte(i), byte(i>>8), 0x55
	return address.NewAddress(0, 0, h)
}

type env struct {
	c    *chain.Chain
	h    *liteserver.Handler
	apis map[string]ton.APIClientWrapped
}

func newEnv(t *testing.T) *env {
	t.Helper()
	c, err := chain.New(chain.Config{Blockchain: minimalConfig(t)}, noExec{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	h := liteserver.NewHandler(c)
	faults := &liteserver.Faults{}
	_, key, _ := ed25519.GenerateKey(nil)
	srv := liteserver.NewServer(h, faults, key)
	liteclient.Logger = func(...any) {}
	bound, err := srv.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	pool := liteclient.NewConnectionPool()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := pool.AddConnection(ctx, bound, base64.StdEncoding.EncodeToString(srv.PublicKey())); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Stop)
	return &env{c: c, h: h, apis: map[string]ton.APIClientWrapped{
		"adnl":   ton.NewAPIClient(pool, ton.ProofCheckPolicyFast),
		"inproc": ton.NewAPIClient(liteserver.NewClient(h, faults), ton.ProofCheckPolicyFast),
	}}
}

func TestBulkTransfersAreServedWithFastProofs(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	var list []chain.BulkTransfer
	for i := 0; i < 600; i++ {
		list = append(list, chain.BulkTransfer{To: addr(i % 300), Amount: big.NewInt(int64(1000 + i)), Comment: "bulk"})
	}
	if err := e.c.BulkLoad(list); err != nil {
		t.Fatal(err)
	}
	if _, err := e.c.ProduceBlock(ctx); err != nil {
		t.Fatal(err)
	}
	for name, api := range e.apis {
		t.Run(name, func(t *testing.T) {
			mc, err := api.GetMasterchainInfo(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if mc.SeqNo != 2 {
				t.Fatalf("master seqno %d, want 2", mc.SeqNo)
			}
			if _, err := api.LookupBlock(ctx, -1, mc.Shard, mc.SeqNo); err != nil {
				t.Fatal("lookup:", err)
			}
			shards, err := api.GetBlockShardsInfo(ctx, mc)
			if err != nil {
				t.Fatal(err)
			}
			if len(shards) != 4 {
				t.Fatalf("%d shards, want 4", len(shards))
			}
			total := 0
			for _, sh := range shards {
				blk, err := api.GetBlockData(ctx, sh)
				if err != nil {
					t.Fatal(err)
				}
				parents, err := blk.BlockInfo.GetParentBlocks()
				if err != nil || len(parents) != 1 || parents[0].SeqNo != sh.SeqNo-1 {
					t.Fatalf("parents of %d: %v %v", sh.SeqNo, parents, err)
				}
				var after *ton.TransactionID3
				for {
					ids, more, err := api.GetBlockTransactionsV2(ctx, sh, 100, after)
					if err != nil {
						t.Fatal(err)
					}
					total += len(ids)
					for _, id := range ids[:1] {
						tx, err := api.GetTransaction(ctx, sh, address.NewAddress(0, 0, id.Account), id.LT)
						if err != nil {
							t.Fatal(err)
						}
						in := tx.IO.In.AsInternal()
						if in.Comment() != "bulk" || in.Bounce {
							t.Fatalf("bad bulk tx: %s", tx.String())
						}
						d := tx.Description.(tlb.TransactionDescriptionOrdinary)
						if !d.Aborted {
							t.Fatal("codeless credit must be aborted with compute skipped")
						}
					}
					if !more {
						break
					}
					after = ids[len(ids)-1].ID3()
				}
			}
			if total != 600 {
				t.Fatalf("listed %d transactions, want 600", total)
			}
			acc, err := api.GetAccount(ctx, mc, addr(7))
			if err != nil {
				t.Fatal(err)
			}
			want := big.NewInt(1000 + 7 + 1000 + 307)
			if acc.State.Status != tlb.AccountStatusUninit || acc.State.Balance.Nano().Cmp(want) != 0 {
				t.Fatalf("account 7: %s %s, want uninit %s", acc.State.Status, acc.State.Balance.Nano(), want)
			}
			txs, err := api.ListTransactions(ctx, addr(7), 10, acc.LastTxLT, acc.LastTxHash)
			if err != nil || len(txs) != 2 {
				t.Fatalf("list: %d %v", len(txs), err)
			}
			missing, err := api.GetAccount(ctx, mc, addr(1000))
			if err != nil || missing.IsActive {
				t.Fatalf("missing account: %+v %v", missing, err)
			}
			cfg, err := api.GetBlockchainConfig(ctx, mc, 4)
			if err != nil || cfg.Get(4) == nil {
				t.Fatalf("config 4: %v", err)
			}
		})
	}
}

func TestSplitAndMergeAreVisibleToClients(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	api := e.apis["adnl"]
	if err := e.c.Split(0x2000000000000000); err != nil {
		t.Fatal(err)
	}
	if _, err := e.c.ProduceBlock(ctx); err != nil {
		t.Fatal(err)
	}
	mc, _ := api.GetMasterchainInfo(ctx)
	shards, err := api.GetBlockShardsInfo(ctx, mc)
	if err != nil || len(shards) != 5 {
		t.Fatalf("after split: %d shards %v", len(shards), err)
	}
	var child *ton.BlockIDExt
	for _, s := range shards {
		if uint64(s.Shard) == 0x1000000000000000 {
			child = s
		}
	}
	if child == nil {
		t.Fatal("left child 0x1000... not listed")
	}
	blk, err := api.GetBlockData(ctx, child)
	if err != nil {
		t.Fatal(err)
	}
	parents, err := blk.BlockInfo.GetParentBlocks()
	if err != nil || len(parents) != 1 || uint64(parents[0].Shard) != 0x2000000000000000 {
		t.Fatalf("split parent: %v %v", parents, err)
	}
	if err := e.c.Merge(0x1000000000000000); err != nil {
		t.Fatal(err)
	}
	if _, err := e.c.ProduceBlock(ctx); err != nil {
		t.Fatal(err)
	}
	mc, _ = api.GetMasterchainInfo(ctx)
	shards, err = api.GetBlockShardsInfo(ctx, mc)
	if err != nil || len(shards) != 4 {
		t.Fatalf("after merge: %d shards %v", len(shards), err)
	}
	for _, s := range shards {
		if uint64(s.Shard) != 0x2000000000000000 {
			continue
		}
		blk, err := api.GetBlockData(ctx, s)
		if err != nil {
			t.Fatal(err)
		}
		parents, err := blk.BlockInfo.GetParentBlocks()
		if err != nil || len(parents) != 2 {
			t.Fatalf("merge parents: %v %v", parents, err)
		}
		return
	}
	t.Fatal("merged shard not listed")
}

func TestWaitForBlockReallyWaits(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	api := e.apis["adnl"]
	mc, _ := api.GetMasterchainInfo(ctx)
	go func() {
		time.Sleep(300 * time.Millisecond)
		_, _ = e.c.ProduceBlock(ctx)
	}()
	start := time.Now()
	next, err := api.WaitForBlock(mc.SeqNo + 1).GetMasterchainInfo(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if next.SeqNo != mc.SeqNo+1 || time.Since(start) < 250*time.Millisecond {
		t.Fatalf("got seqno %d after %v", next.SeqNo, time.Since(start))
	}
}

func TestUnknownQueryGetsLSError(t *testing.T) {
	e := newEnv(t)
	mc := e.c.Last().ID
	var resp any
	err := e.apis["adnl"].Client().QueryLiteserver(context.Background(), ton.GetShardInfo{ID: &mc, Shard: -1 << 63}, &resp)
	if err != nil {
		t.Fatal(err)
	}
	if lerr, ok := resp.(ton.LSError); !ok || lerr.Code == 0 {
		t.Fatalf("want LSError, got %#v", resp)
	}
}

// BenchmarkListBlockTransactionsPage measures one GetBlockTransactionsV2
// page of 256 with Fast proofs over ADNL TCP.
func BenchmarkListBlockTransactionsPage(b *testing.B) {
	c, err := chain.New(chain.Config{Blockchain: minimalConfigTB(b), Shards: 1}, noExec{}, nil)
	if err != nil {
		b.Fatal(err)
	}
	var list []chain.BulkTransfer
	for i := 0; i < 1000; i++ {
		list = append(list, chain.BulkTransfer{To: addr(i), Amount: big.NewInt(1)})
	}
	if err := c.BulkLoad(list); err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	if _, err := c.ProduceBlock(ctx); err != nil {
		b.Fatal(err)
	}
	h := liteserver.NewHandler(c)
	_, key, _ := ed25519.GenerateKey(nil)
	srv := liteserver.NewServer(h, nil, key)
	liteclient.Logger = func(...any) {}
	bound, err := srv.Listen("127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer srv.Close()
	pool := liteclient.NewConnectionPool()
	defer pool.Stop()
	if err := pool.AddConnection(ctx, bound, base64.StdEncoding.EncodeToString(srv.PublicKey())); err != nil {
		b.Fatal(err)
	}
	api := ton.NewAPIClient(pool, ton.ProofCheckPolicyFast)
	mc, _ := api.GetMasterchainInfo(ctx)
	shards, err := api.GetBlockShardsInfo(ctx, mc)
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		ids, _, err := api.GetBlockTransactionsV2(ctx, shards[0], 256)
		if err != nil || len(ids) != 256 {
			b.Fatalf("%d %v", len(ids), err)
		}
	}
}

// pageHandler is a handler over a one-shard chain whose last shard block
// has 1,000 bulk transactions, and the listBlockTransactions query for a
// page of 256 of them with proof.
func pageHandler(b *testing.B) (*liteserver.Handler, ton.ListBlockTransactions) {
	c, err := chain.New(chain.Config{Blockchain: minimalConfigTB(b), Shards: 1}, noExec{}, nil)
	if err != nil {
		b.Fatal(err)
	}
	var list []chain.BulkTransfer
	for i := 0; i < 1000; i++ {
		list = append(list, chain.BulkTransfer{To: addr(i), Amount: big.NewInt(1)})
	}
	if err := c.BulkLoad(list); err != nil {
		b.Fatal(err)
	}
	if _, err := c.ProduceBlock(context.Background()); err != nil {
		b.Fatal(err)
	}
	top := c.Last().ShardTops[0].ID
	return liteserver.NewHandler(c), ton.ListBlockTransactions{ID: &top, Mode: 0b111 | 1<<5, Count: 256, WantProof: &ton.True{}}
}

// BenchmarkServeTransactionsPage measures the liteserver's side of one
// listBlockTransactions page of 256 with proof (no transport, no client
// verification).
func BenchmarkServeTransactionsPage(b *testing.B) {
	h, q := pageHandler(b)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if res, ok := h.Handle(context.Background(), q).(ton.BlockTransactions); !ok || len(res.TransactionIds) != 256 {
			b.Fatal("bad answer")
		}
	}
}

// BenchmarkBaselineRawTransactionsPage is the same-run baseline of
// BenchmarkServeTransactionsPage: the raw page without our processing —
// the ready answer (the same 256 ids and proof) put on the wire (TL with
// the proof's bag of cells), which any liteserver pays for whatever it
// does to find the transactions and build the proof.
func BenchmarkBaselineRawTransactionsPage(b *testing.B) {
	h, q := pageHandler(b)
	res, ok := h.Handle(context.Background(), q).(ton.BlockTransactions)
	if !ok || len(res.TransactionIds) != 256 {
		b.Fatal("bad answer")
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := tl.Serialize(res, true); err != nil {
			b.Fatal(err)
		}
	}
}

// TestMalformedMessagesGetLSError: a real liteserver answers an error to a
// sendMessage whose BoC is malformed; it neither crashes nor allocates by
// a count the bytes do not hold. tonutils-go's BoC parser panics on no
// roots and on truncated headers and allocates by declared counts, so any
// client could bring the whole local network down with a few bytes.
func TestMalformedMessagesGetLSError(t *testing.T) {
	e := newEnv(t)
	magic := []byte{0xb5, 0xee, 0x9c, 0x72}
	cases := map[string][]byte{
		"no roots":              append(append([]byte{}, magic...), 0x01, 0x01, 0x01, 0x00, 0x00, 0x02, 0x00, 0x00),
		"roots beyond the data": append(append([]byte{}, magic...), 0x04, 0x01, 0x00, 0x00, 0x00, 0x01, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0x02),
		"truncated header":      append(append([]byte{}, magic...), 0x04, 0x08, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00),
		"not a boc":             []byte("hello, liteserver"),
	}
	for name, boc := range cases {
		for api, c := range e.apis {
			var resp any
			err := c.Client().QueryLiteserver(context.Background(), ton.SendMessage{Body: boc}, &resp)
			if err != nil {
				t.Fatalf("%s over %s: %v", name, api, err)
			}
			if lerr, ok := resp.(ton.LSError); !ok || lerr.Code == 0 {
				t.Fatalf("%s over %s: want LSError, got %#v", name, api, resp)
			}
		}
	}
	// Still serving.
	if _, err := e.apis["adnl"].GetMasterchainInfo(context.Background()); err != nil {
		t.Fatalf("after malformed messages: %v", err)
	}
}
