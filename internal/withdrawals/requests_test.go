package withdrawals_test

import (
	"bytes"
	"context"
	"errors"
	"math/big"
	"strings"
	"sync"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/xssnick/tonutils-go/address"

	"github.com/ton-custody/processor/internal/apierr"
	"github.com/ton-custody/processor/internal/money"
	"github.com/ton-custody/processor/internal/store/storetest"
	"github.com/ton-custody/processor/internal/withdrawals"
)

func acct(b byte) []byte { return bytes.Repeat([]byte{b}, 32) }

func addr(b byte) *address.Address { return address.NewAddress(0, 0, acct(b)) }

var (
	hotWallet   = addr(0xAA)
	jettonOther = addr(0xEF) // a jetton master no deposit belongs to
	usdtMaster  = addr(0xEE)
)

// jettonWalletOf derives a fake jetton wallet address from owner and master.
func jettonWalletOf(_ context.Context, master, owner *address.Address) (*address.Address, error) {
	if master.Equals(addr(0x66)) {
		return nil, apierr.BadRequest("jetton_master is not a jetton master contract")
	}
	d := make([]byte, 32)
	for i := range d {
		d[i] = master.Data()[i] ^ owner.Data()[i] ^ 0x0F
	}
	return address.NewAddress(0, 0, d), nil
}

type env struct {
	t  *testing.T
	db *pgxpool.Pool
	r  *withdrawals.Requests
}

func newEnv(t *testing.T) *env {
	t.Helper()
	db := storetest.NewDB(t)
	r, err := withdrawals.NewRequests(db, withdrawals.RequestsConfig{HotWallet: hotWallet, JettonWallet: jettonWalletOf})
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, db: db, r: r}
	// alice: a TON deposit at 0:01.., a USDT deposit at 0:02.. whose jetton
	// wallet is 0:FD..; the hot wallet's USDT jetton wallet is 0:BB...
	e.exec(`INSERT INTO deposit_wallets (user_id, currency, subwallet_id, workchain, address) VALUES ('alice', 'TON', 1, 0, $1)`, acct(1))
	e.exec(`INSERT INTO deposit_wallets (user_id, currency, subwallet_id, workchain, address,
	            jetton_master_workchain, jetton_master, jetton_wallet_workchain, jetton_wallet)
	        VALUES ('alice', 'USDT', 2, 0, $1, 0, $2, 0, $3)`, acct(2), usdtMaster.Data(), acct(0xFD))
	e.exec(`INSERT INTO hot_jetton_wallets (owner_workchain, owner_address, jetton_master_workchain, jetton_master, currency,
	            jetton_wallet_workchain, jetton_wallet) VALUES (0, $1, 0, $2, 'USDT', 0, $3)`, hotWallet.Data(), usdtMaster.Data(), acct(0xBB))
	return e
}

func (e *env) exec(sql string, args ...any) {
	e.t.Helper()
	if _, err := e.db.Exec(context.Background(), sql, args...); err != nil {
		e.t.Fatalf("%s: %v", sql, err)
	}
}

func (e *env) count(sql string, args ...any) int {
	e.t.Helper()
	var n int
	if err := e.db.QueryRow(context.Background(), sql, args...).Scan(&n); err != nil {
		e.t.Fatal(err)
	}
	return n
}

func request() withdrawals.Request {
	return withdrawals.Request{
		UserID: "123", QueryID: "321", Currency: "TON", Amount: big.NewInt(100),
		Destination: addr(0x77), Bounceable: false, Comment: "hello",
	}
}

