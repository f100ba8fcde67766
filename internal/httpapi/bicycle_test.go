package httpapi_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ton-custody/processor/internal/config"
	"github.com/ton-custody/processor/internal/httpapi"
	bc "github.com/ton-custody/processor/internal/httpapi/bicycleclient"
	"github.com/ton-custody/processor/internal/tonaddr"
)

// Under the bicycle profile answers deliberately differ from
// api/openapi.yaml, so these tests do not go through the OpenAPI check
// (testAPI.serve); they check bicycle's shapes instead, with the strict
// client of package bicycleclient or field by field.

func bicycleProfile(_ *httpapi.Options, c *config.Config) { c.APICompat = config.CompatBicycle }

// client returns a bicycle client over a real HTTP server of the API.
func (a *testAPI) bicycleClient() *bc.Client {
	a.t.Helper()
	srv := httptest.NewServer(a.e)
	a.t.Cleanup(srv.Close)
	return &bc.Client{BaseURL: srv.URL, Token: merchantToken}
}

// raw sends a request as is, with the merchant token, bypassing the
// OpenAPI check.
func (a *testAPI) raw(method, target, body string) response {
	a.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req := httptest.NewRequest(method, target, rd)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Authorization", "Bearer "+merchantToken)
	rec := httptest.NewRecorder()
	a.e.ServeHTTP(rec, req)
	return response{status: rec.Code, header: rec.Header(), body: rec.Body.Bytes()}
}

