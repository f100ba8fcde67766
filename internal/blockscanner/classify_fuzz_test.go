package blockscanner_test

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"flag"
	"math/big"
	"os"
	"path/filepath"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/xssnick/tonutils-go/address"
	"github.com/xssnick/tonutils-go/tlb"
	"github.com/xssnick/tonutils-go/ton/wallet"
	"github.com/xssnick/tonutils-go/tvm/cell"

	"github.com/ton-custody/processor/internal/blockscanner"
	"github.com/ton-custody/processor/internal/boc"
	"github.com/ton-custody/processor/internal/tonsim"
	"github.com/ton-custody/processor/internal/tonsim/chain"
)

// The classification corpus is real transactions produced by the emulator
// on tonsim, each with the verdict TON's crediting rules give it. Regenerate
// it (after changing tonsim or the contracts) with
//
//	go test ./internal/blockscanner -run TestClassifyCorpus -update-classify-corpus
//
// The expectations written then come from the scenario, not from Classify.
var updateCorpus = flag.Bool("update-classify-corpus", false, "regenerate testdata/classify from tonsim")

const corpusDir = "testdata/classify"

type corpusEntry struct {
	Name string `json:"name"`
	// File holds the transaction cell as a BoC without CRC, so the fuzzer's
	// byte mutations still parse.
	File         string `json:"file"`
	Kind         string `json:"kind"` // deposit | jetton_wallet | hot
	Currency     string `json:"currency"`
	JettonWallet string `json:"jetton_wallet,omitempty"` // raw address
	Hot          string `json:"hot,omitempty"`           // raw address
	Verdict      string `json:"verdict"`
	Amount       string `json:"amount,omitempty"` // credited amount; empty when nothing is credited
	Comment      string `json:"comment,omitempty"`
	BinaryHex    string `json:"binary_hex,omitempty"`
}

var kinds = map[string]blockscanner.Kind{"deposit": blockscanner.KindDeposit, "jetton_wallet": blockscanner.KindJettonWallet, "hot": blockscanner.KindHot}

func (c corpusEntry) watched(t testing.TB) (blockscanner.Watched, [32]byte) {
	w := blockscanner.Watched{Kind: kinds[c.Kind], DepositID: 1, UserID: "u", Currency: c.Currency}
	if w.Kind == 0 {
		t.Fatalf("%s: unknown kind %q", c.Name, c.Kind)
	}
	if c.JettonWallet != "" {
		copy(w.JettonWallet[:], address.MustParseRawAddr(c.JettonWallet).Data())
	}
	var hot [32]byte
	if c.Hot != "" {
		copy(hot[:], address.MustParseRawAddr(c.Hot).Data())
	}
	return w, hot
}

func loadCorpus(t testing.TB) ([]corpusEntry, map[string][]byte) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(corpusDir, "manifest.json"))
	if err != nil {
		t.Fatalf("classification corpus: %v", err)
	}
	var entries []corpusEntry
	if err := json.Unmarshal(b, &entries); err != nil {
		t.Fatal(err)
	}
	bocs := map[string][]byte{}
	for _, e := range entries {
		if bocs[e.File], err = os.ReadFile(filepath.Join(corpusDir, e.File)); err != nil {
			t.Fatal(err)
		}
	}
	return entries, bocs
}

func parseTxBOC(b []byte) (*tlb.Transaction, error) {
	c, err := boc.Parse(b)
	if err != nil {
		return nil, err
	}
	var tx tlb.Transaction
	if err := tlb.LoadFromCell(&tx, c.BeginParse()); err != nil {
		return nil, err
	}
	tx.Hash = c.Hash()
	return &tx, nil
}

