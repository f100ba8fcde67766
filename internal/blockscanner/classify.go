package blockscanner

import (
	"bytes"
	"math/big"
	"unicode/utf8"

	"github.com/xssnick/tonutils-go/address"
	"github.com/xssnick/tonutils-go/tlb"
	"github.com/xssnick/tonutils-go/tvm/cell"
)

// TEP-74 operation codes the classifier reads.
const (
	opTextComment          = 0x00000000
	opJettonNotification   = 0x7362d09c
	opJettonInternalTransf = 0x178d4519
)

// Kind says what a watched account is to the processor.
type Kind uint8

// Watched account kinds.
const (
	// KindDeposit is a deposit owner address handed to a user (TON deposits
	// and the owner of jetton deposits).
	KindDeposit Kind = iota + 1
	// KindJettonWallet is the jetton wallet of a jetton deposit.
	KindJettonWallet
	// KindHot is the hot wallet.
	KindHot
	// KindHotJetton is a jetton wallet of the hot wallet.
	KindHotJetton
	// KindDestination is the destination of a withdrawal in flight: its
	// transaction tells whether the payment stayed or bounced.
	KindDestination
)

// Watched is what the index knows about one watched account.
type Watched struct {
	Kind      Kind
	DepositID int64
	UserID    string
	Currency  string
	// Owner is the deposit owner's account id (the watched account itself
	// for KindDeposit, the owner for KindJettonWallet).
	Owner [32]byte
	// JettonWallet is a jetton deposit's jetton wallet (KindDeposit rows of
	// a jetton, and KindJettonWallet rows).
	JettonWallet [32]byte
	// CreditedBeforeLT is set for deposits a takeover imported: what
	// originated before it the previous processor credited (see
	// creditedBefore); 0 for none.
	CreditedBeforeLT uint64
	// PreviousHot is, for deposits a takeover imported, the previous
	// processor's hot wallet (now ours): what it sends them is its own
	// gas, never a deposit (see fromPreviousHot).
	PreviousHot *[32]byte
}

// Credit is a deposit the classifier found.
type Credit struct {
	DepositID int64
	UserID    string
	Currency  string
	Owner     [32]byte
	Amount    *big.Int
	// Source is the sender when it can be determined: the internal
	// message's source for TON, the jetton transfer's original sender for
	// jettons.
	Source *address.Address
	// Comment is a valid UTF-8 text comment without NUL bytes; anything
	// else the sender attached is BinaryComment.
	Comment       *string
	BinaryComment []byte
	TxHash        []byte
	LT            uint64
	Utime         uint32
	// Fee is what the crediting transaction took from the watched
	// account's TON balance (ledger.TxFees); set by the scanner.
	Fee *big.Int
}

// Verdict explains a transaction that did not credit (for metrics).
type Verdict string

// Verdicts other than a credit.
const (
	VerdictNone        Verdict = ""            // nothing to credit (outgoing, external, ...)
	VerdictBounced     Verdict = "bounced"     // value sent back, or a bounced message
	VerdictFailed      Verdict = "failed"      // compute or action phase failed
	VerdictFakeJetton  Verdict = "fake_jetton" // notification from a wallet that is not ours
	VerdictOwnTransfer Verdict = "own"         // from the hot wallet (sweep gas, ...)
	VerdictForwarded   Verdict = "notified"    // jetton transfer credited by its notification
)

