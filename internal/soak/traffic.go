package soak

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/xssnick/tonutils-go/address"

	"github.com/ton-custody/processor/internal/config"
	"github.com/ton-custody/processor/internal/tonaddr"
)

// apiClient talks to the processor's HTTP API.
type apiClient struct {
	base, token string
	http        *http.Client
}

func newAPIClient(base, token string) *apiClient {
	return &apiClient{base: base, token: token, http: &http.Client{Timeout: 5 * time.Second}}
}

// do sends one request; err is a transport error (the processor is down).
func (c *apiClient) do(ctx context.Context, method, path string, body any) (status int, out map[string]any, raw string, err error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, nil, "", fmt.Errorf("encode request: %w", err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return 0, nil, "", fmt.Errorf("request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+c.token)
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, nil, "", fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, nil, "", fmt.Errorf("%s %s: read: %w", method, path, err)
	}
	_ = json.Unmarshal(b, &out)
	return resp.StatusCode, out, string(b), nil
}

// retry calls f until it reports done or ctx ends, pausing between tries
// (the processor may be killed, restarting or without its database).
func retry(ctx context.Context, f func() (done bool, err error)) error {
	var last error
	for {
		done, err := f()
		if done {
			return err
		}
		last = err
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (last: %v)", ctx.Err(), last)
		case <-time.After(300 * time.Millisecond):
		}
	}
}

// runTraffic drives deposits and withdrawals every tick, with faults when
// enabled, for opts.Duration; then stops the faults and waits for every
// request in flight.
func (d *driver) runTraffic(ctx context.Context) {
	tctx, cancel := context.WithTimeout(ctx, d.opts.Duration)
	defer cancel()
	trafficEnd := time.Now().Add(d.opts.Duration)
	var wg sync.WaitGroup
	// Requests get a deadline well past the end of traffic: they outlive a
	// processor restart but never hang the run.
	reqCtx, reqCancel := context.WithTimeout(ctx, d.opts.Duration+90*time.Second)
	defer reqCancel()
	var faults sync.WaitGroup
	if d.opts.Faults {
		faults.Add(1)
		go func() {
			defer faults.Done()
			d.faultLoop(tctx)
		}()
		if d.mq != nil {
			faults.Add(1)
			go func() {
				defer faults.Done()
				d.brokerFaultLoop(tctx)
			}()
		}
		if d.br != nil {
			faults.Add(1)
			go func() {
				defer faults.Done()
				d.bridgeFaultLoop(tctx, trafficEnd, reqCtx, &wg)
			}()
		}
	}
	tick := time.NewTicker(d.opts.Tick)
	defer tick.Stop()
	burstAt := trafficEnd.Add(-d.opts.Duration / 2)
	ticks := 0
	oversizedAt := trafficEnd.Add(-d.opts.Duration * 2 / 5)
loop:
	for {
		ticks++
		d.countTraffic(TrafficDeposit, d.opts.DepositsPerTick)
		d.countTraffic(TrafficWithdrawal, d.opts.WithdrawalsPerTick)
		if d.opts.BurstSize > 0 && !burstAt.IsZero() && time.Now().After(burstAt) {
			burstAt = time.Time{}
			d.burst(reqCtx, d.opts.BurstSize, &wg)
		}
		d.countTraffic(TrafficJettonWithdrawal, d.opts.JettonWithdrawalsPerTick)
		for range d.opts.JettonDepositsPerTick {
			wg.Add(1)
			go func() {
				defer wg.Done()
				d.oneJettonDeposit(reqCtx)
			}()
		}
		for range d.opts.JettonWithdrawalsPerTick {
			w := d.newJettonWithdrawal()
			for sub := range 2 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					d.submit(reqCtx, w, sub)
				}()
			}
		}
		if ticks%topUpEvery == 0 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				d.topUp(reqCtx, topUpAmount)
			}()
		}
		if !oversizedAt.IsZero() && time.Now().After(oversizedAt) {
			oversizedAt = time.Time{}
			wg.Add(1)
			go func() {
				defer wg.Done()
				// Pending for a while, then payable; the wait stays well
				// inside the traffic.
				d.oneOversized(reqCtx, min(10*time.Second, d.opts.Duration/5))
			}()
		}
		if ticks%d.opts.MasterchainEvery == 0 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				d.oneMasterchain(reqCtx)
			}()
		}
		for range d.opts.DepositsPerTick {
			wg.Add(1)
			go func() {
				defer wg.Done()
				d.oneDeposit(reqCtx)
			}()
		}
		for range d.opts.WithdrawalsPerTick {
			w := d.newWithdrawal()
			for sub := range 2 { // each request is submitted twice, concurrently
				wg.Add(1)
				go func() {
					defer wg.Done()
					d.submit(reqCtx, w, sub)
				}()
			}
		}
		if d.br != nil {
			d.countTraffic(TrafficBridge, d.opts.BridgePerTick)
			for range d.opts.BridgePerTick {
				wg.Add(1)
				go func() {
					defer wg.Done()
					d.oneBridgePayment(reqCtx)
				}()
			}
		}
		select {
		case <-tctx.Done():
			break loop
		case <-tick.C:
		}
	}
	faults.Wait()
	if d.br != nil {
		d.clearProviderFaults()
	}
	d.net.ClearFaults()
	d.hook.up()
	d.brokerUp()
	d.logf("traffic stopped; waiting for requests in flight")
	wg.Wait()
}

