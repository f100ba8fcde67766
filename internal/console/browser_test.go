package console_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/ton-custody/processor/internal/console/browsertest"
)

// A person's session in a real browser: log in with TOTP, see the
// dashboard, find a withdrawal, cancel one with a reason, approve one as a
// second operator after the first may not approve twice, and read the
// audit entries.
func TestBrowserLoginSearchCancelApproveAudit(t *testing.T) {
	t.Parallel()
	bin := browsertest.Path(t)
	e := newEnv(t, envOpts{approvals: 2, insecure: true})
	cancelID := e.withdrawal("erin", "refund-17", "1250000000", "pending")
	bigID := e.withdrawal("frank", "payout-big", "750000000000", "awaiting_approval")
	if _, err := e.db.Exec(context.Background(), `INSERT INTO scanner_cursor (mc_seqno, root_hash, file_hash, gen_utime)
		VALUES (4242, $1, $2, extract(epoch FROM now())::bigint - 3)`, random32(), random32()); err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		e.withdrawal(fmt.Sprintf("user-%d", i), fmt.Sprintf("bulk-%d", i), "100000000", "pending")
	}

	// Times in the operator's zone: the browser's, not the server's.
	ctx := browsertest.Tab(t, bin, 2*time.Minute, "TZ=Asia/Tokyo")

	base := e.srv.URL + "/console"
	login := func(name string) {
		t.Helper()
		e.clock.step()
		if err := chromedp.Do(ctx,
			chromedp.Navigate(base+"/login"),
			chromedp.WaitVisible(chromedp.CSS("#login-form")),
			chromedp.SendKeys(chromedp.CSS("#name"), name),
			chromedp.SendKeys(chromedp.CSS("#password"), password),
			chromedp.SendKeys(chromedp.CSS("#code"), e.code(name)),
			chromedp.Click(chromedp.CSS("#login")),
			chromedp.WaitVisible(chromedp.CSS("#dashboard")),
		); err != nil {
			t.Fatalf("log in as %s: %v", name, err)
		}
	}
	text := func(sel string) string {
		t.Helper()
		s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
		if err != nil {
			t.Fatalf("text of %s: %v", sel, err)
		}
		return s
	}

	login("alice")
	if who := text("#operator"); who != "alice" {
		t.Fatalf("logged in as %q", who)
	}
	// Times are converted to the browser's zone by the page's script.
	if err := chromedp.Do(ctx, chromedp.WaitVisible(chromedp.CSS("#queue")), chromedp.WaitReady(chromedp.CSS("time.local"))); err != nil {
		t.Fatalf("dashboard: %v", err)
	}
	attr, err := chromedp.Run(ctx, chromedp.AttributeValue(chromedp.CSS("time.local"), "title"))
	if err != nil {
		t.Fatalf("time tag: %v", err)
	}
	localTime := attr.Value
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	if q := text("#queue"); !strings.Contains(q, "Awaiting approval") || !strings.Contains(q, "Pending") {
		t.Fatalf("queue card: %q", q)
	}
	if !strings.HasSuffix(localTime, "Z") {
		t.Errorf("a <time> tag keeps its UTC value in its title, got %q", localTime)
	}
	// A test artefact (go test -artifacts); README's pictures come from the
	// test on the real stack (internal/app, TestBrowserConsoleOnTonsim).
	if err := os.WriteFile(filepath.Join(t.ArtifactDir(), "console-stub-data.png"), png, 0o644); err != nil {
		t.Errorf("screenshot: %v", err)
	}
	// The dashboard refreshes itself.
	if err := chromedp.Do(ctx, chromedp.WaitVisible(chromedp.Search(`//span[@id="refreshed" and contains(., "updated")]`))); err != nil {
		t.Fatalf("live refresh: %v", err)
	}

	// Search a withdrawal by query ID and open it.
	if err := chromedp.Do(ctx,
		chromedp.Navigate(base+"/withdrawals"),
		chromedp.WaitVisible(chromedp.CSS("#withdrawal-search")),
		chromedp.SendKeys(chromedp.CSS("#search-query-id"), "refund-17"),
		chromedp.Click(chromedp.CSS("#search")),
		// The results page has only the match.
		chromedp.WaitNotPresent(chromedp.CSS(fmt.Sprintf(`tr[data-id="%d"]`, bigID))),
		chromedp.WaitVisible(chromedp.CSS(fmt.Sprintf(`tr[data-id="%d"]`, cancelID))),
	); err != nil {
		t.Fatalf("search: %v", err)
	}
	if rows := text("#withdrawals tbody"); strings.Contains(rows, "bulk-") || !strings.Contains(rows, "erin") {
		t.Fatalf("search results: %q", rows)
	}
	// Cancel it with a reason (confirm dialog accepted).
	if err := chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(fmt.Sprintf(`tr[data-id="%d"] a`, cancelID))),
		chromedp.WaitVisible(chromedp.CSS("#cancel-form")),
		chromedp.SendKeys(chromedp.CSS("#cancel-reason"), "customer asked to stop"),
		chromedp.Click(chromedp.CSS("#cancel")),
		chromedp.WaitVisible(chromedp.CSS("main > p.flash")),
	); err != nil {
		t.Fatalf("cancel: %v", err)
	}
	if r := text("#fail-reason"); r != "cancelled: customer asked to stop" {
		t.Fatalf("fail reason %q", r)
	}
	if e.state(cancelID) != "failed" {
		t.Fatalf("cancelled withdrawal is %s", e.state(cancelID))
	}

	// alice approves the large one; she may not approve it twice.
	approve := func(reason string) {
		t.Helper()
		if err := chromedp.Do(ctx,
			chromedp.Navigate(fmt.Sprintf("%s/withdrawals/%d", base, bigID)),
			chromedp.WaitVisible(chromedp.CSS("#approve-form")),
			chromedp.SendKeys(chromedp.CSS("#approve-reason"), reason),
			chromedp.Click(chromedp.CSS("#approve")),
			// The answer page says how it went (success or refusal).
			chromedp.WaitVisible(chromedp.CSS("main > p.flash")),
		); err != nil {
			t.Fatalf("approve: %v", err)
		}
	}
	approve("KYC checked")
	if a := text("#approvals"); !strings.HasPrefix(a, "1 of 2") {
		t.Fatalf("after alice: %q", a)
	}
	approve("again")
	if msg := text("#error"); !strings.Contains(msg, "two-person rule") {
		t.Fatalf("second approval by alice: %q", msg)
	}
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`button.link`)), chromedp.WaitVisible(chromedp.CSS("#login-form"))); err != nil {
		t.Fatalf("log out: %v", err)
	}

	login("bob")
	approve("second approver: amount matches the ticket")
	if a := text("#approvals"); !strings.HasPrefix(a, "2 of 2") {
		t.Fatalf("after bob: %q", a)
	}
	if e.state(bigID) != "pending" {
		t.Fatalf("approved withdrawal is %s", e.state(bigID))
	}

	// The audit log shows both approvals and the cancel with their reasons.
	if err := chromedp.Do(ctx,
		chromedp.Navigate(fmt.Sprintf("%s/audit?subject=withdrawal:%d", base, bigID)),
		chromedp.WaitVisible(chromedp.CSS("tr.audit-entry")),
	); err != nil {
		t.Fatalf("audit page: %v", err)
	}
	log := text("table.audit")
	for _, want := range []string{"withdrawal.approve", "bob", "alice", "second approver: amount matches the ticket", "KYC checked"} {
		if !strings.Contains(log, want) {
			t.Errorf("audit page lacks %q:\n%s", want, log)
		}
	}
	if err := chromedp.Do(ctx,
		chromedp.Navigate(fmt.Sprintf("%s/audit?subject=withdrawal:%d", base, cancelID)),
		chromedp.WaitVisible(chromedp.CSS("tr.audit-entry")),
	); err != nil {
		t.Fatalf("audit page: %v", err)
	}
	if log := text("table.audit"); !strings.Contains(log, "withdrawal.cancel") || !strings.Contains(log, "customer asked to stop") {
		t.Errorf("cancel not in the audit page:\n%s", log)
	}
	if err := ctx.Err(); err != nil && !errors.Is(err, context.Canceled) {
		t.Fatal(err)
	}
}
