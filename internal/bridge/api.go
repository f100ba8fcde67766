package bridge

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/ton-custody/processor/internal/apierr"
	"github.com/ton-custody/processor/internal/money"
)

// Router is where routes are added: *echo.Echo and *echo.Group satisfy it.
type Router interface {
	Add(method, path string, handler echo.HandlerFunc, middleware ...echo.MiddlewareFunc) *echo.Route
}

// Route is one route of the bridge API.
type Route struct {
	Method, Path string
	Auth         bool // behind the API's bearer-token authentication
}

// Routes lists the bridge API's routes (for the OpenAPI route test).
var Routes = []Route{
	{http.MethodPost, "/v1/bridge/payins", true},
	{http.MethodPost, "/v1/bridge/payouts", true},
	{http.MethodGet, "/v1/bridge/payments/:reference", true},
	{http.MethodGet, "/v1/bridge/balances", true},
	{http.MethodGet, "/v1/bridge/banks", true},
	{http.MethodGet, "/v1/bridge/providers", true},
	{http.MethodPost, "/v1/bridge/callbacks/:provider", false},
}

// MaxCallbackBytes is the largest callback body accepted.
const MaxCallbackBytes = 1 << 20

// API serves the bridge's HTTP endpoints.
type API struct {
	svc *Service
}

// NewAPI returns the HTTP API of svc.
func NewAPI(svc *Service) *API { return &API{svc: svc} }

// Register adds the bridge routes to r: the merchant endpoints behind auth
// (the processor's bearer-token middleware; required), the provider
// callback receiver without it (callbacks are verified by signature).
func (a *API) Register(r Router, auth echo.MiddlewareFunc) error {
	if auth == nil {
		return errors.New("bridge: Register needs the API's authentication middleware")
	}
	handlers := map[string]echo.HandlerFunc{
		"/v1/bridge/payins":              a.createPayin,
		"/v1/bridge/payouts":             a.createPayout,
		"/v1/bridge/payments/:reference": a.getPayment,
		"/v1/bridge/balances":            a.balances,
		"/v1/bridge/banks":               a.banks,
		"/v1/bridge/providers":           a.providers,
		"/v1/bridge/callbacks/:provider": a.callback,
	}
	for _, rt := range Routes {
		if rt.Auth {
			r.Add(rt.Method, rt.Path, handlers[rt.Path], auth)
		} else {
			r.Add(rt.Method, rt.Path, handlers[rt.Path])
		}
	}
	return nil
}

type errorBody struct {
	Error string `json:"error"`
}

func writeJSON(c echo.Context, status int, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("bridge: encode response: %w", err)
	}
	return c.Blob(status, echo.MIMEApplicationJSON, b)
}

// fail answers client-facing errors itself ({"error": ...} with 400, 404,
// 409, 501 or 502) and returns anything else to echo's error handler
// (the processor's: 500 with the request id, the cause logged).
func fail(c echo.Context, err error) error {
	status := 0
	switch {
	case errors.Is(err, apierr.ErrBadRequest):
		status = http.StatusBadRequest
	case errors.Is(err, apierr.ErrNotFound):
		status = http.StatusNotFound
	case errors.Is(err, apierr.ErrConflict):
		status = http.StatusConflict
	case errors.Is(err, ErrNotImplemented):
		return writeJSON(c, http.StatusNotImplemented, errorBody{Error: strings.TrimPrefix(err.Error(), "bridge: ")})
	case errors.Is(err, ErrBadCallback):
		return writeJSON(c, http.StatusBadRequest, errorBody{Error: "callback rejected: signature, timestamp or body is invalid"})
	default:
		return err
	}
	return writeJSON(c, status, errorBody{Error: apierr.Message(err)})
}

// createBody is the body of POST /v1/bridge/payins and /payouts.
type createBody struct {
	Reference string            `json:"reference"`
	Provider  string            `json:"provider"`
	Amount    string            `json:"amount"`
	Currency  string            `json:"currency"`
	Method    string            `json:"method"`
	Customer  map[string]string `json:"customer"`
	Extra     map[string]string `json:"extra"`
}

func (a *API) createPayin(c echo.Context) error  { return a.create(c, Payin) }
func (a *API) createPayout(c echo.Context) error { return a.create(c, Payout) }

