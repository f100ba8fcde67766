// Package payfield is the bridge's Payfield client (payins, payouts,
// status, balances, signed webhooks), after Payfield's public API docs and
// its shop-balance HMAC specification.
//
// Requests carry X-API-Key, X-Timestamp and X-Signature =
// HMAC-SHA256(secret, timestamp + body) (empty body for GET). Whether the
// signature is hex or base64 is not documented: Options.Encoding, default
// hex. Webhooks carry X-Timestamp (ISO-8601 UTC) and X-Signature =
// HMAC-SHA256(webhook_secret, X-Timestamp + raw body), same encoding;
// timestamps further than WebhookTolerance from now are rejected.
//
// Amounts go to Payfield as decimal strings in major units with the
// currency's scale ("1500.00"); the bridge's minor units are converted
// with bridge.MinorDigits. Customer["user_id"] and Customer["ip"] become
// merchant_user_id and merchant_user_ip; the other Customer and all Extra
// entries go into paymentData (e.g. ifsc_code, holder, wallet_provider).
//
// Status mapping: pending -> processing (action_required for a payin that
// has a payment_link), success -> succeeded, failed -> failed, canceled ->
// canceled, refunded -> reversed, expired -> expired; Payfield's internal
// processing, waiting_api, processing_api, pay_error, polling_expired and
// any status not known here -> processing (the raw status is kept).
package payfield

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/ton-custody/processor/internal/bridge"
	"github.com/ton-custody/processor/internal/config"
)

// Name is the provider name in configuration and URLs.
const Name = "payfield"

// Signature encodings.
const (
	EncodingHex    = "hex"
	EncodingBase64 = "base64"
)

// Timestamp formats of X-Timestamp in requests.
const (
	TimestampISO8601 = "iso8601"
	TimestampUnix    = "unix"
)

// DefaultWebhookTolerance is how far a webhook's X-Timestamp may be from now.
const DefaultWebhookTolerance = 5 * time.Minute

// Options configure a Client.
type Options struct {
	BaseURL          string // e.g. https://api.payfield.io
	APIKey           config.Secret
	Secret           config.Secret // request signing secret
	WebhookSecret    config.Secret // webhook signing secret
	ShopCode         string        // optional: the merchant's default shop otherwise; set, webhooks of other shops are refused
	Encoding         string        // EncodingHex (default) or EncodingBase64
	TimestampFormat  string        // TimestampISO8601 (default) or TimestampUnix
	WebhookTolerance time.Duration // default DefaultWebhookTolerance
	Currencies       []string      // balances to report (default RUB)
	Client           *http.Client  // default: timeout bridge.DefaultTimeout
	Now              func() time.Time
}

// Client talks to Payfield. It implements bridge.PayinCreator,
// PayoutCreator, StatusGetter, BalanceGetter and CallbackParser.
type Client struct {
	o    Options
	base string
}

// New returns a client for o.
func New(o Options) (*Client, error) {
	u, err := url.Parse(o.BaseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, errors.New("payfield: base URL must be an http(s) URL")
	}
	if !o.APIKey.IsSet() || !o.Secret.IsSet() {
		return nil, errors.New("payfield: API key and secret are required")
	}
	switch o.Encoding {
	case "":
		o.Encoding = EncodingHex
	case EncodingHex, EncodingBase64:
	default:
		return nil, fmt.Errorf("payfield: signature encoding %q must be hex or base64", o.Encoding)
	}
	switch o.TimestampFormat {
	case "":
		o.TimestampFormat = TimestampISO8601
	case TimestampISO8601, TimestampUnix:
	default:
		return nil, fmt.Errorf("payfield: timestamp format %q must be iso8601 or unix", o.TimestampFormat)
	}
	if o.WebhookTolerance <= 0 {
		o.WebhookTolerance = DefaultWebhookTolerance
	}
	if len(o.Currencies) == 0 {
		o.Currencies = []string{"RUB"}
	}
	if o.Client == nil {
		o.Client = &http.Client{Timeout: bridge.DefaultTimeout}
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Client{o: o, base: strings.TrimRight(o.BaseURL, "/")}, nil
}

// Name returns "payfield".
func (c *Client) Name() string { return Name }

// ReportsReversals is true: Status maps Payfield's refunded to
// bridge.StatusReversed, so the bridge polls succeeded payments for a
// refund whose webhook was lost.
func (c *Client) ReportsReversals() bool { return true }

// Sign returns HMAC-SHA256(secret, timestamp + body) in encoding (hex or
// base64): Payfield's request and webhook signature.
func Sign(secret, timestamp string, body []byte, encoding string) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(timestamp))
	m.Write(body)
	sum := m.Sum(nil)
	if encoding == EncodingBase64 {
		return base64.StdEncoding.EncodeToString(sum)
	}
	return hex.EncodeToString(sum)
}

