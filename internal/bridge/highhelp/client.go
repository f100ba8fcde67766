// Package highhelp is the bridge's HighHelp (hh-processing.com) provider:
// a client for the H2H P2P API (payins, payouts, status, balance, banks),
// HighHelp's body normalization and request/callback signatures (one place:
// sign.go), the status mapping and callback verification. Sub-package sim
// is a loopback simulator of the same API.
//
// Requests carry x-access-timestamp (unix seconds), x-access-merchant-id,
// x-access-token and x-access-signature (plus x-access-merchant-algorithm
// when HMAC-SHA512 is used). The signature covers
// base64url(Normalize(body)) + timestamp.
package highhelp

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
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/ton-custody/processor/internal/bridge"
)

// Header names.
const (
	HeaderTimestamp  = "x-access-timestamp"
	HeaderMerchantID = "x-access-merchant-id"
	HeaderToken      = "x-access-token"
	HeaderSignature  = "x-access-signature"
	HeaderAlgorithm  = "x-access-merchant-algorithm"
)

// Endpoint paths.
const (
	PathBalance   = "/api/v1/balance/info"
	PathBanks     = "/api/v1/bank/all"
	PathPayin     = "/api/v1/payment/p2p/payin"
	PathPayout    = "/api/v1/payment/p2p/payout"
	PathPayinInfo = "/api/v1/payment/p2p/payin/info"
	PathPayoutInf = "/api/v1/payment/p2p/payout/info"
)

// Name is the provider name the bridge registers.
const Name = "highhelp"

// DefaultCallbackMaxAge is how far a callback's x-access-timestamp may be
// from now before the callback is rejected as stale.
const DefaultCallbackMaxAge = 5 * time.Minute

// Config configures a Client.
type Config struct {
	BaseURL    string // e.g. https://api.hh-processing.com
	MerchantID string // x-access-merchant-id: the kassa UUID
	ProjectID  string // general.project_id; defaults to MerchantID
	// Key signs requests: RSAKey(kassa private key) (default algorithm) or
	// HMACKey(secret).
	Key Key
	// Token is x-access-token. Defaults to Key.Token() (base64url of the
	// SPKI DER public key) for RSA keys; required for HMAC keys.
	Token string
	// AlgorithmHeader is the x-access-merchant-algorithm value sent with
	// HMAC signatures (not sent for RSA). Default "HMAC-SHA512"; the exact
	// spelling the server expects is not public.
	AlgorithmHeader string
	Scheme          Scheme // normalization and signature encoding
	// CallbackKey verifies callbacks: RSAPublicKey(HighHelp's key) or
	// HMACKey(callback secret).
	CallbackKey Key
	// CallbackMaxAge bounds |now - x-access-timestamp| of callbacks.
	// Default DefaultCallbackMaxAge.
	CallbackMaxAge time.Duration
	// Timeout bounds each HTTP call. Default bridge.DefaultTimeout.
	Timeout    time.Duration
	HTTPClient *http.Client     // default: a client with Timeout
	Now        func() time.Time // default time.Now
}

// Client is a HighHelp client. It implements bridge.PayinCreator,
// PayoutCreator, StatusGetter, BalanceGetter, BankLister, CallbackParser.
type Client struct {
	cfg  Config
	base *url.URL
	hc   *http.Client
}

var (
	_ bridge.PayinCreator   = (*Client)(nil)
	_ bridge.PayoutCreator  = (*Client)(nil)
	_ bridge.StatusGetter   = (*Client)(nil)
	_ bridge.BalanceGetter  = (*Client)(nil)
	_ bridge.BankLister     = (*Client)(nil)
	_ bridge.CallbackParser = (*Client)(nil)
)

