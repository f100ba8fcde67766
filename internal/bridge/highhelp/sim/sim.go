// Package sim is a loopback simulator of HighHelp's H2H P2P API for tests
// and `processor dev`: it verifies request signatures as documented (and
// rejects bad ones with 401), keeps balances (a payout reserves its amount,
// success deducts it, decline releases it), runs the payment status
// machine (automatically after a delay, or on Settle), and posts signed
// callbacks with retries, duplicates and out-of-order delivery. Faults
// (5xx, hang, malformed JSON, delay) can be injected per path.
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

	"github.com/ton-custody/processor/internal/bridge/highhelp"
)

// Config configures a Server. Zero values are usable except for the keys.
type Config struct {
	MerchantID string // expected x-access-merchant-id
	ProjectID  string // expected general.project_id; defaults to MerchantID
	// MerchantKey verifies requests: highhelp.RSAPublicKey(kassa key) or
	// highhelp.HMACKey(secret).
	MerchantKey highhelp.Key
	// Token, when set, must equal x-access-token.
	Token string
	// AlgorithmHeader is the x-access-merchant-algorithm value required
	// with HMAC keys. Default "HMAC-SHA512".
	AlgorithmHeader string
	Scheme          highhelp.Scheme
	// CallbackKey signs callbacks: highhelp.RSAKey(HighHelp key) or
	// highhelp.HMACKey(callback secret).
	CallbackKey highhelp.Key
	// MaxSkew bounds |now - x-access-timestamp| of requests. Default 5m.
	MaxSkew time.Duration
	// Balances are the initial available balances per currency (minor units).
	Balances map[string]*big.Int
	// AutoFinal, when "success" or "decline", moves every new payment
	// new → awaiting → AutoFinal, one step per StepDelay. Empty: payments
	// wait for Settle.
	AutoFinal string
	StepDelay time.Duration // default 20ms
	Callbacks CallbackConfig
	Now       func() time.Time // default time.Now
}

// CallbackConfig shapes callback delivery.
type CallbackConfig struct {
	MaxAttempts int           // per callback; default 3
	RetryDelay  time.Duration // between attempts; default 20ms
	Duplicates  int           // extra copies of every delivered callback
	// OutOfOrder holds informative callbacks back by ReorderDelay, so a
	// quick final callback overtakes them.
	OutOfOrder   bool
	ReorderDelay time.Duration // default 100ms
	// SignTime overrides the callback timestamp (for stale callbacks).
	SignTime func() time.Time
}

// FaultKind is a kind of injected failure.
type FaultKind int

// Fault kinds.
const (
	FaultNone      FaultKind = iota
	Fault5xx                 // answer 502
	FaultHang                // accept the request and never answer
	FaultMalformed           // answer 200 with broken JSON
	FaultDelay               // answer normally after Fault.Delay
)

// Fault is an injected failure.
type Fault struct {
	Kind  FaultKind
	Path  string        // only this path; "" = every path
	Times int           // how many requests it hits; 0 = until cleared
	Delay time.Duration // for FaultDelay
	// Process handles the request (creating the payment) before failing,
	// as a provider that timed out after committing would.
	Process bool
}

// Payment is the simulator's view of one payment.
type Payment struct {
	Kind        string // payin or payout
	ID          string // our payment_id
	RequestID   string
	Status      string
	SubStatus   string
	Amount      *big.Int
	Currency    string
	CallbackURL string
}

func (p *Payment) final() bool { return p.Status == "success" || p.Status == "decline" }

// Delivery records one callback attempt.
type Delivery struct {
	PaymentID string
	Status    string // status:sub_status delivered
	Attempt   int
	Code      int // HTTP status, 0 on transport error
}

type balance struct{ avail, locked *big.Int }

// Server is a running simulator.
type Server struct {
	cfg  Config
	srv  *httptest.Server
	hc   *http.Client
	ctx  context.Context
	stop context.CancelFunc
	wg   sync.WaitGroup

	mu         sync.Mutex
	payments   map[string]*Payment
	balances   map[string]*balance
	fault      Fault
	faultLeft  int
	deliveries []Delivery
	requests   int
	nextID     int
	creates    map[string]int // create requests per payment_id (CreateAttempts)
}

