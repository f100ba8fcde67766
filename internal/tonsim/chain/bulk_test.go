package chain

import (
	"bytes"
	"encoding/binary"
	"math/big"
	"testing"

	"github.com/xssnick/tonutils-go/address"
	"github.com/xssnick/tonutils-go/tlb"
	"github.com/xssnick/tonutils-go/tvm/cell"
)

// The hand-built cells of bulk mode must be exactly those tlb.ToCell gives
// for the same structures.
func TestBulkTxCellMatchesTLB(t *testing.T) {
	for i, amount := range []*big.Int{big.NewInt(1), big.NewInt(1_000_000), new(big.Int).Lsh(big.NewInt(1), 100)} {
		for _, orig := range []tlb.AccountStatus{tlb.AccountStatusNonExist, tlb.AccountStatusUninit} {
			h := bytes.Repeat([]byte{byte(i + 1)}, 32)
			binary.BigEndian.PutUint64(h, uint64(i)*0x9e3779b97f4a7c15)
			dst := address.NewAddress(0, 0, h)
			body := emptyCell
			if i == 1 {
				body = cell.BeginCell().MustStoreUInt(0, 32).MustStoreStringSnake("a comment").EndCell()
			}
			in := &tlb.InternalMessage{IHRDisabled: true, SrcAddr: BulkSource, DstAddr: dst, Amount: tlb.FromNanoTON(amount),
				Body: body, CreatedLT: 1000 + uint64(i), CreatedAt: 1_700_000_000}
			msgCell, err := tlb.ToCell(in)
			if err != nil {
				t.Fatal(err)
			}
			prevHash := bytes.Repeat([]byte{0xab}, 32)
			oldHash, newHash := bytes.Repeat([]byte{1}, 32), bytes.Repeat([]byte{2}, 32)
			tx := tlb.Transaction{AccountAddr: dst.Data(), LT: 5000 + uint64(i), PrevTxHash: prevHash, PrevTxLT: 4000, Now: 1_700_000_001,
				OrigStatus: orig, EndStatus: tlb.AccountStatusUninit, TotalFees: zeroCC(),
				StateUpdate: tlb.HashUpdate{OldHash: oldHash, NewHash: newHash},
				Description: tlb.TransactionDescriptionOrdinary{
					CreditFirst:  true,
					StoragePhase: &tlb.StoragePhase{StorageFeesCollected: tlb.ZeroCoins, StatusChange: tlb.AccStatusChange{Type: tlb.AccStatusChangeUnchanged}},
					CreditPhase:  &tlb.CreditPhase{Credit: tlb.CurrencyCollection{Coins: in.Amount}},
					ComputePhase: tlb.ComputePhase{Phase: tlb.ComputePhaseSkipped{Reason: tlb.ComputeSkipReason{Type: tlb.ComputeSkipReasonNoState}}},
					Aborted:      true,
				}}
			tx.IO.In = &tlb.Message{MsgType: tlb.MsgTypeInternal, Msg: in}
			want, err := tlb.ToCell(tx)
			if err != nil {
				t.Fatal(err)
			}
			got, err := bulkTxCell(dst.Data(), tx.LT, prevHash, tx.PrevTxLT, tx.Now, orig, msgCell, in.Amount, oldHash, newHash)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got.Hash(), want.Hash()) {
				t.Errorf("amount %v, %s: hand-built transaction differs:\n%s\nwant\n%s", amount, orig, got.Dump(), want.Dump())
			}
		}
	}
}

func TestShardAccountCellMatchesTLB(t *testing.T) {
	acc := uninitAccount(BulkSource, big.NewInt(12345), 77, 1_700_000_000)
	for _, h := range [][]byte{nil, bytes.Repeat([]byte{9}, 32)} {
		lastHash := h
		if lastHash == nil {
			lastHash = make([]byte, 32)
		}
		want := mustToCell(tlb.ShardAccount{Account: acc, LastTransHash: lastHash, LastTransLT: 42})
		if got := shardAccountCell(acc, h, 42); !bytes.Equal(got.Hash(), want.Hash()) {
			t.Errorf("shard account differs:\n%s\nwant\n%s", got.Dump(), want.Dump())
		}
	}
}

// The hand-built bulk message must be exactly what tlb.ToCell gives.
func TestBulkMsgCellMatchesTLB(t *testing.T) {
	long := cell.BeginCell().MustStoreUInt(0, 32).MustStoreStringSnake(string(bytes.Repeat([]byte("y"), 500))).EndCell()
	fits := cell.BeginCell().MustStoreUInt(0, 32).MustStoreStringSnake("order 1234").EndCell()
	full := cell.BeginCell().MustStoreSlice(bytes.Repeat([]byte{0xAA}, 127), 1016).EndCell() // does not fit beside the header
	for i, body := range []*cell.Cell{emptyCell, fits, long, full} {
		for _, amount := range []*big.Int{big.NewInt(1), big.NewInt(1_000_000_000), new(big.Int).Lsh(big.NewInt(1), 119)} {
			h := bytes.Repeat([]byte{byte(i + 7)}, 32)
			in := &tlb.InternalMessage{IHRDisabled: true, SrcAddr: BulkSource, DstAddr: address.NewAddress(0, 0, h),
				Amount: tlb.FromNanoTON(amount), Body: body, CreatedLT: 123456 + uint64(i), CreatedAt: 1_700_000_000}
			want, err := tlb.ToCell(in)
			if err != nil {
				t.Fatal(err)
			}
			got, err := bulkMsgCell(in)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got.Hash(), want.Hash()) {
				t.Errorf("body %d, amount %v: hand-built message differs:\n%s\nwant\n%s", i, amount, got.Dump(), want.Dump())
			}
		}
	}
}
