package blockscanner_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/xssnick/tonutils-go/address"

	"github.com/ton-custody/processor/internal/apierr"
	"github.com/ton-custody/processor/internal/blockscanner"
	"github.com/ton-custody/processor/internal/config"
	"github.com/ton-custody/processor/internal/money"
	"github.com/ton-custody/processor/internal/store/storetest"
)

// fixture writes scanner rows directly with SQL.
type fixture struct {
	t    *testing.T
	db   *pgxpool.Pool
	next int64 // subwallet ids
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	return &fixture{t: t, db: storetest.NewDB(t)}
}

func acct(b byte) []byte { return bytes.Repeat([]byte{b}, 32) }

// deposit inserts a deposit wallet for (user, currency) at 0:acct(b) and
// returns its id.
func (f *fixture) deposit(user, currency string, b byte) int64 {
	f.t.Helper()
	f.next++
	var id int64
	var err error
	if currency == "TON" {
		err = f.db.QueryRow(context.Background(), `
INSERT INTO deposit_wallets (user_id, currency, subwallet_id, workchain, address)
VALUES ($1, $2, $3, 0, $4) RETURNING id`, user, currency, f.next, acct(b)).Scan(&id)
	} else {
		err = f.db.QueryRow(context.Background(), `
INSERT INTO deposit_wallets (user_id, currency, subwallet_id, workchain, address,
                             jetton_master_workchain, jetton_master, jetton_wallet_workchain, jetton_wallet)
VALUES ($1, $2, $3, 0, $4, 0, $5, 0, $6) RETURNING id`, user, currency, f.next, acct(b), acct(0xEE), acct(b^0xFF)).Scan(&id)
	}
	if err != nil {
		f.t.Fatalf("insert deposit: %v", err)
	}
	return id
}

type incomeRow struct {
	wallet   int64
	currency string
	amount   string
	srcWC    *int32
	src      []byte
	comment  *string
	binary   []byte
	hash     []byte
	utime    int64
}

func (f *fixture) income(r incomeRow) {
	f.t.Helper()
	amount, ok := new(big.Int).SetString(r.amount, 10)
	if !ok {
		f.t.Fatalf("bad amount %q", r.amount)
	}
	_, err := f.db.Exec(context.Background(), `
INSERT INTO incomes (deposit_wallet_id, user_id, currency, amount, source_workchain, source_address, comment, binary_comment,
                     tx_hash, tx_lt, utime, mc_seqno)
VALUES ($1, (SELECT user_id FROM deposit_wallets WHERE id = $1), $2, $3, $4, $5, $6, $7, $8, 1, $9, 1)`,
		r.wallet, r.currency, amount, r.srcWC, r.src, r.comment, r.binary, r.hash, r.utime)
	if err != nil {
		f.t.Fatalf("insert income: %v", err)
	}
}

func (f *fixture) sweep(wallet int64, currency, state string, received int64) {
	f.t.Helper()
	var err error
	switch state {
	case "confirmed":
		_, err = f.db.Exec(context.Background(), `
INSERT INTO sweeps (deposit_wallet_id, currency, amount, state, received_amount, tx_hash) VALUES ($1, $2, $3 + 100, 'confirmed', $3, $4)`,
			wallet, currency, received, acct(byte(received)))
	case "failed":
		_, err = f.db.Exec(context.Background(), `
INSERT INTO sweeps (deposit_wallet_id, currency, amount, state, fail_reason) VALUES ($1, $2, $3, 'failed', 'bounced')`,
			wallet, currency, received)
	default:
		_, err = f.db.Exec(context.Background(), `
INSERT INTO sweeps (deposit_wallet_id, currency, amount, state) VALUES ($1, $2, $3, $4)`, wallet, currency, received, state)
	}
	if err != nil {
		f.t.Fatalf("insert sweep: %v", err)
	}
}

