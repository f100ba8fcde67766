package chain

import (
	"context"
	"encoding/binary"
	"math/big"
	"testing"

	"github.com/xssnick/tonutils-go/address"
)

// BenchmarkBulkTransfers measures bulk mode: natively built credits, 10,000
// per block across 4 shards, including block and state construction.
func BenchmarkBulkTransfers(b *testing.B) {
	c, err := New(Config{Blockchain: testConfig(b), MaxTxPerBlock: 10_000}, failExec{}, nil)
	if err != nil {
		b.Fatal(err)
	}
	const perBlock = 10_000
	addrs := make([]*address.Address, 50_000)
	for i := range addrs {
		h := make([]byte, 32)
		binary.BigEndian.PutUint64(h, uint64(i)*0x9e3779b97f4a7c15)
		addrs[i] = address.NewAddress(0, 0, h)
	}
	ctx := context.Background()
	b.ResetTimer()
	total := 0
	for i := 0; i < b.N; i++ {
		list := make([]BulkTransfer, perBlock)
		for j := range list {
			list[j] = BulkTransfer{To: addrs[(i*perBlock+j)%len(addrs)], Amount: big.NewInt(1_000_000)}
		}
		if err := c.BulkLoad(list); err != nil {
			b.Fatal(err)
		}
		if _, err := c.ProduceBlock(ctx); err != nil {
			b.Fatal(err)
		}
		total += perBlock
	}
	b.ReportMetric(float64(total)/b.Elapsed().Seconds(), "tx/s")
}
