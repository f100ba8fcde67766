package paykassma

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"strconv"
	"time"

	"github.com/ton-custody/processor/internal/bridge"
)

// Withdrawal statuses.
const (
	WithdrawalProcessed = 1 // PROCESSED: successful
	WithdrawalRejected  = 5 // REJECTED: unsuccessful
)

// MapWithdrawalStatus maps a withdrawal status: 1 → succeeded, 5 → failed
// (Paykassma "REJECTED" after accepting the request; no money left),
// anything else → processing.
func MapWithdrawalStatus(s int) bridge.Status {
	switch s {
	case WithdrawalProcessed:
		return bridge.StatusSucceeded
	case WithdrawalRejected:
		return bridge.StatusFailed
	}
	return bridge.StatusProcessing
}

// DateTimeLayout is the layout of postback datetimes.
const DateTimeLayout = "2006-01-02 15:04:05"

// Transaction is one deposit transaction of a postback.
type Transaction struct {
	Amount          json.Number `json:"amount"`
	CurrencyCode    string      `json:"currency_code"`
	WalletType      string      `json:"wallet_type"`
	TransactionID   string      `json:"transaction_id"`
	TransactionType int         `json:"transaction_type"`
	From            *string     `json:"from"`
	CreatedRaw      string      `json:"created_datetime"`
	ActivatedRaw    string      `json:"activated_datetime"`
	CustomID        *string     `json:"custom_id"`
	Created         time.Time   `json:"-"`
	Activated       time.Time   `json:"-"`
}

// Postback is a parsed deposit or withdrawal postback.
type Postback struct {
	// Deposit fields.
	TransactionID string                 `json:"transaction_id"`
	Label         string                 `json:"label"`
	Stockpiling   map[string]json.Number `json:"stockpiling"`
	StockpilingID json.Number            `json:"stockpiling_id"`
	Transactions  []Transaction          `json:"transactions"`
	// Withdrawal fields.
	WithdrawalID  *string     `json:"withdrawal_id"`
	Status        *int        `json:"status"`
	Comment       string      `json:"comment"`
	PaymentSystem string      `json:"payment_system"`
	Amount        json.Number `json:"amount"`
	CurrencyCode  string      `json:"currency_code"`
}

// IsWithdrawal reports a withdrawal postback.
func (p Postback) IsWithdrawal() bool { return p.WithdrawalID != nil }

func (c *Client) parsePostback(raw []byte) (Postback, error) {
	var p Postback
	if err := json.Unmarshal(raw, &p); err != nil {
		return p, fmt.Errorf("postback: %w", err)
	}
	if p.IsWithdrawal() {
		if *p.WithdrawalID == "" || p.Status == nil {
			return p, errors.New("withdrawal postback without withdrawal_id or status")
		}
		return p, nil
	}
	if len(p.Transactions) == 0 {
		return p, errors.New("deposit postback without transactions")
	}
	for i := range p.Transactions {
		t := &p.Transactions[i]
		for _, f := range []struct {
			raw string
			dst *time.Time
		}{{t.CreatedRaw, &t.Created}, {t.ActivatedRaw, &t.Activated}} {
			if f.raw == "" {
				continue
			}
			tm, err := time.ParseInLocation(DateTimeLayout, f.raw, c.cfg.PostbackZone)
			if err != nil {
				return p, fmt.Errorf("transaction %s: datetime %q: %w", t.TransactionID, f.raw, err)
			}
			*f.dst = tm
		}
	}
	return p, nil
}

// reference returns our id: withdrawal_id, else the first transaction's
// custom_id (our custom_transaction_id), else fallback.
func (p Postback) reference(fallback string) string {
	if p.IsWithdrawal() {
		return *p.WithdrawalID
	}
	for _, t := range p.Transactions {
		if t.CustomID != nil && *t.CustomID != "" {
			return *t.CustomID
		}
	}
	return fallback
}

// result maps a postback: withdrawals by status; a deposit postback is
// only sent once the deposit is credited, so it is succeeded, with the
// sum of the transactions carrying ref (all of them if none carries it).
func (p Postback) result(c *Client, ref string) bridge.Result {
	if p.IsWithdrawal() {
		res := bridge.Result{Status: MapWithdrawalStatus(*p.Status), RawStatus: strconv.Itoa(*p.Status), Reason: p.Comment}
		if v, exact, err := MajorToMinor(p.Amount.String(), c.exponent(p.CurrencyCode)); err == nil && exact && p.CurrencyCode != "" {
			res.Amount = &bridge.Money{Amount: v, Currency: p.CurrencyCode}
		}
		return res
	}
	res := bridge.Result{Status: bridge.StatusSucceeded, RawStatus: "credited", ProviderID: p.TransactionID}
	sum, cur, matched := new(big.Int), "", false
	for pass := 0; pass < 2 && !matched; pass++ {
		for _, t := range p.Transactions {
			if pass == 0 && (t.CustomID == nil || *t.CustomID != ref) {
				continue
			}
			if cur != "" && t.CurrencyCode != cur {
				continue
			}
			v, _, err := MajorToMinor(t.Amount.String(), c.exponent(t.CurrencyCode))
			if err != nil {
				continue
			}
			cur = t.CurrencyCode
			sum.Add(sum, v)
			matched = true
		}
	}
	if matched {
		res.Amount = &bridge.Money{Amount: sum, Currency: cur}
	}
	return res
}