// New starts a simulator on 127.0.0.1.
func New(cfg Config) (*Server, error) {
	if !cfg.MerchantKey.Valid() || !cfg.CallbackKey.Valid() {
		return nil, errors.New("highhelp sim: merchant and callback keys are required")
	}
	if cfg.ProjectID == "" {
		cfg.ProjectID = cfg.MerchantID
	}
	if cfg.AlgorithmHeader == "" {
		cfg.AlgorithmHeader = string(highhelp.HMACSHA512)
	}
	if cfg.MaxSkew <= 0 {
		cfg.MaxSkew = 5 * time.Minute
	}
	if cfg.StepDelay <= 0 {
		cfg.StepDelay = 20 * time.Millisecond
	}
	if cfg.Callbacks.MaxAttempts <= 0 {
		cfg.Callbacks.MaxAttempts = 3
	}
	if cfg.Callbacks.RetryDelay <= 0 {
		cfg.Callbacks.RetryDelay = 20 * time.Millisecond
	}
	if cfg.Callbacks.ReorderDelay <= 0 {
		cfg.Callbacks.ReorderDelay = 100 * time.Millisecond
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	s := &Server{cfg: cfg, payments: map[string]*Payment{}, balances: map[string]*balance{}, hc: &http.Client{Timeout: 5 * time.Second},
		creates: map[string]int{}}
	for cur, v := range cfg.Balances {
		s.balances[cur] = &balance{avail: new(big.Int).Set(v), locked: new(big.Int)}
	}
	s.ctx, s.stop = context.WithCancel(context.Background())
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+highhelp.PathBalance, s.handleBalance)
	mux.HandleFunc("POST "+highhelp.PathBanks, s.handleBanks)
	mux.HandleFunc("POST "+highhelp.PathPayin, s.handleCreate("payin"))
	mux.HandleFunc("POST "+highhelp.PathPayout, s.handleCreate("payout"))
	mux.HandleFunc("POST "+highhelp.PathPayinInfo, s.handleInfo("payin"))
	mux.HandleFunc("POST "+highhelp.PathPayoutInf, s.handleInfo("payout"))
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("highhelp sim: listen: %w", err)
	}
	s.srv = httptest.NewUnstartedServer(s.wrap(mux))
	s.srv.Listener.Close()
	s.srv.Listener = l
	s.srv.Start()
	return s, nil
}

// URL is the simulator's base URL.
func (s *Server) URL() string { return s.srv.URL }

// Close stops timers and callback deliveries and shuts the server down.
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

// Balance returns available and locked balances of currency.
func (s *Server) Balance(currency string) (available, locked *big.Int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.balanceLocked(currency)
	return new(big.Int).Set(b.avail), new(big.Int).Set(b.locked)
}

// Payment returns a copy of a payment's state.
func (s *Server) Payment(id string) (Payment, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.payments[id]
	if !ok {
		return Payment{}, false
	}
	cp := *p
	cp.Amount = new(big.Int).Set(p.Amount)
	return cp, true
}

// Deliveries returns the callback attempts made so far.
func (s *Server) Deliveries() []Delivery {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Delivery(nil), s.deliveries...)
}

// CreateAttempts returns how many valid create requests named payment id
// (a repeated one is answered 409): the soak suite checks the bridge never
// asks twice.
func (s *Server) CreateAttempts(id string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.creates[id]
}

// Requests counts requests that reached the handlers (after faults).
func (s *Server) Requests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests
}

