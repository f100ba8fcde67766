// Package bridge forwards fiat payins, payouts and balance/bank/status calls
// to payment providers (HighHelp, Paykassma, Payfield) behind one API with
// one status model, and answers Nemo.travel's counterparty-balance call.
//
// Each provider lives in a sub-package (bridge/highhelp, bridge/paykassma,
// bridge/payfield) with its client, its signature scheme and a simulator
// (bridge/<provider>/sim) used by tests and `processor dev`. A provider
// implements only the capabilities its API offers; the bridge API answers
// 501 for the rest.
//
// # Service, storage and reconciliation
//
// Service stores every payin/payout (table bridge_payments, migration
// 0004) in status created BEFORE its provider is called; the reference
// (ours) is the idempotency key: the same reference with the same request
// answers the stored record without calling the provider again, another
// request under it is a conflict. A create call that times out or gets a
// 5xx leaves the payment unknown; the Reconciler polls the provider's
// status until it settles (never creating again), and also polls open
// payments whose callbacks may have been lost. Succeeded payments of
// providers whose status call reports reversals (ReversalReporter) are
// polled, at growing intervals, for BRIDGE_REVERSAL_WATCH after their
// success (migration 0016), so a refund or chargeback whose callback was
// lost is still learned. Only a definite answer ends an unknown payment:
// a final status, or the provider's "no such payment" (ErrNotFound) past
// UnknownGiveUp. Without one (ErrNoDefiniteAnswer, a
// failing status call) it stays unknown and, past UnknownGiveUp, is
// flagged for a person (Record.Attention, needs_attention in the view, an
// ERROR log and processor_bridge_payments_attention_total); the reconciler
// keeps asking. Statuses only move forward (Advances; terminal ones never
// change except succeeded -> reversed, also enforced by a trigger); every
// change adds a bridge_payment_events row and a webhook event (topic
// "bridge_payment", id "bridge:<reference>:<status>", data = PaymentView)
// in the same transaction. A non-terminal status that is reached a second
// time (processing -> under_review -> processing) is not notified again
// (same event id). The initial created status is not notified (the
// merchant has it in the create answer). A final status reported after a
// final status it Contradicts (paid after failed) cannot change the
// payment but is kept: a bridge_payment_conflicts row, the attention note,
// a webhook event "bridge:<reference>:conflict:<status>", the metric and
// an ERROR log, all once per reported status. updated_at moves only when
// the payment changes, not on polls.
//
// Callbacks are verified by the provider (signature, freshness) and bound
// to our account (HighHelp: the signed general.project_id and
// x-access-merchant-id; Payfield: shop_code when configured; Paykassma:
// the access keys); refused ones change nothing and are counted in
// processor_bridge_callbacks_rejected_total{provider,reason}. Package
// providertest is the behavioural contract every provider runs against
// its simulator.
//
// # HTTP API (amounts: decimal strings in minor units)
//
//	POST /v1/bridge/payins   (and /v1/bridge/payouts)       bearer auth
//	  {"reference":"order-1","provider":"payfield","amount":"150050","currency":"RUB",
//	   "method":"card","customer":{"user_id":"alice","ip":"203.0.113.5"},"extra":{"ifsc_code":"..."}}
//	  201 new / 200 same request again: PaymentView
//	  {"reference","kind","provider","amount","currency","method","status","raw_status",
//	   "provider_id","redirect_url","settled_amount","reason","needs_attention","attention",
//	   "conflicts":[{"local_status","status","raw_status","source","reason","settled_amount","at"}],
//	   "created_at","updated_at"}
//	  400 invalid, 409 reference reused with another body, 501 capability missing
//	GET  /v1/bridge/payments/{reference}                    PaymentView or 404
//	GET  /v1/bridge/balances[?provider=]                    {"balances":[{"provider","currency",
//	     "available","pending","frozen","credit","total"}],"errors":[{"provider","error"}]}
//	GET  /v1/bridge/banks[?provider=]                       {"banks":[{"provider","code","name","currency","methods"}]}
//	GET  /v1/bridge/providers                               {"providers":[{"name","capabilities"}]}
//	POST /v1/bridge/callbacks/{provider}                    no bearer auth: verified by the provider's
//	     signature; 200 (the provider's expected reply, default {"status":"ok"}), 400 rejected,
//	     404 unknown provider or reference, 501 provider sends no callbacks
//	POST /v1/bridge/nemo                                    Nemo.travel import.paymentBalance (package nemo)
//
// Errors are {"error":"..."}.
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

// paid reports whether a final status means the money moved (succeeded,
// or reversed: moved and came back) rather than never moved.
func paid(s Status) bool { return s == StatusSucceeded || s == StatusReversed }

// Contradicts reports whether a final status reported for a payment whose
// local status is already final tells another story: money moved where we
// recorded that it did not, or the other way round (paid after failed,
// failed after succeeded). Such a report cannot change the final status
// but must reach a person. Final statuses of the same outcome (expired,
// then failed; reversed, then a late succeeded) do not contradict.
func Contradicts(local, reported Status) bool {
	if !local.Terminal() || !reported.Terminal() || local == reported {
		return false
	}
	return paid(local) != paid(reported)
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
	// ReversalReporter is a StatusGetter whose status call reports a
	// reversal (refund, chargeback) of a succeeded payment as
	// StatusReversed. Its succeeded payments are polled for a while
	// (Reconciler.ReversalWatch): a lost reversal callback would
	// otherwise leave them succeeded for good.
	ReversalReporter interface {
		StatusGetter
		ReportsReversals() bool
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

// CallbackError is a refused callback with the reason counted in
// processor_bridge_callbacks_rejected_total; it matches ErrBadCallback.
type CallbackError struct {
	Reason string // a short metric label, e.g. "signature", "project_mismatch"
	Err    error
}

// RejectCallback returns err as a refused callback counted under reason.
func RejectCallback(reason string, err error) error { return &CallbackError{Reason: reason, Err: err} }

func (e *CallbackError) Error() string { return e.Err.Error() }

// Unwrap makes the error match ErrBadCallback and what it wraps.
func (e *CallbackError) Unwrap() []error { return []error{ErrBadCallback, e.Err} }

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
	// ErrNotFound: the provider says definitely that it has no payment
	// under the reference (it would have one had it accepted the request).
	// Only this answer, or a final status, may end an unknown payment.
	ErrNotFound = errors.New("bridge: not found at provider")
	// ErrNoDefiniteAnswer: the provider answered but cannot say whether it
	// has the payment (Paykassma has no postback before the outcome, so a
	// pending payment and one it never got look alike). It never ends a
	// payment: the reconciler keeps asking and, past
	// ServiceOptions.UnknownGiveUp, flags an unknown payment for a person.
	ErrNoDefiniteAnswer = errors.New("bridge: the provider gave no definite answer")
)

// Timeouts every provider client uses unless configured otherwise.
const (
	DefaultTimeout = 15 * time.Second
)
