package httpapi_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"

	"github.com/ton-custody/processor/internal/bridge"
	"github.com/ton-custody/processor/internal/config"
	"github.com/ton-custody/processor/internal/httpapi"
)

// bareProvider implements no bridge capability: its calls answer 501.
type bareProvider struct{}

func (bareProvider) Name() string { return "bare" }

// A designed 501 (a bridge provider without the capability) is an answer,
// not a server fault: the access log line is INFO; a 500 stays ERROR.
func TestNotImplementedIsLoggedAtInfo(t *testing.T) {
	t.Parallel()
	a := newTestAPI(t, config.Testnet, func(o *httpapi.Options, _ *config.Config) {
		o.Mount = func(e *echo.Echo, auth echo.MiddlewareFunc) error {
			reg, err := bridge.NewRegistry(bareProvider{})
			if err != nil {
				return err
			}
			return bridge.NewAPI(bridge.NewService(nil, reg, bridge.ServiceOptions{})).Register(e, auth)
		}
	})
	if r := a.do(http.MethodPost, "/v1/bridge/callbacks/bare", "", strings.NewReader(`{}`)); r.status != http.StatusNotImplemented {
		t.Fatalf("status %d %s", r.status, r.body)
	}
	if r := a.get("/v1/address/all?user_id=boom"); r.status != http.StatusInternalServerError {
		t.Fatalf("status %d %s", r.status, r.body)
	}
	var got501, got500 string
	for _, l := range strings.Split(a.logs.String(), "\n") {
		if !strings.Contains(l, `msg="http request"`) {
			continue
		}
		switch {
		case strings.Contains(l, "status=501"):
			got501 = l
		case strings.Contains(l, "status=500"):
			got500 = l
		}
	}
	if !strings.Contains(got501, "level=INFO") {
		t.Errorf("501 access log line %q, want level=INFO", got501)
	}
	if !strings.Contains(got500, "level=ERROR") {
		t.Errorf("500 access log line %q, want level=ERROR", got500)
	}
}
