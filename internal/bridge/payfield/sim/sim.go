// Package sim is a Payfield simulator on loopback for tests and
// `processor dev`: the documented endpoints (POST /api/v1/payins, GET
// /api/v1/payins/{external_id}?shop_code=, POST /api/v1/payouts, GET
// /api/v1/payouts/{external_id}, GET /api/v1/balance) with their signature
// checks, one shop's balances (total = available + pending + frozen +
// credit; a payout reserves its amount in pending until it ends), the
// status machine (pending -> success | failed | canceled | expired,
// success -> refunded) and signed webhooks with retries. It can be told to
// fail, delay, time out after accepting, or answer malformed JSON, and to
// deliver webhooks twice or out of order, or to lose every attempt of the
// webhooks of one status (LoseWebhooks).
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
	"strconv"
	"sync"
	"time"

	"github.com/ton-custody/processor/internal/bridge"
	"github.com/ton-custody/processor/internal/bridge/payfield"
)

// Options configure the simulator; zero values take the defaults.
type Options struct {
	APIKey        string
	Secret        string
	WebhookSecret string
	ShopCode      string        // default "shop-001"
	Encoding      string        // payfield.EncodingHex (default) or EncodingBase64
	Tolerance     time.Duration // request X-Timestamp tolerance, default 5m
	// RetryDelays are the waits before webhook attempts 2, 3, ...
	// (Payfield: 1, 5, 30, 60, 120 minutes; the default here is 50ms,
	// 100ms, 200ms, 400ms for tests).
	RetryDelays []time.Duration
	// Duplicates sends every webhook this many extra times.
	Duplicates int
	// OutOfOrder re-sends a payment's previous webhook after the one of
	// its new status, so the receiver sees the old status last.
	OutOfOrder bool
	// AutoSettle, when positive, moves every new payment to success after
	// this long (for `processor dev`).
	AutoSettle time.Duration
	// Addr to listen on, default 127.0.0.1:0.
	Addr string
}

// Endpoint names a simulated endpoint for fault injection.
type Endpoint string

// Endpoints.
const (
	EndpointPayin   Endpoint = "payin"
	EndpointPayout  Endpoint = "payout"
	EndpointStatus  Endpoint = "status"
	EndpointBalance Endpoint = "balance"
)

// FaultMode is what a fault does.
type FaultMode int

// Fault modes.
const (
	// Fail500 answers 500 without doing anything.
	Fail500 FaultMode = iota + 1
	// Accept500 does the work (creates the payment) and answers 500.
	Accept500
	// AcceptTimeout does the work and then waits Delay before answering
	// (longer than the client's timeout: the client sees a timeout).
	AcceptTimeout
	// Delay waits Delay before handling the request normally.
	Delay
	// Malformed does the work and answers 200 with broken JSON.
	Malformed
)

// Fault is injected into the next Count requests of an endpoint.
type Fault struct {
	Mode  FaultMode
	Delay time.Duration
	Count int // default 1
}

// Payment is a simulated payment.
type Payment struct {
	ID          int64
	Kind        bridge.Kind
	ExternalID  string
	Amount      *big.Int // minor units
	Currency    string
	Status      string
	CallbackURL string
	Link        string
	UpdatedAt   time.Time
	fromCredit  *big.Int // part of a payout's reserve taken from credit
}

type buckets struct{ available, pending, frozen, credit *big.Int }

// Delivery is one webhook attempt.
type Delivery struct {
	ExternalID string
	Status     string
	HTTPStatus int // 0: transport error
	At         time.Time
}

// Sim is a running simulator.
type Sim struct {
	// URL is the base URL, e.g. http://127.0.0.1:40123.
	URL string

	o      Options
	srv    *http.Server
	client *http.Client
	done   chan struct{}
	wg     sync.WaitGroup

	mu         sync.Mutex
	nextID     int64
	payments   map[string]*Payment
	creates    map[string]int
	balances   map[string]*buckets
	faults     map[Endpoint][]Fault
	deliveries []Delivery
	rejected   int
	lost       map[string]bool // statuses whose webhooks never arrive
	statusReqs map[string]int  // status requests by external id
}

