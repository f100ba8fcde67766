package store_test

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/ton-custody/processor/internal/store"
	"github.com/ton-custody/processor/internal/store/storetest"
)

// h is a SQL expression for 32 bytes of b: an account id or hash.
func h(b byte) string { return fmt.Sprintf("decode(repeat('%02x', 32), 'hex')", b) }

func insertWithdrawal(t *testing.T, pool *pgxpool.Pool, userID, queryID string) {
	t.Helper()
	_, err := pool.Exec(context.Background(), `INSERT INTO withdrawals
		(user_id, query_id, currency, amount, destination_workchain, destination_address, bounceable, request_hash)
		VALUES ($1, $2, 'TON', 100, 0, $3, false, $4)`, userID, queryID, make([]byte, 32), make([]byte, 32))
	if err != nil {
		t.Fatalf("insert withdrawal: %v", err)
	}
}

// Rows every constraint case starts from (ids are 1 in a fresh database).
var schemaFixture = []string{
	`INSERT INTO deposit_wallets (user_id, currency, subwallet_id, workchain, address)
	 VALUES ('u1', 'TON', nextval('deposit_subwallet_id_seq'), 0, ` + h(1) + `)`,
	`INSERT INTO deposit_wallets (user_id, currency, subwallet_id, workchain, address,
	     jetton_master_workchain, jetton_master, jetton_wallet_workchain, jetton_wallet)
	 VALUES ('u1', 'USDT', nextval('deposit_subwallet_id_seq'), 0, ` + h(2) + `, 0, ` + h(3) + `, 0, ` + h(4) + `)`,
	`INSERT INTO hot_batches (query_seq, created_at_chain, timeout_seconds, signed_message, message_hash)
	 VALUES (nextval('hot_query_seq'), 1000, 60, '\x01', ` + h(10) + `)`,
	`INSERT INTO withdrawals (user_id, query_id, currency, amount, destination_workchain, destination_address, bounceable, request_hash)
	 VALUES ('u1', 'q1', 'TON', 5, 0, ` + h(20) + `, true, ` + h(21) + `)`,
	`INSERT INTO incomes (deposit_wallet_id, user_id, currency, amount, tx_hash, tx_lt, utime, mc_seqno)
	 VALUES (1, 'u1', 'TON', 7, ` + h(30) + `, 1, 1, 1)`,
}

const (
	codeCheck     = "23514"
	codeUnique    = "23505"
	codeForeign   = "23503"
	codeExclusion = "23P01"
)

