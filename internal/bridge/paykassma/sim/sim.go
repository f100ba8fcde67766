// Package sim is a loopback simulator of the Paykassma plugin API and
// withdrawal API for tests and `processor dev`. It checks ?secret= (404
// "Not found" without it, the accounts-balance error shape with a wrong
// one), verifies withdrawal signatures as the spec's PHP does (ksort,
// multiImplode, md5, sha1), keeps balances (a withdrawal reserves its
// amount, status 1 deducts it, status 5 releases it), and posts signed
// postbacks to PostbackURL with retries until it gets HTTP 200
// {"status":"ok"}, duplicates and out-of-order delivery. Faults (5xx, hang,
// malformed JSON, delay) can be injected per path.
package sim

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ton-custody/processor/internal/bridge/paykassma"
)

// Config configures a Server.
type Config struct {
	Secret           string
	PrivateKey       string // verifies withdrawal signatures
	AccessKey        string // sign postbacks
	PrivateAccessKey string
	SortNested       bool
	// DepositCoverage / WithdrawalCoverage: as paykassma.Config (defaults
	// "transactions" and paykassma.CoverBody).
	DepositCoverage    string
	WithdrawalCoverage string
	PostbackURL        string              // where postbacks go
	Balances           map[string]*big.Int // initial balances, minor units
	Exponents          map[string]int      // minor digits per currency (default 2)
	// AutoFinal, when set ("1"/"5" for withdrawals; deposits always
	// succeed), settles every new payment after StepDelay.
	AutoFinal string
	StepDelay time.Duration // default 20ms
	Postbacks PostbackConfig
}

// PostbackConfig shapes postback delivery.
type PostbackConfig struct {
	MaxAttempts int           // default 3
	RetryDelay  time.Duration // default 20ms
	Duplicates  int           // extra copies of every postback
	// OutOfOrder holds every other postback back by ReorderDelay (default
	// 100ms), so consecutive postbacks arrive swapped.
	OutOfOrder   bool
	ReorderDelay time.Duration
}

// FaultKind is a kind of injected failure.
type FaultKind int

// Fault kinds.
const (
	FaultNone      FaultKind = iota
	Fault5xx                 // answer 503
	FaultHang                // accept and never answer
	FaultMalformed           // 200 with broken JSON
	FaultDelay               // answer after Delay
)

// Fault is an injected failure.
type Fault struct {
	Kind    FaultKind
	Path    string // exact path or prefix ending in "/"; "" = all
	Times   int    // 0 = until cleared
	Delay   time.Duration
	Process bool // handle the request before failing
}

// Withdrawal is a withdrawal as the simulator holds it.
type Withdrawal struct {
	ID       string
	Status   int // 0 new, 1 processed, 5 rejected
	Amount   *big.Int
	Currency string
	Body     *paykassma.Array
}

// Deposit is a payment created by payment/create or activated.
type Deposit struct {
	CustomID   string
	WalletType string
	Amount     *big.Int
	Currency   string
	Label      string
	Credited   bool
	TxID       string
}

// Delivery records one postback attempt.
type Delivery struct {
	Reference string
	Attempt   int
	Code      int
	OK        bool // answered 200 {"status":"ok"}
}

// Server is a running simulator.
type Server struct {
	cfg  Config
	srv  *httptest.Server
	hc   *http.Client
	ctx  context.Context
	stop context.CancelFunc
	wg   sync.WaitGroup

	mu          sync.Mutex
	balances    map[string]*big.Int
	withdrawals map[string]*Withdrawal
	deposits    map[string]*Deposit
	postbacks   map[string][]byte // "deposit/<custom_id>", "withdrawal/<id>"
	fault       Fault
	faultLeft   int
	deliveries  []Delivery
	sent        int
	nextID      int
	creates     map[string]int // create requests per reference (CreateAttempts)
}