// Start starts a simulator on loopback.
func Start(o Options) (*Sim, error) {
	if o.APIKey == "" || o.Secret == "" || o.WebhookSecret == "" {
		return nil, errors.New("payfield sim: APIKey, Secret and WebhookSecret are required")
	}
	if o.ShopCode == "" {
		o.ShopCode = "shop-001"
	}
	if o.Encoding == "" {
		o.Encoding = payfield.EncodingHex
	}
	if o.Tolerance <= 0 {
		o.Tolerance = 5 * time.Minute
	}
	if o.RetryDelays == nil {
		o.RetryDelays = []time.Duration{50 * time.Millisecond, 100 * time.Millisecond, 200 * time.Millisecond, 400 * time.Millisecond}
	}
	if o.Addr == "" {
		o.Addr = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", o.Addr)
	if err != nil {
		return nil, fmt.Errorf("payfield sim: listen: %w", err)
	}
	s := &Sim{URL: "http://" + ln.Addr().String(), o: o, done: make(chan struct{}),
		client:   &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}},
		payments: map[string]*Payment{}, creates: map[string]int{}, balances: map[string]*buckets{},
		faults: map[Endpoint][]Fault{}, lost: map[string]bool{}, statusReqs: map[string]int{}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/v1/payins", func(w http.ResponseWriter, r *http.Request) { s.create(w, r, bridge.Payin) })
	mux.HandleFunc("POST /api/v1/payouts", func(w http.ResponseWriter, r *http.Request) { s.create(w, r, bridge.Payout) })
	mux.HandleFunc("GET /api/v1/payins/{id}", func(w http.ResponseWriter, r *http.Request) { s.status(w, r, bridge.Payin) })
	mux.HandleFunc("GET /api/v1/payouts/{id}", func(w http.ResponseWriter, r *http.Request) { s.status(w, r, bridge.Payout) })
	mux.HandleFunc("GET /api/v1/balance", s.balance)
	s.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = s.srv.Serve(ln) }()
	return s, nil
}

// Close stops the server and the webhook senders.
func (s *Sim) Close() error {
	select {
	case <-s.done:
		return nil
	default:
	}
	close(s.done)
	err := s.srv.Close()
	s.wg.Wait()
	return err
}

// SetBalance sets a currency's available and credit buckets (minor units).
func (s *Sim) SetBalance(currency string, available, credit int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.bucket(currency)
	b.available.SetInt64(available)
	b.credit.SetInt64(credit)
}

func (s *Sim) bucket(cur string) *buckets {
	b, ok := s.balances[cur]
	if !ok {
		b = &buckets{new(big.Int), new(big.Int), new(big.Int), new(big.Int)}
		s.balances[cur] = b
	}
	return b
}

// Balance returns a currency's buckets (minor units): available, pending,
// frozen, credit.
func (s *Sim) Balance(cur string) (available, pending, frozen, credit *big.Int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.bucket(cur)
	return new(big.Int).Set(b.available), new(big.Int).Set(b.pending), new(big.Int).Set(b.frozen), new(big.Int).Set(b.credit)
}

// Inject makes the next requests of e fail as f says.
func (s *Sim) Inject(e Endpoint, f Fault) {
	if f.Count <= 0 {
		f.Count = 1
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults[e] = append(s.faults[e], f)
}

// ClearFaults drops every injected fault not yet taken.
func (s *Sim) ClearFaults() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = map[Endpoint][]Fault{}
}

func (s *Sim) takeFault(e Endpoint) (Fault, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	fs := s.faults[e]
	if len(fs) == 0 {
		return Fault{}, false
	}
	f := fs[0]
	fs[0].Count--
	if fs[0].Count <= 0 {
		s.faults[e] = fs[1:]
	}
	return f, true
}

// Creates returns how many create requests created the payment
// externalID (more than 1 would be a double payment; the simulator never
// does it: a repeated external_id is answered 409).
func (s *Sim) Creates(externalID string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.creates[externalID]
}

// CreateAttempts returns how many create requests named externalID.
func (s *Sim) CreateAttempts(externalID string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.creates["attempt:"+externalID]
}

// Payment returns a copy of a simulated payment.
func (s *Sim) Payment(externalID string) (Payment, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.payments[externalID]
	if !ok {
		return Payment{}, false
	}
	return *p, true
}

// LoseWebhooks makes every attempt of the webhooks announcing status (e.g.
// "refunded") fail as a transport error without reaching the receiver,
// retries included, as when they all fall inside the receiver's outage;
// lose=false delivers them again.
func (s *Sim) LoseWebhooks(status string, lose bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lost[status] = lose
}

