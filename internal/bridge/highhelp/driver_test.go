package highhelp_test

import (
	"context"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ton-custody/processor/internal/bridge"
	"github.com/ton-custody/processor/internal/bridge/highhelp"
	"github.com/ton-custody/processor/internal/bridge/highhelp/sim"
	"github.com/ton-custody/processor/internal/config"
)

const (
	drvMerchant  = "57aff4db-b45d-42bf-bc5f-b7a499a01782"
	drvKeyFile   = "testdata/kassa_test_key.pem"
	drvHMAC      = "hmac-secret-value-1"
	drvToken     = "token-value-2"
	drvCBSecret  = "callback-secret-value-3"
	drvAlgHeader = "HMAC-SHA512-TEST"
)

var drvSecretKeys = []string{"hmac_secret", "token", "callback_secret"}

func drvKassaKey(t *testing.T) *rsa.PrivateKey {
	t.Helper()
	data, err := os.ReadFile(drvKeyFile)
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(data)
	if blk == nil {
		t.Fatal("no PEM block")
	}
	k, err := x509.ParsePKCS1PrivateKey(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func drvWritePEM(t *testing.T, typ string, der []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), strings.ReplaceAll(strings.ToLower(typ), " ", "_")+".pem")
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func drvSim(t *testing.T, cfg sim.Config) *sim.Server {
	t.Helper()
	cfg.MerchantID = drvMerchant
	cfg.Balances = map[string]*big.Int{"RUB": big.NewInt(1_000_000)}
	s, err := sim.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

func drvBalances(t *testing.T, p bridge.Provider) {
	t.Helper()
	bg, ok := p.(bridge.BalanceGetter)
	if !ok {
		t.Fatalf("%T is no BalanceGetter", p)
	}
	bals, err := bg.Balances(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(bals) != 1 || bals[0].Currency != "RUB" || bals[0].Available.Int64() != 1_000_000 {
		t.Fatalf("balances %+v", bals)
	}
}

func TestDriverRSAFromProviderConfig(t *testing.T) {
	kk := drvKassaKey(t)
	_, hk := keys(t)
	spki, err := x509.MarshalPKIXPublicKey(&hk.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	pkcs8, err := x509.MarshalPKCS8PrivateKey(kk)
	if err != nil {
		t.Fatal(err)
	}
	token, err := highhelp.RSAKey(kk).Token()
	if err != nil {
		t.Fatal(err)
	}
	s := drvSim(t, sim.Config{ProjectID: "proj-9", MerchantKey: highhelp.RSAPublicKey(&kk.PublicKey), Token: token,
		CallbackKey: highhelp.RSAKey(hk)})
	d, ok := bridge.LookupDriver(highhelp.Name)
	if !ok {
		t.Fatal("highhelp driver not registered")
	}
	for name, files := range map[string][2]string{
		"pkcs1 key, pkix callback key":  {drvKeyFile, drvWritePEM(t, "PUBLIC KEY", spki)},
		"pkcs8 key, pkcs1 callback key": {drvWritePEM(t, "PRIVATE KEY", pkcs8), drvWritePEM(t, "RSA PUBLIC KEY", x509.MarshalPKCS1PublicKey(&hk.PublicKey))},
	} {
		t.Run(name, func(t *testing.T) {
			pc := bridge.NewProviderConfig(highhelp.Name, s.URL(), map[string]string{
				"merchant_id": drvMerchant, "project_id": "proj-9",
				"private_key_file": files[0], "callback_public_key_file": files[1],
			}, drvSecretKeys...)
			p, err := d.New(pc, http.DefaultClient)
			if err != nil {
				t.Fatal(err)
			}
			if got := bridge.Capabilities(p); len(got) != 6 {
				t.Fatalf("capabilities %v", got)
			}
			drvBalances(t, p)
			body := `{"payment_id":"p-1","request_id":"r","status":"success","sub_status":"","general":{"project_id":"proj-9"},"payment":{"amount":100,"currency":"RUB"}}`
			cb, err := p.(bridge.CallbackParser).ParseCallback(signedRequest(t, highhelp.RSAKey(hk), body, time.Now()), []byte(body))
			if err != nil || cb.Reference != "p-1" || cb.Result.Status != bridge.StatusSucceeded {
				t.Fatalf("callback %+v %v", cb, err)
			}
		})
	}
}

// TestDriverHMACFromEnvironment goes the production way: environment →
// LoadConfig → Build, with every scheme knob away from its default.
func TestDriverHMACFromEnvironment(t *testing.T) {
	s := drvSim(t, sim.Config{
		ProjectID:       "proj-h",
		MerchantKey:     highhelp.HMACKey([]byte(drvHMAC)),
		Token:           drvToken,
		AlgorithmHeader: drvAlgHeader,
		Scheme:          highhelp.Scheme{Bools: highhelp.BoolWords, PadBody: true, Encoding: highhelp.Hex},
		CallbackKey:     highhelp.HMACKey([]byte(drvCBSecret)),
		AutoFinal:       "success",
		StepDelay:       5 * time.Millisecond,
	})
	env := map[string]string{
		"BRIDGE_PROVIDERS":                 "highhelp",
		"BRIDGE_HIGHHELP_BASE_URL":         s.URL(),
		"BRIDGE_HIGHHELP_TIMEOUT":          "3s",
		"BRIDGE_HIGHHELP_MERCHANT_ID":      drvMerchant,
		"BRIDGE_HIGHHELP_PROJECT_ID":       "proj-h",
		"BRIDGE_HIGHHELP_ALGORITHM":        "hmac",
		"BRIDGE_HIGHHELP_HMAC_SECRET":      drvHMAC,
		"BRIDGE_HIGHHELP_TOKEN":            drvToken,
		"BRIDGE_HIGHHELP_ALGORITHM_HEADER": drvAlgHeader,
		"BRIDGE_HIGHHELP_CALLBACK_SECRET":  drvCBSecret,
		"BRIDGE_HIGHHELP_CALLBACK_MAX_AGE": "1m",
		"BRIDGE_HIGHHELP_BOOLS":            "words",
		"BRIDGE_HIGHHELP_PAD_BODY":         "true",
		"BRIDGE_HIGHHELP_SIG_ENCODING":     "hex",
	}
	cfg, err := bridge.LoadConfig(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	shown := cfg.Providers[0].String()
	for _, secret := range []string{drvHMAC, drvToken, drvCBSecret} {
		if strings.Contains(shown, secret) {
			t.Fatalf("secret shown in %s", shown)
		}
	}
	reg, err := bridge.Build(cfg)
	if err != nil {
		t.Fatal(err)
	}
	p, _ := reg.Get(highhelp.Name)
	drvBalances(t, p)

	// A payin settles by itself; its callbacks must verify with
	// callback_secret under the configured scheme.
	var mu sync.Mutex
	var got []bridge.Callback
	var rejected []error
	sink := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		cb, err := p.(bridge.CallbackParser).ParseCallback(r, body)
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			rejected = append(rejected, err)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		got = append(got, cb)
	}))
	t.Cleanup(sink.Close)
	res, err := p.(bridge.PayinCreator).CreatePayin(context.Background(), payment(bridge.Payin, "drv-1", 500, sink.URL))
	if err != nil || res.Status == bridge.StatusRejected {
		t.Fatalf("payin %+v %v", res, err)
	}
	waitFor(t, "final callback", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return slices.ContainsFunc(got, func(cb bridge.Callback) bool { return !cb.Informative })
	})
	mu.Lock()
	defer mu.Unlock()
	if len(rejected) != 0 {
		t.Fatalf("callbacks rejected: %v", rejected)
	}
}

func TestDriverSettingErrorsNameTheSetting(t *testing.T) {
	kk := drvKassaKey(t)
	spki, err := x509.MarshalPKIXPublicKey(&kk.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	pubFile := drvWritePEM(t, "PUBLIC KEY", spki)
	// A "key file" holding a secret: the error must not quote it.
	junkFile := filepath.Join(t.TempDir(), "junk.pem")
	if err := os.WriteFile(junkFile, []byte(drvHMAC+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	rsaBase := map[string]string{"merchant_id": drvMerchant, "private_key_file": drvKeyFile}
	hmacBase := map[string]string{"merchant_id": drvMerchant, "algorithm": "hmac", "hmac_secret": drvHMAC, "token": drvToken}
	with := func(base map[string]string, kv ...string) map[string]string {
		m := map[string]string{}
		for k, v := range base {
			m[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	cases := []struct {
		name   string
		values map[string]string
		want   string
	}{
		{"no merchant id", with(rsaBase, "merchant_id", ""), "BRIDGE_HIGHHELP_MERCHANT_ID"},
		{"rsa without key file", with(rsaBase, "private_key_file", ""), "BRIDGE_HIGHHELP_PRIVATE_KEY_FILE"},
		{"missing key file", with(rsaBase, "private_key_file", filepath.Join(t.TempDir(), "none.pem")), "BRIDGE_HIGHHELP_PRIVATE_KEY_FILE"},
		{"key file without PEM", with(rsaBase, "private_key_file", junkFile), "BRIDGE_HIGHHELP_PRIVATE_KEY_FILE"},
		{"public key as private key", with(rsaBase, "private_key_file", pubFile), "BRIDGE_HIGHHELP_PRIVATE_KEY_FILE"},
		{"hmac secret with rsa", with(rsaBase, "hmac_secret", drvHMAC), "BRIDGE_HIGHHELP_HMAC_SECRET"},
		{"hmac without secret", with(hmacBase, "hmac_secret", ""), "BRIDGE_HIGHHELP_HMAC_SECRET"},
		{"hmac without token", with(hmacBase, "token", ""), "BRIDGE_HIGHHELP_TOKEN"},
		{"key file with hmac", with(hmacBase, "private_key_file", drvKeyFile), "BRIDGE_HIGHHELP_PRIVATE_KEY_FILE"},
		{"unknown algorithm", with(rsaBase, "algorithm", "ecdsa"), "BRIDGE_HIGHHELP_ALGORITHM"},
		{"both callback keys", with(hmacBase, "callback_public_key_file", pubFile, "callback_secret", drvCBSecret), "BRIDGE_HIGHHELP_CALLBACK_SECRET"},
		{"callback key file without public key", with(rsaBase, "callback_public_key_file", junkFile), "BRIDGE_HIGHHELP_CALLBACK_PUBLIC_KEY_FILE"},
		{"callback max age", with(hmacBase, "callback_max_age", "-5m"), "BRIDGE_HIGHHELP_CALLBACK_MAX_AGE"},
		{"bools", with(hmacBase, "bools", "yes"), "BRIDGE_HIGHHELP_BOOLS"},
		{"pad body", with(hmacBase, "pad_body", "maybe"), "BRIDGE_HIGHHELP_PAD_BODY"},
		{"signature encoding", with(hmacBase, "sig_encoding", "base32"), "BRIDGE_HIGHHELP_SIG_ENCODING"},
	}
	d, _ := bridge.LookupDriver(highhelp.Name)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			pc := bridge.NewProviderConfig(highhelp.Name, "http://127.0.0.1:1", tc.values, drvSecretKeys...)
			p, err := d.New(pc, http.DefaultClient)
			if err == nil {
				t.Fatalf("built %T", p)
			}
			var ve *config.ValidationError
			if !errors.As(err, &ve) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("want a validation error naming %s, got %v", tc.want, err)
			}
			for _, secret := range []string{drvHMAC, drvToken, drvCBSecret} {
				if strings.Contains(err.Error(), secret) {
					t.Fatalf("error shows a secret: %v", err)
				}
			}
		})
	}
	// The valid bases do build.
	for _, base := range []map[string]string{rsaBase, hmacBase} {
		if _, err := d.New(bridge.NewProviderConfig(highhelp.Name, "http://127.0.0.1:1", base, drvSecretKeys...), nil); err != nil {
			t.Fatalf("%v: %v", base, err)
		}
	}
}
