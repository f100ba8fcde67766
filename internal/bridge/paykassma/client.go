// Package paykassma is the bridge's Paykassma provider: a client for the
// plugin API (`?secret=` query authentication: payment systems, transaction
// create/activate, possible transactions, payment create, deposit info,
// redirect URL hashing, accounts balance, postback lookup, pullpostbacks),
// the signed `POST /v2/withdrawal/create`, and postback verification. The
// PHP semantics both signatures depend on (json_encode with
// JSON_UNESCAPED_SLASHES|JSON_UNESCAPED_UNICODE, ksort, multiImplode) live
// in php.go. Sub-package sim is a loopback simulator.
//
// Paykassma amounts are major units (floats); the bridge's are minor units.
// The client converts with ISO 4217 exponents (Config.Exponents overrides).
package paykassma

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
	"sort"
	"strings"
	"time"

	"github.com/ton-custody/processor/internal/bridge"
)

// Name is the provider name the bridge registers.
const Name = "paykassma"

// Endpoint paths.
const (
	PathPaymentSystems   = "/api/v1/payment-systems/available"
	PathTransactionNew   = "/api/v1/transaction/create/" // + wallet_type
	PathTransactionAct   = "/api/v1/transaction/activate"
	PathPossible         = "/api/v1/possible-transaction"
	PathPaymentCreate    = "/api/v1/payment/create/" // + payment_system
	PathDepositInfo      = "/api/v1/deposit-info"
	PathHashURL          = "/payment-plugin/hash-url"
	PathWithdrawalCreate = "/v2/withdrawal/create"
	PathPostback         = "/api/v1/postback"
	PathPullPostbacks    = "/api/v1/pullpostbacks"
	PathAccountsBalance  = "/api/v1/accounts-balance"
)

// CoverBody as a coverage setting means the postback signature covers the
// whole postback object without its signature field.
const CoverBody = "*"

// Config configures a Client.
type Config struct {
	BaseURL string // https://api.{URL_Paykassma_Server}
	Secret  string // PLUGINAPI_SECRET, sent as ?secret= (not on withdrawals)
	// PrivateKey signs withdrawal requests.
	PrivateKey string
	// AccessKey and PrivateAccessKey verify postbacks.
	AccessKey        string
	PrivateAccessKey string
	// SortNested also ksorts nested arrays before imploding (the spec's PHP
	// sorts only the top level; the brief's wording sorts all levels).
	SortNested bool
	// IsTest is sent as is_test on withdrawals.
	IsTest bool
	// Label is the default "label" (the paying/receiving user's id) when
	// Payment.Customer["label"] is empty.
	Label string
	// Language is the payment-create "language". Default "en".
	Language string
	// Currencies and BankLabel are what Banks asks payment-systems for.
	Currencies []string
	BankLabel  string // default "bridge"
	// Exponents overrides ISO 4217 minor-unit digits per currency.
	Exponents map[string]int
	// DepositCoverage and WithdrawalCoverage name the postback field the
	// signature covers (CoverBody: the whole postback minus the signature
	// field). Defaults: "transactions" and CoverBody. The public page
	// changed between versions: see PROVIDERS.md.
	DepositCoverage    string
	WithdrawalCoverage string
	// SignatureField is the postback field holding the signature.
	// Default "signature".
	SignatureField string
	// DecodeAssoc decodes postbacks like json_decode($body, true) before
	// re-encoding (so {} re-encodes as []); default keeps objects objects.
	DecodeAssoc bool
	// PostbackZone is the zone of postback datetimes. Default +08:00.
	PostbackZone *time.Location
	Timeout      time.Duration // default bridge.DefaultTimeout
	HTTPClient   *http.Client
}