// StatusRequests returns how many authenticated status requests named
// externalID.
func (s *Sim) StatusRequests(externalID string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.statusReqs[externalID]
}

// Deliveries returns the webhook attempts so far.
func (s *Sim) Deliveries() []Delivery {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Delivery(nil), s.deliveries...)
}

// Rejected returns how many requests failed authentication.
func (s *Sim) Rejected() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.rejected
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeErr(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, map[string]any{"message": msg, "code": code, "error": map[string]any{}})
}

// auth checks X-API-Key, X-Timestamp freshness and X-Signature exactly as
// documented: HMAC-SHA256(secret, timestamp + body).
func (s *Sim) auth(w http.ResponseWriter, r *http.Request, body []byte) bool {
	fail := func(msg string) bool {
		s.mu.Lock()
		s.rejected++
		s.mu.Unlock()
		writeErr(w, http.StatusUnauthorized, "unauthorized", msg)
		return false
	}
	if r.Header.Get("X-API-Key") != s.o.APIKey {
		return fail("invalid API key")
	}
	ts := r.Header.Get("X-Timestamp")
	t, err := payfield.ParseTimestamp(ts)
	if err != nil {
		return fail("invalid X-Timestamp")
	}
	if d := time.Since(t); d > s.o.Tolerance || d < -s.o.Tolerance {
		return fail("stale X-Timestamp")
	}
	if !payfield.Verify(s.o.Secret, ts, body, s.o.Encoding, r.Header.Get("X-Signature")) {
		return fail("invalid signature")
	}
	return true
}

// fault applies an injected fault before the work; it reports whether the
// request was answered already, and returns the fault to apply after it.
func (s *Sim) fault(w http.ResponseWriter, r *http.Request, e Endpoint) (after Fault, answered bool) {
	f, ok := s.takeFault(e)
	if !ok {
		return Fault{}, false
	}
	switch f.Mode {
	case Fail500:
		writeErr(w, http.StatusInternalServerError, "internal", "simulated failure")
		return Fault{}, true
	case Delay:
		s.sleep(r.Context(), f.Delay)
		return Fault{}, false
	}
	return f, false
}