func TestCreateIsIdempotentPerKey(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	id, err := e.r.Create(ctx, request())
	if err != nil {
		t.Fatal(err)
	}
	if id <= 0 {
		t.Fatalf("id %d", id)
	}
	again, err := e.r.Create(ctx, request())
	if err != nil || again != id {
		t.Fatalf("same request again: id %d err %v, want %d", again, err, id)
	}
	// The testnet flag of the destination does not change the payment.
	tn := request()
	tn.Destination = addr(0x77).Testnet(true)
	if again, err := e.r.Create(ctx, tn); err != nil || again != id {
		t.Fatalf("same request with testnet-flagged destination: id %d err %v, want %d", again, err, id)
	}

	changes := []struct {
		name string
		edit func(*withdrawals.Request)
	}{
		{"amount", func(r *withdrawals.Request) { r.Amount = big.NewInt(101) }},
		{"currency", func(r *withdrawals.Request) { r.Currency = "USDT" }},
		{"destination", func(r *withdrawals.Request) { r.Destination = addr(0x78) }},
		{"destination", func(r *withdrawals.Request) { r.Destination = address.NewAddress(0, 0, acct(0x78)) }},
		{"bounce flag", func(r *withdrawals.Request) { r.Bounceable = true }},
		{"comment", func(r *withdrawals.Request) { r.Comment = "hello!" }},
		{"no comment", func(r *withdrawals.Request) { r.Comment = "" }},
		{"binary comment instead", func(r *withdrawals.Request) {
			r.Comment, r.BinaryComment, r.BinaryCommentBits = "", []byte("hello"), 40
		}},
	}
	for _, c := range changes {
		r := request()
		c.edit(&r)
		_, err := e.r.Create(ctx, r)
		if !errors.Is(err, apierr.ErrConflict) {
			t.Errorf("%s changed: err %v, want a conflict", c.name, err)
		}
	}
	if n := e.count(`SELECT count(*) FROM withdrawals`); n != 1 {
		t.Errorf("%d rows, want 1", n)
	}

	// The key is per user: another user may reuse the query id.
	other := request()
	other.UserID = "124"
	id2, err := e.r.Create(ctx, other)
	if err != nil || id2 == id {
		t.Fatalf("other user: id %d err %v", id2, err)
	}
}

func TestCreateConcurrentDuplicatesMakeOneRow(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	const n = 16
	ids := make([]int64, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			ids[i], errs[i] = e.r.Create(context.Background(), request())
		}()
	}
	close(start)
	wg.Wait()
	for i := range ids {
		if errs[i] != nil {
			t.Fatalf("submission %d: %v", i, errs[i])
		}
		if ids[i] != ids[0] {
			t.Fatalf("submission %d got id %d, submission 0 got %d", i, ids[i], ids[0])
		}
	}
	if c := e.count(`SELECT count(*) FROM withdrawals`); c != 1 {
		t.Errorf("%d rows, want 1", c)
	}
}

func TestCreateStoresTheRequest(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	r := request()
	r.Comment = ""
	r.Bounceable = true
	r.Destination = address.NewAddress(0, 0, acct(0x77))
	r.Amount = money.Max()
	// 15 bits 100111111110011 ("9fe7_"), with junk in the unused last bit.
	r.BinaryComment, r.BinaryCommentBits = []byte{0x9f, 0xe7}, 15
	id, err := e.r.Create(ctx, r)
	if err != nil {
		t.Fatal(err)
	}
	var (
		wc         int32
		dest, hash []byte
		bounce     bool
		comment    *string
		bits       string
		amount     string
		state      string
	)
	err = e.db.QueryRow(ctx, `SELECT destination_workchain, destination_address, bounceable, comment, binary_comment::text,
	    amount::text, request_hash, state FROM withdrawals WHERE id = $1`, id).
		Scan(&wc, &dest, &bounce, &comment, &bits, &amount, &hash, &state)
	if err != nil {
		t.Fatal(err)
	}
	if wc != 0 || !bytes.Equal(dest, acct(0x77)) || !bounce || comment != nil || bits != "100111111110011" ||
		amount != money.Max().String() || state != "pending" {
		t.Errorf("stored wc %d dest %x bounce %v comment %v bits %s amount %s state %s", wc, dest, bounce, comment, bits, amount, state)
	}
	clean := r
	clean.BinaryComment = []byte{0x9f, 0xe6}
	want := withdrawals.RequestHash(clean)
	if !bytes.Equal(hash, want[:]) {
		t.Errorf("request_hash %x, want %x (junk bits must be cleared before hashing)", hash, want)
	}
	// The same request without the junk bit is a repeat, not a conflict.
	if again, err := e.r.Create(ctx, clean); err != nil || again != id {
		t.Errorf("repeat with clean bits: id %d err %v, want %d", again, err, id)
	}
}