// New validates cfg, fills defaults and returns a Client.
func New(cfg Config) (*Client, error) {
	u, err := bridge.ParseBaseURL("highhelp", cfg.BaseURL)
	if err != nil {
		return nil, err
	}
	if cfg.MerchantID == "" {
		return nil, errors.New("highhelp: merchant id is required")
	}
	if cfg.ProjectID == "" {
		cfg.ProjectID = cfg.MerchantID
	}
	switch cfg.Key.alg {
	case RSASHA256:
		if cfg.Key.priv == nil {
			return nil, errors.New("highhelp: signing needs an RSA private key")
		}
		if cfg.Token == "" {
			if cfg.Token, err = cfg.Key.Token(); err != nil {
				return nil, err
			}
		}
	case HMACSHA512:
		if cfg.Token == "" {
			return nil, errors.New("highhelp: HMAC signing needs an access token")
		}
	default:
		return nil, errors.New("highhelp: a signing key is required")
	}
	if cfg.AlgorithmHeader == "" {
		cfg.AlgorithmHeader = string(HMACSHA512)
	}
	if cfg.CallbackMaxAge <= 0 {
		cfg.CallbackMaxAge = DefaultCallbackMaxAge
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = bridge.DefaultTimeout
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	hc := cfg.HTTPClient
	if hc == nil {
		hc = &http.Client{Timeout: cfg.Timeout}
	}
	return &Client{cfg: cfg, base: u, hc: hc}, nil
}

// Name returns "highhelp".
func (c *Client) Name() string { return Name }

// general is the "general" object of every request.
type general struct {
	ProjectID   string `json:"project_id"`
	PaymentID   string `json:"payment_id,omitempty"`
	CallbackURL string `json:"merchant_callback_url,omitempty"`
}

type paymentBody struct {
	Method        string      `json:"method,omitempty"`
	PaymentSystem string      `json:"payment_system,omitempty"`
	Amount        json.Number `json:"amount"`
	Currency      string      `json:"currency"`
	Lifetime      json.Number `json:"lifetime,omitempty"`
}

type createBody struct {
	General  general           `json:"general"`
	Payment  paymentBody       `json:"payment"`
	Receiver map[string]string `json:"receiver,omitempty"`
	Customer map[string]string `json:"customer,omitempty"`
}

// PaymentResponse is HighHelp's answer to create and info calls (and the
// body of callbacks).
type PaymentResponse struct {
	Status            string          `json:"status"`
	SubStatus         string          `json:"sub_status"`
	RequestID         string          `json:"request_id"`
	PaymentID         string          `json:"payment_id"`
	StatusDescription string          `json:"status_description"`
	General           *general        `json:"general"`
	Payment           *paymentSummary `json:"payment"`
	Amount            json.Number     `json:"amount"`
	Currency          string          `json:"currency"`
	Integration       struct {
		FormURL     string `json:"form_url"`
		RedirectURL string `json:"redirect_url"`
	} `json:"integration"`
}

type paymentSummary struct {
	Amount   json.Number `json:"amount"`
	Currency string      `json:"currency"`
}

// Reference returns our payment id (top level, else general.payment_id).
func (r PaymentResponse) Reference() string {
	if r.PaymentID != "" {
		return r.PaymentID
	}
	if r.General != nil {
		return r.General.PaymentID
	}
	return ""
}

// Result maps the response to the bridge model for kind.
func (r PaymentResponse) Result(kind bridge.Kind) bridge.Result {
	res := bridge.Result{
		Status:      MapStatus(kind, r.Status, r.SubStatus),
		RawStatus:   RawStatus(r.Status, r.SubStatus),
		ProviderID:  r.RequestID,
		RedirectURL: r.Integration.RedirectURL,
		Reason:      r.StatusDescription,
	}
	if res.RedirectURL == "" {
		res.RedirectURL = r.Integration.FormURL
	}
	amt, cur := r.Amount, r.Currency
	if r.Payment != nil && r.Payment.Amount != "" {
		amt, cur = r.Payment.Amount, r.Payment.Currency
	}
	if v, ok := new(big.Int).SetString(amt.String(), 10); ok && cur != "" {
		res.Amount = &bridge.Money{Amount: v, Currency: cur}
	}
	return res
}

// CreatePayin creates a P2P payin (POST /api/v1/payment/p2p/payin).
// Mapping: Reference → general.payment_id, Callback →
// general.merchant_callback_url, Method → payment.method (e.g. "card-p2p",
// "sbp-p2p"), Extra["payment_system"] → payment.payment_system (a bank
// symbol from Banks), Extra["lifetime"] (seconds) → payment.lifetime,
// Customer → customer{...}. Amount is minor units.
func (c *Client) CreatePayin(ctx context.Context, p bridge.Payment) (bridge.Result, error) {
	return c.create(ctx, bridge.Payin, p)
}

// CreatePayout creates a P2P payout (POST /api/v1/payment/p2p/payout);
// mapping as CreatePayin, with Customer → receiver{...} (card number,
// phone, bank, holder name as HighHelp names them) and Callback given
// ?kind=payout (HighHelp's callbacks do not say payin or payout;
// ParseCallback reads it there).
func (c *Client) CreatePayout(ctx context.Context, p bridge.Payment) (bridge.Result, error) {
	return c.create(ctx, bridge.Payout, p)
}

func (c *Client) create(ctx context.Context, kind bridge.Kind, p bridge.Payment) (bridge.Result, error) {
	if p.Reference == "" || p.Money.Amount == nil || p.Money.Amount.Sign() <= 0 || p.Money.Currency == "" {
		return bridge.Result{}, fmt.Errorf("highhelp: create %s: reference, positive amount and currency are required: %w", kind, bridge.ErrRejected)
	}
	cbURL, err := callbackURL(p.Callback, kind)
	if err != nil {
		return bridge.Result{}, fmt.Errorf("highhelp: create %s: %w: %w", kind, err, bridge.ErrRejected) // nothing sent
	}
	body := createBody{
		General: general{ProjectID: c.cfg.ProjectID, PaymentID: p.Reference, CallbackURL: cbURL},
		Payment: paymentBody{
			Method:        p.Method,
			PaymentSystem: p.Extra["payment_system"],
			Amount:        json.Number(p.Money.Amount.String()),
			Currency:      p.Money.Currency,
		},
	}
	if lt := p.Extra["lifetime"]; lt != "" {
		if _, err := strconv.ParseUint(lt, 10, 32); err != nil {
			return bridge.Result{}, fmt.Errorf("highhelp: create %s: lifetime %q is not a number of seconds: %w", kind, lt, bridge.ErrRejected)
		}
		body.Payment.Lifetime = json.Number(lt)
	}
	path := PathPayin
	if kind == bridge.Payout {
		path = PathPayout
		body.Receiver = p.Customer
	} else {
		body.Customer = p.Customer
	}
	var resp PaymentResponse
	if err := c.call(ctx, path, body, &resp, true); err != nil {
		return bridge.Result{}, fmt.Errorf("highhelp: create %s %s: %w", kind, p.Reference, err)
	}
	res := resp.Result(kind)
	if resp.Status == "" {
		return res, fmt.Errorf("highhelp: create %s %s: answer without status: %w", kind, p.Reference, bridge.ErrOutcomeUnknown)
	}
	if resp.Status == "error" {
		return res, fmt.Errorf("highhelp: create %s %s: %s: %w", kind, p.Reference, resp.StatusDescription, bridge.ErrRejected)
	}
	return res, nil
}

// callbackURL is the merchant_callback_url of a payment of kind: raw,
// with kind=payout added for payouts.
func callbackURL(raw string, kind bridge.Kind) (string, error) {
	if raw == "" || kind != bridge.Payout {
		return raw, nil
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "", fmt.Errorf("callback URL %q: %w", raw, err)
	}
	q := u.Query()
	q.Set("kind", string(bridge.Payout))
	u.RawQuery = q.Encode()
	return u.String(), nil
}

// Status asks for a payment's state (POST .../p2p/{payin|payout}/info).
// A 404 answer is bridge.ErrNotFound.
func (c *Client) Status(ctx context.Context, kind bridge.Kind, reference string) (bridge.Result, error) {
	path := PathPayinInfo
	if kind == bridge.Payout {
		path = PathPayoutInf
	}
	var resp PaymentResponse
	body := struct {
		General general `json:"general"`
	}{general{ProjectID: c.cfg.ProjectID, PaymentID: reference}}
	if err := c.call(ctx, path, body, &resp, false); err != nil {
		return bridge.Result{}, fmt.Errorf("highhelp: status %s %s: %w", kind, reference, err)
	}
	if resp.Status == "" {
		return bridge.Result{}, fmt.Errorf("highhelp: status %s %s: answer without status: %w", kind, reference, bridge.ErrOutcomeUnknown)
	}
	return resp.Result(kind), nil
}

// Balances returns the kassa balances (POST /api/v1/balance/info):
// Available = amount, Frozen = locked_amount, Total = their sum.
func (c *Client) Balances(ctx context.Context) ([]bridge.Balance, error) {
	var resp struct {
		Balance []struct {
			Currency     string      `json:"currency"`
			Amount       json.Number `json:"amount"`
			LockedAmount json.Number `json:"locked_amount"`
		} `json:"balance"`
	}
	body := struct {
		General general `json:"general"`
	}{general{ProjectID: c.cfg.ProjectID}}
	if err := c.call(ctx, PathBalance, body, &resp, false); err != nil {
		return nil, fmt.Errorf("highhelp: balances: %w", err)
	}
	out := make([]bridge.Balance, 0, len(resp.Balance))
	for _, b := range resp.Balance {
		avail, ok1 := intOrZero(b.Amount)
		locked, ok2 := intOrZero(b.LockedAmount)
		if !ok1 || !ok2 {
			return nil, fmt.Errorf("highhelp: balances: %s: amounts %q/%q are not integers", b.Currency, b.Amount, b.LockedAmount)
		}
		out = append(out, bridge.Balance{
			Currency:  b.Currency,
			Available: avail,
			Frozen:    locked,
			Total:     new(big.Int).Add(avail, locked),
		})
	}
	return out, nil
}

func intOrZero(n json.Number) (*big.Int, bool) {
	if n == "" {
		return new(big.Int), true
	}
	return new(big.Int).SetString(n.String(), 10)
}

// BankInfo is one bank as /api/v1/bank/all lists it.
type BankInfo struct {
	ID          string `json:"id"`
	Name        string `json:"name"`
	Symbol      string `json:"symbol"`
	SBPCode     string `json:"sbp_code"`
	IsSBPBank   bool   `json:"is_sbp_bank"`
	CountryCode string `json:"country_code"`
}

// BankList returns the banks as HighHelp lists them.
func (c *Client) BankList(ctx context.Context) ([]BankInfo, error) {
	var resp []BankInfo
	body := struct {
		General general `json:"general"`
	}{general{ProjectID: c.cfg.ProjectID}}
	if err := c.call(ctx, PathBanks, body, &resp, false); err != nil {
		return nil, fmt.Errorf("highhelp: banks: %w", err)
	}
	return resp, nil
}

// countryCurrency gives the currency of the countries HighHelp serves; a
// bank of another country gets no currency.
var countryCurrency = map[string]string{
	"RU": "RUB", "UZ": "UZS", "KZ": "KZT", "KG": "KGS", "TJ": "TJS", "AZ": "AZN", "AM": "AMD", "GE": "GEL", "BY": "BYN", "TR": "TRY",
}

// Banks maps BankList to the bridge model: Code = symbol (what payment
// requests use), Currency from the country code, Methods = ["sbp-p2p"]
// for banks in the fast payment system (others cannot use sbp-p2p).
func (c *Client) Banks(ctx context.Context) ([]bridge.Bank, error) {
	list, err := c.BankList(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]bridge.Bank, 0, len(list))
	for _, b := range list {
		bank := bridge.Bank{Code: b.Symbol, Name: strings.TrimSpace(b.Name), Currency: countryCurrency[b.CountryCode]}
		if b.IsSBPBank {
			bank.Methods = []string{"sbp-p2p"}
		}
		out = append(out, bank)
	}
	return out, nil
}

