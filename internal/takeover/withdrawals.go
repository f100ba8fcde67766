package takeover

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"time"
	"unicode"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/xssnick/tonutils-go/address"
	"github.com/xssnick/tonutils-go/tlb"

	"github.com/ton-custody/processor/internal/config"
	"github.com/ton-custody/processor/internal/wallets"
	"github.com/ton-custody/processor/internal/withdrawals"
)

// Withdrawal states as imported (withdrawals.State values).
const (
	statePending   = string(withdrawals.StatePending)
	stateProcessed = string(withdrawals.StateProcessed)
	stateFailed    = string(withdrawals.StateFailed)
)

// The reasons imported failures carry (bicycle records none).
const (
	reasonBicycleFailed  = "bicycle: its hot wallet's transaction did not send the payment (failed in bicycle, never retried)"
	reasonInFlightFailed = "bicycle's last batch executed without sending the payment (resolved at the takeover)"
)

// importedWithdrawal is one withdrawal request as this processor stores it.
type importedWithdrawal struct {
	id        int64
	req       withdrawals.Request
	hash      [32]byte
	state     string
	txHash    []byte
	reason    string
	createdAt *time.Time
	destJW    *address.Address // pending jetton withdrawals: the destination's jetton wallet
}

// convert turns a bicycle request into ours, or says why it cannot be.
func convert(w *bWithdrawal) (*importedWithdrawal, error) {
	iw := &importedWithdrawal{id: w.queryID}
	if !validUserID(w.userID) || !validUserID(w.userQueryID) {
		return nil, fmt.Errorf("user_id %q / query_id %q cannot be stored here (1-256 characters of UTF-8 without NUL; bicycle accepted empty ones)", w.userID, w.userQueryID)
	}
	if !currencyRE(w.currency) {
		return nil, fmt.Errorf("currency %q is not a currency code here (1-12 of A-Z, 0-9)", w.currency)
	}
	amount, frac, err := parseAmount(w.amount)
	if err != nil {
		return nil, err
	}
	if amount.Sign() <= 0 {
		return nil, fmt.Errorf("amount %s truncates to %s (bicycle truncated fractions when paying)", w.amount, amount)
	}
	if len(w.dest) != 32 {
		return nil, fmt.Errorf("destination of %d bytes", len(w.dest))
	}
	dest := address.NewAddress(0, 0, append([]byte(nil), w.dest...))
	dest.SetBounce(w.bounceable)
	req := withdrawals.Request{UserID: w.userID, QueryID: w.userQueryID, Currency: w.currency, Amount: amount,
		Destination: dest, Bounceable: w.bounceable, Comment: w.comment}
	if w.binaryComment != "" {
		if w.comment != "" {
			return nil, errors.New("both comment and binary_comment are set")
		}
		// bicycle's binary_comment is the API's form (hex, '_' completion
		// tag): the same parser, so a retry through the API hashes the same.
		bits, n, err := withdrawals.ParseBinaryComment(w.binaryComment)
		if err != nil {
			return nil, fmt.Errorf("binary_comment %q: %w", w.binaryComment, err)
		}
		req.BinaryComment, req.BinaryCommentBits = bits, n
	}
	if err := withdrawals.CheckComment(w.comment); err != nil {
		return nil, err
	}
	if req.BinaryCommentBits > withdrawals.MaxBinaryCommentBits {
		return nil, fmt.Errorf("binary_comment of %d bits (at most %d)", req.BinaryCommentBits, withdrawals.MaxBinaryCommentBits)
	}
	iw.req, iw.hash = req, withdrawals.RequestHash(req)
	if frac {
		iw.reason = "fraction" // reported by the caller
	}
	if len(w.attempts) > 0 {
		t := w.attempts[0].createdAt
		iw.createdAt = &t
	}
	return iw, nil
}

func currencyRE(s string) bool {
	if len(s) < 1 || len(s) > 12 {
		return false
	}
	for _, c := range s {
		if (c < 'A' || c > 'Z') && (c < '0' || c > '9') {
			return false
		}
	}
	return true
}