func TestRequestHashCoversEveryField(t *testing.T) {
	t.Parallel()
	base := request()
	h := withdrawals.RequestHash(base)
	if h != withdrawals.RequestHash(request()) {
		t.Fatal("hash is not deterministic")
	}
	edits := map[string]func(*withdrawals.Request){
		"user_id":        func(r *withdrawals.Request) { r.UserID = "1234" },
		"query_id":       func(r *withdrawals.Request) { r.QueryID = "3210" },
		"currency":       func(r *withdrawals.Request) { r.Currency = "USDT" },
		"amount":         func(r *withdrawals.Request) { r.Amount = big.NewInt(1000) },
		"destination":    func(r *withdrawals.Request) { r.Destination = addr(0x78) },
		"workchain":      func(r *withdrawals.Request) { r.Destination = address.NewAddress(0, 0xFF, acct(0x77)) },
		"bounceable":     func(r *withdrawals.Request) { r.Bounceable = true },
		"comment":        func(r *withdrawals.Request) { r.Comment = "hellO" },
		"binary":         func(r *withdrawals.Request) { r.Comment, r.BinaryComment, r.BinaryCommentBits = "", []byte{0x80}, 1 },
		"binary length":  func(r *withdrawals.Request) { r.Comment, r.BinaryComment, r.BinaryCommentBits = "", []byte{0x80}, 2 },
		"field boundary": func(r *withdrawals.Request) { r.UserID, r.QueryID = "12", "3321" },
	}
	for name, edit := range edits {
		r := request()
		edit(&r)
		if withdrawals.RequestHash(r) == h {
			t.Errorf("changing %s does not change the hash", name)
		}
	}
}

func TestCreateRefusesOwnAddresses(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	tests := []struct {
		name string
		dest *address.Address
		want string
	}{
		{"hot wallet", hotWallet, "hot wallet"},
		{"hot wallet testnet form", hotWallet.Testnet(true).Bounce(false), "hot wallet"},
		{"TON deposit", addr(1), "a deposit address"},
		{"jetton deposit owner", addr(2), "a deposit address"},
		{"jetton wallet of a deposit", addr(0xFD), "jetton wallet of a deposit"},
		{"jetton wallet of the hot wallet", addr(0xBB), "jetton wallet of the hot wallet"},
	}
	for _, tt := range tests {
		r := request()
		r.QueryID = tt.name
		r.Destination = tt.dest
		_, err := e.r.Create(context.Background(), r)
		if !errors.Is(err, apierr.ErrBadRequest) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: err %v, want a bad request mentioning %q", tt.name, err, tt.want)
		}
	}
	if n := e.count(`SELECT count(*) FROM withdrawals`); n != 0 {
		t.Errorf("%d rows stored", n)
	}
}

