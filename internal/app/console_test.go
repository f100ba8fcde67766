package app_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ton-custody/processor/internal/app"
	"github.com/ton-custody/processor/internal/config"
	"github.com/ton-custody/processor/internal/operators"
	"github.com/ton-custody/processor/internal/store/storetest"
)

// consoleOperator is an operator created for a test, with what logging in
// takes.
type consoleOperator struct {
	name, password, secret string
}

func addConsoleOperator(t testing.TB, p *processor, name string, role operators.Role) consoleOperator {
	t.Helper()
	const pw = "correct horse battery staple"
	enr, err := operators.Add(context.Background(), p.app.DB, "test", name, role, pw)
	if err != nil {
		t.Fatal(err)
	}
	return consoleOperator{name: name, password: pw, secret: enr.TOTPSecret}
}

// consoleClient talks to a console as a browser would, keeping its cookies
// itself (so a test can also send them where a browser would not) and not
// following redirects.
type consoleClient struct {
	t       testing.TB
	base    string // scheme://host:port
	cookies map[string]*http.Cookie
	http    *http.Client
}

func newConsoleClient(t testing.TB, base string) *consoleClient {
	return &consoleClient{t: t, base: base, cookies: map[string]*http.Cookie{},
		http: &http.Client{Timeout: 30 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

type consoleAnswer struct {
	status   int
	body     string
	location string
	cookies  []*http.Cookie
}

// do sends a request to base+path with the client's cookies and hdr.
func (c *consoleClient) do(method, base, path string, form url.Values, hdr map[string]string) consoleAnswer {
	c.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, base+path, body)
	if err != nil {
		c.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for _, ck := range c.cookies {
		req.AddCookie(&http.Cookie{Name: ck.Name, Value: ck.Value})
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, ck := range resp.Cookies() {
		if ck.MaxAge < 0 || ck.Value == "" {
			delete(c.cookies, ck.Name)
		} else {
			c.cookies[ck.Name] = ck
		}
	}
	return consoleAnswer{status: resp.StatusCode, body: string(b), location: resp.Header.Get("Location"), cookies: resp.Cookies()}
}

func (c *consoleClient) get(path string) consoleAnswer {
	c.t.Helper()
	return c.do("GET", c.base, path, nil, nil)
}

var consoleCSRF = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func csrfIn(t testing.TB, body string) string {
	t.Helper()
	m := consoleCSRF.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no CSRF token in:\n%s", body)
	}
	return m[1]
}

// login logs op in with its password and current TOTP code and returns the
// session cookie the console set.
func (c *consoleClient) login(op consoleOperator) *http.Cookie {
	c.t.Helper()
	lp := c.get("/console/login")
	if lp.status != http.StatusOK || !strings.Contains(lp.body, `id="login-form"`) {
		c.t.Fatalf("login page: %d\n%s", lp.status, lp.body)
	}
	code, err := operators.TOTP(op.secret, time.Now())
	if err != nil {
		c.t.Fatal(err)
	}
	r := c.do("POST", c.base, "/console/login", url.Values{"csrf": {csrfIn(c.t, lp.body)}, "name": {op.name},
		"password": {op.password}, "code": {code}}, nil)
	if r.status != http.StatusSeeOther || r.location != "/console/" {
		c.t.Fatalf("login as %s: %d %q\n%s", op.name, r.status, r.location, r.body)
	}
	ck := c.cookies["console_session"]
	if ck == nil {
		c.t.Fatalf("login as %s set no session cookie: %v", op.name, r.cookies)
	}
	return ck
}

// startWithConsoleListener starts a processor whose console listens on its
// own listener (CONSOLE_ADDR); it returns the processor and the console's
// base URL.
func startWithConsoleListener(t testing.TB, env map[string]string) (*processor, string) {
	t.Helper()
	cfg, err := config.Load(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	apiLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	conLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	a, err := app.New(ctx, app.Options{Config: cfg, Listener: apiLn, ConsoleListener: conLn, Logger: testLog(cfg)})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	p := &processor{t: t, env: env, app: a, url: "http://" + apiLn.Addr().String(), cancel: cancel, done: make(chan error, 1)}
	go func() { p.done <- a.Serve(ctx) }()
	t.Cleanup(p.stop)
	return p, "http://" + conLn.Addr().String()
}

// The console runs inside the real processor, on API_LISTEN under
// /console or on its own CONSOLE_ADDR, and the two authentications stay
// apart: the real HTTP API refuses a console session cookie, the console
// refuses the API's bearer token.
func TestConsoleInTheProcessorKeepsAPIAndConsoleAuthApart(t *testing.T) {
	t.Parallel()
	n, j := newNetwork(t)
	bearer := map[string]string{"Authorization": "Bearer " + token}

	// apart checks both refusals with a logged-in session cookie; api is
	// the API's base URL, con the console's.
	apart := func(t *testing.T, c *consoleClient, session *http.Cookie, api, con string) {
		t.Helper()
		withCookie := map[string]string{"Cookie": session.Name + "=" + session.Value}
		for _, r := range []struct{ method, path string }{
			{"GET", "/v1/address/all?user_id=alice"},
			{"GET", "/v1/balance?currency=TON"},
			{"POST", "/v1/withdrawal/cancel"},
		} {
			// A bare client (no jar) with only the session cookie: refused.
			bare := newConsoleClient(t, api)
			if a := bare.do(r.method, api, r.path, nil, withCookie); a.status != http.StatusUnauthorized {
				t.Errorf("API %s %s with a console session cookie: %d, want 401\n%s", r.method, r.path, a.status, a.body)
			}
		}
		// The token still opens the API.
		bare := newConsoleClient(t, api)
		if a := bare.do("GET", api, "/v1/address/all?user_id=alice", nil, bearer); a.status != http.StatusOK {
			t.Errorf("API with the token: %d %s", a.status, a.body)
		}
		// The console with the token and no cookie: the login page, 401s.
		if a := bare.do("GET", con, "/console/", nil, bearer); a.status != http.StatusSeeOther || a.location != "/console/login" {
			t.Errorf("console with the API token: %d %q, want a redirect to the login page", a.status, a.location)
		}
		for _, path := range []string{"/console/fragment/dashboard", "/console/withdrawals/1/cancel", "/console/webhooks/replay"} {
			method := "POST"
			if strings.Contains(path, "fragment") {
				method = "GET"
			}
			if a := bare.do(method, con, path, url.Values{"reason": {"x"}}, bearer); a.status != http.StatusUnauthorized {
				t.Errorf("console %s %s with the API token: %d, want 401", method, path, a.status)
			}
		}
		// The session opens the console.
		if a := c.get("/console/"); a.status != http.StatusOK || !strings.Contains(a.body, `id="dashboard"`) {
			t.Errorf("dashboard with the session: %d\n%s", a.status, a.body)
		}
		if a := c.get("/console/fragment/dashboard"); a.status != http.StatusOK || !strings.Contains(a.body, `id="queue"`) {
			t.Errorf("dashboard fragment with the session: %d", a.status)
		}
	}

	t.Run("on API_LISTEN", func(t *testing.T) {
		env := baseEnv(t, n, j, storetest.NewDBURL(t))
		env["CONSOLE_ENABLED"] = "true"
		env["CONSOLE_INSECURE_COOKIE"] = "true"
		p := startProcessor(t, n, env)
		op := addConsoleOperator(t, p, "alice", operators.RoleAdmin)
		c := newConsoleClient(t, p.url)
		if a := c.get("/console"); a.status != http.StatusSeeOther || a.location != "/console/" {
			t.Fatalf("/console: %d %q", a.status, a.location)
		}
		if a := c.get("/console/"); a.status != http.StatusSeeOther || a.location != "/console/login" {
			t.Fatalf("/console/ without a session: %d %q", a.status, a.location)
		}
		session := c.login(op)
		if !session.HttpOnly || session.Path != "/console" || session.SameSite != http.SameSiteStrictMode || session.Secure {
			t.Errorf("session cookie %+v: want HttpOnly, Path=/console, SameSite=Strict (Secure off: CONSOLE_INSECURE_COOKIE)", session)
		}
		apart(t, c, session, p.url, p.url)
		// The API beside it is untouched.
		if r := p.do("POST", "/v1/address/new", map[string]string{"user_id": "alice", "currency": "TON"}, true); r.status != http.StatusOK {
			t.Fatalf("address/new: %d %s", r.status, r.raw)
		}
		if r := p.do("GET", "/v1/system/sync", nil, false); r.status != http.StatusOK {
			t.Fatalf("sync: %d %s", r.status, r.raw)
		}
	})

	t.Run("on CONSOLE_ADDR", func(t *testing.T) {
		env := baseEnv(t, n, j, storetest.NewDBURL(t))
		env["CONSOLE_ENABLED"] = "true"
		env["CONSOLE_ADDR"] = "127.0.0.1:0"
		p, con := startWithConsoleListener(t, env)
		op := addConsoleOperator(t, p, "bob", operators.RoleApprover)
		c := newConsoleClient(t, con)
		session := c.login(op)
		if !session.Secure || !session.HttpOnly || session.Path != "/console" {
			t.Errorf("session cookie %+v: want Secure, HttpOnly, Path=/console", session)
		}
		apart(t, c, session, p.url, con)
		// Each listener serves only its own: no console on API_LISTEN, no API
		// on CONSOLE_ADDR.
		bare := newConsoleClient(t, p.url)
		if a := bare.do("GET", p.url, "/console/login", nil, nil); a.status == http.StatusOK || strings.Contains(a.body, "login-form") {
			t.Errorf("API_LISTEN serves the console: %d", a.status)
		}
		for _, path := range []string{"/v1/address/all?user_id=alice", "/v1/system/sync", "/metrics"} {
			if a := bare.do("GET", con, path, nil, bearer); a.status != http.StatusNotFound {
				t.Errorf("CONSOLE_ADDR serves %s: %d, want 404", path, a.status)
			}
		}
	})
}