// New starts a simulator on 127.0.0.1.
func New(cfg Config) (*Server, error) {
	if cfg.Secret == "" {
		return nil, errors.New("paykassma sim: secret is required")
	}
	if cfg.DepositCoverage == "" {
		cfg.DepositCoverage = "transactions"
	}
	if cfg.WithdrawalCoverage == "" {
		cfg.WithdrawalCoverage = paykassma.CoverBody
	}
	if cfg.StepDelay <= 0 {
		cfg.StepDelay = 20 * time.Millisecond
	}
	if cfg.Postbacks.MaxAttempts <= 0 {
		cfg.Postbacks.MaxAttempts = 3
	}
	if cfg.Postbacks.RetryDelay <= 0 {
		cfg.Postbacks.RetryDelay = 20 * time.Millisecond
	}
	if cfg.Postbacks.ReorderDelay <= 0 {
		cfg.Postbacks.ReorderDelay = 100 * time.Millisecond
	}
	s := &Server{cfg: cfg, hc: &http.Client{Timeout: 5 * time.Second}, balances: map[string]*big.Int{},
		withdrawals: map[string]*Withdrawal{}, deposits: map[string]*Deposit{}, postbacks: map[string][]byte{},
		creates: map[string]int{}}
	for c, v := range cfg.Balances {
		s.balances[c] = new(big.Int).Set(v)
	}
	s.ctx, s.stop = context.WithCancel(context.Background())
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+paykassma.PathPaymentSystems, s.secret(s.handlePaymentSystems))
	mux.HandleFunc("POST "+paykassma.PathTransactionNew+"{wallet}", s.secret(s.handleTxCreate))
	mux.HandleFunc("POST "+paykassma.PathTransactionAct, s.secret(s.handleActivate(false)))
	mux.HandleFunc("POST "+paykassma.PathPossible, s.secret(s.handleActivate(true)))
	mux.HandleFunc("POST "+paykassma.PathPaymentCreate+"{ps}", s.secret(s.handlePaymentCreate))
	mux.HandleFunc("GET "+paykassma.PathDepositInfo, s.secret(s.handleDepositInfo))
	mux.HandleFunc("POST "+paykassma.PathHashURL, s.secret(s.handleHashURL))
	mux.HandleFunc("POST "+paykassma.PathWithdrawalCreate, s.handleWithdrawal)
	mux.HandleFunc("GET "+paykassma.PathPostback, s.secret(s.handlePostback))
	mux.HandleFunc("GET "+paykassma.PathPullPostbacks, s.secret(s.handlePull))
	mux.HandleFunc("GET "+paykassma.PathAccountsBalance, s.handleBalance)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("paykassma sim: listen: %w", err)
	}
	s.srv = httptest.NewUnstartedServer(s.wrap(mux))
	s.srv.Listener.Close()
	s.srv.Listener = l
	s.srv.Start()
	return s, nil
}

// URL is the base URL.
func (s *Server) URL() string { return s.srv.URL }

// Close stops deliveries and the server.
func (s *Server) Close() {
	s.stop()
	s.srv.CloseClientConnections()
	s.srv.Close()
	s.wg.Wait()
}

// SetFault injects f (Fault{} clears it).
func (s *Server) SetFault(f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fault, s.faultLeft = f, f.Times
}

// Balance returns the balance of currency in minor units.
func (s *Server) Balance(currency string) *big.Int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if b := s.balances[currency]; b != nil {
		return new(big.Int).Set(b)
	}
	return new(big.Int)
}

// Withdrawal returns a withdrawal's status and whether it exists.
func (s *Server) Withdrawal(id string) (status int, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	w, ok := s.withdrawals[id]
	if !ok {
		return 0, false
	}
	return w.Status, true
}

// CreateAttempts returns how many valid payment/create (custom id) and
// withdrawal/create (withdrawal id) requests named ref: the soak suite
// checks the bridge never asks twice.
func (s *Server) CreateAttempts(ref string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.creates[ref]
}

// Deposit returns a copy of the deposit with custom id ref.
func (s *Server) Deposit(ref string) (Deposit, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	d, ok := s.deposits[ref]
	if !ok {
		return Deposit{}, false
	}
	cp := *d
	cp.Amount = new(big.Int).Set(d.Amount)
	return cp, true
}

// WithdrawalInfo returns a copy of withdrawal id, without its request body.
func (s *Server) WithdrawalInfo(id string) (Withdrawal, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	w, ok := s.withdrawals[id]
	if !ok {
		return Withdrawal{}, false
	}
	return Withdrawal{ID: w.ID, Status: w.Status, Amount: new(big.Int).Set(w.Amount), Currency: w.Currency}, true
}

