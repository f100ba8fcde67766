package takeover

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/xssnick/tonutils-go/address"
	tonutils "github.com/xssnick/tonutils-go/ton"

	"github.com/ton-custody/processor/internal/config"
	"github.com/ton-custody/processor/internal/wallets"
)

// tstate is the bicycle_takeover row.
type tstate struct {
	hot                    []byte
	proxyCode              []byte
	cursorShard            int64
	cursorSeqno            int64
	cursorRoot, cursorFile []byte
	cursorGenUtime         int64
	cutoverLT              int64
	startMC                int64
	nextSub                int64
}

func loadState(ctx context.Context, tx pgx.Tx) (*tstate, error) {
	var s tstate
	err := tx.QueryRow(ctx, `SELECT hot_address, proxy_code, cursor_shard, cursor_seqno, cursor_root_hash, cursor_file_hash, cursor_gen_utime,
		cutover_lt, start_mc_seqno, next_subwallet_id FROM bicycle_takeover`).
		Scan(&s.hot, &s.proxyCode, &s.cursorShard, &s.cursorSeqno, &s.cursorRoot, &s.cursorFile, &s.cursorGenUtime, &s.cutoverLT, &s.startMC, &s.nextSub)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("takeover: read bicycle_takeover: %w", err)
	}
	return &s, nil
}

// requireState loads the takeover row and checks that bicycle's cursor has
// not moved since it was written (bicycle ran again in between: what was
// imported is stale). ok is false when the stage cannot go on.
func requireState(ctx context.Context, tx, btx pgx.Tx, sr *StageReport) (*tstate, bool, error) {
	st, err := loadState(ctx, tx)
	if err != nil || st == nil {
		if err == nil {
			sr.block("stage %s has not been imported", StageState)
		}
		return nil, false, err
	}
	cur, err := readCursor(ctx, btx)
	if err != nil {
		return nil, false, err
	}
	if cur == nil || cur.shard != st.cursorShard || cur.seqno != st.cursorSeqno || !bytes.Equal(cur.rootHash, st.cursorRoot) {
		sr.block("bicycle's scan cursor moved since stage %s (bicycle ran again): what was imported is stale; start over with a fresh database", StageState)
		return nil, false, nil
	}
	return st, true, nil
}

// shardCovers reports whether the shard (a 64-bit shard id) contains the
// account.
func shardCovers(shard uint64, acct []byte) bool {
	if len(acct) < 8 || shard == 0 {
		return false
	}
	low := shard & -shard
	mask := ^(low<<1 - 1)
	var prefix uint64
	for _, b := range acct[:8] {
		prefix = prefix<<8 | uint64(b)
	}
	return prefix&mask == shard&mask
}

func rawAddr(b []byte) string {
	if len(b) != 32 {
		return "(" + hex.EncodeToString(b) + ")"
	}
	return "0:" + hex.EncodeToString(b)
}

// validUserID is what deposit_wallets and withdrawals accept: 1..256
// characters of valid UTF-8 without NUL.
func validUserID(s string) bool {
	return s != "" && utf8.ValidString(s) && utf8.RuneCountInString(s) <= 256 && !bytes.ContainsRune([]byte(s), 0)
}