// Client is a Paykassma client. It implements bridge.PayinCreator,
// PayoutCreator, StatusGetter, BalanceGetter, BankLister, CallbackParser.
type Client struct {
	cfg  Config
	base string
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
	u, err := bridge.ParseBaseURL("paykassma", cfg.BaseURL)
	if err != nil {
		return nil, err
	}
	if cfg.Secret == "" {
		return nil, errors.New("paykassma: plugin API secret is required")
	}
	if cfg.Language == "" {
		cfg.Language = "en"
	}
	if cfg.BankLabel == "" {
		cfg.BankLabel = "bridge"
	}
	if cfg.DepositCoverage == "" {
		cfg.DepositCoverage = "transactions"
	}
	if cfg.WithdrawalCoverage == "" {
		cfg.WithdrawalCoverage = CoverBody
	}
	if cfg.SignatureField == "" {
		cfg.SignatureField = "signature"
	}
	if cfg.PostbackZone == nil {
		cfg.PostbackZone = time.FixedZone("+08:00", 8*3600)
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = bridge.DefaultTimeout
	}
	hc := cfg.HTTPClient
	if hc == nil {
		hc = &http.Client{Timeout: cfg.Timeout}
	}
	return &Client{cfg: cfg, base: u.String(), hc: hc}, nil
}

// Name returns "paykassma".
func (c *Client) Name() string { return Name }

// envelope is the union of Paykassma's answer shapes.
type envelope struct {
	Status       string          `json:"status"`
	Message      json.RawMessage `json:"message"`
	Code         int             `json:"code"`
	Errors       json.RawMessage `json:"errors"`
	ErrorMessage string          `json:"error_message"`
	Data         json.RawMessage `json:"data"`
	Params       json.RawMessage `json:"params"`
}

func (e envelope) ok() bool { return e.Status == "ok" || e.Status == "success" }

func (e envelope) reason() string {
	var parts []string
	var s string
	if len(e.Message) > 0 && json.Unmarshal(e.Message, &s) == nil && s != "" {
		parts = append(parts, s)
	} else if len(e.Message) > 0 && string(e.Message) != "null" && string(e.Message) != `""` {
		parts = append(parts, string(e.Message))
	}
	if e.ErrorMessage != "" {
		parts = append(parts, e.ErrorMessage)
	}
	if len(e.Errors) > 0 && string(e.Errors) != "null" {
		parts = append(parts, string(e.Errors))
	}
	if len(parts) == 0 {
		return "status " + e.Status
	}
	return strings.Join(parts, "; ")
}

// do sends a request and returns the raw 2xx body, classifying failures:
// not sent → plain error; sent and no (or a 5xx, or an unparsable) answer
// → bridge.ErrOutcomeUnknown; a "fail"/"error" answer or a 4xx →
// bridge.ErrRejected with the provider's message.
func (c *Client) do(ctx context.Context, method, path string, query url.Values, body []byte, out *envelope) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	u := c.base + path
	if query != nil {
		u += "?" + query.Encode()
	}
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return nil, fmt.Errorf("build request: %w", err)
	}
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		err = redact(err, c.cfg.Secret)
		var op *net.OpError
		var dns *net.DNSError
		if (errors.As(err, &op) && op.Op == "dial") || errors.As(err, &dns) {
			return nil, fmt.Errorf("request not sent: %w", err)
		}
		return nil, fmt.Errorf("%w: %w", bridge.ErrOutcomeUnknown, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return nil, fmt.Errorf("%w: read answer: %w", bridge.ErrOutcomeUnknown, err)
	}
	if resp.StatusCode >= 500 || resp.StatusCode == http.StatusRequestTimeout || resp.StatusCode == http.StatusTooManyRequests {
		return nil, fmt.Errorf("%w: HTTP %d: %s", bridge.ErrOutcomeUnknown, resp.StatusCode, snippet(data))
	}
	jerr := json.Unmarshal(data, out)
	if resp.StatusCode >= 400 {
		msg := snippet(data)
		if jerr == nil {
			msg = out.reason()
		}
		return nil, fmt.Errorf("HTTP %d: %s: %w", resp.StatusCode, msg, bridge.ErrRejected)
	}
	if jerr != nil {
		return nil, fmt.Errorf("%w: malformed answer: %w", bridge.ErrOutcomeUnknown, jerr)
	}
	if !out.ok() {
		return data, fmt.Errorf("%s: %w", out.reason(), bridge.ErrRejected)
	}
	return data, nil
}

