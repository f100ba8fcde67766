package bridge_test

import (
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ton-custody/processor/internal/bridge"
	_ "github.com/ton-custody/processor/internal/bridge/payfield"
	"github.com/ton-custody/processor/internal/config"
)

func getenv(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestLoadConfigFromEnvAndFile(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "bridge.json")
	if err := os.WriteFile(file, []byte(`{"providers":{"payfield":{"base_url":"https://file.example","timeout":"3s",
		"settings":{"api_key":"file-key","secret":"file-secret","webhook_secret":"file-wh","signature_encoding":"base64"}}}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := bridge.LoadConfig(getenv(map[string]string{
		"BRIDGE_CONFIG_FILE":        file,
		"BRIDGE_PAYFIELD_BASE_URL":  "https://env.example/",
		"BRIDGE_PAYFIELD_SECRET":    "env-secret-value",
		"BRIDGE_PUBLIC_URL":         "https://proc.example",
		"BRIDGE_NEMO_SECRET":        "nemo-secret-0123456789",
		"BRIDGE_NEMO_COMPANIES":     "1001=payfield:RUB",
		"BRIDGE_RECONCILE_INTERVAL": "10s",
	}))
	if err != nil {
		t.Fatal(err)
	}
	pc := cfg.Providers[0]
	if pc.Name != "payfield" || pc.BaseURL != "https://env.example" || pc.Timeout != 3*time.Second ||
		pc.Get("api_key") != "file-key" || pc.Get("secret") != "env-secret-value" || pc.Get("signature_encoding") != "base64" ||
		pc.Get("currencies") != "RUB" || pc.CallbackURL != "https://proc.example/v1/bridge/callbacks/payfield" {
		t.Fatalf("provider config %s %+v", pc, pc)
	}
	if s := pc.String(); strings.Contains(s, "env-secret-value") || strings.Contains(s, "file-key") {
		t.Fatalf("secret printed: %s", s)
	}
	if cfg.ReconcileInterval != 10*time.Second || cfg.Nemo.Companies["1001"].Sources[0].Provider != "payfield" {
		t.Fatalf("config %+v", cfg)
	}
	reg, err := bridge.Build(cfg)
	if err != nil || len(reg.Names()) != 1 {
		t.Fatalf("build: %v %v", reg, err)
	}
}

func TestLoadConfigNamesEveryProblem(t *testing.T) {
	_, err := bridge.LoadConfig(getenv(map[string]string{
		"BRIDGE_PROVIDERS":          "payfield,nosuch",
		"BRIDGE_PAYFIELD_API_KEY":   "very-secret-key-value",
		"BRIDGE_RECONCILE_INTERVAL": "soon",
		"BRIDGE_NEMO_COMPANIES":     "1001=other:RUB",
	}))
	var ve *config.ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("err %v", err)
	}
	msg := err.Error()
	for _, v := range []string{"BRIDGE_PAYFIELD_BASE_URL", "BRIDGE_PAYFIELD_SECRET", "BRIDGE_PAYFIELD_WEBHOOK_SECRET",
		"BRIDGE_RECONCILE_INTERVAL", "nosuch", "BRIDGE_NEMO_COMPANIES", "BRIDGE_NEMO_SECRET"} {
		if !strings.Contains(msg, v) {
			t.Errorf("problem %s not reported in:\n%s", v, msg)
		}
	}
	if strings.Contains(msg, "very-secret-key-value") {
		t.Fatal("secret in error")
	}
	cfg, err := bridge.LoadConfig(getenv(nil))
	if err != nil || len(cfg.Providers) != 0 {
		t.Fatalf("empty environment: %v %v", cfg, err)
	}
}

func TestMajorUnits(t *testing.T) {
	tests := []struct {
		minor int64
		cur   string
		major string
	}{
		{150050, "RUB", "1500.50"}, {5, "RUB", "0.05"}, {0, "USD", "0.00"}, {1500, "JPY", "1500"},
		{1500, "KWD", "1.500"}, {-250, "RUB", "-2.50"},
	}
	for _, tt := range tests {
		if got := bridge.FormatMajor(big.NewInt(tt.minor), tt.cur); got != tt.major {
			t.Errorf("FormatMajor(%d %s) = %s, want %s", tt.minor, tt.cur, got, tt.major)
		}
		v, err := bridge.ParseMajor(tt.major, tt.cur)
		if err != nil || v.Int64() != tt.minor {
			t.Errorf("ParseMajor(%s %s) = %v %v", tt.major, tt.cur, v, err)
		}
	}
	if v, err := bridge.ParseMajor("1500.5", "RUB"); err != nil || v.Int64() != 150050 {
		t.Errorf("short fraction: %v %v", v, err)
	}
	for _, bad := range []string{"", "1.", ".5", "1.234", "1e3", "12a", "1,5"} {
		if _, err := bridge.ParseMajor(bad, "RUB"); err == nil {
			t.Errorf("ParseMajor(%q) accepted", bad)
		}
	}
}
