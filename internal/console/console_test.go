package console_test

import (
	"context"
	"fmt"
	"html"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/ton-custody/processor/internal/console"
	"github.com/ton-custody/processor/internal/operators"
)

func TestLoginSetsAStrictSessionCookieAndIsAudited(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{})
	c := e.client()
	if p := c.get("/console/"); p.status != http.StatusSeeOther || p.location != "/console/login" {
		t.Fatalf("without a session: %d %s", p.status, p.location)
	}
	p := c.login("alice")
	if p.status != http.StatusSeeOther || p.location != "/console/" {
		t.Fatalf("login: %d %s\n%s", p.status, p.location, p.body)
	}
	var ck *http.Cookie
	for _, k := range (&http.Response{Header: p.header}).Cookies() {
		if k.Name == "console_session" {
			ck = k
		}
	}
	if ck == nil || !ck.HttpOnly || !ck.Secure || ck.SameSite != http.SameSiteStrictMode || ck.Path != "/console" || ck.Expires.IsZero() {
		t.Fatalf("session cookie %+v: want HttpOnly, Secure, SameSite=Strict, Path=/console, an expiry", ck)
	}
	d := c.get("/console/")
	if d.status != http.StatusOK || !strings.Contains(d.body, "Withdrawal queue") || !strings.Contains(d.body, `id="operator">alice<`) {
		t.Fatalf("dashboard: %d\n%s", d.status, d.body)
	}
	for _, h := range []string{"Content-Security-Policy", "X-Frame-Options"} {
		if d.header.Get(h) == "" {
			t.Errorf("no %s header", h)
		}
	}
	if e.count(`SELECT count(*) FROM audit_log WHERE action = 'console.login' AND actor = 'alice'`) != 1 {
		t.Error("login not in the audit log")
	}
	// The database holds only the token's hash.
	if e.count(`SELECT count(*) FROM console_sessions WHERE encode(token_hash, 'escape') = $1`, ck.Value) != 0 {
		t.Error("session token stored in clear")
	}
	if f := c.get("/console/fragment/dashboard"); f.status != http.StatusOK || strings.Contains(f.body, "<html") || !strings.Contains(f.body, "Chain sync") {
		t.Fatalf("fragment: %d\n%s", f.status, f.body)
	}
	// Logout ends the session for good.
	if p := c.post("/console/logout", nil); p.status != http.StatusSeeOther {
		t.Fatalf("logout: %d", p.status)
	}
	if e.count(`SELECT count(*) FROM console_sessions`) != 0 || e.count(`SELECT count(*) FROM audit_log WHERE action = 'console.logout'`) != 1 {
		t.Error("logout did not delete the session or was not audited")
	}
	stale := e.client()
	stale.http.Jar.SetCookies(mustURL(t, e.srv.URL+"/console/"), []*http.Cookie{{Name: "console_session", Value: ck.Value, Path: "/console"}})
	if p := stale.get("/console/"); p.status != http.StatusSeeOther {
		t.Fatalf("logged-out cookie still works: %d", p.status)
	}
}

func mustURL(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func TestInsecureCookieOnlyWhenAskedFor(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{insecure: true})
	p := e.client().login("bob")
	for _, k := range (&http.Response{Header: p.header}).Cookies() {
		if k.Name == "console_session" && (k.Secure || !k.HttpOnly || k.SameSite != http.SameSiteStrictMode) {
			t.Fatalf("dev cookie %+v", k)
		}
	}
}