func TestSchemaConstraints(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := storetest.NewDB(t)
	for _, stmt := range schemaFixture {
		if _, err := pool.Exec(ctx, stmt); err != nil {
			t.Fatalf("fixture %s: %v", stmt, err)
		}
	}

	newWithdrawal := `INSERT INTO withdrawals (user_id, query_id, currency, amount, destination_workchain, destination_address, bounceable, request_hash)
		VALUES ('u2', 'q', 'TON', %s, 0, ` + h(0) + `, true, ` + h(0) + `)`
	batch2 := `INSERT INTO hot_batches (query_seq, created_at_chain, timeout_seconds, signed_message, message_hash)
		VALUES (nextval('hot_query_seq'), 1000, 60, '\x02', ` + h(14) + `)`
	const item1 = `INSERT INTO hot_batch_items (batch_id, msg_index, kind, withdrawal_id) VALUES (1, 0, 'withdrawal', 1)`
	// Rolled-back cases consume identity values, so later rows are found
	// by content rather than by id.
	item2 := `INSERT INTO hot_batch_items (batch_id, msg_index, kind, withdrawal_id)
		VALUES ((SELECT id FROM hot_batches WHERE message_hash = ` + h(14) + `), 0, 'withdrawal', 1)`
	walletMessage := func(seqno int, hash byte) string {
		return fmt.Sprintf(`INSERT INTO deposit_wallet_messages (deposit_wallet_id, seqno, valid_until, signed_message, message_hash)
			VALUES (1, %d, 2000, '\x01', %s)`, seqno, h(hash))
	}

	tests := []struct {
		name       string
		setup      []string
		stmt       string
		code       string // "" means the statement must succeed
		constraint string
	}{
		// Amounts
		{name: "negative withdrawal amount", stmt: fmt.Sprintf(newWithdrawal, "-1"), code: codeCheck, constraint: "base_units_range"},
		{name: "zero withdrawal amount", stmt: fmt.Sprintf(newWithdrawal, "0"), code: codeCheck, constraint: "withdrawals_amount_positive"},
		{name: "amount 2^120", stmt: fmt.Sprintf(newWithdrawal, "1329227995784915872903807060280344576"), code: codeCheck, constraint: "base_units_range"},
		{name: "amount 2^120-1", stmt: fmt.Sprintf(newWithdrawal, "1329227995784915872903807060280344575")},
		{name: "negative income", stmt: `INSERT INTO incomes (deposit_wallet_id, user_id, currency, amount, tx_hash, tx_lt, utime, mc_seqno) VALUES (1, 'u1', 'TON', -5, ` + h(31) + `, 1, 1, 1)`,
			code: codeCheck, constraint: "base_units_range"},
		{name: "zero income", stmt: `INSERT INTO incomes (deposit_wallet_id, user_id, currency, amount, tx_hash, tx_lt, utime, mc_seqno) VALUES (1, 'u1', 'TON', 0, ` + h(31) + `, 1, 1, 1)`,
			code: codeCheck, constraint: "incomes_amount_positive"},

		// Withdrawals
		{name: "duplicate user_id and query_id", stmt: `INSERT INTO withdrawals (user_id, query_id, currency, amount, destination_workchain, destination_address, bounceable, request_hash)
			VALUES ('u1', 'q1', 'TON', 6, 0, ` + h(22) + `, true, ` + h(23) + `)`, code: codeUnique, constraint: "withdrawals_user_query_key"},
		{name: "same query_id for another user", stmt: `INSERT INTO withdrawals (user_id, query_id, currency, amount, destination_workchain, destination_address, bounceable, request_hash)
			VALUES ('u2', 'q1', 'TON', 6, 0, ` + h(22) + `, true, ` + h(23) + `)`},
		{name: "invalid state", stmt: `UPDATE withdrawals SET state = 'done' WHERE id = 1`, code: codeCheck, constraint: "withdrawals_state_valid"},
		{name: "processing without batch", stmt: `UPDATE withdrawals SET state = 'processing' WHERE id = 1`, code: codeCheck, constraint: "withdrawals_state_fields"},
		{name: "processed without tx hash", stmt: `UPDATE withdrawals SET state = 'processed', batch_id = 1 WHERE id = 1`, code: codeCheck, constraint: "withdrawals_state_fields"},
		{name: "failed without reason", stmt: `UPDATE withdrawals SET state = 'failed' WHERE id = 1`, code: codeCheck, constraint: "withdrawals_state_fields"},
		{name: "processed is final",
			setup: []string{`UPDATE withdrawals SET state = 'processed', batch_id = 1, tx_hash = ` + h(24) + ` WHERE id = 1`},
			stmt:  `UPDATE withdrawals SET state = 'pending', batch_id = NULL, tx_hash = NULL WHERE id = 1`, code: codeCheck, constraint: "withdrawals_final_state"},
		{name: "failed is final",
			setup: []string{`UPDATE withdrawals SET state = 'failed', fail_reason = 'bounced' WHERE id = 1`},
			stmt:  `UPDATE withdrawals SET state = 'pending', fail_reason = NULL WHERE id = 1`, code: codeCheck, constraint: "withdrawals_final_state"},
		{name: "processing may return to pending",
			setup: []string{`UPDATE withdrawals SET state = 'processing', batch_id = 1 WHERE id = 1`},
			stmt:  `UPDATE withdrawals SET state = 'pending', batch_id = NULL WHERE id = 1`},
		{name: "amount cannot change", stmt: `UPDATE withdrawals SET amount = 6 WHERE id = 1`, code: codeCheck, constraint: "withdrawals_immutable"},
		{name: "destination cannot change", stmt: `UPDATE withdrawals SET destination_address = ` + h(25) + ` WHERE id = 1`, code: codeCheck, constraint: "withdrawals_immutable"},
		{name: "comment cannot change", stmt: `UPDATE withdrawals SET comment = 'x', binary_comment = B'1' WHERE id = 1`, code: codeCheck, constraint: "withdrawals_immutable"},
		{name: "comment and binary comment on insert", stmt: `INSERT INTO withdrawals (user_id, query_id, currency, amount, destination_workchain, destination_address, bounceable, request_hash, comment, binary_comment)
			VALUES ('u3', 'q', 'TON', 1, 0, ` + h(22) + `, true, ` + h(23) + `, 'hi', B'1001')`, code: codeCheck, constraint: "withdrawals_one_comment"},
		{name: "binary comment of 15 bits", stmt: `INSERT INTO withdrawals (user_id, query_id, currency, amount, destination_workchain, destination_address, bounceable, request_hash, binary_comment)
			VALUES ('u3', 'q', 'TON', 1, 0, ` + h(22) + `, true, ` + h(23) + `, B'100111111110011')`},
		{name: "lower-case currency", stmt: `INSERT INTO withdrawals (user_id, query_id, currency, amount, destination_workchain, destination_address, bounceable, request_hash)
			VALUES ('u3', 'q', 'ton', 1, 0, ` + h(22) + `, true, ` + h(23) + `)`, code: codeCheck, constraint: "currency_code_format"},
		{name: "31-byte address", stmt: `INSERT INTO withdrawals (user_id, query_id, currency, amount, destination_workchain, destination_address, bounceable, request_hash)
			VALUES ('u3', 'q', 'TON', 1, 0, decode(repeat('aa', 31), 'hex'), true, ` + h(23) + `)`, code: codeCheck, constraint: "bytes32_length"},
		{name: "empty user id", stmt: `INSERT INTO withdrawals (user_id, query_id, currency, amount, destination_workchain, destination_address, bounceable, request_hash)
			VALUES ('', 'q', 'TON', 1, 0, ` + h(22) + `, true, ` + h(23) + `)`, code: codeCheck, constraint: "withdrawals_user_id_length"},

		// Deposit wallets and incomes
		{name: "deposit address reused for another currency", stmt: `INSERT INTO deposit_wallets (user_id, currency, subwallet_id, workchain, address,
			jetton_master_workchain, jetton_master, jetton_wallet_workchain, jetton_wallet) VALUES ('u1', 'NOT', 99, 0, ` + h(1) + `, 0, ` + h(5) + `, 0, ` + h(6) + `)`,
			code: codeUnique, constraint: "deposit_wallets_address_key"},
		{name: "subwallet id reused", stmt: `INSERT INTO deposit_wallets (user_id, currency, subwallet_id, workchain, address) VALUES ('u1', 'TON', 1, 0, ` + h(7) + `)`,
			code: codeUnique, constraint: "deposit_wallets_subwallet_id_key"},
		{name: "subwallet id above uint32", stmt: `INSERT INTO deposit_wallets (user_id, currency, subwallet_id, workchain, address) VALUES ('u1', 'TON', 4294967296, 0, ` + h(7) + `)`,
			code: codeCheck, constraint: "deposit_wallets_subwallet_id_range"},
		{name: "jetton deposit without jetton wallet", stmt: `INSERT INTO deposit_wallets (user_id, currency, subwallet_id, workchain, address) VALUES ('u1', 'USDT', 98, 0, ` + h(7) + `)`,
			code: codeCheck, constraint: "deposit_wallets_jetton_fields"},
		{name: "TON deposit with jetton wallet", stmt: `INSERT INTO deposit_wallets (user_id, currency, subwallet_id, workchain, address,
			jetton_master_workchain, jetton_master, jetton_wallet_workchain, jetton_wallet) VALUES ('u1', 'TON', 97, 0, ` + h(7) + `, 0, ` + h(5) + `, 0, ` + h(6) + `)`,
			code: codeCheck, constraint: "deposit_wallets_jetton_fields"},
		{name: "deposit address cannot change", stmt: `UPDATE deposit_wallets SET address = ` + h(8) + ` WHERE id = 1`, code: codeCheck, constraint: "deposit_wallets_immutable"},
		{name: "income credited twice for one transaction", stmt: `INSERT INTO incomes (deposit_wallet_id, user_id, currency, amount, tx_hash, tx_lt, utime, mc_seqno) VALUES (1, 'u1', 'TON', 7, ` + h(30) + `, 1, 1, 2)`,
			code: codeUnique, constraint: "incomes_tx_hash_key"},
		{name: "income currency differs from its deposit's", stmt: `INSERT INTO incomes (deposit_wallet_id, user_id, currency, amount, tx_hash, tx_lt, utime, mc_seqno) VALUES (1, 'u1', 'USDT', 7, ` + h(31) + `, 1, 1, 1)`,
			code: codeForeign, constraint: "incomes_deposit_wallet_user_fkey"},
		{name: "income of another user than its deposit's", stmt: `INSERT INTO incomes (deposit_wallet_id, user_id, currency, amount, tx_hash, tx_lt, utime, mc_seqno) VALUES (1, 'u2', 'TON', 7, ` + h(31) + `, 1, 1, 1)`,
			code: codeForeign, constraint: "incomes_deposit_wallet_user_fkey"},
		{name: "income source needs both parts", stmt: `INSERT INTO incomes (deposit_wallet_id, user_id, currency, amount, tx_hash, tx_lt, utime, mc_seqno, source_address) VALUES (1, 'u1', 'TON', 7, ` + h(31) + `, 1, 1, 1, ` + h(9) + `)`,
			code: codeCheck, constraint: "incomes_source_pair"},

		// Hot batches
		{name: "highload timeout below 6 s", stmt: `INSERT INTO hot_batches (query_seq, created_at_chain, timeout_seconds, signed_message, message_hash) VALUES (nextval('hot_query_seq'), 1000, 5, '\x01', ` + h(11) + `)`,
			code: codeCheck, constraint: "hot_batches_timeout_range"},
		{name: "query id reused inside its window", stmt: `INSERT INTO hot_batches (query_seq, created_at_chain, timeout_seconds, signed_message, message_hash) VALUES (8380415, 1179, 60, '\x01', ` + h(11) + `)`,
			code: codeExclusion, constraint: "hot_batches_query_id_window"},
		{name: "query id reused after its window", stmt: `INSERT INTO hot_batches (query_seq, created_at_chain, timeout_seconds, signed_message, message_hash) VALUES (8380415, 1180, 60, '\x01', ` + h(11) + `)`},
		{name: "signed message cannot change", stmt: `UPDATE hot_batches SET signed_message = '\x02' WHERE id = 1`, code: codeCheck, constraint: "hot_batches_immutable"},
		{name: "confirmed without transaction", stmt: `UPDATE hot_batches SET state = 'confirmed' WHERE id = 1`, code: codeCheck, constraint: "hot_batches_confirmed_fields"},
		{name: "expired is final",
			setup: []string{`UPDATE hot_batches SET state = 'expired' WHERE id = 1`},
			stmt:  `UPDATE hot_batches SET state = 'sent' WHERE id = 1`, code: codeCheck, constraint: "hot_batches_final_state"},
		{name: "withdrawal in two live batches", setup: []string{item1, batch2}, stmt: item2, code: codeUnique, constraint: "hot_batch_items_live_withdrawal_key"},
		{name: "withdrawal in a confirmed and a new batch",
			setup: []string{item1, `UPDATE hot_batches SET state = 'confirmed', tx_hash = ` + h(12) + `, tx_lt = 5 WHERE id = 1`, batch2},
			stmt:  item2, code: codeUnique, constraint: "hot_batch_items_live_withdrawal_key"},
		{name: "live cannot be forged",
			setup: []string{`INSERT INTO hot_batch_items (batch_id, msg_index, kind, withdrawal_id, live) VALUES (1, 0, 'withdrawal', 1, false)`, batch2},
			stmt:  item2, code: codeUnique, constraint: "hot_batch_items_live_withdrawal_key"},
		{name: "withdrawal re-batched after its batch expired",
			setup: []string{item1, `UPDATE hot_batches SET state = 'expired' WHERE id = 1`, batch2},
			stmt:  item2},
		{name: "item with two targets", setup: []string{`INSERT INTO cold_transfers (amount, destination_workchain, destination_address) VALUES (1, 0, ` + h(13) + `)`},
			stmt: `INSERT INTO hot_batch_items (batch_id, msg_index, kind, withdrawal_id, cold_transfer_id) VALUES (1, 0, 'withdrawal', 1, (SELECT max(id) FROM cold_transfers))`, code: codeCheck, constraint: "hot_batch_items_one_target"},
		{name: "item kind does not match target", stmt: `INSERT INTO hot_batch_items (batch_id, msg_index, kind, withdrawal_id) VALUES (1, 0, 'cold', 1)`,
			code: codeCheck, constraint: "hot_batch_items_one_target"},

		// Deposit wallet messages, sweeps, service withdrawals, cold transfers
		{name: "two messages in flight from one deposit wallet", setup: []string{walletMessage(0, 40)}, stmt: walletMessage(1, 41),
			code: codeUnique, constraint: "deposit_wallet_messages_one_in_flight_key"},
		{name: "seqno 0 again after the wallet was destroyed",
			setup: []string{walletMessage(0, 40), `UPDATE deposit_wallet_messages SET state = 'confirmed', tx_hash = ` + h(42) + `, tx_lt = 1`},
			stmt:  walletMessage(0, 43)},
		{name: "two open sweeps of one deposit",
			setup: []string{`INSERT INTO sweeps (deposit_wallet_id, currency, amount) VALUES (1, 'TON', 10)`},
			stmt:  `INSERT INTO sweeps (deposit_wallet_id, currency, amount) VALUES (1, 'TON', 11)`, code: codeUnique, constraint: "sweeps_one_open_key"},
		{name: "confirmed sweep needs what was received",
			setup: []string{`INSERT INTO sweeps (deposit_wallet_id, currency, amount) VALUES (1, 'TON', 10)`},
			stmt:  `UPDATE sweeps SET state = 'confirmed', tx_hash = ` + h(44) + ``, code: codeCheck, constraint: "sweeps_state_fields"},
		{name: "jetton service withdrawal without master", stmt: `INSERT INTO service_withdrawals (memo, kind, from_workchain, from_address) VALUES (gen_random_uuid(), 'jetton', 0, ` + h(1) + `)`,
			code: codeCheck, constraint: "service_withdrawals_jetton_fields"},
		{name: "duplicate memo",
			setup: []string{`INSERT INTO service_withdrawals (memo, kind, from_workchain, from_address) VALUES ('123e4567-e89b-12d3-a456-426655440000', 'ton', 0, ` + h(1) + `)`},
			stmt:  `INSERT INTO service_withdrawals (memo, kind, from_workchain, from_address) VALUES ('123e4567-e89b-12d3-a456-426655440000', 'ton', 0, ` + h(2) + `)`,
			code:  codeUnique, constraint: "service_withdrawals_memo_key"},
		{name: "two open cold transfers",
			setup: []string{`INSERT INTO cold_transfers (amount, destination_workchain, destination_address) VALUES (1, 0, ` + h(13) + `)`},
			stmt:  `INSERT INTO cold_transfers (amount, destination_workchain, destination_address) VALUES (2, 0, ` + h(13) + `)`,
			code:  codeUnique, constraint: "cold_transfers_one_open_key"},

		// Outbox and scanner
		{name: "outbox event enqueued twice",
			setup: []string{`INSERT INTO outbox (topic, payload, dedup_key) VALUES ('income', '{}', 'income:1')`},
			stmt:  `INSERT INTO outbox (topic, payload, dedup_key) VALUES ('income', '{}', 'income:1')`, code: codeUnique, constraint: "outbox_dedup_key"},
		{name: "second scanner cursor row", setup: []string{`INSERT INTO scanner_cursor (mc_seqno, root_hash, file_hash, gen_utime) VALUES (1, ` + h(50) + `, ` + h(51) + `, 1)`},
			stmt: `INSERT INTO scanner_cursor (singleton, mc_seqno, root_hash, file_hash, gen_utime) VALUES (false, 2, ` + h(50) + `, ` + h(51) + `, 1)`,
			code: codeCheck, constraint: "scanner_cursor_singleton"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Each case runs in a transaction that is always rolled back, so
			// all start from the fixture.
			errRollback := errors.New("rollback")
			err := store.InTx(ctx, pool, func(tx pgx.Tx) error {
				for _, s := range tt.setup {
					if _, err := tx.Exec(ctx, s); err != nil {
						t.Fatalf("setup %s: %v", s, err)
					}
				}
				_, err := tx.Exec(ctx, tt.stmt)
				if err != nil {
					return err
				}
				return errRollback
			})
			if tt.code == "" {
				if !errors.Is(err, errRollback) {
					t.Fatalf("statement failed: %v", err)
				}
				return
			}
			var pgErr *pgconn.PgError
			if !errors.As(err, &pgErr) {
				t.Fatalf("statement succeeded (err %v), want SQLSTATE %s on %s", err, tt.code, tt.constraint)
			}
			if pgErr.Code != tt.code || pgErr.ConstraintName != tt.constraint {
				t.Fatalf("got SQLSTATE %s on %q (%s), want %s on %q", pgErr.Code, pgErr.ConstraintName, pgErr.Message, tt.code, tt.constraint)
			}
		})
	}
}

