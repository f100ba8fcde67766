package httpapi_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/xssnick/tonutils-go/address"

	"github.com/ton-custody/processor/api"
	"github.com/ton-custody/processor/internal/config"
	"github.com/ton-custody/processor/internal/httpapi"
	"github.com/ton-custody/processor/internal/tonaddr"
)

func TestDepositEndpoints(t *testing.T) {
	t.Parallel()
	a := newTestAPI(t, config.Testnet)

	// New addresses: TON, then USDT.
	tonAddr := a.ok(a.post("/v1/address/new", map[string]string{"user_id": "alice", "currency": "TON"}))
	wantKeys(t, "new address", tonAddr, "address")
	usdtAddr := a.ok(a.post("/v1/address/new", map[string]string{"user_id": "alice", "currency": "USDT"}))
	for _, m := range []map[string]any{tonAddr, usdtAddr} {
		s, _ := m["address"].(string)
		parsed, err := tonaddr.Parse(s, config.Testnet)
		if err != nil || parsed.IsBounceable() || !parsed.IsTestnetOnly() {
			t.Errorf("new address %q: %v, want a non-bounceable testnet address", s, err)
		}
	}

	all := a.ok(a.get("/v1/address/all?user_id=alice"))
	wantKeys(t, "all", all, "addresses")
	list := arr(t, all["addresses"])
	if len(list) != 2 {
		t.Fatalf("addresses %v", list)
	}
	for i, want := range []struct{ addr, cur any }{{tonAddr["address"], "TON"}, {usdtAddr["address"], "USDT"}} {
		m := obj(t, list[i])
		wantKeys(t, "address entry", m, "address", "currency")
		if m["address"] != want.addr || m["currency"] != want.cur {
			t.Errorf("address %d = %v, want %v %v", i, m, want.addr, want.cur)
		}
	}
	none := a.ok(a.get("/v1/address/all?user_id=nobody"))
	if l := arr(t, none["addresses"]); len(l) != 0 {
		t.Errorf("unknown user has addresses %v", l)
	}

	// Incomes written as the scanner would.
	var tonID, usdtID int64
	if err := a.db.QueryRow(context.Background(), `SELECT id FROM deposit_wallets WHERE user_id = 'alice' AND currency = 'TON'`).Scan(&tonID); err != nil {
		t.Fatal(err)
	}
	if err := a.db.QueryRow(context.Background(), `SELECT id FROM deposit_wallets WHERE user_id = 'alice' AND currency = 'USDT'`).Scan(&usdtID); err != nil {
		t.Fatal(err)
	}
	a.exec(`INSERT INTO incomes (deposit_wallet_id, user_id, currency, amount, source_workchain, source_address, comment, tx_hash, tx_lt, utime, mc_seqno)
	        VALUES ($1, 'alice', 'TON', 1000000, 0, $2, 'hello', $3, 1, 1680604643, 1)`, tonID, acct(0x14), acct(0x9d))
	a.exec(`INSERT INTO incomes (deposit_wallet_id, user_id, currency, amount, tx_hash, tx_lt, utime, mc_seqno)
	        VALUES ($1, 'alice', 'TON', 2, $2, 2, 1680604650, 2)`, tonID, acct(0x7d))
	a.exec(`INSERT INTO incomes (deposit_wallet_id, user_id, currency, amount, binary_comment, tx_hash, tx_lt, utime, mc_seqno)
	        VALUES ($1, 'alice', 'USDT', 1329227995784915872903807060280344575, '\xdead', $2, 3, 1680604660, 3)`, usdtID, acct(0x33))

	inc := a.ok(a.get("/v1/income?user_id=alice"))
	wantKeys(t, "income", inc, "counting_side", "total_income")
	if inc["counting_side"] != "deposit" {
		t.Errorf("counting_side %v", inc["counting_side"])
	}
	totals := arr(t, inc["total_income"])
	if len(totals) != 2 {
		t.Fatalf("total_income %v", totals)
	}
	for i, want := range []struct{ addr, amount, cur string }{
		{tonAddr["address"].(string), "1000002", "TON"},
		{usdtAddr["address"].(string), "1329227995784915872903807060280344575", "USDT"},
	} {
		m := obj(t, totals[i])
		wantKeys(t, "total", m, "deposit_address", "amount", "currency")
		wantString(t, "total", m, "deposit_address", want.addr)
		wantString(t, "total", m, "amount", want.amount)
		wantString(t, "total", m, "currency", want.cur)
	}
	emptyInc := a.ok(a.get("/v1/income?user_id=nobody"))
	if l := arr(t, emptyInc["total_income"]); len(l) != 0 {
		t.Errorf("unknown user income %v", l)
	}

	hist := a.ok(a.get("/v1/deposit/history?user_id=alice&currency=TON&limit=10&offset=0"))
	wantKeys(t, "history", hist, "incomes")
	items := arr(t, hist["incomes"])
	if len(items) != 2 {
		t.Fatalf("history %v", items)
	}
	newest, oldest := obj(t, items[0]), obj(t, items[1])
	// No source and no comment: those keys are absent.
	wantKeys(t, "newest income", newest, "deposit_address", "time", "amount", "tx_hash")
	wantKeys(t, "oldest income", oldest, "deposit_address", "time", "source_address", "amount", "comment", "tx_hash")
	wantString(t, "income", oldest, "deposit_address", tonAddr["address"].(string))
	wantString(t, "income", oldest, "source_address", friendly(0x14, false, true))
	wantString(t, "income", oldest, "amount", "1000000")
	wantString(t, "income", oldest, "comment", "hello")
	wantString(t, "income", oldest, "tx_hash", hex.EncodeToString(acct(0x9d)))
	if tm, ok := oldest["time"].(float64); !ok || tm != 1680604643 {
		t.Errorf("time %v (%T), want the number 1680604643", oldest["time"], oldest["time"])
	}
	asc := a.ok(a.get("/v1/deposit/history?user_id=alice&currency=TON&limit=1&offset=0&sort_order=asc"))
	if l := arr(t, asc["incomes"]); len(l) != 1 || obj(t, l[0])["amount"] != "1000000" {
		t.Errorf("asc page %v", l)
	}
	page2 := a.ok(a.get("/v1/deposit/history?user_id=alice&currency=TON&limit=1&offset=1&sort_order=DESC"))
	if l := arr(t, page2["incomes"]); len(l) != 1 || obj(t, l[0])["amount"] != "1000000" {
		t.Errorf("desc second page %v", l)
	}
	jh := a.ok(a.get("/v1/deposit/history?user_id=alice&currency=USDT&limit=1000&offset=0"))
	jl := arr(t, jh["incomes"])
	if len(jl) != 1 {
		t.Fatalf("USDT history %v", jl)
	}
	wantKeys(t, "binary income", jl[0], "deposit_address", "time", "amount", "binary_comment", "tx_hash")
	wantString(t, "binary income", obj(t, jl[0]), "binary_comment", "dead")

	// Upper-case hash input is accepted.
	byTx := a.ok(a.get("/v1/deposit/income?tx_hash=" + strings.ToUpper(hex.EncodeToString(acct(0x9d)))))
	wantKeys(t, "income by tx", byTx, "currency", "income")
	wantString(t, "income by tx", byTx, "currency", "TON")
	wantKeys(t, "income by tx income", byTx["income"], "deposit_address", "time", "source_address", "amount", "comment", "tx_hash")
	wantString(t, "income by tx income", obj(t, byTx["income"]), "amount", "1000000")
}

