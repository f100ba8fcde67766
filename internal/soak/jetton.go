package soak

import (
	"context"
	"encoding/hex"
	"fmt"
	"math/big"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/xssnick/tonutils-go/address"

	"github.com/ton-custody/processor/internal/config"
	"github.com/ton-custody/processor/internal/tonaddr"
)

// The demo jetton (tonsim's, 6 decimals) the processor is configured with.
const (
	jettonSymbol    = "USDT"
	jettonThreshold = 1_000_000         // 1 USDT: sweep threshold (JETTONS)
	jettonGenesis   = 1_000_000_000_000 // minted to the faucet's wallet for third-party transfers
	jettonHot       = 100_000_000_000   // minted to the hot wallet for withdrawals
)

const (
	TrafficJettonDeposit    = "jetton deposit (third-party transfer)"
	TrafficJettonWithdrawal = "jetton withdrawal (submitted twice)"
)

// jettonDeposit is a third-party jetton transfer to a deposit owner.
type jettonDeposit struct {
	owner   *address.Address
	amount  *big.Int
	hashes  [][]byte // the transactions that may credit it (internal_transfer, notification)
	forward bool
}

// jettonBalance reads a jetton wallet's balance from the chain (0 when the
// wallet does not exist).
func (d *driver) jettonBalance(ctx context.Context, owner *address.Address) (*big.Int, error) {
	jw, err := d.net.JettonWallet(ctx, d.jetton, owner)
	if err != nil {
		return nil, fmt.Errorf("jetton wallet of %s: %w", owner, err)
	}
	mc, err := d.net.API.GetMasterchainInfo(ctx)
	if err != nil {
		return nil, fmt.Errorf("masterchain info: %w", err)
	}
	acc, err := d.net.API.GetAccount(ctx, mc, jw)
	if err != nil {
		return nil, fmt.Errorf("jetton wallet %s: %w", jw, err)
	}
	if !acc.IsActive {
		return new(big.Int), nil
	}
	res, err := d.net.API.RunGetMethod(ctx, mc, jw, "get_wallet_data")
	if err != nil {
		return nil, fmt.Errorf("get_wallet_data of %s: %w", jw, err)
	}
	v, err := res.Int(0)
	if err != nil {
		return nil, fmt.Errorf("get_wallet_data of %s: %w", jw, err)
	}
	return v, nil
}

// oneJettonDeposit creates a jetton deposit address and sends it 0.2..2.9
// USDT from a third party, half of them with forward TON and a comment
// (a transfer_notification), half without (only the jetton wallet moves).
// Amounts above the threshold get swept.
func (d *driver) oneJettonDeposit(ctx context.Context) {
	d.mu.Lock()
	d.nextUser++
	user := fmt.Sprintf("soak-jetton-user-%d", d.nextUser)
	d.mu.Unlock()
	owner, err := d.newAddress(ctx, user, jettonSymbol)
	if err != nil {
		d.note("jetton deposit address for %s not created: %v", user, err)
		return
	}
	amount := big.NewInt(200_000 + d.int64n(2_700_000))
	forward, comment := new(big.Int), ""
	if d.intn(2) == 0 {
		forward = big.NewInt(10_000_000 + d.int64n(40_000_000))
		comment = "soak jetton " + user + strings.Repeat("x", d.intn(120))
	}
	fctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	tr, err := d.net.TransferJetton(fctx, d.jetton, owner, amount, forward, comment)
	if err != nil {
		d.note("jetton transfer to %s: %v", owner, err)
		return
	}
	dep := &jettonDeposit{owner: owner, amount: amount, forward: forward.Sign() > 0}
	if tr.Receive != nil {
		dep.hashes = append(dep.hashes, tr.Receive.Hash)
	}
	if tr.Notification != nil {
		dep.hashes = append(dep.hashes, tr.Notification.Hash)
	}
	d.countTraffic(TrafficJettonDeposit, 1)
	d.mu.Lock()
	d.jettonDeps = append(d.jettonDeps, dep)
	d.mu.Unlock()
}

