// Package nemo answers Nemo.travel's counterparty-balance call
// (import.paymentBalance, Nemo's counterparty-balance API)
// from the configured payment providers' balances.
//
// Request (POST /v1/bridge/nemo, no bearer token: the body is signed):
//
//	{"method":"import","apiVersion":"1.0","params":{"type":"paymentBalance",
//	 "companyId":1001,"requestId":"1735a0...","sign":"0745f1..."}}
//
// companyId may be a JSON number or string; it is echoed back as sent.
//
// Signature. Nemo's "sign" is "determined by integration" (not public);
// the default here, agreed with the Nemo side, is
//
//	sign = hex(HMAC-SHA256(BRIDGE_NEMO_SECRET, method;apiVersion;type;companyId;requestId))
//
// e.g. "import;1.0;paymentBalance;1001;1735a006597bdaccb03ae1db81eee68",
// lower-case hex (64 characters; upper case accepted). Another scheme
// plugs in as a Verifier (Options.Verifier).
//
// Success answer (HTTP 200), the documented shape: deposit is the sum of
// the available balances of the company's sources, credit the sum of
// their credit buckets, both in the company's currency; paymentExtraInfo
// lists each source's available ("deposit") and credit ("credit") entry,
// name = provider. Amounts are decimal strings in major units ("98500.00")
// unless BRIDGE_NEMO_AMOUNT_FORMAT=minor.
//
// Error answer: the same envelope with data.success=false and
// data.error {code, message}; HTTP 200 for invalid_sign, unknown_company
// and balance_unavailable (Nemo reads data.success), HTTP 400 with code
// bad_request for a body that is not the documented request.
package nemo

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"math/big"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/ton-custody/processor/internal/bridge"
	"github.com/ton-custody/processor/internal/config"
)

// Path is the endpoint's path.
const Path = "/v1/bridge/nemo"

// Params are the request's params.
type Params struct {
	Type      string          `json:"type"`
	CompanyID json.RawMessage `json:"companyId"`
	RequestID string          `json:"requestId"`
	Sign      string          `json:"sign,omitempty"`
}

// Company returns companyId as text (a JSON string unquoted, a number as is).
func (p Params) Company() string {
	var s string
	if json.Unmarshal(p.CompanyID, &s) == nil {
		return s
	}
	return strings.TrimSpace(string(p.CompanyID))
}

// Request is Nemo's request body.
type Request struct {
	Method     string `json:"method"`
	APIVersion string `json:"apiVersion"`
	Params     Params `json:"params"`
}

// Canonical is the default string to sign: method;apiVersion;type;companyId;requestId.
func Canonical(r Request) string {
	return strings.Join([]string{r.Method, r.APIVersion, r.Params.Type, r.Params.Company(), r.Params.RequestID}, ";")
}

// Sign returns the default signature of r: hex HMAC-SHA256 of Canonical(r).
func Sign(secret string, r Request) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(Canonical(r)))
	return hex.EncodeToString(m.Sum(nil))
}

// Verifier checks a request's sign.
type Verifier interface {
	Verify(r Request) bool
}

// HMACVerifier is the default Verifier (Sign with Secret, constant time).
type HMACVerifier struct {
	Secret config.Secret
}

// Verify implements Verifier.
func (v HMACVerifier) Verify(r Request) bool {
	if !v.Secret.IsSet() {
		return false
	}
	got, err := hex.DecodeString(strings.ToLower(r.Params.Sign))
	if err != nil {
		return false
	}
	want, _ := hex.DecodeString(Sign(v.Secret.Reveal(), r))
	return hmac.Equal(got, want)
}

// Balancer reports provider balances; *bridge.Service implements it.
type Balancer interface {
	Balances(ctx context.Context, only ...string) ([]bridge.ProviderBalance, []bridge.ProviderError)
}

// Options of a Handler.
type Options struct {
	Verifier Verifier      // default HMACVerifier{cfg.Secret}
	Timeout  time.Duration // bound on the provider calls, default 10s
	Logger   *slog.Logger
}

// Handler serves the paymentBalance call.
type Handler struct {
	cfg  bridge.NemoConfig
	bal  Balancer
	opts Options
}

