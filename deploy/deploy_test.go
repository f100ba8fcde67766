// Package deploy holds the Prometheus and Grafana provisioning shipped with
// docker-compose.yml; this test keeps them parseable and in step with the
// metrics the code defines.
package deploy

import (
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

var metricRE = regexp.MustCompile(`processor_[a-z0-9_]+`)

// definedMetrics collects the metric names the Go code defines (string
// literals starting with processor_ in non-test files).
func definedMetrics(t *testing.T) map[string]bool {
	t.Helper()
	defined := map[string]bool{}
	literal := regexp.MustCompile(`"(processor_[a-z0-9_]+)"`)
	prefixed := regexp.MustCompile(`"processor_"\s*\+\s*"([a-z0-9_]+)"|"processor_db_pool_"\s*\+\s*name`)
	err := filepath.WalkDir("../internal", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return err
		}
		src, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, m := range literal.FindAllStringSubmatch(string(src), -1) {
			defined[m[1]] = true
		}
		for _, m := range prefixed.FindAllStringSubmatch(string(src), -1) {
			if m[1] != "" {
				defined["processor_"+m[1]] = true
			}
		}
		// The pool collector builds names from a prefix.
		if strings.Contains(string(src), `"processor_db_pool_"+name`) {
			for _, m := range regexp.MustCompile(`d\("([a-z_]+)"`).FindAllStringSubmatch(string(src), -1) {
				defined["processor_db_pool_"+m[1]] = true
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(defined) < 20 {
		t.Fatalf("found only %d metric definitions: the scan is broken", len(defined))
	}
	return defined
}

func checkReferences(t *testing.T, where, text string, defined map[string]bool) int {
	t.Helper()
	n := 0
	for _, name := range metricRE.FindAllString(text, -1) {
		base := name
		for _, suffix := range []string{"_bucket", "_sum", "_count"} {
			if trimmed := strings.TrimSuffix(name, suffix); trimmed != name && defined[trimmed] {
				base = trimmed
			}
		}
		if !defined[base] {
			t.Errorf("%s references %s, which no code defines", where, name)
		}
		n++
	}
	return n
}

func TestAlertRulesParseAndReferenceRealMetrics(t *testing.T) {
	defined := definedMetrics(t)
	raw, err := os.ReadFile("prometheus/alerts.yml")
	if err != nil {
		t.Fatal(err)
	}
	var rules struct {
		Groups []struct {
			Name  string `yaml:"name"`
			Rules []struct {
				Alert string `yaml:"alert"`
				Expr  string `yaml:"expr"`
			} `yaml:"rules"`
		} `yaml:"groups"`
	}
	if err := yaml.Unmarshal(raw, &rules); err != nil {
		t.Fatal(err)
	}
	alerts := map[string]bool{}
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			if r.Alert == "" || r.Expr == "" {
				t.Errorf("rule without name or expression in group %s", g.Name)
			}
			alerts[r.Alert] = true
			checkReferences(t, "alert "+r.Alert, r.Expr, defined)
		}
	}
	for _, want := range []string{"ProcessorNotSynced", "WithdrawalQueueStuck", "HotWalletBelowMinimum", "OutboxBacklog", "BridgeProviderFailing"} {
		if !alerts[want] {
			t.Errorf("alert %s is missing", want)
		}
	}
	var prom map[string]any
	raw, err = os.ReadFile("prometheus/prometheus.yml")
	if err != nil || yaml.Unmarshal(raw, &prom) != nil {
		t.Fatalf("prometheus.yml does not parse: %v", err)
	}
}

func TestDashboardParsesAndReferencesRealMetrics(t *testing.T) {
	defined := definedMetrics(t)
	raw, err := os.ReadFile("grafana/dashboards/processor.json")
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(raw, &d); err != nil {
		t.Fatal(err)
	}
	if len(d.Panels) < 10 {
		t.Fatalf("dashboard has %d panels", len(d.Panels))
	}
	for _, p := range d.Panels {
		refs := 0
		for _, tg := range p.Targets {
			refs += checkReferences(t, "panel "+p.Title, tg.Expr, defined)
		}
		if refs == 0 {
			t.Errorf("panel %s queries no processor metric", p.Title)
		}
	}
	for _, f := range []string{"grafana/provisioning/datasources/prometheus.yml", "grafana/provisioning/dashboards/processor.yml"} {
		raw, err := os.ReadFile(f)
		var v map[string]any
		if err != nil || yaml.Unmarshal(raw, &v) != nil {
			t.Errorf("%s does not parse: %v", f, err)
		}
	}
}
