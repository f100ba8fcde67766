package app_test

import (
	"context"
	"fmt"
	"math/big"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ton-custody/processor/internal/config"
	"github.com/ton-custody/processor/internal/store/storetest"
	"github.com/ton-custody/processor/internal/tonaddr"
)

// Requests that no wallet could ever pay are refused with 400 instead of
// sitting pending forever: an amount above what can exist of the currency
// (TON's ceiling, a jetton's total_supply read from its master, re-read
// after a mint), and a service jetton withdrawal naming a deployed
// contract that is not a jetton master.
func TestRequestsThatCanNeverBePaidAreRefusedWith400(t *testing.T) {
	t.Parallel()
	n, j := newNetwork(t)
	p := startProcessor(t, n, baseEnv(t, n, j, storetest.NewDBURL(t)))
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	seq := 0
	send := func(currency, amount string) response {
		seq++
		return p.do("POST", "/v1/withdrawal/send", map[string]any{"user_id": "u", "query_id": fmt.Sprint("q", seq),
			"currency": currency, "amount": amount, "destination": dest("ceiling", seq, false)}, true)
	}
	refused := func(r response, what string) {
		t.Helper()
		if r.status != http.StatusBadRequest || !strings.Contains(r.raw, "more than can exist") {
			t.Fatalf("%s: status %d %s, want 400 'more than can exist'", what, r.status, r.raw)
		}
	}
	refused(send("TON", "1329227995784915872903807060280344575"), "2^120-ish nanoton")
	refused(send("TON", "1"+strings.Repeat("0", 27)), "10^18 TON")
	p.ok(send("TON", "1000000000000000000")) // 10^9 TON: less than exists

	tonAddr, tonDep := p.newAddress(t, "u", "TON")
	if _, err := n.Mint(ctx, j.Master, tonDep, big.NewInt(5_000_000)); err != nil {
		t.Fatal(err)
	}
	supply, err := p.app.Chain.JettonTotalSupply(ctx, j.Master)
	if err != nil || supply.Sign() <= 0 {
		t.Fatalf("total supply %v, %v", supply, err)
	}
	above := new(big.Int).Add(supply, big.NewInt(1)).String()
	refused(send("USDT", above), "total_supply + 1")
	p.ok(send("USDT", supply.String()))
	// After a mint the same amount exists: the cached supply is re-read
	// before refusing.
	if _, err := n.Mint(ctx, j.Master, tonDep, big.NewInt(10)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "the mint to be readable", func() bool {
		s, err := p.app.Chain.JettonTotalSupply(ctx, j.Master)
		return err == nil && s.Cmp(supply) > 0
	})
	p.ok(send("USDT", above))

	// A deployed contract that is not a jetton master (the deposit's own
	// jetton wallet: get_wallet_address exits with code 11).
	jw, err := n.JettonWallet(ctx, j.Master, tonDep)
	if err != nil {
		t.Fatal(err)
	}
	r := p.do("POST", "/v1/withdrawal/service/jetton", map[string]string{"owner": tonAddr,
		"jetton_master": tonaddr.Format(jw, config.Testnet, true)}, true)
	if r.status != http.StatusBadRequest || !strings.Contains(r.raw, "not a jetton master") {
		t.Fatalf("service jetton with a jetton wallet as master: %d %s, want 400 'not a jetton master'", r.status, r.raw)
	}
}