// redact removes the plugin secret from URL errors.
func redact(err error, secret string) error {
	var ue *url.Error
	if secret != "" && errors.As(err, &ue) {
		ue.URL = strings.ReplaceAll(ue.URL, url.QueryEscape(secret), "REDACTED")
	}
	return err
}

func snippet(b []byte) string {
	s := strings.TrimSpace(string(b))
	if len(s) > 200 {
		s = s[:200]
	}
	return s
}

func (c *Client) query() url.Values { return url.Values{"secret": {c.cfg.Secret}} }

func (c *Client) postJSON(ctx context.Context, path string, body any, out *envelope) ([]byte, error) {
	raw, err := json.Marshal(body)
	if err != nil {
		return nil, fmt.Errorf("encode request: %w", err)
	}
	return c.do(ctx, http.MethodPost, path, c.query(), raw, out)
}

// Wallet is one payment system from payment-systems/available.
type Wallet struct {
	Type                 string `json:"type"`
	CurrencyCode         string `json:"currency_code"`
	Order                int    `json:"order"`
	Logo                 string `json:"logo"`
	Name                 string `json:"name"`
	IsManual             bool   `json:"is_manual"`
	UploadingPaymentBill bool   `json:"uploading_payment_bill"`
}

// PaymentSystems lists the payment systems for currencies and a user label
// (GET /api/v1/payment-systems/available, currency_code[] and label as
// query parameters).
func (c *Client) PaymentSystems(ctx context.Context, currencies []string, label string) ([]Wallet, error) {
	q := c.query()
	for _, cur := range currencies {
		q.Add("currency_code[]", cur)
	}
	q.Set("label", label)
	var env envelope
	if _, err := c.do(ctx, http.MethodGet, PathPaymentSystems, q, nil, &env); err != nil {
		return nil, fmt.Errorf("paykassma: payment systems: %w", err)
	}
	var params struct {
		Wallets []Wallet `json:"wallets"`
	}
	if err := json.Unmarshal(env.Params, &params); err != nil {
		return nil, fmt.Errorf("paykassma: payment systems: %w: params: %w", bridge.ErrOutcomeUnknown, err)
	}
	return params.Wallets, nil
}

// Banks maps PaymentSystems(Config.Currencies, Config.BankLabel): Code =
// wallet type, Methods = ["manual"] or ["auto"] (is_manual: activation by
// possible-transaction vs transaction/activate).
func (c *Client) Banks(ctx context.Context) ([]bridge.Bank, error) {
	ws, err := c.PaymentSystems(ctx, c.cfg.Currencies, c.cfg.BankLabel)
	if err != nil {
		return nil, err
	}
	out := make([]bridge.Bank, 0, len(ws))
	for _, w := range ws {
		m := "auto"
		if w.IsManual {
			m = "manual"
		}
		out = append(out, bridge.Bank{Code: w.Type, Name: w.Name, Currency: w.CurrencyCode, Methods: []string{m}})
	}
	return out, nil
}

// CreateTransaction starts a payment that needs activation (POST
// /api/v1/transaction/create/{wallet_type}) and returns its identifier.
func (c *Client) CreateTransaction(ctx context.Context, walletType, currency, label string) (string, error) {
	var env envelope
	body := map[string]string{"currency": currency, "label": label}
	if _, err := c.postJSON(ctx, PathTransactionNew+url.PathEscape(walletType), body, &env); err != nil {
		return "", fmt.Errorf("paykassma: create transaction: %w", err)
	}
	var p struct {
		Identifier json.Number `json:"identifier"`
	}
	if err := json.Unmarshal(env.Params, &p); err != nil || p.Identifier == "" {
		return "", fmt.Errorf("paykassma: create transaction: %w: no identifier", bridge.ErrOutcomeUnknown)
	}
	return p.Identifier.String(), nil
}

