package tonsim_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/xssnick/tonutils-go/address"
	"github.com/xssnick/tonutils-go/tlb"
	"github.com/xssnick/tonutils-go/ton/jetton"

	"github.com/ton-custody/processor/internal/tonsim"
)

// A third party's jetton transfer with forward_ton_amount and a comment,
// driven through the control API: the recipient gets the
// transfer_notification that deposit crediting reads.
func TestControlJettonTransferWithForwardAndComment(t *testing.T) {
	t.Parallel()
	n := startNet(t, tonsim.Options{})
	j := post(t, n.ctrl.URL+"/jettons", map[string]any{"symbol": "TRF", "decimals": 6}, http.StatusOK)
	master := j["master"].(string)
	genesis := tonsim.Friendly(n.Genesis.WalletAddress())
	post(t, n.ctrl.URL+"/jettons/"+master+"/mint", map[string]any{"owner": genesis, "amount": "1000"}, http.StatusOK)
	to := freshAddr(0x62)
	out := post(t, n.ctrl.URL+"/jettons/transfer", map[string]any{"from_wallet_owner": genesis, "master": master,
		"to": to.String(), "amount": "250", "forward_ton_amount": "10000000", "comment": "order 42"}, http.StatusOK)
	if out["notification_tx_hash"] == nil || out["jetton_wallet"] == nil {
		t.Fatalf("answer lacks the notification or the jetton wallet: %v", out)
	}

	mc := jetton.NewJettonMasterClient(n.api, address.MustParseAddr(master))
	tw, err := mc.GetJettonWallet(ctx(t), to)
	if err != nil {
		t.Fatal(err)
	}
	if got := tonsim.Friendly(tw.Address()); got != out["jetton_wallet"] {
		t.Fatalf("jetton_wallet %v, want %s", out["jetton_wallet"], got)
	}
	waitFor(t, 10*time.Second, func() bool { b, err := tw.GetBalance(ctx(t)); return err == nil && b.Int64() == 250 })
	var note *tlb.Transaction
	for _, tx := range n.lastTxs(t, to) {
		if tx.IO.In != nil && tx.IO.In.MsgType == tlb.MsgTypeInternal {
			note = tx
		}
	}
	if note == nil {
		t.Fatal("no transfer_notification reached the recipient")
	}
	in := note.IO.In.AsInternal()
	if !in.SrcAddr.Equals(tw.Address()) || in.Amount.Nano().Int64() != 10_000_000 {
		t.Fatalf("notification from %s with %s TON, want from %s with 0.01", in.SrcAddr, in.Amount, tw.Address())
	}
	s := in.Body.BeginParse()
	if op := s.MustLoadUInt(32); op != 0x7362d09c {
		t.Fatalf("op %x, want transfer_notification", op)
	}
	s.MustLoadUInt(64)
	if amt := s.MustLoadBigCoins(); amt.Int64() != 250 {
		t.Fatalf("notification amount %s", amt)
	}
	if from := s.MustLoadAddr(); !from.Equals(n.Genesis.WalletAddress()) {
		t.Fatalf("notification sender %s, want genesis", from)
	}
	payload := s
	if s.MustLoadBoolBit() {
		payload = s.MustLoadRef()
	}
	if op := payload.MustLoadUInt(32); op != 0 {
		t.Fatalf("forward payload op %x, want a text comment", op)
	}
	if c, err := payload.LoadStringSnake(); err != nil || c != "order 42" {
		t.Fatalf("comment %q %v", c, err)
	}

	// Only wallets tonsim holds the keys of can send.
	post(t, n.ctrl.URL+"/jettons/transfer", map[string]any{"from_wallet_owner": to.String(), "master": master,
		"to": genesis, "amount": "1"}, http.StatusBadRequest)
	// More than the sender holds is refused before anything is sent.
	post(t, n.ctrl.URL+"/jettons/transfer", map[string]any{"master": master, "to": to.String(), "amount": "100000"}, http.StatusBadRequest)
}