// finish applies an after-work fault; it reports whether it answered.
func (s *Sim) finish(w http.ResponseWriter, r *http.Request, f Fault) bool {
	switch f.Mode {
	case Accept500:
		writeErr(w, http.StatusInternalServerError, "internal", "simulated failure after accepting")
		return true
	case AcceptTimeout:
		s.sleep(r.Context(), f.Delay)
		writeErr(w, http.StatusGatewayTimeout, "timeout", "simulated timeout")
		return true
	case Malformed:
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"status": "pending", "external_id": `)
		return true
	}
	return false
}

func (s *Sim) sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	case <-s.done:
	}
}

func (s *Sim) view(p *Payment) payfield.Payment {
	v := payfield.Payment{ID: json.RawMessage(strconv.FormatInt(p.ID, 10)), ExternalID: p.ExternalID, ShopCode: s.o.ShopCode,
		Status: p.Status, Amount: bridge.FormatMajor(p.Amount, p.Currency), Currency: p.Currency,
		UpdatedAt: p.UpdatedAt.UTC().Format(time.RFC3339)}
	if p.Link != "" {
		v.PaymentData = map[string]string{"payment_link": p.Link}
	}
	return v
}

func (s *Sim) create(w http.ResponseWriter, r *http.Request, kind bridge.Kind) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		writeErr(w, http.StatusBadRequest, "bad_request", "cannot read body")
		return
	}
	if !s.auth(w, r, body) {
		return
	}
	ep := EndpointPayin
	if kind == bridge.Payout {
		ep = EndpointPayout
	}
	after, answered := s.fault(w, r, ep)
	if answered {
		return
	}
	var req payfield.Payment
	if err := json.Unmarshal(body, &req); err != nil || req.ExternalID == "" || req.Currency == "" {
		writeErr(w, http.StatusUnprocessableEntity, "validation_error", "external_id, amount and currency are required")
		return
	}
	if req.ShopCode != "" && req.ShopCode != s.o.ShopCode {
		writeErr(w, http.StatusNotFound, "not_found", "unknown shop")
		return
	}
	amt, err := bridge.ParseMajor(req.Amount, req.Currency)
	if err != nil || amt.Sign() <= 0 {
		writeErr(w, http.StatusUnprocessableEntity, "validation_error", "amount must be a positive decimal")
		return
	}
	s.mu.Lock()
	s.creates["attempt:"+req.ExternalID]++
	if _, dup := s.payments[req.ExternalID]; dup {
		s.mu.Unlock()
		writeErr(w, http.StatusConflict, "duplicate", "external_id already exists")
		return
	}
	p := &Payment{Kind: kind, ExternalID: req.ExternalID, Amount: amt, Currency: req.Currency, Status: "pending",
		CallbackURL: req.CallbackURL, UpdatedAt: time.Now()}
	if kind == bridge.Payout {
		b := s.bucket(req.Currency)
		total := new(big.Int).Add(b.available, b.credit)
		if total.Cmp(amt) < 0 {
			s.mu.Unlock()
			writeErr(w, http.StatusUnprocessableEntity, "insufficient_funds", "insufficient balance for the payout")
			return
		}
		fromAvail := new(big.Int).Set(amt)
		if fromAvail.Cmp(b.available) > 0 {
			fromAvail.Set(b.available)
		}
		p.fromCredit = new(big.Int).Sub(amt, fromAvail)
		b.available.Sub(b.available, fromAvail)
		b.credit.Sub(b.credit, p.fromCredit)
		b.pending.Add(b.pending, amt)
	}
	s.nextID++
	p.ID = s.nextID
	if kind == bridge.Payin {
		p.Link = s.URL + "/pay/" + req.ExternalID
	}
	s.payments[req.ExternalID] = p
	s.creates[req.ExternalID]++
	v := s.view(p)
	s.mu.Unlock()
	if s.o.AutoSettle > 0 {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.sleep(context.Background(), s.o.AutoSettle)
			_ = s.Settle(req.ExternalID, "success")
		}()
	}
	if s.finish(w, r, after) {
		return
	}
	writeJSON(w, http.StatusCreated, v)
}

func (s *Sim) status(w http.ResponseWriter, r *http.Request, kind bridge.Kind) {
	if !s.auth(w, r, nil) {
		return
	}
	s.mu.Lock()
	s.statusReqs[r.PathValue("id")]++
	s.mu.Unlock()
	after, answered := s.fault(w, r, EndpointStatus)
	if answered {
		return
	}
	if sc := r.URL.Query().Get("shop_code"); sc != "" && sc != s.o.ShopCode {
		writeErr(w, http.StatusNotFound, "not_found", "unknown shop")
		return
	}
	s.mu.Lock()
	p, ok := s.payments[r.PathValue("id")]
	var v payfield.Payment
	if ok && p.Kind == kind {
		v = s.view(p)
	}
	s.mu.Unlock()
	if !ok || p.Kind != kind {
		writeErr(w, http.StatusNotFound, "not_found", "payment not found")
		return
	}
	if s.finish(w, r, after) {
		return
	}
	writeJSON(w, http.StatusOK, v)
}

func (s *Sim) balance(w http.ResponseWriter, r *http.Request) {
	if !s.auth(w, r, nil) {
		return
	}
	after, answered := s.fault(w, r, EndpointBalance)
	if answered {
		return
	}
	q := r.URL.Query()
	if sc := q.Get("shop_code"); sc != "" && sc != s.o.ShopCode {
		writeErr(w, http.StatusNotFound, "not_found", "unknown shop")
		return
	}
	cur := q.Get("currency")
	if cur == "" {
		cur = "RUB"
	}
	s.mu.Lock()
	b := s.bucket(cur)
	f := func(v *big.Int) string { return bridge.FormatMajor(v, cur) }
	total := new(big.Int).Add(b.available, b.pending)
	total.Add(total, b.frozen).Add(total, b.credit)
	resp := map[string]any{
		"currency": cur, "shop": map[string]any{"id": 42, "code": s.o.ShopCode},
		"as_of":   time.Now().Format(time.RFC3339),
		"balance": f(b.available), "available": f(b.available), "pending": f(b.pending), "frozen": f(b.frozen),
		"credit": f(b.credit), "total": f(total), "on_hold": f(b.pending),
		"buckets":           map[string]string{"available": f(b.available), "pending": f(b.pending), "frozen": f(b.frozen), "credit": f(b.credit)},
		"pending_breakdown": map[string]string{"payout_reserved": f(b.pending)},
	}
	s.mu.Unlock()
	if s.finish(w, r, after) {
		return
	}
	writeJSON(w, http.StatusOK, resp)
}

// Settle moves a payment to status (success, failed, canceled, expired, or
// refunded after success), updates the balances and sends the webhook.
func (s *Sim) Settle(externalID, status string) error {
	s.mu.Lock()
	p, ok := s.payments[externalID]
	if !ok {
		s.mu.Unlock()
		return fmt.Errorf("payfield sim: no payment %s", externalID)
	}
	prev := s.view(p)
	switch {
	case p.Status == "pending" && (status == "success" || status == "failed" || status == "canceled" || status == "expired"):
	case p.Status == "success" && status == "refunded":
	default:
		s.mu.Unlock()
		return fmt.Errorf("payfield sim: %s cannot go from %s to %s", externalID, p.Status, status)
	}
	b := s.bucket(p.Currency)
	switch {
	case p.Kind == bridge.Payin && status == "success":
		b.available.Add(b.available, p.Amount)
	case p.Kind == bridge.Payin && status == "refunded":
		b.available.Sub(b.available, p.Amount)
	case p.Kind == bridge.Payout && status == "success":
		b.pending.Sub(b.pending, p.Amount)
	case p.Kind == bridge.Payout && status == "refunded":
		b.available.Add(b.available, p.Amount)
	case p.Kind == bridge.Payout: // failed, canceled, expired: release the reserve
		b.pending.Sub(b.pending, p.Amount)
		b.credit.Add(b.credit, p.fromCredit)
		b.available.Add(b.available, new(big.Int).Sub(p.Amount, p.fromCredit))
	}
	p.Status = status
	p.UpdatedAt = time.Now()
	v := s.view(p)
	url := p.CallbackURL
	s.mu.Unlock()
	if url == "" {
		return nil
	}
	s.send(url, v, 0)
	if s.o.OutOfOrder {
		s.send(url, prev, 20*time.Millisecond)
	}
	return nil
}

// send delivers a webhook (plus Options.Duplicates copies) in the
// background, retrying on anything but 2xx.
func (s *Sim) send(url string, v payfield.Payment, delay time.Duration) {
	body, _ := json.Marshal(v)
	for i := 0; i <= s.o.Duplicates; i++ {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			if delay > 0 {
				s.sleep(context.Background(), delay)
			}
			for attempt := 0; ; attempt++ {
				s.mu.Lock()
				lost := s.lost[v.Status]
				s.mu.Unlock()
				code := 0 // lost: as a transport error
				if !lost {
					code = s.deliver(url, body)
				}
				s.mu.Lock()
				s.deliveries = append(s.deliveries, Delivery{ExternalID: v.ExternalID, Status: v.Status, HTTPStatus: code, At: time.Now()})
				s.mu.Unlock()
				if code >= 200 && code < 300 || attempt >= len(s.o.RetryDelays) {
					return
				}
				select {
				case <-s.done:
					return
				case <-time.After(s.o.RetryDelays[attempt]):
				}
			}
		}()
	}
}

func (s *Sim) deliver(url string, body []byte) int {
	_, hdr := WebhookRequest(s.o.WebhookSecret, s.o.Encoding, body, time.Now())
	r, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return 0
	}
	r.Header = hdr
	resp, err := s.client.Do(r)
	if err != nil {
		return 0
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	return resp.StatusCode
}

// WebhookRequest returns the body and headers of a Payfield webhook signed
// with secret at time ts: X-Timestamp (ISO-8601 UTC) and X-Signature =
// HMAC-SHA256(secret, X-Timestamp + body).
func WebhookRequest(secret, encoding string, body []byte, ts time.Time) ([]byte, http.Header) {
	stamp := ts.UTC().Format(time.RFC3339)
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	h.Set("X-Timestamp", stamp)
	h.Set("X-Signature", payfield.Sign(secret, stamp, body, encoding))
	return body, h
}

// WebhookBody returns the JSON webhook body of a payment as the simulator
// sends it.
func (s *Sim) WebhookBody(externalID string) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.payments[externalID]
	if !ok {
		return nil, fmt.Errorf("payfield sim: no payment %s", externalID)
	}
	return json.Marshal(s.view(p))
}