// Activation is a transaction/activate or possible-transaction request.
// Amount is minor units (nil: not sent; some payment systems need it).
type Activation struct {
	CurrencyCode string
	WalletType   string
	Label        string
	Key1         string // the payer's transaction id
	Amount       *big.Int
	CustomID     string // our unique id (custom_transaction_id / custom_id)
	Screenshot   string // possible-transaction only
}

func (c *Client) activationBody(a Activation, customKey string) map[string]any {
	b := map[string]any{"currency_code": a.CurrencyCode, "wallet_type": a.WalletType, "label": a.Label, "key1": a.Key1, customKey: a.CustomID}
	if a.Amount != nil {
		b["amount"] = json.Number(MinorToMajor(a.Amount, c.exponent(a.CurrencyCode)))
	}
	if a.Screenshot != "" {
		b["screenshot"] = a.Screenshot
	}
	return b
}

// ActivateTransaction activates a payment of a non-manual payment system
// (POST /api/v1/transaction/activate).
func (c *Client) ActivateTransaction(ctx context.Context, a Activation) error {
	var env envelope
	if _, err := c.postJSON(ctx, PathTransactionAct, c.activationBody(a, "custom_transaction_id"), &env); err != nil {
		return fmt.Errorf("paykassma: activate transaction: %w", err)
	}
	return nil
}

// PossibleTransaction activates a payment of a manual payment system
// (POST /api/v1/possible-transaction). created reports the
// "possible_transaction_created" answer (not found yet; checked later).
func (c *Client) PossibleTransaction(ctx context.Context, a Activation) (created bool, err error) {
	var env envelope
	data, err := c.postJSON(ctx, PathPossible, c.activationBody(a, "custom_id"), &env)
	if env.Status == "possible_transaction_created" && data != nil {
		return true, nil
	}
	if err != nil {
		return false, fmt.Errorf("paykassma: possible transaction: %w", err)
	}
	return false, nil
}

// CreatePayin creates a payment of a payment system that needs no
// activation (POST /api/v1/payment/create/{Method}). Mapping:
// Reference → custom_transaction_id, Money → amount (major units) and
// currency, Customer["label"] (else Config.Label) → label,
// Customer["account_number"] → account_number, Extra["bank"],
// Extra["language"] (else Config.Language), Extra["redirect_url"],
// Extra["success_url"], Extra["fail_url"], Extra["failure_url"],
// Extra["cancel_url"] as named. Paykassma posts postbacks to the URL
// configured with its support, not to Payment.Callback. The answer's
// payment page (payment_url, data.bkashUrl, data.payment_url) becomes
// RedirectURL, data.orderId ProviderID.
func (c *Client) CreatePayin(ctx context.Context, p bridge.Payment) (bridge.Result, error) {
	if p.Method == "" || p.Reference == "" || len(p.Reference) > 64 || p.Money.Amount == nil || p.Money.Amount.Sign() <= 0 {
		return bridge.Result{}, fmt.Errorf("paykassma: create payin: method, reference (≤64) and positive amount are required: %w", bridge.ErrRejected)
	}
	label := c.label(p)
	if label == "" {
		return bridge.Result{}, fmt.Errorf("paykassma: create payin %s: no label (Customer[\"label\"] or Config.Label): %w", p.Reference, bridge.ErrRejected)
	}
	body := map[string]any{
		"amount":                json.Number(MinorToMajor(p.Money.Amount, c.exponent(p.Money.Currency))),
		"currency":              p.Money.Currency,
		"label":                 label,
		"custom_transaction_id": p.Reference,
		"language":              c.cfg.Language,
	}
	if v := p.Extra["language"]; v != "" {
		body["language"] = v
	}
	for _, k := range []string{"bank", "redirect_url", "success_url", "fail_url", "failure_url", "cancel_url"} {
		if v := p.Extra[k]; v != "" {
			body[k] = v
		}
	}
	if v := p.Customer["account_number"]; v != "" {
		body["account_number"] = v
	}
	var env envelope
	raw, err := c.postJSON(ctx, PathPaymentCreate+url.PathEscape(p.Method), body, &env)
	if err != nil {
		return bridge.Result{Status: bridge.StatusRejected, RawStatus: env.Status, Reason: env.reason()}, fmt.Errorf("paykassma: create payin %s: %w", p.Reference, err)
	}
	var ans struct {
		PaymentURL string `json:"payment_url"`
		Data       struct {
			OrderID    string `json:"orderId"`
			BkashURL   string `json:"bkashUrl"`
			PaymentURL string `json:"payment_url"`
		} `json:"data"`
	}
	_ = json.Unmarshal(raw, &ans) // optional fields; shapes vary per payment system
	res := bridge.Result{Status: bridge.StatusSubmitted, RawStatus: env.Status, ProviderID: ans.Data.OrderID}
	for _, u := range []string{ans.PaymentURL, ans.Data.PaymentURL, ans.Data.BkashURL} {
		if u != "" {
			res.RedirectURL = u
			res.Status = bridge.StatusActionRequired
			break
		}
	}
	return res, nil
}

