package liteserver_test

import (
	"context"
	"math/big"
	"testing"

	"github.com/xssnick/tonutils-go/ton"
	"github.com/xssnick/tonutils-go/tvm/cell"

	"github.com/ton-custody/processor/internal/tonsim/chain"
)

// lookupBlock by lt and by utime answers the first block reaching them, in
// the shard holding the prefix, with every header proof mode.
func TestLookupBlockByLTAndUtime(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	if err := e.c.BulkLoad([]chain.BulkTransfer{{To: addr(3), Amount: big.NewInt(5)}}); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		if _, err := e.c.ProduceBlock(ctx); err != nil {
			t.Fatal(err)
		}
	}
	tx := e.c.LastTx(addr(3))
	shard := tx.Block.ID.Shard
	for _, hm := range []uint32{0, 1, 2, 16, 16 | 32, 1 | 2 | 16 | 32} {
		for _, q := range []ton.LookupBlock{
			{Mode: 2 | hm<<4, ID: &ton.BlockInfoShort{Workchain: 0, Shard: shard}, LT: tx.LT},
			{Mode: 4 | hm<<4, ID: &ton.BlockInfoShort{Workchain: 0, Shard: shard}, UTime: tx.Block.GenUtime},
			{Mode: 2 | hm<<4, ID: &ton.BlockInfoShort{Workchain: -1, Shard: -1 << 63}, LT: e.c.Last().StartLT},
		} {
			res, ok := e.h.Handle(ctx, q).(ton.BlockHeader)
			if !ok {
				t.Fatalf("mode %d: %#v", q.Mode, e.h.Handle(ctx, q))
			}
			if q.ID.Workchain == 0 && q.Mode&2 != 0 && !res.ID.Equals(&tx.Block.ID) {
				t.Fatalf("lookup by lt %d found %d, want %d", tx.LT, res.ID.SeqNo, tx.Block.ID.SeqNo)
			}
			if q.ID.Workchain == -1 && !res.ID.Equals(&e.c.Last().ID) {
				t.Fatalf("masterchain lookup by lt found %d", res.ID.SeqNo)
			}
			if res.Mode != hm {
				t.Fatalf("answer mode %d, want %d", res.Mode, hm)
			}
			if _, err := cell.FromBOC(res.HeaderProof); err != nil {
				t.Fatal(err)
			}
		}
	}
	// Past the newest block there is nothing to find yet.
	far := ton.LookupBlock{Mode: 4, ID: &ton.BlockInfoShort{Workchain: -1, Shard: -1 << 63}, UTime: e.c.Last().GenUtime + 1000}
	if res, ok := e.h.Handle(ctx, far).(ton.LSError); !ok || res.Code != 651 {
		t.Fatalf("lookup in the future: %#v", e.h.Handle(ctx, far))
	}
}
