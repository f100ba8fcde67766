package ledger

import (
	"context"
	"fmt"
	"math/big"

	"github.com/jackc/pgx/v5"

	"github.com/ton-custody/processor/internal/store"
)

// BackfillResult counts the postings a backfill wrote, by kind.
type BackfillResult map[string]int

// Backfill builds the ledger from the rows of events settled before it
// existed (processor ledger-backfill), in one transaction: credited
// deposits, paid withdrawals and their hot wallet fees, confirmed sweeps,
// processed service withdrawals and cold transfers. Every posting carries
// the ref the live code uses for the same event (or a backfill ref for
// events the live code books in several steps), so running it again, or
// after the live code has booked some events, writes nothing twice.
//
// What the rows do not hold is not invented: the fees of deposit and
// sweep transactions (a sweep's fee is taken as what it decided to move
// less what arrived), the TON attached to jetton transfers, and whatever
// funded the hot wallet. Reconciliation shows those as differences; an
// operator books them with an adjustment (Adjust).
func Backfill(ctx context.Context, db store.Beginner) (BackfillResult, error) {
	res := BackfillResult{}
	err := store.InTx(ctx, db, func(tx pgx.Tx) error {
		clear(res)
		type source struct {
			kind string
			sql  string
			post func(vals []any) (Posting, error)
		}
		num := func(v any) *big.Int {
			s, _ := v.(string)
			n, _ := new(big.Int).SetString(s, 10)
			if n == nil {
				n = new(big.Int)
			}
			return n
		}
		str := func(v any) string { s, _ := v.(string); return s }
		bytesOf := func(v any) []byte { b, _ := v.([]byte); return b }
		i64 := func(v any) int64 { n, _ := v.(int64); return n }
		sources := []source{
			{"deposit", `SELECT i.id, i.tx_hash, i.tx_lt, i.utime, i.mc_seqno, i.currency, i.amount::text, d.user_id, d.workchain, d.address, i.imported_from
				FROM incomes i JOIN deposit_wallets d ON d.id = i.deposit_wallet_id ORDER BY i.id`,
				func(v []any) (Posting, error) {
					cur, amount, user := str(v[5]), num(v[6]), str(v[7])
					if v[10] != nil || v[1] == nil {
						// Credited by the previous processor, which swept it to
						// its own hot wallet: owed, but not on our wallets.
						return Posting{Ref: fmt.Sprintf("deposit:import:%d", i64(v[0])), Kind: "deposit_imported",
							Lines: Move(cur, amount, User(user), External)}, nil
					}
					return Posting{Ref: "deposit:" + TxRef(bytesOf(v[1])), Kind: "deposit", TxHash: bytesOf(v[1]), TxLT: uint64(i64(v[2])),
						Utime: uint32(i64(v[3])), MasterSeqno: uint32(i64(v[4])),
						Lines: Move(cur, amount, User(user), DepositRaw(int32(v[8].(int32)), bytesOf(v[9])))}, nil
				}},
			{"withdrawal_paid", `SELECT id, currency, amount::text, user_id, tx_hash, imported_from FROM withdrawals WHERE state = 'processed' ORDER BY id`,
				func(v []any) (Posting, error) {
					from := Hot
					if v[5] != nil {
						from = External // paid by the previous processor's hot wallet
					}
					return Posting{Ref: fmt.Sprintf("withdrawal:%d:paid", i64(v[0])), Kind: "withdrawal_paid", TxHash: bytesOf(v[4]),
						Lines: Move(str(v[1]), num(v[2]), from, User(str(v[3])))}, nil
				}},
			{"network_fee", `SELECT DISTINCT ON (tx_hash) tx_hash, network_fee::text FROM withdrawals
				WHERE state IN ('processed', 'failed') AND currency = 'TON' AND network_fee IS NOT NULL AND imported_from IS NULL ORDER BY tx_hash`,
				func(v []any) (Posting, error) {
					return Posting{Ref: "fee:" + TxRef(bytesOf(v[0])), Kind: "network_fee", TxHash: bytesOf(v[0]),
						Lines: Move("TON", num(v[1]), Hot, Fees)}, nil
				}},
			// Sweeps and service withdrawals the live code booked (its
			// postings name the deposit wallet message or the receiving
			// transaction) are left alone.
			{"sweep", `SELECT s.id, s.currency, s.amount::text, s.received_amount::text, s.tx_hash, d.workchain, d.address
				FROM sweeps s JOIN deposit_wallets d ON d.id = s.deposit_wallet_id WHERE s.state = 'confirmed'
				AND NOT EXISTS (SELECT 1 FROM ledger_postings p WHERE p.ref IN ('dwm:' || s.wallet_message_id || ':received',
					'dwm:' || s.wallet_message_id || ':sent', 'jrecv:' || encode(s.tx_hash, 'hex')))
				ORDER BY s.id`,
				func(v []any) (Posting, error) {
					cur, decided, got := str(v[1]), num(v[2]), num(v[3])
					dep := DepositRaw(v[5].(int32), bytesOf(v[6]))
					lines := Move(cur, got, dep, Hot)
					if cur == "TON" && decided.Cmp(got) > 0 {
						lines = append(lines, Move(cur, new(big.Int).Sub(decided, got), dep, Fees)...)
					}
					return Posting{Ref: fmt.Sprintf("sweep:%d:backfill", i64(v[0])), Kind: "sweep", TxHash: bytesOf(v[4]), Lines: lines}, nil
				}},
			{"service_withdrawal", `SELECT sw.id, sw.kind, sw.amount::text, sw.tx_hash, d.currency, d.workchain, d.address,
					coalesce((SELECT h.currency FROM hot_jetton_wallets h WHERE h.jetton_master_workchain = sw.jetton_master_workchain
						AND h.jetton_master = sw.jetton_master LIMIT 1),
						(SELECT j.currency FROM deposit_wallets j WHERE j.jetton_master_workchain = sw.jetton_master_workchain
						AND j.jetton_master = sw.jetton_master LIMIT 1))
				FROM service_withdrawals sw JOIN deposit_wallets d ON d.workchain = sw.from_workchain AND d.address = sw.from_address
				WHERE sw.state = 'processed' AND sw.amount IS NOT NULL AND sw.wallet_message_id IS NOT NULL
				AND NOT EXISTS (SELECT 1 FROM ledger_postings p WHERE p.ref IN ('dwm:' || sw.wallet_message_id || ':received',
					'dwm:' || sw.wallet_message_id || ':sent', 'jsend:' || encode(sw.tx_hash, 'hex'), 'jrecv:' || encode(sw.tx_hash, 'hex'), 'service:' || sw.id || ':received'))
				ORDER BY sw.id`,
				func(v []any) (Posting, error) {
					depCur, cur := str(v[4]), "TON"
					if str(v[1]) == "jetton" {
						cur = str(v[7])
					}
					if cur == "" {
						return Posting{}, fmt.Errorf("ledger: backfill: service withdrawal %d: no jetton deposit names its jetton master, so its symbol is unknown", i64(v[0]))
					}
					// What the deposit's account held moves to the hot
					// wallet; anything else was held by no account.
					from := External
					if depCur == cur {
						from = DepositRaw(v[5].(int32), bytesOf(v[6]))
					}
					return Posting{Ref: fmt.Sprintf("service:%d:backfill", i64(v[0])), Kind: "service_withdrawal", TxHash: bytesOf(v[3]),
						Lines: Move(cur, num(v[2]), from, Hot)}, nil
				}},
			{"cold_transfer", `SELECT id, currency, amount::text, destination_workchain, destination_address, tx_hash FROM cold_transfers
				WHERE state = 'processed' ORDER BY id`,
				func(v []any) (Posting, error) {
					return Posting{Ref: fmt.Sprintf("cold:%d:sent", i64(v[0])), Kind: "cold_transfer", TxHash: bytesOf(v[5]),
						Lines: Move(str(v[1]), num(v[2]), Hot, ColdRaw(v[3].(int32), bytesOf(v[4])))}, nil
				}},
		}
		for _, s := range sources {
			rows, err := tx.Query(ctx, s.sql)
			if err != nil {
				return fmt.Errorf("ledger: backfill %s: %w", s.kind, err)
			}
			var ps []Posting
			for rows.Next() {
				vals, err := rows.Values()
				if err != nil {
					rows.Close()
					return fmt.Errorf("ledger: backfill %s: %w", s.kind, err)
				}
				p, err := s.post(vals)
				if err != nil {
					rows.Close()
					return err
				}
				p.Backfilled = true
				ps = append(ps, p)
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return fmt.Errorf("ledger: backfill %s: %w", s.kind, err)
			}
			for _, p := range ps {
				ok, err := Post(ctx, tx, p)
				if err != nil {
					return err
				}
				if ok {
					res[s.kind]++
				}
			}
		}
		return nil
	})
	return res, err
}

// Adjust books amount (signed: positive raises the account) on an asset
// account against external, e.g. the hot wallet's funding or a difference
// reconciliation found and a person explained. ref makes it happen once.
func Adjust(ctx context.Context, tx pgx.Tx, ref, account, currency string, amount *big.Int) (bool, error) {
	return Post(ctx, tx, Posting{Ref: "adjust:" + ref, Kind: "adjustment", Lines: Move(currency, amount, External, account)})
}