func TestFailedLoginsAreRecordedAndLockTheNameOut(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{maxFailed: 3})
	c := e.client()
	e.clock.step()
	if p := c.loginWith("alice", password, "000000"); p.status != http.StatusUnauthorized || !strings.Contains(p.body, "Wrong operator name, password or code") {
		t.Fatalf("wrong code: %d", p.status)
	}
	if p := c.loginWith("alice", "wrong password!", e.code("alice")); p.status != http.StatusUnauthorized {
		t.Fatalf("wrong password: %d", p.status)
	}
	if p := c.loginWith("mallory", password, "123456"); p.status != http.StatusUnauthorized {
		t.Fatalf("unknown operator: %d", p.status)
	}
	if p := c.loginWith("alice", "wrong password!", e.code("alice")); p.status != http.StatusUnauthorized {
		t.Fatalf("third failure: %d", p.status)
	}
	// Locked: even the right password and code are refused.
	e.clock.step()
	if p := c.loginWith("alice", password, e.code("alice")); p.status != http.StatusTooManyRequests {
		t.Fatalf("locked name: %d", p.status)
	}
	if n := e.count(`SELECT count(*) FROM console_logins WHERE operator = 'alice' AND NOT ok`); n != 3 {
		t.Errorf("%d failed logins recorded, want 3", n)
	}
	if n := e.count(`SELECT count(*) FROM audit_log WHERE action = 'console.login_failed'`); n != 4 {
		t.Errorf("%d failed logins audited, want 4", n)
	}
	if e.count(`SELECT count(*) FROM audit_log WHERE action = 'console.login_failed' AND actor = 'mallory' AND reason = 'unknown operator'`) != 1 {
		t.Error("unknown operator's attempt not audited")
	}
	if e.count(`SELECT count(*) FROM audit_log WHERE action = 'console.login_locked' AND actor = 'alice'`) != 1 {
		t.Error("locked attempt not audited")
	}
	// Another name is not locked.
	if p := c.login("bob"); p.status != http.StatusSeeOther {
		t.Fatalf("bob: %d", p.status)
	}
}

func TestTOTPCodeWorksOnceAndDisabledOperatorsAreOut(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{})
	a, b := e.client(), e.client()
	e.clock.step()
	code := e.code("alice")
	if p := a.loginWith("alice", password, code); p.status != http.StatusSeeOther {
		t.Fatalf("first use: %d", p.status)
	}
	if p := b.loginWith("alice", password, code); p.status != http.StatusUnauthorized {
		t.Fatalf("replayed code: %d", p.status)
	}
	if e.count(`SELECT count(*) FROM audit_log WHERE action = 'console.login_failed' AND reason = 'TOTP code already used'`) != 1 {
		t.Error("replayed code not audited")
	}
	if err := operators.Disable(context.Background(), e.db, "test", "alice", "left"); err != nil {
		t.Fatal(err)
	}
	if p := a.get("/console/"); p.status != http.StatusSeeOther {
		t.Fatalf("disabled operator's session: %d", p.status)
	}
	if p := b.login("alice"); p.status != http.StatusUnauthorized {
		t.Fatalf("disabled operator logs in: %d", p.status)
	}
}

func TestEveryPostNeedsTheCSRFTokenAndTheSameOrigin(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{})
	id := e.withdrawal("u1", "q1", "1000", "pending")
	c := e.client()
	c.login("alice")
	path := fmt.Sprintf("/console/withdrawals/%d/cancel", id)
	if p := c.do("POST", path, url.Values{"reason": {"x"}}, nil); p.status != http.StatusForbidden {
		t.Fatalf("no token: %d", p.status)
	}
	if p := c.do("POST", path, url.Values{"reason": {"x"}, "csrf": {"forged"}}, nil); p.status != http.StatusForbidden {
		t.Fatalf("wrong token: %d", p.status)
	}
	d := c.get("/console/")
	tok := csrfOf(t, d.body)
	if p := c.do("POST", path, url.Values{"reason": {"x"}, "csrf": {tok}}, map[string]string{"Origin": "https://evil.example"}); p.status != http.StatusForbidden {
		t.Fatalf("other origin: %d", p.status)
	}
	if p := c.do("POST", path, url.Values{"reason": {"x"}, "csrf": {tok}}, map[string]string{"Sec-Fetch-Site": "cross-site"}); p.status != http.StatusForbidden {
		t.Fatalf("cross-site: %d", p.status)
	}
	// The login form has its own token (double-submit cookie).
	if p := e.client().do("POST", "/console/login", url.Values{"name": {"alice"}, "password": {password}, "code": {e.code("alice")}}, nil); p.status != http.StatusForbidden {
		t.Fatalf("login without its token: %d", p.status)
	}
	// Without a session a POST is refused outright.
	if p := e.client().do("POST", path, url.Values{"reason": {"x"}, "csrf": {tok}}, nil); p.status != http.StatusUnauthorized {
		t.Fatalf("no session: %d", p.status)
	}
	if e.state(id) != "pending" {
		t.Fatal("a refused request changed the withdrawal")
	}
}

