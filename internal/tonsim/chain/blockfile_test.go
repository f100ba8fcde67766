package chain

import (
	"bytes"
	"context"
	"crypto/sha256"
	"math/big"
	"testing"

	"github.com/xssnick/tonutils-go/address"
	"github.com/xssnick/tonutils-go/tvm/cell"
)

// A block's file hash is the sha256 of the block file getBlock serves,
// before and after a restart, and the total supply survives the restart.
func TestBlockFileHashesAndSupplySurviveRestore(t *testing.T) {
	ctx := context.Background()
	c, err := New(Config{Blockchain: testConfig(t), Shards: 2}, failExec{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	to := address.NewAddress(0, 0, bytes.Repeat([]byte{0x92}, 32))
	for i := 0; i < 2; i++ {
		if err := c.BulkLoad([]BulkTransfer{{To: to, Amount: big.NewInt(100)}}); err != nil {
			t.Fatal(err)
		}
		if _, err := c.ProduceBlock(ctx); err != nil {
			t.Fatal(err)
		}
	}
	check := func(name string, c *Chain) {
		t.Helper()
		for _, m := range c.masters {
			for _, b := range append([]*Block{m}, m.ShardTops...) {
				if h := sha256.Sum256(b.File()); !bytes.Equal(h[:], b.ID.FileHash) {
					t.Fatalf("%s: block %d:%x:%d: sha256 of its file %x, file_hash %x", name, b.ID.Workchain, uint64(b.ID.Shard), b.ID.SeqNo, h, b.ID.FileHash)
				}
			}
		}
		if s := c.Supply(); s.Int64() != 200 {
			t.Fatalf("%s: supply %s, want 200 (bulk credits)", name, s)
		}
	}
	check("produced", c)
	var buf bytes.Buffer
	if err := c.Snapshot(&buf); err != nil {
		t.Fatal(err)
	}
	r, err := Restore(Config{Blockchain: testConfig(t)}, failExec{}, nil, &buf)
	if err != nil {
		t.Fatal(err)
	}
	check("restored", r)
}

// The block file is a BoC any reader takes back to the same block.
func TestBlockFileRoundTrips(t *testing.T) {
	c, err := New(Config{Blockchain: testConfig(t), Shards: 2}, failExec{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.BulkLoad([]BulkTransfer{{To: address.NewAddress(0, 0, bytes.Repeat([]byte{0x93}, 32)), Amount: big.NewInt(7), Comment: "x"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ProduceBlock(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, b := range append([]*Block{c.Last()}, c.Last().ShardTops...) {
		f := b.File()
		back, err := cell.FromBOC(f)
		if err != nil {
			t.Fatalf("block %d: %v", b.ID.SeqNo, err)
		}
		if !bytes.Equal(back.Hash(), b.ID.RootHash) {
			t.Fatalf("block %d: the file holds another block", b.ID.SeqNo)
		}
		if !bytes.Equal(BlockFile(back), f) {
			t.Fatalf("block %d: serialising the parsed block gives another file", b.ID.SeqNo)
		}
	}
}
