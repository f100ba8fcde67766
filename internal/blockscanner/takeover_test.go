package blockscanner

import (
	"testing"

	"github.com/xssnick/tonutils-go/tlb"
)

// Imported deposits skip what originated before the cut-over: the
// transaction itself for TON and jetton wallets, the notification's
// creation for a jetton owner (it arrives after the wallet's transaction
// bicycle credited).
func TestCreditedBefore(t *testing.T) {
	t.Parallel()
	notif := func(txLT, createdLT uint64) *tlb.Transaction {
		return &tlb.Transaction{LT: txLT, IO: struct {
			In  *tlb.Message      `tlb:"maybe ^"`
			Out *tlb.MessagesList `tlb:"maybe ^"`
		}{In: &tlb.Message{MsgType: tlb.MsgTypeInternal, Msg: &tlb.InternalMessage{CreatedLT: createdLT}}}}
	}
	ton := Watched{Kind: KindDeposit, Currency: "TON", CreditedBeforeLT: 100}
	jet := Watched{Kind: KindDeposit, Currency: "USDT", CreditedBeforeLT: 100}
	jw := Watched{Kind: KindJettonWallet, Currency: "USDT", CreditedBeforeLT: 100}
	for _, c := range []struct {
		w    Watched
		tx   *tlb.Transaction
		want bool
	}{
		{ton, notif(99, 98), true},
		{ton, notif(100, 99), false},
		{jet, notif(120, 99), true}, // delivered after the cut-over, sent before it
		{jet, notif(120, 100), false},
		{jw, notif(99, 0), true},
		{jw, notif(101, 0), false},
		{Watched{Kind: KindDeposit, Currency: "TON"}, notif(1, 0), false}, // not imported
	} {
		if got := creditedBefore(c.w, c.tx); got != c.want {
			t.Errorf("%+v lt %d: %v, want %v", c.w, c.tx.LT, got, c.want)
		}
	}
}