func TestCreateValidates(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	tests := []struct {
		name string
		edit func(*withdrawals.Request)
		want string
	}{
		{"empty user_id", func(r *withdrawals.Request) { r.UserID = "" }, "user_id is required"},
		{"long user_id", func(r *withdrawals.Request) { r.UserID = strings.Repeat("я", 257) }, "at most 256"},
		{"control char in query_id", func(r *withdrawals.Request) { r.QueryID = "a\x00b" }, "control characters"},
		{"empty query_id", func(r *withdrawals.Request) { r.QueryID = "" }, "query_id is required"},
		{"lowercase currency", func(r *withdrawals.Request) { r.Currency = "ton" }, "currency"},
		{"nil amount", func(r *withdrawals.Request) { r.Amount = nil }, "amount"},
		{"zero amount", func(r *withdrawals.Request) { r.Amount = big.NewInt(0) }, "amount"},
		{"negative amount", func(r *withdrawals.Request) { r.Amount = big.NewInt(-5) }, "amount"},
		{"amount over 2^120-1", func(r *withdrawals.Request) { r.Amount = new(big.Int).Add(money.Max(), big.NewInt(1)) }, "amount"},
		{"no destination", func(r *withdrawals.Request) { r.Destination = nil }, "destination"},
		{"workchain 5", func(r *withdrawals.Request) { r.Destination = address.NewAddress(0, 5, acct(0x77)) }, "workchain"},
		{"masterchain: paid but never settled", func(r *withdrawals.Request) { r.Destination = address.NewAddress(0, 0xFF, acct(0x77)) }, "only workchain 0"},
		{"comment too long", func(r *withdrawals.Request) { r.Comment = strings.Repeat("x", withdrawals.MaxCommentBytes+1) }, "at most 1000"},
		{"multibyte comment too long", func(r *withdrawals.Request) { r.Comment = strings.Repeat("é", 501) }, "1002 bytes"},
		{"NUL in comment", func(r *withdrawals.Request) { r.Comment = "a\x00" }, "NUL"},
		{"both comments", func(r *withdrawals.Request) { r.BinaryComment, r.BinaryCommentBits = []byte{1}, 8 }, "not both"},
		{"binary too long", func(r *withdrawals.Request) {
			r.Comment, r.BinaryComment, r.BinaryCommentBits = "", make([]byte, 128), 1024
		}, "at most 1023"},
		{"binary length mismatch", func(r *withdrawals.Request) {
			r.Comment, r.BinaryComment, r.BinaryCommentBits = "", []byte{1, 2}, 8
		}, "need 1 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := request()
			tt.edit(&r)
			_, err := e.r.Create(context.Background(), r)
			if !errors.Is(err, apierr.ErrBadRequest) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err %v, want a bad request containing %q", err, tt.want)
			}
		})
	}
	// Boundaries that are allowed.
	ok := []func(*withdrawals.Request){
		func(r *withdrawals.Request) { r.UserID = strings.Repeat("я", 256) },
		func(r *withdrawals.Request) { r.Comment = strings.Repeat("x", withdrawals.MaxCommentBytes) },
		func(r *withdrawals.Request) {
			r.Comment, r.BinaryComment, r.BinaryCommentBits = "", make([]byte, 128), 1023
		},
		func(r *withdrawals.Request) { r.Amount = big.NewInt(1) },
	}
	for i, edit := range ok {
		r := request()
		r.QueryID = "ok-" + string(rune('a'+i))
		edit(&r)
		if _, err := e.r.Create(context.Background(), r); err != nil {
			t.Errorf("allowed boundary %d refused: %v", i, err)
		}
	}
}