// bicycleScenario is a merchant integration written against bicycle
// (deposit addresses, deposits, withdrawals, balances) driving the API.
// It returns what went wrong for that integration instead of failing, so
// it can be run on either profile.
func bicycleScenario(t *testing.T, a *testAPI) []string {
	t.Helper()
	ctx := context.Background()
	c := a.bicycleClient()
	var problems []string
	fail := func(step string, err error) bool {
		if err != nil {
			problems = append(problems, step+": "+err.Error())
		}
		return err != nil
	}

	newAddress := func(currency string) string {
		addr, err := c.NewAddress(ctx, "alice", currency)
		if fail("address/new "+currency, err) { // go on with one made directly
			if addr, err = a.wallets.NewAddress(ctx, "alice", currency); err != nil {
				t.Fatal(err)
			}
		}
		return addr
	}
	tonDep, usdtDep := newAddress("TON"), newAddress("USDT")
	if list, err := c.Addresses(ctx, "alice"); !fail("address/all", err) && len(list) != 2 {
		fail("address/all", fmt.Errorf("%d addresses, want 2", len(list)))
	}

	// Deposits as the scanner records them: one with a sender and a
	// comment, one with only a binary payload (bicycle shows no comment).
	var tonID, usdtID int64
	_ = a.db.QueryRow(ctx, `SELECT id FROM deposit_wallets WHERE user_id = 'alice' AND currency = 'TON'`).Scan(&tonID)
	_ = a.db.QueryRow(ctx, `SELECT id FROM deposit_wallets WHERE user_id = 'alice' AND currency = 'USDT'`).Scan(&usdtID)
	a.exec(`INSERT INTO incomes (deposit_wallet_id, user_id, currency, amount, source_workchain, source_address, comment, tx_hash, tx_lt, utime, mc_seqno)
	        VALUES ($1, 'alice', 'TON', 1000000, 0, $2, 'hello', $3, 1, 1680604643, 1)`, tonID, acct(0x14), acct(0x9d))
	a.exec(`INSERT INTO incomes (deposit_wallet_id, user_id, currency, amount, binary_comment, tx_hash, tx_lt, utime, mc_seqno)
	        VALUES ($1, 'alice', 'USDT', 77, '\xdead', $2, 2, 1680604660, 2)`, usdtID, acct(0x33))

	if hist, err := c.History(ctx, "alice", "TON", 10000, 0, ""); !fail("deposit/history limit 10000", err) {
		if len(hist) != 1 || hist[0].Amount != "1000000" || hist[0].Comment != "hello" || hist[0].DepositAddress != tonDep {
			fail("deposit/history", fmt.Errorf("got %+v", hist))
		} else if src, err := tonaddr.Parse(hist[0].SourceAddress, config.Testnet); err != nil || !src.IsBounceable() {
			fail("deposit/history", fmt.Errorf("source_address %q is not bounceable (bicycle's form)", hist[0].SourceAddress))
		}
	}
	if hist, err := c.History(ctx, "alice", "TON", 0, 0, "asc"); !fail("deposit/history limit 0", err) && len(hist) != 0 {
		fail("deposit/history limit 0", fmt.Errorf("%d incomes, want none", len(hist)))
	}
	if cur, in, err := c.IncomeByTx(ctx, hex.EncodeToString(acct(0x33))); !fail("deposit/income", err) &&
		(cur != "USDT" || in.Amount != "77" || in.DepositAddress != usdtDep || in.Comment != "") {
		fail("deposit/income", fmt.Errorf("%s %+v", cur, in))
	}
	if inc, err := c.Income(ctx, "alice"); !fail("income", err) && (inc.CountingSide != "deposit" || len(inc.TotalIncome) != 2) {
		fail("income", fmt.Errorf("%+v", inc))
	}

	// Withdrawals: the amount as a JSON number.
	w := bc.WithdrawalRequest{UserID: "alice", QueryID: "w1", Currency: "TON", Amount: "1000000",
		Destination: friendly(0x77, false, true), Comment: "payout"}
	id, err := c.SendWithdrawal(ctx, w)
	if !fail("withdrawal/send", err) {
		// bicycle refused a repeated (user_id, query_id); ours gives the
		// same ID for the same request, which such a client takes as success.
		if again, err := c.SendWithdrawal(ctx, w); !fail("withdrawal/send repeated", err) && again != id {
			fail("withdrawal/send repeated", fmt.Errorf("ID %d, want %d", again, id))
		}
		if st, err := c.WithdrawalStatus(ctx, id); !fail("withdrawal/status", err) && (st.Status != "pending" || st.QueryID != "w1") {
			fail("withdrawal/status", fmt.Errorf("%+v", st))
		}
		a.exec(`UPDATE withdrawals SET state = 'failed', fail_reason = 'bounced: test' WHERE id = $1`, id)
		if st, err := c.WithdrawalStatus(ctx, id); !fail("withdrawal/status failed", err) && st.Status != "failed" {
			fail("withdrawal/status failed", fmt.Errorf("%+v", st))
		}
	}
	if _, err := c.WithdrawalStatus(ctx, 987654); bc.StatusOf(err) != http.StatusBadRequest {
		fail("withdrawal/status unknown ID", fmt.Errorf("%v, want bicycle's 400", err))
	}
	if _, err := c.ServiceTON(ctx, usdtDep); err != nil {
		fail("withdrawal/service/ton", err)
	}
	if _, err := c.ServiceJetton(ctx, tonDep, friendly(0x61, true, true)); err != nil {
		fail("withdrawal/service/jetton", err)
	}

	// Information.
	if b, err := c.Balance(ctx, "TON", ""); !fail("balance", err) && (b.Balance == "" || b.TotalPendingAmount == "") {
		fail("balance", fmt.Errorf("%+v", b))
	}
	if b, err := c.Balance(ctx, "TON", tonDep); !fail("balance of an address", err) && (b.TotalPendingAmount != "" || b.Status == "") {
		fail("balance of an address", fmt.Errorf("%+v: bicycle gives balance and status only", b))
	}
	if _, err := c.Resolve(ctx, "wallet.ton"); err != nil {
		fail("resolve", err)
	}
	if _, err := c.Sync(ctx); err != nil {
		fail("system/sync", err)
	}
	if err := c.Do(ctx, http.MethodPost, "/v1/withdrawal/status", nil, map[string]any{}, nil); bc.StatusOf(err) != http.StatusBadRequest {
		fail("wrong method", fmt.Errorf("%v, want bicycle's 400", err))
	}
	return problems
}