func (f *fixture) readModel(network config.Network, side config.CountingSide) *blockscanner.ReadModel {
	f.t.Helper()
	m, err := blockscanner.NewReadModel(f.db, blockscanner.ReadModelConfig{
		Network: network, CountingSide: side, AllowableLag: 30 * time.Second,
	})
	if err != nil {
		f.t.Fatal(err)
	}
	return m
}

// friendly is the expected API form of 0:acct(b): non-bounceable, testnet
// flag per network.
func friendly(b byte, network config.Network) string {
	a := address.NewAddress(0, 0, acct(b))
	a.SetBounce(false)
	a.SetTestnetOnly(network == config.Testnet)
	return a.String()
}

func ptr[T any](v T) *T { return &v }

func TestFriendlyAddressFlags(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	w := f.deposit("u", "TON", 1)
	f.income(incomeRow{wallet: w, currency: "TON", amount: "5", hash: acct(0xA1), utime: 10, srcWC: ptr(int32(-1)), src: acct(9)})
	for _, tt := range []struct {
		network config.Network
		prefix  string // first base64 character of the tag byte: 0x51 -> "U", 0xd1 -> "0"
		testnet bool
	}{
		{config.Mainnet, "U", false},
		{config.Testnet, "0", true},
	} {
		m := f.readModel(tt.network, config.CountDeposit)
		list, err := m.History(context.Background(), "u", "TON", 10, 0, false)
		if err != nil {
			t.Fatal(err)
		}
		if len(list) != 1 {
			t.Fatalf("%s: %d incomes", tt.network, len(list))
		}
		for name, s := range map[string]string{"deposit": list[0].DepositAddress, "source": list[0].SourceAddress} {
			a, err := address.ParseAddr(s)
			if err != nil {
				t.Fatalf("%s %s address %q: %v", tt.network, name, s, err)
			}
			if a.IsBounceable() || a.IsTestnetOnly() != tt.testnet || s[:1] != tt.prefix {
				t.Errorf("%s %s address %q: bounceable %v testnet %v, want non-bounceable, testnet %v", tt.network, name, s, a.IsBounceable(), a.IsTestnetOnly(), tt.testnet)
			}
		}
		a, _ := address.ParseAddr(list[0].SourceAddress)
		if a.Workchain() != -1 || !bytes.Equal(a.Data(), acct(9)) {
			t.Errorf("source address %q decodes to %s", list[0].SourceAddress, a.StringRaw())
		}
	}
}

