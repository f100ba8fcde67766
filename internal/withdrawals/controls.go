package withdrawals

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/xssnick/tonutils-go/address"

	"github.com/ton-custody/processor/internal/apierr"
	"github.com/ton-custody/processor/internal/audit"
	"github.com/ton-custody/processor/internal/config"
	"github.com/ton-custody/processor/internal/notify"
	"github.com/ton-custody/processor/internal/operators"
)

// StateAwaitingApproval is the state of a withdrawal above its currency's
// approval threshold until enough operators approve it (-> pending) or
// one rejects it (-> failed). The batch picker takes only pending ones.
const StateAwaitingApproval State = "awaiting_approval"

// MaxReasonLength bounds the reason of a control action, in characters.
const MaxReasonLength = 1000

// pauseLockKey is the advisory lock between Pause (exclusive) and the
// batch picker (shared): a pause waits for a batch being written, and
// every batch written after it sees the pause.
const pauseLockKey = `hashtextextended('withdrawal-pauses', 0)`

// ControlsConfig configures Controls.
type ControlsConfig struct {
	// Network renders addresses in webhook events.
	Network config.Network
	// JettonMasters are the configured jettons' masters by symbol (event
	// rendering).
	JettonMasters map[string]*address.Address
	// Currencies are the currencies that may be paused (TON and the
	// configured jettons); empty: any well-formed symbol.
	Currencies []string
	// ApprovalsRequired is how many distinct operators approve a
	// withdrawal awaiting approval (APPROVALS_REQUIRED); < 1 means 1.
	ApprovalsRequired int
}

// Controls are the operator controls of withdrawals: approve and reject
// withdrawals awaiting approval, pause and resume a currency's
// withdrawals, and (for the merchant API) cancel ones not yet in a batch.
// Each is one transaction with its audit log entry and webhook event.
type Controls struct {
	db   *pgxpool.Pool
	ev   eventFormat
	conf ControlsConfig
}

// NewControls returns the controls over db.
func NewControls(db *pgxpool.Pool, conf ControlsConfig) (*Controls, error) {
	if db == nil {
		return nil, errors.New("withdrawals: controls need a database pool")
	}
	if conf.ApprovalsRequired < 1 {
		conf.ApprovalsRequired = 1
	}
	return &Controls{db: db, ev: eventFormatOf(conf.Network, conf.JettonMasters), conf: conf}, nil
}

func eventFormatOf(network config.Network, masters map[string]*address.Address) eventFormat {
	js := make(map[string]Jetton, len(masters))
	for sym, m := range masters {
		js[sym] = Jetton{Symbol: sym, Master: m}
	}
	return newEventFormat(network, js)
}

// controlState is a withdrawal as the audit log shows it around an action.
type controlState struct {
	State     State  `json:"state"`
	Approvals int    `json:"approvals,omitempty"`
	Reason    string `json:"reason,omitempty"`
}

func checkReason(reason string) error {
	if strings.TrimSpace(reason) == "" {
		return apierr.BadRequest("reason is required")
	}
	if len([]rune(reason)) > MaxReasonLength {
		return apierr.BadRequest("reason is longer than %d characters", MaxReasonLength)
	}
	return nil
}

// lockWithdrawal locks withdrawal id in tx. The batch picker takes rows
// FOR UPDATE SKIP LOCKED and makes them processing in its transaction, so
// once this returns no batch can take the withdrawal until tx ends, and a
// withdrawal a batch took shows processing here.
func lockWithdrawal(ctx context.Context, tx pgx.Tx, id int64) (state State, createdBy, touchedBy *string, err error) {
	err = tx.QueryRow(ctx, `SELECT state, created_by, touched_by FROM withdrawals WHERE id = $1 FOR UPDATE`, id).
		Scan(&state, &createdBy, &touchedBy)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", nil, nil, apierr.NotFound("no withdrawal with ID %d", id)
	}
	if err != nil {
		return "", nil, nil, fmt.Errorf("withdrawals: lock withdrawal %d: %w", id, err)
	}
	return state, createdBy, touchedBy, nil
}