// newAddress asks the API for a deposit address until it answers.
func (d *driver) newAddress(ctx context.Context, user, currency string) (*address.Address, error) {
	actx, cancel := context.WithTimeout(ctx, 45*time.Second)
	defer cancel()
	var addr string
	err := retry(actx, func() (bool, error) {
		st, body, raw, err := d.api.do(actx, http.MethodPost, "/v1/address/new", map[string]string{"user_id": user, "currency": currency})
		if err != nil {
			return false, err
		}
		if st != http.StatusOK {
			return !retryable(st), fmt.Errorf("address/new: %d %s", st, raw)
		}
		addr, _ = body["address"].(string)
		return true, nil
	})
	if err != nil {
		return nil, err
	}
	a, err := tonaddr.Parse(addr, config.Testnet)
	if err != nil {
		return nil, fmt.Errorf("address/new answered %q: %w", addr, err)
	}
	return a, nil
}

// newJettonWithdrawal is a jetton payout of 0.01..0.5 USDT to a fresh
// address, with a comment.
func (d *driver) newJettonWithdrawal() *withdrawal {
	d.mu.Lock()
	d.nextW++
	n := d.nextW
	d.mu.Unlock()
	w := &withdrawal{queryID: "j" + strconv.Itoa(n), dest: destAddr(d.opts.Seed, n), amount: big.NewInt(10_000 + d.int64n(490_000)),
		currency: jettonSymbol}
	w.destText = tonaddr.Format(w.dest, config.Testnet, false)
	w.comment = "soak jetton payout " + w.queryID
	d.mu.Lock()
	d.jettonWs = append(d.jettonWs, w)
	d.mu.Unlock()
	return w
}