// Classify applies TON's published crediting rules to one transaction of a
// watched account (TON-FACTS.md):
//
//   - TON: an incoming internal message that is not bounced, to a TON
//     deposit, whose value stays: the compute phase succeeded, or it was
//     skipped because the deposit has no code yet (an undeployed deposit
//     receiving a non-bounceable transfer; TON marks that transaction
//     aborted, and the value stays). A bounce phase means the value went
//     back: never credited. Transfers from our own hot wallet (gas for
//     jetton sweeps) are not deposits.
//   - Jettons, with forward_ton_amount > 0: a transfer_notification at the
//     deposit owner, credited only when it comes from the jetton wallet the
//     master named for this deposit at address creation (stored then from
//     get_wallet_address); from any other wallet it is a fake.
//   - Jettons, with forward_ton_amount = 0 (no notification): the jetton
//     wallet's own internal_transfer transaction, when it succeeded (the
//     balance grew). Each transfer is credited by exactly one of the two
//     rules: the internal_transfer carries forward_ton_amount, so the
//     wallet-side rule skips transfers that will notify.
func Classify(tx *tlb.Transaction, w Watched, hot [32]byte) (*Credit, Verdict) {
	if tx.IO.In == nil || tx.IO.In.MsgType != tlb.MsgTypeInternal {
		return nil, VerdictNone
	}
	in := tx.IO.In.AsInternal()
	if in.Bounced {
		return nil, VerdictBounced
	}
	d, ok := tx.Description.(tlb.TransactionDescriptionOrdinary)
	if !ok {
		return nil, VerdictNone
	}
	base := func(amount *big.Int) *Credit {
		return &Credit{DepositID: w.DepositID, UserID: w.UserID, Currency: w.Currency, Owner: w.Owner, Amount: amount,
			TxHash: tx.Hash, LT: tx.LT, Utime: tx.Now}
	}
	switch {
	case w.Kind == KindDeposit && w.Currency == "TON":
		if in.SrcAddr != nil && in.SrcAddr.Workchain() == 0 && bytes.Equal(in.SrcAddr.Data(), hot[:]) {
			return nil, VerdictOwnTransfer
		}
		if d.BouncePhase != nil {
			return nil, VerdictBounced
		}
		if !valueStays(d) {
			return nil, VerdictFailed
		}
		if in.Amount.Nano().Sign() <= 0 {
			return nil, VerdictNone
		}
		c := base(in.Amount.Nano())
		c.Source = in.SrcAddr
		c.Comment, c.BinaryComment = readComment(in.Body)
		return c, ""

	case w.Kind == KindDeposit: // a jetton deposit's owner
		body := in.Body
		if body == nil {
			return nil, VerdictNone
		}
		s := body.BeginParse()
		if op, err := s.LoadUInt(32); err != nil || op != opJettonNotification {
			return nil, VerdictNone // TON to a jetton deposit is not a deposit of that jetton
		}
		if in.SrcAddr == nil || in.SrcAddr.Workchain() != 0 || !bytes.Equal(in.SrcAddr.Data(), w.JettonWallet[:]) {
			return nil, VerdictFakeJetton
		}
		// transfer_notification#7362d09c query_id:uint64 amount:(VarUInteger 16)
		//   sender:MsgAddress forward_payload:(Either Cell ^Cell)
		if _, err := s.LoadUInt(64); err != nil {
			return nil, VerdictNone
		}
		amount, err := s.LoadBigCoins()
		if err != nil || amount.Sign() <= 0 {
			return nil, VerdictNone
		}
		c := base(amount)
		if sender, err := s.LoadAddr(); err == nil && sender.Type() == address.StdAddress {
			c.Source = sender
		}
		c.Comment, c.BinaryComment = readForwardPayload(s)
		return c, ""

	case w.Kind == KindJettonWallet:
		if d.BouncePhase != nil || d.Aborted {
			return nil, VerdictFailed
		}
		if vm, ok := d.ComputePhase.Phase.(tlb.ComputePhaseVM); !ok || !vm.Success {
			return nil, VerdictFailed
		}
		if in.Body == nil {
			return nil, VerdictNone
		}
		s := in.Body.BeginParse()
		if op, err := s.LoadUInt(32); err != nil || op != opJettonInternalTransf {
			return nil, VerdictNone
		}
		// internal_transfer#178d4519 query_id:uint64 amount:(VarUInteger 16)
		//   from:MsgAddress response_address:MsgAddress forward_ton_amount:(VarUInteger 16)
		//   forward_payload:(Either Cell ^Cell)
		if _, err := s.LoadUInt(64); err != nil {
			return nil, VerdictNone
		}
		amount, err := s.LoadBigCoins()
		if err != nil || amount.Sign() <= 0 {
			return nil, VerdictNone
		}
		from, err := s.LoadAddr()
		if err != nil {
			return nil, VerdictNone
		}
		if _, err := s.LoadAddr(); err != nil {
			return nil, VerdictNone
		}
		fwd, err := s.LoadBigCoins()
		if err != nil {
			return nil, VerdictNone
		}
		if fwd.Sign() > 0 {
			return nil, VerdictForwarded
		}
		c := base(amount)
		// The standard jetton wallet accepts internal_transfer only from
		// the master or from the genuine wallet of `from`, so a succeeded
		// transfer's `from` is authentic.
		if from.Type() == address.StdAddress {
			c.Source = from
		}
		c.Comment, c.BinaryComment = readForwardPayload(s)
		return c, ""
	}
	return nil, VerdictNone
}