// v2Exec is an external message bicycle's highload v2 wallet executed.
type v2Exec struct {
	tx         *tlb.Transaction
	validUntil uint32
	asked      []*tlb.InternalMessage // the signed dictionary's messages
	sent       []*tlb.InternalMessage // the transaction's out messages
}

// parseV2 reads a hot wallet transaction executing a highload v2
// external: signature:bits512 subwallet:uint32 query_id:uint64
// (valid_until << 32 | random) messages:(HashmapE 16 (mode:uint8 ^Message)).
func parseV2(tx *tlb.Transaction) (*v2Exec, bool) {
	if tx.IO.In == nil || tx.IO.In.MsgType != tlb.MsgTypeExternalIn {
		return nil, false
	}
	body := tx.IO.In.AsExternalIn().Body
	if body == nil {
		return nil, false
	}
	s := body.BeginParse()
	if _, err := s.LoadSlice(512 + 32); err != nil {
		return nil, false
	}
	qid, err := s.LoadUInt(64)
	if err != nil {
		return nil, false
	}
	dict, err := s.LoadDict(16)
	if err != nil {
		return nil, false
	}
	kvs, err := dict.LoadAll()
	if err != nil {
		return nil, false
	}
	e := &v2Exec{tx: tx, validUntil: uint32(qid >> 32)}
	for _, kv := range kvs {
		if _, err := kv.Value.LoadUInt(8); err != nil {
			continue
		}
		ref, err := kv.Value.LoadRef()
		if err != nil {
			continue
		}
		var m tlb.Message
		if err := tlb.LoadFromCell(&m, ref); err != nil || m.MsgType != tlb.MsgTypeInternal {
			continue
		}
		e.asked = append(e.asked, m.AsInternal())
	}
	if tx.IO.Out != nil {
		out, err := tx.IO.Out.ToSlice()
		if err == nil {
			for _, m := range out {
				if m.MsgType == tlb.MsgTypeInternal {
					e.sent = append(e.sent, m.AsInternal())
				}
			}
		}
	}
	return e, true
}

// pays reports whether m is the message bicycle built for request w: a
// TON payment to its destination of its amount, or a jetton transfer
// (to any jetton wallet: bicycle's hot jetton wallet) whose query_id is
// the request's ID.
func pays(m *tlb.InternalMessage, w *bWithdrawal, amount *big.Int) bool {
	if m == nil || m.DstAddr == nil {
		return false
	}
	if w.currency == config.TONSymbol {
		return bytes.Equal(m.DstAddr.Data(), w.dest) && m.Amount.Nano().Cmp(amount) == 0
	}
	if m.Body == nil {
		return false
	}
	s := m.Body.BeginParse()
	if op, err := s.LoadUInt(32); err != nil || op != 0x0f8a7ea5 {
		return false
	}
	q, err := s.LoadUInt(64)
	if err != nil || q != uint64(w.queryID) {
		return false
	}
	if a, err := s.LoadBigCoins(); err != nil || a.Cmp(amount) != 0 {
		return false
	}
	to, err := s.LoadAddr()
	return err == nil && bytes.Equal(to.Data(), w.dest)
}

// inflight resolves requests bicycle left processing (a batch sent, its
// outcome not yet seen when it stopped) from bicycle's hot wallet's
// transactions after the cut-over, with bicycle's rules: executed and
// sent: processed; executed without sending it: failed; never executed
// and past valid_until + grace on the chain: pending again (bicycle would
// retry it in a new batch).
type inflight struct {
	execs    []*v2Exec
	headTime int64
	loaded   bool
}