// The bicycle integration works under API_COMPAT=bicycle, and does not
// under the default profile (which is why the profile exists).
func TestBicycleClientNeedsTheProfile(t *testing.T) {
	t.Parallel()
	t.Run("bicycle", func(t *testing.T) {
		t.Parallel()
		if problems := bicycleScenario(t, newTestAPI(t, config.Testnet, bicycleProfile)); len(problems) > 0 {
			t.Errorf("a bicycle client fails under API_COMPAT=bicycle:\n%s", strings.Join(problems, "\n"))
		}
	})
	t.Run("default", func(t *testing.T) {
		t.Parallel()
		problems := bicycleScenario(t, newTestAPI(t, config.Testnet))
		for _, step := range []string{"address/new TON", "deposit/history limit 10000", "withdrawal/send", "wrong method"} {
			if !strings.Contains(strings.Join(problems, "\n"), step+": ") {
				t.Errorf("the default profile passes %q for a bicycle client; problems: %q", step, problems)
			}
		}
	})
}

func TestBicycleAmountAsJSONNumber(t *testing.T) {
	t.Parallel()
	a := newTestAPI(t, config.Testnet, bicycleProfile)
	plain := newTestAPI(t, config.Testnet)
	dest := friendly(0x77, false, true)
	for i, tt := range []struct {
		amount string // raw JSON
		stored string // "" = refused with 400 and a message containing why
		why    string
	}{
		{`1000000`, "1000000", ""},
		{`"1000000"`, "1000000", ""},
		{`1e9`, "1000000000", ""},
		{`1.5E3`, "1500", ""},
		{`100e-2`, "1", ""},
		{`1.000`, "1", ""},
		{`9007199254740991`, "9007199254740991", ""},
		{`1.5`, "", "has a fraction"},
		{`0.999999999999999999999`, "", "has a fraction"},
		{`1e-3`, "", "exponent leaves a fraction"},
		{`15e-1`, "", "exponent leaves a fraction"},
		{`9007199254740992`, "", "2^53-1"},
		{`123456789012345678901234567890`, "", "2^53-1"},
		{`1e16`, "", "2^53-1"},
		{`1e999999999999`, "", "2^53-1"},
		{`1e-999999999999`, "", "fraction"},
		{`0`, "", "greater than zero"},
		{`0e5`, "", "greater than zero"},
		{`-0`, "", "greater than zero"},
		{`-5`, "", "greater than zero"},
		{`null`, "", "empty"},
		{`true`, "", "JSON string or number"},
		{`{}`, "", "JSON string or number"},
		{`"1.5"`, "", "digits only"}, // strings stay strict: bicycle would truncate
		{`"1e9"`, "", "digits only"},
	} {
		body := fmt.Sprintf(`{"user_id":"u","query_id":"q%d","currency":"TON","amount":%s,"destination":%q}`, i, tt.amount, dest)
		r := a.raw(http.MethodPost, "/v1/withdrawal/send", body)
		if tt.stored == "" {
			if r.status != http.StatusBadRequest || !strings.Contains(string(r.body), tt.why) {
				t.Errorf("amount %s: %d %s, want 400 saying %q", tt.amount, r.status, r.body, tt.why)
			}
			continue
		}
		if r.status != http.StatusOK {
			t.Errorf("amount %s: %d %s", tt.amount, r.status, r.body)
			continue
		}
		var stored string
		if err := a.db.QueryRow(context.Background(), `SELECT amount::text FROM withdrawals WHERE query_id = $1`, fmt.Sprint("q", i)).Scan(&stored); err != nil || stored != tt.stored {
			t.Errorf("amount %s stored as %q (%v), want %s", tt.amount, stored, err, tt.stored)
		}
	}
	// A number and the same amount as a string are the same request.
	first := a.raw(http.MethodPost, "/v1/withdrawal/send", `{"user_id":"u","query_id":"same","currency":"TON","amount":250,"destination":"`+dest+`"}`)
	second := a.raw(http.MethodPost, "/v1/withdrawal/send", `{"user_id":"u","query_id":"same","currency":"TON","amount":"250","destination":"`+dest+`"}`)
	if first.status != http.StatusOK || string(first.body) != string(second.body) {
		t.Errorf("number then string: %d %s, %d %s; want the same ID", first.status, first.body, second.status, second.body)
	}
	other := a.raw(http.MethodPost, "/v1/withdrawal/send", `{"user_id":"u","query_id":"same","currency":"TON","amount":251,"destination":"`+dest+`"}`)
	if other.status != http.StatusConflict {
		t.Errorf("same key, other amount: %d %s, want ours (409)", other.status, other.body)
	}
	// The default profile takes strings only.
	if r := plain.post("/v1/withdrawal/send", `{"user_id":"u","query_id":"n","currency":"TON","amount":1000000,"destination":"`+dest+`"}`); r.status != http.StatusBadRequest {
		t.Errorf("default profile, amount as a number: %d %s", r.status, r.body)
	}
}