func (c *Client) label(p bridge.Payment) string {
	if v := strings.TrimSpace(p.Customer["label"]); v != "" {
		return v
	}
	return strings.TrimSpace(c.cfg.Label)
}

// withdrawalTopLevel are Customer keys sent as top-level withdrawal fields;
// keys with a "payments_details." or "bank_details." prefix become nested.
var withdrawalTopLevel = []string{"account_number", "account_name", "account_email", "account_type", "document_type", "document_id", "account_digit", "iban"}

// WithdrawalRequest builds the signed withdrawal body for p. Paykassma's
// document: "When transmitting data, there should be no spaces at the
// beginning and end". String values are trimmed before signing (an
// account number " 22222222 " goes as "22222222"; whitespace around a
// value carries no meaning) and optional ones left blank are not sent;
// a withdrawal_id with surrounding spaces is refused instead (it must
// come back unchanged in the postback to match our reference), and so is
// a blank payment system or label.
func (c *Client) WithdrawalRequest(p bridge.Payment) (*Array, error) {
	if strings.TrimSpace(p.Reference) != p.Reference {
		return nil, fmt.Errorf("withdrawal_id %q has spaces at the beginning or end: %w", p.Reference, bridge.ErrRejected)
	}
	if n := len(p.Reference); n < 1 || n > 36 {
		return nil, fmt.Errorf("withdrawal_id must be 1-36 characters, got %d: %w", n, bridge.ErrRejected)
	}
	method := strings.TrimSpace(p.Method)
	if method == "" || p.Money.Amount == nil || p.Money.Amount.Sign() <= 0 || len(p.Money.Currency) != 3 {
		return nil, fmt.Errorf("payment system, positive amount and currency are required: %w", bridge.ErrRejected)
	}
	exp := c.exponent(p.Money.Currency)
	major, rem := new(big.Int).QuoRem(p.Money.Amount, pow10(exp), new(big.Int))
	if rem.Sign() != 0 || !major.IsInt64() {
		return nil, fmt.Errorf("amount %s %s is not a whole number of major units (Paykassma withdrawals are integers): %w", p.Money.Amount, p.Money.Currency, bridge.ErrRejected)
	}
	label := c.label(p)
	if label == "" {
		return nil, fmt.Errorf("no label (Customer[\"label\"] or Config.Label): %w", bridge.ErrRejected)
	}
	a := NewArray().
		Set("withdrawal_id", p.Reference).
		Set("payment_system", method).
		Set("amount", major.Int64()).
		Set("currency_code", p.Money.Currency).
		Set("label", label).
		Set("is_test", c.cfg.IsTest)
	if v := strings.TrimSpace(p.Extra["comment"]); v != "" {
		a.Set("comment", v)
	}
	for _, k := range withdrawalTopLevel {
		if v := strings.TrimSpace(p.Customer[k]); v != "" {
			a.Set(k, v)
		}
	}
	keys := make([]string, 0, len(p.Customer))
	for k := range p.Customer {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		group, field, ok := strings.Cut(k, ".")
		v := strings.TrimSpace(p.Customer[k])
		if !ok || (group != "payments_details" && group != "bank_details") || v == "" {
			continue
		}
		sub, _ := a.Get(group)
		arr, _ := sub.(*Array)
		if arr == nil {
			arr = NewArray()
			a.Set(group, arr)
		}
		arr.Set(field, v)
	}
	sig, err := WithdrawalSignature(c.cfg.PrivateKey, a, c.cfg.SortNested)
	if err != nil {
		return nil, err
	}
	return a.Set("signature", sig), nil
}