// TestClassifyCorpus checks Classify against real emulator transactions:
// deposits to undeployed wallets, bounces, binary comments, jetton
// transfers with and without notification, fake and forged notifications.
func TestClassifyCorpus(t *testing.T) {
	if *updateCorpus {
		writeCorpus(t)
	}
	entries, bocs := loadCorpus(t)
	if len(entries) < 10 {
		t.Fatalf("corpus has %d entries, want the full scenario set", len(entries))
	}
	for _, c := range entries {
		tx, err := parseTxBOC(bocs[c.File])
		if err != nil {
			t.Fatalf("%s: %v", c.Name, err)
		}
		w, hot := c.watched(t)
		credit, verdict := blockscanner.Classify(tx, w, hot)
		if string(verdict) != c.Verdict {
			t.Errorf("%s: verdict %q, want %q", c.Name, verdict, c.Verdict)
		}
		switch {
		case c.Amount == "" && credit != nil:
			t.Errorf("%s: credited %s, want nothing", c.Name, credit.Amount)
		case c.Amount != "" && credit == nil:
			t.Errorf("%s: nothing credited, want %s", c.Name, c.Amount)
		case credit != nil:
			comment := ""
			if credit.Comment != nil {
				comment = *credit.Comment
			}
			if credit.Amount.String() != c.Amount || comment != c.Comment || hex.EncodeToString(credit.BinaryComment) != c.BinaryHex {
				t.Errorf("%s: credit %s %q %x, want %s %q %s", c.Name, credit.Amount, comment, credit.BinaryComment, c.Amount, c.Comment, c.BinaryHex)
			}
			if !bytes.Equal(credit.TxHash, tx.Hash) || credit.LT != tx.LT {
				t.Errorf("%s: credit does not carry its transaction's hash and lt", c.Name)
			}
		}
	}
}

// FuzzClassify feeds the classifier real transactions with mutated bytes,
// watched as every kind, with the message body optionally replaced by
// arbitrary cells. Whatever the input, the crediting rules must hold.
func FuzzClassify(f *testing.F) {
	entries, bocs := loadCorpus(f)
	for i, c := range entries {
		f.Add(bocs[c.File], byte(kinds[c.Kind]), c.Currency != "TON", c.JettonWallet != "", []byte(nil))
		if i%3 == 0 { // the same transaction with a foreign body
			f.Add(bocs[c.File], byte(kinds[c.Kind]), c.Currency != "TON", true, []byte{0x73, 0x62, 0xd0, 0x9c, 0, 0, 0, 0, 0, 0, 0, 1, 0x10, 0x64})
		}
	}
	hot := [32]byte{0xAB}
	f.Fuzz(func(t *testing.T, boc []byte, kind byte, jettonDeposit, srcIsJettonWallet bool, body []byte) {
		tx, err := parseTxBOC(boc)
		if err != nil {
			return
		}
		var in *tlb.InternalMessage
		if tx.IO.In != nil && tx.IO.In.MsgType == tlb.MsgTypeInternal {
			in = tx.IO.In.AsInternal()
			if len(body) > 0 {
				in.Body = cellFromBytes(body)
			}
		}
		w := blockscanner.Watched{Kind: blockscanner.Kind(kind%5 + 1), DepositID: 7, UserID: "u", Currency: "TON"}
		if jettonDeposit {
			w.Currency = "USDT"
		}
		if srcIsJettonWallet && in != nil && in.SrcAddr != nil && len(in.SrcAddr.Data()) == 32 {
			copy(w.JettonWallet[:], in.SrcAddr.Data())
		}
		credit, verdict := blockscanner.Classify(tx, w, hot)
		again, verdict2 := blockscanner.Classify(tx, w, hot)
		if verdict != verdict2 || (credit == nil) != (again == nil) || (credit != nil && credit.Amount.Cmp(again.Amount) != 0) {
			t.Fatal("Classify is not deterministic")
		}
		if credit == nil {
			return
		}
		if verdict != "" {
			t.Fatalf("credit with verdict %q", verdict)
		}
		if in == nil {
			t.Fatal("credited a transaction without an incoming internal message")
		}
		if in.Bounced {
			t.Fatal("credited a bounced message")
		}
		if credit.Amount == nil || credit.Amount.Sign() <= 0 {
			t.Fatalf("credited non-positive amount %v", credit.Amount)
		}
		if credit.Comment != nil && (!utf8.ValidString(*credit.Comment) || bytes.IndexByte([]byte(*credit.Comment), 0) >= 0) {
			t.Fatalf("comment %q is not storable text", *credit.Comment)
		}
		if credit.Comment != nil && credit.BinaryComment != nil {
			t.Fatal("both a text and a binary comment")
		}
		if !bytes.Equal(credit.TxHash, tx.Hash) || credit.LT != tx.LT || credit.DepositID != 7 {
			t.Fatal("credit does not identify its transaction and deposit")
		}
		d, _ := tx.Description.(tlb.TransactionDescriptionOrdinary)
		switch w.Kind {
		case blockscanner.KindDeposit:
			if w.Currency == "TON" {
				if d.BouncePhase != nil {
					t.Fatal("credited TON that bounced back")
				}
				if credit.Amount.Cmp(in.Amount.Nano()) != 0 {
					t.Fatalf("credited %s of a %s message", credit.Amount, in.Amount.Nano())
				}
				if in.SrcAddr != nil && bytes.Equal(in.SrcAddr.Data(), hot[:]) {
					t.Fatal("credited a transfer from the hot wallet")
				}
			} else if in.SrcAddr == nil || !bytes.Equal(in.SrcAddr.Data(), w.JettonWallet[:]) {
				t.Fatal("credited a jetton notification not sent by the deposit's jetton wallet")
			}
		case blockscanner.KindJettonWallet:
			if d.Aborted || d.BouncePhase != nil {
				t.Fatal("credited a jetton transfer the wallet did not accept")
			}
		default:
			t.Fatalf("credited a transaction of a %d account", w.Kind)
		}
	})
}