// Unknown fields and query parameters are ignored under the profile (and
// refused by default); a key given twice and a parameter given twice are
// refused by both.
func TestBicycleIgnoresUnknownFieldsAndQueryParameters(t *testing.T) {
	t.Parallel()
	a := newTestAPI(t, config.Testnet, bicycleProfile)
	plain := newTestAPI(t, config.Testnet)
	dep := a.ok(a.raw(http.MethodPost, "/v1/address/new", `{"user_id":"u","currency":"USDT","label":"x","n":1}`))["address"].(string)
	tonDep := a.ok(a.raw(http.MethodPost, "/v1/address/new", `{"user_id":"u","currency":"TON","extra":{"a":[1]}}`))["address"].(string)
	for _, tt := range []struct{ path, body string }{
		{"/v1/withdrawal/send", `{"user_id":"u","query_id":"1","currency":"TON","amount":"5","destination":"` + friendly(0x77, false, true) + `","memo":"x"}`},
		{"/v1/withdrawal/service/ton", `{"from":"` + dep + `","why":"x"}`},
		{"/v1/withdrawal/service/jetton", `{"owner":"` + tonDep + `","jetton_master":"` + friendly(0x61, true, true) + `","x":null}`},
	} {
		if r := a.raw(http.MethodPost, tt.path, tt.body); r.status != http.StatusOK {
			t.Errorf("bicycle %s with an unknown field: %d %s", tt.path, r.status, r.body)
		}
		if r := plain.raw(http.MethodPost, tt.path, tt.body); r.status != http.StatusBadRequest {
			t.Errorf("default %s with an unknown field: %d %s", tt.path, r.status, r.body)
		}
	}
	for _, body := range []string{
		`{"user_id":"u","currency":"TON","currency":"USDT"}`,
		`{"user_id":"u","currency":"TON","x":1,"x":2}`,
	} {
		if r := a.raw(http.MethodPost, "/v1/address/new", body); r.status != http.StatusBadRequest || !strings.Contains(string(r.body), "more than once") {
			t.Errorf("duplicate key %s: %d %s", body, r.status, r.body)
		}
	}
	for _, target := range []string{
		"/v1/address/all?user_id=u&_=1", "/v1/income?user_id=u&_=1", "/v1/balance?currency=TON&_=1",
		"/v1/deposit/history?user_id=u&currency=TON&limit=1&offset=0&_=1&_=2", "/v1/resolve?domain=wallet.ton&cb=x",
		"/v1/system/sync?_=1", "/v1/withdrawal/status?id=1&_=1",
	} {
		if r := a.raw(http.MethodGet, target, ""); r.status != http.StatusOK {
			t.Errorf("bicycle %s: %d %s", target, r.status, r.body)
		}
		if r := plain.raw(http.MethodGet, target, ""); r.status != http.StatusBadRequest {
			t.Errorf("default %s: %d %s", target, r.status, r.body)
		}
	}
	if r := a.raw(http.MethodGet, "/v1/address/all?user_id=u&user_id=v", ""); r.status != http.StatusBadRequest {
		t.Errorf("repeated user_id: %d %s", r.status, r.body)
	}
}