func TestAnAPITokenDoesNotOpenTheConsole(t *testing.T) {
	t.Parallel()
	// The API behind the console accepts only its bearer token and never
	// sees the console's paths; the console ignores Authorization.
	const token = "api-token-0123456789"
	api := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+token {
			http.Error(w, `{"error":"unauthorized"}`, http.StatusUnauthorized)
			return
		}
		_, _ = w.Write([]byte(`{}`))
	})
	e := newEnv(t, envOpts{handler: func(c *console.Console) http.Handler { return console.Mount(c, api) }})
	anon := e.client()
	for _, path := range []string{"/console/", "/console/withdrawals", "/console/audit"} {
		if p := anon.do("GET", path, nil, map[string]string{"Authorization": "Bearer " + token}); p.status != http.StatusSeeOther || p.location != "/console/login" {
			t.Errorf("%s with an API token: %d %s", path, p.status, p.location)
		}
	}
	if p := anon.do("GET", "/console/fragment/dashboard", nil, map[string]string{"Authorization": "Bearer " + token}); p.status != http.StatusUnauthorized {
		t.Errorf("fragment with an API token: %d", p.status)
	}
	c := e.client()
	c.login("bob")
	if p := c.get("/v1/address/all?user_id=u"); p.status != http.StatusUnauthorized {
		t.Errorf("API with a console session: %d", p.status)
	}
}

func TestCancelNeedsAnApproverAndAReasonAndIsAudited(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{})
	id := e.withdrawal("u1", "q-cancel", "1000", "pending")
	path := fmt.Sprintf("/console/withdrawals/%d/cancel", id)
	viewer := e.client()
	viewer.login("carol")
	if p := viewer.get(fmt.Sprintf("/console/withdrawals/%d", id)); strings.Contains(p.body, `id="cancel-form"`) {
		t.Error("a viewer is offered the cancel form")
	}
	if p := viewer.post(path, url.Values{"reason": {"customer asked"}}); p.status != http.StatusForbidden || !strings.Contains(p.body, "needs approver") {
		t.Fatalf("viewer cancels: %d\n%s", p.status, p.body)
	}
	alice := e.client()
	alice.login("alice")
	if p := alice.post(path, url.Values{"reason": {"   "}}); p.status != http.StatusBadRequest || !strings.Contains(p.body, "reason is required") {
		t.Fatalf("no reason: %d", p.status)
	}
	p := alice.post(path, url.Values{"reason": {"customer asked"}})
	if p.status != http.StatusSeeOther {
		t.Fatalf("cancel: %d\n%s", p.status, p.body)
	}
	if e.state(id) != "failed" {
		t.Fatalf("state %s", e.state(id))
	}
	w := alice.get(p.location)
	w.body = html.UnescapeString(w.body)
	for _, want := range []string{"Withdrawal cancelled.", "cancelled: customer asked", "withdrawal.cancel", `"state": "pending"`, "withdrawal:" + fmt.Sprint(id) + ":failed"} {
		if !strings.Contains(w.body, want) {
			t.Errorf("withdrawal page lacks %q", want)
		}
	}
	if e.count(`SELECT count(*) FROM audit_log WHERE action = 'withdrawal.cancel' AND actor = 'alice' AND reason = 'customer asked'
		AND before->>'state' = 'pending' AND after->>'state' = 'failed'`) != 1 {
		t.Error("cancel not audited with before/after")
	}
	// Again: the service refuses a final withdrawal.
	if p := alice.post(path, url.Values{"reason": {"again"}}); p.status != http.StatusConflict {
		t.Fatalf("second cancel: %d", p.status)
	}
	processing := e.withdrawal("u1", "q-none", "5", "pending")
	if p := alice.post(fmt.Sprintf("/console/withdrawals/%d/explode", processing), url.Values{"reason": {"x"}}); p.status != http.StatusNotFound {
		t.Fatalf("unknown action: %d", p.status)
	}
}

