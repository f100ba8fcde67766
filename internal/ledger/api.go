package ledger

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/labstack/echo/v4"

	"github.com/ton-custody/processor/internal/apierr"
	"github.com/ton-custody/processor/internal/notify"
)

// Router is where routes are added: *echo.Echo and *echo.Group satisfy it.
type Router interface {
	Add(method, path string, handler echo.HandlerFunc, middleware ...echo.MiddlewareFunc) *echo.Route
}

// Route is one route of the ledger API (all behind the bearer token).
type Route struct {
	Method, Path string
	Query        []string
}

// Routes lists the ledger API's routes (for the OpenAPI route test).
var Routes = []Route{
	{http.MethodGet, "/v1/ledger/export", []string{"from", "to", "currency", "format"}},
	{http.MethodGet, "/v1/ledger/balances", []string{"currency"}},
	{http.MethodGet, "/v1/reconciliation", nil},
	{http.MethodGet, "/v1/events", []string{"after", "limit"}},
}

// Event page limits of GET /v1/events.
const (
	DefaultEventLimit = 100
	MaxEventLimit     = 1000
)

// API serves the ledger's HTTP endpoints and the events pull API.
type API struct {
	db         *pgxpool.Pool
	currencies map[string]bool
}

// NewAPI returns the HTTP API over db; currencies are the configured ones.
func NewAPI(db *pgxpool.Pool, currencies []string) *API {
	a := &API{db: db, currencies: map[string]bool{}}
	for _, c := range currencies {
		a.currencies[c] = true
	}
	return a
}

// Register adds the routes to r behind auth (required).
func (a *API) Register(r Router, auth echo.MiddlewareFunc) error {
	if auth == nil {
		return errors.New("ledger: Register needs the API's authentication middleware")
	}
	handlers := map[string]echo.HandlerFunc{
		"/v1/ledger/export":   a.export,
		"/v1/ledger/balances": a.balances,
		"/v1/reconciliation":  a.reconciliation,
		"/v1/events":          a.events,
	}
	for _, rt := range Routes {
		r.Add(rt.Method, rt.Path, checkQuery(rt.Query, handlers[rt.Path]), auth)
	}
	return nil
}

type errorBody struct {
	Error string `json:"error"`
}

func writeJSON(c echo.Context, status int, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("ledger: encode response: %w", err)
	}
	return c.Blob(status, echo.MIMEApplicationJSON, b)
}

func fail(c echo.Context, err error) error {
	switch {
	case errors.Is(err, apierr.ErrBadRequest):
		return writeJSON(c, http.StatusBadRequest, errorBody{Error: apierr.Message(err)})
	case errors.Is(err, apierr.ErrNotFound):
		return writeJSON(c, http.StatusNotFound, errorBody{Error: apierr.Message(err)})
	}
	return err
}

// checkQuery refuses query parameters the route does not take, as the
// rest of the API does.
func checkQuery(allowed []string, next echo.HandlerFunc) echo.HandlerFunc {
	ok := map[string]bool{}
	for _, q := range allowed {
		ok[q] = true
	}
	return func(c echo.Context) error {
		for k, v := range c.QueryParams() {
			if !ok[k] {
				return fail(c, apierr.BadRequest("unknown query parameter %q", k))
			}
			if len(v) > 1 {
				return fail(c, apierr.BadRequest("query parameter %q given more than once", k))
			}
		}
		return next(c)
	}
}

func (a *API) currency(c echo.Context) (string, error) {
	cur := c.QueryParam("currency")
	if cur != "" && !a.currencies[cur] {
		return "", apierr.BadRequest("currency %q is not configured", cur)
	}
	return cur, nil
}

// parseTime reads an RFC 3339 time or a date (YYYY-MM-DD, midnight UTC).
func parseTime(name, v string, def time.Time) (time.Time, error) {
	if v == "" {
		return def, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
		return t, nil
	}
	if t, err := time.Parse(time.DateOnly, v); err == nil {
		return t, nil
	}
	return time.Time{}, apierr.BadRequest("%s: %q is neither an RFC 3339 time (2025-01-31T00:00:00Z) nor a date (2025-01-31)", name, v)
}

func (a *API) export(c echo.Context) error {
	from, err := parseTime("from", c.QueryParam("from"), time.Unix(0, 0).UTC())
	if err != nil {
		return fail(c, err)
	}
	to, err := parseTime("to", c.QueryParam("to"), time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC))
	if err != nil {
		return fail(c, err)
	}
	if !from.Before(to) {
		return fail(c, apierr.BadRequest("from must be before to"))
	}
	cur, err := a.currency(c)
	if err != nil {
		return fail(c, err)
	}
	format := c.QueryParam("format")
	res := c.Response()
	var w EntryWriter
	switch format {
	case "", "json":
		res.Header().Set(echo.HeaderContentType, echo.MIMEApplicationJSON)
		w = NewJSONWriter(res)
	case "csv":
		res.Header().Set(echo.HeaderContentType, "text/csv; charset=utf-8")
		res.Header().Set(echo.HeaderContentDisposition, `attachment; filename="ledger.csv"`)
		w = NewCSVWriter(res)
	default:
		return fail(c, apierr.BadRequest("format must be csv or json"))
	}
	res.WriteHeader(http.StatusOK)
	if _, err := Export(c.Request().Context(), a.db, ExportFilter{From: from, To: to, Currency: cur}, w.Write); err != nil {
		// The status is sent: the body ends short (a CSV without its last
		// rows, a JSON array without its "]"), which a client sees.
		c.Logger().Error(err)
		return nil
	}
	return w.Close()
}

func (a *API) balances(c echo.Context) error {
	cur, err := a.currency(c)
	if err != nil {
		return fail(c, err)
	}
	all, err := Balances(c.Request().Context(), a.db)
	if err != nil {
		return err
	}
	out := []Balance{}
	for _, b := range all {
		if cur == "" || b.Currency == cur {
			out = append(out, b)
		}
	}
	return writeJSON(c, http.StatusOK, map[string]any{"balances": out})
}

func (a *API) reconciliation(c echo.Context) error {
	rep, err := LastReport(c.Request().Context(), a.db)
	if errors.Is(err, ErrNoReport) {
		return fail(c, apierr.NotFound("no reconciliation has run yet"))
	}
	if err != nil {
		return err
	}
	return writeJSON(c, http.StatusOK, rep)
}

func (a *API) events(c echo.Context) error {
	after, err := notify.ParseCursor(c.QueryParam("after"))
	if _, given := c.QueryParams()["after"]; err != nil || (given && c.QueryParam("after") == "") {
		return fail(c, apierr.BadRequest("after: not a cursor this API returned"))
	}
	limit := DefaultEventLimit
	if v := c.QueryParam("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > MaxEventLimit {
			return fail(c, apierr.BadRequest("limit must be an integer from 1 to %d", MaxEventLimit))
		}
		limit = n
	}
	evs, next, err := notify.Pull(c.Request().Context(), a.db, after, limit)
	if err != nil {
		return err
	}
	return writeJSON(c, http.StatusOK, map[string]any{"events": evs, "next_cursor": next.String()})
}