// Verify reports whether sig is Sign(secret, timestamp, body, encoding),
// in constant time (hex in either case).
func Verify(secret, timestamp string, body []byte, encoding, sig string) bool {
	want, _ := decodeSig(Sign(secret, timestamp, body, encoding), encoding)
	got, err := decodeSig(strings.TrimSpace(sig), encoding)
	if err != nil || len(got) != sha256.Size {
		return false
	}
	return hmac.Equal(want, got)
}

func decodeSig(s, encoding string) ([]byte, error) {
	if encoding == EncodingBase64 {
		return base64.StdEncoding.DecodeString(s)
	}
	return hex.DecodeString(strings.ToLower(s))
}

// Timestamp formats t as Payfield's X-Timestamp in format.
func Timestamp(t time.Time, format string) string {
	if format == TimestampUnix {
		return strconv.FormatInt(t.Unix(), 10)
	}
	return t.UTC().Format(time.RFC3339)
}

// ParseTimestamp reads an X-Timestamp: ISO-8601 (RFC 3339) or unix seconds.
func ParseTimestamp(s string) (time.Time, error) {
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return time.Unix(n, 0), nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("payfield: timestamp %q is neither ISO-8601 nor unix seconds", s)
	}
	return t, nil
}

// Payment is Payfield's payin/payout object, in requests, responses and
// webhooks.
type Payment struct {
	ID          json.RawMessage   `json:"id,omitempty"`
	ExternalID  string            `json:"external_id"`
	ShopCode    string            `json:"shop_code,omitempty"`
	Status      string            `json:"status,omitempty"`
	Amount      string            `json:"amount"`
	Currency    string            `json:"currency"`
	CallbackURL string            `json:"callback_url,omitempty"`
	UserID      string            `json:"merchant_user_id,omitempty"`
	UserIP      string            `json:"merchant_user_ip,omitempty"`
	PaymentData map[string]string `json:"paymentData,omitempty"`
	UpdatedAt   string            `json:"updated_at,omitempty"`
	Message     string            `json:"message,omitempty"`
}

// BalanceResponse is GET /api/v1/balance's answer.
type BalanceResponse struct {
	Currency string `json:"currency"`
	Shop     struct {
		ID   int64  `json:"id"`
		Code string `json:"code"`
	} `json:"shop"`
	AsOf      string            `json:"as_of"`
	Balance   string            `json:"balance"`
	Available string            `json:"available"`
	Pending   string            `json:"pending"`
	Frozen    string            `json:"frozen"`
	Credit    string            `json:"credit"`
	Total     string            `json:"total"`
	OnHold    string            `json:"on_hold"`
	Buckets   map[string]string `json:"buckets"`
	Breakdown map[string]string `json:"pending_breakdown"`
}

// MapStatus maps a Payfield status to the bridge's model.
func MapStatus(kind bridge.Kind, raw string, hasLink bool) bridge.Status {
	switch raw {
	case "success":
		return bridge.StatusSucceeded
	case "failed":
		return bridge.StatusFailed
	case "canceled", "cancelled":
		return bridge.StatusCanceled
	case "refunded":
		return bridge.StatusReversed
	case "expired":
		return bridge.StatusExpired
	case "pending":
		if kind == bridge.Payin && hasLink {
			return bridge.StatusActionRequired
		}
	}
	return bridge.StatusProcessing
}

