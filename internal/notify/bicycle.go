package notify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/xssnick/tonutils-go/address"

	"github.com/ton-custody/processor/internal/config"
)

// The bicycle profile (API_COMPAT=bicycle) sends what gobicycle/bicycle's
// receivers expect: one flat JSON object per credited deposit, and nothing
// for withdrawals (bicycle notifies incomes only). The facts come from
// bicycle's documentation and behaviour (docs BICYCLE.md §2); no code of it
// is used.

// bicycleDeposit is bicycle's notification body, fields in its order.
type bicycleDeposit struct {
	DepositAddress string `json:"deposit_address"`
	Time           int64  `json:"time"`
	Amount         string `json:"amount"`
	SourceAddress  string `json:"source_address,omitempty"`
	Comment        string `json:"comment,omitempty"`
	UserID         string `json:"user_id"`
	TxHash         string `json:"tx_hash"`
}

// BicycleDepositBody turns a deposit event's data (the "deposit" payload
// documented in the README) into bicycle's body:
// {deposit_address, time, amount, source_address?, comment?, user_id,
// tx_hash}. The source address becomes bounceable, as bicycle prints it;
// the deposit address stays as the processor handed it out
// (non-bounceable). Fields bicycle does not know (currency, lt,
// binary_comment, ...) are left out.
func BicycleDepositBody(data json.RawMessage) ([]byte, error) {
	var d struct {
		UserID         *string `json:"user_id"`
		DepositAddress string  `json:"deposit_address"`
		Amount         string  `json:"amount"`
		SourceAddress  string  `json:"source_address"`
		Comment        string  `json:"comment"`
		TxHash         string  `json:"tx_hash"`
		Time           *int64  `json:"time"`
	}
	if err := json.Unmarshal(data, &d); err != nil {
		return nil, fmt.Errorf("bicycle body: deposit payload: %w", err)
	}
	switch {
	case d.UserID == nil:
		return nil, errors.New("bicycle body: deposit payload has no user_id")
	case d.DepositAddress == "" || d.Amount == "" || d.TxHash == "" || d.Time == nil:
		return nil, errors.New("bicycle body: deposit payload lacks deposit_address, amount, tx_hash or time")
	}
	out := bicycleDeposit{DepositAddress: d.DepositAddress, Time: *d.Time, Amount: d.Amount, Comment: d.Comment,
		UserID: *d.UserID, TxHash: strings.ToLower(d.TxHash)}
	if d.SourceAddress != "" {
		a, err := address.ParseAddr(d.SourceAddress)
		if err != nil {
			return nil, fmt.Errorf("bicycle body: source_address: %w", err)
		}
		// Keeps the testnet flag it was printed with.
		out.SourceAddress = a.Bounce(true).String()
	}
	body, err := json.Marshal(out)
	if err != nil {
		return nil, fmt.Errorf("bicycle body: %w", err)
	}
	return body, nil
}

// BicycleWebhookSink POSTs deposit events in bicycle's shape to bicycle's
// WEBHOOK_ENDPOINT, with "Authorization: Bearer <WEBHOOK_TOKEN>" when a
// token is set. Like bicycle, only 200 counts as delivered. Unlike bicycle
// (three attempts back to back, then the process exits and the rest of the
// block's notifications are lost), failures are retried from the outbox.
type BicycleWebhookSink struct {
	url    string
	token  config.Secret
	client *http.Client
}

// NewBicycleWebhookSink returns bicycle's deposit webhook to endpoint (an
// absolute http or https URL); token may be unset (no Authorization).
func NewBicycleWebhookSink(endpoint string, token config.Secret) (*BicycleWebhookSink, error) {
	if err := checkWebhookURL(endpoint); err != nil {
		return nil, err
	}
	return &BicycleWebhookSink{url: endpoint, token: token, client: newHTTPClient()}, nil
}

// Name implements Sink.
func (s *BicycleWebhookSink) Name() string { return BicycleWebhookSinkName }

// Topics implements Sink: bicycle notifies deposits only.
func (s *BicycleWebhookSink) Topics() []string { return []string{TopicDeposit} }

// Send implements Sink.
func (s *BicycleWebhookSink) Send(ctx context.Context, m Message) error {
	body, err := BicycleDepositBody(m.Data)
	if err != nil {
		return err
	}
	h := http.Header{}
	h.Set("Content-Type", "application/json; charset=UTF-8")
	// Not part of bicycle's request; a receiver may use it to deduplicate
	// (bicycle's own have to use tx_hash).
	h.Set(HeaderEventID, m.EventID)
	if s.token.IsSet() {
		h.Set("Authorization", "Bearer "+s.token.Reveal())
	}
	err = post(ctx, s.client, s.url, h, body, func(status int) bool { return status == http.StatusOK })
	return redact(err, s.token)
}