func (r *run) loadInflight(ctx context.Context, st *tstate, f *inflight) error {
	if f.loaded {
		return nil
	}
	// The head first: a batch not executed up to a block after its
	// valid_until never executes, and every block up to that head is in
	// the transactions listed after it.
	head, err := r.o.Chain.Head(ctx)
	if err != nil {
		return fmt.Errorf("takeover: network head: %w", err)
	}
	blk, err := r.o.Chain.Block(ctx, head)
	if err != nil {
		return fmt.Errorf("takeover: network head: %w", err)
	}
	f.headTime = int64(blk.BlockInfo.GenUtime)
	txs, err := r.o.Chain.TransactionsSince(ctx, address.NewAddress(0, 0, st.hot), uint64(st.cutoverLT))
	if err != nil {
		return fmt.Errorf("takeover: bicycle's hot wallet transactions after the cut-over: %w", err)
	}
	for _, t := range txs {
		if e, ok := parseV2(t); ok {
			f.execs = append(f.execs, e)
		}
	}
	f.loaded = true
	return nil
}

// resolve returns the state of an in-flight request, or ok=false when its
// batch may still execute.
func (f *inflight) resolve(w *bWithdrawal, amount *big.Int, grace time.Duration) (state string, txHash []byte, reason string, ok bool, until int64) {
	var att *bAttempt
	for i := len(w.attempts) - 1; i >= 0; i-- {
		if !w.attempts[i].failed {
			att = &w.attempts[i]
			break
		}
	}
	for _, e := range f.execs {
		if att != nil && att.expiredAt != nil && int64(e.validUntil) != att.expiredAt.Unix() {
			continue
		}
		asked := false
		for _, m := range e.asked {
			if pays(m, w, amount) {
				asked = true
				break
			}
		}
		if !asked {
			continue
		}
		for _, m := range e.sent {
			if pays(m, w, amount) {
				return stateProcessed, e.tx.Hash, "", true, 0
			}
		}
		return stateFailed, nil, reasonInFlightFailed, true, 0
	}
	if att == nil || att.expiredAt == nil {
		return statePending, nil, "", true, 0 // no live attempt: bicycle would send it again
	}
	until = att.expiredAt.Unix() + int64(grace/time.Second)
	if f.headTime > until {
		return statePending, nil, "", true, 0
	}
	return "", nil, "", false, until
}

