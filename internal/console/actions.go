package console

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/ton-custody/processor/internal/apierr"
	"github.com/ton-custody/processor/internal/audit"
	"github.com/ton-custody/processor/internal/notify"
	"github.com/ton-custody/processor/internal/operators"
	"github.com/ton-custody/processor/internal/withdrawals"
)

// flashText is the message shown after a successful action (the code is
// in the redirect's query; free text is never taken from the URL).
func flashText(code string) string {
	switch code {
	case "cancel":
		return "Withdrawal cancelled."
	case "approve":
		return "Approval recorded."
	case "approved":
		return "Approved: the withdrawal is pending and will be paid."
	case "reject":
		return "Withdrawal rejected."
	case "pause":
		return "Withdrawals paused."
	case "resume":
		return "Withdrawals resumed."
	case "replay":
		return "Events queued for delivery again."
	}
	return ""
}

// actionStatus maps a service's refusal to a status and the text shown;
// ok=false for an internal error.
func actionStatus(err error) (int, string, bool) {
	msg := apierr.Message(err)
	switch {
	case errors.Is(err, operators.ErrForbidden):
		return http.StatusForbidden, msg, true
	case errors.Is(err, apierr.ErrBadRequest):
		return http.StatusBadRequest, msg, true
	case errors.Is(err, apierr.ErrNotFound):
		return http.StatusNotFound, msg, true
	case errors.Is(err, apierr.ErrConflict):
		return http.StatusConflict, msg, true
	}
	return 0, "", false
}

// requireRole checks the session's operator, freshly, for role. The
// services check again in their own transactions.
func (c *Console) requireRole(ctx context.Context, s *session, role operators.Role) error {
	a, err := operators.Get(ctx, c.db, s.Operator)
	if err != nil {
		return err
	}
	if a.Disabled {
		return operators.Forbidden("operator %s is disabled", s.Operator)
	}
	if rank(a.Role) < rank(role) {
		return operators.Forbidden("operator %s has role %s; this needs %s", s.Operator, a.Role, role)
	}
	return nil
}

func (c *Console) withdrawalAction(w http.ResponseWriter, r *http.Request, s *session) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id < 1 {
		c.fail(w, r, s, http.StatusNotFound, "No such withdrawal.")
		return
	}
	ctx := r.Context()
	reason := strings.TrimSpace(r.PostFormValue("reason"))
	action := r.PathValue("action")
	done := action
	switch action {
	case "cancel":
		// The merchant API's cancel has no operator; from the console it
		// takes an approver.
		if err = c.requireRole(ctx, s, operators.RoleApprover); err == nil {
			_, err = c.opts.Controls.Cancel(ctx, id, s.Operator, reason)
		}
	case "approve":
		var st withdrawals.State
		if st, err = c.opts.Controls.Approve(ctx, id, s.Operator, reason); err == nil && st == withdrawals.StatePending {
			done = "approved"
		}
	case "reject":
		err = c.opts.Controls.Reject(ctx, id, s.Operator, reason)
	default:
		c.fail(w, r, s, http.StatusNotFound, "No such action.")
		return
	}
	if err != nil {
		status, msg, ok := actionStatus(err)
		if !ok {
			c.internal(w, r, s, err)
			return
		}
		c.showWithdrawal(w, r, s, status, "", msg)
		return
	}
	http.Redirect(w, r, fmt.Sprintf("%s/withdrawals/%d?done=%s", Prefix, id, done), http.StatusSeeOther)
}

