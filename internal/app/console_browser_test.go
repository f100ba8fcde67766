package app_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/xssnick/tonutils-go/tlb"

	"github.com/ton-custody/processor/internal/config"
	"github.com/ton-custody/processor/internal/console/browsertest"
	"github.com/ton-custody/processor/internal/notify"
	"github.com/ton-custody/processor/internal/operators"
	"github.com/ton-custody/processor/internal/store/storetest"
	"github.com/ton-custody/processor/internal/tonaddr"
)

// screenshot keeps png as a test artefact (go test -artifacts) and, with
// UPDATE_CONSOLE_SCREENSHOTS=1, as docs/<name> (the README's pictures).
func screenshot(t *testing.T, name string, png []byte) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(t.ArtifactDir(), name), png, 0o644); err != nil {
		t.Errorf("screenshot %s: %v", name, err)
	}
	if os.Getenv("UPDATE_CONSOLE_SCREENSHOTS") != "1" {
		return
	}
	_, file, _, _ := runtime.Caller(0)
	if err := os.WriteFile(filepath.Join(filepath.Dir(file), "..", "..", "docs", name), png, 0o644); err != nil {
		t.Errorf("screenshot %s: %v", name, err)
	}
}

// hookReceiver is a loopback webhook receiver counting deliveries by event
// ID.
type hookReceiver struct {
	mu   sync.Mutex
	hits map[string]int
	ids  []string
	url  string
}

func newHookReceiver(t *testing.T) *hookReceiver {
	h := &hookReceiver{hits: map[string]int{}}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		id := r.Header.Get(notify.HeaderEventID)
		h.mu.Lock()
		if h.hits[id] == 0 {
			h.ids = append(h.ids, id)
		}
		h.hits[id]++
		h.mu.Unlock()
	}), ReadHeaderTimeout: 10 * time.Second}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	h.url = "http://" + ln.Addr().String() + "/hook"
	return h
}

func (h *hookReceiver) count(id string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.hits[id]
}

func (h *hookReceiver) first(prefix string) string {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, id := range h.ids {
		if strings.HasPrefix(id, prefix) {
			return id
		}
	}
	return ""
}

