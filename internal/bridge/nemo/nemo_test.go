package nemo_test

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/ton-custody/processor/api/apitest"
	"github.com/ton-custody/processor/internal/bridge"
	"github.com/ton-custody/processor/internal/bridge/nemo"
	"github.com/ton-custody/processor/internal/bridge/payfield"
	"github.com/ton-custody/processor/internal/bridge/payfield/sim"
	"github.com/ton-custody/processor/internal/config"
)

const nemoSecret = "nemo-secret-0123456789"

// Golden vector computed independently (Python hmac).
func TestSignGoldenVector(t *testing.T) {
	r := nemo.Request{Method: "import", APIVersion: "1.0", Params: nemo.Params{Type: "paymentBalance",
		CompanyID: json.RawMessage(`1001`), RequestID: "1735a006597bdaccb03ae1db81eee68"}}
	if got := nemo.Canonical(r); got != "import;1.0;paymentBalance;1001;1735a006597bdaccb03ae1db81eee68" {
		t.Fatalf("canonical %q", got)
	}
	const want = "d453202293e805c92e0c0dae218256bf2197b5c1d19e426a955589a1761c98ca"
	if got := nemo.Sign(nemoSecret, r); got != want {
		t.Fatalf("sign %s, want %s", got, want)
	}
	r.Params.CompanyID = json.RawMessage(`"1001"`) // a string companyId signs the same
	r.Params.Sign = strings.ToUpper(want)
	if !(nemo.HMACVerifier{Secret: config.NewSecret(nemoSecret)}).Verify(r) {
		t.Fatal("verifier refuses the golden sign")
	}
}

func setup(t *testing.T) (*httptest.Server, *sim.Sim) {
	t.Helper()
	s, err := sim.Start(sim.Options{APIKey: "k-0123456789abcdef", Secret: "s-0123456789abcdef", WebhookSecret: "w-0123456789abcdef"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	s.SetBalance("RUB", 98_500_00, 5_000_00)
	pf, err := payfield.New(payfield.Options{BaseURL: s.URL, APIKey: config.NewSecret("k-0123456789abcdef"),
		Secret: config.NewSecret("s-0123456789abcdef"), WebhookSecret: config.NewSecret("w-0123456789abcdef"),
		Client: &http.Client{Timeout: 2 * time.Second}})
	if err != nil {
		t.Fatal(err)
	}
	reg, _ := bridge.NewRegistry(pf)
	svc := bridge.NewService(nil, reg, bridge.ServiceOptions{Logger: slog.New(slog.DiscardHandler)})
	comps, err := bridge.ParseNemoCompanies("1001=payfield:RUB")
	if err != nil {
		t.Fatal(err)
	}
	h := nemo.New(bridge.NemoConfig{Secret: config.NewSecret(nemoSecret), Companies: comps, AmountFormat: "major"}, svc,
		nemo.Options{Logger: slog.New(slog.DiscardHandler)})
	e := echo.New()
	h.Register(e)
	srv := httptest.NewServer(e)
	t.Cleanup(srv.Close)
	return srv, s
}

func post(t *testing.T, url, body string) (int, string) {
	t.Helper()
	client := &http.Client{Transport: apitest.Transport(t, nil)} // checks against api/openapi.yaml
	resp, err := client.Post(url+nemo.Path, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func request(company, requestID, sign string) string {
	return `{"method":"import","apiVersion":"1.0","params":{"type":"paymentBalance","companyId":` + company +
		`,"requestId":"` + requestID + `","sign":"` + sign + `"}}`
}

func TestPaymentBalanceWithAGoodSign(t *testing.T) {
	t.Parallel()
	srv, _ := setup(t)
	r := nemo.Request{Method: "import", APIVersion: "1.0", Params: nemo.Params{Type: "paymentBalance", CompanyID: json.RawMessage(`1001`), RequestID: "req-1"}}
	code, body := post(t, srv.URL, request("1001", "req-1", nemo.Sign(nemoSecret, r)))
	want := `{"method":"import","apiVersion":"1.0","params":{"type":"paymentBalance","companyId":1001,"requestId":"req-1"},` +
		`"data":{"success":true,"balance":{"deposit":{"amount":"98500.00","currency":"RUB"},"credit":{"amount":"5000.00","currency":"RUB"},` +
		`"paymentExtraInfo":[{"type":"deposit","name":"payfield","money":{"amount":"98500.00","currency":"RUB"}},` +
		`{"type":"credit","name":"payfield","money":{"amount":"5000.00","currency":"RUB"}}]}}}`
	if code != http.StatusOK || body != want {
		t.Fatalf("got %d\n%s\nwant\n%s", code, body, want)
	}
	// A string companyId is echoed as a string.
	code, body = post(t, srv.URL, request(`"1001"`, "req-1", nemo.Sign(nemoSecret, r)))
	if code != http.StatusOK || !strings.Contains(body, `"companyId":"1001"`) || !strings.Contains(body, `"success":true`) {
		t.Fatalf("string companyId: %d %s", code, body)
	}
}

func TestPaymentBalanceErrors(t *testing.T) {
	t.Parallel()
	srv, s := setup(t)
	sign := func(company, req string) string {
		return nemo.Sign(nemoSecret, nemo.Request{Method: "import", APIVersion: "1.0",
			Params: nemo.Params{Type: "paymentBalance", CompanyID: json.RawMessage(company), RequestID: req}})
	}
	tests := []struct {
		name, body string
		code       int
		errCode    string
	}{
		{"bad sign", request("1001", "req-2", sign("1001", "req-1")), 200, "invalid_sign"},
		{"sign of another company", request("1002", "req-2", sign("1001", "req-2")), 200, "invalid_sign"},
		{"no sign", request("1001", "req-2", ""), 200, "invalid_sign"},
		{"unknown company", request("1002", "req-2", sign("1002", "req-2")), 200, "unknown_company"},
		{"malformed JSON", `{"method":`, 400, "bad_request"},
		{"wrong type", strings.Replace(request("1001", "r", sign("1001", "r")), "paymentBalance", "documentsList", 1), 400, "bad_request"},
	}
	for _, tt := range tests {
		code, body := post(t, srv.URL, tt.body)
		var resp nemo.Response
		if err := json.Unmarshal([]byte(body), &resp); err != nil {
			t.Fatalf("%s: %s", tt.name, body)
		}
		if code != tt.code || resp.Data.Success || resp.Data.Error == nil || resp.Data.Error.Code != tt.errCode || resp.Data.Balance != nil {
			t.Errorf("%s: %d %s", tt.name, code, body)
		}
		if strings.Contains(body, `"sign"`) {
			t.Errorf("%s: the answer echoes the sign", tt.name)
		}
	}
	s.Inject(sim.EndpointBalance, sim.Fault{Mode: sim.Fail500})
	code, body := post(t, srv.URL, request("1001", "r3", sign("1001", "r3")))
	if code != 200 || !strings.Contains(body, `"success":false`) || !strings.Contains(body, "balance_unavailable") {
		t.Fatalf("provider down: %d %s", code, body)
	}
}