// New returns the handler for cfg's companies, reading balances from bal.
func New(cfg bridge.NemoConfig, bal Balancer, opts Options) *Handler {
	if opts.Verifier == nil {
		opts.Verifier = HMACVerifier{Secret: cfg.Secret}
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 10 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	return &Handler{cfg: cfg, bal: bal, opts: opts}
}

// Register adds POST /v1/bridge/nemo (no bearer auth: requests are signed).
func (h *Handler) Register(r bridge.Router) {
	r.Add(http.MethodPost, Path, h.Serve)
}

// Money is an amount and currency.
type Money struct {
	Amount   string `json:"amount"`
	Currency string `json:"currency"`
}

// ExtraInfo is one paymentExtraInfo entry.
type ExtraInfo struct {
	Type  string `json:"type"`
	Name  string `json:"name"`
	Money Money  `json:"money"`
}

// Balance is data.balance.
type Balance struct {
	Deposit          Money       `json:"deposit"`
	Credit           Money       `json:"credit"`
	PaymentExtraInfo []ExtraInfo `json:"paymentExtraInfo"`
}

// Error is data.error of a failed answer.
type Error struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// Data is the answer's data.
type Data struct {
	Success bool     `json:"success"`
	Balance *Balance `json:"balance,omitempty"`
	Error   *Error   `json:"error,omitempty"`
}

// Response is the answer.
type Response struct {
	Method     string `json:"method"`
	APIVersion string `json:"apiVersion"`
	Params     Params `json:"params"`
	Data       Data   `json:"data"`
}

// Serve is the echo handler.
func (h *Handler) Serve(c echo.Context) error {
	status, resp := h.Answer(c.Request().Context(), c.Request().Body)
	b, err := json.Marshal(resp)
	if err != nil {
		return err
	}
	return c.Blob(status, echo.MIMEApplicationJSON, b)
}

// Answer reads a request body and returns the HTTP status and answer.
func (h *Handler) Answer(ctx context.Context, body io.Reader) (int, Response) {
	raw, err := io.ReadAll(io.LimitReader(body, 64<<10))
	var req Request
	if err == nil {
		err = json.Unmarshal(raw, &req)
	}
	resp := Response{Method: "import", APIVersion: "1.0", Params: Params{Type: "paymentBalance"}}
	fail := func(status int, code, msg string) (int, Response) {
		resp.Data = Data{Success: false, Error: &Error{Code: code, Message: msg}}
		return status, resp
	}
	if err != nil {
		return fail(http.StatusBadRequest, "bad_request", "body must be the JSON import.paymentBalance request")
	}
	resp.Method, resp.APIVersion = req.Method, req.APIVersion
	resp.Params = Params{Type: req.Params.Type, CompanyID: req.Params.CompanyID, RequestID: req.Params.RequestID}
	if req.Method != "import" || req.Params.Type != "paymentBalance" || len(req.Params.CompanyID) == 0 || req.Params.RequestID == "" {
		return fail(http.StatusBadRequest, "bad_request", `expected method "import", params.type "paymentBalance", companyId and requestId`)
	}
	if !h.opts.Verifier.Verify(req) {
		h.opts.Logger.Warn("nemo: request with a bad sign", "company", req.Params.Company(), "request_id", req.Params.RequestID)
		return fail(http.StatusOK, "invalid_sign", "sign does not match the request")
	}
	comp, ok := h.cfg.Companies[req.Params.Company()]
	if !ok {
		return fail(http.StatusOK, "unknown_company", "companyId is not configured")
	}
	ctx, cancel := context.WithTimeout(ctx, h.opts.Timeout)
	defer cancel()
	names := make([]string, 0, len(comp.Sources))
	seen := map[string]bool{}
	for _, s := range comp.Sources {
		if !seen[s.Provider] {
			seen[s.Provider] = true
			names = append(names, s.Provider)
		}
	}
	bals, errs := h.bal.Balances(ctx, names...)
	if len(errs) > 0 {
		h.opts.Logger.Warn("nemo: provider balance unavailable", "company", comp.CompanyID, "provider", errs[0].Provider, "error", errs[0].Err)
		return fail(http.StatusOK, "balance_unavailable", "a provider balance is unavailable; try again later")
	}
	cur := comp.Sources[0].Currency
	deposit, credit := new(big.Int), new(big.Int)
	var extra []ExtraInfo
	for _, s := range comp.Sources {
		found := false
		for _, b := range bals {
			if b.Provider != s.Provider || b.Currency != s.Currency {
				continue
			}
			found = true
			av, cr := orZero(b.Available), orZero(b.Credit)
			deposit.Add(deposit, av)
			credit.Add(credit, cr)
			extra = append(extra, ExtraInfo{Type: "deposit", Name: s.Provider, Money: h.money(av, cur)},
				ExtraInfo{Type: "credit", Name: s.Provider, Money: h.money(cr, cur)})
		}
		if !found {
			return fail(http.StatusOK, "balance_unavailable", "a provider reports no balance in "+s.Currency)
		}
	}
	resp.Data = Data{Success: true, Balance: &Balance{Deposit: h.money(deposit, cur), Credit: h.money(credit, cur), PaymentExtraInfo: extra}}
	return http.StatusOK, resp
}

func orZero(v *big.Int) *big.Int {
	if v == nil {
		return new(big.Int)
	}
	return v
}

func (h *Handler) money(v *big.Int, cur string) Money {
	if h.cfg.AmountFormat == "minor" {
		return Money{Amount: v.String(), Currency: cur}
	}
	return Money{Amount: bridge.FormatMajor(v, cur), Currency: cur}
}