// oneDeposit creates a deposit address (or reuses one, a second deposit to
// an address that may have been swept meanwhile) and funds it from the
// faucet. Half the deposits are above the sweep threshold.
func (d *driver) oneDeposit(ctx context.Context) {
	var to *depositAddr
	d.mu.Lock()
	if len(d.depAddrs) > 3 && d.intn(5) == 0 {
		to = d.depAddrs[d.intn(len(d.depAddrs))]
	}
	d.nextUser++
	user := fmt.Sprintf("soak-user-%d", d.nextUser)
	d.mu.Unlock()
	if to == nil {
		actx, cancel := context.WithTimeout(ctx, 45*time.Second)
		var addr string
		err := retry(actx, func() (bool, error) {
			st, body, raw, err := d.api.do(actx, http.MethodPost, "/v1/address/new", map[string]string{"user_id": user, "currency": "TON"})
			if err != nil {
				return false, err
			}
			if st != http.StatusOK {
				return !retryable(st), fmt.Errorf("address/new: %d %s", st, raw)
			}
			addr, _ = body["address"].(string)
			return true, nil
		})
		cancel()
		if err != nil {
			d.count(&d.res.DepositAddrFailures)
			d.note("deposit address for %s not created: %v", user, err)
			return
		}
		a, err := tonaddr.Parse(addr, config.Testnet)
		if err != nil {
			d.violation("address/new answered %q: %v", addr, err)
			return
		}
		to = &depositAddr{user: user, addr: a}
		d.mu.Lock()
		d.depAddrs = append(d.depAddrs, to)
		d.mu.Unlock()
	}
	// 0.2..0.9 TON (stays) or 1.2..2.9 TON (swept), odd nanoton so every
	// amount is distinct.
	amount := big.NewInt(200_000_000 + d.int64n(700_000_000))
	if d.intn(2) == 0 {
		amount = big.NewInt(1_200_000_000 + d.int64n(1_700_000_000))
	}
	fctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	tx, err := d.net.Faucet(fctx, to.addr, amount, false, "soak deposit")
	if err != nil {
		d.note("faucet to %s: %v", to.addr, err)
		return
	}
	d.mu.Lock()
	d.deposits = append(d.deposits, &deposit{to: to, amount: amount, txHash: tx.Hash})
	d.mu.Unlock()
}

// destAddr is a fresh, never used address derived from the seed and n.
func destAddr(seed int64, n int) *address.Address {
	h := sha256.Sum256([]byte(fmt.Sprint("soak-destination-", seed, "-", n)))
	return address.NewAddress(0, 0, h[:])
}

// newWithdrawal records a new request: a fresh destination, 0.01..0.5 TON;
// one in six is bounceable to that nonexistent account, so TON bounces it
// and the withdrawal must fail with the money back.
func (d *driver) newWithdrawal() *withdrawal {
	d.mu.Lock()
	d.nextW++
	n := d.nextW
	d.mu.Unlock()
	w := &withdrawal{queryID: "q" + strconv.Itoa(n), dest: destAddr(d.opts.Seed, n), bounceable: d.intn(6) == 0,
		amount: big.NewInt(10_000_000 + d.int64n(490_000_000))}
	w.destText = tonaddr.Format(w.dest, config.Testnet, w.bounceable)
	d.mu.Lock()
	d.withdrawals = append(d.withdrawals, w)
	d.mu.Unlock()
	return w
}

// submit sends one submission of w until the API answers.
func (d *driver) submit(ctx context.Context, w *withdrawal, sub int) {
	currency := w.currency
	if currency == "" {
		currency = "TON"
	}
	body := map[string]string{"user_id": withdrawUser, "query_id": w.queryID, "currency": currency,
		"amount": w.amount.String(), "destination": w.destText, "comment": "soak " + w.queryID}
	if w.comment != "" {
		body["comment"] = w.comment
	}
	var id int64
	err := retry(ctx, func() (bool, error) {
		st, out, raw, err := d.api.do(ctx, http.MethodPost, "/v1/withdrawal/send", body)
		if err != nil {
			return false, err
		}
		if retryable(st) {
			return false, fmt.Errorf("withdrawal/send: %d %s", st, raw)
		}
		if st != http.StatusOK {
			return true, fmt.Errorf("withdrawal/send answered %d: %s", st, raw)
		}
		f, ok := out["ID"].(float64)
		if !ok || f <= 0 {
			return true, fmt.Errorf("withdrawal/send: no ID in %s", raw)
		}
		id = int64(f)
		return true, nil
	})
	d.count(&d.res.Submissions)
	d.mu.Lock()
	defer d.mu.Unlock()
	if err != nil {
		w.errs = append(w.errs, err.Error())
		return
	}
	w.ids[sub] = id
}

// retryable reports an answer to send again: a server error (the processor
// or its database is down) or 429, the API's rate limit pushing back (a
// burst of withdrawals exceeds API_RATE_BURST; a client backs off and
// retries).
func retryable(status int) bool {
	return status >= 500 || status == http.StatusTooManyRequests
}