// failControlled fails a pending or awaiting_approval withdrawal in tx
// and enqueues its webhook event.
func (f eventFormat) failControlled(ctx context.Context, tx pgx.Tx, id int64, reason, touchedBy string) (WithdrawalEvent, error) {
	var by *string
	if touchedBy != "" {
		by = &touchedBy
	}
	ev, _, err := f.scanWithdrawal(tx.QueryRow(ctx, `UPDATE withdrawals SET state = 'failed', fail_reason = $2, touched_by = coalesce($3, touched_by)
		WHERE id = $1 AND state IN ('pending', 'awaiting_approval') RETURNING `+withdrawalEventColumns, id, reason, by))
	if err != nil {
		return ev, fmt.Errorf("withdrawals: fail withdrawal %d: %w", id, err)
	}
	ev.ID, ev.Status, ev.Reason = id, string(StateFailed), reason
	if _, err := notify.EnqueueAll(ctx, tx, []notify.Event{{Topic: notify.TopicWithdrawal,
		ID: fmt.Sprintf("withdrawal:%d:failed", id), Payload: ev}}); err != nil {
		return ev, fmt.Errorf("withdrawals: event of withdrawal %d: %w", id, err)
	}
	return ev, nil
}

// Cancel fails a withdrawal that is pending or awaiting approval with the
// reason "cancelled: <reason>" and sends its withdrawal event. One
// already in a batch (processing) or final is an apierr.ErrConflict
// error. actor is recorded in the audit log (e.g. "api:<token name>").
func (c *Controls) Cancel(ctx context.Context, id int64, actor, reason string) (RequestStatus, error) {
	if err := checkReason(reason); err != nil {
		return RequestStatus{}, err
	}
	var st RequestStatus
	err := pgx.BeginFunc(ctx, c.db, func(tx pgx.Tx) error {
		state, _, _, err := lockWithdrawal(ctx, tx, id)
		if err != nil {
			return err
		}
		if state != StatePending && state != StateAwaitingApproval {
			return apierr.Conflict("withdrawal %d is %s: only a pending or awaiting_approval withdrawal (not yet in a batch) can be cancelled", id, state)
		}
		full := "cancelled: " + reason
		ev, err := c.ev.failControlled(ctx, tx, id, full, "")
		if err != nil {
			return err
		}
		st = RequestStatus{UserID: ev.UserID, QueryID: ev.QueryID, Status: StateFailed, Reason: full}
		_, err = audit.Write(ctx, tx, audit.Entry{Actor: actor, Action: "withdrawal.cancel", Subject: fmt.Sprintf("withdrawal:%d", id),
			Before: controlState{State: state}, After: controlState{State: StateFailed, Reason: full}, Reason: reason})
		return err
	})
	if err != nil {
		return RequestStatus{}, fmt.Errorf("withdrawals: cancel %d: %w", id, err)
	}
	return st, nil
}