// Deliveries returns the postback attempts so far.
func (s *Server) Deliveries() []Delivery {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Delivery(nil), s.deliveries...)
}

func (s *Server) exp(cur string) int {
	if e, ok := s.cfg.Exponents[cur]; ok {
		return e
	}
	return 2
}

// Settle finishes a payment: a withdrawal with "1" (processed: the reserve
// is spent) or "5" (rejected: the reserve is released); a deposit
// (custom_transaction_id) with "success" (credited). It posts the postback.
func (s *Server) Settle(ref, status string) error {
	s.mu.Lock()
	if w, ok := s.withdrawals[ref]; ok {
		st, err := strconv.Atoi(status)
		if err != nil || (st != paykassma.WithdrawalProcessed && st != paykassma.WithdrawalRejected) {
			s.mu.Unlock()
			return fmt.Errorf("paykassma sim: withdrawal status %q: want 1 or 5", status)
		}
		if w.Status != 0 {
			s.mu.Unlock()
			return fmt.Errorf("paykassma sim: withdrawal %s already %d", ref, w.Status)
		}
		w.Status = st
		if st == paykassma.WithdrawalRejected {
			s.balanceLocked(w.Currency).Add(s.balanceLocked(w.Currency), w.Amount)
		}
		pb := s.withdrawalPostbackLocked(w)
		s.mu.Unlock()
		return s.post(ref, "withdrawal/"+ref, pb)
	}
	d, ok := s.deposits[ref]
	if !ok {
		s.mu.Unlock()
		return fmt.Errorf("paykassma sim: %q not found", ref)
	}
	if status != "success" {
		s.mu.Unlock()
		return fmt.Errorf("paykassma sim: deposit status %q: want success", status)
	}
	if d.Credited {
		s.mu.Unlock()
		return fmt.Errorf("paykassma sim: deposit %s already credited", ref)
	}
	d.Credited = true
	s.balanceLocked(d.Currency).Add(s.balanceLocked(d.Currency), d.Amount)
	pb := s.depositPostbackLocked(d)
	s.mu.Unlock()
	return s.post(ref, "deposit/"+ref, pb)
}

func (s *Server) balanceLocked(cur string) *big.Int {
	if s.balances[cur] == nil {
		s.balances[cur] = new(big.Int)
	}
	return s.balances[cur]
}

func (s *Server) major(v *big.Int, cur string) any {
	e := s.exp(cur)
	if e == 0 {
		return v.Int64()
	}
	f, _ := new(big.Rat).SetFrac(v, new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(e)), nil)).Float64()
	return f
}

func (s *Server) withdrawalPostbackLocked(w *Withdrawal) *paykassma.Array {
	get := func(k string) any { v, _ := w.Body.Get(k); return v }
	pd, bd := paykassma.NewArray().Set("payments_provider", nil), paykassma.NewArray().Set("bank_code", nil).Set("branch_code", nil)
	if v, ok := get("payments_details").(*paykassma.Array); ok {
		pd = v
	}
	if v, ok := get("bank_details").(*paykassma.Array); ok {
		bd = v
	}
	return paykassma.NewArray().
		Set("withdrawal_id", w.ID).Set("status", int64(w.Status)).Set("comment", get("comment")).
		Set("payment_system", get("payment_system")).Set("amount", get("amount")).Set("currency_code", w.Currency).
		Set("label", get("label")).Set("account_number", get("account_number")).Set("account_name", get("account_name")).
		Set("account_email", get("account_email")).Set("payments_details", pd).Set("bank_details", bd)
}

func (s *Server) depositPostbackLocked(d *Deposit) *paykassma.Array {
	now := time.Now().In(time.FixedZone("+08:00", 8*3600)).Format(paykassma.DateTimeLayout)
	tx := paykassma.NewArray().Set("amount", s.major(d.Amount, d.Currency)).Set("currency_code", d.Currency).
		Set("wallet_type", d.WalletType).Set("transaction_id", d.TxID).Set("transaction_type", int64(0)).
		Set("from", nil).Set("created_datetime", now).Set("activated_datetime", now).Set("custom_id", d.CustomID)
	return paykassma.NewArray().Set("transaction_id", d.TxID).Set("label", d.Label).
		Set("stockpiling", paykassma.NewArray().Set(d.Currency, s.major(d.Amount, d.Currency))).
		Set("stockpiling_id", int64(s.nextID)).Set("transactions", paykassma.List(tx))
}