func TestApprovalFollowsTheTwoPersonRule(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{approvals: 2})
	id := e.withdrawal("u2", "q-big", "500000000000", "awaiting_approval")
	path := fmt.Sprintf("/console/withdrawals/%d/approve", id)
	alice, bob, carol := e.client(), e.client(), e.client()
	alice.login("alice")
	bob.login("bob")
	carol.login("carol")
	if p := carol.post(path, url.Values{"reason": {"ok"}}); p.status != http.StatusForbidden {
		t.Fatalf("viewer approves: %d", p.status)
	}
	if p := alice.post(path, url.Values{"reason": {"checked the customer"}}); p.status != http.StatusSeeOther || !strings.Contains(p.location, "done=approve") {
		t.Fatalf("first approval: %d %s", p.status, p.location)
	}
	if e.state(id) != "awaiting_approval" {
		t.Fatal("one approval of two made it pending")
	}
	p := alice.post(path, url.Values{"reason": {"me again"}})
	if p.status != http.StatusForbidden || !strings.Contains(p.body, "two-person rule") {
		t.Fatalf("same operator again: %d\n%s", p.status, p.body)
	}
	if p := bob.post(path, url.Values{"reason": {"second pair of eyes"}}); p.status != http.StatusSeeOther || !strings.Contains(p.location, "done=approved") {
		t.Fatalf("second approval: %d %s", p.status, p.location)
	}
	if e.state(id) != "pending" {
		t.Fatalf("after two approvals: %s", e.state(id))
	}
	w := bob.get(fmt.Sprintf("/console/withdrawals/%d", id))
	if !strings.Contains(w.body, "2 of 2") || !strings.Contains(w.body, "second pair of eyes") {
		t.Errorf("approvals not shown:\n%s", w.body)
	}
	// Reject another one.
	other := e.withdrawal("u2", "q-big2", "500000000000", "awaiting_approval")
	if p := alice.post(fmt.Sprintf("/console/withdrawals/%d/reject", other), url.Values{"reason": {"unknown destination"}}); p.status != http.StatusSeeOther {
		t.Fatalf("reject: %d", p.status)
	}
	if e.state(other) != "failed" || e.count(`SELECT count(*) FROM audit_log WHERE action = 'withdrawal.reject' AND subject = $1`, fmt.Sprintf("withdrawal:%d", other)) != 1 {
		t.Error("reject not done or not audited")
	}
}

func TestPauseAndResumeByRole(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{})
	alice, bob := e.client(), e.client()
	alice.login("alice")
	bob.login("bob")
	if p := alice.post("/console/pauses", url.Values{"currency": {"TON"}, "action": {"pause"}, "reason": {"incident 7"}}); p.status != http.StatusSeeOther {
		t.Fatalf("pause: %d\n%s", p.status, p.body)
	}
	if d := alice.get("/console/"); !strings.Contains(d.body, "TON withdrawals are paused by alice: incident 7") {
		t.Error("the dashboard does not show the pause")
	}
	if p := alice.post("/console/pauses", url.Values{"currency": {"TON"}, "action": {"resume"}, "reason": {"over"}}); p.status != http.StatusForbidden {
		t.Fatalf("approver resumes: %d", p.status)
	}
	if p := bob.post("/console/pauses", url.Values{"currency": {"BTC"}, "action": {"pause"}, "reason": {"x"}}); p.status != http.StatusBadRequest {
		t.Fatalf("unknown currency: %d", p.status)
	}
	if p := bob.post("/console/pauses", url.Values{"currency": {"TON"}, "action": {"resume"}, "reason": {"incident over"}}); p.status != http.StatusSeeOther {
		t.Fatalf("admin resumes: %d", p.status)
	}
	if e.count(`SELECT count(*) FROM withdrawal_pauses`) != 0 ||
		e.count(`SELECT count(*) FROM audit_log WHERE action IN ('withdrawals.pause', 'withdrawals.resume') AND subject = 'currency:TON'`) != 2 {
		t.Error("pause/resume not done or not audited")
	}
}