// Settle moves payment id to status ("success", "decline", or
// "status:sub_status" such as "dispute:no_payment" or
// "processing:awaiting_confirm"), updates balances and sends the callback.
func (s *Server) Settle(id, status string) error {
	st, sub, _ := strings.Cut(status, ":")
	switch st {
	case "success", "decline", "processing", "dispute":
	default:
		return fmt.Errorf("highhelp sim: unknown status %q", status)
	}
	s.mu.Lock()
	p, ok := s.payments[id]
	if !ok {
		s.mu.Unlock()
		return fmt.Errorf("highhelp sim: payment %q not found", id)
	}
	if p.final() {
		s.mu.Unlock()
		return fmt.Errorf("highhelp sim: payment %q is already %s", id, p.Status)
	}
	p.Status, p.SubStatus = st, sub
	b := s.balanceLocked(p.Currency)
	switch {
	case st == "success" && p.Kind == "payin":
		b.avail.Add(b.avail, p.Amount)
	case st == "success" && p.Kind == "payout":
		b.locked.Sub(b.locked, p.Amount)
	case st == "decline" && p.Kind == "payout":
		b.locked.Sub(b.locked, p.Amount)
		b.avail.Add(b.avail, p.Amount)
	}
	body := s.responseLocked(p)
	url := p.CallbackURL
	s.mu.Unlock()
	s.sendCallback(id, RawStatus(st, sub), url, body, st != "success" && st != "decline")
	return nil
}

// RawStatus joins a status and sub status like the client does.
func RawStatus(st, sub string) string { return highhelp.RawStatus(st, sub) }

func (s *Server) balanceLocked(cur string) *balance {
	b, ok := s.balances[cur]
	if !ok {
		b = &balance{avail: new(big.Int), locked: new(big.Int)}
		s.balances[cur] = b
	}
	return b
}

// wrap applies faults, then verifies the request signature.
func (s *Server) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		f := s.fault
		hit := f.Kind != FaultNone && (f.Path == "" || f.Path == r.URL.Path)
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
			next.ServeHTTP(httptest.NewRecorder(), cloneRequest(r))
		}
		if hit {
			switch f.Kind {
			case Fault5xx:
				http.Error(w, `{"status":"error","status_description":"bad gateway"}`, http.StatusBadGateway)
			case FaultHang:
				select {
				case <-r.Context().Done():
				case <-s.ctx.Done():
				}
			case FaultMalformed:
				w.Header().Set("Content-Type", "application/json")
				_, _ = io.WriteString(w, `{"status": "processing", "sub_status":`)
			}
			return
		}
		next.ServeHTTP(w, r)
	})
}

func cloneRequest(r *http.Request) *http.Request {
	body, _ := io.ReadAll(r.Body)
	r.Body = io.NopCloser(bytes.NewReader(body))
	c := r.Clone(r.Context())
	c.Body = io.NopCloser(bytes.NewReader(body))
	return c
}

type apiError struct {
	code int
	msg  string
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func writeErr(w http.ResponseWriter, e *apiError) {
	writeJSON(w, e.code, map[string]string{"status": "error", "status_description": e.msg})
}

// authenticate checks headers and signature and returns the body.
func (s *Server) authenticate(r *http.Request) ([]byte, *apiError) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		return nil, &apiError{400, "cannot read body"}
	}
	h := r.Header
	ts, sig := h.Get(highhelp.HeaderTimestamp), h.Get(highhelp.HeaderSignature)
	if ts == "" || sig == "" || h.Get(highhelp.HeaderMerchantID) == "" || h.Get(highhelp.HeaderToken) == "" {
		return nil, &apiError{401, "missing authentication headers"}
	}
	if h.Get(highhelp.HeaderMerchantID) != s.cfg.MerchantID {
		return nil, &apiError{401, "unknown merchant"}
	}
	if s.cfg.Token != "" && h.Get(highhelp.HeaderToken) != s.cfg.Token {
		return nil, &apiError{401, "invalid access token"}
	}
	if s.cfg.MerchantKey.Algorithm() == highhelp.HMACSHA512 && h.Get(highhelp.HeaderAlgorithm) != s.cfg.AlgorithmHeader {
		return nil, &apiError{401, "unsupported signature algorithm"}
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return nil, &apiError{401, "invalid timestamp"}
	}
	if d := s.cfg.Now().Sub(time.Unix(sec, 0)); d > s.cfg.MaxSkew || d < -s.cfg.MaxSkew {
		return nil, &apiError{401, "timestamp out of window"}
	}
	if err := s.cfg.Scheme.VerifyBody(s.cfg.MerchantKey, body, ts, sig); err != nil {
		return nil, &apiError{401, "invalid signature"}
	}
	s.mu.Lock()
	s.requests++
	s.mu.Unlock()
	return body, nil
}

