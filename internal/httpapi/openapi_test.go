package httpapi

import (
	"fmt"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/ton-custody/processor/internal/bridge"
	"github.com/ton-custody/processor/internal/bridge/nemo"
	"github.com/ton-custody/processor/internal/ledger"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/xssnick/tonutils-go/address"
	"go.yaml.in/yaml/v3"

	"github.com/ton-custody/processor/api"
	"github.com/ton-custody/processor/internal/config"
)

// specQuery is the contract's query parameters per operation (the API
// contract: bicycle's API plus our extensions); "?" marks optional ones.
// Every route must be listed.
var specQuery = map[string][]string{
	"POST /v1/address/new":               {},
	"GET /v1/address/all":                {"user_id"},
	"GET /v1/income":                     {"user_id"},
	"GET /v1/deposit/history":            {"user_id", "currency", "limit", "offset", "sort_order?"},
	"GET /v1/deposit/income":             {"tx_hash"},
	"POST /v1/withdrawal/send":           {},
	"GET /v1/withdrawal/status":          {"id"},
	"POST /v1/withdrawal/cancel":         {},
	"POST /v1/withdrawal/service/ton":    {},
	"POST /v1/withdrawal/service/jetton": {},
	"GET /v1/withdrawal/service/status":  {"memo"},
	"GET /v1/balance":                    {"currency", "address?"},
	"GET /v1/resolve":                    {"domain"},
	"GET /v1/system/sync":                {},
	"GET /healthz":                       {},
	"GET /readyz":                        {},
	"GET /metrics":                       {},
	"GET /openapi.yaml":                  {},
}

// specBody is the contract's request body fields; "?" marks optional ones.
var specBody = map[string][]string{
	"POST /v1/address/new":               {"user_id", "currency"},
	"POST /v1/withdrawal/send":           {"user_id", "query_id", "currency", "amount", "destination", "comment?", "binary_comment?"},
	"POST /v1/withdrawal/cancel":         {"id", "reason"},
	"POST /v1/withdrawal/service/ton":    {"from"},
	"POST /v1/withdrawal/service/jetton": {"owner", "jetton_master"},
}

// responseTypes are the Go types of the 200 JSON answers.
var responseTypes = map[string]any{
	"POST /v1/address/new":               addressResponse{},
	"GET /v1/address/all":                addressesResponse{},
	"GET /v1/income":                     incomeResponse{},
	"GET /v1/deposit/history":            historyResponse{},
	"GET /v1/deposit/income":             incomeByTxResponse{},
	"POST /v1/withdrawal/send":           withdrawalResponse{},
	"GET /v1/withdrawal/status":          withdrawalStatusResponse{},
	"POST /v1/withdrawal/cancel":         withdrawalStatusResponse{},
	"POST /v1/withdrawal/service/ton":    memoResponse{},
	"POST /v1/withdrawal/service/jetton": memoResponse{},
	"GET /v1/withdrawal/service/status":  serviceStatusResponse{},
	"GET /v1/balance":                    balanceResponse{},
	"GET /v1/resolve":                    addressResponse{},
	"GET /v1/system/sync":                syncResponse{},
	"GET /healthz":                       statusResponse{},
	"GET /readyz":                        statusResponse{},
}

// nonJSON are the 200 content types of the routes that do not answer JSON.
var nonJSON = map[string]string{
	"GET /metrics":      "text/plain",
	"GET /openapi.yaml": "application/yaml",
}

type doc map[string]any

func loadDoc(t *testing.T) doc {
	t.Helper()
	// A plain map: yaml would give nested maps the named type too.
	var d map[string]any
	if err := yaml.Unmarshal(api.OpenAPI, &d); err != nil {
		t.Fatalf("api/openapi.yaml does not parse: %v", err)
	}
	return doc(d)
}

func m(v any) map[string]any {
	out, _ := v.(map[string]any)
	return out
}