// stageWithdrawals imports bicycle's withdrawal requests with their IDs,
// (user_id, query_id) keys and states, so that status lookups go on and a
// retry of an old request returns its old ID.
func stageWithdrawals(ctx context.Context, r *run, tx, btx pgx.Tx, sr *StageReport, _ bool) error {
	st, ok, err := requireState(ctx, tx, btx, sr)
	if err != nil || !ok {
		return err
	}
	list, err := readWithdrawals(ctx, btx)
	if err != nil {
		return err
	}
	lastID, err := readIDSequence(ctx, btx)
	if err != nil {
		return err
	}
	var fl inflight
	counts := map[string]int64{}
	var internal, already, skipped, fractions int64
	for _, w := range list {
		if w.intern {
			internal++
			// Not imported: bicycle computed each from its own hot wallet's
			// balance, which move-hot reads from the chain when it moves
			// it; this processor computes its own from its hot wallet (one
			// open transfer per currency), and an old amount paid again
			// would send the cold wallet too much.
			switch {
			case w.processing && !w.processed:
				sr.note("cold-wallet transfer %d (%s %s) was in flight; cold transfers are not imported (this processor computes its own; move-hot moves what bicycle's hot wallet holds)", w.queryID, w.amount, w.currency)
			case !w.processing && !w.processed:
				sr.note("cold-wallet transfer %d (%s %s) was pending; not imported: bicycle computed it from its own hot wallet, this processor computes its own", w.queryID, w.amount, w.currency)
			}
			continue
		}
		iw, cerr := convert(w)
		pending := !w.processing && !w.processed
		inFlight := w.processing && !w.processed
		if cerr != nil {
			if pending || inFlight {
				sr.block("withdrawal %d (user %q, query_id %q) is unfinished and cannot be imported: %v", w.queryID, w.userID, w.userQueryID, cerr)
			} else {
				skipped++
				sr.note("finished withdrawal %d (user %q, query_id %q) not imported (its status is no longer answered): %v", w.queryID, w.userID, w.userQueryID, cerr)
			}
			continue
		}
		if iw.reason == "fraction" {
			fractions++
			iw.reason = ""
		}
		switch {
		case pending:
			iw.state = statePending
		case w.processing && w.processed:
			// GetExternalWithdrawalStatus: the attempt with tx_hash or
			// processed_lt set decides.
			var settled *bAttempt
			for i := range w.attempts {
				if a := &w.attempts[i]; a.txHash != nil || a.processedLT != nil {
					settled = a
				}
			}
			switch {
			case settled == nil:
				sr.block("withdrawal %d is processed in bicycle but has no attempt with tx_hash or processed_lt (bicycle answers 500 for it)", w.queryID)
				continue
			case settled.failed:
				iw.state, iw.reason = stateFailed, reasonBicycleFailed
			default:
				iw.state, iw.txHash = stateProcessed, settled.txHash
			}
		case inFlight:
			if err := r.loadInflight(ctx, st, &fl); err != nil {
				return err
			}
			state, h, reason, ok, until := fl.resolve(w, iw.req.Amount, r.o.ExpiryGrace)
			if !ok {
				sr.block("withdrawal %d is in a batch bicycle sent that may still execute (valid until %s plus %s): run again after that",
					w.queryID, time.Unix(until-int64(r.o.ExpiryGrace/time.Second), 0).UTC().Format(time.RFC3339), r.o.ExpiryGrace)
				continue
			}
			iw.state, iw.txHash, iw.reason = state, h, reason
			sr.note("withdrawal %d was in flight when bicycle stopped: %s on the chain", w.queryID, state)
		default:
			sr.block("withdrawal %d is processed but not processing (bicycle answers 500 \"bad status\" for it)", w.queryID)
			continue
		}
		if iw.state == statePending && w.currency != config.TONSymbol {
			if j, ok := r.jettons[w.currency]; ok {
				jw, err := r.o.Chain.JettonWalletAddress(ctx, j.Master, iw.req.Destination)
				if err != nil {
					sr.note("withdrawal %d: the destination's %s jetton wallet is unknown (%v); it settles on the hot jetton wallet's transfer", w.queryID, w.currency, err)
				} else {
					iw.destJW = jw
				}
			} else {
				sr.block("pending withdrawal %d is in %q, which is not in JETTONS", w.queryID, w.currency)
				continue
			}
		}
		if !hasNoControl(w.userID) || !hasNoControl(w.userQueryID) {
			sr.note("withdrawal %d: user_id or query_id has control characters; this processor's API refuses them, so it can only be looked up by ID", w.queryID)
		}
		dup, err := importWithdrawal(ctx, tx, iw)
		if err != nil {
			return err
		}
		switch dup {
		case "":
			counts[iw.state]++
		case "same":
			already++
		default:
			sr.block("withdrawal %d (user %q, query_id %q): %s", w.queryID, w.userID, w.userQueryID, dup)
		}
	}
	// IDs continue after bicycle's: never hand out an ID a merchant saw.
	var seq string
	if err := tx.QueryRow(ctx, `SELECT pg_get_serial_sequence('withdrawals', 'id')`).Scan(&seq); err != nil {
		return fmt.Errorf("takeover: withdrawal id sequence: %w", err)
	}
	if _, err := tx.Exec(ctx, `SELECT setval($1::regclass, GREATEST((SELECT last_value FROM `+seq+`), $2, (SELECT coalesce(max(id), 1) FROM withdrawals)))`,
		seq, max(lastID, 1)); err != nil {
		return fmt.Errorf("takeover: withdrawal id sequence: %w", err)
	}
	sr.count("withdrawals imported pending (this processor pays them)", counts[statePending])
	sr.count("withdrawals imported processed", counts[stateProcessed])
	sr.count("withdrawals imported failed", counts[stateFailed])
	if already > 0 {
		sr.count("withdrawals imported before", already)
	}
	if internal > 0 {
		sr.count("cold-wallet transfers (not imported)", internal)
	}
	if skipped > 0 {
		sr.count("finished withdrawals not importable", skipped)
	}
	if fractions > 0 {
		sr.note("%d withdrawals had a fractional amount; imported truncated, as bicycle paid them (a retry must send the whole number)", fractions)
	}
	sr.count("next withdrawal ID after", lastID)
	return importServiceWithdrawals(ctx, r, tx, btx, sr)
}