func (c *Console) pauseAction(w http.ResponseWriter, r *http.Request, s *session) {
	ctx := r.Context()
	currency := strings.ToUpper(strings.TrimSpace(r.PostFormValue("currency")))
	reason := strings.TrimSpace(r.PostFormValue("reason"))
	var err error
	action := r.PostFormValue("action")
	switch action {
	case "pause":
		err = c.opts.Controls.Pause(ctx, currency, s.Operator, reason)
	case "resume":
		err = c.opts.Controls.Resume(ctx, currency, s.Operator, reason)
	default:
		c.fail(w, r, s, http.StatusBadRequest, "Pause or resume?")
		return
	}
	if err != nil {
		status, msg, ok := actionStatus(err)
		if !ok {
			c.internal(w, r, s, err)
			return
		}
		d, derr := c.dashboard(ctx)
		if derr != nil {
			c.internal(w, r, s, derr)
			return
		}
		c.render(w, status, "dashboard", page{Title: "Dashboard", Nav: "dashboard", Session: s, Data: d, Error: msg})
		return
	}
	http.Redirect(w, r, Prefix+"/?done="+action, http.StatusSeeOther)
}

// replay re-queues a webhook event or a range of them (outbox ids from,
// to), for one sink or all, with the audit entry in the same transaction.
func (c *Console) replay(w http.ResponseWriter, r *http.Request, s *session) {
	ctx := r.Context()
	bad := func(msg string) { c.showWebhooks(w, r, s, http.StatusBadRequest, "", msg) }
	from, err1 := strconv.ParseInt(strings.TrimSpace(r.PostFormValue("from")), 10, 64)
	toText := strings.TrimSpace(r.PostFormValue("to"))
	to, err2 := from, error(nil)
	if toText != "" {
		to, err2 = strconv.ParseInt(toText, 10, 64)
	}
	sink := strings.TrimSpace(r.PostFormValue("sink"))
	reason := strings.TrimSpace(r.PostFormValue("reason"))
	switch {
	case err1 != nil || err2 != nil || from < 1 || to < from:
		bad("Give the first and last event number (outbox id), first <= last.")
		return
	case to-from >= notify.MaxReplay:
		bad(fmt.Sprintf("At most %d events at once.", notify.MaxReplay))
		return
	case reason == "":
		bad("A reason is required.")
		return
	case len([]rune(reason)) > withdrawals.MaxReasonLength:
		bad(fmt.Sprintf("The reason is longer than %d characters.", withdrawals.MaxReasonLength))
		return
	}
	if err := c.requireRole(ctx, s, operators.RoleApprover); err != nil {
		status, msg, ok := actionStatus(err)
		if !ok {
			c.internal(w, r, s, err)
			return
		}
		c.showWebhooks(w, r, s, status, "", msg)
		return
	}
	var res notify.ReplayResult
	err := pgx.BeginFunc(ctx, c.db, func(tx pgx.Tx) error {
		if _, err := operators.Require(ctx, tx, s.Operator, operators.RoleApprover); err != nil {
			return err
		}
		var err error
		if res, err = notify.Replay(ctx, tx, from, to, sink); err != nil {
			return err
		}
		subject := fmt.Sprintf("outbox:%d", from)
		if to != from {
			subject = fmt.Sprintf("outbox:%d-%d", from, to)
		}
		sinks := sink
		if sinks == "" {
			sinks = "all"
		}
		_, err = audit.Write(ctx, tx, audit.Entry{Actor: s.Operator, Action: "webhook.replay", Subject: subject,
			Before: map[string]any{"from": from, "to": to, "sink": sinks, "pending": res.InFlight},
			After:  map[string]any{"requeued": res.Requeued}, Reason: reason})
		return err
	})
	if err != nil {
		status, msg, ok := actionStatus(err)
		if !ok {
			c.internal(w, r, s, err)
			return
		}
		c.showWebhooks(w, r, s, status, "", msg)
		return
	}
	if res.Requeued == 0 {
		c.showWebhooks(w, r, s, http.StatusOK, "", fmt.Sprintf("Nothing to replay: no delivered or given-up deliveries in %d..%d (%d still pending).", from, to, res.InFlight))
		return
	}
	http.Redirect(w, r, Prefix+"/webhooks?done=replay", http.StatusSeeOther)
}