func TestWithdrawalEndpoints(t *testing.T) {
	t.Parallel()
	a := newTestAPI(t, config.Testnet)
	dest := friendly(0x77, false, true)
	body := map[string]string{"user_id": "123", "query_id": "321", "currency": "TON", "amount": "100", "destination": dest, "comment": "hello"}

	first := a.ok(a.post("/v1/withdrawal/send", body))
	wantKeys(t, "send", first, "ID")
	id, ok := first["ID"].(float64)
	if !ok || id < 1 {
		t.Fatalf("ID %v (%T), want a positive JSON number", first["ID"], first["ID"])
	}
	again := a.ok(a.post("/v1/withdrawal/send", body))
	if again["ID"] != first["ID"] {
		t.Errorf("repeat got ID %v, want %v", again["ID"], first["ID"])
	}
	changed := map[string]string{}
	for k, v := range body {
		changed[k] = v
	}
	changed["amount"] = "101"
	conflict := a.post("/v1/withdrawal/send", changed)
	if conflict.status != http.StatusConflict {
		t.Fatalf("same key, other amount: status %d %s", conflict.status, conflict.body)
	}
	wantKeys(t, "conflict", conflict.json(t), "error")
	if !strings.Contains(string(conflict.body), "different body") {
		t.Errorf("conflict message %s", conflict.body)
	}

	st := a.ok(a.get(fmt.Sprintf("/v1/withdrawal/status?id=%d", int64(id))))
	wantKeys(t, "pending status", st, "user_id", "query_id", "status")
	wantString(t, "status", st, "user_id", "123")
	wantString(t, "status", st, "query_id", "321")
	wantString(t, "status", st, "status", "pending")

	a.exec(`INSERT INTO hot_batches (query_seq, created_at_chain, timeout_seconds, signed_message, message_hash) VALUES (0, 1700000000, 60, '\x00', $1)`, acct(0x42))
	a.exec(`UPDATE withdrawals SET state = 'processing', batch_id = (SELECT id FROM hot_batches) WHERE id = $1`, int64(id))
	a.exec(`UPDATE withdrawals SET state = 'processed', tx_hash = $2 WHERE id = $1`, int64(id), acct(0x9d))
	st = a.ok(a.get(fmt.Sprintf("/v1/withdrawal/status?id=%d", int64(id))))
	wantKeys(t, "processed status", st, "user_id", "query_id", "status", "tx_hash")
	wantString(t, "status", st, "tx_hash", "9d9d9d9d9d9d9d9d9d9d9d9d9d9d9d9d9d9d9d9d9d9d9d9d9d9d9d9d9d9d9d9d")

	// Bounce flag, binary comment boundary and a failed withdrawal.
	b2 := map[string]string{"user_id": "123", "query_id": "bin", "currency": "USDT", "amount": "1329227995784915872903807060280344575",
		"destination": friendly(0x78, true, true), "binary_comment": strings.Repeat("f", 256) + "_"}
	id2 := a.ok(a.post("/v1/withdrawal/send", b2))["ID"].(float64)
	var bounce bool
	var bits int
	if err := a.db.QueryRow(context.Background(), `SELECT bounceable, length(binary_comment) FROM withdrawals WHERE id = $1`, int64(id2)).Scan(&bounce, &bits); err != nil {
		t.Fatal(err)
	}
	if !bounce || bits != 1023 {
		t.Errorf("stored bounceable %v, %d comment bits; want true, 1023", bounce, bits)
	}
	a.exec(`UPDATE withdrawals SET state = 'failed', fail_reason = 'bounced' WHERE id = $1`, int64(id2))
	st = a.ok(a.get(fmt.Sprintf("/v1/withdrawal/status?id=%d", int64(id2))))
	wantKeys(t, "failed status", st, "user_id", "query_id", "status", "reason")
	wantString(t, "failed status", st, "reason", "bounced")

	// Longest comment.
	b3 := map[string]string{"user_id": "123", "query_id": "long", "currency": "TON", "amount": "1", "destination": dest, "comment": strings.Repeat("é", 500)}
	a.ok(a.post("/v1/withdrawal/send", b3))

	// Service withdrawals need deposit addresses of ours.
	usdtDeposit := a.ok(a.post("/v1/address/new", map[string]string{"user_id": "alice", "currency": "USDT"}))["address"].(string)
	tonDeposit := a.ok(a.post("/v1/address/new", map[string]string{"user_id": "alice", "currency": "TON"}))["address"].(string)
	memoTON := a.ok(a.post("/v1/withdrawal/service/ton", map[string]string{"from": usdtDeposit}))
	wantKeys(t, "service ton", memoTON, "memo")
	memoJetton := a.ok(a.post("/v1/withdrawal/service/jetton", map[string]string{"owner": tonDeposit, "jetton_master": friendly(0x61, true, true)}))
	wantKeys(t, "service jetton", memoJetton, "memo")
	for _, m := range []map[string]any{memoTON, memoJetton} {
		memo := m["memo"].(string)
		if len(memo) != 36 {
			t.Errorf("memo %q is not a UUID", memo)
		}
		ss := a.ok(a.get("/v1/withdrawal/service/status?memo=" + memo))
		wantKeys(t, "service status", ss, "memo", "kind", "status")
		wantString(t, "service status", ss, "memo", memo)
		wantString(t, "service status", ss, "status", "pending")
	}
	if k := a.ok(a.get("/v1/withdrawal/service/status?memo=" + memoJetton["memo"].(string)))["kind"]; k != "jetton" {
		t.Errorf("kind %v", k)
	}
	a.exec(`UPDATE service_withdrawals SET state = 'processed', amount = 5, tx_hash = $2 WHERE memo = $1::uuid`, memoTON["memo"], acct(0x31))
	ss := a.ok(a.get("/v1/withdrawal/service/status?memo=" + memoTON["memo"].(string)))
	wantKeys(t, "processed service status", ss, "memo", "kind", "status", "amount", "tx_hash")
	wantString(t, "processed service status", ss, "amount", "5")
}