// importServiceWithdrawals imports bicycle's unfinished service
// withdrawals (service_withdrawal_requests, processed = false) that this
// processor can carry out: a jetton one from a TON deposit (bicycle's
// service/jetton with owner = a TON deposit) becomes a pending jetton
// service withdrawal of that deposit with bicycle's memo, so the worker
// moves the jettons of that master to this processor's hot wallet and
// /v1/withdrawal/service/status answers for the memo. bicycle marks such a
// request processed before it sends the deposit's transfer, so an
// unprocessed one was never sent (a fill of 0.1 TON may have been). The
// others come from a jetton proxy, which only bicycle's hot wallet can
// command: not imported, counted and listed (sweep-proxies moves a proxy's
// configured jettons, or its TON).
func importServiceWithdrawals(ctx context.Context, r *run, tx, btx pgx.Tx, sr *StageReport) error {
	rows, err := btx.Query(ctx, `SELECT memo::text, from_address, jetton_master FROM payments.service_withdrawal_requests
		WHERE NOT processed ORDER BY created_at, memo`)
	if err != nil {
		return fmt.Errorf("takeover: read bicycle's service_withdrawal_requests: %w", err)
	}
	type service struct {
		memo         string
		from, master []byte
	}
	var list []service
	var sw service
	if _, err := pgx.ForEachRow(rows, []any{&sw.memo, &sw.from, &sw.master}, func() error {
		list = append(list, service{sw.memo, append([]byte(nil), sw.from...), append([]byte(nil), sw.master...)})
		return nil
	}); err != nil {
		return fmt.Errorf("takeover: read bicycle's service_withdrawal_requests: %w", err)
	}
	var imported, before, proxies int64
	for _, sw := range list {
		var deriv string
		err := tx.QueryRow(ctx, `SELECT derivation FROM deposit_wallets WHERE workchain = 0 AND address = $1 AND derivation IN ('bicycle', 'bicycle_proxy')`,
			sw.from).Scan(&deriv)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			sr.block("unfinished service withdrawal %s is from %s, which is not an imported deposit address", sw.memo, rawAddr(sw.from))
			continue
		case err != nil:
			return fmt.Errorf("takeover: service withdrawal %s: %w", sw.memo, err)
		}
		if deriv == string(wallets.DerivationBicycleProxy) || len(sw.master) == 0 {
			// A TON one is always from a proxy (bicycle refused others).
			proxies++
			what := "TON"
			if len(sw.master) > 0 {
				what = "jettons of master " + rawAddr(sw.master)
			}
			sr.note("unfinished service withdrawal %s (%s from jetton deposit %s) is not imported: only bicycle's hot wallet commands that proxy; "+
				"processor takeover-bicycle sweep-proxies moves its configured jettons, or its TON", sw.memo, what, rawAddr(sw.from))
			continue
		}
		if len(sw.from) != 32 || len(sw.master) != 32 {
			sr.block("unfinished service withdrawal %s: from_address or jetton_master is not 32 bytes", sw.memo)
			continue
		}
		owner, master := address.NewAddress(0, 0, sw.from), address.NewAddress(0, 0, sw.master)
		jw, err := r.o.Chain.JettonWalletAddress(ctx, master, owner)
		if err != nil {
			sr.block("unfinished service withdrawal %s: the jetton wallet of %s for master %s is unknown: %v", sw.memo, owner.StringRaw(), master.StringRaw(), err)
			continue
		}
		tag, err := tx.Exec(ctx, `INSERT INTO service_withdrawals (memo, kind, from_workchain, from_address,
				jetton_master_workchain, jetton_master, jetton_wallet_workchain, jetton_wallet)
			VALUES ($1::uuid, 'jetton', 0, $2, 0, $3, $4, $5) ON CONFLICT (memo) DO NOTHING`,
			sw.memo, sw.from, sw.master, jw.Workchain(), jw.Data())
		if err != nil {
			return fmt.Errorf("takeover: import service withdrawal %s: %w", sw.memo, err)
		}
		if tag.RowsAffected() == 1 {
			imported++
			continue
		}
		var same bool
		if err := tx.QueryRow(ctx, `SELECT kind = 'jetton' AND from_workchain = 0 AND from_address = $2 AND jetton_master = $3
			FROM service_withdrawals WHERE memo = $1::uuid`, sw.memo, sw.from, sw.master).Scan(&same); err != nil {
			return fmt.Errorf("takeover: service withdrawal %s: %w", sw.memo, err)
		}
		if !same {
			sr.block("unfinished service withdrawal %s: this processor has another service withdrawal with that memo", sw.memo)
			continue
		}
		before++
	}
	sr.count("unfinished service withdrawals imported (jettons from TON deposits)", imported)
	if before > 0 {
		sr.count("service withdrawals imported before", before)
	}
	if proxies > 0 {
		sr.count("unfinished service withdrawals from proxies (not imported)", proxies)
	}
	return nil
}