func TestTotalIncome(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ton1 := f.deposit("alice", "TON", 1)
	usdt := f.deposit("alice", "USDT", 2)
	f.deposit("alice", "TON", 3) // nothing received
	bob := f.deposit("bob", "TON", 4)

	max := money.Max().String()
	f.income(incomeRow{wallet: ton1, currency: "TON", amount: "1000", hash: acct(0x10), utime: 1})
	f.income(incomeRow{wallet: ton1, currency: "TON", amount: "234", hash: acct(0x11), utime: 2})
	f.income(incomeRow{wallet: usdt, currency: "USDT", amount: max, hash: acct(0x12), utime: 3})
	f.income(incomeRow{wallet: usdt, currency: "USDT", amount: "1", hash: acct(0x13), utime: 4})
	f.income(incomeRow{wallet: bob, currency: "TON", amount: "77", hash: acct(0x14), utime: 5})

	f.sweep(ton1, "TON", "confirmed", 900)
	f.sweep(ton1, "TON", "failed", 50)
	f.sweep(ton1, "TON", "pending", 234) // open: not yet arrived
	f.sweep(usdt, "USDT", "confirmed", 7)
	f.sweep(usdt, "USDT", "confirmed", 8)
	f.sweep(bob, "TON", "confirmed", 70)

	// A sum over the 2^120-1 cap of a single amount still comes back exact.
	maxPlus1 := new(big.Int).Add(money.Max(), big.NewInt(1)).String()
	tests := []struct {
		side config.CountingSide
		want []string // amounts in address order: ton1, usdt, ton2
	}{
		{config.CountDeposit, []string{"1234", maxPlus1, "0"}},
		{config.CountHotWallet, []string{"900", "15", "0"}},
	}
	for _, tt := range tests {
		t.Run(string(tt.side), func(t *testing.T) {
			m := f.readModel(config.Testnet, tt.side)
			got, err := m.TotalIncome(context.Background(), "alice")
			if err != nil {
				t.Fatal(err)
			}
			if got.CountingSide != tt.side {
				t.Errorf("counting side %q, want %q", got.CountingSide, tt.side)
			}
			wantAddr := []string{friendly(1, config.Testnet), friendly(2, config.Testnet), friendly(3, config.Testnet)}
			wantCur := []string{"TON", "USDT", "TON"}
			if len(got.Incomes) != 3 {
				t.Fatalf("got %d totals, want 3: %+v", len(got.Incomes), got.Incomes)
			}
			for i, in := range got.Incomes {
				if in.DepositAddress != wantAddr[i] || in.Currency != wantCur[i] || in.Amount.String() != tt.want[i] {
					t.Errorf("total %d = %s %s %s, want %s %s %s", i, in.DepositAddress, in.Currency, in.Amount, wantAddr[i], wantCur[i], tt.want[i])
				}
			}
		})
	}

	m := f.readModel(config.Testnet, config.CountDeposit)
	got, err := m.TotalIncome(context.Background(), "nobody")
	if err != nil {
		t.Fatal(err)
	}
	if got.Incomes == nil || len(got.Incomes) != 0 {
		t.Errorf("unknown user: %#v, want an empty non-nil list", got.Incomes)
	}
}