func TestStatus(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	if _, err := e.r.Status(ctx, 12345); !errors.Is(err, apierr.ErrNotFound) {
		t.Errorf("unknown id: err %v, want not found", err)
	}
	id, err := e.r.Create(ctx, request())
	if err != nil {
		t.Fatal(err)
	}
	st, err := e.r.Status(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if st.UserID != "123" || st.QueryID != "321" || st.Status != withdrawals.StatePending || st.TxHash != nil || st.Reason != "" {
		t.Errorf("pending status = %+v", st)
	}

	e.exec(`INSERT INTO hot_batches (query_seq, created_at_chain, timeout_seconds, signed_message, message_hash)
	        VALUES (0, 1700000000, 60, '\x00', $1)`, acct(0x42))
	e.exec(`UPDATE withdrawals SET state = 'processing', batch_id = (SELECT id FROM hot_batches) WHERE id = $1`, id)
	if st, err = e.r.Status(ctx, id); err != nil || st.Status != withdrawals.StateProcessing {
		t.Errorf("processing status = %+v, %v", st, err)
	}
	e.exec(`UPDATE withdrawals SET state = 'processed', tx_hash = $2 WHERE id = $1`, id, acct(0x99))
	if st, err = e.r.Status(ctx, id); err != nil || st.Status != withdrawals.StateProcessed || !bytes.Equal(st.TxHash, acct(0x99)) {
		t.Errorf("processed status = %+v, %v", st, err)
	}

	r2 := request()
	r2.QueryID = "failing"
	id2, err := e.r.Create(ctx, r2)
	if err != nil {
		t.Fatal(err)
	}
	e.exec(`UPDATE withdrawals SET state = 'failed', fail_reason = 'bounced' WHERE id = $1`, id2)
	if st, err = e.r.Status(ctx, id2); err != nil || st.Status != withdrawals.StateFailed || st.Reason != "bounced" {
		t.Errorf("failed status = %+v, %v", st, err)
	}
}

func TestQueueTotals(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	p, q, err := e.r.QueueTotals(ctx, "TON")
	if err != nil || p.Sign() != 0 || q.Sign() != 0 {
		t.Fatalf("empty queue: %v %v %v", p, q, err)
	}
	e.exec(`INSERT INTO hot_batches (query_seq, created_at_chain, timeout_seconds, signed_message, message_hash)
	        VALUES (0, 1700000000, 60, '\x00', $1)`, acct(0x42))
	create := func(query, currency string, amount *big.Int) int64 {
		r := request()
		r.QueryID, r.Currency, r.Amount = query, currency, amount
		id, err := e.r.Create(ctx, r)
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	create("p1", "TON", big.NewInt(10))
	create("p2", "TON", money.Max())
	create("j1", "USDT", big.NewInt(1000))
	pr := create("r1", "TON", big.NewInt(5))
	done := create("d1", "TON", big.NewInt(7))
	failed := create("f1", "TON", big.NewInt(9))
	e.exec(`UPDATE withdrawals SET state = 'processing', batch_id = (SELECT id FROM hot_batches) WHERE id IN ($1, $2)`, pr, done)
	e.exec(`UPDATE withdrawals SET state = 'processed', tx_hash = $2 WHERE id = $1`, done, acct(1))
	e.exec(`UPDATE withdrawals SET state = 'failed', fail_reason = 'rejected' WHERE id = $1`, failed)

	p, q, err = e.r.QueueTotals(ctx, "TON")
	if err != nil {
		t.Fatal(err)
	}
	wantPending := new(big.Int).Add(money.Max(), big.NewInt(10))
	if p.String() != "5" || q.Cmp(wantPending) != 0 {
		t.Errorf("TON totals: processing %s pending %s, want 5 and %s", p, q, wantPending)
	}
	p, q, err = e.r.QueueTotals(ctx, "USDT")
	if err != nil || p.String() != "0" || q.String() != "1000" {
		t.Errorf("USDT totals: processing %v pending %v err %v, want 0 and 1000", p, q, err)
	}
}

func TestServiceTON(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()

	memo, err := e.r.CreateServiceTON(ctx, addr(2)) // USDT deposit owner
	if err != nil {
		t.Fatal(err)
	}
	again, err := e.r.CreateServiceTON(ctx, addr(2).Bounce(false))
	if err != nil || again != memo {
		t.Fatalf("while open: memo %s err %v, want the open one %s", again, err, memo)
	}
	st, err := e.r.ServiceStatus(ctx, memo)
	if err != nil {
		t.Fatal(err)
	}
	if st.Memo != memo || st.Kind != withdrawals.ServiceTON || st.Status != withdrawals.StatePending || st.Amount != nil || st.TxHash != nil {
		t.Errorf("status = %+v", st)
	}
	var wc *int32
	if err := e.db.QueryRow(ctx, `SELECT jetton_master_workchain FROM service_withdrawals WHERE memo = $1::uuid`, memo.String()).Scan(&wc); err != nil || wc != nil {
		t.Errorf("jetton fields of a TON service withdrawal: %v %v", wc, err)
	}

	e.exec(`UPDATE service_withdrawals SET state = 'processed', amount = 12345, tx_hash = $2 WHERE memo = $1::uuid`, memo.String(), acct(0x31))
	st, err = e.r.ServiceStatus(ctx, memo)
	if err != nil || st.Status != withdrawals.StateProcessed || st.Amount == nil || st.Amount.String() != "12345" || !bytes.Equal(st.TxHash, acct(0x31)) {
		t.Errorf("processed status = %+v, %v", st, err)
	}
	next, err := e.r.CreateServiceTON(ctx, addr(2))
	if err != nil || next == memo {
		t.Errorf("after the first finished: memo %s err %v, want a new memo", next, err)
	}

	// From a TON deposit: the balance the automatic sweep leaves behind.
	fromTON, err := e.r.CreateServiceTON(ctx, addr(1))
	if err != nil || fromTON == memo || fromTON == next {
		t.Errorf("from a TON deposit: memo %s err %v, want a new memo", fromTON, err)
	}

	for _, tt := range []struct {
		name string
		from *address.Address
		want string
	}{
		{"unknown address", addr(0x50), "not a deposit address"},
		{"hot wallet", hotWallet, "is the hot wallet"},
		{"nil", nil, "required"},
	} {
		_, err := e.r.CreateServiceTON(ctx, tt.from)
		if !errors.Is(err, apierr.ErrBadRequest) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: err %v, want a bad request containing %q", tt.name, err, tt.want)
		}
	}
	if _, err := e.r.ServiceStatus(ctx, uuid.New()); !errors.Is(err, apierr.ErrNotFound) {
		t.Errorf("unknown memo: err %v, want not found", err)
	}
}

func TestServiceJetton(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()

	// Jettons of another master that landed on the TON deposit.
	memo, err := e.r.CreateServiceJetton(ctx, addr(1), jettonOther)
	if err != nil {
		t.Fatal(err)
	}
	if again, err := e.r.CreateServiceJetton(ctx, addr(1), jettonOther); err != nil || again != memo {
		t.Errorf("while open: memo %s err %v, want %s", again, err, memo)
	}
	wantWallet, _ := jettonWalletOf(ctx, jettonOther, addr(1))
	var kind string
	var wallet, master []byte
	err = e.db.QueryRow(ctx, `SELECT kind, jetton_wallet, jetton_master FROM service_withdrawals WHERE memo = $1::uuid`, memo.String()).
		Scan(&kind, &wallet, &master)
	if err != nil || kind != "jetton" || !bytes.Equal(wallet, wantWallet.Data()) || !bytes.Equal(master, jettonOther.Data()) {
		t.Errorf("stored kind %s wallet %x master %x err %v", kind, wallet, master, err)
	}
	// A different master on the same owner is a separate withdrawal, and a
	// jetton deposit may give up jettons other than its own.
	other, err := e.r.CreateServiceJetton(ctx, addr(1), addr(0x67))
	if err != nil || other == memo {
		t.Errorf("other master: memo %s err %v", other, err)
	}
	if _, err := e.r.CreateServiceJetton(ctx, addr(2), jettonOther); err != nil {
		t.Errorf("foreign jetton on a USDT deposit: %v", err)
	}

	for _, tt := range []struct {
		name          string
		owner, master *address.Address
		want          string
	}{
		{"own jetton of a jetton deposit", addr(2), usdtMaster, "swept to the hot wallet automatically"},
		{"unknown owner", addr(0x50), jettonOther, "not a deposit address"},
		{"hot wallet", hotWallet, jettonOther, "is the hot wallet"},
		{"not a jetton master", addr(1), addr(0x66), "not a jetton master"},
		{"no master", addr(1), nil, "jetton_master"},
	} {
		_, err := e.r.CreateServiceJetton(ctx, tt.owner, tt.master)
		if !errors.Is(err, apierr.ErrBadRequest) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: err %v, want a bad request containing %q", tt.name, err, tt.want)
		}
	}
	if n := e.count(`SELECT count(*) FROM service_withdrawals`); n != 3 {
		t.Errorf("%d service withdrawals, want 3", n)
	}
}