// Approve records operator's approval of a withdrawal awaiting approval.
// The operator must be an enabled approver or admin, and neither the
// withdrawal's creator nor whoever last changed it, and may approve it
// once; with ApprovalsRequired distinct approvals it becomes pending (and
// its withdrawal event says so). It returns the withdrawal's new state.
func (c *Controls) Approve(ctx context.Context, id int64, operator, reason string) (State, error) {
	if err := checkReason(reason); err != nil {
		return "", err
	}
	var out State
	err := pgx.BeginFunc(ctx, c.db, func(tx pgx.Tx) error {
		if _, err := operators.Require(ctx, tx, operator, operators.RoleApprover); err != nil {
			return err
		}
		state, createdBy, touchedBy, err := lockWithdrawal(ctx, tx, id)
		if err != nil {
			return err
		}
		if state != StateAwaitingApproval {
			return apierr.Conflict("withdrawal %d is %s, not awaiting_approval", id, state)
		}
		if createdBy != nil && *createdBy == operator {
			return operators.Forbidden("operator %s created withdrawal %d and cannot approve it (two-person rule)", operator, id)
		}
		if touchedBy != nil && *touchedBy == operator {
			return operators.Forbidden("operator %s last changed withdrawal %d and cannot approve it (two-person rule)", operator, id)
		}
		tag, err := tx.Exec(ctx, `INSERT INTO withdrawal_approvals (withdrawal_id, operator, reason) VALUES ($1, $2, $3)
			ON CONFLICT DO NOTHING`, id, operator, reason)
		if err != nil {
			return fmt.Errorf("record the approval: %w", err)
		}
		if tag.RowsAffected() == 0 {
			return operators.Forbidden("operator %s has already approved withdrawal %d; another operator must approve it", operator, id)
		}
		var n int
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM withdrawal_approvals WHERE withdrawal_id = $1`, id).Scan(&n); err != nil {
			return fmt.Errorf("count approvals: %w", err)
		}
		out = StateAwaitingApproval
		if n >= c.conf.ApprovalsRequired {
			out = StatePending
			ev, _, err := c.ev.scanWithdrawal(tx.QueryRow(ctx, `UPDATE withdrawals SET state = 'pending', touched_by = $2
				WHERE id = $1 AND state = 'awaiting_approval' RETURNING `+withdrawalEventColumns, id, operator))
			if err != nil {
				return fmt.Errorf("make withdrawal pending: %w", err)
			}
			ev.ID, ev.Status = id, string(StatePending)
			if _, err := notify.EnqueueAll(ctx, tx, []notify.Event{{Topic: notify.TopicWithdrawal,
				ID: fmt.Sprintf("withdrawal:%d:approved", id), Payload: ev}}); err != nil {
				return fmt.Errorf("event: %w", err)
			}
		} else if _, err := tx.Exec(ctx, `UPDATE withdrawals SET touched_by = $2 WHERE id = $1`, id, operator); err != nil {
			return fmt.Errorf("record who approved: %w", err)
		}
		_, err = audit.Write(ctx, tx, audit.Entry{Actor: operator, Action: "withdrawal.approve", Subject: fmt.Sprintf("withdrawal:%d", id),
			Before: controlState{State: state, Approvals: n - 1}, After: controlState{State: out, Approvals: n}, Reason: reason})
		return err
	})
	if err != nil {
		return "", fmt.Errorf("withdrawals: approve %d: %w", id, err)
	}
	return out, nil
}

// Reject fails a withdrawal awaiting approval with the reason
// "rejected: <reason>" and sends its withdrawal event. The operator must
// be an enabled approver or admin.
func (c *Controls) Reject(ctx context.Context, id int64, operator, reason string) error {
	if err := checkReason(reason); err != nil {
		return err
	}
	err := pgx.BeginFunc(ctx, c.db, func(tx pgx.Tx) error {
		if _, err := operators.Require(ctx, tx, operator, operators.RoleApprover); err != nil {
			return err
		}
		state, _, _, err := lockWithdrawal(ctx, tx, id)
		if err != nil {
			return err
		}
		if state != StateAwaitingApproval {
			return apierr.Conflict("withdrawal %d is %s, not awaiting_approval", id, state)
		}
		full := "rejected: " + reason
		if _, err := c.ev.failControlled(ctx, tx, id, full, operator); err != nil {
			return err
		}
		_, err = audit.Write(ctx, tx, audit.Entry{Actor: operator, Action: "withdrawal.reject", Subject: fmt.Sprintf("withdrawal:%d", id),
			Before: controlState{State: state}, After: controlState{State: StateFailed, Reason: full}, Reason: reason})
		return err
	})
	if err != nil {
		return fmt.Errorf("withdrawals: reject %d: %w", id, err)
	}
	return nil
}

// Pause is a paused currency.
type Pause struct {
	Currency string `json:"currency"`
	By       string `json:"paused_by"`
	Reason   string `json:"reason"`
}

func (c *Controls) checkCurrency(currency string) error {
	if !currencyRE.MatchString(currency) {
		return apierr.BadRequest("currency %q is not a currency symbol", currency)
	}
	if len(c.conf.Currencies) == 0 {
		return nil
	}
	for _, k := range c.conf.Currencies {
		if k == currency {
			return nil
		}
	}
	return apierr.BadRequest("currency %s is not configured (%s)", currency, strings.Join(c.conf.Currencies, ", "))
}

// Pause stops batching the currency's withdrawals (a kill switch): new
// ones are still accepted and wait as pending. It waits for a batch being
// written; every batch written after it returns skips the currency. The
// operator must be an enabled approver or admin. A paused currency is an
// apierr.ErrConflict error.
func (c *Controls) Pause(ctx context.Context, currency, operator, reason string) error {
	if err := c.checkCurrency(currency); err != nil {
		return err
	}
	if err := checkReason(reason); err != nil {
		return err
	}
	err := pgx.BeginFunc(ctx, c.db, func(tx pgx.Tx) error {
		if _, err := operators.Require(ctx, tx, operator, operators.RoleApprover); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(`+pauseLockKey+`)`); err != nil {
			return fmt.Errorf("lock pauses: %w", err)
		}
		tag, err := tx.Exec(ctx, `INSERT INTO withdrawal_pauses (currency, paused_by, reason) VALUES ($1, $2, $3)
			ON CONFLICT (currency) DO NOTHING`, currency, operator, reason)
		if err != nil {
			return fmt.Errorf("record the pause: %w", err)
		}
		if tag.RowsAffected() == 0 {
			return apierr.Conflict("%s withdrawals are already paused", currency)
		}
		_, err = audit.Write(ctx, tx, audit.Entry{Actor: operator, Action: "withdrawals.pause", Subject: "currency:" + currency,
			Before: map[string]bool{"paused": false}, After: map[string]bool{"paused": true}, Reason: reason})
		return err
	})
	if err != nil {
		return fmt.Errorf("withdrawals: pause %s: %w", currency, err)
	}
	return nil
}