func TestHistory(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	a := f.deposit("alice", "TON", 1)
	b := f.deposit("alice", "TON", 2)
	j := f.deposit("alice", "USDT", 3)
	o := f.deposit("bob", "TON", 4)

	// Recorded out of time order, with a tie at utime 200 broken by
	// recording order.
	f.income(incomeRow{wallet: a, currency: "TON", amount: "3", hash: acct(0x03), utime: 300, comment: ptr("third")})
	f.income(incomeRow{wallet: b, currency: "TON", amount: "1", hash: acct(0x01), utime: 100, srcWC: ptr(int32(0)), src: acct(0x55)})
	f.income(incomeRow{wallet: a, currency: "TON", amount: "2", hash: acct(0x02), utime: 200, binary: []byte{0xde, 0xad}})
	f.income(incomeRow{wallet: b, currency: "TON", amount: "22", hash: acct(0x22), utime: 200})
	f.income(incomeRow{wallet: j, currency: "USDT", amount: "9", hash: acct(0x09), utime: 250})
	f.income(incomeRow{wallet: o, currency: "TON", amount: "8", hash: acct(0x08), utime: 260})

	m := f.readModel(config.Testnet, config.CountDeposit)
	ctx := context.Background()
	amounts := func(list []blockscanner.Income) []string {
		var out []string
		for _, in := range list {
			out = append(out, in.Amount.String())
		}
		return out
	}
	tests := []struct {
		name          string
		currency      string
		limit, offset int
		asc           bool
		want          []string
	}{
		{"desc", "TON", 10, 0, false, []string{"3", "22", "2", "1"}},
		{"asc", "TON", 10, 0, true, []string{"1", "2", "22", "3"}},
		{"first page", "TON", 2, 0, false, []string{"3", "22"}},
		{"second page", "TON", 2, 2, false, []string{"2", "1"}},
		{"past the end", "TON", 2, 4, false, nil},
		{"asc page", "TON", 1, 1, true, []string{"2"}},
		{"jetton", "USDT", 10, 0, false, []string{"9"}},
		{"currency without deposits", "XYZ", 10, 0, false, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			list, err := m.History(ctx, "alice", tt.currency, tt.limit, tt.offset, tt.asc)
			if err != nil {
				t.Fatal(err)
			}
			if list == nil {
				t.Fatal("nil list, want non-nil")
			}
			if got := amounts(list); len(got) != len(tt.want) || (len(got) > 0 && !equal(got, tt.want)) {
				t.Errorf("amounts %v, want %v", got, tt.want)
			}
		})
	}

	list, err := m.History(ctx, "alice", "TON", 10, 0, true)
	if err != nil {
		t.Fatal(err)
	}
	want := []blockscanner.Income{
		{Currency: "TON", DepositAddress: friendly(2, config.Testnet), Time: 100, SourceAddress: friendly(0x55, config.Testnet), TxHash: acct(0x01)},
		{Currency: "TON", DepositAddress: friendly(1, config.Testnet), Time: 200, BinaryComment: []byte{0xde, 0xad}, TxHash: acct(0x02)},
		{Currency: "TON", DepositAddress: friendly(2, config.Testnet), Time: 200, TxHash: acct(0x22)},
		{Currency: "TON", DepositAddress: friendly(1, config.Testnet), Time: 300, Comment: "third", TxHash: acct(0x03)},
	}
	for i, w := range want {
		g := list[i]
		if g.Currency != w.Currency || g.DepositAddress != w.DepositAddress || g.Time != w.Time || g.SourceAddress != w.SourceAddress ||
			g.Comment != w.Comment || !bytes.Equal(g.BinaryComment, w.BinaryComment) || !bytes.Equal(g.TxHash, w.TxHash) {
			t.Errorf("income %d = %+v, want %+v", i, g, w)
		}
	}

	for _, bad := range []struct{ limit, offset int }{{0, 0}, {-1, 0}, {blockscanner.MaxHistoryLimit + 1, 0}, {10, -1}} {
		if _, err := m.History(ctx, "alice", "TON", bad.limit, bad.offset, false); !errors.Is(err, apierr.ErrBadRequest) {
			t.Errorf("limit %d offset %d: err %v, want a bad request", bad.limit, bad.offset, err)
		}
	}
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestIncomeByTxHash(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	j := f.deposit("alice", "USDT", 3)
	f.income(incomeRow{wallet: j, currency: "USDT", amount: "9", hash: acct(0x09), utime: 250, comment: ptr("hi"), srcWC: ptr(int32(0)), src: acct(7)})
	m := f.readModel(config.Mainnet, config.CountDeposit)
	ctx := context.Background()

	in, err := m.IncomeByTxHash(ctx, acct(0x09))
	if err != nil {
		t.Fatal(err)
	}
	if in.Currency != "USDT" || in.Amount.String() != "9" || in.Time != 250 || in.Comment != "hi" ||
		in.DepositAddress != friendly(3, config.Mainnet) || in.SourceAddress != friendly(7, config.Mainnet) || !bytes.Equal(in.TxHash, acct(0x09)) {
		t.Errorf("income = %+v", in)
	}
	if _, err := m.IncomeByTxHash(ctx, acct(0x0A)); !errors.Is(err, apierr.ErrNotFound) {
		t.Errorf("unknown hash: err %v, want not found", err)
	}
	if _, err := m.IncomeByTxHash(ctx, []byte{1, 2}); !errors.Is(err, apierr.ErrBadRequest) {
		t.Errorf("short hash: err %v, want bad request", err)
	}
}