// post signs pb, stores it for lookups and delivers it asynchronously.
func (s *Server) post(ref, key string, pb *paykassma.Array) error {
	field := s.cfg.DepositCoverage
	if strings.HasPrefix(key, "withdrawal/") {
		field = s.cfg.WithdrawalCoverage
	}
	var covered any = pb
	if field != paykassma.CoverBody {
		covered, _ = pb.Get(field)
	}
	sig, err := paykassma.PostbackSignature(s.cfg.AccessKey, s.cfg.PrivateAccessKey, covered)
	if err != nil {
		return err
	}
	body, err := json.Marshal(json.RawMessage(mustEncode(pb.Clone().Set("signature", sig))))
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.postbacks[key] = mustEncode(pb)
	n := s.sent
	s.sent++
	s.mu.Unlock()
	if s.cfg.PostbackURL == "" {
		return nil
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		if s.cfg.Postbacks.OutOfOrder && n%2 == 0 {
			select {
			case <-time.After(s.cfg.Postbacks.ReorderDelay):
			case <-s.ctx.Done():
				return
			}
		}
		for i := 0; i <= s.cfg.Postbacks.Duplicates; i++ {
			s.deliver(ref, body)
		}
	}()
	return nil
}

// mustEncode encodes values the simulator built itself (always valid).
func mustEncode(a *paykassma.Array) []byte {
	b, err := paykassma.JSONEncode(a)
	if err != nil {
		return []byte("{}")
	}
	return b
}

func (s *Server) deliver(ref string, body []byte) {
	for attempt := 1; attempt <= s.cfg.Postbacks.MaxAttempts; attempt++ {
		req, err := http.NewRequestWithContext(s.ctx, http.MethodPost, s.cfg.PostbackURL, bytes.NewReader(body))
		if err != nil {
			return
		}
		req.Header.Set("Content-Type", "application/json")
		code, ok := 0, false
		if resp, err := s.hc.Do(req); err == nil {
			var ans struct {
				Status string `json:"status"`
			}
			data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
			resp.Body.Close()
			code = resp.StatusCode
			ok = code == 200 && json.Unmarshal(data, &ans) == nil && ans.Status == "ok"
		}
		s.mu.Lock()
		s.deliveries = append(s.deliveries, Delivery{Reference: ref, Attempt: attempt, Code: code, OK: ok})
		s.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-time.After(s.cfg.Postbacks.RetryDelay):
		case <-s.ctx.Done():
			return
		}
	}
}

func (s *Server) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		f := s.fault
		hit := f.Kind != FaultNone && (f.Path == "" || f.Path == r.URL.Path || (strings.HasSuffix(f.Path, "/") && strings.HasPrefix(r.URL.Path, f.Path)))
		if hit && f.Times > 0 {
			if s.faultLeft <= 0 {
				hit = false
			} else {
				s.faultLeft--
			}
		}
		s.mu.Unlock()
		if hit && f.Kind == FaultDelay {
			select {
			case <-time.After(f.Delay):
			case <-r.Context().Done():
				return
			}
			hit = false
		}
		if hit && f.Process {
			body, _ := io.ReadAll(r.Body)
			c := r.Clone(r.Context())
			c.Body = io.NopCloser(bytes.NewReader(body))
			next.ServeHTTP(httptest.NewRecorder(), c)
		}
		if hit {
			switch f.Kind {
			case Fault5xx:
				http.Error(w, "Service Unavailable", http.StatusServiceUnavailable)
			case FaultHang:
				select {
				case <-r.Context().Done():
				case <-s.ctx.Done():
				}
			case FaultMalformed:
				w.Header().Set("Content-Type", "application/json")
				_, _ = io.WriteString(w, `{"status": "ok", "data": {`)
			}
			return
		}
		next.ServeHTTP(w, r)
	})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func fail(w http.ResponseWriter, code int, msg any) {
	writeJSON(w, code, map[string]any{"status": "fail", "message": msg})
}