func TestBicycleStatusCodes(t *testing.T) {
	t.Parallel()
	a := newTestAPI(t, config.Testnet, bicycleProfile)
	plain := newTestAPI(t, config.Testnet)
	for _, tt := range []struct {
		method, target string
		status, plain  int
	}{
		{http.MethodGet, "/v1/withdrawal/status?id=999", http.StatusBadRequest, http.StatusNotFound},
		{http.MethodPost, "/v1/address/all", http.StatusBadRequest, http.StatusMethodNotAllowed},
	} {
		if r := plain.raw(tt.method, tt.target, ""); r.status != tt.plain {
			t.Errorf("default %s %s: %d %s, want %d", tt.method, tt.target, r.status, r.body, tt.plain)
		}
	}
	for _, tt := range []struct {
		method, target string
		status         int
		text           string
	}{
		{http.MethodGet, "/v1/withdrawal/status?id=999", http.StatusBadRequest, "request ID not found (no withdrawal with ID 999)"},
		{http.MethodPost, "/v1/address/all", http.StatusBadRequest, "not allowed"},
		{http.MethodHead, "/v1/system/sync", http.StatusBadRequest, ""},
		{http.MethodGet, "/v1/deposit/income?tx_hash=" + hex.EncodeToString(acct(1)), http.StatusNotFound, "no deposit"},
		{http.MethodGet, "/v1/resolve?domain=nobody.ton", http.StatusNotFound, "no wallet record"},
		{http.MethodGet, "/v1/withdrawal/service/status?memo=123e4567-e89b-12d3-a456-426655440000", http.StatusNotFound, ""},
		{http.MethodGet, "/v1/nothing", http.StatusNotFound, "no endpoint"},
	} {
		r := a.raw(tt.method, tt.target, "")
		if r.status != tt.status || !strings.Contains(string(r.body), tt.text) {
			t.Errorf("%s %s: %d %s, want %d %q", tt.method, tt.target, r.status, r.body, tt.status, tt.text)
		}
		if tt.method != http.MethodHead {
			wantKeys(t, tt.target, r.json(t), "error")
		}
	}
	// The router checks the method before the token (bicycle: the token
	// first, 401); documented in the README.
	req := httptest.NewRequest(http.MethodPost, "/v1/address/all", nil)
	req.Header.Set("Authorization", "Bearer wrong-token-0123456789")
	rec := httptest.NewRecorder()
	a.e.ServeHTTP(rec, req)
	if rec.Code != http.StatusBadRequest {
		t.Errorf("wrong method and token: %d %s", rec.Code, rec.Body)
	}
}

// History: any limit, 0 gives nothing, negatives are 400 (bicycle: 500),
// and large limits are served page by page in the right order.
func TestBicycleHistoryLimits(t *testing.T) {
	t.Parallel()
	a := newTestAPI(t, config.Testnet, bicycleProfile)
	a.ok(a.raw(http.MethodPost, "/v1/address/new", `{"user_id":"u","currency":"TON"}`))
	a.ok(a.raw(http.MethodPost, "/v1/address/new", `{"user_id":"u","currency":"TON"}`))
	// 2345 incomes over two deposits, three per second, so pages split ties.
	a.exec(`INSERT INTO incomes (deposit_wallet_id, user_id, currency, amount, tx_hash, tx_lt, utime, mc_seqno)
	        SELECT (SELECT min(id) FROM deposit_wallets) + n % 2, 'u', 'TON', n, sha256(int8send(n)), n, 1000 + n / 3, 1
	        FROM generate_series(1, 2345) AS n`)
	amounts := func(target string) []string {
		t.Helper()
		r := a.raw(http.MethodGet, target, "")
		if r.status != http.StatusOK || r.header.Get("Content-Type") != "application/json" {
			t.Fatalf("%s: %d %q %.200s", target, r.status, r.header.Get("Content-Type"), r.body)
		}
		var out struct {
			Incomes []bc.Deposit `json:"incomes"`
		}
		dec := json.NewDecoder(bytes.NewReader(r.body))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&out); err != nil || out.Incomes == nil {
			t.Fatalf("%s: %v %.200s", target, err, r.body)
		}
		s := make([]string, len(out.Incomes))
		for i, in := range out.Incomes {
			s[i] = in.Amount
		}
		return s
	}
	seq := func(from, to int) []string { // from..to, counting down when from > to
		var s []string
		for i := from; ; {
			s = append(s, fmt.Sprint(i))
			if i == to {
				return s
			}
			if from > to {
				i--
			} else {
				i++
			}
		}
	}
	h := "/v1/deposit/history?user_id=u&currency=TON"
	for _, tt := range []struct {
		query string
		want  []string
	}{
		{"&limit=0&offset=0", nil},
		{"&limit=3&offset=0", seq(2345, 2343)},
		{"&limit=1000&offset=0", seq(2345, 1346)},
		{"&limit=1001&offset=0", seq(2345, 1345)},
		{"&limit=2345&offset=0", seq(2345, 1)},
		{"&limit=100000&offset=0", seq(2345, 1)},
		{"&limit=9223372036854775807&offset=10&sort_order=ASC", seq(11, 2345)},
		{"&limit=1500&offset=1200&sort_order=asc", seq(1201, 2345)},
		{"&limit=2000&offset=2345", nil},
		{"&limit=5&offset=9223372036854775807", nil},
		{"&limit=%2B2&offset=0", seq(2345, 2344)},
	} {
		got := amounts(h + tt.query)
		if strings.Join(got, ",") != strings.Join(tt.want, ",") {
			t.Errorf("%s: %d incomes %.80v..., want %d %.80v...", tt.query, len(got), got, len(tt.want), tt.want)
		}
	}
	for _, q := range []string{"&limit=-1&offset=0", "&limit=10&offset=-1", "&limit=abc&offset=0", "&offset=0", "&limit=1",
		"&limit=1.5&offset=0", "&limit=99999999999999999999&offset=0"} {
		if r := a.raw(http.MethodGet, h+q, ""); r.status != http.StatusBadRequest {
			t.Errorf("%s: %d %s, want 400", q, r.status, r.body)
		}
	}
}