func hasNoControl(s string) bool {
	for _, c := range s {
		if unicode.IsControl(c) {
			return false
		}
	}
	return true
}

// importWithdrawal inserts iw with bicycle's ID. It returns "" when
// inserted, "same" when imported before, or why it collides.
func importWithdrawal(ctx context.Context, tx pgx.Tx, iw *importedWithdrawal) (string, error) {
	var (
		id       int64
		hash     []byte
		imported *string
		user, q  string
	)
	err := tx.QueryRow(ctx, `SELECT id, request_hash, imported_from, user_id, query_id FROM withdrawals
		WHERE id = $1 OR (user_id = $2 AND query_id = $3) ORDER BY id LIMIT 1`, iw.id, iw.req.UserID, iw.req.QueryID).
		Scan(&id, &hash, &imported, &user, &q)
	switch {
	case err == nil:
		if id == iw.id && imported != nil && bytes.Equal(hash, iw.hash[:]) {
			return "same", nil
		}
		return fmt.Sprintf("collides with this processor's withdrawal %d (user %q, query_id %q)", id, user, q), nil
	case !errors.Is(err, pgx.ErrNoRows):
		return "", fmt.Errorf("takeover: look up withdrawal %d: %w", iw.id, err)
	}
	var comment *string
	if iw.req.Comment != "" {
		comment = &iw.req.Comment
	}
	bits := pgtype.Bits{}
	if iw.req.BinaryCommentBits > 0 {
		bits = pgtype.Bits{Bytes: iw.req.BinaryComment, Len: int32(iw.req.BinaryCommentBits), Valid: true}
	}
	var reason *string
	if iw.reason != "" {
		reason = &iw.reason
	}
	var djwWC *int32
	var djw []byte
	if iw.destJW != nil {
		wc := iw.destJW.Workchain()
		djwWC, djw = &wc, iw.destJW.Data()
	}
	_, err = tx.Exec(ctx, `INSERT INTO withdrawals (id, user_id, query_id, currency, amount, destination_workchain, destination_address,
			bounceable, comment, binary_comment, request_hash, state, tx_hash, fail_reason, imported_from,
			destination_jetton_wallet_workchain, destination_jetton_wallet, created_at)
		OVERRIDING SYSTEM VALUE
		VALUES ($1, $2, $3, $4, $5, 0, $6, $7, $8, $9, $10, $11, $12, $13, 'bicycle', $14, $15, coalesce($16, now()))`,
		iw.id, iw.req.UserID, iw.req.QueryID, iw.req.Currency, iw.req.Amount, iw.req.Destination.Data(),
		iw.req.Bounceable, comment, bits, iw.hash[:], iw.state, iw.txHash, reason, djwWC, djw, iw.createdAt)
	if err != nil {
		return "", fmt.Errorf("takeover: import withdrawal %d (%s): %w", iw.id, hex.EncodeToString(iw.hash[:4]), err)
	}
	return "", nil
}