func TestBalance(t *testing.T) {
	t.Parallel()
	a := newTestAPI(t, config.Testnet)
	other := address.NewAddress(0, 0, acct(0x21))
	a.wallets.balances["TON/"] = big.NewInt(1000000)
	a.wallets.balances["TON/"+other.StringRaw()] = big.NewInt(42)
	a.wallets.balances["USDT/"] = big.NewInt(7)
	a.wallets.balances["USDT/"+other.StringRaw()] = big.NewInt(8)
	dest := friendly(0x77, false, true)
	for i, amt := range []string{"400", "600"} {
		a.ok(a.post("/v1/withdrawal/send", map[string]string{"user_id": "u", "query_id": fmt.Sprint(i), "currency": "TON", "amount": amt, "destination": dest}))
	}
	a.ok(a.post("/v1/withdrawal/send", map[string]string{"user_id": "u", "query_id": "j", "currency": "USDT", "amount": "3", "destination": dest}))

	tests := []struct {
		name  string
		query string
		want  map[string]string
	}{
		{"TON hot wallet", "currency=TON", map[string]string{"balance": "1000000", "status": "active", "total_processing_amount": "0", "total_pending_amount": "1000"}},
		{"TON hot wallet by address", "currency=TON&address=" + url.QueryEscape(friendly(0xAA, true, true)),
			map[string]string{"balance": "1000000", "status": "active", "total_processing_amount": "0", "total_pending_amount": "1000"}},
		{"TON other address", "currency=TON&address=" + friendly(0x21, false, true), map[string]string{"balance": "42", "status": "active"}},
		{"TON unknown account", "currency=TON&address=" + friendly(0x22, false, true), map[string]string{"balance": "0", "status": "non_exist"}},
		{"jetton hot wallet", "currency=USDT", map[string]string{"balance": "7", "total_processing_amount": "0", "total_pending_amount": "3"}},
		{"jetton other address", "currency=USDT&address=" + friendly(0x21, true, true), map[string]string{"balance": "8"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := a.ok(a.get("/v1/balance?" + tt.query))
			var want []string
			for k, v := range tt.want {
				want = append(want, k)
				wantString(t, tt.name, got, k, v)
			}
			wantKeys(t, tt.name, got, want...)
		})
	}
}