// On testnet bicycle takes mainnet-form addresses; on mainnet the testnet
// flag is refused under both profiles.
func TestBicycleAddressForms(t *testing.T) {
	t.Parallel()
	a := newTestAPI(t, config.Testnet, bicycleProfile)
	plain := newTestAPI(t, config.Testnet)
	body := `{"user_id":"u","query_id":"1","currency":"TON","amount":"5","destination":"` + friendly(0x77, true, false) + `"}`
	if r := a.raw(http.MethodPost, "/v1/withdrawal/send", body); r.status != http.StatusOK {
		t.Errorf("bicycle testnet, mainnet-form destination: %d %s", r.status, r.body)
	}
	if r := plain.raw(http.MethodPost, "/v1/withdrawal/send", body); r.status != http.StatusBadRequest {
		t.Errorf("default testnet, mainnet-form destination: %d %s", r.status, r.body)
	}
	main := newTestAPI(t, config.Mainnet, bicycleProfile)
	body = `{"user_id":"u","query_id":"1","currency":"TON","amount":"5","destination":"` + friendly(0x77, true, true) + `"}`
	if r := main.raw(http.MethodPost, "/v1/withdrawal/send", body); r.status != http.StatusBadRequest {
		t.Errorf("bicycle mainnet, testnet destination: %d %s", r.status, r.body)
	}
	if r := a.raw(http.MethodGet, "/v1/balance?currency=TON&address="+url.QueryEscape("0:"+hex.EncodeToString(acct(1))), ""); r.status != http.StatusBadRequest {
		t.Errorf("raw address: %d %s", r.status, r.body)
	}
}

// The profile serves histories by key pages, so it needs Incomes that
// can (nilIncomes hides the read model's HistoryPage).
func TestBicycleProfileNeedsAHistoryPager(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	cfg := &config.Config{Network: config.Testnet, APITokens: []config.APIToken{{Name: "a", Token: config.NewSecret("t")}},
		APICompat: config.CompatBicycle}
	_, err := httpapi.New(httpapi.Options{Config: cfg, Wallets: &fakeWallets{}, Resolver: fakeResolver{}, Incomes: nilIncomes{},
		Withdrawals: nilWithdrawals{}, Sync: nilSync{}, Registerer: reg, Gatherer: reg})
	if err == nil || !strings.Contains(err.Error(), "HistoryPager") {
		t.Errorf("New with API_COMPAT=bicycle and no HistoryPager: %v", err)
	}
}

type nilWithdrawals struct{ httpapi.Withdrawals }