// Resume lets the currency's withdrawals be batched again. The operator
// must be an enabled admin. A currency not paused is an
// apierr.ErrConflict error.
func (c *Controls) Resume(ctx context.Context, currency, operator, reason string) error {
	if err := c.checkCurrency(currency); err != nil {
		return err
	}
	if err := checkReason(reason); err != nil {
		return err
	}
	err := pgx.BeginFunc(ctx, c.db, func(tx pgx.Tx) error {
		if _, err := operators.Require(ctx, tx, operator, operators.RoleAdmin); err != nil {
			return err
		}
		var p Pause
		err := tx.QueryRow(ctx, `DELETE FROM withdrawal_pauses WHERE currency = $1 RETURNING currency, paused_by, reason`, currency).
			Scan(&p.Currency, &p.By, &p.Reason)
		if errors.Is(err, pgx.ErrNoRows) {
			return apierr.Conflict("%s withdrawals are not paused", currency)
		}
		if err != nil {
			return fmt.Errorf("clear the pause: %w", err)
		}
		_, err = audit.Write(ctx, tx, audit.Entry{Actor: operator, Action: "withdrawals.resume", Subject: "currency:" + currency,
			Before: p, After: map[string]bool{"paused": false}, Reason: reason})
		return err
	})
	if err != nil {
		return fmt.Errorf("withdrawals: resume %s: %w", currency, err)
	}
	return nil
}

// Paused lists the paused currencies.
func Paused(ctx context.Context, db interface {
	Query(context.Context, string, ...any) (pgx.Rows, error)
}) ([]Pause, error) {
	rows, err := db.Query(ctx, `SELECT currency, paused_by, reason FROM withdrawal_pauses ORDER BY currency`)
	if err != nil {
		return nil, fmt.Errorf("withdrawals: paused currencies: %w", err)
	}
	ps, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (Pause, error) {
		var p Pause
		return p, row.Scan(&p.Currency, &p.By, &p.Reason)
	})
	if err != nil {
		return nil, fmt.Errorf("withdrawals: paused currencies: %w", err)
	}
	return ps, nil
}