func TestInfoEndpoints(t *testing.T) {
	t.Parallel()
	a := newTestAPI(t, config.Testnet)

	// Sync needs no token.
	r := a.do(http.MethodGet, "/v1/system/sync", "", nil)
	s := a.ok(r)
	wantKeys(t, "sync", s, "is_synced", "last_block_gen_utime")
	if s["is_synced"] != false || s["last_block_gen_utime"] != float64(0) {
		t.Errorf("never scanned: %v", s)
	}
	now := time.Now().Unix()
	a.exec(`INSERT INTO scanner_cursor (mc_seqno, root_hash, file_hash, gen_utime) VALUES (5, $1, $1, $2)`, acct(1), now-2)
	s = a.ok(a.do(http.MethodGet, "/v1/system/sync", "", nil))
	if s["is_synced"] != true || s["last_block_gen_utime"] != float64(now-2) {
		t.Errorf("fresh cursor: %v", s)
	}

	res := a.ok(a.get("/v1/resolve?domain=wallet.ton"))
	wantKeys(t, "resolve", res, "address")
	wantString(t, "resolve", res, "address", friendly(0x5D, true, true))

	h := a.ok(a.do(http.MethodGet, "/healthz", "", nil))
	wantKeys(t, "healthz", h, "status")
	rd := a.ok(a.do(http.MethodGet, "/readyz", "", nil))
	wantKeys(t, "readyz", rd, "status")
	a.ready = errors.New("database: connection refused (secret detail)")
	nr := a.do(http.MethodGet, "/readyz", "", nil)
	if nr.status != http.StatusServiceUnavailable || strings.Contains(string(nr.body), "secret detail") {
		t.Errorf("not ready: %d %s", nr.status, nr.body)
	}
	wantKeys(t, "not ready", nr.json(t), "error")

	doc := a.do(http.MethodGet, "/openapi.yaml", "", nil)
	if doc.status != http.StatusOK || !bytes.Equal(doc.body, api.OpenAPI) || doc.header.Get("Content-Type") != "application/yaml" {
		t.Errorf("/openapi.yaml: %d %q, %d bytes", doc.status, doc.header.Get("Content-Type"), len(doc.body))
	}
}

func TestMainnetRefusesTestnetAddresses(t *testing.T) {
	t.Parallel()
	a := newTestAPI(t, config.Mainnet)
	r := a.post("/v1/withdrawal/send", map[string]string{"user_id": "1", "query_id": "1", "currency": "TON", "amount": "1",
		"destination": friendly(0x77, false, true)})
	if r.status != http.StatusBadRequest || !strings.Contains(string(r.body), "testnet address (testnet flag set)") {
		t.Errorf("status %d %s", r.status, r.body)
	}
	a.ok(a.post("/v1/withdrawal/send", map[string]string{"user_id": "1", "query_id": "1", "currency": "TON", "amount": "1",
		"destination": friendly(0x77, false, false)}))
	// Output carries no testnet flag on mainnet.
	res := a.ok(a.get("/v1/resolve?domain=wallet.ton"))
	wantString(t, "resolve", res, "address", friendly(0x5D, true, false))
}