func (p Payment) result(kind bridge.Kind) bridge.Result {
	link := p.PaymentData["payment_link"]
	r := bridge.Result{Status: MapStatus(kind, p.Status, link != ""), RawStatus: p.Status,
		ProviderID: strings.Trim(string(p.ID), `"`), RedirectURL: link}
	if p.Amount != "" && p.Currency != "" {
		if v, err := bridge.ParseMajor(p.Amount, p.Currency); err == nil {
			r.Amount = &bridge.Money{Amount: v, Currency: p.Currency}
		}
	}
	if r.Status == bridge.StatusFailed || r.Status == bridge.StatusCanceled {
		r.Reason = p.Message
	}
	return r
}

// CreatePayin implements bridge.PayinCreator.
func (c *Client) CreatePayin(ctx context.Context, p bridge.Payment) (bridge.Result, error) {
	return c.create(ctx, "/api/v1/payins", p)
}

// CreatePayout implements bridge.PayoutCreator.
func (c *Client) CreatePayout(ctx context.Context, p bridge.Payment) (bridge.Result, error) {
	return c.create(ctx, "/api/v1/payouts", p)
}

func (c *Client) create(ctx context.Context, path string, p bridge.Payment) (bridge.Result, error) {
	req := Payment{ExternalID: p.Reference, ShopCode: c.o.ShopCode, Amount: bridge.FormatMajor(p.Money.Amount, p.Money.Currency),
		Currency: p.Money.Currency, CallbackURL: p.Callback, UserID: p.Customer["user_id"], UserIP: p.Customer["ip"]}
	for k, v := range p.Customer {
		if k != "user_id" && k != "ip" {
			if req.PaymentData == nil {
				req.PaymentData = map[string]string{}
			}
			req.PaymentData[k] = v
		}
	}
	for k, v := range p.Extra {
		if req.PaymentData == nil {
			req.PaymentData = map[string]string{}
		}
		req.PaymentData[k] = v
	}
	body, err := json.Marshal(req)
	if err != nil {
		return bridge.Result{}, fmt.Errorf("payfield: encode request: %w", err)
	}
	status, resp, err := c.do(ctx, http.MethodPost, path, nil, body)
	if err != nil {
		// The request may have reached Payfield.
		return bridge.Result{}, fmt.Errorf("%w: payfield %s %s: %w", bridge.ErrOutcomeUnknown, p.Kind, p.Reference, err)
	}
	switch {
	case status >= 500:
		return bridge.Result{}, fmt.Errorf("%w: payfield %s %s: HTTP %d", bridge.ErrOutcomeUnknown, p.Kind, p.Reference, status)
	case status == http.StatusConflict:
		// external_id already known: it was created earlier; report its state.
		return c.Status(ctx, p.Kind, p.Reference)
	case status >= 400:
		return bridge.Result{RawStatus: "http_" + strconv.Itoa(status)},
			fmt.Errorf("%w: payfield: HTTP %d: %s", bridge.ErrRejected, status, errorMessage(resp))
	case status < 200 || status >= 300:
		return bridge.Result{}, fmt.Errorf("%w: payfield: unexpected HTTP %d", bridge.ErrOutcomeUnknown, status)
	}
	var out Payment
	if err := json.Unmarshal(resp, &out); err != nil || out.Status == "" {
		return bridge.Result{}, fmt.Errorf("%w: payfield %s %s: malformed answer", bridge.ErrOutcomeUnknown, p.Kind, p.Reference)
	}
	return out.result(p.Kind), nil
}

func errorMessage(b []byte) string {
	var e struct {
		Message string `json:"message"`
		Code    string `json:"code"`
	}
	if json.Unmarshal(b, &e) == nil && (e.Message != "" || e.Code != "") {
		return strings.TrimSpace(e.Code + " " + e.Message)
	}
	if len(b) > 200 {
		b = b[:200]
	}
	return string(b)
}