func TestSyncStatus(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	now := time.Unix(1_700_000_000, 0)
	lag := 30 * time.Second
	errHead := errors.New("liteserver down")

	tests := []struct {
		name       string
		genUtime   int64 // 0: no cursor row
		head       blockscanner.HeadFunc
		wantSynced bool
		wantErr    error
	}{
		{name: "never scanned", genUtime: 0, wantSynced: false},
		{name: "fresh", genUtime: now.Unix() - 5, wantSynced: true},
		{name: "exactly at the lag", genUtime: now.Unix() - 30, wantSynced: true},
		{name: "behind wall time", genUtime: now.Unix() - 31, wantSynced: false},
		{name: "clock behind the chain", genUtime: now.Unix() + 3, wantSynced: true},
		{name: "close to the head", genUtime: now.Unix() - 5,
			head:       func(context.Context) (uint32, int64, error) { return 100, now.Unix() - 2, nil },
			wantSynced: true},
		{name: "far behind the head", genUtime: now.Unix() - 5,
			head:       func(context.Context) (uint32, int64, error) { return 100, now.Unix() + 40, nil },
			wantSynced: false},
		{name: "head unknown", genUtime: now.Unix() - 5,
			head:    func(context.Context) (uint32, int64, error) { return 0, 0, errHead },
			wantErr: errHead},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			db := storetest.NewDB(t)
			if tt.genUtime != 0 {
				if _, err := db.Exec(ctx, `INSERT INTO scanner_cursor (mc_seqno, root_hash, file_hash, gen_utime) VALUES (42, $1, $1, $2)`,
					acct(1), tt.genUtime); err != nil {
					t.Fatal(err)
				}
			}
			m, err := blockscanner.NewReadModel(db, blockscanner.ReadModelConfig{
				Network: config.Testnet, CountingSide: config.CountDeposit, AllowableLag: lag,
				Head: tt.head, Now: func() time.Time { return now },
			})
			if err != nil {
				t.Fatal(err)
			}
			synced, utime, err := m.SyncStatus(ctx)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) || synced {
					t.Fatalf("err %v synced %v, want %v and not synced", err, synced, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if synced != tt.wantSynced || utime != tt.genUtime {
				t.Errorf("SyncStatus = %v, %d; want %v, %d", synced, utime, tt.wantSynced, tt.genUtime)
			}
		})
	}
}

func TestNewReadModelRefusesBadConfig(t *testing.T) {
	t.Parallel()
	db := storetest.NewDB(t)
	good := blockscanner.ReadModelConfig{Network: config.Mainnet, CountingSide: config.CountDeposit, AllowableLag: time.Second}
	if _, err := blockscanner.NewReadModel(db, good); err != nil {
		t.Fatalf("good config refused: %v", err)
	}
	tests := []struct {
		name string
		edit func(*blockscanner.ReadModelConfig)
	}{
		{"network", func(c *blockscanner.ReadModelConfig) { c.Network = "devnet" }},
		{"counting side", func(c *blockscanner.ReadModelConfig) { c.CountingSide = "both" }},
		{"zero lag", func(c *blockscanner.ReadModelConfig) { c.AllowableLag = 0 }},
	}
	for _, tt := range tests {
		c := good
		tt.edit(&c)
		if _, err := blockscanner.NewReadModel(db, c); err == nil {
			t.Errorf("%s: accepted", tt.name)
		}
	}
	if _, err := blockscanner.NewReadModel(nil, good); err == nil {
		t.Error("nil pool accepted")
	}
}

// TestHistoryPageReadsOnlyThePage checks that a page of a user's deposit
// history reads offset + limit incomes, not every income of the user: a
// user with many deposit addresses and a long history is served as fast
// as any other (issue 17: the page joined each of the user's wallets with
// its incomes and sorted them all, 1,000 rows read for a page of 100).
func TestHistoryPageReadsOnlyThePage(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	// 40 users with 8 TON deposit addresses of 50 incomes each; the
	// incomes of a user are spread over the table, as they arrive.
	if _, err := f.db.Exec(ctx, `
		INSERT INTO deposit_wallets (user_id, currency, subwallet_id, workchain, address)
		SELECT 'user' || (s / 8), 'TON', 1 + s, 0, sha256(int8send(-s)) FROM generate_series(0, 320 - 1) AS s`); err != nil {
		t.Fatal(err)
	}
	if _, err := f.db.Exec(ctx, `
		INSERT INTO incomes (deposit_wallet_id, user_id, currency, amount, tx_hash, tx_lt, utime, mc_seqno)
		SELECT d.id, d.user_id, 'TON', 1 + n, sha256(int8send(n)), n, 1700000000 + n / 3, 1
		FROM generate_series(0, 16000 - 1) AS n
		JOIN deposit_wallets d ON d.subwallet_id = 1 + n % 320`); err != nil {
		t.Fatal(err)
	}
	if _, err := f.db.Exec(ctx, `ANALYZE`); err != nil {
		t.Fatal(err)
	}
	const limit, offset = 20, 30
	for name, q := range blockscanner.HistorySQL {
		args := []any{"user7", "TON", limit, offset}
		if strings.HasSuffix(name, "after") {
			args = []any{"user7", "TON", limit, int64(1700000000 + 8000/3), int64(8000)}
		}
		var plan []byte
		if err := f.db.QueryRow(ctx, `EXPLAIN (ANALYZE, FORMAT JSON) `+q, args...).Scan(&plan); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		read, err := rowsReadFrom(plan, "incomes")
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if most := limit + offset + 1; read > most {
			t.Errorf("%s %v: read %d incomes for a page of %d (at most %d); plan %s", name, args, read, limit, most, plan)
		}
	}
}

