package httpapi

import (
	"net/http"

	"github.com/labstack/echo/v4"
)

// route is one endpoint. The table is the single source of what is
// served, which query parameters each route accepts (others are refused)
// and which JSON body it takes; the OpenAPI test compares the document
// against it.
type route struct {
	method string
	path   string
	// auth: a bearer token is required.
	auth bool
	// query lists the accepted query parameters.
	query []string
	// body is a zero value of the JSON request body, nil when none.
	body    any
	handler func(*server, echo.Context) error
}

var routeTable = []route{
	{http.MethodPost, "/v1/address/new", true, nil, newAddressRequest{}, (*server).newAddress},
	{http.MethodGet, "/v1/address/all", true, []string{"user_id"}, nil, (*server).allAddresses},
	{http.MethodGet, "/v1/income", true, []string{"user_id"}, nil, (*server).income},
	{http.MethodGet, "/v1/deposit/history", true, []string{"user_id", "currency", "limit", "offset", "sort_order"}, nil, (*server).history},
	{http.MethodGet, "/v1/deposit/income", true, []string{"tx_hash"}, nil, (*server).incomeByTx},
	{http.MethodPost, "/v1/withdrawal/send", true, nil, withdrawalRequest{}, (*server).sendWithdrawal},
	{http.MethodGet, "/v1/withdrawal/status", true, []string{"id"}, nil, (*server).withdrawalStatus},
	{http.MethodPost, "/v1/withdrawal/cancel", true, nil, cancelWithdrawalRequest{}, (*server).cancelWithdrawal},
	{http.MethodPost, "/v1/withdrawal/service/ton", true, nil, serviceTONRequest{}, (*server).serviceTON},
	{http.MethodPost, "/v1/withdrawal/service/jetton", true, nil, serviceJettonRequest{}, (*server).serviceJetton},
	{http.MethodGet, "/v1/withdrawal/service/status", true, []string{"memo"}, nil, (*server).serviceStatus},
	{http.MethodGet, "/v1/balance", true, []string{"currency", "address"}, nil, (*server).balance},
	{http.MethodGet, "/v1/resolve", true, []string{"domain"}, nil, (*server).resolve},
	{http.MethodGet, "/v1/system/sync", false, nil, nil, (*server).sync},
	{http.MethodGet, "/healthz", false, nil, nil, (*server).healthz},
	{http.MethodGet, "/readyz", false, nil, nil, (*server).readyz},
	{http.MethodGet, "/metrics", false, nil, nil, (*server).metricsHandler},
	{http.MethodGet, "/openapi.yaml", false, nil, nil, (*server).openAPI},
}