// CreatePayout creates a withdrawal (POST /v2/withdrawal/create, signed,
// no secret). Reference → withdrawal_id (1–36 chars; Paykassma treats it
// as the idempotency key), Method → payment_system, Money → amount (whole
// major units; anything else is refused before sending) and currency_code,
// Customer["label"] (else Config.Label) → label, Config.IsTest → is_test,
// Extra["comment"] → comment, Customer account_number, account_name,
// account_email, account_type, document_type, document_id, account_digit,
// iban → same-named fields, Customer["payments_details.X"] and
// Customer["bank_details.X"] → nested X. The answer is only
// {"status":"ok"}: the result is submitted; the outcome comes by postback
// or Status.
func (c *Client) CreatePayout(ctx context.Context, p bridge.Payment) (bridge.Result, error) {
	a, err := c.WithdrawalRequest(p)
	if err != nil {
		return bridge.Result{}, fmt.Errorf("paykassma: create payout %s: %w", p.Reference, err)
	}
	raw, err := JSONEncode(a)
	if err != nil {
		return bridge.Result{}, fmt.Errorf("paykassma: create payout %s: %w", p.Reference, err)
	}
	var env envelope
	if _, err := c.do(ctx, http.MethodPost, PathWithdrawalCreate, nil, raw, &env); err != nil {
		res := bridge.Result{}
		if errors.Is(err, bridge.ErrRejected) {
			res = bridge.Result{Status: bridge.StatusRejected, RawStatus: env.Status, Reason: env.reason()}
		}
		return res, fmt.Errorf("paykassma: create payout %s: %w", p.Reference, err)
	}
	return bridge.Result{Status: bridge.StatusSubmitted, RawStatus: env.Status}, nil
}

// DepositInfo is the savings (stockpiling) state of a user.
type DepositInfo struct {
	StockpilingSum json.Number `json:"stockpiling_sum"`
	LacksSum       json.Number `json:"lacks_sum"`
	MinimumDeposit json.Number `json:"minimum_deposit"`
}

// DepositInfo asks for a user's savings (GET /api/v1/deposit-info); code
// is only for wallet_type "manual".
func (c *Client) DepositInfo(ctx context.Context, label, walletType, currency, code string) (DepositInfo, error) {
	q := c.query()
	q.Set("label", label)
	q.Set("wallet_type", walletType)
	q.Set("currency", currency)
	if code != "" {
		q.Set("code", code)
	}
	var env envelope
	raw, err := c.do(ctx, http.MethodGet, PathDepositInfo, q, nil, &env)
	if err != nil {
		return DepositInfo{}, fmt.Errorf("paykassma: deposit info: %w", err)
	}
	var di DepositInfo
	if err := json.Unmarshal(raw, &di); err != nil {
		return DepositInfo{}, fmt.Errorf("paykassma: deposit info: %w: %w", bridge.ErrOutcomeUnknown, err)
	}
	return di, nil
}

// OrderedURL is one redirect address of HashURLs.
type OrderedURL struct {
	Order int    `json:"order"`
	URL   string `json:"url"`
}