func TestSubwalletIDsAreDistinctUnderConcurrency(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := storetest.NewDB(t)
	const requests = 100
	var wg sync.WaitGroup
	errs := make(chan error, requests)
	for i := range requests {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- store.InTx(ctx, pool, func(tx pgx.Tx) error {
				var id int64
				if err := tx.QueryRow(ctx, "SELECT nextval('deposit_subwallet_id_seq')").Scan(&id); err != nil {
					return err
				}
				// Stand-in for address derivation: a function of the id.
				addr := sha256.Sum256([]byte(fmt.Sprint(id)))
				_, err := tx.Exec(ctx, `INSERT INTO deposit_wallets (user_id, currency, subwallet_id, workchain, address)
					VALUES ($1, 'TON', $2, 0, $3)`, fmt.Sprint("user", i%7), id, addr[:])
				return err
			})
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("concurrent allocation: %v", err)
		}
	}
	if n := count(t, pool, "SELECT count(DISTINCT subwallet_id) FROM deposit_wallets"); n != requests {
		t.Fatalf("%d distinct subwallet ids for %d requests", n, requests)
	}
}

func TestHighloadQueryIDs(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := storetest.NewDB(t)
	tests := []struct {
		seq  int64
		want int // shift << 10 | bit
	}{
		{0, 0},
		{1022, 1022},
		{1023, 1 << 10},            // bit 1023 is invalid: next shift
		{8380414, 8191<<10 | 1021}, // last id of a cycle; (8191, 1022) is reserved
		{8380415, 0},               // next cycle
		{8380415*3 + 1023, 1 << 10},
	}
	for _, tt := range tests {
		var got int
		if err := pool.QueryRow(ctx, "SELECT highload_query_id($1)", tt.seq).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if got != tt.want {
			t.Errorf("highload_query_id(%d) = %d (shift %d bit %d), want %d", tt.seq, got, got>>10, got&1023, tt.want)
		}
	}
	// One whole cycle: every id distinct, every bit number valid, the
	// reserved id absent.
	var distinct, maxBit, reserved int
	err := pool.QueryRow(ctx, `SELECT count(DISTINCT q), max(q & 1023), count(*) FILTER (WHERE q = (8191 << 10 | 1022))
		FROM (SELECT highload_query_id(s) AS q FROM generate_series(0, 8380414) s) ids`).Scan(&distinct, &maxBit, &reserved)
	if err != nil {
		t.Fatal(err)
	}
	if distinct != 8380415 || maxBit != 1022 || reserved != 0 {
		t.Fatalf("one cycle: %d distinct ids, max bit %d, reserved used %d times", distinct, maxBit, reserved)
	}
}

