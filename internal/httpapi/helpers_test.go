package httpapi_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"math/big"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/xssnick/tonutils-go/address"

	"github.com/ton-custody/processor/internal/apierr"
	"github.com/ton-custody/processor/internal/blockscanner"
	"github.com/ton-custody/processor/internal/config"
	"github.com/ton-custody/processor/internal/httpapi"
	"github.com/ton-custody/processor/internal/store/storetest"
	"github.com/ton-custody/processor/internal/withdrawals"
)

// Test tokens. The values must never appear in logs.
const (
	merchantToken = "merchant-token-V4lue-7d1f"
	opsToken      = "ops-token-V4lue-0a9e"
)

func acct(b byte) []byte { return bytes.Repeat([]byte{b}, 32) }

// friendly renders 0:acct(b) with the given flags.
func friendly(b byte, bounceable, testnet bool) string {
	return address.NewAddress(0, 0, acct(b)).Bounce(bounceable).Testnet(testnet).String()
}

var (
	hotWallet  = address.NewAddress(0, 0, acct(0xAA))
	usdtMaster = address.NewAddress(0, 0, acct(0xEE))
)

// syncBuffer collects log output from concurrent handlers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// fakeWallets is the in-test Wallets: deposit addresses are written to
// deposit_wallets like the real implementation does (address derived from
// the subwallet id), balances come from a map.
type fakeWallets struct {
	db      *pgxpool.Pool
	network config.Network
	mu      sync.Mutex
	// balances by currency + "/" + raw address ("" for the hot wallet).
	balances map[string]*big.Int
	// failUser makes Addresses fail; panicUser makes it panic.
	failUser, panicUser string
}

func depositAccount(subwallet int64) []byte {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(subwallet))
	sum := sha256.Sum256(b[:])
	return sum[:]
}

func (w *fakeWallets) NewAddress(ctx context.Context, userID, currency string) (string, error) {
	var sub int64
	if err := w.db.QueryRow(ctx, `SELECT nextval('deposit_subwallet_id_seq')`).Scan(&sub); err != nil {
		return "", err
	}
	data := depositAccount(sub)
	var err error
	if currency == config.TONSymbol {
		_, err = w.db.Exec(ctx, `INSERT INTO deposit_wallets (user_id, currency, subwallet_id, workchain, address) VALUES ($1, $2, $3, 0, $4)`,
			userID, currency, sub, data)
	} else if currency == "USDT" {
		jw := sha256.Sum256(data)
		_, err = w.db.Exec(ctx, `INSERT INTO deposit_wallets (user_id, currency, subwallet_id, workchain, address,
		        jetton_master_workchain, jetton_master, jetton_wallet_workchain, jetton_wallet) VALUES ($1, $2, $3, 0, $4, 0, $5, 0, $6)`,
			userID, currency, sub, data, usdtMaster.Data(), jw[:])
	} else {
		return "", apierr.BadRequest("unknown currency %q", currency)
	}
	if err != nil {
		return "", err
	}
	return address.NewAddress(0, 0, data).Bounce(false).Testnet(w.network == config.Testnet).String(), nil
}