// Status implements bridge.StatusGetter.
func (c *Client) Status(ctx context.Context, kind bridge.Kind, reference string) (bridge.Result, error) {
	var path string
	q := url.Values{}
	switch kind {
	case bridge.Payin:
		path = "/api/v1/payins/" + url.PathEscape(reference)
		if c.o.ShopCode != "" {
			q.Set("shop_code", c.o.ShopCode)
		}
	case bridge.Payout:
		path = "/api/v1/payouts/" + url.PathEscape(reference)
	default:
		return bridge.Result{}, fmt.Errorf("payfield: unknown kind %q", kind)
	}
	status, resp, err := c.do(ctx, http.MethodGet, path, q, nil)
	if err != nil {
		return bridge.Result{}, fmt.Errorf("payfield: status of %s: %w", reference, err)
	}
	if status == http.StatusNotFound {
		// Only Payfield's documented error ({"code": "not_found"}) says
		// there is no such payment; a proxy's page or a wrong base URL
		// says nothing, and must never end a payment.
		var e struct {
			Code string `json:"code"`
		}
		if json.Unmarshal(resp, &e) != nil || e.Code != "not_found" {
			return bridge.Result{}, fmt.Errorf("%w: payfield status of %s %s: HTTP 404 that is not Payfield's error answer: %s",
				bridge.ErrNoDefiniteAnswer, kind, reference, errorMessage(resp))
		}
		return bridge.Result{}, fmt.Errorf("%w: payfield %s %s", bridge.ErrNotFound, kind, reference)
	}
	if status != http.StatusOK {
		return bridge.Result{}, fmt.Errorf("payfield: status of %s: HTTP %d: %s", reference, status, errorMessage(resp))
	}
	var out Payment
	if err := json.Unmarshal(resp, &out); err != nil || out.Status == "" {
		return bridge.Result{}, fmt.Errorf("payfield: status of %s: malformed answer", reference)
	}
	return out.result(kind), nil
}

// Balances implements bridge.BalanceGetter: one GET /api/v1/balance per
// configured currency.
func (c *Client) Balances(ctx context.Context) ([]bridge.Balance, error) {
	var out []bridge.Balance
	for _, cur := range c.o.Currencies {
		q := url.Values{"currency": {cur}}
		if c.o.ShopCode != "" {
			q.Set("shop_code", c.o.ShopCode)
		}
		status, resp, err := c.do(ctx, http.MethodGet, "/api/v1/balance", q, nil)
		if err != nil {
			return nil, fmt.Errorf("payfield: balance %s: %w", cur, err)
		}
		if status != http.StatusOK {
			return nil, fmt.Errorf("payfield: balance %s: HTTP %d: %s", cur, status, errorMessage(resp))
		}
		var b BalanceResponse
		if err := json.Unmarshal(resp, &b); err != nil {
			return nil, fmt.Errorf("payfield: balance %s: malformed answer: %w", cur, err)
		}
		bal, err := b.toBridge(cur)
		if err != nil {
			return nil, err
		}
		out = append(out, bal)
	}
	return out, nil
}

func (b BalanceResponse) toBridge(cur string) (bridge.Balance, error) {
	if b.Currency != "" {
		cur = b.Currency
	}
	parse := func(name, s string) (*big.Int, error) {
		if s == "" {
			return new(big.Int), nil
		}
		v, err := bridge.ParseMajor(s, cur)
		if err != nil {
			return nil, fmt.Errorf("payfield: balance %s: %s: %w", cur, name, err)
		}
		return v, nil
	}
	bal := bridge.Balance{Currency: cur}
	var err error
	for _, f := range []struct {
		name string
		s    string
		dst  **big.Int
	}{{"available", b.Available, &bal.Available}, {"pending", b.Pending, &bal.Pending}, {"frozen", b.Frozen, &bal.Frozen},
		{"credit", b.Credit, &bal.Credit}, {"total", b.Total, &bal.Total}} {
		if *f.dst, err = parse(f.name, f.s); err != nil {
			return bridge.Balance{}, err
		}
	}
	sum := new(big.Int).Add(bal.Available, bal.Pending)
	sum.Add(sum, bal.Frozen).Add(sum, bal.Credit)
	if b.Total == "" {
		bal.Total = sum
	} else if sum.Cmp(bal.Total) != 0 {
		return bridge.Balance{}, fmt.Errorf("payfield: balance %s: total %s is not available + pending + frozen + credit (%s)",
			cur, b.Total, bridge.FormatMajor(sum, cur))
	}
	return bal, nil
}

