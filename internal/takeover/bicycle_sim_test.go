package takeover_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math/big"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/xssnick/tonutils-go/address"
	"github.com/xssnick/tonutils-go/tlb"
	"github.com/xssnick/tonutils-go/ton/wallet"
	"github.com/xssnick/tonutils-go/tvm/cell"

	"github.com/ton-custody/processor/internal/store"
	"github.com/ton-custody/processor/internal/store/storetest"
	"github.com/ton-custody/processor/internal/tonsim"
	"github.com/ton-custody/processor/internal/tonsim/chain"
	"github.com/ton-custody/processor/internal/wallets"
)

// bicycleSim plays gobicycle/bicycle on tonsim: it acts on the chain with
// bicycle's keys and contracts (its highload v2 hot wallet, V3R2 deposits,
// proxies: the stand-in) and writes bicycle's database (the schema from
// testdata, built from the facts sheet) the way bicycle records what its
// scanner saw (facts sheet §5-§7).
type bicycleSim struct {
	t     *testing.T
	n     *tonsim.Network
	j     *tonsim.Jetton
	db    *pgxpool.Pool
	url   string
	words []string
	keys  *wallets.Keys
	b     *wallets.Bicycle
	last  *chain.Block // newest block holding a transaction bicycle recorded
}

func newBicycleDB(t *testing.T) (string, *pgxpool.Pool) {
	t.Helper()
	url := storetest.NewEmptyDBURL(t)
	db, err := store.Open(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	schema, err := os.ReadFile("testdata/bicycle_schema.sql")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(context.Background(), string(schema)); err != nil {
		t.Fatalf("bicycle schema: %v", err)
	}
	return url, db
}

func newBicycleSim(t *testing.T, n *tonsim.Network, j *tonsim.Jetton) *bicycleSim {
	t.Helper()
	url, db := newBicycleDB(t)
	words := wallet.NewSeed()
	keys, err := wallets.DeriveKeys(words)
	if err != nil {
		t.Fatal(err)
	}
	code := tonsim.BicycleProxyCode()
	b, err := wallets.NewBicycle(keys, code, hex.EncodeToString(code.Hash()))
	if err != nil {
		t.Fatal(err)
	}
	return &bicycleSim{t: t, n: n, j: j, db: db, url: url, words: words, keys: keys, b: b}
}

func tctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return c
}

func (s *bicycleSim) exec(q string, args ...any) {
	s.t.Helper()
	if _, err := s.db.Exec(context.Background(), q, args...); err != nil {
		s.t.Fatalf("bicycle db: %v\n%s", err, q)
	}
}