func TestValidationErrors(t *testing.T) {
	t.Parallel()
	a := newTestAPI(t, config.Testnet)
	tonDeposit := a.ok(a.post("/v1/address/new", map[string]string{"user_id": "alice", "currency": "TON"}))["address"].(string)
	dest := friendly(0x77, false, true)
	send := func(edit func(map[string]any)) map[string]any {
		b := map[string]any{"user_id": "123", "query_id": "321", "currency": "TON", "amount": "100", "destination": dest}
		edit(b)
		return b
	}
	long := strings.Repeat("x", 257)
	tests := []struct {
		name   string
		method string
		target string
		body   any    // string: raw body
		want   string // part of the error message
	}{
		// Bodies.
		{"empty body", "POST", "/v1/withdrawal/send", "", "request body is empty"},
		{"invalid JSON", "POST", "/v1/withdrawal/send", `{"user_id": "1",}`, "not valid JSON"},
		{"truncated JSON", "POST", "/v1/withdrawal/send", `{"user_id": "1"`, "not valid JSON"},
		{"array body", "POST", "/v1/withdrawal/send", `[1]`, "must be a JSON object"},
		{"two objects", "POST", "/v1/address/new", `{"user_id":"1","currency":"TON"} {}`, "single JSON object"},
		{"unknown field", "POST", "/v1/withdrawal/send", send(func(b map[string]any) { b["destinaton"] = dest }), `unknown field "destinaton"`},
		{"amount as number", "POST", "/v1/withdrawal/send", send(func(b map[string]any) { b["amount"] = 100 }), `field "amount" must be a JSON string`},
		// Identifiers.
		{"missing user_id", "POST", "/v1/withdrawal/send", send(func(b map[string]any) { delete(b, "user_id") }), "user_id is required"},
		{"user_id too long", "POST", "/v1/withdrawal/send", send(func(b map[string]any) { b["user_id"] = long }), "at most 256"},
		{"user_id control character", "POST", "/v1/withdrawal/send", send(func(b map[string]any) { b["user_id"] = "a\nb" }), "control characters"},
		{"missing query_id", "POST", "/v1/withdrawal/send", send(func(b map[string]any) { b["query_id"] = "" }), "query_id is required"},
		{"query_id too long", "POST", "/v1/withdrawal/send", send(func(b map[string]any) { b["query_id"] = long }), "at most 256"},
		// Currency.
		{"missing currency", "POST", "/v1/withdrawal/send", send(func(b map[string]any) { delete(b, "currency") }), "currency is required"},
		{"unknown currency", "POST", "/v1/withdrawal/send", send(func(b map[string]any) { b["currency"] = "BTC" }), `unknown currency "BTC"`},
		{"lower-case currency", "POST", "/v1/address/new", map[string]any{"user_id": "1", "currency": "ton"}, "case-sensitive"},
		// Amounts.
		{"missing amount", "POST", "/v1/withdrawal/send", send(func(b map[string]any) { delete(b, "amount") }), "amount is empty"},
		{"fraction", "POST", "/v1/withdrawal/send", send(func(b map[string]any) { b["amount"] = "1.5" }), "decimal integer"},
		{"negative", "POST", "/v1/withdrawal/send", send(func(b map[string]any) { b["amount"] = "-1" }), "decimal integer"},
		{"leading plus", "POST", "/v1/withdrawal/send", send(func(b map[string]any) { b["amount"] = "+1" }), "decimal integer"},
		{"exponent", "POST", "/v1/withdrawal/send", send(func(b map[string]any) { b["amount"] = "1e9" }), "decimal integer"},
		{"zero", "POST", "/v1/withdrawal/send", send(func(b map[string]any) { b["amount"] = "0" }), "greater than zero"},
		{"leading zero", "POST", "/v1/withdrawal/send", send(func(b map[string]any) { b["amount"] = "0100" }), "leading zeros"},
		{"over 2^120-1", "POST", "/v1/withdrawal/send", send(func(b map[string]any) { b["amount"] = "1329227995784915872903807060280344576" }), "2^120-1"},
		// Ambiguous bodies: encoding/json would keep the last value.
		{"duplicated amount", "POST", "/v1/withdrawal/send", `{"user_id":"1","query_id":"dup","currency":"TON","amount":"100","amount":"200","destination":"` + dest + `"}`, `field "amount" appears more than once`},
		{"duplicated key differing in case", "POST", "/v1/withdrawal/send", `{"user_id":"1","query_id":"dup","currency":"TON","amount":"100","Amount":"200","destination":"` + dest + `"}`, `appears more than once`},
		{"duplicated user_id on address/new", "POST", "/v1/address/new", `{"user_id":"1","currency":"TON","user_id":"2"}`, `field "user_id" appears more than once`},
		// Addresses.
		{"missing destination", "POST", "/v1/withdrawal/send", send(func(b map[string]any) { delete(b, "destination") }), "destination is required"},
		{"raw destination", "POST", "/v1/withdrawal/send", send(func(b map[string]any) { b["destination"] = "0:" + strings.Repeat("77", 32) }), "destination is a raw address"},
		{"bad checksum", "POST", "/v1/withdrawal/send", send(func(b map[string]any) { b["destination"] = dest[:47] + "A" }), "destination has a wrong checksum"},
		{"short destination", "POST", "/v1/withdrawal/send", send(func(b map[string]any) { b["destination"] = dest[:40] }), "must be 48 characters"},
		{"destination is the hot wallet", "POST", "/v1/withdrawal/send", send(func(b map[string]any) { b["destination"] = friendly(0xAA, true, true) }), "hot wallet"},
		{"masterchain destination", "POST", "/v1/withdrawal/send", send(func(b map[string]any) {
			b["destination"] = address.NewAddress(0, 255, acct(0x42)).Bounce(true).Testnet(true).String()
		}), "only workchain 0"},
		{"destination is a deposit", "POST", "/v1/withdrawal/send", send(func(b map[string]any) { b["destination"] = tonDeposit }), "deposit address"},
		// Comments.
		{"both comments", "POST", "/v1/withdrawal/send", send(func(b map[string]any) { b["comment"], b["binary_comment"] = "hi", "ff" }), "not both"},
		{"comment too long", "POST", "/v1/withdrawal/send", send(func(b map[string]any) { b["comment"] = strings.Repeat("é", 500) + "x" }), "1001 bytes"},
		{"NUL in comment", "POST", "/v1/withdrawal/send", send(func(b map[string]any) { b["comment"] = "a\u0000b" }), "NUL"},
		{"binary comment not hex", "POST", "/v1/withdrawal/send", send(func(b map[string]any) { b["binary_comment"] = "zz" }), "invalid hex digit"},
		{"binary comment tag without 1", "POST", "/v1/withdrawal/send", send(func(b map[string]any) { b["binary_comment"] = "00_" }), "no 1 bit"},
		{"binary comment 1024 bits", "POST", "/v1/withdrawal/send", send(func(b map[string]any) { b["binary_comment"] = strings.Repeat("f", 256) }), "at most 1023"},
		// Service withdrawals.
		{"service from missing", "POST", "/v1/withdrawal/service/ton", map[string]any{}, "from is required"},
		{"service from not ours", "POST", "/v1/withdrawal/service/ton", map[string]any{"from": dest}, "not a deposit address"},
		{"service jetton bad master", "POST", "/v1/withdrawal/service/jetton", map[string]any{"owner": tonDeposit, "jetton_master": "EQxyz"}, "jetton_master must be 48"},
		{"service jetton missing owner", "POST", "/v1/withdrawal/service/jetton", map[string]any{"jetton_master": dest}, "owner is required"},
		{"memo not a UUID", "GET", "/v1/withdrawal/service/status?memo=abc", nil, "memo must be a UUID"},
		{"memo without dashes", "GET", "/v1/withdrawal/service/status?memo=123e4567e89b12d3a456426655440000", nil, "memo must be a UUID"},
		{"memo missing", "GET", "/v1/withdrawal/service/status", nil, "memo is required"},
		// Query parameters.
		{"user_id missing", "GET", "/v1/address/all", nil, "user_id is required"},
		{"misspelt parameter", "GET", "/v1/address/all?userid=1", nil, `unknown query parameter "userid" (accepted: user_id)`},
		{"repeated parameter", "GET", "/v1/income?user_id=1&user_id=2", nil, "given 2 times"},
		{"parameter on sync", "GET", "/v1/system/sync?verbose=1", nil, "takes none"},
		{"bad escape", "GET", "/v1/income?user_id=%zz", nil, "malformed query string"},
		{"history limit missing", "GET", "/v1/deposit/history?user_id=1&currency=TON&offset=0", nil, "limit is required"},
		{"history offset missing", "GET", "/v1/deposit/history?user_id=1&currency=TON&limit=5", nil, "offset is required"},
		{"history limit zero", "GET", "/v1/deposit/history?user_id=1&currency=TON&limit=0&offset=0", nil, "limit must be from 1 to 1000"},
		{"history limit 1001", "GET", "/v1/deposit/history?user_id=1&currency=TON&limit=1001&offset=0", nil, "limit must be from 1 to 1000"},
		{"history limit not a number", "GET", "/v1/deposit/history?user_id=1&currency=TON&limit=ten&offset=0", nil, "decimal integer"},
		{"history limit with plus", "GET", "/v1/deposit/history?user_id=1&currency=TON&limit=%2B5&offset=0", nil, "decimal integer"},
		{"history negative offset", "GET", "/v1/deposit/history?user_id=1&currency=TON&limit=5&offset=-1", nil, "decimal integer"},
		{"history huge offset", "GET", "/v1/deposit/history?user_id=1&currency=TON&limit=5&offset=99999999999", nil, "offset must be from 0 to 2147483647"},
		{"history sort order", "GET", "/v1/deposit/history?user_id=1&currency=TON&limit=5&offset=0&sort_order=up", nil, "sort_order must be asc or desc"},
		{"history unknown currency", "GET", "/v1/deposit/history?user_id=1&currency=XYZ&limit=5&offset=0", nil, "unknown currency"},
		{"tx_hash missing", "GET", "/v1/deposit/income", nil, "tx_hash is required"},
		{"tx_hash short", "GET", "/v1/deposit/income?tx_hash=abcd", nil, "64 hex digits"},
		{"tx_hash not hex", "GET", "/v1/deposit/income?tx_hash=" + strings.Repeat("g", 64), nil, "64 hex digits"},
		{"withdrawal id missing", "GET", "/v1/withdrawal/status", nil, "id is required"},
		{"withdrawal id zero", "GET", "/v1/withdrawal/status?id=0", nil, "id must be from 1"},
		{"withdrawal id negative", "GET", "/v1/withdrawal/status?id=-3", nil, "decimal integer"},
		{"withdrawal id too big", "GET", "/v1/withdrawal/status?id=9223372036854775808", nil, "id must be from 1"},
		{"balance currency missing", "GET", "/v1/balance", nil, "currency is required"},
		{"balance raw address", "GET", "/v1/balance?currency=TON&address=0:" + strings.Repeat("ab", 32), nil, "address is a raw address"},
		{"balance address with unescaped plus", "GET", "/v1/balance?currency=TON&address=0QCdyiS+fIV9UVfI9Phswo4l2MA-hm8YseHynZ_YiH9Y1oSe", nil, "white space"},
		{"domain missing", "GET", "/v1/resolve", nil, "domain is required"},
		{"domain with space", "GET", "/v1/resolve?domain=my+wallet.ton", nil, "printable ASCII"},
		{"domain empty label", "GET", "/v1/resolve?domain=wallet..ton", nil, "empty label"},
		{"domain too long", "GET", "/v1/resolve?domain=" + strings.Repeat("a", 127), nil, "at most 126"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var r response
			if tt.method == "POST" {
				r = a.post(tt.target, tt.body)
			} else {
				r = a.get(tt.target)
			}
			if r.status != http.StatusBadRequest {
				t.Fatalf("status %d, body %s; want 400", r.status, r.body)
			}
			m := r.json(t)
			wantKeys(t, "error", m, "error")
			if msg, _ := m["error"].(string); !strings.Contains(msg, tt.want) {
				t.Errorf("error %q does not contain %q", msg, tt.want)
			}
		})
	}
	var n int
	if err := a.db.QueryRow(context.Background(), `SELECT count(*) FROM withdrawals`).Scan(&n); err != nil || n != 0 {
		t.Errorf("%d withdrawals stored by invalid requests (%v)", n, err)
	}
}