// cellFromBytes builds a body cell from fuzz bytes: up to 127 bytes per
// cell, the rest chained in first refs (a snake), so snake comments and
// Either Cell ^Cell payloads are reachable.
func cellFromBytes(b []byte) *cell.Cell {
	n := min(len(b), 127)
	bld := cell.BeginCell().MustStoreSlice(b[:n], uint(n*8))
	if len(b) > n {
		bld.MustStoreRef(cellFromBytes(b[n:]))
	}
	return bld.EndCell()
}

// writeCorpus runs the scenarios on tonsim and writes the transactions with
// their expected verdicts.
func writeCorpus(t *testing.T) {
	e := newEnv(t, tonsim.Options{})
	ctx := testCtx(t)
	var entries []corpusEntry
	gen := e.net.Genesis.WalletAddress()
	add := func(ref *chain.TxRef, c corpusEntry) {
		c.File = c.Name + ".boc"
		if err := os.WriteFile(filepath.Join(corpusDir, c.File), ref.Cell.ToBOCWithFlags(false), 0o644); err != nil {
			t.Fatal(err)
		}
		entries = append(entries, c)
	}
	if err := os.MkdirAll(corpusDir, 0o755); err != nil {
		t.Fatal(err)
	}

	a := e.newDeposit("alice", "TON")
	b := e.newDeposit("bob", "TON")
	since := lastLT(e, a)
	if _, err := e.net.Faucet(ctx, a, nano("1.5"), false, "order 17"); err != nil {
		t.Fatal(err)
	}
	r := nextTx(t, e, a, &since)
	add(r, corpusEntry{Name: "ton_to_undeployed", Kind: "deposit", Currency: "TON", Amount: "1500000000", Comment: "order 17"})
	add(r, corpusEntry{Name: "ton_from_hot", Kind: "deposit", Currency: "TON", Hot: gen.StringRaw(), Verdict: "own"})
	add(r, corpusEntry{Name: "ton_at_hot_wallet_kind", Kind: "hot", Currency: "TON"})

	sinceB := lastLT(e, b)
	if _, err := e.net.Faucet(ctx, b, nano("3"), true, "bounce me"); err != nil {
		t.Fatal(err)
	}
	add(nextTx(t, e, b, &sinceB), corpusEntry{Name: "ton_bounced_by_undeployed", Kind: "deposit", Currency: "TON", Verdict: "bounced"})

	bin := cell.BeginCell().MustStoreUInt(0xdeadbeef, 32).MustStoreUInt(7, 8).EndCell()
	nul := cell.BeginCell().MustStoreUInt(0, 32).MustStoreSlice([]byte{'o', 'k', 0, 'x'}, 32).EndCell()
	for _, m := range []struct {
		name, hex string
		body      *cell.Cell
	}{{"ton_binary_comment", "deadbeef07", bin}, {"ton_comment_with_nul", "6f6b0078", nul}} {
		if err := e.net.SendFromGenesis(ctx, &wallet.Message{Mode: wallet.PayGasSeparately, InternalMessage: &tlb.InternalMessage{
			IHRDisabled: true, DstAddr: a, Amount: tlb.MustFromTON("0.1"), Body: m.body}}); err != nil {
			t.Fatal(err)
		}
		add(nextTx(t, e, a, &since), corpusEntry{Name: m.name, Kind: "deposit", Currency: "TON", Amount: "100000000", BinaryHex: m.hex})
	}

	dep := e.newDeposit("dave", "USDT")
	depJW, err := e.net.JettonWallet(ctx, e.jetton.Master, dep)
	if err != nil {
		t.Fatal(err)
	}
	fake, err := e.net.DeployJetton(ctx, "FAKE", 6)
	if err != nil {
		t.Fatal(err)
	}
	holder := e.newJettonHolder(e.jetton.Master, fake.Master)
	jw := depJW.StringRaw()
	sinceDep, sinceJW := lastLT(e, dep), lastLT(e, depJW)

	holder.send(e.jetton.Master, dep, 100, "0.02", "invoice 9")
	add(nextTx(t, e, depJW, &sinceJW), corpusEntry{Name: "jetton_wallet_transfer_that_notifies", Kind: "jetton_wallet", Currency: "USDT", JettonWallet: jw, Verdict: "notified"})
	notif := nextTx(t, e, dep, &sinceDep)
	add(notif, corpusEntry{Name: "jetton_notification", Kind: "deposit", Currency: "USDT", JettonWallet: jw, Amount: "100", Comment: "invoice 9"})
	add(notif, corpusEntry{Name: "jetton_notification_expected_from_other_wallet", Kind: "deposit", Currency: "USDT", JettonWallet: gen.StringRaw(), Verdict: "fake_jetton"})

	holder.send(e.jetton.Master, dep, 250, "0", "")
	add(nextTx(t, e, depJW, &sinceJW), corpusEntry{Name: "jetton_without_notification", Kind: "jetton_wallet", Currency: "USDT", JettonWallet: jw, Amount: "250"})

	holder.send(fake.Master, dep, 999, "0.02", "fake")
	add(nextTx(t, e, dep, &sinceDep), corpusEntry{Name: "fake_jetton_notification", Kind: "deposit", Currency: "USDT", JettonWallet: jw, Verdict: "fake_jetton"})

	forged := cell.BeginCell().MustStoreUInt(0x7362d09c, 32).MustStoreUInt(1, 64).MustStoreBigCoins(big.NewInt(5000)).
		MustStoreAddr(holder.addr).MustStoreBoolBit(false).EndCell()
	holder.sendTON(dep, "0.05", forged)
	add(nextTx(t, e, dep, &sinceDep), corpusEntry{Name: "forged_notification", Kind: "deposit", Currency: "USDT", JettonWallet: jw, Verdict: "fake_jetton"})

	// The holder's own wallet transaction: an external message, never a credit.
	for _, r := range e.net.Chain.TxsSince(holder.addr, 0) {
		if tx, err := parseTxBOC(r.Cell.ToBOC()); err == nil && tx.IO.In != nil && tx.IO.In.MsgType == tlb.MsgTypeExternalIn {
			add(r, corpusEntry{Name: "external_message", Kind: "deposit", Currency: "TON"})
			break
		}
	}

	b2, _ := json.MarshalIndent(entries, "", "  ")
	if err := os.WriteFile(filepath.Join(corpusDir, "manifest.json"), append(b2, '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
}

func lastLT(e *env, a *address.Address) uint64 {
	if r := e.net.Chain.LastTx(a); r != nil {
		return r.LT
	}
	return 0
}

// nextTx waits for the first final transaction on acc after *since and
// moves *since past it.
func nextTx(t *testing.T, e *env, acc *address.Address, since *uint64) *chain.TxRef {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if txs := e.net.Chain.TxsSince(acc, *since); len(txs) > 0 && txs[0].Block.MasterSeqno != 0 {
			*since = txs[0].LT
			return txs[0]
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("no transaction on %s after lt %d", acc, *since)
	return nil
}