// ParseCallback implements bridge.CallbackParser: it checks X-Signature
// over X-Timestamp + body with the webhook secret and the timestamp's
// freshness, then parses the body. With a configured ShopCode the signed
// shop_code must be it: one webhook secret may serve several shops of the
// merchant, and a payment of another shop is not ours even under the
// same external_id. It changes no state; failures are
// bridge.CallbackErrors (reasons "signature", "stale", "malformed",
// "shop_mismatch").
func (c *Client) ParseCallback(r *http.Request, body []byte) (bridge.Callback, error) {
	reject := func(reason, msg string) (bridge.Callback, error) {
		return bridge.Callback{}, bridge.RejectCallback(reason, errors.New("payfield: "+msg))
	}
	ts := r.Header.Get("X-Timestamp")
	sig := r.Header.Get("X-Signature")
	if ts == "" || sig == "" {
		return reject("signature", "X-Timestamp and X-Signature are required")
	}
	if !c.o.WebhookSecret.IsSet() || !Verify(c.o.WebhookSecret.Reveal(), ts, body, c.o.Encoding, sig) {
		return reject("signature", "bad signature")
	}
	t, err := time.Parse(time.RFC3339Nano, ts)
	if err != nil {
		return reject("stale", "X-Timestamp is not ISO-8601")
	}
	if d := c.o.Now().Sub(t); d > c.o.WebhookTolerance || d < -c.o.WebhookTolerance {
		return reject("stale", "stale webhook (timestamp "+ts+")")
	}
	var p Payment
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&p); err != nil || p.ExternalID == "" || p.Status == "" {
		return reject("malformed", "malformed webhook body")
	}
	if c.o.ShopCode != "" && p.ShopCode != c.o.ShopCode {
		return reject("shop_mismatch", fmt.Sprintf("webhook of shop %q, ours is %q", p.ShopCode, c.o.ShopCode))
	}
	// The webhook does not say payin or payout; a payment_link only comes
	// with payins.
	kind := bridge.Payout
	if p.PaymentData["payment_link"] != "" {
		kind = bridge.Payin
	}
	return bridge.Callback{Reference: p.ExternalID, Result: p.result(kind)}, nil
}

// do sends a signed request and returns the status and body.
func (c *Client) do(ctx context.Context, method, path string, q url.Values, body []byte) (int, []byte, error) {
	u := c.base + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return 0, nil, fmt.Errorf("build request: %w", err)
	}
	ts := Timestamp(c.o.Now(), c.o.TimestampFormat)
	req.Header.Set("X-API-Key", c.o.APIKey.Reveal())
	req.Header.Set("X-Timestamp", ts)
	req.Header.Set("X-Signature", Sign(c.o.Secret.Reveal(), ts, body, c.o.Encoding))
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.o.Client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer func() { _ = resp.Body.Close() }()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return resp.StatusCode, nil, fmt.Errorf("read answer: %w", err)
	}
	return resp.StatusCode, b, nil
}

var (
	_ bridge.PayinCreator     = (*Client)(nil)
	_ bridge.PayoutCreator    = (*Client)(nil)
	_ bridge.StatusGetter     = (*Client)(nil)
	_ bridge.ReversalReporter = (*Client)(nil)
	_ bridge.BalanceGetter    = (*Client)(nil)
	_ bridge.CallbackParser   = (*Client)(nil)
)