// The console in a real browser on the real stack: the processor on
// tonsim with a webhook receiver. An operator logs in with TOTP, finds a
// deposit made on tonsim, follows a withdrawal sent through the API to
// processed (request, batch, sent message, chain outcome, webhook
// deliveries), approves a large one as the second of two operators (the
// first may not approve twice) and watches it paid, pauses TON, cancels a
// pending withdrawal, resumes, and replays a webhook event that the
// receiver then gets again.
func TestBrowserConsoleOnTonsim(t *testing.T) {
	t.Parallel()
	bin := browsertest.Path(t)
	n, j := newNetwork(t)
	hooks := newHookReceiver(t)
	env := baseEnv(t, n, j, storetest.NewDBURL(t))
	for k, v := range map[string]string{"CONSOLE_ENABLED": "true", "CONSOLE_INSECURE_COOKIE": "true", "WEBHOOK_URL": hooks.url,
		"WEBHOOK_SECRET": "whsec-console-0123456789", "WITHDRAWAL_BATCH_INTERVAL": "200ms", "APPROVAL_THRESHOLDS": "TON:5000000000",
		"APPROVALS_REQUIRED": "2", "JETTON_DECIMALS": "USDT:6"} {
		env[k] = v
	}
	p := startProcessor(t, n, env)
	p.fundHot(t, "50")
	alice := addConsoleOperator(t, p, "alice", operators.RoleApprover)
	bob := addConsoleOperator(t, p, "bob", operators.RoleAdmin)
	ctx0, cancel0 := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel0()

	// A TON deposit and a jetton deposit on tonsim.
	tonDep := p.ok(p.do("POST", "/v1/address/new", map[string]string{"user_id": "dora", "currency": "TON"}, true))["address"].(string)
	usdtDep := p.ok(p.do("POST", "/v1/address/new", map[string]string{"user_id": "dora", "currency": "USDT"}, true))["address"].(string)
	tonAddr, _ := tonaddr.Parse(tonDep, config.Testnet)
	usdtAddr, _ := tonaddr.Parse(usdtDep, config.Testnet)
	if _, err := n.Faucet(ctx0, tonAddr, tlb.MustFromTON("2.5").Nano(), false, "console deposit"); err != nil {
		t.Fatal(err)
	}
	if _, err := n.Mint(ctx0, j.Master, usdtAddr, newBig(1_500_000)); err != nil {
		t.Fatal(err)
	}
	// Withdrawals through the API: one paid at once, one above the
	// approval threshold.
	send := func(q, amount string) int64 {
		t.Helper()
		id := p.ok(p.do("POST", "/v1/withdrawal/send", map[string]any{"user_id": "erin", "query_id": q, "currency": "TON",
			"amount": amount, "destination": dest("console", len(q), false), "comment": "order " + q}, true))["ID"]
		return int64(id.(float64))
	}
	paid := send("payout-1", "1000000000")
	big := send("payout-big", "7000000000")
	if st := p.status(big); st["status"] != "awaiting_approval" {
		t.Fatalf("7 TON: %v, want awaiting_approval", st["status"])
	}

	ctx := browsertest.Tab(t, bin, 4*time.Minute)

	base := p.url + "/console"
	do := func(what string, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, steps...); err != nil {
			t.Fatalf("%s: %v", what, err)
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
	shot := func(name string) {
		t.Helper()
		png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)) // 100: PNG; below, JPEG
		if err != nil {
			t.Fatalf("screenshot: %v", err)
		}
		screenshot(t, name, png)
	}
	login := func(op consoleOperator) {
		t.Helper()
		code, err := operators.TOTP(op.secret, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		do("log in as "+op.name,
			chromedp.Navigate(base+"/login"),
			chromedp.WaitVisible(chromedp.CSS("#login-form")),
			chromedp.SendKeys(chromedp.CSS("#name"), op.name),
			chromedp.SendKeys(chromedp.CSS("#password"), op.password),
			chromedp.SendKeys(chromedp.CSS("#code"), code),
			chromedp.Click(chromedp.CSS("#login")),
			chromedp.WaitVisible(chromedp.CSS("#dashboard")))
	}
	// reloadUntil reloads page until sel's text satisfies ok.
	reloadUntil := func(page, sel, what string, within time.Duration, ok func(string) bool) string {
		t.Helper()
		deadline := time.Now().Add(within)
		last := ""
		for {
			do("open "+page, chromedp.Navigate(page), chromedp.WaitReady(chromedp.CSS(sel)))
			if last = text(sel); ok(last) {
				return last
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: not within %v; %s reads:\n%s", what, within, sel, last)
			}
			time.Sleep(500 * time.Millisecond)
		}
	}
	withdrawalPage := func(id int64) string { return fmt.Sprintf("%s/withdrawals/%d", base, id) }
	waitState := func(id int64, want string, within time.Duration) {
		t.Helper()
		reloadUntil(withdrawalPage(id), "#state", fmt.Sprintf("withdrawal %d %s in the console", id, want), within,
			func(s string) bool { return strings.TrimSpace(s) == want })
	}

	// alice logs in (TOTP) and sees the system: sync, the hot wallet's
	// balances, the withdrawal awaiting approval.
	login(alice)
	if who := text("#operator"); who != "alice" {
		t.Fatalf("logged in as %q", who)
	}
	reloadUntil(base+"/", "#dashboard", "dashboard with the chain in sync and the hot wallet's balance", 30*time.Second, func(s string) bool {
		return strings.Contains(s, "in sync") && strings.Contains(s, "TON") && !strings.Contains(s, "unknown")
	})
	if q := text("#queue"); !strings.Contains(q, "Awaiting approval") {
		t.Fatalf("queue card: %q", q)
	}

	// The deposits made on tonsim, found by user: TON in TON, the jetton in
	// its configured decimals.
	reloadUntil(base+"/deposits?user=dora", "#deposits tbody", "dora's deposits", 45*time.Second, func(s string) bool {
		return strings.Contains(s, "2.5 TON") && strings.Contains(s, "1.5 USDT")
	})
	do("search deposits by comment",
		chromedp.Navigate(base+"/deposits"),
		chromedp.WaitVisible(chromedp.CSS("#deposit-search")),
		chromedp.SendKeys(chromedp.CSS(`#deposit-search input[name="comment"]`), "console dep"),
		chromedp.Submit(chromedp.CSS("#deposit-search")))
	// The unfiltered page shows the deposit too: read the table only once
	// the browser is on the search's results page.
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		loc, err := chromedp.Run(ctx, chromedp.Location())
		if err == nil && strings.Contains(loc, "comment=") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the deposit search never showed its results page (at %q: %v)", loc, err)
		}
	}
	do("search results", chromedp.WaitVisible(chromedp.Search(`//table[@id="deposits"]//td[contains(., "console deposit")]`)))
	if rows := text("#deposits tbody"); !strings.Contains(rows, "2.5 TON") || strings.Contains(rows, "USDT") {
		t.Fatalf("deposits with comment %q: %q", "console dep", rows)
	}

	// The small withdrawal's whole life: it is paid on tonsim; its page
	// shows the batch, its message, the outcome transaction and the
	// webhook events delivered to the receiver.
	waitState(paid, "processed", 60*time.Second)
	life := text("#life")
	for _, want := range []string{"Batch", "External message", "Hot wallet transaction", "Its message", "Message hash", "Paid:"} {
		if !strings.Contains(life, want) {
			t.Errorf("withdrawal %d's life lacks %q:\n%s", paid, want, life)
		}
	}
	if o := text("#outcome"); !strings.Contains(o, "Paid:") || !strings.Contains(o, "copy") {
		t.Errorf("outcome %q", o)
	}
	processedEvent := fmt.Sprintf("withdrawal:%d:processed", paid)
	events := reloadUntil(withdrawalPage(paid), "#events", "the processed event delivered", 30*time.Second, func(s string) bool {
		return strings.Contains(s, processedEvent) && !strings.Contains(s, "pending")
	})
	if !strings.Contains(events, "delivered") || hooks.count(processedEvent) == 0 {
		t.Errorf("events on the page:\n%s\nreceiver got %s %d time(s)", events, processedEvent, hooks.count(processedEvent))
	}
	if r := text("main h1"); !strings.Contains(r, "processed") {
		t.Errorf("heading %q", r)
	}

	// The large one: alice approves (1 of 2) and may not approve again.
	approve := func(reason string) {
		t.Helper()
		do("approve",
			chromedp.Navigate(withdrawalPage(big)),
			chromedp.WaitVisible(chromedp.CSS("#approve-form")),
			chromedp.SendKeys(chromedp.CSS("#approve-reason"), reason),
			chromedp.Click(chromedp.CSS("#approve")),
			chromedp.WaitVisible(chromedp.CSS("main > p.flash")))
	}
	approve("KYC checked")
	if a := text("#approvals"); !strings.HasPrefix(a, "1 of 2") {
		t.Fatalf("after alice: %q", a)
	}
	// The dashboard of README's picture: real data, one awaiting approval.
	do("dashboard", chromedp.Navigate(base+"/"), chromedp.WaitVisible(chromedp.CSS("#queue")))
	shot("console.png")
	approve("again")
	if msg := text("#error"); !strings.Contains(msg, "two-person rule") {
		t.Fatalf("second approval by alice: %q", msg)
	}
	do("log out", chromedp.Click(chromedp.CSS(`button.link`)), chromedp.WaitVisible(chromedp.CSS("#login-form")))

	// bob approves as the second operator and watches it paid.
	login(bob)
	approve("second approver: matches the ticket")
	if a := text("#approvals"); !strings.HasPrefix(a, "2 of 2") {
		t.Fatalf("after bob: %q", a)
	}
	waitState(big, "processed", 60*time.Second)
	if st := p.status(big); st["status"] != "processed" {
		t.Fatalf("API status of the approved withdrawal: %v", st)
	}
	// Its page: both approvals, the batch and message, the outcome, its
	// events (awaiting approval, processed) delivered, the audit entries.
	bigEvents := fmt.Sprintf("withdrawal:%d:processed", big)
	reloadUntil(withdrawalPage(big), "#events", "the approved withdrawal's events delivered", 30*time.Second, func(s string) bool {
		return strings.Contains(s, bigEvents) && strings.Contains(s, fmt.Sprintf("withdrawal:%d:awaiting_approval", big)) && !strings.Contains(s, "pending")
	})
	if a := text("#audit"); !strings.Contains(a, "KYC checked") || !strings.Contains(a, "second approver: matches the ticket") {
		t.Errorf("the withdrawal's audit entries: %q", a)
	}
	if l := text("#life"); !strings.Contains(l, "confirmed") || !strings.Contains(l, "Paid:") {
		t.Errorf("the approved withdrawal's batch and outcome: %q", l)
	}
	shot("console-withdrawal.png")

	// bob pauses TON; a withdrawal sent meanwhile stays pending; he
	// cancels it with a reason and resumes.
	do("pause TON",
		chromedp.Navigate(base+"/"),
		chromedp.WaitVisible(chromedp.CSS("#pause-form")),
		chromedp.SetValue(chromedp.CSS("#pause-currency"), "TON"),
		chromedp.SendKeys(chromedp.CSS("#pause-reason"), "incident 7"),
		chromedp.Click(chromedp.CSS("#pause")),
		chromedp.WaitVisible(chromedp.CSS("main > p.flash")))
	refund := send("refund-17", "1000000000")
	time.Sleep(time.Second) // a few batch intervals: paused, so not batched
	do("cancel",
		chromedp.Navigate(withdrawalPage(refund)),
		chromedp.WaitVisible(chromedp.CSS("#cancel-form")),
		chromedp.SendKeys(chromedp.CSS("#cancel-reason"), "customer asked to stop"),
		chromedp.Click(chromedp.CSS("#cancel")),
		chromedp.WaitVisible(chromedp.CSS("main > p.flash")))
	if r := text("#fail-reason"); r != "cancelled: customer asked to stop" {
		t.Fatalf("fail reason %q", r)
	}
	if st := p.status(refund); st["status"] != "failed" || st["reason"] != "cancelled: customer asked to stop" {
		t.Fatalf("API status of the cancelled withdrawal: %v", st)
	}
	do("resume TON",
		chromedp.Navigate(base+"/"),
		chromedp.WaitVisible(chromedp.CSS("#pause-form")),
		chromedp.SendKeys(chromedp.CSS("#pause-reason"), "incident 7 over"),
		chromedp.Click(chromedp.CSS("#resume")),
		chromedp.WaitVisible(chromedp.CSS("main > p.flash")))
	if p.count(t, `SELECT count(*) FROM hot_batch_items WHERE withdrawal_id = $1`, refund) != 0 {
		t.Error("the cancelled withdrawal was batched")
	}

	// Replay the deposit's webhook event from the browser: the receiver
	// gets it again.
	var depositEvent string
	waitFor(t, 30*time.Second, "the deposit webhook at the receiver", func() bool {
		depositEvent = hooks.first("deposit:")
		return depositEvent != ""
	})
	var outboxID int64
	if err := p.app.DB.QueryRow(context.Background(), `SELECT id FROM outbox WHERE dedup_key = $1`, depositEvent).Scan(&outboxID); err != nil {
		t.Fatalf("outbox row of %s: %v", depositEvent, err)
	}
	before := hooks.count(depositEvent)
	do("replay",
		chromedp.Navigate(base+"/webhooks?event="+depositEvent),
		chromedp.WaitVisible(chromedp.CSS(fmt.Sprintf(`tr.event[data-id="%d"]`, outboxID))),
		chromedp.SendKeys(chromedp.CSS("#replay-from"), fmt.Sprint(outboxID)),
		chromedp.SendKeys(chromedp.CSS("#replay-reason"), "merchant lost it"),
		chromedp.Click(chromedp.CSS("#replay")),
		chromedp.WaitVisible(chromedp.CSS("main > p.flash")))
	waitFor(t, 30*time.Second, "the replayed deposit event at the receiver", func() bool { return hooks.count(depositEvent) > before })

	// Every action is in the audit log, with its operator and reason.
	do("audit log", chromedp.Navigate(base+"/audit"), chromedp.WaitVisible(chromedp.CSS("tr.audit-entry")))
	log := text("table.audit")
	for _, want := range []string{"withdrawal.approve", "KYC checked", "second approver: matches the ticket", "withdrawals.pause",
		"withdrawals.resume", "withdrawal.cancel", "customer asked to stop", "webhook.replay", "merchant lost it", "console.login"} {
		if !strings.Contains(log, want) {
			t.Errorf("audit log lacks %q", want)
		}
	}
}