func success(w http.ResponseWriter, data any) {
	writeJSON(w, 200, map[string]any{"status": "success", "message": "", "code": 20000, "data": data})
}

// secret rejects requests without the right ?secret= with 404 Not found.
func (s *Server) secret(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("secret") != s.cfg.Secret {
			writeJSON(w, 404, map[string]string{"message": "Not found"})
			return
		}
		h(w, r)
	}
}

func decodeBody(r *http.Request, v any) error {
	return json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(v)
}

func (s *Server) handlePaymentSystems(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	curs := q["currency_code[]"]
	if len(curs) == 0 || q.Get("label") == "" {
		fail(w, 422, "currency_code and label are required")
		return
	}
	type wallet struct {
		Type     string `json:"type"`
		Currency string `json:"currency_code"`
		Order    int    `json:"order"`
		Logo     string `json:"logo"`
		Name     string `json:"name"`
		Manual   bool   `json:"is_manual"`
		Bill     bool   `json:"uploading_payment_bill"`
	}
	var ws []wallet
	cd := []map[string]string{}
	for i, c := range curs {
		cd = append(cd, map[string]string{"code": c, "symbol": c})
		ws = append(ws, wallet{"paytm", c, 2*i + 1, s.srv.URL + "/logo/paytm.png", "PayTM", false, false},
			wallet{"upi_p2p", c, 2*i + 2, s.srv.URL + "/logo/upi.png", "UPI P2P", true, true})
	}
	writeJSON(w, 200, map[string]any{"status": "ok", "params": map[string]any{"currency_data": cd, "wallets": ws}})
}

func (s *Server) handleTxCreate(w http.ResponseWriter, r *http.Request) {
	var req struct{ Currency, Label string }
	if err := decodeBody(r, &req); err != nil || req.Currency == "" || req.Label == "" {
		fail(w, 422, "currency and label are required")
		return
	}
	s.mu.Lock()
	s.nextID++
	id := strconv.Itoa(6234234234 + s.nextID)
	s.mu.Unlock()
	writeJSON(w, 200, map[string]any{"status": "ok", "params": map[string]string{"identifier": id}})
}

func (s *Server) handleActivate(possible bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var req map[string]json.RawMessage
		if err := decodeBody(r, &req); err != nil {
			fail(w, 422, "malformed JSON")
			return
		}
		str := func(k string) string { var v string; _ = json.Unmarshal(req[k], &v); return v }
		idKey := "custom_transaction_id"
		if possible {
			idKey = "custom_id"
		}
		if str("currency_code") == "" || str("wallet_type") == "" || str("label") == "" || str(idKey) == "" {
			fail(w, 422, map[string][]string{"key1": {"required fields missing"}})
			return
		}
		if k := str("key1"); len(k) < 4 {
			fail(w, 422, map[string][]string{"key1": {"Transaction field has wrong length"}})
			return
		}
		if possible && len(req["amount"]) == 0 {
			fail(w, 422, map[string][]string{"amount": {"The amount field is required."}})
			return
		}
		if possible && strings.HasPrefix(str("key1"), "unknown") {
			writeJSON(w, 200, map[string]string{"status": "possible_transaction_created", "message": "Transaction not found. Possible transaction created"})
			return
		}
		amt := new(big.Int)
		if len(req["amount"]) > 0 {
			amt, _, _ = paykassma.MajorToMinor(string(req["amount"]), s.exp(str("currency_code")))
		}
		s.mu.Lock()
		s.nextID++
		s.deposits[str(idKey)] = &Deposit{CustomID: str(idKey), WalletType: str("wallet_type"), Amount: amt, Currency: str("currency_code"), Label: str("label"), TxID: str("key1")}
		s.mu.Unlock()
		if possible {
			writeJSON(w, 200, map[string]any{"status": "success", "message": "", "code": 20000, "data": []any{}, "paginate": map[string]int{"offset": 0, "total": 1, "limit": 1}})
			return
		}
		writeJSON(w, 200, map[string]string{"status": "ok"})
	}
}

