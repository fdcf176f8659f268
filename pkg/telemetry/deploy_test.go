package telemetry_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/connectorhub/connectorhub/pkg/telemetry"
	"github.com/connectorhub/connectorhub/pkg/testenv"
)

var metricRef = regexp.MustCompile(`connectorhub_[a-z_]+`)

// registered reports whether ref (as a query names it) is a series the
// metrics export: a registered name, or a histogram's _bucket/_sum/_count.
func registered(ref string) bool {
	names := telemetry.Names()
	if slices.Contains(names, ref) {
		return true
	}
	for _, suffix := range []string{"_bucket", "_sum", "_count"} {
		if base, ok := strings.CutSuffix(ref, suffix); ok && base == telemetry.MetricPollCycleDuration {
			return true
		}
	}
	return false
}

// TestOperatorFilesUseOnlyRegisteredMetrics parses the Grafana dashboard and
// the Prometheus alert rules in deploy/observability and checks that every
// metric their queries name is one the processes register, and that the
// rules the README promises are there.
func TestOperatorFilesUseOnlyRegisteredMetrics(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(testenv.RepoRoot(t), "deploy", "observability")

	raw, err := os.ReadFile(filepath.Join(dir, "grafana-dashboard.json"))
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Title  string `json:"title"`
		Panels []struct {
			Title   string `json:"title"`
			Type    string `json:"type"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(raw, &dash); err != nil {
		t.Fatalf("dashboard: %v", err)
	}
	used := map[string]bool{}
	for _, p := range dash.Panels {
		if p.Type == "row" {
			continue
		}
		if len(p.Targets) == 0 {
			t.Errorf("dashboard panel %q has no query", p.Title)
		}
		for _, tg := range p.Targets {
			refs := metricRef.FindAllString(tg.Expr, -1)
			if len(refs) == 0 {
				t.Errorf("dashboard panel %q: query %q names no connectorhub metric", p.Title, tg.Expr)
			}
			for _, ref := range refs {
				used[ref] = true
				if !registered(ref) {
					t.Errorf("dashboard panel %q uses %s, which no process registers", p.Title, ref)
				}
			}
		}
	}

	raw, err = os.ReadFile(filepath.Join(dir, "alerts.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var rules struct {
		Groups []struct {
			Name  string `yaml:"name"`
			Rules []struct {
				Alert       string            `yaml:"alert"`
				Expr        string            `yaml:"expr"`
				For         string            `yaml:"for"`
				Labels      map[string]string `yaml:"labels"`
				Annotations map[string]string `yaml:"annotations"`
			} `yaml:"rules"`
		} `yaml:"groups"`
	}
	dec := yaml.NewDecoder(strings.NewReader(string(raw)))
	dec.KnownFields(true)
	if err := dec.Decode(&rules); err != nil {
		t.Fatalf("alert rules: %v", err)
	}
	alerts := map[string]string{}
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			alerts[r.Alert] = r.Expr
			refs := metricRef.FindAllString(r.Expr, -1)
			if r.Labels["severity"] == "" || r.Annotations["summary"] == "" {
				t.Errorf("rule %q has no severity or summary", r.Alert)
			}
			if r.Alert == "" || len(refs) == 0 {
				t.Errorf("rule %q: expr %q names no connectorhub metric", r.Alert, r.Expr)
			}
			for _, ref := range refs {
				used[ref] = true
				if !registered(ref) {
					t.Errorf("alert %s uses %s, which no process registers", r.Alert, ref)
				}
			}
		}
	}
	for alert, metric := range map[string]string{
		"ConnectorhubConnectorFailing":       telemetry.MetricConnectorFailuresMax,
		"ConnectorhubConnectorsLate":         telemetry.MetricConnectorsLate,
		"ConnectorhubDeadLetterBacklog":      telemetry.MetricWritebackDeadBacklog,
		"ConnectorhubCredentialExpiringSoon": telemetry.MetricCredentialExpiry,
		"ConnectorhubConsumerFallingBehind":  telemetry.MetricConsumerPending,
	} {
		if !strings.Contains(alerts[alert], metric) {
			t.Errorf("alert %s missing or not on %s (expr %q)", alert, metric, alerts[alert])
		}
	}
	// The dashboard shows every metric.
	for _, name := range telemetry.Names() {
		if !used[name] && !used[name+"_bucket"] {
			t.Errorf("%s is on neither the dashboard nor an alert", name)
		}
	}
}