// resolve follows $ref (local refs only) until a non-reference node.
func (d doc) resolve(t *testing.T, node map[string]any) map[string]any {
	t.Helper()
	for i := 0; node != nil && node["$ref"] != nil; i++ {
		ref, _ := node["$ref"].(string)
		if !strings.HasPrefix(ref, "#/") || i > 10 {
			t.Fatalf("unsupported or cyclic $ref %q", ref)
		}
		var cur any = map[string]any(d)
		for _, part := range strings.Split(ref[2:], "/") {
			cur = m(cur)[part]
		}
		if cur == nil {
			t.Fatalf("$ref %q does not resolve", ref)
		}
		node = m(cur)
	}
	return node
}

// operations returns "METHOD path" -> operation.
func (d doc) operations() map[string]map[string]any {
	out := map[string]map[string]any{}
	for path, item := range m(d["paths"]) {
		for method, op := range m(item) {
			switch method {
			case "get", "post", "put", "patch", "delete", "head", "options":
				out[strings.ToUpper(method)+" "+path] = m(op)
			}
		}
	}
	return out
}

type stubWallets struct{ Wallets }

func (stubWallets) HotWalletAddress() *address.Address {
	return address.NewAddress(0, 0, make([]byte, 32))
}

func testEcho(t *testing.T) *echo.Echo {
	t.Helper()
	reg := prometheus.NewRegistry()
	e, err := New(Options{
		Config:  &config.Config{Network: config.Testnet, APITokens: []config.APIToken{{Name: "t", Token: config.NewSecret("x")}}},
		Wallets: stubWallets{}, Resolver: struct{ Resolver }{}, Incomes: struct{ Incomes }{},
		Withdrawals: struct{ Withdrawals }{}, Sync: struct{ Sync }{}, Registerer: reg, Gatherer: reg,
		// The routes internal/app mounts: the fiat bridge and Nemo.
		Mount: func(e *echo.Echo, auth echo.MiddlewareFunc) error {
			if err := bridge.NewAPI(nil).Register(e, auth); err != nil {
				return err
			}
			if err := ledger.NewAPI(nil, nil).Register(e, auth); err != nil {
				return err
			}
			nemo.New(bridge.NemoConfig{}, nil, nemo.Options{}).Register(e)
			return nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// openAPIPath turns echo's /a/:b into OpenAPI's /a/{b}.
func openAPIPath(p string) string {
	parts := strings.Split(p, "/")
	for i, s := range parts {
		if strings.HasPrefix(s, ":") {
			parts[i] = "{" + s[1:] + "}"
		}
	}
	return strings.Join(parts, "/")
}

func sortedKeys[V any](mp map[string]V) []string {
	out := make([]string, 0, len(mp))
	for k := range mp {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func TestOpenAPIDocumentsExactlyTheServedRoutes(t *testing.T) {
	t.Parallel()
	d := loadDoc(t)
	if d["openapi"] != "3.1.0" {
		t.Errorf("openapi version %v, want 3.1.0", d["openapi"])
	}
	documented := d.operations()

	served := map[string]bool{}
	for _, r := range testEcho(t).Routes() {
		if r.Method == echo.RouteNotFound {
			continue
		}
		served[r.Method+" "+openAPIPath(r.Path)] = true
	}
	if len(served) < len(routeTable) {
		t.Fatalf("echo serves %d routes, the table has %d", len(served), len(routeTable))
	}
	for k := range served {
		if documented[k] == nil {
			t.Errorf("%s is served but not documented", k)
		}
	}
	for _, k := range sortedKeys(documented) {
		if !served[k] {
			t.Errorf("%s is documented but not served", k)
		}
	}
	for _, r := range routeTable {
		if _, ok := specQuery[r.method+" "+r.path]; !ok {
			t.Errorf("%s %s is missing from the contract table specQuery", r.method, r.path)
		}
	}
	if len(specQuery) != len(routeTable) {
		t.Errorf("specQuery has %d routes, the route table %d", len(specQuery), len(routeTable))
	}
}

func TestOpenAPIParametersMatchHandlers(t *testing.T) {
	t.Parallel()
	d := loadDoc(t)
	ops := d.operations()
	for _, r := range routeTable {
		key := r.method + " " + r.path
		op := ops[key]
		if op == nil {
			t.Errorf("%s undocumented", key)
			continue
		}
		docParams := map[string]bool{} // name -> required
		for _, p := range anySlice(op["parameters"]) {
			p := d.resolve(t, m(p))
			if p["in"] != "query" {
				t.Errorf("%s: parameter %v is in %v; the API uses query parameters only", key, p["name"], p["in"])
			}
			req, _ := p["required"].(bool)
			docParams[p["name"].(string)] = req
		}
		spec := map[string]bool{}
		for _, name := range specQuery[key] {
			spec[strings.TrimSuffix(name, "?")] = !strings.HasSuffix(name, "?")
		}
		handler := map[string]bool{}
		for _, name := range r.query {
			handler[name] = true
		}
		if got, want := strings.Join(sortedKeys(docParams), ","), strings.Join(sortedKeys(spec), ","); got != want {
			t.Errorf("%s: documented parameters %s, contract %s", key, got, want)
		}
		if got, want := strings.Join(sortedKeys(handler), ","), strings.Join(sortedKeys(spec), ","); got != want {
			t.Errorf("%s: handler accepts %s, contract %s", key, got, want)
		}
		for name, req := range spec {
			if doc, ok := docParams[name]; ok && doc != req {
				t.Errorf("%s: parameter %s documented required=%v, contract says %v", key, name, doc, req)
			}
		}
	}
}

func TestOpenAPIRequestBodiesMatchHandlers(t *testing.T) {
	t.Parallel()
	d := loadDoc(t)
	ops := d.operations()
	for _, r := range routeTable {
		key := r.method + " " + r.path
		op := ops[key]
		rb := m(op["requestBody"])
		if r.body == nil {
			if rb != nil {
				t.Errorf("%s documents a request body but takes none", key)
			}
			if specBody[key] != nil {
				t.Errorf("%s: contract has a body, the handler none", key)
			}
			continue
		}
		if rb == nil || rb["required"] != true {
			t.Errorf("%s: request body undocumented or not required", key)
			continue
		}
		schema := d.resolve(t, m(m(m(rb["content"])["application/json"])["schema"]))
		props := sortedKeys(m(schema["properties"]))
		goFields := append([]string(nil), jsonFields(r.body)...)
		sort.Strings(goFields)
		var specFields, specRequired []string
		for _, f := range specBody[key] {
			specFields = append(specFields, strings.TrimSuffix(f, "?"))
			if !strings.HasSuffix(f, "?") {
				specRequired = append(specRequired, f)
			}
		}
		sort.Strings(specFields)
		sort.Strings(specRequired)
		if strings.Join(props, ",") != strings.Join(goFields, ",") || strings.Join(props, ",") != strings.Join(specFields, ",") {
			t.Errorf("%s body fields: documented %v, handler %v, contract %v", key, props, goFields, specFields)
		}
		var required []string
		for _, f := range anySlice(schema["required"]) {
			required = append(required, f.(string))
		}
		sort.Strings(required)
		if strings.Join(required, ",") != strings.Join(specRequired, ",") {
			t.Errorf("%s required body fields: documented %v, contract %v", key, required, specRequired)
		}
		if schema["additionalProperties"] != false {
			t.Errorf("%s: body schema must say additionalProperties: false (unknown fields are refused)", key)
		}
	}
}

func TestOpenAPIResponsesMatchHandlers(t *testing.T) {
	t.Parallel()
	d := loadDoc(t)
	ops := d.operations()
	for _, r := range routeTable {
		key := r.method + " " + r.path
		op := ops[key]
		responses := m(op["responses"])
		ok := m(responses["200"])
		if ok == nil {
			t.Errorf("%s: no 200 response", key)
			continue
		}
		content := m(ok["content"])
		if ct, isRaw := nonJSON[key]; isRaw {
			if content[ct] == nil {
				t.Errorf("%s: 200 is not documented as %s", key, ct)
			}
			continue
		}
		goType, known := responseTypes[key]
		if !known {
			t.Errorf("%s: add its response type to responseTypes", key)
			continue
		}
		schema := m(m(content["application/json"])["schema"])
		if schema == nil {
			t.Errorf("%s: 200 has no application/json schema", key)
			continue
		}
		compareSchema(t, d, key+" 200", schema, reflect.TypeOf(goType))

		// Error answers.
		var want []string
		if strings.HasPrefix(r.path, "/v1/") {
			want = append(want, "500")
		}
		if r.auth {
			want = append(want, "401", "429")
		}
		// Every route refuses unknown query parameters.
		want = append(want, "400")
		if r.body != nil {
			want = append(want, "413")
		}
		for _, code := range want {
			resp := d.resolve(t, m(responses[code]))
			if resp == nil {
				t.Errorf("%s: %s response undocumented", key, code)
				continue
			}
			errSchema := d.resolve(t, m(m(m(resp["content"])["application/json"])["schema"]))
			if got := sortedKeys(m(errSchema["properties"])); strings.Join(got, ",") != "error" {
				t.Errorf("%s: %s body has properties %v, want {error}", key, code, got)
			}
		}
	}
}

// compareSchema checks that schema describes the JSON encoding of typ:
// same properties, required = fields without omitempty, matching types.
func compareSchema(t *testing.T, d doc, where string, schema map[string]any, typ reflect.Type) {
	t.Helper()
	schema = d.resolve(t, schema)
	want := map[reflect.Kind]string{reflect.String: "string", reflect.Int64: "integer", reflect.Bool: "boolean",
		reflect.Slice: "array", reflect.Struct: "object"}[typ.Kind()]
	if schema["type"] != want {
		t.Errorf("%s: schema type %v, Go %s (want %s)", where, schema["type"], typ, want)
		return
	}
	switch typ.Kind() {
	case reflect.Slice:
		compareSchema(t, d, where+"[]", m(schema["items"]), typ.Elem())
	case reflect.Struct:
		props := m(schema["properties"])
		var required []string
		for _, r := range anySlice(schema["required"]) {
			required = append(required, r.(string))
		}
		if schema["additionalProperties"] != false {
			t.Errorf("%s: object schema must say additionalProperties: false", where)
		}
		seen := map[string]bool{}
		for i := 0; i < typ.NumField(); i++ {
			f := typ.Field(i)
			name, opts, _ := strings.Cut(f.Tag.Get("json"), ",")
			seen[name] = true
			p := m(props[name])
			if p == nil {
				t.Errorf("%s: field %s is not documented", where, name)
				continue
			}
			omit := strings.Contains(opts, "omitempty")
			if documented := slices.Contains(required, name); documented == omit {
				t.Errorf("%s: field %s is documented required=%v but has omitempty=%v (required means always present)", where, name, documented, omit)
			}
			compareSchema(t, d, where+"."+name, p, f.Type)
		}
		for name := range props {
			if !seen[name] {
				t.Errorf("%s: documented field %s is not in %s", where, name, typ)
			}
		}
	}
}

func TestOpenAPISecurity(t *testing.T) {
	t.Parallel()
	d := loadDoc(t)
	scheme := m(m(m(d["components"])["securitySchemes"])["bearerAuth"])
	if scheme["type"] != "http" || scheme["scheme"] != "bearer" {
		t.Errorf("bearerAuth scheme %v", scheme)
	}
	global := anySlice(d["security"])
	if len(global) != 1 || m(global[0])["bearerAuth"] == nil {
		t.Errorf("global security %v, want bearerAuth", global)
	}
	ops := d.operations()
	for _, r := range routeTable {
		key := r.method + " " + r.path
		sec, overridden := ops[key]["security"]
		switch {
		case r.auth && overridden:
			t.Errorf("%s needs a token but overrides the global security with %v", key, sec)
		case !r.auth && (!overridden || len(anySlice(sec)) != 0):
			t.Errorf("%s needs no token but does not declare security: []", key)
		}
	}
}

func TestOpenAPIReferencesResolve(t *testing.T) {
	t.Parallel()
	d := loadDoc(t)
	var walk func(path string, v any)
	count := 0
	walk = func(path string, v any) {
		switch x := v.(type) {
		case map[string]any:
			if _, ok := x["$ref"]; ok {
				count++
				d.resolve(t, x)
			}
			for k, c := range x {
				walk(path+"/"+k, c)
			}
		case []any:
			for i, c := range x {
				walk(fmt.Sprintf("%s/%d", path, i), c)
			}
		}
	}
	walk("", map[string]any(d))
	if count < 20 {
		t.Errorf("only %d references found; is the document loaded?", count)
	}
}

func anySlice(v any) []any {
	s, _ := v.([]any)
	return s
}