// checkJettons: every jetton deposit is one USDT income (by one of its
// transactions, of its amount, to its owner) with a deposit event, and
// there are no other; jetton sweeps settled; every jetton withdrawal has
// one row and ends processed (the destination holds exactly the amount) or
// failed (it holds nothing); the hot wallet's jettons add up: minted +
// swept - processed.
func (d *driver) checkJettons(ctx context.Context, outbox map[string]bool, finals map[int64]string) error {
	d.mu.Lock()
	deps := append([]*jettonDeposit(nil), d.jettonDeps...)
	ws := append([]*withdrawal(nil), d.jettonWs...)
	d.mu.Unlock()
	r := d.res
	type income struct{ amount, owner string }
	incomes := map[string]income{}
	rows, err := d.db.Query(ctx, `SELECT i.tx_hash, i.amount::text, dw.workchain, dw.address
		FROM incomes i JOIN deposit_wallets dw ON dw.id = i.deposit_wallet_id WHERE i.currency = $1`, jettonSymbol)
	if err != nil {
		return fmt.Errorf("jetton incomes: %w", err)
	}
	for rows.Next() {
		var h, a []byte
		var amt string
		var wc int32
		if err := rows.Scan(&h, &amt, &wc, &a); err != nil {
			rows.Close()
			return fmt.Errorf("jetton incomes: %w", err)
		}
		incomes[hex.EncodeToString(h)] = income{amt, rawKey(wc, a)}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("jetton incomes: %w", err)
	}
	r.JettonDepositsSent, r.JettonDepositsCredited = len(deps), len(incomes)
	for _, dep := range deps {
		var found []string
		for _, h := range dep.hashes {
			if _, ok := incomes[hex.EncodeToString(h)]; ok {
				found = append(found, hex.EncodeToString(h))
			}
		}
		if len(found) != 1 {
			d.violation("jetton deposit of %s to %s (forward TON: %v) credited %d times", dep.amount, dep.owner, dep.forward, len(found))
		}
		for _, h := range found {
			in := incomes[h]
			if in.amount != dep.amount.String() || in.owner != dep.owner.StringRaw() {
				d.violation("jetton deposit %s credited as %s to %s, sent %s to %s", h, in.amount, in.owner, dep.amount, dep.owner.StringRaw())
			}
			if !outbox["deposit:"+h] {
				d.violation("credited jetton deposit has no deposit:%s event", h)
			}
			delete(incomes, h)
		}
	}
	for h, in := range incomes {
		d.violation("jetton income %s (%s) matches no jetton deposit the driver made", h, in.amount)
	}

	// Sweeps.
	swept := new(big.Int)
	rows, err = d.db.Query(ctx, `SELECT state, coalesce(received_amount, amount)::text FROM sweeps WHERE currency = $1`, jettonSymbol)
	if err != nil {
		return fmt.Errorf("jetton sweeps: %w", err)
	}
	for rows.Next() {
		var state, amt string
		if err := rows.Scan(&state, &amt); err != nil {
			rows.Close()
			return fmt.Errorf("jetton sweeps: %w", err)
		}
		switch state {
		case "confirmed":
			r.JettonSweepsConfirmed++
			v, _ := new(big.Int).SetString(amt, 10)
			swept.Add(swept, v)
		case "failed":
			r.JettonSweepsFailed++
		default:
			d.violation("jetton sweep still %s", state)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("jetton sweeps: %w", err)
	}

	// Withdrawals.
	type wrow struct {
		id            int64
		state, amount string
	}
	dbw := map[string]wrow{}
	rows, err = d.db.Query(ctx, `SELECT id, query_id, state, amount::text FROM withdrawals WHERE currency = $1`, jettonSymbol)
	if err != nil {
		return fmt.Errorf("jetton withdrawals: %w", err)
	}
	for rows.Next() {
		var x wrow
		var q string
		if err := rows.Scan(&x.id, &q, &x.state, &x.amount); err != nil {
			rows.Close()
			return fmt.Errorf("jetton withdrawals: %w", err)
		}
		dbw[q] = x
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("jetton withdrawals: %w", err)
	}
	processed := new(big.Int)
	r.JettonWithdrawalRequests = len(ws)
	for _, w := range ws {
		row, ok := dbw[w.queryID]
		delete(dbw, w.queryID)
		if w.ids[0] != 0 && w.ids[1] != 0 && w.ids[0] != w.ids[1] {
			d.violation("jetton withdrawal %s: the two submissions got ids %d and %d", w.queryID, w.ids[0], w.ids[1])
		}
		bal, err := d.jettonBalance(ctx, w.dest)
		if err != nil {
			return err
		}
		if !ok {
			if w.ids[0] != 0 || w.ids[1] != 0 {
				d.violation("jetton withdrawal %s (id %d) has no database row", w.queryID, max(w.ids[0], w.ids[1]))
			}
			if bal.Sign() != 0 {
				d.violation("jetton withdrawal %s without a row: destination holds %s", w.queryID, bal)
			}
			continue
		}
		if row.amount != w.amount.String() {
			d.violation("jetton withdrawal %s: stored amount %s, requested %s", w.queryID, row.amount, w.amount)
		}
		switch row.state {
		case "processed":
			r.JettonWithdrawalsProcessed++
			finals[row.id] = row.state
			processed.Add(processed, w.amount)
			if bal.Cmp(w.amount) != 0 {
				d.violation("jetton withdrawal %s processed: destination holds %s, want %s", w.queryID, bal, w.amount)
			}
		case "failed":
			r.JettonWithdrawalsFailed++
			finals[row.id] = row.state
			if bal.Sign() != 0 {
				d.violation("jetton withdrawal %s failed: destination holds %s", w.queryID, bal)
			}
		default:
			d.violation("jetton withdrawal %s (id %d) is still %s", w.queryID, row.id, row.state)
		}
	}
	for q, row := range dbw {
		d.violation("jetton withdrawal row %d (%s) matches no request of the driver", row.id, q)
	}
	hot, err := d.jettonBalance(ctx, d.hot)
	if err != nil {
		return err
	}
	want := new(big.Int).Add(big.NewInt(jettonHot), swept)
	want.Sub(want, processed)
	if hot.Cmp(want) != 0 {
		d.violation("hot wallet holds %s USDT units; minted %d + confirmed sweeps %s - processed withdrawals %s = %s",
			hot, jettonHot, swept, processed, want)
	}
	return nil
}