// okReply is what Paykassma needs back, else it resends.
var okReply = []byte(`{"status":"ok"}`)

// CoveredData returns what the postback signature covers for a decoded
// postback (see Config.DepositCoverage / WithdrawalCoverage).
func (c *Client) CoveredData(body *Array) (any, error) {
	field := c.cfg.DepositCoverage
	if _, ok := body.Get("withdrawal_id"); ok {
		field = c.cfg.WithdrawalCoverage
	}
	if field == CoverBody {
		d := body.Clone()
		d.Delete(c.cfg.SignatureField)
		return d, nil
	}
	v, ok := body.Get(field)
	if !ok {
		return nil, fmt.Errorf("postback has no %q field", field)
	}
	return v, nil
}

// ParseCallback verifies a postback — signature field ==
// sha1(access_key . private_access_key . md5(JSONEncode(covered data))) —
// and parses it. Reply is {"status":"ok"}, to be sent only after the
// bridge stored the outcome. Postbacks carry no timestamp to check for
// freshness: a replayed genuine postback parses again (terminal states
// make it harmless). It changes no state; failures wrap
// bridge.ErrBadCallback.
func (c *Client) ParseCallback(_ *http.Request, body []byte) (bridge.Callback, error) {
	bad := func(format string, args ...any) (bridge.Callback, error) {
		return bridge.Callback{}, fmt.Errorf("paykassma: postback: "+format+": %w", append(args, bridge.ErrBadCallback)...)
	}
	if c.cfg.AccessKey == "" && c.cfg.PrivateAccessKey == "" {
		return bad("no postback keys configured")
	}
	v, err := JSONDecode(body, c.cfg.DecodeAssoc)
	if err != nil {
		return bad("%v", err)
	}
	obj, ok := v.(*Array)
	if !ok || obj.isList() {
		return bad("not a JSON object")
	}
	sv, _ := obj.Get(c.cfg.SignatureField)
	sig, ok := sv.(string)
	if !ok || sig == "" {
		return bad("no %q field", c.cfg.SignatureField)
	}
	covered, err := c.CoveredData(obj)
	if err != nil {
		return bad("%v", err)
	}
	want, err := PostbackSignature(c.cfg.AccessKey, c.cfg.PrivateAccessKey, covered)
	if err != nil {
		return bad("%v", err)
	}
	if !equalHex(sig, want) {
		return bridge.Callback{}, bridge.RejectCallback("signature", errors.New("paykassma: postback: signature mismatch"))
	}
	// Parse only what the signature covers. encoding/json matches keys
	// case-insensitively and would read an unsigned "Transactions" or
	// "Withdrawal_id" appended to a genuine postback.
	verified, err := c.verifiedBody(obj, covered)
	if err != nil {
		return bad("%v", err)
	}
	pb, err := c.parsePostback(verified)
	if err != nil {
		return bad("%v", err)
	}
	ref := pb.reference("")
	if ref == "" {
		return bad("no withdrawal_id or custom_id to match")
	}
	return bridge.Callback{
		Reference: ref,
		Result:    pb.result(c, ref),
		Reply:     append([]byte(nil), okReply...),
		ReplyType: "application/json",
	}, nil
}

// verifiedBody returns the signed part of a postback as JSON: the whole
// body when the signature covers it, else an object holding only the
// covered field (for a deposit, the provider's transaction id is then
// taken from the first covered transaction).
func (c *Client) verifiedBody(obj *Array, covered any) ([]byte, error) {
	field := c.cfg.DepositCoverage
	if _, ok := obj.Get("withdrawal_id"); ok {
		field = c.cfg.WithdrawalCoverage
	}
	if field == CoverBody {
		return JSONEncode(covered)
	}
	v := NewObject().Set(field, covered)
	if list, ok := covered.(*Array); ok && field == "transactions" && list.Len() > 0 {
		if first, ok := list.Value(0).(*Array); ok {
			if id, ok := first.Get("transaction_id"); ok {
				if id, ok := id.(string); ok {
					v.Set("transaction_id", id)
				}
			}
		}
	}
	return JSONEncode(v)
}

// ParsePostback is ParseCallback's parsing half for a verified body,
// exposing datetimes (in Config.PostbackZone) and stockpiling.
func (c *Client) ParsePostback(body []byte) (Postback, error) {
	return c.parsePostback(body)
}
