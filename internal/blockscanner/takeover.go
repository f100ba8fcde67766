package blockscanner

import (
	"bytes"

	"github.com/xssnick/tonutils-go/tlb"
)

// creditedBefore reports whether a crediting transaction of a deposit a
// takeover imported (processor takeover-bicycle) was credited by the
// previous processor: it originated before w.CreditedBeforeLT, the end of
// the last block that processor scanned. The scanner starts a little
// before that block, so that no later block is missed, and this keeps the
// overlap from crediting twice.
//
// The origin is the transaction itself for TON deposits and for a jetton
// wallet's own internal_transfer. A transfer_notification arrives at the
// owner (a proxy, which may live in another shard) after the jetton
// wallet's transaction that sent it, which is where bicycle credited it:
// its origin is the notification's created_lt. bicycle's deposits and
// jetton wallets all lie in the shard chain it scanned, whose logical time
// only grows from block to block, so "before the end of its last block"
// is exactly "in a block it scanned".
func creditedBefore(w Watched, tx *tlb.Transaction) bool {
	if w.CreditedBeforeLT == 0 {
		return false
	}
	lt := tx.LT
	if w.Kind == KindDeposit && w.Currency != "TON" && tx.IO.In != nil && tx.IO.In.MsgType == tlb.MsgTypeInternal {
		lt = tx.IO.In.AsInternal().CreatedLT
	}
	return lt < w.CreditedBeforeLT
}

// fromPreviousHot reports whether tx is a TON transfer to a deposit a
// takeover imported from the previous processor's hot wallet: gas bicycle
// sent for a jetton service withdrawal of its own, landing after the
// cut-over. Like transfers from our hot wallet, it is not a deposit.
func fromPreviousHot(w Watched, tx *tlb.Transaction) bool {
	if w.PreviousHot == nil || w.Kind != KindDeposit || w.Currency != "TON" || tx.IO.In == nil || tx.IO.In.MsgType != tlb.MsgTypeInternal {
		return false
	}
	src := tx.IO.In.AsInternal().SrcAddr
	return src != nil && src.Workchain() == 0 && bytes.Equal(src.Data(), w.PreviousHot[:])
}