type request struct {
	General struct {
		ProjectID   string `json:"project_id"`
		PaymentID   string `json:"payment_id"`
		CallbackURL string `json:"merchant_callback_url"`
	} `json:"general"`
	Payment struct {
		Method   string      `json:"method"`
		Amount   json.Number `json:"amount"`
		Currency string      `json:"currency"`
	} `json:"payment"`
}

func (s *Server) parse(r *http.Request) (request, *apiError) {
	var req request
	body, e := s.authenticate(r)
	if e != nil {
		return req, e
	}
	if err := json.Unmarshal(body, &req); err != nil {
		return req, &apiError{400, "malformed JSON"}
	}
	if req.General.ProjectID != s.cfg.ProjectID {
		return req, &apiError{403, "unknown project"}
	}
	return req, nil
}

func (s *Server) handleBalance(w http.ResponseWriter, r *http.Request) {
	if _, e := s.parse(r); e != nil {
		writeErr(w, e)
		return
	}
	s.mu.Lock()
	curs := make([]string, 0, len(s.balances))
	for c := range s.balances {
		curs = append(curs, c)
	}
	sort.Strings(curs)
	type row struct {
		Currency string      `json:"currency"`
		Amount   json.Number `json:"amount"`
		Locked   json.Number `json:"locked_amount"`
	}
	out := struct {
		Balance []row `json:"balance"`
	}{Balance: []row{}}
	for _, c := range curs {
		b := s.balances[c]
		out.Balance = append(out.Balance, row{c, json.Number(b.avail.String()), json.Number(b.locked.String())})
	}
	s.mu.Unlock()
	writeJSON(w, 200, out)
}

// Banks is what /api/v1/bank/all answers (the docs' sample).
var Banks = []highhelp.BankInfo{
	{ID: "607714dd-8cd0-4e9d-82c2-0079a13ce0e1", Name: "Sberbank", Symbol: "sberbank", SBPCode: "100000000111", IsSBPBank: true, CountryCode: "RU"},
	{ID: "9fb71ff0-0252-4d81-9eeb-229b8c91347a", Name: "Svoi Bank", Symbol: "svoi-bank", SBPCode: "990000000003", IsSBPBank: false, CountryCode: "RU"},
}

func (s *Server) handleBanks(w http.ResponseWriter, r *http.Request) {
	if _, e := s.parse(r); e != nil {
		writeErr(w, e)
		return
	}
	writeJSON(w, 200, Banks)
}

func (s *Server) handleCreate(kind string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		req, e := s.parse(r)
		if e != nil {
			writeErr(w, e)
			return
		}
		id := req.General.PaymentID
		amt, ok := new(big.Int).SetString(req.Payment.Amount.String(), 10)
		switch {
		case id == "" || len(id) > 64:
			writeErr(w, &apiError{400, "general.payment_id is required"})
			return
		case !ok || amt.Sign() <= 0:
			writeErr(w, &apiError{400, "payment.amount must be a positive integer"})
			return
		case len(req.Payment.Currency) != 3 || strings.ToUpper(req.Payment.Currency) != req.Payment.Currency:
			writeErr(w, &apiError{400, "payment.currency must be ISO 4217 alpha-3"})
			return
		}
		s.mu.Lock()
		s.creates[id]++
		if _, dup := s.payments[id]; dup {
			s.mu.Unlock()
			writeErr(w, &apiError{409, "payment_id already exists"})
			return
		}
		if kind == "payout" {
			b := s.balanceLocked(req.Payment.Currency)
			if b.avail.Cmp(amt) < 0 {
				s.mu.Unlock()
				writeErr(w, &apiError{400, "insufficient balance"})
				return
			}
			b.avail.Sub(b.avail, amt)
			b.locked.Add(b.locked, amt)
		}
		s.nextID++
		p := &Payment{Kind: kind, ID: id, RequestID: fmt.Sprintf("req-%06d", s.nextID), Status: "processing", SubStatus: "new",
			Amount: amt, Currency: req.Payment.Currency, CallbackURL: req.General.CallbackURL}
		s.payments[id] = p
		resp := s.responseLocked(p)
		s.mu.Unlock()
		writeJSON(w, 200, resp)
		s.sendCallback(id, RawStatus(p.Status, p.SubStatus), p.CallbackURL, resp, true)
		if s.cfg.AutoFinal != "" {
			s.wg.Add(1)
			go s.autoAdvance(id, kind)
		}
	}
}

