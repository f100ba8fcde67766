// Package bicycleclient is a client of gobicycle/bicycle's processor API
// as a merchant integration written against bicycle uses it, for tests of
// the bicycle compatibility profile (API_COMPAT=bicycle). Its shapes are
// bicycle's answers as documented in the facts sheet (docs BICYCLE.md, §1),
// written from those facts, not from bicycle's code.
//
// It is deliberately strict where such an integration could break: every
// answer is decoded with unknown fields refused (a typed client generated
// from bicycle's shapes would), 200 answers must be application/json, and
// error answers must be {"error": "..."}. It also behaves as such clients
// do: amounts are sent as JSON numbers, GET requests carry a cache-buster
// query parameter, and bodies carry a field bicycle does not know.
package bicycleclient

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"sync/atomic"
)

// WalletAddress is one entry of /v1/address/all.
type WalletAddress struct {
	Address  string `json:"address"`
	Currency string `json:"currency"`
}

// WithdrawalRequest is the body of /v1/withdrawal/send. Amount is a JSON
// number (bicycle's decimal takes numbers and strings).
type WithdrawalRequest struct {
	UserID        string      `json:"user_id"`
	QueryID       string      `json:"query_id"`
	Currency      string      `json:"currency"`
	Amount        json.Number `json:"amount"`
	Destination   string      `json:"destination"`
	Comment       string      `json:"comment"`
	BinaryComment string      `json:"binary_comment"`
}

// WithdrawalStatus is the answer of /v1/withdrawal/status.
type WithdrawalStatus struct {
	UserID  string `json:"user_id"`
	QueryID string `json:"query_id"`
	Status  string `json:"status"`
	TxHash  string `json:"tx_hash,omitempty"`
}

// TotalIncome is one entry of /v1/income.
type TotalIncome struct {
	DepositAddress string `json:"deposit_address"`
	Amount         string `json:"amount"`
	Currency       string `json:"currency"`
}

// Income is the answer of /v1/income.
type Income struct {
	CountingSide string        `json:"counting_side"`
	TotalIncome  []TotalIncome `json:"total_income"`
}

// Deposit is bicycle's income object (history and deposit/income).
type Deposit struct {
	DepositAddress string `json:"deposit_address"`
	Time           int64  `json:"time"`
	SourceAddress  string `json:"source_address,omitempty"`
	Amount         string `json:"amount"`
	Comment        string `json:"comment,omitempty"`
	TxHash         string `json:"tx_hash,omitempty"`
}

// Balance is the answer of /v1/balance.
type Balance struct {
	Balance               string `json:"balance"`
	Status                string `json:"status,omitempty"`
	TotalProcessingAmount string `json:"total_processing_amount,omitempty"`
	TotalPendingAmount    string `json:"total_pending_amount,omitempty"`
}

// Sync is the answer of /v1/system/sync.
type Sync struct {
	IsSynced          bool  `json:"is_synced"`
	LastBlockGenUtime int64 `json:"last_block_gen_utime"`
}

// Error is an answer other than 200, with bicycle's error body.
type Error struct {
	Status  int
	Message string
}

func (e *Error) Error() string { return fmt.Sprintf("status %d: %s", e.Status, e.Message) }

// StatusOf returns the HTTP status of an *Error, 0 for any other error.
func StatusOf(err error) int {
	var e *Error
	if errors.As(err, &e) {
		return e.Status
	}
	return 0
}

// Client calls a processor at BaseURL with Token.
type Client struct {
	BaseURL string
	Token   string
	// HTTP defaults to http.DefaultClient.
	HTTP *http.Client
	bust atomic.Int64
}

// NewAddress is POST /v1/address/new.
func (c *Client) NewAddress(ctx context.Context, userID, currency string) (string, error) {
	var out struct {
		Address string `json:"address"`
	}
	err := c.post(ctx, "/v1/address/new", map[string]any{"user_id": userID, "currency": currency}, &out)
	return out.Address, err
}

// Addresses is GET /v1/address/all.
func (c *Client) Addresses(ctx context.Context, userID string) ([]WalletAddress, error) {
	var out struct {
		Addresses []WalletAddress `json:"addresses"`
	}
	err := c.get(ctx, "/v1/address/all", url.Values{"user_id": {userID}}, &out)
	if err == nil && out.Addresses == nil {
		err = errors.New("address/all: addresses is null or missing")
	}
	return out.Addresses, err
}

