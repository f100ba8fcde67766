package blockscanner

import (
	"testing"

	"github.com/xssnick/tonutils-go/address"
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

// bicycle's hot wallet (ours after a takeover) may have a gas top-up for
// one of its jetton service withdrawals in flight at the cut-over; landing
// on an imported TON deposit afterwards, it is not the user's deposit.
func TestFromPreviousHot(t *testing.T) {
	t.Parallel()
	prev := [32]byte{7, 7, 7}
	from := func(src [32]byte) *tlb.Transaction {
		return &tlb.Transaction{LT: 200, IO: struct {
			In  *tlb.Message      `tlb:"maybe ^"`
			Out *tlb.MessagesList `tlb:"maybe ^"`
		}{In: &tlb.Message{MsgType: tlb.MsgTypeInternal, Msg: &tlb.InternalMessage{SrcAddr: address.NewAddress(0, 0, src[:])}}}}
	}
	imported := Watched{Kind: KindDeposit, Currency: "TON", CreditedBeforeLT: 100, PreviousHot: &prev}
	for _, c := range []struct {
		w    Watched
		tx   *tlb.Transaction
		want bool
	}{
		{imported, from(prev), true},
		{imported, from([32]byte{1}), false},                                                       // a user's deposit
		{Watched{Kind: KindDeposit, Currency: "TON"}, from(prev), false},                           // not imported
		{Watched{Kind: KindJettonWallet, Currency: "USDT", PreviousHot: &prev}, from(prev), false}, // jettons: never TON gas
	} {
		if got := fromPreviousHot(c.w, c.tx); got != c.want {
			t.Errorf("%+v: %v, want %v", c.w, got, c.want)
		}
	}
}