func (s *Server) handlePaymentCreate(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Amount   json.Number `json:"amount"`
		Currency string      `json:"currency"`
		Label    string      `json:"label"`
		CustomID string      `json:"custom_transaction_id"`
	}
	if err := decodeBody(r, &req); err != nil {
		fail(w, 422, "malformed JSON")
		return
	}
	if req.Currency == "" || req.Label == "" || req.CustomID == "" || len(req.CustomID) > 64 {
		fail(w, 422, "currency, label and custom_transaction_id are required")
		return
	}
	amt, _, err := paykassma.MajorToMinor(req.Amount.String(), s.exp(req.Currency))
	if err != nil || amt.Sign() <= 0 {
		fail(w, 422, "amount must be positive")
		return
	}
	s.mu.Lock()
	s.creates[req.CustomID]++
	if _, dup := s.deposits[req.CustomID]; dup {
		s.mu.Unlock()
		fail(w, 422, "custom_transaction_id must be unique")
		return
	}
	s.nextID++
	d := &Deposit{CustomID: req.CustomID, WalletType: r.PathValue("ps"), Amount: amt, Currency: req.Currency, Label: req.Label, TxID: strconv.Itoa(770425808190 + s.nextID)}
	s.deposits[req.CustomID] = d
	order := fmt.Sprintf("sim%013d", s.nextID)
	s.mu.Unlock()
	writeJSON(w, 200, map[string]any{"status": "ok", "data": map[string]string{"orderId": order, "payment_url": s.srv.URL + "/pay/" + order}})
	s.auto(req.CustomID, "success")
}

func (s *Server) auto(ref, status string) {
	if s.cfg.AutoFinal == "" {
		return
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		select {
		case <-time.After(s.cfg.StepDelay):
			_ = s.Settle(ref, status)
		case <-s.ctx.Done():
		}
	}()
}

func (s *Server) handleDepositInfo(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if q.Get("label") == "" || q.Get("wallet_type") == "" || q.Get("currency") == "" {
		fail(w, 422, "label, wallet_type and currency are required")
		return
	}
	writeJSON(w, 200, map[string]any{"status": "ok", "stockpiling_sum": 0, "lacks_sum": 0, "minimum_deposit": 148})
}

func (s *Server) handleHashURL(w http.ResponseWriter, r *http.Request) {
	var req map[string][]struct {
		Order int    `json:"order"`
		URL   string `json:"url"`
	}
	if err := decodeBody(r, &req); err != nil {
		fail(w, 422, "malformed JSON")
		return
	}
	out := map[string]any{}
	for in, o := range map[string]string{"success_urls": "success_url", "fail_urls": "fail_url", "pending_urls": "pending_url"} {
		list := req[in]
		sort.Slice(list, func(i, j int) bool { return list[i].Order < list[j].Order })
		rows := []map[string]any{}
		for _, u := range list {
			rows = append(rows, map[string]any{"order": u.Order, "url": fmt.Sprintf("%x", sha256Sum(s.cfg.Secret+u.URL))})
		}
		out[o] = rows
	}
	writeJSON(w, 200, map[string]any{"status": "ok", "urls": out})
}