// HashedURLs is the answer of HashURLs.
type HashedURLs struct {
	Success []OrderedURL `json:"success_url"`
	Fail    []OrderedURL `json:"fail_url"`
	Pending []OrderedURL `json:"pending_url"`
}

// HashURLs hashes widget redirect addresses (POST
// /payment-plugin/hash-url); hashes live one day.
func (c *Client) HashURLs(ctx context.Context, success, fail, pending []OrderedURL) (HashedURLs, error) {
	nz := func(v []OrderedURL) []OrderedURL {
		if v == nil {
			return []OrderedURL{}
		}
		return v
	}
	body := map[string][]OrderedURL{"success_urls": nz(success), "fail_urls": nz(fail), "pending_urls": nz(pending)}
	var env envelope
	raw, err := c.postJSON(ctx, PathHashURL, body, &env)
	if err != nil {
		return HashedURLs{}, fmt.Errorf("paykassma: hash urls: %w", err)
	}
	var ans struct {
		URLs HashedURLs `json:"urls"`
	}
	if err := json.Unmarshal(raw, &ans); err != nil {
		return HashedURLs{}, fmt.Errorf("paykassma: hash urls: %w: %w", bridge.ErrOutcomeUnknown, err)
	}
	return ans.URLs, nil
}

// AccountBalance is one row of accounts-balance (major units as sent).
type AccountBalance struct {
	WalletType   string      `json:"wallet_type"`
	CurrencyCode string      `json:"currency_code"`
	Amount       json.Number `json:"amount"`
}

// AccountBalances lists the client's account balances per payment system
// (GET /api/v1/accounts-balance; the settlement balance is not included).
func (c *Client) AccountBalances(ctx context.Context) ([]AccountBalance, error) {
	var env envelope
	if _, err := c.do(ctx, http.MethodGet, PathAccountsBalance, c.query(), nil, &env); err != nil {
		return nil, fmt.Errorf("paykassma: accounts balance: %w", err)
	}
	var d struct {
		Balances []AccountBalance `json:"balances"`
	}
	if err := json.Unmarshal(env.Data, &d); err != nil {
		return nil, fmt.Errorf("paykassma: accounts balance: %w: %w", bridge.ErrOutcomeUnknown, err)
	}
	return d.Balances, nil
}

// Balances sums AccountBalances per currency in minor units (amounts with
// more fraction digits than the currency has are rounded down).
// Available = Total = the sum; Paykassma reports nothing frozen.
func (c *Client) Balances(ctx context.Context) ([]bridge.Balance, error) {
	rows, err := c.AccountBalances(ctx)
	if err != nil {
		return nil, err
	}
	sums := map[string]*big.Int{}
	var order []string
	for _, r := range rows {
		v, _, err := MajorToMinor(r.Amount.String(), c.exponent(r.CurrencyCode))
		if err != nil {
			return nil, fmt.Errorf("paykassma: accounts balance: %w", err)
		}
		if sums[r.CurrencyCode] == nil {
			sums[r.CurrencyCode] = new(big.Int)
			order = append(order, r.CurrencyCode)
		}
		sums[r.CurrencyCode].Add(sums[r.CurrencyCode], v)
	}
	out := make([]bridge.Balance, 0, len(order))
	for _, cur := range order {
		out = append(out, bridge.Balance{Currency: cur, Available: sums[cur], Total: new(big.Int).Set(sums[cur])})
	}
	return out, nil
}

// ErrNoPostback is returned (wrapping bridge.ErrNoDefiniteAnswer, never
// bridge.ErrNotFound) when Paykassma has no postback for a reference: a
// postback only exists once the payment has its outcome, so a payment
// still in progress and one Paykassma never got look alike, and neither
// may be failed on this answer.
var ErrNoPostback = fmt.Errorf("paykassma: no postback yet (in progress, or never received): %w", bridge.ErrNoDefiniteAnswer)

