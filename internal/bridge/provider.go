// Package bridge forwards fiat payins, payouts and balance/bank/status calls
// to payment providers (HighHelp, Paykassma, Payfield) behind one API with
// one status model, and answers Nemo.travel's counterparty-balance call.
//
// Each provider lives in a sub-package (bridge/highhelp, bridge/paykassma,
// bridge/payfield) with its client, its signature scheme and a simulator
// (bridge/<provider>/sim) used by tests and `processor dev`. A provider
// implements only the capabilities its API offers; the bridge API answers
// 501 for the rest.
package bridge

import (
	"context"
	"errors"
	"math/big"
	"net/http"
	"time"
)

// Status is the bridge's one status model. Terminal states never go
// backwards, except succeeded -> reversed.
type Status string

// Statuses.
const (
	StatusCreated        Status = "created"         // stored, provider not called yet
	StatusSubmitted      Status = "submitted"       // provider accepted the request
	StatusActionRequired Status = "action_required" // the payer must act (form, 3DS, redirect)
	StatusProcessing     Status = "processing"
	StatusUnderReview    Status = "under_review" // dispute / manual check at the provider
	StatusSucceeded      Status = "succeeded"
	StatusFailed         Status = "failed"
	StatusCanceled       Status = "canceled"
	StatusExpired        Status = "expired"
	StatusReversed       Status = "reversed" // refunded/charged back after success
	StatusRejected       Status = "rejected" // refused by the provider up front
	StatusUnknown        Status = "unknown"  // the create call's outcome is unknown (timeout, 5xx): reconciliation settles it
)

// Terminal reports whether s is final (reversed may still follow succeeded).
func (s Status) Terminal() bool {
	switch s {
	case StatusSucceeded, StatusFailed, StatusCanceled, StatusExpired, StatusReversed, StatusRejected:
		return true
	}
	return false
}

// CanMove reports whether a record may go from s to next.
func (s Status) CanMove(next Status) bool {
	if s == next {
		return false
	}
	if s == StatusSucceeded {
		return next == StatusReversed
	}
	return !s.Terminal()
}

// Kind is payin or payout.
type Kind string

// Kinds.
const (
	Payin  Kind = "payin"
	Payout Kind = "payout"
)

// Money is an amount in minor units of an ISO 4217 currency.
type Money struct {
	Amount   *big.Int
	Currency string
}

// Payment is a payin or payout request as the bridge sends it.
type Payment struct {
	Kind      Kind
	Reference string // ours: idempotency key, the provider's external/payment id
	Money     Money
	Method    string            // payment method / system, provider specific
	Customer  map[string]string // payer or receiver details (card, phone, bank, ...)
	Extra     map[string]string // provider specific fields
	Callback  string            // URL the provider calls back
}

// Result is the provider's view of a payment.
type Result struct {
	Status      Status
	RawStatus   string // the provider's own status (and sub status)
	ProviderID  string // the provider's id for the payment
	RedirectURL string // payin form / redirect, when the payer must act
	Amount      *Money // the amount the provider settled, when it says
	Reason      string
}

// Balance is one balance a provider reports.
type Balance struct {
	Currency  string
	Available *big.Int // minor units
	Pending   *big.Int
	Frozen    *big.Int
	Credit    *big.Int
	Total     *big.Int
}

// Bank is a bank or payment method a provider offers.
type Bank struct {
	Code     string
	Name     string
	Currency string
	Methods  []string
}

// Callback is a verified provider callback.
type Callback struct {
	Reference   string
	Result      Result
	Informative bool   // must not change state (HighHelp informative callbacks)
	Reply       []byte // body to answer with (e.g. Paykassma {"status":"ok"})
	ReplyType   string
}

// Capabilities a provider may implement.
type (
	PayinCreator interface {
		CreatePayin(ctx context.Context, p Payment) (Result, error)
	}
	PayoutCreator interface {
		CreatePayout(ctx context.Context, p Payment) (Result, error)
	}
	StatusGetter interface {
		Status(ctx context.Context, kind Kind, reference string) (Result, error)
	}
	BalanceGetter interface {
		Balances(ctx context.Context) ([]Balance, error)
	}
	BankLister interface {
		Banks(ctx context.Context) ([]Bank, error)
	}
	// CallbackParser verifies a callback (signature, freshness) and parses
	// it. NOTE: it MUST NOT change any state; it MUST reject forged,
	// malformed and stale callbacks with ErrBadCallback.
	CallbackParser interface {
		ParseCallback(r *http.Request, body []byte) (Callback, error)
	}
)

// Provider is a configured provider; it implements some capabilities above.
type Provider interface {
	Name() string
}

// Errors providers return.
var (
	// ErrBadCallback: signature, freshness or shape of a callback is wrong.
	ErrBadCallback = errors.New("bridge: callback rejected")
	// ErrOutcomeUnknown: the request may or may not have reached the
	// provider (timeout, connection reset after sending, 5xx): the record
	// becomes unknown and reconciliation settles it; never create again.
	ErrOutcomeUnknown = errors.New("bridge: outcome unknown")
	// ErrRejected: the provider refused the request (4xx with a reason).
	ErrRejected = errors.New("bridge: rejected by provider")
	// ErrNotFound: the provider does not know the reference.
	ErrNotFound = errors.New("bridge: not found at provider")
)

// Timeouts every provider client uses unless configured otherwise.
const (
	DefaultTimeout = 15 * time.Second
)