// txRef waits until acc has a final transaction with lt > after matching
// and returns it.
func (s *bicycleSim) txRef(acc *address.Address, after uint64, match func(*tlb.Transaction) bool) (*chain.TxRef, *tlb.Transaction) {
	s.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		for _, ref := range s.n.Chain.TxsSince(acc, after) {
			if ref.Block == nil || ref.Block.MasterSeqno == 0 {
				continue
			}
			var tx tlb.Transaction
			if err := tlb.LoadFromCell(&tx, ref.Cell.BeginParse()); err != nil {
				s.t.Fatal(err)
			}
			tx.Hash = ref.Hash
			if match == nil || match(&tx) {
				return ref, &tx
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	s.t.Fatalf("no matching transaction on %s after lt %d", acc.StringRaw(), after)
	return nil, nil
}

func lastLT(n *tonsim.Network, a *address.Address) uint64 {
	if r := n.Chain.LastTx(a); r != nil {
		return r.LT
	}
	return 0
}

// saw notes that bicycle's scanner processed the block of a transaction.
func (s *bicycleSim) saw(acc *address.Address, lt uint64) *chain.Block {
	s.t.Helper()
	for _, ref := range s.n.Chain.TxsSince(acc, lt-1) {
		if ref.LT == lt {
			if s.last == nil || ref.Block.EndLT > s.last.EndLT {
				s.last = ref.Block
			}
			return ref.Block
		}
	}
	s.t.Fatalf("transaction %d of %s not found", lt, acc.StringRaw())
	return nil
}

// sendHot signs msgs from bicycle's hot wallet (valid 50 s) and returns
// the external and its valid_until without sending it.
func (s *bicycleSim) signHot(deploy bool, msgs ...*wallet.Message) (*tlb.ExternalMessage, uint32) {
	s.t.Helper()
	var rnd [4]byte
	_, _ = rand.Read(rnd[:])
	until := uint32(time.Now().Add(50 * time.Second).Unix())
	ext, err := s.b.SignBicycleHotMessage(context.Background(), until, binary.BigEndian.Uint32(rnd[:]), deploy, msgs)
	if err != nil {
		s.t.Fatal(err)
	}
	return ext, until
}

// sendHot sends an external of bicycle's hot wallet and waits for the
// transaction executing it.
func (s *bicycleSim) sendHot(ext *tlb.ExternalMessage) *tlb.Transaction {
	s.t.Helper()
	hot := s.b.HotWallet()
	since := lastLT(s.n, hot)
	c, err := tlb.ToCell(ext)
	if err != nil {
		s.t.Fatal(err)
	}
	if err := s.n.Chain.SendExternal(tctx(s.t), c.ToBOCWithFlags(false)); err != nil {
		s.t.Fatal(err)
	}
	want := ext.Body.Hash()
	_, tx := s.txRef(hot, since, func(tx *tlb.Transaction) bool {
		return tx.IO.In != nil && tx.IO.In.MsgType == tlb.MsgTypeExternalIn && bytes.Equal(tx.IO.In.AsExternalIn().Body.Hash(), want)
	})
	return tx
}

// start deploys bicycle's hot wallet with balance TON and writes the rows
// bicycle writes at its first start (ton_hot, jetton_hot).
func (s *bicycleSim) start(balance string) {
	s.t.Helper()
	hot := s.b.HotWallet()
	if _, err := s.n.Faucet(tctx(s.t), hot, tlb.MustFromTON(balance).Nano(), false, ""); err != nil {
		s.t.Fatal(err)
	}
	ext, _ := s.signHot(true)
	tx := s.sendHot(ext)
	if vm, ok := tx.Description.(tlb.TransactionDescriptionOrdinary).ComputePhase.Phase.(tlb.ComputePhaseVM); !ok || !vm.Success {
		s.t.Fatalf("bicycle's hot wallet did not deploy: %s", tx.Dump())
	}
	s.exec(`INSERT INTO payments.ton_wallets (subwallet_id, user_id, type, address) VALUES ($1, '', 'ton_hot', $2)`,
		int64(wallets.BicycleHotSubwalletID), hot.Data())
	jw, err := s.n.JettonWallet(tctx(s.t), s.j.Master, hot)
	if err != nil {
		s.t.Fatal(err)
	}
	s.exec(`INSERT INTO payments.jetton_wallets (subwallet_id, user_id, currency, type, address) VALUES ($1, '', $2, 'jetton_hot', $3)`,
		int64(wallets.BicycleHotSubwalletID), s.j.Symbol, jw.Data())
}

func (s *bicycleSim) nextSub() uint32 {
	s.t.Helper()
	var max int64
	if err := s.db.QueryRow(context.Background(), `SELECT coalesce(max(subwallet_id), $1) FROM payments.ton_wallets`,
		int64(wallets.BicycleHotSubwalletID)).Scan(&max); err != nil {
		s.t.Fatal(err)
	}
	return uint32(max + 1)
}

// tonDeposit makes a TON deposit address as bicycle does (ground into the
// hot wallet's shard byte).
func (s *bicycleSim) tonDeposit(user string) *address.Address {
	s.t.Helper()
	id, a := s.b.NextTONDeposit(s.nextSub())
	s.exec(`INSERT INTO payments.ton_wallets (subwallet_id, user_id, type, address) VALUES ($1, $2, 'ton_deposit', $3)`, int64(id), user, a.Data())
	return a
}

// jettonDeposit makes a jetton deposit as bicycle does: the first proxy
// from the counter whose jetton wallet lies in the shard byte.
func (s *bicycleSim) jettonDeposit(user string) (proxy, jw *address.Address) {
	s.t.Helper()
	for id := s.nextSub(); ; id++ {
		p, err := s.b.ProxyAddress(id)
		if err != nil {
			s.t.Fatal(err)
		}
		w, err := s.n.JettonWallet(tctx(s.t), s.j.Master, p)
		if err != nil {
			s.t.Fatal(err)
		}
		if w.Data()[0] != s.b.ShardByte() {
			continue
		}
		s.exec(`INSERT INTO payments.ton_wallets (subwallet_id, user_id, type, address) VALUES ($1, $2, 'owner', $3)`, int64(id), user, p.Data())
		s.exec(`INSERT INTO payments.jetton_wallets (subwallet_id, user_id, currency, type, address) VALUES ($1, $2, $3, 'jetton_deposit', $4)`,
			int64(id), user, s.j.Symbol, w.Data())
		return p, w
	}
}

// income writes an external_incomes row.
func (s *bicycleSim) income(lt uint64, utime uint32, deposit []byte, payer *address.Address, amount *big.Int, comment string, txHash []byte) {
	s.t.Helper()
	var wc *int32
	var pa []byte
	if payer != nil {
		w := payer.Workchain()
		wc, pa = &w, payer.Data()
	}
	s.exec(`INSERT INTO payments.external_incomes (lt, utime, payer_workchain, deposit_address, payer_address, amount, comment, tx_hash)
		VALUES ($1, to_timestamp($2), $3, $4, $5, $6::numeric, $7, $8)`, int64(lt), int64(utime), wc, deposit, pa, amount.String(), comment, txHash)
}

// tonIn pays a TON deposit from the faucet and records it as bicycle's
// scanner would (no out messages: credited).
func (s *bicycleSim) tonIn(dep *address.Address, ton, comment string) *tonsim.TxResult {
	s.t.Helper()
	res, err := s.n.Faucet(tctx(s.t), dep, tlb.MustFromTON(ton).Nano(), false, comment)
	if err != nil {
		s.t.Fatal(err)
	}
	s.saw(dep, res.LT)
	in := res.Tx.IO.In.AsInternal()
	s.income(res.LT, res.Tx.Now, dep.Data(), in.SrcAddr, in.Amount.Nano(), comment, res.Hash)
	return res
}

// jettonIn transfers jettons to a jetton deposit with forward TON and a
// comment: bicycle credits the transfer_notification its jetton wallet
// sends (lt and time of that message, the wallet's transaction hash).
func (s *bicycleSim) jettonIn(proxy, jw *address.Address, amount int64, comment string) *tonsim.JettonTransfer {
	s.t.Helper()
	tr, err := s.n.TransferJetton(tctx(s.t), s.j.Master, proxy, big.NewInt(amount), tlb.MustFromTON("0.01").Nano(), comment)
	if err != nil {
		s.t.Fatal(err)
	}
	s.saw(jw, tr.Receive.LT)
	out, err := tr.Receive.Tx.IO.Out.ToSlice()
	if err != nil {
		s.t.Fatal(err)
	}
	for _, m := range out {
		if m.MsgType != tlb.MsgTypeInternal {
			continue
		}
		im := m.AsInternal()
		sl := im.Body.BeginParse()
		if op, _ := sl.LoadUInt(32); op != 0x7362d09c {
			continue
		}
		s.income(im.CreatedLT, im.CreatedAt, jw.Data(), s.n.Genesis.WalletAddress(), big.NewInt(amount), comment, tr.Receive.Hash)
		return tr
	}
	s.t.Fatal("the jetton wallet sent no transfer_notification")
	return nil
}

// mintIn mints to a jetton deposit (no notification): bicycle writes a
// zero row for the unknown transaction and one with the whole amount.
func (s *bicycleSim) mintIn(proxy, jw *address.Address, amount int64) *tonsim.TxResult {
	s.t.Helper()
	res, err := s.n.Mint(tctx(s.t), s.j.Master, proxy, big.NewInt(amount))
	if err != nil {
		s.t.Fatal(err)
	}
	s.saw(jw, res.LT)
	s.income(res.LT, res.Tx.Now, jw.Data(), nil, new(big.Int), "", res.Hash)
	s.income(res.LT, res.Tx.Now, jw.Data(), nil, big.NewInt(amount), "", res.Hash)
	return res
}

// payout is a withdrawal request as bicycle stores it.
type payout struct {
	user, query string
	dest        *address.Address
	nano        int64
	comment     string
	binary      string // bicycle's binary_comment (Fift-style hex)
}

func (s *bicycleSim) request(p payout, processing, processed bool) int64 {
	s.t.Helper()
	var id int64
	if err := s.db.QueryRow(context.Background(), `INSERT INTO payments.withdrawal_requests
			(bounceable, processing, processed, amount, user_id, user_query_id, currency, dest_address, comment, binary_comment)
		VALUES (false, $1, $2, $3, $4, $5, 'TON', $6, $7, $8) RETURNING query_id`,
		processing, processed, p.nano, p.user, p.query, p.dest.Data(), p.comment, p.binary).Scan(&id); err != nil {
		s.t.Fatal(err)
	}
	return id
}

func (s *bicycleSim) tonMessage(p payout) *wallet.Message {
	s.t.Helper()
	dst := p.dest.Copy()
	dst.SetBounce(false)
	var body *cell.Cell
	if p.comment != "" {
		var err error
		if body, err = wallet.CreateCommentCell(p.comment); err != nil {
			s.t.Fatal(err)
		}
	}
	return &wallet.Message{Mode: wallet.PayGasSeparately + wallet.IgnoreErrors, InternalMessage: &tlb.InternalMessage{
		IHRDisabled: true, Bounce: false, DstAddr: dst, Amount: tlb.FromNanoTON(big.NewInt(p.nano)), Body: body}}
}

// batchID is bicycle's msg_uuid: the first 16 bytes of the body's hash.
func batchID(ext *tlb.ExternalMessage) string {
	u, _ := uuid.FromBytes(ext.Body.Hash()[:16])
	return u.String()
}

// pay sends a finished TON withdrawal as bicycle does and records it
// processed (or, with failed, as the hot wallet's transaction lacking it).
func (s *bicycleSim) pay(p payout, failed bool) (id int64, txHash []byte) {
	s.t.Helper()
	id = s.request(p, true, true)
	ext, until := s.signHot(false, s.tonMessage(p))
	tx := s.sendHot(ext)
	s.saw(s.b.HotWallet(), tx.LT)
	var lt *int64
	if !failed {
		out, _ := tx.IO.Out.ToSlice()
		if len(out) != 1 {
			s.t.Fatalf("hot wallet sent %d messages", len(out))
		}
		l := int64(out[0].AsInternal().CreatedLT)
		lt = &l
	} else {
		l := int64(tx.LT)
		lt = &l
	}
	s.exec(`INSERT INTO payments.external_withdrawals (msg_uuid, query_id, expired_at, processed_at, processed_lt, failed, address, tx_hash)
		VALUES ($1::uuid, $2, to_timestamp($3), now(), $4, $5, $6, $7)`, batchID(ext), id, int64(until), lt, failed, p.dest.Data(), tx.Hash)
	return id, tx.Hash
}

// stopAt writes bicycle's scan cursor: block_data rows up to the newest
// block it recorded a transaction of, saved long enough ago that bicycle
// counts as stopped.
func (s *bicycleSim) stopAt(ago time.Duration) *chain.Block {
	s.t.Helper()
	b := s.last
	s.exec(`INSERT INTO payments.block_data (saved_at, shard, seqno, gen_utime, root_hash, file_hash)
		VALUES (now() - $1::interval, $2, $3, to_timestamp($4), $5, $6)`,
		fmt.Sprintf("%d seconds", int(ago.Seconds())), b.ID.Shard, int64(b.ID.SeqNo), int64(b.GenUtime), b.ID.RootHash, b.ID.FileHash)
	return b
}

func seedString(words []string) string { return strings.Join(words, " ") }