func TestNotFound(t *testing.T) {
	t.Parallel()
	a := newTestAPI(t, config.Testnet)
	tests := []struct {
		name, method, target string
		status               int
		want                 string
	}{
		{"unknown withdrawal", "GET", "/v1/withdrawal/status?id=999", http.StatusNotFound, "no withdrawal with ID 999"},
		{"unknown income", "GET", "/v1/deposit/income?tx_hash=" + strings.Repeat("ab", 32), http.StatusNotFound, "no deposit was credited"},
		{"unknown domain", "GET", "/v1/resolve?domain=nobody.ton", http.StatusNotFound, "no wallet record"},
		{"unknown memo", "GET", "/v1/withdrawal/service/status?memo=123e4567-e89b-12d3-a456-426655440000", http.StatusNotFound, "no service withdrawal"},
		{"unknown endpoint", "GET", "/v1/nothing", http.StatusNotFound, "no endpoint GET /v1/nothing"},
		{"trailing slash", "GET", "/v1/income/", http.StatusNotFound, "no endpoint"},
		{"wrong method", "GET", "/v1/withdrawal/send", http.StatusMethodNotAllowed, "method GET is not allowed on /v1/withdrawal/send (allowed: "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := a.do(tt.method, tt.target, merchantToken, nil)
			if r.status != tt.status {
				t.Fatalf("status %d %s, want %d", r.status, r.body, tt.status)
			}
			m := r.json(t)
			wantKeys(t, "error", m, "error")
			if msg, _ := m["error"].(string); !strings.Contains(msg, tt.want) {
				t.Errorf("error %q does not contain %q", msg, tt.want)
			}
		})
	}
}