func (w *fakeWallets) Addresses(ctx context.Context, userID string) ([]httpapi.Address, error) {
	if userID == w.panicUser {
		panic("fake wallets: deliberate panic")
	}
	if userID == w.failUser {
		return nil, errors.New("connection refused by 10.1.2.3:5432 (secret detail)")
	}
	rows, err := w.db.Query(ctx, `SELECT workchain, address, currency FROM deposit_wallets WHERE user_id = $1 ORDER BY id`, userID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []httpapi.Address
	for rows.Next() {
		var (
			wc   int32
			data []byte
			cur  string
		)
		if err := rows.Scan(&wc, &data, &cur); err != nil {
			return nil, err
		}
		a := address.NewAddress(0, byte(wc), data).Bounce(false).Testnet(w.network == config.Testnet)
		out = append(out, httpapi.Address{Address: a.String(), Currency: cur})
	}
	return out, rows.Err()
}

func (w *fakeWallets) Balance(_ context.Context, currency string, addr *address.Address) (*big.Int, string, error) {
	key := currency + "/"
	if addr != nil {
		key += addr.StringRaw()
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	b, ok := w.balances[key]
	if !ok {
		return big.NewInt(0), "non_exist", nil
	}
	// Deliberately also for jettons: the handler must drop it there.
	return b, "active", nil
}

func (w *fakeWallets) HotWalletAddress() *address.Address { return hotWallet }

// fakeResolver knows a fixed set of domains.
type fakeResolver map[string]*address.Address

func (r fakeResolver) ResolveWallet(_ context.Context, domain string) (*address.Address, error) {
	a, ok := r[domain]
	if !ok {
		return nil, apierr.NotFound("domain %q has no wallet record", domain)
	}
	return a, nil
}

// testAPI is an API over a fresh database with the real read model and
// request store.
type testAPI struct {
	t       *testing.T
	db      *pgxpool.Pool
	e       *echo.Echo
	wallets *fakeWallets
	logs    *syncBuffer
	ready   error
}

type apiOption func(*httpapi.Options, *config.Config)

func newTestAPI(t *testing.T, network config.Network, opts ...apiOption) *testAPI {
	t.Helper()
	db := storetest.NewDB(t)
	cfg := &config.Config{
		Network: network,
		APITokens: []config.APIToken{
			{Name: "merchant", Token: config.NewSecret(merchantToken)},
			{Name: "ops", Token: config.NewSecret(opsToken)},
		},
		Jettons:            []config.Jetton{{Symbol: "USDT", Master: usdtMaster, SweepThreshold: big.NewInt(1)}},
		IncomeCountingSide: config.CountDeposit,
		AllowableLag:       time.Minute,
	}
	rm, err := blockscanner.NewReadModel(db, blockscanner.ReadModelConfig{
		Network: network, CountingSide: cfg.IncomeCountingSide, AllowableLag: cfg.AllowableLag,
	})
	if err != nil {
		t.Fatal(err)
	}
	req, err := withdrawals.NewRequests(db, withdrawals.RequestsConfig{
		HotWallet: hotWallet,
		JettonWallet: func(_ context.Context, master, owner *address.Address) (*address.Address, error) {
			sum := sha256.Sum256(append(append([]byte{}, master.Data()...), owner.Data()...))
			return address.NewAddress(0, 0, sum[:]), nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	ta := &testAPI{t: t, db: db, logs: &syncBuffer{}}
	ta.wallets = &fakeWallets{db: db, network: network, balances: map[string]*big.Int{}, failUser: "boom", panicUser: "panic"}
	reg := prometheus.NewRegistry()
	o := httpapi.Options{
		Config:      cfg,
		Wallets:     ta.wallets,
		Resolver:    fakeResolver{"wallet.ton": address.NewAddress(0, 0, acct(0x5D))},
		Incomes:     rm,
		Withdrawals: req,
		Sync:        rm,
		Registerer:  reg,
		Gatherer:    reg,
		Ready:       func(context.Context) error { return ta.ready },
		Logger:      slog.New(slog.NewTextHandler(ta.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	for _, opt := range opts {
		opt(&o, cfg)
	}
	e, err := httpapi.New(o)
	if err != nil {
		t.Fatal(err)
	}
	ta.e = e
	return ta
}

func (a *testAPI) exec(sql string, args ...any) {
	a.t.Helper()
	if _, err := a.db.Exec(context.Background(), sql, args...); err != nil {
		a.t.Fatalf("%s: %v", sql, err)
	}
}

// response is a recorded answer.
type response struct {
	status int
	header http.Header
	body   []byte
}

// json decodes the body as an object.
func (r response) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("body %q is not a JSON object: %v", r.body, err)
	}
	return m
}

// do sends a request with the merchant token (token "" sends none).
func (a *testAPI) do(method, target, token string, body io.Reader, header ...string) response {
	a.t.Helper()
	req := httptest.NewRequest(method, target, body)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	rec := httptest.NewRecorder()
	a.serve(rec, req)
	return response{status: rec.Code, header: rec.Header(), body: rec.Body.Bytes()}
}

func (a *testAPI) get(target string) response {
	a.t.Helper()
	return a.do(http.MethodGet, target, merchantToken, nil)
}

func (a *testAPI) post(target string, body any) response {
	a.t.Helper()
	var r io.Reader
	switch b := body.(type) {
	case string:
		r = strings.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			a.t.Fatal(err)
		}
		r = bytes.NewReader(j)
	}
	return a.do(http.MethodPost, target, merchantToken, r)
}

// ok asserts a 200 JSON answer and returns it decoded.
func (a *testAPI) ok(r response) map[string]any {
	a.t.Helper()
	if r.status != http.StatusOK {
		a.t.Fatalf("status %d, body %s", r.status, r.body)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		a.t.Errorf("Content-Type %q", ct)
	}
	return r.json(a.t)
}

// keys returns the sorted keys of a JSON object.
func keys(t *testing.T, v any) []string {
	t.Helper()
	m, ok := v.(map[string]any)
	if !ok {
		t.Fatalf("%v (%T) is not a JSON object", v, v)
	}
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// wantKeys checks the exact key set of a JSON object.
func wantKeys(t *testing.T, what string, v any, want ...string) {
	t.Helper()
	sort.Strings(want)
	got := keys(t, v)
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("%s keys %v, want %v", what, got, want)
	}
}

// wantString checks that m[k] is a JSON string equal to want ("" = any
// non-empty string).
func wantString(t *testing.T, what string, m map[string]any, k, want string) {
	t.Helper()
	s, ok := m[k].(string)
	if !ok {
		t.Errorf("%s.%s = %v (%T), want a JSON string", what, k, m[k], m[k])
		return
	}
	if (want == "" && s == "") || (want != "" && s != want) {
		t.Errorf("%s.%s = %q, want %q", what, k, s, want)
	}
}

func obj(t *testing.T, v any) map[string]any {
	t.Helper()
	m, ok := v.(map[string]any)
	if !ok {
		t.Fatalf("%v (%T) is not a JSON object", v, v)
	}
	return m
}

func arr(t *testing.T, v any) []any {
	t.Helper()
	a, ok := v.([]any)
	if !ok {
		t.Fatalf("%v (%T) is not a JSON array", v, v)
	}
	return a
}
