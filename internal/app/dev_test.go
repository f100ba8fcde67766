package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ton-custody/processor/internal/app"
	"github.com/ton-custody/processor/internal/operators"
)

// syncBuffer is a bytes.Buffer safe for one writer and a concurrent reader.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// `make dev` must come up on a machine with nothing but PostgreSQL binaries
// and npm, and the curl lines it prints must work as printed.
func TestDevBringsEverythingUpAndItsCurlLinesWork(t *testing.T) {
	if _, err := exec.LookPath("curl"); err != nil {
		t.Fatal("this test runs the printed curl lines and needs curl on PATH")
	}
	env := map[string]string{"API_LISTEN": "127.0.0.1:0", "TONSIM_LITE_ADDR": "127.0.0.1:0", "TONSIM_HTTP_ADDR": "127.0.0.1:0"}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out syncBuffer
	ready := make(chan *app.DevEnv, 1)
	done := make(chan error, 1)
	go func() {
		done <- app.Dev(ctx, app.DevOptions{Getenv: func(k string) string { return env[k] }, Out: &out,
			Ready: func(d *app.DevEnv) { ready <- d }})
	}()
	var d *app.DevEnv
	select {
	case d = <-ready:
	case err := <-done:
		t.Fatalf("dev stopped: %v\n%s", err, out.String())
	case <-time.After(3 * time.Minute):
		t.Fatalf("dev did not come up:\n%s", out.String())
	}
	banner := out.String()
	for _, want := range []string{d.APIURL, d.APIToken, d.TonsimURL, "curl", "webhooks      off (set WEBHOOK_URL"} {
		if !strings.Contains(banner, want) {
			t.Fatalf("banner lacks %q:\n%s", want, banner)
		}
	}
	var curls []string
	for _, line := range strings.Split(banner, "\n") {
		if l := strings.TrimSpace(line); strings.HasPrefix(l, "curl ") {
			curls = append(curls, l)
		}
	}
	if len(curls) < 5 {
		t.Fatalf("only %d curl lines:\n%s", len(curls), banner)
	}
	var deposit string
	for _, c := range curls {
		if strings.Contains(c, "<deposit address>") {
			if deposit == "" {
				t.Fatal("the faucet line comes before any address line")
			}
			c = strings.ReplaceAll(c, "<deposit address>", deposit)
		}
		res, err := exec.Command("sh", "-c", c).Output()
		if err != nil {
			t.Fatalf("%s: %v", c, err)
		}
		var body map[string]any
		if err := json.Unmarshal(res, &body); err != nil || body["error"] != nil {
			t.Fatalf("%s\n-> %s", c, res)
		}
		if a, ok := body["address"].(string); ok && deposit == "" && strings.Contains(c, `"currency":"TON"`) {
			deposit = a
		}
	}
	// dev books the hot wallet's funding in the ledger: a newcomer's first
	// run shows no reconciliation difference.
	var recon string
	waitFor(t, 60*time.Second, "a reconciliation report", func() bool {
		res, _ := exec.Command("curl", "-s", "-H", "Authorization: Bearer "+d.APIToken, d.APIURL+"/v1/reconciliation").Output()
		recon = string(res)
		return strings.Contains(recon, `"differences"`)
	})
	if !strings.Contains(recon, `"differences":[]`) {
		t.Fatalf("dev's ledger differs from the chain: %s", recon)
	}
	// The hot wallet is funded and deployed, holding the demo jetton.
	ton := exec.Command("curl", "-s", "-H", "Authorization: Bearer "+d.APIToken, d.APIURL+"/v1/balance?currency=TON")
	res, _ := ton.Output()
	if !strings.Contains(string(res), `"status":"active"`) {
		t.Fatalf("hot wallet not deployed: %s", res)
	}
	// The console is on, with the demo operators the banner lists: the
	// admin logs in with its password and a TOTP code from its secret and
	// sees the dashboard, the demo jetton in its decimals.
	if d.ConsoleURL == "" || len(d.Operators) != 2 {
		t.Fatalf("console %q, operators %v", d.ConsoleURL, d.Operators)
	}
	for _, want := range []string{d.ConsoleURL, "otpauth://totp/", "oathtool --totp -b"} {
		if !strings.Contains(banner, want) {
			t.Fatalf("banner lacks %q:\n%s", want, banner)
		}
	}
	for _, o := range d.Operators {
		for _, want := range []string{o.Name, o.Password, o.TOTPSecret, o.TOTPURI} {
			if !strings.Contains(banner, want) {
				t.Fatalf("banner lacks operator %s's %q:\n%s", o.Name, want, banner)
			}
		}
	}
	if d.Operators[0].Role != operators.RoleAdmin || d.Operators[1].Role != operators.RoleApprover {
		t.Fatalf("demo operators %v", d.Operators)
	}
	c := newConsoleClient(t, strings.TrimSuffix(d.ConsoleURL, "/console/"))
	c.login(consoleOperator{name: d.Operators[0].Name, password: d.Operators[0].Password, secret: d.Operators[0].TOTPSecret})
	dash := c.get("/console/")
	if dash.status != 200 || !strings.Contains(dash.body, `id="dashboard"`) || !strings.Contains(dash.body, "1,000,000 DEMO") {
		t.Fatalf("console dashboard: %d\n%s", dash.status, dash.body)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("dev did not stop")
	}
}