func TestReplayRequeuesFinishedDeliveries(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{})
	ctx := context.Background()
	if _, err := e.db.Exec(ctx, `INSERT INTO outbox_sinks (name) VALUES ('webhook')`); err != nil {
		t.Fatal(err)
	}
	var ids [3]int64
	for i := range ids {
		if err := e.db.QueryRow(ctx, `INSERT INTO outbox (topic, payload, dedup_key) VALUES ('withdrawal', '{"id": 1}', $1) RETURNING id`,
			fmt.Sprintf("withdrawal:%d:processed", i+1)).Scan(&ids[i]); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := e.db.Exec(ctx, `UPDATE outbox_deliveries SET attempts = 1, delivered_at = now() WHERE outbox_id = $1`, ids[0]); err != nil {
		t.Fatal(err)
	}
	if _, err := e.db.Exec(ctx, `UPDATE outbox_deliveries SET attempts = 9, given_up_at = now(), last_error = 'HTTP 500' WHERE outbox_id = $1`, ids[1]); err != nil {
		t.Fatal(err)
	}
	carol, alice := e.client(), e.client()
	carol.login("carol")
	alice.login("alice")
	wh := alice.get("/console/webhooks?status=given_up")
	if !strings.Contains(wh.body, "HTTP 500") || strings.Contains(wh.body, "withdrawal:1:processed") {
		t.Fatalf("given-up filter:\n%s", wh.body)
	}
	form := url.Values{"from": {fmt.Sprint(ids[0])}, "to": {fmt.Sprint(ids[2])}, "reason": {"receiver lost its database"}}
	if p := carol.post("/console/webhooks/replay", form); p.status != http.StatusForbidden {
		t.Fatalf("viewer replays: %d", p.status)
	}
	if p := alice.post("/console/webhooks/replay", url.Values{"from": {"x"}, "reason": {"r"}}); p.status != http.StatusBadRequest {
		t.Fatalf("bad range: %d", p.status)
	}
	if p := alice.post("/console/webhooks/replay", form); p.status != http.StatusSeeOther {
		t.Fatalf("replay: %d\n%s", p.status, p.body)
	}
	if n := e.count(`SELECT count(*) FROM outbox_deliveries WHERE delivered_at IS NULL AND given_up_at IS NULL AND next_attempt_at <= now()`); n != 3 {
		t.Errorf("%d deliveries due, want 3", n)
	}
	if e.count(`SELECT count(*) FROM outbox WHERE delivered_at IS NOT NULL OR given_up_at IS NOT NULL`) != 0 {
		t.Error("the outbox summary still says delivered/given up")
	}
	if e.count(`SELECT count(*) FROM audit_log WHERE action = 'webhook.replay' AND actor = 'alice' AND (after->>'requeued')::int = 2
		AND reason = 'receiver lost its database' AND subject = $1`, fmt.Sprintf("outbox:%d-%d", ids[0], ids[2])) != 1 {
		t.Error("replay not audited")
	}
	// Nothing finished left: said so, nothing written.
	if p := alice.post("/console/webhooks/replay", url.Values{"from": {fmt.Sprint(ids[0])}, "reason": {"again"}}); !strings.Contains(p.body, "Nothing to replay") {
		t.Fatalf("empty replay: %d", p.status)
	}
}