// call signs and POSTs body to path and decodes a 2xx answer into out.
// create marks calls whose outcome matters (everything after the request
// may have left is ErrOutcomeUnknown).
func (c *Client) call(ctx context.Context, path string, body, out any, create bool) error {
	raw, err := json.Marshal(body)
	if err != nil {
		return fmt.Errorf("encode request: %w", err)
	}
	ts := strconv.FormatInt(c.cfg.Now().Unix(), 10)
	sig, err := c.cfg.Scheme.SignBody(c.cfg.Key, raw, ts)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base.String()+path, bytes.NewReader(raw))
	if err != nil {
		return fmt.Errorf("build request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	req.Header.Set(HeaderTimestamp, ts)
	req.Header.Set(HeaderMerchantID, c.cfg.MerchantID)
	req.Header.Set(HeaderToken, c.cfg.Token)
	req.Header.Set(HeaderSignature, sig)
	if c.cfg.Key.alg == HMACSHA512 {
		req.Header.Set(HeaderAlgorithm, c.cfg.AlgorithmHeader)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		if notSent(err) {
			return fmt.Errorf("request not sent: %w", err)
		}
		return fmt.Errorf("%w: %w", bridge.ErrOutcomeUnknown, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return fmt.Errorf("%w: read answer: %w", bridge.ErrOutcomeUnknown, err)
	}
	switch {
	case resp.StatusCode == http.StatusNotFound && !create && ownError(data):
		return fmt.Errorf("%s: %w", errorMessage(data, resp.Status), bridge.ErrNotFound)
	case resp.StatusCode == http.StatusNotFound && !create:
		// Not HighHelp's own answer (a proxy's page, a wrong base URL):
		// nothing is known about the payment, so it must never end it.
		return fmt.Errorf("%w: HTTP 404 that is not HighHelp's error answer: %s", bridge.ErrNoDefiniteAnswer, errorMessage(data, resp.Status))
	case resp.StatusCode == http.StatusRequestTimeout || resp.StatusCode == http.StatusTooManyRequests:
		// Refused before processing: safe to retry, but keep it unknown
		// for create calls so nothing is created twice.
		return fmt.Errorf("%w: HTTP %d: %s", bridge.ErrOutcomeUnknown, resp.StatusCode, errorMessage(data, resp.Status))
	case resp.StatusCode >= 400 && resp.StatusCode < 500:
		return fmt.Errorf("HTTP %d: %s: %w", resp.StatusCode, errorMessage(data, resp.Status), bridge.ErrRejected)
	case resp.StatusCode < 200 || resp.StatusCode > 299:
		return fmt.Errorf("%w: HTTP %d: %s", bridge.ErrOutcomeUnknown, resp.StatusCode, errorMessage(data, resp.Status))
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("%w: malformed answer: %w", bridge.ErrOutcomeUnknown, err)
	}
	return nil
}

// notSent reports errors that happen before any byte of the request left
// (dial failures, DNS), for which the outcome is known: nothing happened.
func notSent(err error) bool {
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return true
	}
	var dns *net.DNSError
	return errors.As(err, &dns)
}

// errorMessage pulls the provider's reason out of an error body.
// ownError reports whether an error body is HighHelp's own JSON answer
// ({"status": "error", "status_description": ...}), not a page from
// something in front of it.
func ownError(data []byte) bool {
	var e struct {
		Status      string  `json:"status"`
		Description *string `json:"status_description"`
	}
	return json.Unmarshal(data, &e) == nil && e.Status == "error" && e.Description != nil
}

func errorMessage(data []byte, fallback string) string {
	var m map[string]any
	if json.Unmarshal(data, &m) == nil {
		for _, k := range []string{"status_description", "message", "detail", "error", "description"} {
			switch v := m[k].(type) {
			case string:
				if v != "" {
					return v
				}
			case map[string]any, []any:
				b, _ := json.Marshal(v)
				return string(b)
			}
		}
	}
	s := strings.TrimSpace(string(data))
	if len(s) > 200 {
		s = s[:200]
	}
	if s == "" {
		return fallback
	}
	return s
}