// Postback asks for the postback sent earlier (GET /api/v1/postback):
// typ "deposit" with idKey "transaction_id" or "custom_id", or typ
// "withdrawal" with idKey "withdrawal_id". It returns the raw postback.
func (c *Client) Postback(ctx context.Context, typ, idKey, id string) (json.RawMessage, error) {
	q := c.query()
	q.Set("type", typ)
	q.Set(idKey, id)
	var env envelope
	raw, err := c.do(ctx, http.MethodGet, PathPostback, q, nil, &env)
	if err != nil {
		if errors.Is(err, bridge.ErrRejected) && strings.Contains(strings.ToLower(env.reason()), "not found") {
			return nil, fmt.Errorf("paykassma: postback %s %s: %w", typ, id, ErrNoPostback)
		}
		return nil, fmt.Errorf("paykassma: postback %s %s: %w", typ, id, err)
	}
	var ans struct {
		Postback json.RawMessage `json:"postback"`
	}
	if err := json.Unmarshal(raw, &ans); err != nil || len(ans.Postback) == 0 || string(ans.Postback) == "null" {
		return nil, fmt.Errorf("paykassma: postback %s %s: %w", typ, id, ErrNoPostback)
	}
	return ans.Postback, nil
}

// Pulled is one entry of PullPostbacks.
type Pulled struct {
	ID       string          // plugin_custom_order_id or withdrawal_id
	Message  string          // set when not found
	Postback json.RawMessage // set when found
}

// PullPostbacks asks for the postbacks of many orders (GET
// /api/v1/pullpostbacks): typ "deposit" (ids are plugin_custom_order_id,
// i.e. our custom_transaction_id) or "withdrawal" (ids are withdrawal_id).
// Paging beyond the first page is not documented and not followed.
func (c *Client) PullPostbacks(ctx context.Context, typ string, ids []string) ([]Pulled, error) {
	q := c.query()
	q.Set("type", typ)
	key, listKey, idField := "plugin_custom_order_id[]", "transactions", "plugin_custom_order_id"
	if typ == "withdrawal" {
		key, listKey, idField = "withdrawal_id[]", "withdrawals", "withdrawal_id"
	}
	for _, id := range ids {
		q.Add(key, id)
	}
	var env envelope
	if _, err := c.do(ctx, http.MethodGet, PathPullPostbacks, q, nil, &env); err != nil {
		return nil, fmt.Errorf("paykassma: pullpostbacks: %w", err)
	}
	var d map[string][]map[string]json.RawMessage
	if err := json.Unmarshal(env.Data, &d); err != nil {
		return nil, fmt.Errorf("paykassma: pullpostbacks: %w: %w", bridge.ErrOutcomeUnknown, err)
	}
	out := make([]Pulled, 0, len(d[listKey]))
	for _, e := range d[listKey] {
		var p Pulled
		_ = json.Unmarshal(e[idField], &p.ID)
		_ = json.Unmarshal(e["message"], &p.Message)
		if pb := e["postback"]; len(pb) > 0 && string(pb) != "null" {
			p.Postback = pb
		}
		out = append(out, p)
	}
	return out, nil
}

// Status reads a payment's postback (Postback with custom_id for payins,
// withdrawal_id for payouts) and maps it like ParseCallback. No postback
// yet is ErrNoPostback (wraps bridge.ErrNoDefiniteAnswer): Paykassma's
// API has no way to say "no such payment", so Status never returns
// bridge.ErrNotFound.
func (c *Client) Status(ctx context.Context, kind bridge.Kind, reference string) (bridge.Result, error) {
	typ, key := "deposit", "custom_id"
	if kind == bridge.Payout {
		typ, key = "withdrawal", "withdrawal_id"
	}
	raw, err := c.Postback(ctx, typ, key, reference)
	if err != nil {
		return bridge.Result{}, err
	}
	pb, err := c.parsePostback(raw)
	if err != nil {
		return bridge.Result{}, fmt.Errorf("paykassma: status %s: %w: %w", reference, bridge.ErrOutcomeUnknown, err)
	}
	return pb.result(c, reference), nil
}