// stageState checks that SEED is bicycle's seed, finds the cut-over on
// the chain and records the takeover.
func stageState(ctx context.Context, r *run, tx, btx pgx.Tx, sr *StageReport, done bool) error {
	ws, err := readWallets(ctx, btx)
	if err != nil {
		return err
	}
	hot := r.b.HotWallet()
	next := int64(wallets.BicycleHotSubwalletID) + 1
	var hotRows, owners int64
	for _, w := range ws {
		if w.subwalletID+1 > next {
			next = w.subwalletID + 1
		}
		switch w.typ {
		case typeTONHot:
			hotRows++
			if !bytes.Equal(w.address, hot.Data()) {
				sr.block("bicycle's hot wallet is %s, but SEED gives %s: SEED is not bicycle's seed", rawAddr(w.address), hot.StringRaw())
			}
		case typeOwner:
			owners++
		}
	}
	if hotRows == 0 {
		sr.block("bicycle's ton_wallets has no ton_hot row (bicycle writes it at its first start): not a database bicycle ran on")
	}
	jws, err := readJettonWallets(ctx, btx)
	if err != nil {
		return err
	}
	for _, j := range jws {
		if j.typ != typeJettonHot {
			continue
		}
		jc, ok := r.jettons[j.currency]
		if !ok {
			sr.note("bicycle's jetton %q is not in JETTONS: its hot jetton wallet %s is not moved by move-hot, and its deposits cannot be imported", j.currency, rawAddr(j.address))
			continue
		}
		got, err := r.o.Chain.JettonWalletAddress(ctx, jc.Master, hot)
		if err != nil {
			return fmt.Errorf("takeover: %s jetton wallet of bicycle's hot wallet: %w", j.currency, err)
		}
		if !bytes.Equal(got.Data(), j.address) || got.Workchain() != 0 {
			sr.block("bicycle's %s hot jetton wallet is %s, but the master %s that JETTONS names gives %s: another jetton under the same symbol",
				j.currency, rawAddr(j.address), jc.Master.StringRaw(), got.StringRaw())
		}
	}
	if owners > 0 && !r.b.HasProxyCode() {
		sr.block("bicycle has %d jetton deposit addresses (proxies): give its proxy code (--proxy-code, the file of gobicycle/ton-proxy-contract bicycle embeds; code hash %s)",
			owners, wallets.BicycleProxyCodeHash)
	}
	services, sweeps, err := openWork(ctx, btx)
	if err != nil {
		return err
	}
	if services > 0 {
		sr.note("bicycle left %d service withdrawals unprocessed: the withdrawals stage imports those this processor can carry out (jettons from TON deposits) and lists the others", services)
	}
	if sweeps > 0 {
		sr.note("bicycle left %d sweeps unfinished; nothing to import: after their 50 s the funds are either on bicycle's hot wallet (move-hot) or still on the deposit (swept again)", sweeps)
	}
	if r.o.CountingSide == config.CountHotWallet {
		sr.note("INCOME_COUNTING_SIDE=hot_wallet: /v1/income of imported addresses adds bicycle's sweep arrivals (internal_incomes, imported by the history stage) to this processor's confirmed sweeps")
	}
	cur, err := readCursor(ctx, btx)
	if err != nil {
		return err
	}
	if cur == nil {
		sr.block("bicycle's block_data is empty: it never scanned a block, so there is no point to continue from")
		return nil
	}
	if !shardCovers(uint64(cur.shard), hot.Data()) {
		sr.block("bicycle's last scanned block is in shard %016x, which does not hold its hot wallet", uint64(cur.shard))
	}
	id := &tonutils.BlockIDExt{Workchain: 0, Shard: cur.shard, SeqNo: uint32(cur.seqno), RootHash: cur.rootHash, FileHash: cur.fileHash}
	blk, err := r.o.Chain.Block(ctx, id)
	if err != nil {
		sr.block("bicycle's last scanned block (shard %016x seqno %d) cannot be read from the chain (another network, or older than the liteserver keeps: use an archive liteserver): %v",
			uint64(cur.shard), cur.seqno, err)
		return nil
	}
	if blk.BlockInfo.MasterRef == nil {
		sr.block("bicycle's last scanned block names no masterchain block")
		return nil
	}
	endLT, startMC := blk.BlockInfo.EndLt, blk.BlockInfo.MasterRef.SeqNo
	sr.count("bicycle's last scanned shard block (seqno)", cur.seqno)
	sr.count("cut-over logical time (end of that block)", int64(endLT))
	sr.count("scanner continues after masterchain block", int64(startMC))
	sr.count("bicycle's next subwallet id", next)

	var code []byte
	if r.b.HasProxyCode() {
		code = r.b.ProxyCode().ToBOCWithFlags(false)
	}
	old, err := loadState(ctx, tx)
	if err != nil {
		return err
	}
	if old != nil {
		if !bytes.Equal(old.hot, hot.Data()) || old.cursorShard != cur.shard || old.cursorSeqno != cur.seqno || !bytes.Equal(old.cursorRoot, cur.rootHash) {
			sr.block("this database already took over bicycle at cursor seqno %d (hot wallet %s); bicycle is now at %d (hot wallet %s): start over with a fresh database",
				old.cursorSeqno, rawAddr(old.hot), cur.seqno, hot.StringRaw())
			return nil
		}
		if old.proxyCode == nil && code != nil {
			if _, err := tx.Exec(ctx, `UPDATE bicycle_takeover SET proxy_code = $1`, code); err != nil {
				return fmt.Errorf("takeover: store proxy code: %w", err)
			}
		}
		return nil
	}
	var ourCursor *int64
	if err := tx.QueryRow(ctx, `SELECT (SELECT mc_seqno FROM scanner_cursor)`).Scan(&ourCursor); err != nil {
		return fmt.Errorf("takeover: read scanner cursor: %w", err)
	}
	if ourCursor != nil && *ourCursor > int64(startMC) {
		sr.block("this processor's scanner is already at masterchain block %d, after the cut-over (%d): it would never see bicycle's addresses' deposits in between. "+
			"Import into a database the processor has not scanned with (or one whose scanner is behind)", *ourCursor, startMC)
	}
	_, err = tx.Exec(ctx, `INSERT INTO bicycle_takeover (hot_address, proxy_code, cursor_shard, cursor_seqno, cursor_root_hash, cursor_file_hash,
			cursor_gen_utime, cutover_lt, start_mc_seqno, next_subwallet_id)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
		hot.Data(), code, cur.shard, cur.seqno, cur.rootHash, cur.fileHash, cur.genUtime, int64(endLT), int64(startMC), next)
	if err != nil {
		return fmt.Errorf("takeover: record the takeover: %w", err)
	}
	return nil
}

// newDeposit is a deposit_wallets row to import.
type newDeposit struct {
	userID, currency string
	sub              int64
	addr             []byte
	deriv            wallets.Derivation
	master, jw       *address.Address
	createdAt        any
}

// stageAddresses imports bicycle's deposit addresses, each re-derived
// from SEED with bicycle's scheme and compared with the stored address.
func stageAddresses(ctx context.Context, r *run, tx, btx pgx.Tx, sr *StageReport, _ bool) error {
	st, ok, err := requireState(ctx, tx, btx, sr)
	if err != nil || !ok {
		return err
	}
	ws, err := readWallets(ctx, btx)
	if err != nil {
		return err
	}
	jws, err := readJettonWallets(ctx, btx)
	if err != nil {
		return err
	}
	jwBySub := map[int64][]bJettonWallet{}
	for _, j := range jws {
		if j.typ == typeJettonDeposit {
			jwBySub[j.subwalletID] = append(jwBySub[j.subwalletID], j)
		} else if j.typ != typeJettonHot {
			sr.note("jetton_wallets row of unknown type %q (subwallet %d) ignored", j.typ, j.subwalletID)
		}
	}
	var rows []newDeposit
	owners := map[int64]bool{}
	var mismatched int64
	for _, w := range ws {
		if w.typ == typeTONHot {
			continue
		}
		if w.typ != typeTONDeposit && w.typ != typeOwner {
			sr.note("ton_wallets row of unknown type %q (subwallet %d) ignored", w.typ, w.subwalletID)
			continue
		}
		if w.subwalletID < 0 || w.subwalletID > 1<<32-1 {
			sr.block("%s of user %q has subwallet id %d, outside uint32", w.typ, w.userID, w.subwalletID)
			continue
		}
		if !validUserID(w.userID) {
			sr.block("%s %s (subwallet %d) has user_id %q, which this processor cannot store (1-256 characters of UTF-8 without NUL); "+
				"give it a user id in bicycle's database and run again", w.typ, rawAddr(w.address), w.subwalletID, w.userID)
			continue
		}
		sub := uint32(w.subwalletID)
		if w.typ == typeTONDeposit {
			derived := r.b.DepositAddress(sub)
			if !bytes.Equal(derived.Data(), w.address) {
				mismatched++
				sr.block("TON deposit of user %q, subwallet %d: bicycle stored %s, SEED derives %s with bicycle's scheme", w.userID, sub, rawAddr(w.address), derived.StringRaw())
				continue
			}
			if !shardCovers(uint64(st.cursorShard), w.address) {
				sr.note("TON deposit %s lies outside the shard bicycle scanned; bicycle never saw its deposits", derived.StringRaw())
			}
			rows = append(rows, newDeposit{userID: w.userID, currency: config.TONSymbol, sub: w.subwalletID, addr: w.address,
				deriv: wallets.DerivationBicycle, createdAt: w.createdAt})
			continue
		}
		owners[w.subwalletID] = true
		if !r.b.HasProxyCode() {
			sr.block("jetton deposit (proxy) %s of user %q cannot be checked without bicycle's proxy code", rawAddr(w.address), w.userID)
			continue
		}
		proxy, err := r.b.ProxyAddress(sub)
		if err != nil {
			return err
		}
		if !bytes.Equal(proxy.Data(), w.address) {
			mismatched++
			sr.block("jetton deposit (proxy) of user %q, subwallet %d: bicycle stored %s, SEED and the proxy code derive %s", w.userID, sub, rawAddr(w.address), proxy.StringRaw())
			continue
		}
		js := jwBySub[w.subwalletID]
		if len(js) != 1 {
			sr.block("jetton deposit (proxy) %s has %d jetton_deposit rows with subwallet %d, expected one", proxy.StringRaw(), len(js), sub)
			continue
		}
		j := js[0]
		jc, ok := r.jettons[j.currency]
		if !ok {
			sr.block("jetton deposit %s is for %q, which is not in JETTONS (configure the same symbol and master as bicycle's)", proxy.StringRaw(), j.currency)
			continue
		}
		got, err := r.o.Chain.JettonWalletAddress(ctx, jc.Master, proxy)
		if err != nil {
			return fmt.Errorf("takeover: %s jetton wallet of proxy %s: %w", j.currency, proxy.StringRaw(), err)
		}
		if got.Workchain() != 0 || !bytes.Equal(got.Data(), j.address) {
			mismatched++
			sr.block("jetton deposit %s (%s): bicycle stored jetton wallet %s, the master now names %s (its code changed?)", proxy.StringRaw(), j.currency, rawAddr(j.address), got.StringRaw())
			continue
		}
		if j.userID != w.userID {
			sr.note("proxy %s belongs to user %q but its jetton wallet row to %q; imported for %q", proxy.StringRaw(), w.userID, j.userID, w.userID)
		}
		if !shardCovers(uint64(st.cursorShard), j.address) {
			sr.note("jetton wallet %s of proxy %s lies outside the shard bicycle scanned", got.StringRaw(), proxy.StringRaw())
		}
		rows = append(rows, newDeposit{userID: w.userID, currency: j.currency, sub: w.subwalletID, addr: w.address,
			deriv: wallets.DerivationBicycleProxy, master: jc.Master, jw: got, createdAt: w.createdAt})
	}
	for sub, js := range jwBySub {
		if !owners[sub] {
			sr.block("jetton wallet %s (subwallet %d) has no proxy row in ton_wallets", rawAddr(js[0].address), sub)
		}
	}
	var imported, already [2]int64
	for _, d := range rows {
		kind := 0
		if d.deriv == wallets.DerivationBicycleProxy {
			kind = 1
		}
		var (
			id                    int64
			user, currency, deriv string
			sub                   int64
			wc                    int32
			addr, jw              []byte
			haveRow               bool
		)
		err := tx.QueryRow(ctx, `SELECT id, user_id, currency, subwallet_id, workchain, address, derivation, jetton_wallet FROM deposit_wallets
			WHERE (workchain = 0 AND address = $1) OR subwallet_id = $2 ORDER BY id LIMIT 1`, d.addr, d.sub).
			Scan(&id, &user, &currency, &sub, &wc, &addr, &deriv, &jw)
		switch {
		case err == nil:
			haveRow = true
		case !errors.Is(err, pgx.ErrNoRows):
			return fmt.Errorf("takeover: look up deposit: %w", err)
		}
		if haveRow {
			var wantJW []byte
			if d.jw != nil {
				wantJW = d.jw.Data()
			}
			if user == d.userID && currency == d.currency && sub == d.sub && wc == 0 && bytes.Equal(addr, d.addr) && deriv == string(d.deriv) && bytes.Equal(jw, wantJW) {
				already[kind]++
				continue
			}
			sr.block("deposit %s (subwallet %d, user %q) collides with this processor's deposit %d (subwallet %d, user %q, %s)", rawAddr(d.addr), d.sub, d.userID, id, sub, user, deriv)
			continue
		}
		var masterWC, jwWC *int32
		var master, jwData []byte
		if d.master != nil {
			mwc, wwc := d.master.Workchain(), d.jw.Workchain()
			masterWC, master, jwWC, jwData = &mwc, d.master.Data(), &wwc, d.jw.Data()
		}
		_, err = tx.Exec(ctx, `INSERT INTO deposit_wallets (user_id, currency, subwallet_id, workchain, address,
				jetton_master_workchain, jetton_master, jetton_wallet_workchain, jetton_wallet, created_at, derivation, credited_before_lt)
			VALUES ($1, $2, $3, 0, $4, $5, $6, $7, $8, $9, $10, $11)`,
			d.userID, d.currency, d.sub, d.addr, masterWC, master, jwWC, jwData, d.createdAt, string(d.deriv), st.cutoverLT)
		if err != nil {
			return fmt.Errorf("takeover: import deposit %s: %w", rawAddr(d.addr), err)
		}
		imported[kind]++
	}
	sr.count("TON deposit addresses imported", imported[0])
	sr.count("jetton deposit addresses (proxies) imported", imported[1])
	if already[0]+already[1] > 0 {
		sr.count("deposit addresses imported before", already[0]+already[1])
	}
	if mismatched > 0 {
		sr.count("addresses that do not re-derive (the import stops)", mismatched)
	}
	return nil
}

// ourDeposit is an imported deposit as the history stage maps it.
type ourDeposit struct {
	id       int64
	currency string
}

// stageHistory imports bicycle's external_incomes: every row with an
// amount, with its tx hash, time, sender and comment, in bicycle's order.
func stageHistory(ctx context.Context, r *run, tx, btx pgx.Tx, sr *StageReport, done bool) error {
	st, ok, err := requireState(ctx, tx, btx, sr)
	if err != nil || !ok {
		return err
	}
	// bicycle's deposit_address: the TON deposit, or the proxy's jetton
	// wallet (never the proxy).
	byAddr := map[string]ourDeposit{}
	rows, err := tx.Query(ctx, `SELECT id, currency, address, jetton_wallet, derivation FROM deposit_wallets WHERE derivation IN ('bicycle', 'bicycle_proxy')`)
	if err != nil {
		return fmt.Errorf("takeover: read imported deposits: %w", err)
	}
	var id int64
	var currency, deriv string
	var addr, jw []byte
	_, err = pgx.ForEachRow(rows, []any{&id, &currency, &addr, &jw, &deriv}, func() error {
		key := addr
		if deriv == string(wallets.DerivationBicycleProxy) {
			key = jw
		}
		byAddr[string(key)] = ourDeposit{id: id, currency: currency}
		return nil
	})
	if err != nil {
		return fmt.Errorf("takeover: read imported deposits: %w", err)
	}
	type sum struct {
		n   int64
		amt *big.Int
	}
	want := map[int64]*sum{}
	var zero, noHash, unknown, fractions int64
	var batch []bIncome
	var batchDeps []ourDeposit
	var inserted, conflicts int64
	flush := func() error {
		if len(batch) == 0 || done {
			batch, batchDeps = batch[:0], batchDeps[:0]
			return nil
		}
		n, dup, err := insertIncomes(ctx, tx, batch, batchDeps)
		if err != nil {
			return err
		}
		inserted += n
		for _, h := range dup {
			conflicts++
			sr.note("income with tx_hash %x is already in this database (imported, or credited by this processor): not imported again", h)
		}
		batch, batchDeps = batch[:0], batchDeps[:0]
		return nil
	}
	err = forEachIncome(ctx, btx, func(in bIncome) error {
		amount, frac, err := parseAmount(in.amount)
		if err != nil {
			sr.block("external_incomes row at lt %d: %v", in.lt, err)
			return nil
		}
		if frac {
			fractions++
		}
		d, ok := byAddr[string(in.deposit)]
		if !ok {
			unknown++
			if unknown <= 20 {
				sr.block("income at lt %d (tx %x, %s) is for %s, which is not an imported deposit address", in.lt, in.txHash, in.amount, rawAddr(in.deposit))
			}
			return nil
		}
		if amount.Sign() == 0 {
			zero++ // bicycle's "0" rows of unattributed jetton transfers
			return nil
		}
		if in.lt >= st.cutoverLT {
			sr.note("income at lt %d (tx %x) is not before the cut-over (%d); imported, and the scanner will not credit it again only by its tx hash", in.lt, in.txHash, st.cutoverLT)
		}
		if in.txHash == nil {
			noHash++
		}
		s := want[d.id]
		if s == nil {
			s = &sum{amt: new(big.Int)}
			want[d.id] = s
		}
		s.n++
		s.amt.Add(s.amt, amount)
		in.amount = amount.String()
		batch = append(batch, in)
		batchDeps = append(batchDeps, d)
		if len(batch) >= 1000 {
			return flush()
		}
		return nil
	})
	if err != nil {
		return err
	}
	if unknown > 20 {
		sr.block("%d more incomes for addresses that were not imported", unknown-20)
	}
	if err := flush(); err != nil {
		return err
	}
	if err := importSweepArrivals(ctx, tx, btx, byAddr, sr); err != nil {
		return err
	}
	var total int64
	for _, s := range want {
		total += s.n
	}
	if done {
		// Imported before: compare what is there with bicycle's rows.
		rows, err := tx.Query(ctx, `SELECT deposit_wallet_id, count(*), sum(amount)::text FROM incomes WHERE imported_from = 'bicycle' GROUP BY deposit_wallet_id`)
		if err != nil {
			return fmt.Errorf("takeover: read imported history: %w", err)
		}
		var dep, n int64
		var amt string
		have := map[int64]bool{}
		_, err = pgx.ForEachRow(rows, []any{&dep, &n, &amt}, func() error {
			have[dep] = true
			s := want[dep]
			if s == nil || s.n != n || s.amt.String() != amt {
				sr.block("deposit %d: %d imported incomes summing %s, bicycle now has %v", dep, n, amt, s)
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("takeover: read imported history: %w", err)
		}
		for dep, s := range want {
			if !have[dep] {
				sr.block("deposit %d: bicycle has %d incomes summing %s that were not imported", dep, s.n, s.amt)
			}
		}
		sr.count("incomes imported before", total)
		return nil
	}
	sr.count("incomes imported", inserted)
	if zero > 0 {
		sr.count("zero-amount jetton rows not imported (this history has none)", zero)
	}
	if noHash > 0 {
		sr.count("incomes without tx_hash (bicycle before v0.5.0)", noHash)
	}
	if fractions > 0 {
		sr.note("%d incomes had a fractional amount and were truncated", fractions)
	}
	if conflicts > 0 {
		sr.count("incomes whose tx_hash was already present", conflicts)
	}
	return nil
}

// insertIncomes writes one batch of imported incomes and returns how many
// were inserted and the tx hashes that already were there.
func insertIncomes(ctx context.Context, tx pgx.Tx, ins []bIncome, deps []ourDeposit) (int64, [][]byte, error) {
	n := len(ins)
	depIDs, lts, utimes := make([]int64, n), make([]int64, n), make([]int64, n)
	currencies, amounts := make([]string, n), make([]string, n)
	srcWCs := make([]*int32, n)
	srcAddrs, hashes := make([][]byte, n), make([][]byte, n)
	comments := make([]*string, n)
	for i, in := range ins {
		depIDs[i], currencies[i], amounts[i] = deps[i].id, deps[i].currency, in.amount
		if in.payerWC != nil && len(in.payer) == 32 {
			srcWCs[i], srcAddrs[i] = in.payerWC, in.payer
		}
		if in.comment != "" {
			c := in.comment
			comments[i] = &c
		}
		hashes[i], lts[i], utimes[i] = in.txHash, in.lt, in.utime
	}
	// The user comes from a subquery, not a join: rows keep bicycle's
	// order (ids break ties of time in the history); no wallet gives NULL,
	// refused.
	rows, err := tx.Query(ctx, `
		INSERT INTO incomes (deposit_wallet_id, user_id, currency, amount, source_workchain, source_address, comment, tx_hash, tx_lt, utime, mc_seqno, imported_from)
		SELECT d, (SELECT w.user_id FROM deposit_wallets w WHERE w.id = d), c, a, sw, sa, cm, h, lt, ut, 0, 'bicycle'
		FROM unnest($1::bigint[], $2::text[], $3::numeric[], $4::int[], $5::bytea[], $6::text[], $7::bytea[], $8::bigint[], $9::bigint[])
			AS u(d, c, a, sw, sa, cm, h, lt, ut)
		ON CONFLICT (tx_hash) DO NOTHING RETURNING tx_hash`,
		depIDs, currencies, amounts, srcWCs, srcAddrs, comments, hashes, lts, utimes)
	if err != nil {
		return 0, nil, fmt.Errorf("takeover: import incomes: %w", err)
	}
	got := map[string]int{}
	var count int64
	var h []byte
	_, err = pgx.ForEachRow(rows, []any{&h}, func() error {
		count++
		got[string(h)]++
		return nil
	})
	if err != nil {
		return 0, nil, fmt.Errorf("takeover: import incomes: %w", err)
	}
	var dup [][]byte
	for _, in := range ins {
		if in.txHash == nil {
			continue
		}
		if got[string(in.txHash)] > 0 {
			got[string(in.txHash)]--
			continue
		}
		dup = append(dup, in.txHash)
	}
	return count, dup, nil
}

// stageCursor stores the scanner's cursor at the masterchain block
// bicycle's last scanned block names: its shard tops are that block's
// ancestors, so the scanner walks every later block of bicycle's shard
// chain (and a few it already scanned, whose credits creditedBefore
// skips), and every other shard from where those blocks could first
// deliver a message.
func stageCursor(ctx context.Context, r *run, tx, btx pgx.Tx, sr *StageReport, _ bool) error {
	st, ok, err := requireState(ctx, tx, btx, sr)
	if err != nil || !ok {
		return err
	}
	var cur *int64
	if err := tx.QueryRow(ctx, `SELECT (SELECT mc_seqno FROM scanner_cursor)`).Scan(&cur); err != nil {
		return fmt.Errorf("takeover: read scanner cursor: %w", err)
	}
	switch {
	case cur != nil && *cur == st.startMC:
		sr.count("scanner cursor set before (masterchain block)", *cur)
		return nil
	case cur != nil && *cur > st.startMC:
		sr.block("the scanner is already at masterchain block %d, after the cut-over (%d): it would miss deposits to bicycle's addresses in between", *cur, st.startMC)
		return nil
	case cur != nil:
		sr.note("the scanner's cursor (masterchain block %d) is before the cut-over (%d) and is kept: it scans the blocks in between, and imported deposits skip what bicycle credited", *cur, st.startMC)
		return nil
	}
	m, err := fetchMasterTops(ctx, r.o.Chain, uint32(st.startMC))
	if err != nil {
		sr.block("masterchain block %d cannot be read (older than the liteserver keeps? use an archive liteserver): %v", st.startMC, err)
		return nil
	}
	covered := false
	for _, t := range m.tops {
		if !shardCovers(uint64(t.Shard), st.hot) {
			continue
		}
		covered = true
		if t.SeqNo > uint32(st.cursorSeqno) {
			sr.block("masterchain block %d already references shard block %d of bicycle's shard, after bicycle's last (%d)", st.startMC, t.SeqNo, st.cursorSeqno)
		}
	}
	if !covered {
		sr.block("masterchain block %d has no shard block of bicycle's shard", st.startMC)
	}
	if _, err := tx.Exec(ctx, `INSERT INTO scanner_cursor (singleton, mc_seqno, root_hash, file_hash, gen_utime) VALUES (true, $1, $2, $3, $4)`,
		int64(m.id.SeqNo), m.id.RootHash, m.id.FileHash, int64(m.genUtime)); err != nil {
		return fmt.Errorf("takeover: set scanner cursor: %w", err)
	}
	if _, err := tx.Exec(ctx, `DELETE FROM scanner_shard_tops`); err != nil {
		return fmt.Errorf("takeover: set shard tops: %w", err)
	}
	for _, t := range m.tops {
		if _, err := tx.Exec(ctx, `INSERT INTO scanner_shard_tops (workchain, shard, seqno, root_hash, file_hash) VALUES ($1, $2, $3, $4, $5)`,
			t.Workchain, t.Shard, int64(t.SeqNo), t.RootHash, t.FileHash); err != nil {
			return fmt.Errorf("takeover: set shard tops: %w", err)
		}
	}
	sr.count("scanner cursor set to masterchain block", int64(m.id.SeqNo))
	return nil
}

// importSweepArrivals imports bicycle's internal_incomes (sweep arrivals at
// its hot wallet, the income bicycle's DEPOSIT_SIDE_BALANCE=false totals)
// into bicycle_sweep_arrivals, which /v1/income adds with
// INCOME_COUNTING_SIDE=hot_wallet, so those totals continue too. Every
// row is taken as bicycle counted it (rows of failed transactions
// included), keyed as bicycle keyed it (memo, lt): a run again, or after
// an upgrade that added this import, inserts only the missing rows.
func importSweepArrivals(ctx context.Context, tx, btx pgx.Tx, byAddr map[string]ourDeposit, sr *StageReport) error {
	rows, err := btx.Query(ctx, `SELECT lt, extract(epoch FROM utime)::bigint, deposit_address, amount::text, memo::text
		FROM payments.internal_incomes ORDER BY lt, memo`)
	if err != nil {
		return fmt.Errorf("takeover: read bicycle's internal_incomes: %w", err)
	}
	type arrival struct {
		lt, utime int64
		dep       []byte
		amount    string
		memo      string
	}
	var list []arrival
	var a arrival
	if _, err := pgx.ForEachRow(rows, []any{&a.lt, &a.utime, &a.dep, &a.amount, &a.memo}, func() error {
		list = append(list, a)
		return nil
	}); err != nil {
		return fmt.Errorf("takeover: read bicycle's internal_incomes: %w", err)
	}
	var inserted, before, unknown int64
	for _, a := range list {
		d, ok := byAddr[string(a.dep)]
		if !ok {
			unknown++
			if unknown <= 20 {
				sr.block("sweep arrival at lt %d (memo %s, %s) is from %s, which is not an imported deposit address", a.lt, a.memo, a.amount, rawAddr(a.dep))
			}
			continue
		}
		amount, _, err := parseAmount(a.amount)
		if err != nil {
			sr.block("internal_incomes row at lt %d (memo %s): %v", a.lt, a.memo, err)
			continue
		}
		tag, err := tx.Exec(ctx, `INSERT INTO bicycle_sweep_arrivals (memo, lt, deposit_wallet_id, utime, amount)
			VALUES ($1::uuid, $2, $3, $4, $5) ON CONFLICT (memo, lt) DO NOTHING`, a.memo, a.lt, d.id, a.utime, amount.String())
		if err != nil {
			return fmt.Errorf("takeover: import sweep arrival at lt %d: %w", a.lt, err)
		}
		if tag.RowsAffected() == 0 {
			before++
		} else {
			inserted++
		}
	}
	if unknown > 20 {
		sr.block("%d more sweep arrivals from addresses that were not imported", unknown-20)
	}
	sr.count("sweep arrivals imported (hot_wallet income totals)", inserted)
	if before > 0 {
		sr.count("sweep arrivals imported before", before)
	}
	return nil
}
