// Package alerts proves the chart's PrometheusRule with promtool: the rules load
// (`promtool check rules`), fire on the series the webhook exports and stay quiet otherwise
// (`promtool test rules testdata/alerts.test.yaml`), and name only metrics the server registers.
package alerts

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
	"sigs.k8s.io/yaml"

	"github.com/aigw-mtls/aigw-mtls-webhook/test/harness"
	"github.com/aigw-mtls/aigw-mtls-webhook/test/tools"
	_ "github.com/aigw-mtls/aigw-mtls-webhook/webhook" // registers the server's metrics
)

// promtool is $PROMTOOL, else bin/promtool (`make promtool` builds it), else promtool on the PATH.
func promtool(t *testing.T) string {
	t.Helper()
	return tools.Promtool.Need(t)
}

// rulesFile renders the chart with the PrometheusRule and writes its groups where promtool reads
// them, returning the rules' expressions.
func rulesFile(t *testing.T, dir string) []string {
	t.Helper()
	objs, err := harness.RenderChart("aigw-mtls-webhook", "aigw-mtls-system", "--set", "prometheusRule.enabled=true")
	if err != nil {
		t.Fatal(err)
	}
	var groups []any
	for _, o := range objs {
		if o.GetKind() == "PrometheusRule" {
			groups = o.Object["spec"].(map[string]any)["groups"].([]any)
		}
	}
	if len(groups) == 0 {
		t.Fatal("no PrometheusRule groups rendered")
	}
	out, err := yaml.Marshal(map[string]any{"groups": groups})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "rules.yaml"), out, 0o600); err != nil {
		t.Fatal(err)
	}
	var exprs []string
	for _, g := range groups {
		for _, r := range g.(map[string]any)["rules"].([]any) {
			exprs = append(exprs, r.(map[string]any)["expr"].(string))
		}
	}
	return exprs
}

func run(t *testing.T, dir, bin string, args ...string) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("promtool %v: %v\n%s", args, err, out)
	}
	t.Logf("promtool %v:\n%s", args, out)
}

func TestPrometheusRules(t *testing.T) {
	bin := promtool(t)
	dir := t.TempDir()
	exprs := rulesFile(t, dir)
	test, err := os.ReadFile(filepath.Join("testdata", "alerts.test.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "alerts.test.yaml"), test, 0o600); err != nil {
		t.Fatal(err)
	}
	run(t, dir, bin, "check", "rules", "rules.yaml")
	run(t, dir, bin, "test", "rules", "alerts.test.yaml")

	// Every metric the rules and their tests name is one the server registers.
	names := regexp.MustCompile(`aigw_mtls_[a-z_]+`)
	var used []string
	for _, text := range append(exprs, string(test)) {
		for _, n := range names.FindAllString(text, -1) {
			if !slices.Contains(used, n) {
				used = append(used, n)
			}
		}
	}
	if len(used) < 6 {
		t.Fatalf("the rules name only %v", used)
	}
	for _, n := range used {
		if !registered(n) {
			t.Errorf("the rules use %s, which the server does not export", n)
		}
	}
}

// registered reports whether the server's registry already holds a metric named name: a second
// collector of that name is refused.
func registered(name string) bool {
	probe := prometheus.NewGauge(prometheus.GaugeOpts{Name: name, Help: "probe"})
	if err := metrics.Registry.Register(probe); err != nil {
		return true
	}
	metrics.Registry.Unregister(probe)
	return false
}