func TestSearchPages(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{})
	ctx := context.Background()
	for i := range 55 {
		e.withdrawal(fmt.Sprintf("user-%d", i%2), fmt.Sprintf("q-%d", i), "1500000000", "pending")
	}
	target := e.withdrawal("zed", "needle", "2000000000", "awaiting_approval")
	var dw int64
	if err := e.db.QueryRow(ctx, `INSERT INTO deposit_wallets (user_id, currency, subwallet_id, workchain, address)
		VALUES ('dora', 'TON', 7, 0, $1) RETURNING id`, random32()).Scan(&dw); err != nil {
		t.Fatal(err)
	}
	txh := random32()
	if _, err := e.db.Exec(ctx, `INSERT INTO incomes (deposit_wallet_id, user_id, currency, amount, comment, tx_hash, tx_lt, utime, mc_seqno)
		VALUES ($1, 'dora', 'TON', 2500000000, 'invoice 77', $2, 1, 1700000000, 10)`, dw, txh); err != nil {
		t.Fatal(err)
	}
	c := e.client()
	c.login("carol")
	all := c.get("/console/withdrawals")
	if all.status != http.StatusOK || !strings.Contains(all.body, `id="next-page"`) || strings.Count(all.body, "<tr data-id=") != 50 {
		t.Fatalf("first page: %d rows, next link %v", strings.Count(all.body, "<tr data-id="), strings.Contains(all.body, "next-page"))
	}
	if p2 := c.get("/console/withdrawals?page=2"); strings.Count(p2.body, "<tr data-id=") != 6 || strings.Contains(p2.body, `id="next-page"`) {
		t.Fatalf("second page: %d rows", strings.Count(p2.body, "<tr data-id="))
	}
	for q, want := range map[string]int{"user=user-1": 27, "query_id=needle": 1, "state=awaiting_approval": 1, fmt.Sprintf("id=%d", target): 1, "user=nobody": 0} {
		p := c.get("/console/withdrawals?" + q)
		if n := strings.Count(p.body, "<tr data-id="); n != want {
			t.Errorf("%s: %d rows, want %d", q, n, want)
		}
	}
	if p := c.get("/console/withdrawals?destination=nonsense"); p.status != http.StatusBadRequest {
		t.Errorf("bad destination: %d", p.status)
	}
	w := c.get(fmt.Sprintf("/console/withdrawals/%d", target))
	if w.status != http.StatusOK || !strings.Contains(w.body, "2 TON") || !strings.Contains(w.body, "https://testnet.tonviewer.com/0Q") {
		t.Fatalf("withdrawal page: %d\n%s", w.status, w.body)
	}
	if strings.Contains(w.body, `id="approve-form"`) {
		t.Error("a viewer is offered the approve form")
	}
	if p := c.get("/console/withdrawals/999999"); p.status != http.StatusNotFound {
		t.Errorf("unknown withdrawal: %d", p.status)
	}
	for q, want := range map[string]bool{"user=dora": true, "comment=VOICE": true, "tx=" + fmt.Sprintf("%x", txh): true, "user=nobody": false, "comment=%25": false} {
		p := c.get("/console/deposits?" + q)
		if got := strings.Contains(p.body, "invoice 77"); got != want || p.status != http.StatusOK {
			t.Errorf("deposits %s: %d found=%v", q, p.status, got)
		}
	}
	if p := c.get("/console/deposits?user=dora"); !strings.Contains(p.body, "2.5 TON") || !strings.Contains(p.body, "/transaction/") {
		t.Error("deposit amount or explorer link missing")
	}
	if p := c.get("/console/deposits?tx=zz"); p.status != http.StatusBadRequest {
		t.Errorf("bad tx hash: %d", p.status)
	}
	for _, path := range []string{"/console/bridge", "/console/webhooks", "/console/audit?actor=test", "/console/static/console.js", "/console/static/console.css"} {
		if p := c.get(path); p.status != http.StatusOK {
			t.Errorf("%s: %d", path, p.status)
		}
	}
	if p := c.get("/console/audit?subject=operator:alice"); !strings.Contains(p.body, "operator.add") {
		t.Error("audit search")
	}
	if p := c.get("/console/nope"); p.status != http.StatusNotFound {
		t.Errorf("unknown page: %d", p.status)
	}
}

func TestConsoleReadsCannotWrite(t *testing.T) {
	t.Parallel()
	// Pages of a viewer leave every table as it was, except the session
	// and login tables of the console itself.
	e := newEnv(t, envOpts{})
	e.withdrawal("u", "q", "1", "pending")
	c := e.client()
	c.login("carol")
	before := e.count(`SELECT count(*) FROM audit_log`)
	for _, path := range []string{"/console/", "/console/withdrawals", "/console/deposits", "/console/webhooks", "/console/bridge", "/console/audit"} {
		c.get(path)
	}
	if e.count(`SELECT count(*) FROM audit_log`) != before {
		t.Error("viewing wrote to the audit log")
	}
}
