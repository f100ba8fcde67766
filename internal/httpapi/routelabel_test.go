package httpapi

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// Routes other packages mount (the fiat bridge, Nemo) are labelled by
// their templates in metrics and logs, never "unmatched".
func TestMountedRoutesAreLabelledByTemplate(t *testing.T) {
	t.Parallel()
	e := testEcho(t)
	for _, r := range []struct{ method, path string }{
		{http.MethodPost, "/v1/bridge/nemo"},
		{http.MethodGet, "/v1/bridge/payments/ref-1"}, // 401: no token
	} {
		rec := httptest.NewRecorder()
		e.ServeHTTP(rec, httptest.NewRequest(r.method, r.path, strings.NewReader(`{}`)))
	}
	rec := httptest.NewRecorder()
	e.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	text := rec.Body.String()
	for _, want := range []string{`route="/v1/bridge/nemo"`, `route="/v1/bridge/payments/:reference"`} {
		if !strings.Contains(text, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	if strings.Contains(text, `route="unmatched"`) {
		t.Errorf("a mounted route was counted as unmatched:\n%s", grepLines(text, "unmatched"))
	}
}

func grepLines(text, sub string) string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