func (s *Server) autoAdvance(id, kind string) {
	defer s.wg.Done()
	steps := []string{"processing:awaiting_confirm", s.cfg.AutoFinal}
	if kind == "payout" {
		steps[0] = "processing:payout_process"
	}
	for _, st := range steps {
		select {
		case <-time.After(s.cfg.StepDelay):
		case <-s.ctx.Done():
			return
		}
		if err := s.Settle(id, st); err != nil {
			return // settled by hand meanwhile
		}
	}
}

func (s *Server) handleInfo(kind string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		req, e := s.parse(r)
		if e != nil {
			writeErr(w, e)
			return
		}
		s.mu.Lock()
		p, ok := s.payments[req.General.PaymentID]
		if !ok || p.Kind != kind {
			s.mu.Unlock()
			writeErr(w, &apiError{404, "payment not found"})
			return
		}
		resp := s.responseLocked(p)
		s.mu.Unlock()
		writeJSON(w, 200, resp)
	}
}

func (s *Server) responseLocked(p *Payment) map[string]any {
	out := map[string]any{
		"status":             p.Status,
		"sub_status":         p.SubStatus,
		"request_id":         p.RequestID,
		"payment_id":         p.ID,
		"status_description": "",
		"general":            map[string]any{"project_id": s.cfg.ProjectID, "payment_id": p.ID},
		"payment":            map[string]any{"amount": json.Number(p.Amount.String()), "currency": p.Currency},
	}
	if p.Kind == "payin" && p.Status == "processing" {
		out["integration"] = map[string]any{"form_url": s.srv.URL + "/form/" + p.RequestID, "redirect_url": ""}
	}
	return out
}

// sendCallback delivers a signed callback asynchronously.
func (s *Server) sendCallback(id, raw, url string, body map[string]any, informative bool) {
	if url == "" {
		return
	}
	data, err := json.Marshal(body)
	if err != nil {
		return
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		if informative && s.cfg.Callbacks.OutOfOrder {
			select {
			case <-time.After(s.cfg.Callbacks.ReorderDelay):
			case <-s.ctx.Done():
				return
			}
		}
		for copyN := 0; copyN <= s.cfg.Callbacks.Duplicates; copyN++ {
			s.deliver(id, raw, url, data)
		}
	}()
}

func (s *Server) deliver(id, raw, url string, data []byte) {
	for attempt := 1; attempt <= s.cfg.Callbacks.MaxAttempts; attempt++ {
		now := s.cfg.Now()
		if s.cfg.Callbacks.SignTime != nil {
			now = s.cfg.Callbacks.SignTime()
		}
		ts := strconv.FormatInt(now.Unix(), 10)
		sig, err := s.cfg.Scheme.SignBody(s.cfg.CallbackKey, data, ts)
		if err != nil {
			return
		}
		req, err := http.NewRequestWithContext(s.ctx, http.MethodPost, url, bytes.NewReader(data))
		if err != nil {
			return
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set(highhelp.HeaderTimestamp, ts)
		req.Header.Set(highhelp.HeaderMerchantID, s.cfg.MerchantID)
		req.Header.Set(highhelp.HeaderSignature, sig)
		if s.cfg.CallbackKey.Algorithm() == highhelp.HMACSHA512 {
			req.Header.Set(highhelp.HeaderAlgorithm, s.cfg.AlgorithmHeader)
		}
		code := 0
		resp, err := s.hc.Do(req)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			code = resp.StatusCode
		}
		s.mu.Lock()
		s.deliveries = append(s.deliveries, Delivery{PaymentID: id, Status: raw, Attempt: attempt, Code: code})
		s.mu.Unlock()
		if code >= 200 && code < 300 {
			return
		}
		select {
		case <-time.After(s.cfg.Callbacks.RetryDelay):
		case <-s.ctx.Done():
			return
		}
	}
}
