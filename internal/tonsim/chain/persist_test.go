package chain

import (
	"bytes"
	"context"
	"math/big"
	"testing"

	"github.com/xssnick/tonutils-go/address"
	"github.com/xssnick/tonutils-go/tvm/cell"
)

type failExec struct{}

func (failExec) Execute(context.Context, *cell.Cell, *cell.Cell, ExecParams) (*ExecResult, error) {
	return &ExecResult{Error: "no emulator in this test"}, nil
}
func (failExec) RunGetMethod(context.Context, GetMethodCall) (*GetMethodResult, error) {
	return &GetMethodResult{ExitCode: 11}, nil
}

func testConfig(t testing.TB) *cell.Cell {
	d := cell.NewDict(32)
	if err := d.SetIntKey(big.NewInt(19), cell.BeginCell().MustStoreRef(cell.BeginCell().MustStoreInt(-3, 32).EndCell()).EndCell()); err != nil {
		t.Fatal(err)
	}
	return d.AsCell()
}

func TestSnapshotRestoreKeepsBlocksAndBalances(t *testing.T) {
	ctx := context.Background()
	c, err := New(Config{Blockchain: testConfig(t), Shards: 2}, failExec{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	to := address.NewAddress(0, 0, bytes.Repeat([]byte{0x91}, 32))
	for i := 0; i < 3; i++ {
		if err := c.BulkLoad([]BulkTransfer{{To: to, Amount: big.NewInt(100)}}); err != nil {
			t.Fatal(err)
		}
		if _, err := c.ProduceBlock(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Split(c.Shards()[0]); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ProduceBlock(ctx); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := c.Snapshot(&buf); err != nil {
		t.Fatal(err)
	}
	r, err := Restore(Config{Blockchain: testConfig(t)}, failExec{}, nil, &buf)
	if err != nil {
		t.Fatal(err)
	}
	if !r.Last().ID.Equals(&c.Last().ID) {
		t.Fatalf("restored head %v, want %v", r.Last().ID, c.Last().ID)
	}
	if len(r.Shards()) != 3 {
		t.Fatalf("restored %d shards, want 3", len(r.Shards()))
	}
	v, err := r.AccountAt(&r.Last().ID, to)
	if err != nil {
		t.Fatal(err)
	}
	if v.Info.Balance.Int64() != 300 {
		t.Fatalf("restored balance %s, want 300", v.Info.Balance)
	}
	last := r.LastTx(to)
	txs, err := r.AccountTxs(to, last.LT, last.Hash, 10)
	if err != nil || len(txs) != 3 {
		t.Fatalf("restored history: %d %v", len(txs), err)
	}
	// The restored chain keeps producing on top of the old head.
	if err := r.BulkLoad([]BulkTransfer{{To: to, Amount: big.NewInt(1)}}); err != nil {
		t.Fatal(err)
	}
	b, err := r.ProduceBlock(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if b.ID.SeqNo != c.Last().ID.SeqNo+1 {
		t.Fatalf("next seqno %d", b.ID.SeqNo)
	}
	v, _ = r.AccountAt(&b.ID, to)
	if v.Info.Balance.Int64() != 301 {
		t.Fatalf("balance after restart %s, want 301", v.Info.Balance)
	}
}
