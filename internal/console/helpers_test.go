package console_test

import (
	"context"
	"crypto/rand"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/ton-custody/processor/internal/console"
	"github.com/ton-custody/processor/internal/operators"
	"github.com/ton-custody/processor/internal/store/storetest"
	"github.com/ton-custody/processor/internal/withdrawals"
)

const password = "correct horse battery"

// clock is the console's clock in tests: each login moves it a TOTP step
// on, so the same operator can log in again (a code's step is single use).
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) step() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(30 * time.Second)
}

// env is a console on a fresh database with operators.
type env struct {
	t       *testing.T
	db      *pgxpool.Pool
	console *console.Console
	srv     *httptest.Server
	clock   *clock
	secrets map[string]string
}

type envOpts struct {
	approvals int
	insecure  bool
	maxFailed int
	handler   func(*console.Console) http.Handler
}

func newEnv(t *testing.T, o envOpts) *env {
	t.Helper()
	db := storetest.NewDB(t)
	if o.approvals == 0 {
		o.approvals = 2
	}
	ctl, err := withdrawals.NewControls(db, withdrawals.ControlsConfig{Network: "testnet", ApprovalsRequired: o.approvals,
		Currencies: []string{"TON", "USDT"}})
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, db: db, clock: &clock{t: time.Now()}, secrets: map[string]string{}}
	e.console, err = console.New(console.Options{DB: db, Controls: ctl, Network: "testnet", Currencies: []string{"TON", "USDT"},
		InsecureCookie: o.insecure, MaxFailedLogins: o.maxFailed, ApprovalsRequired: o.approvals, AllowableLag: 30 * time.Second,
		HotWallet: "0QAs9VlT6S776tq3unJcP5Ogsj-ELLunLXuOb1EKcOQi4-QO", Now: e.clock.Now,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	var h http.Handler = e.console
	if o.handler != nil {
		h = o.handler(e.console)
	}
	e.srv = httptest.NewServer(h)
	t.Cleanup(e.srv.Close)
	for name, role := range map[string]operators.Role{"alice": operators.RoleApprover, "bob": operators.RoleAdmin, "carol": operators.RoleViewer} {
		en, err := operators.Add(context.Background(), db, "test", name, role, password)
		if err != nil {
			t.Fatal(err)
		}
		e.secrets[name] = en.TOTPSecret
	}
	return e
}

func (e *env) code(name string) string {
	e.t.Helper()
	c, err := operators.TOTP(e.secrets[name], e.clock.Now())
	if err != nil {
		e.t.Fatal(err)
	}
	return c
}

// client is a browser-like client with its own cookie jar that does not
// follow redirects.
type client struct {
	e    *env
	http *http.Client
}

func (e *env) client() *client {
	jar, _ := cookiejar.New(nil)
	return &client{e: e, http: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}}
}

type page struct {
	status   int
	body     string
	location string
	header   http.Header
}

func (c *client) get(path string) page {
	c.e.t.Helper()
	return c.do("GET", path, nil, nil)
}

func (c *client) do(method, path string, form url.Values, hdr map[string]string) page {
	c.e.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, c.e.srv.URL+path, body)
	if err != nil {
		c.e.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		c.e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return page{status: resp.StatusCode, body: string(b), location: resp.Header.Get("Location"), header: resp.Header}
}

var csrfRE = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func csrfOf(t *testing.T, body string) string {
	t.Helper()
	m := csrfRE.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no CSRF token in page:\n%s", body)
	}
	return m[1]
}

// login logs name in with the right code; it returns the login answer.
func (c *client) login(name string) page {
	c.e.t.Helper()
	c.e.clock.step()
	return c.loginWith(name, password, c.e.code(name))
}

func (c *client) loginWith(name, pw, code string) page {
	c.e.t.Helper()
	lp := c.get("/console/login")
	return c.do("POST", "/console/login", url.Values{"csrf": {csrfOf(c.e.t, lp.body)}, "name": {name}, "password": {pw}, "code": {code}}, nil)
}

// post submits a form of the console with the session's CSRF token.
func (c *client) post(path string, form url.Values) page {
	c.e.t.Helper()
	p := c.get("/console/")
	if p.status != http.StatusOK {
		c.e.t.Fatalf("dashboard: %d", p.status)
	}
	if form == nil {
		form = url.Values{}
	}
	form.Set("csrf", csrfOf(c.e.t, p.body))
	return c.do("POST", path, form, nil)
}

func random32() []byte {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return b
}

// withdrawal inserts a withdrawal in state.
func (e *env) withdrawal(user, queryID, amount, state string) int64 {
	e.t.Helper()
	var id int64
	if err := e.db.QueryRow(context.Background(), `INSERT INTO withdrawals (user_id, query_id, currency, amount, destination_workchain,
		destination_address, bounceable, request_hash, state) VALUES ($1, $2, 'TON', $3, 0, $4, false, $5, $6) RETURNING id`,
		user, queryID, amount, random32(), random32(), state).Scan(&id); err != nil {
		e.t.Fatal(err)
	}
	return id
}

func (e *env) count(q string, args ...any) int {
	e.t.Helper()
	var n int
	if err := e.db.QueryRow(context.Background(), q, args...).Scan(&n); err != nil {
		e.t.Fatal(err)
	}
	return n
}

func (e *env) state(id int64) string {
	e.t.Helper()
	var s string
	if err := e.db.QueryRow(context.Background(), `SELECT state FROM withdrawals WHERE id = $1`, id).Scan(&s); err != nil {
		e.t.Fatal(err)
	}
	return s
}