// Every keep_columns trigger has a WHEN clause comparing exactly its
// argument columns (0024): without it, every update of the table converts
// both rows to jsonb; with a column missing from it, that column could
// change unnoticed.
func TestImmutableTriggersHaveWhen(t *testing.T) {
	t.Parallel()
	pool := storetest.NewDB(t)
	rows, err := pool.Query(context.Background(), `SELECT tg.tgrelid::regclass::text, tg.tgname,
			string_to_array(rtrim(encode(tg.tgargs, 'escape'), '\000'), '\000'), pg_get_triggerdef(tg.oid)
		FROM pg_trigger tg JOIN pg_proc p ON p.oid = tg.tgfoid
		WHERE p.proname = 'keep_columns' ORDER BY 1`)
	if err != nil {
		t.Fatal(err)
	}
	type trig struct {
		table, name, def string
		cols             []string
	}
	trigs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (trig, error) {
		var tr trig
		err := r.Scan(&tr.table, &tr.name, &tr.cols, &tr.def)
		return tr, err
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(trigs) < 6 {
		t.Fatalf("%d keep_columns triggers, want at least 6", len(trigs))
	}
	for _, tr := range trigs {
		when, _, ok := strings.Cut(tr.def, " EXECUTE FUNCTION ")
		_, when, found := strings.Cut(when, " WHEN (")
		if !ok || !found {
			t.Errorf("%s.%s has no WHEN clause: %s", tr.table, tr.name, tr.def)
			continue
		}
		var compared []string
		for _, part := range strings.Split(strings.TrimSuffix(when, ")"), " OR ") {
			m := distinctTerm.FindStringSubmatch(part)
			if m == nil || m[1] != m[2] {
				t.Errorf("%s.%s: WHEN term %q is not old.c IS DISTINCT FROM new.c", tr.table, tr.name, part)
				continue
			}
			compared = append(compared, m[1])
		}
		if !slices.Equal(compared, tr.cols) {
			t.Errorf("%s.%s: WHEN compares %v, the trigger guards %v", tr.table, tr.name, compared, tr.cols)
		}
	}
}

// distinctTerm is one term of a keep_columns WHEN clause as PostgreSQL
// prints it (a column of a domain type is cast to the base type).
var distinctTerm = regexp.MustCompile(`^\(*old\.(\w+)\)*(?:::[\w ]+)? IS DISTINCT FROM \(*new\.(\w+)\)*(?:::[\w ]+)?\)*$`)