// valueStays reports whether an incoming value stayed on the account: the
// compute phase succeeded, or was skipped because the account has no code
// (uninit or non-existent), which TON marks aborted while keeping the value.
func valueStays(d tlb.TransactionDescriptionOrdinary) bool {
	switch p := d.ComputePhase.Phase.(type) {
	case tlb.ComputePhaseVM:
		return p.Success && !d.Aborted
	case tlb.ComputePhaseSkipped:
		return p.Reason.Type == tlb.ComputeSkipReasonNoState
	}
	return false
}

// readComment reads a message body: a text comment (op 0 + snake UTF-8)
// becomes Comment when it is valid UTF-8 without NUL bytes (which PostgreSQL
// text cannot hold); any other non-empty body is kept as binary.
func readComment(body *cell.Cell) (*string, []byte) {
	if body == nil || (body.BitsSize() == 0 && body.RefsNum() == 0) {
		return nil, nil
	}
	s := body.BeginParse()
	if s.BitsLeft() >= 32 {
		peek := body.BeginParse()
		if op, _ := peek.LoadUInt(32); op == opTextComment {
			if text, err := peek.LoadBinarySnake(); err == nil {
				if utf8.Valid(text) && bytes.IndexByte(text, 0) < 0 {
					str := string(text)
					return &str, nil
				}
				return nil, text
			}
		}
	}
	return nil, rawBits(body)
}

// readForwardPayload reads a jetton forward_payload:(Either Cell ^Cell).
func readForwardPayload(s *cell.Slice) (*string, []byte) {
	isRef, err := s.LoadBoolBit()
	if err != nil {
		return nil, nil
	}
	if isRef {
		ref, err := s.LoadRef()
		if err != nil {
			return nil, nil
		}
		c, err := ref.ToCell()
		if err != nil {
			return nil, nil
		}
		return readComment(c)
	}
	c, err := s.ToCell()
	if err != nil {
		return nil, nil
	}
	return readComment(c)
}

// rawBits returns the root cell's data bits as bytes (last byte zero-padded).
func rawBits(c *cell.Cell) []byte {
	s := c.BeginParse()
	n := s.BitsLeft()
	if n == 0 {
		return nil
	}
	b, err := s.LoadSlice(n)
	if err != nil {
		return nil
	}
	return b
}

// depositSideOfSweep reports the other deposit-side transactions of a
// sweep, which the hook needs and which never credit: the deposit wallet
// receiving gas from the hot wallet (Classify never credits the hot
// wallet's transfers), and the deposit's jetton wallet executing the
// deposit wallet's transfer request (a message from its owner is an
// outgoing transfer, never an incoming internal_transfer). The hook fails
// a sweep whose transfer the jetton wallet refused, and notices when gas
// that arrived is taken before the sweep's transfer.
func depositSideOfSweep(w Watched, tx *tlb.Transaction, hot [32]byte) bool {
	if tx.IO.In == nil || tx.IO.In.MsgType != tlb.MsgTypeInternal {
		return false
	}
	src := tx.IO.In.AsInternal().SrcAddr
	if src == nil || src.Type() != address.StdAddress || src.Workchain() != 0 {
		return false
	}
	switch w.Kind {
	case KindDeposit:
		return bytes.Equal(src.Data(), hot[:])
	case KindJettonWallet:
		return bytes.Equal(src.Data(), w.Owner[:])
	}
	return false
}