func (s *Server) handleWithdrawal(w http.ResponseWriter, r *http.Request) {
	data, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		fail(w, 400, "cannot read body")
		return
	}
	v, err := paykassma.JSONDecode(data, true)
	a, ok := v.(*paykassma.Array)
	if err != nil || !ok {
		fail(w, 422, "malformed JSON")
		return
	}
	sv, _ := a.Get("signature")
	sig, _ := sv.(string)
	want, err := paykassma.WithdrawalSignature(s.cfg.PrivateKey, a, s.cfg.SortNested)
	if err != nil || sig != want {
		fail(w, 403, "Invalid signature")
		return
	}
	str := func(k string) string { x, _ := a.Get(k); s, _ := x.(string); return s }
	id := str("withdrawal_id")
	av, _ := a.Get("amount")
	amtMajor, isInt := av.(int64)
	cur := str("currency_code")
	if id == "" || len(id) > 36 || !isInt || amtMajor <= 0 || len(cur) != 3 || str("payment_system") == "" || str("label") == "" {
		fail(w, 422, "withdrawal_id, payment_system, amount (int), currency_code, label are required")
		return
	}
	if _, ok := a.Get("is_test"); !ok {
		fail(w, 422, map[string][]string{"is_test": {"The is test field is required."}})
		return
	}
	amt := new(big.Int).Mul(big.NewInt(amtMajor), new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(s.exp(cur))), nil))
	s.mu.Lock()
	s.creates[id]++
	if old, dup := s.withdrawals[id]; dup {
		same := old.Amount.Cmp(amt) == 0 && old.Currency == cur
		s.mu.Unlock()
		if same {
			writeJSON(w, 200, map[string]string{"status": "ok"})
		} else {
			fail(w, 422, map[string][]string{"withdrawal_id": {"The withdrawal id has already been taken."}})
		}
		return
	}
	b := s.balanceLocked(cur)
	if b.Cmp(amt) < 0 {
		s.mu.Unlock()
		fail(w, 422, map[string][]string{"withdrawals_sum_amount": {"Insufficient balance"}})
		return
	}
	b.Sub(b, amt)
	a.Delete("signature")
	s.withdrawals[id] = &Withdrawal{ID: id, Amount: amt, Currency: cur, Body: a}
	s.mu.Unlock()
	writeJSON(w, 200, map[string]string{"status": "ok"})
	if s.cfg.AutoFinal != "" {
		s.auto(id, s.cfg.AutoFinal)
	}
}

func (s *Server) handlePostback(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	var key string
	switch q.Get("type") {
	case "withdrawal":
		key = "withdrawal/" + q.Get("withdrawal_id")
	case "deposit":
		id := q.Get("custom_id")
		if id == "" {
			s.mu.Lock()
			for _, d := range s.deposits {
				if d.TxID == q.Get("transaction_id") {
					id = d.CustomID
				}
			}
			s.mu.Unlock()
		}
		key = "deposit/" + id
	default:
		fail(w, 422, "type must be deposit or withdrawal")
		return
	}
	s.mu.Lock()
	pb, ok := s.postbacks[key]
	s.mu.Unlock()
	if !ok {
		fail(w, 404, "Postback not found")
		return
	}
	writeJSON(w, 200, map[string]any{"status": "ok", "postback": json.RawMessage(pb)})
}

func (s *Server) handlePull(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	typ := q.Get("type")
	key, list, prefix := "plugin_custom_order_id", "transactions", "deposit/"
	if typ == "withdrawal" {
		key, list, prefix = "withdrawal_id", "withdrawals", "withdrawal/"
	} else if typ != "deposit" {
		fail(w, 422, "type must be deposit or withdrawal")
		return
	}
	ids := q[key+"[]"]
	if len(ids) == 0 {
		fail(w, 422, map[string][]string{key: {"The " + strings.ReplaceAll(key, "_", " ") + " field is required when type is " + typ + "."}})
		return
	}
	rows := []map[string]any{}
	s.mu.Lock()
	for _, id := range ids {
		if pb, ok := s.postbacks[prefix+id]; ok {
			rows = append(rows, map[string]any{key: id, "postback": json.RawMessage(pb)})
		} else {
			rows = append(rows, map[string]any{key: id, "message": "Postback not found"})
		}
	}
	s.mu.Unlock()
	writeJSON(w, 200, map[string]any{"status": "success", "message": "", "code": 20000, "data": map[string]any{list: rows},
		"paginate": map[string]int{"offset": 0, "total": len(rows), "limit": len(rows)}})
}

func (s *Server) handleBalance(w http.ResponseWriter, r *http.Request) {
	if r.URL.Query().Get("secret") != s.cfg.Secret {
		writeJSON(w, 401, map[string]any{"status": "error", "code": 30228, "errors": map[string]any{"target": "secret", "code": 36205, "message": "Wrong secret"}, "error_message": "Data validation error"})
		return
	}
	s.mu.Lock()
	curs := make([]string, 0, len(s.balances))
	for c := range s.balances {
		curs = append(curs, c)
	}
	sort.Strings(curs)
	rows := []map[string]any{}
	for _, c := range curs {
		rows = append(rows, map[string]any{"wallet_type": "sim", "currency_code": c, "amount": json.Number(paykassma.MinorToMajor(s.balances[c], s.exp(c)))})
	}
	s.mu.Unlock()
	success(w, map[string]any{"balances": rows})
}