// SendWithdrawal is POST /v1/withdrawal/send; it returns the ID.
func (c *Client) SendWithdrawal(ctx context.Context, w WithdrawalRequest) (int64, error) {
	body := map[string]any{}
	b, err := json.Marshal(w)
	if err != nil {
		return 0, fmt.Errorf("encode withdrawal: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(&body); err != nil {
		return 0, fmt.Errorf("encode withdrawal: %w", err)
	}
	var out struct {
		ID int64 `json:"ID"`
	}
	if err := c.post(ctx, "/v1/withdrawal/send", body, &out); err != nil {
		return 0, err
	}
	if out.ID <= 0 {
		return 0, fmt.Errorf("withdrawal/send: ID %d", out.ID)
	}
	return out.ID, nil
}

// WithdrawalStatus is GET /v1/withdrawal/status.
func (c *Client) WithdrawalStatus(ctx context.Context, id int64) (WithdrawalStatus, error) {
	var out WithdrawalStatus
	if err := c.get(ctx, "/v1/withdrawal/status", url.Values{"id": {strconv.FormatInt(id, 10)}}, &out); err != nil {
		return out, err
	}
	switch out.Status {
	case "pending", "processing", "processed", "failed":
		return out, nil
	}
	return out, fmt.Errorf("withdrawal/status: status %q is not one of bicycle's", out.Status)
}

// ServiceTON is POST /v1/withdrawal/service/ton; it returns the memo.
func (c *Client) ServiceTON(ctx context.Context, from string) (string, error) {
	var out struct {
		Memo string `json:"memo"`
	}
	err := c.post(ctx, "/v1/withdrawal/service/ton", map[string]any{"from": from}, &out)
	return out.Memo, err
}

// ServiceJetton is POST /v1/withdrawal/service/jetton; it returns the memo.
func (c *Client) ServiceJetton(ctx context.Context, owner, master string) (string, error) {
	var out struct {
		Memo string `json:"memo"`
	}
	err := c.post(ctx, "/v1/withdrawal/service/jetton", map[string]any{"owner": owner, "jetton_master": master}, &out)
	return out.Memo, err
}

// Income is GET /v1/income.
func (c *Client) Income(ctx context.Context, userID string) (Income, error) {
	var out Income
	err := c.get(ctx, "/v1/income", url.Values{"user_id": {userID}}, &out)
	return out, err
}

// History is GET /v1/deposit/history.
func (c *Client) History(ctx context.Context, userID, currency string, limit, offset int64, sortOrder string) ([]Deposit, error) {
	q := url.Values{"user_id": {userID}, "currency": {currency},
		"limit": {strconv.FormatInt(limit, 10)}, "offset": {strconv.FormatInt(offset, 10)}}
	if sortOrder != "" {
		q.Set("sort_order", sortOrder)
	}
	var out struct {
		Incomes []Deposit `json:"incomes"`
	}
	err := c.get(ctx, "/v1/deposit/history", q, &out)
	if err == nil && out.Incomes == nil {
		err = errors.New("deposit/history: incomes is null or missing")
	}
	return out.Incomes, err
}

// IncomeByTx is GET /v1/deposit/income.
func (c *Client) IncomeByTx(ctx context.Context, txHash string) (string, Deposit, error) {
	var out struct {
		Currency string  `json:"currency"`
		Income   Deposit `json:"income"`
	}
	err := c.get(ctx, "/v1/deposit/income", url.Values{"tx_hash": {txHash}}, &out)
	return out.Currency, out.Income, err
}

// Balance is GET /v1/balance (addr "" for the hot wallet).
func (c *Client) Balance(ctx context.Context, currency, addr string) (Balance, error) {
	q := url.Values{"currency": {currency}}
	if addr != "" {
		q.Set("address", addr)
	}
	var out Balance
	err := c.get(ctx, "/v1/balance", q, &out)
	return out, err
}

// Resolve is GET /v1/resolve.
func (c *Client) Resolve(ctx context.Context, domain string) (string, error) {
	var out struct {
		Address string `json:"address"`
	}
	err := c.get(ctx, "/v1/resolve", url.Values{"domain": {domain}}, &out)
	return out.Address, err
}

// Sync is GET /v1/system/sync.
func (c *Client) Sync(ctx context.Context) (Sync, error) {
	var out Sync
	err := c.get(ctx, "/v1/system/sync", nil, &out)
	return out, err
}

// Do sends a request as the client would and decodes a 200 answer into
// out strictly (out nil: the body is discarded); for calls this client
// has no method for, such as a wrong method.
func (c *Client) Do(ctx context.Context, method, path string, q url.Values, body any, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return fmt.Errorf("encode %s: %w", path, err)
		}
		rd = bytes.NewReader(b)
	}
	u := c.BaseURL + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return fmt.Errorf("build %s %s: %w", method, path, err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Authorization", "Bearer "+c.Token)
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("%s %s: read answer: %w", method, path, err)
	}
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Error string `json:"error"`
		}
		if err := strict(raw, &e); err != nil || e.Error == "" {
			return fmt.Errorf("%s %s: status %d with a body that is not bicycle's {\"error\":...}: %s", method, path, resp.StatusCode, raw)
		}
		return &Error{Status: resp.StatusCode, Message: e.Error}
	}
	if mt, _, err := mime.ParseMediaType(resp.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		return fmt.Errorf("%s %s: Content-Type %q, want application/json", method, path, resp.Header.Get("Content-Type"))
	}
	if out == nil {
		return nil
	}
	if err := strict(raw, out); err != nil {
		return fmt.Errorf("%s %s: answer is not bicycle's shape: %w: %s", method, path, err, raw)
	}
	return nil
}

// get adds the cache-buster many browser-side and proxy-wary clients send.
func (c *Client) get(ctx context.Context, path string, q url.Values, out any) error {
	if q == nil {
		q = url.Values{}
	}
	q.Set("_", strconv.FormatInt(c.bust.Add(1), 10))
	return c.Do(ctx, http.MethodGet, path, q, nil, out)
}

// post adds a field bicycle does not know (bicycle ignores unknown fields,
// so integrations send whatever their own models hold).
func (c *Client) post(ctx context.Context, path string, body map[string]any, out any) error {
	body["client_request_ts"] = json.Number(strconv.FormatInt(c.bust.Add(1), 10))
	return c.Do(ctx, http.MethodPost, path, nil, body, out)
}

// strict decodes exactly one JSON value into out, refusing unknown fields.
func strict(raw []byte, out any) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(out); err != nil {
		return err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return errors.New("more after the JSON value")
	}
	return nil
}