func TestAuthentication(t *testing.T) {
	t.Parallel()
	a := newTestAPI(t, config.Testnet)
	tests := []struct {
		name   string
		header string // Authorization; "" = none
		target string
		status int
		want   string
	}{
		{"missing", "", "/v1/income?user_id=1", 401, "missing Authorization header"},
		{"wrong token", "Bearer wrong", "/v1/income?user_id=1", 401, "invalid API token"},
		{"token prefix", "Bearer " + merchantToken[:10], "/v1/income?user_id=1", 401, "invalid API token"},
		{"token with suffix", "Bearer " + merchantToken + "x", "/v1/income?user_id=1", 401, "invalid API token"},
		{"basic scheme", "Basic " + merchantToken, "/v1/income?user_id=1", 401, "malformed Authorization"},
		{"scheme only", "Bearer", "/v1/income?user_id=1", 401, "malformed Authorization"},
		{"bare token", merchantToken, "/v1/income?user_id=1", 401, "malformed Authorization"},
		{"before validation", "", "/v1/deposit/history?bogus=1", 401, "missing Authorization header"},
		{"right token", "Bearer " + merchantToken, "/v1/income?user_id=1", 200, ""},
		{"second token", "Bearer " + opsToken, "/v1/income?user_id=1", 200, ""},
		{"scheme case-insensitive", "bearer " + opsToken, "/v1/income?user_id=1", 200, ""},
		{"sync without token", "", "/v1/system/sync", 200, ""},
		{"sync with a wrong token", "Bearer wrong", "/v1/system/sync", 200, ""},
		{"healthz without token", "", "/healthz", 200, ""},
		{"readyz without token", "", "/readyz", 200, ""},
		{"metrics without token", "", "/metrics", 200, ""},
		{"openapi without token", "", "/openapi.yaml", 200, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var hdr []string
			if tt.header != "" {
				hdr = []string{"Authorization", tt.header}
			}
			r := a.do(http.MethodGet, tt.target, "", nil, hdr...)
			if r.status != tt.status {
				t.Fatalf("status %d %s, want %d", r.status, r.body, tt.status)
			}
			if tt.status == 401 {
				m := r.json(t)
				wantKeys(t, "error", m, "error")
				if msg, _ := m["error"].(string); !strings.Contains(msg, tt.want) {
					t.Errorf("error %q does not contain %q", msg, tt.want)
				}
				if !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Bearer") {
					t.Errorf("WWW-Authenticate %q", r.header.Get("WWW-Authenticate"))
				}
			}
		})
	}
	logs := a.logs.String()
	for _, secret := range []string{merchantToken, opsToken, merchantToken[:10]} {
		if strings.Contains(logs, secret) {
			t.Errorf("logs contain a token: %s", logs)
		}
	}
	if !strings.Contains(logs, "token=merchant") || !strings.Contains(logs, "token=ops") {
		t.Errorf("logs do not name the tokens used:\n%s", logs)
	}
	if !strings.Contains(logs, `reason="unknown token"`) {
		t.Errorf("failed authentication not logged:\n%s", logs)
	}
}

func TestPanicIsRecovered(t *testing.T) {
	t.Parallel()
	a := newTestAPI(t, config.Testnet)
	r := a.get("/v1/address/all?user_id=panic")
	if r.status != http.StatusInternalServerError {
		t.Fatalf("status %d %s", r.status, r.body)
	}
	id := r.header.Get(httpapi.HeaderRequestID)
	m := r.json(t)
	wantKeys(t, "panic", m, "error")
	if msg := m["error"].(string); id == "" || !strings.Contains(msg, id) || strings.Contains(msg, "deliberate") {
		t.Errorf("error %q, request id %q: want the id and no panic text", msg, id)
	}
	logs := a.logs.String()
	if !strings.Contains(logs, "deliberate panic") || !strings.Contains(logs, "request_id="+id) || !strings.Contains(logs, "status=500") {
		t.Errorf("panic not logged with its request id and status:\n%s", logs)
	}
	// The server keeps serving.
	a.ok(a.get("/v1/address/all?user_id=alice"))
}

func TestInternalErrorHidesItsCause(t *testing.T) {
	t.Parallel()
	a := newTestAPI(t, config.Testnet)
	r := a.get("/v1/address/all?user_id=boom")
	if r.status != http.StatusInternalServerError {
		t.Fatalf("status %d %s", r.status, r.body)
	}
	if strings.Contains(string(r.body), "secret detail") || !strings.Contains(string(r.body), r.header.Get(httpapi.HeaderRequestID)) {
		t.Errorf("body %s", r.body)
	}
	if !strings.Contains(a.logs.String(), "secret detail") {
		t.Error("cause not logged")
	}
}