func TestServiceConcurrentRequestsShareOneMemo(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	const n = 8
	memos := make([]uuid.UUID, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			memos[i], errs[i] = e.r.CreateServiceTON(context.Background(), addr(2))
		}()
	}
	wg.Wait()
	for i := range memos {
		if errs[i] != nil || memos[i] != memos[0] {
			t.Fatalf("request %d: memo %s err %v; request 0 got %s", i, memos[i], errs[i], memos[0])
		}
	}
	if c := e.count(`SELECT count(*) FROM service_withdrawals`); c != 1 {
		t.Errorf("%d rows, want 1", c)
	}
}

func TestNewRequestsNeedsItsDependencies(t *testing.T) {
	t.Parallel()
	db := storetest.NewDB(t)
	if _, err := withdrawals.NewRequests(db, withdrawals.RequestsConfig{JettonWallet: jettonWalletOf}); err == nil {
		t.Error("no hot wallet accepted")
	}
	if _, err := withdrawals.NewRequests(db, withdrawals.RequestsConfig{HotWallet: hotWallet}); err == nil {
		t.Error("no JettonWallet accepted")
	}
	if _, err := withdrawals.NewRequests(nil, withdrawals.RequestsConfig{HotWallet: hotWallet, JettonWallet: jettonWalletOf}); err == nil {
		t.Error("nil pool accepted")
	}
}