func (a *API) create(c echo.Context, kind Kind) error {
	var b createBody
	if err := decodeStrict(c.Request().Body, &b); err != nil {
		return fail(c, err)
	}
	if b.Reference == "" || b.Provider == "" || b.Amount == "" || b.Currency == "" {
		return fail(c, apierr.BadRequest("reference, provider, amount and currency are required"))
	}
	amt, err := money.Parse(b.Amount)
	if err != nil {
		return fail(c, apierr.BadRequest("amount: %v (minor units of the currency)", err))
	}
	rec, created, err := a.svc.Create(c.Request().Context(), CreateRequest{Kind: kind, Provider: b.Provider,
		Reference: b.Reference, Amount: amt, Currency: b.Currency, Method: b.Method, Customer: b.Customer, Extra: b.Extra})
	if err != nil {
		return fail(c, err)
	}
	if rec.Kind != kind {
		return fail(c, apierr.Conflict("reference %s was already used for a %s", b.Reference, rec.Kind))
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	return writeJSON(c, status, rec.View())
}

func decodeStrict(r io.Reader, dst any) error {
	body, err := io.ReadAll(r)
	if err != nil {
		var mb *http.MaxBytesError
		if errors.As(err, &mb) {
			return err
		}
		return fmt.Errorf("bridge: read body: %w", err)
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return apierr.BadRequest("request body is empty: send a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return apierr.BadRequest("invalid JSON body: %v", strings.TrimPrefix(err.Error(), "json: "))
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return apierr.BadRequest("request body must be a single JSON object")
	}
	return nil
}

func (a *API) getPayment(c echo.Context) error {
	rec, err := a.svc.Get(c.Request().Context(), c.Param("reference"))
	if err != nil {
		return fail(c, err)
	}
	return writeJSON(c, http.StatusOK, rec.View())
}

// BalanceView is one balance in GET /v1/bridge/balances.
type BalanceView struct {
	Provider  string `json:"provider"`
	Currency  string `json:"currency"`
	Available string `json:"available"`
	Pending   string `json:"pending"`
	Frozen    string `json:"frozen"`
	Credit    string `json:"credit"`
	Total     string `json:"total"`
}

// ProviderErrorView is a provider that could not answer.
type ProviderErrorView struct {
	Provider string `json:"provider"`
	Error    string `json:"error"`
}

func str(v *big.Int) string {
	if v == nil {
		return "0"
	}
	return v.String()
}

func (a *API) balances(c echo.Context) error {
	var only []string
	if p := c.QueryParam("provider"); p != "" {
		if _, ok := a.svc.reg.Get(p); !ok {
			return fail(c, apierr.BadRequest("unknown provider %q (configured: %v)", p, a.svc.reg.Names()))
		}
		only = []string{p}
	}
	bals, errs := a.svc.Balances(c.Request().Context(), only...)
	out := struct {
		Balances []BalanceView       `json:"balances"`
		Errors   []ProviderErrorView `json:"errors"`
	}{Balances: []BalanceView{}, Errors: []ProviderErrorView{}}
	for _, e := range errs {
		if len(only) > 0 && errors.Is(e.Err, ErrNotImplemented) {
			return fail(c, fmt.Errorf("%w: %s reports no balances", ErrNotImplemented, e.Provider))
		}
		out.Errors = append(out.Errors, ProviderErrorView{Provider: e.Provider, Error: "provider unavailable"})
	}
	for _, b := range bals {
		out.Balances = append(out.Balances, BalanceView{Provider: b.Provider, Currency: b.Currency,
			Available: str(b.Available), Pending: str(b.Pending), Frozen: str(b.Frozen), Credit: str(b.Credit), Total: str(b.Total)})
	}
	return writeJSON(c, http.StatusOK, out)
}

// BankView is one bank or method in GET /v1/bridge/banks.
type BankView struct {
	Provider string   `json:"provider"`
	Code     string   `json:"code"`
	Name     string   `json:"name"`
	Currency string   `json:"currency,omitempty"`
	Methods  []string `json:"methods"`
}

func (a *API) banks(c echo.Context) error {
	banks, err := a.svc.Banks(c.Request().Context(), c.QueryParam("provider"))
	if err != nil {
		return fail(c, err)
	}
	out := struct {
		Banks []BankView `json:"banks"`
	}{Banks: []BankView{}}
	for _, b := range banks {
		m := b.Methods
		if m == nil {
			m = []string{}
		}
		out.Banks = append(out.Banks, BankView{Provider: b.Provider, Code: b.Code, Name: b.Name, Currency: b.Currency, Methods: m})
	}
	return writeJSON(c, http.StatusOK, out)
}

// ProviderView is one provider in GET /v1/bridge/providers.
type ProviderView struct {
	Name         string   `json:"name"`
	Capabilities []string `json:"capabilities"`
}

func (a *API) providers(c echo.Context) error {
	out := struct {
		Providers []ProviderView `json:"providers"`
	}{Providers: []ProviderView{}}
	for _, n := range a.svc.reg.Names() {
		p, _ := a.svc.reg.Get(n)
		out.Providers = append(out.Providers, ProviderView{Name: n, Capabilities: Capabilities(p)})
	}
	return writeJSON(c, http.StatusOK, out)
}

func (a *API) callback(c echo.Context) error {
	req := c.Request()
	body, err := io.ReadAll(io.LimitReader(req.Body, MaxCallbackBytes+1))
	if err != nil {
		return fmt.Errorf("bridge: read callback: %w", err)
	}
	if len(body) > MaxCallbackBytes {
		return writeJSON(c, http.StatusRequestEntityTooLarge, errorBody{Error: "callback body too large"})
	}
	provider := c.Param("provider")
	out, err := a.svc.HandleCallback(req.Context(), provider, req, body)
	if err != nil {
		if errors.Is(err, ErrBadCallback) {
			a.svc.log.Warn("bridge: callback rejected", "provider", provider, "remote", req.RemoteAddr, "error", err)
		}
		return fail(c, err)
	}
	if len(out.Callback.Reply) > 0 {
		ct := out.Callback.ReplyType
		if ct == "" {
			ct = echo.MIMEApplicationJSON
		}
		return c.Blob(http.StatusOK, ct, out.Callback.Reply)
	}
	return writeJSON(c, http.StatusOK, map[string]string{"status": "ok"})
}