func TestRequestID(t *testing.T) {
	t.Parallel()
	a := newTestAPI(t, config.Testnet)
	r := a.do(http.MethodGet, "/healthz", "", nil, httpapi.HeaderRequestID, "client-id.42")
	if got := r.header.Get(httpapi.HeaderRequestID); got != "client-id.42" {
		t.Errorf("echoed %q", got)
	}
	if !strings.Contains(a.logs.String(), "request_id=client-id.42") {
		t.Error("incoming request id not logged")
	}
	r = a.do(http.MethodGet, "/healthz", "", nil)
	gen := r.header.Get(httpapi.HeaderRequestID)
	if len(gen) != 32 {
		t.Errorf("generated request id %q", gen)
	}
	r2 := a.do(http.MethodGet, "/healthz", "", nil)
	if r2.header.Get(httpapi.HeaderRequestID) == gen {
		t.Error("request ids repeat")
	}
	// Unsafe incoming ids are replaced, not logged.
	r = a.do(http.MethodGet, "/healthz", "", nil, httpapi.HeaderRequestID, "bad id\" injected=1")
	if got := r.header.Get(httpapi.HeaderRequestID); got == "" || strings.Contains(got, "injected") {
		t.Errorf("unsafe id kept: %q", got)
	}
	// Error answers carry it too.
	r = a.do(http.MethodGet, "/v1/income", "", nil, httpapi.HeaderRequestID, "err-id")
	if r.status != 401 || r.header.Get(httpapi.HeaderRequestID) != "err-id" {
		t.Errorf("401 answer: status %d id %q", r.status, r.header.Get(httpapi.HeaderRequestID))
	}
}

func TestBodyTooLarge(t *testing.T) {
	t.Parallel()
	a := newTestAPI(t, config.Testnet, func(o *httpapi.Options, _ *config.Config) { o.MaxBodyBytes = 1024 })
	big := `{"user_id":"` + strings.Repeat("x", 2000) + `","currency":"TON"}`
	tests := []struct {
		name    string
		chunked bool
	}{{"with Content-Length", false}, {"chunked", true}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var body io.Reader = strings.NewReader(big)
			if tt.chunked {
				body = io.MultiReader(strings.NewReader(big)) // hides the length
			}
			req, err := http.NewRequest(http.MethodPost, "/v1/address/new", body)
			if err != nil {
				t.Fatal(err)
			}
			if tt.chunked {
				req.ContentLength = -1 // as for Transfer-Encoding: chunked
			}
			req.Header.Set("Authorization", "Bearer "+merchantToken)
			rec := httptest.NewRecorder()
			a.e.ServeHTTP(rec, req)
			if rec.Code != http.StatusRequestEntityTooLarge {
				t.Fatalf("status %d %s", rec.Code, rec.Body)
			}
			m := response{body: rec.Body.Bytes()}.json(t)
			wantKeys(t, "413", m, "error")
			if !strings.Contains(m["error"].(string), "larger than 1024 bytes") {
				t.Errorf("message %v", m["error"])
			}
		})
	}
	// Just under the limit is fine.
	a.ok(a.post("/v1/address/new", map[string]string{"user_id": strings.Repeat("y", 200), "currency": "TON"}))
}

func TestMetrics(t *testing.T) {
	t.Parallel()
	a := newTestAPI(t, config.Testnet)
	a.do(http.MethodGet, "/v1/system/sync", "", nil)
	a.do(http.MethodGet, "/v1/system/sync", "", nil)
	a.do(http.MethodGet, "/v1/income", "", nil) // 401
	a.do(http.MethodGet, "/no/such/path/12345", "", nil)
	a.do("BREW", "/v1/system/sync", "", nil)
	r := a.do(http.MethodGet, "/metrics", "", nil)
	if r.status != 200 {
		t.Fatalf("status %d", r.status)
	}
	text := string(r.body)
	for _, want := range []string{
		`processor_http_requests_total{method="GET",route="/v1/system/sync",status="200"} 2`,
		`processor_http_requests_total{method="GET",route="/v1/income",status="401"} 1`,
		`processor_http_requests_total{method="GET",route="unmatched",status="404"} 1`,
		`processor_http_requests_total{method="other",route="/v1/system/sync",status="405"} 1`,
		`processor_http_request_duration_seconds_count{method="GET",route="/v1/system/sync"} 2`,
		`processor_http_request_duration_seconds_bucket{method="GET",route="/v1/system/sync",le="+Inf"} 2`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	if strings.Contains(text, "12345") {
		t.Error("a raw path leaked into the labels")
	}
}

func TestNewChecksOptions(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	cfg := &config.Config{Network: config.Testnet, APITokens: []config.APIToken{{Name: "a", Token: config.NewSecret("t")}}}
	w := &fakeWallets{}
	full := httpapi.Options{Config: cfg, Wallets: w, Resolver: fakeResolver{}, Incomes: nilIncomes{}, Withdrawals: nil,
		Sync: nilSync{}, Registerer: reg, Gatherer: reg}
	if _, err := httpapi.New(full); err == nil || !strings.Contains(err.Error(), "Withdrawals") {
		t.Errorf("missing Withdrawals: %v", err)
	}
	noTokens := full
	noTokens.Config = &config.Config{Network: config.Testnet}
	if _, err := httpapi.New(noTokens); err == nil {
		t.Error("no tokens accepted")
	}
}

type nilIncomes struct{ httpapi.Incomes }
type nilSync struct{ httpapi.Sync }

// Two API instances may share a registry (metrics are reused).
func TestTwoInstancesShareARegistry(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	for i := 0; i < 2; i++ {
		b := newTestAPI(t, config.Testnet, func(o *httpapi.Options, _ *config.Config) { o.Registerer, o.Gatherer = reg, reg })
		b.do(http.MethodGet, "/healthz", "", nil)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "processor_http_requests_total" {
			if c := mf.GetMetric()[0].GetCounter().GetValue(); c != 2 {
				t.Errorf("shared counter %v, want 2", c)
			}
			return
		}
	}
	t.Error("counter not found")
}