// rowsReadFrom sums the rows that the plan's scans of table returned
// (actual rows times loops).
func rowsReadFrom(plan []byte, table string) (int, error) {
	type node struct {
		Relation string  `json:"Relation Name"`
		Rows     float64 `json:"Actual Rows"`
		Loops    float64 `json:"Actual Loops"`
		Plans    []node  `json:"Plans"`
	}
	var top []struct {
		Plan node `json:"Plan"`
	}
	if err := json.Unmarshal(plan, &top); err != nil || len(top) != 1 {
		return 0, fmt.Errorf("plan %s: %v", plan, err)
	}
	var sum func(n node) int
	sum = func(n node) int {
		s := 0
		if n.Relation == table {
			s = int(n.Rows * n.Loops)
		}
		for _, c := range n.Plans {
			s += sum(c)
		}
		return s
	}
	return sum(top[0].Plan), nil
}

// TestMigration0025GivesExistingIncomesTheirUser: incomes recorded before
// migration 0025 get their deposit wallet's user, and the history shows
// them as before.
func TestMigration0025GivesExistingIncomesTheirUser(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := storetest.NewDBAround(t, "0025_", func(db *pgxpool.Pool) {
		if _, err := db.Exec(ctx, `
			INSERT INTO deposit_wallets (user_id, currency, subwallet_id, workchain, address)
			SELECT u, 'TON', s, 0, sha256(int8send(s)) FROM (VALUES ('ann', 1), ('ann', 2), ('ben', 3)) AS w(u, s);
			INSERT INTO incomes (deposit_wallet_id, currency, amount, tx_hash, tx_lt, utime, mc_seqno)
			SELECT d.id, 'TON', n, sha256(int8send(-n)), n, 100 + n, 1
			FROM generate_series(1, 9) AS n JOIN deposit_wallets d ON d.subwallet_id = 1 + n % 3`); err != nil {
			t.Fatal(err)
		}
	})
	var wrong int
	if err := db.QueryRow(ctx, `SELECT count(*) FROM incomes i JOIN deposit_wallets d ON d.id = i.deposit_wallet_id
		WHERE i.user_id IS DISTINCT FROM d.user_id`).Scan(&wrong); err != nil {
		t.Fatal(err)
	}
	if wrong != 0 {
		t.Errorf("%d incomes with another user than their deposit wallet's", wrong)
	}
	m := (&fixture{t: t, db: db}).readModel(config.Testnet, config.CountDeposit)
	for user, want := range map[string]string{"ann": "9 7 6 4 3 1", "ben": "8 5 2"} {
		list, err := m.History(ctx, user, "TON", 10, 0, false)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, in := range list {
			got = append(got, in.Amount.String())
		}
		if strings.Join(got, " ") != want {
			t.Errorf("%s: history %v, want %s", user, got, want)
		}
	}
}
