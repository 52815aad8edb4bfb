package e2e

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	cmapi "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/aigw-mtls/aigw-mtls-webhook/test/harness"
	"github.com/aigw-mtls/aigw-mtls-webhook/test/tools"
	"github.com/aigw-mtls/aigw-mtls-webhook/webhook"
)

// dashboardFile is the Grafana dashboard the chart ships (`make dashboard` writes it).
var dashboardFile = filepath.Join(tools.RepoRoot(), "charts", "aigw-mtls-webhook", "dashboards", "aigw-mtls.json")

// The chart's Grafana dashboard queries what the server exports: after a warning, a CA sync, a
// denial, a Policy audit and a malformed request, /metrics is scraped; every query of the
// dashboard parses with Prometheus' own parser (`promtool check rules`, each query a recording
// rule) and names only metrics the scrape holds, and only labels those metrics carry.
func TestDashboardQueriesNameExportedSeries(t *testing.T) {
	promtool := tools.Promtool.Need(t)
	exprs := dashboardExprs(t)
	ctx := context.Background()
	nsObj := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "dashboard-"}}
	must(t, env.Client.Create(ctx, nsObj))
	space := nsObj.Name

	o := webhook.DefaultOptions()
	o.Serving.ShutdownDelay = 0
	o.MetricsSecure = false
	w, err := harness.StartWebhookWithMetrics(env.Config, o)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = w.Stop() }()

	// A warning: the Policy comes before the certificates it names.
	sslName := "aigw." + space + ".svc.cluster.local"
	mark := warnings.mark()
	if _, err := dyn.Resource(policyGVR).Namespace(space).Create(ctx, policyWith("aigw-mtls", space, sslName), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if got := warnings.since(mark); !strings.Contains(got, "cannot be checked yet") {
		t.Fatalf("Policy before its certificates: want a warning, got %q", got)
	}
	// A CA sync: cert-manager's CA Secret is copied into the nginx.org/ca Secret.
	caCrt, serverCrt, clientCrt := harness.SeedCertificates(space)
	for _, crt := range []*cmapi.Certificate{caCrt, clientCrt, serverCrt} {
		crt.Namespace = space
	}
	serverCrt.Spec.DNSNames = []string{sslName}
	ca, err := harness.Issue(caCrt, nil)
	if err != nil {
		t.Fatal(err)
	}
	secrets := []*corev1.Secret{ca.Secret(caCrt)}
	for _, crt := range []*cmapi.Certificate{clientCrt, serverCrt} {
		i, err := harness.Issue(crt, ca)
		if err != nil {
			t.Fatal(err)
		}
		secrets = append(secrets, i.Secret(crt))
	}
	for _, s := range secrets {
		must(t, env.Client.Create(ctx, s))
	}
	eventually(t, "the CA sync wrote internal-ca", func() error {
		_, err := caBundleIn(t, space)
		return err
	})
	// A denial: a Policy whose sslName the server certificate does not cover.
	if _, err := dyn.Resource(policyGVR).Namespace(space).Create(ctx, policyWith("wrong-name", space, "aigw.example.com"), metav1.CreateOptions{}); err == nil || !strings.Contains(err.Error(), "spec.egressMTLS.sslName") {
		t.Fatalf("wrong sslName: want denied, got %v", err)
	}
	// A malformed request, refused before admission.
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(w.CABundle)
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr, Timeout: 10 * time.Second}).Post(w.URL+webhook.PathValidatePolicy, "application/json", strings.NewReader(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()

	// The audit's series for the Policy, re-checked when a labelled Secret changes: a renewal of
	// the server certificate that drops the Policy's sslName gives it a problem.
	renewed := serverCrt.DeepCopy()
	renewed.Spec.DNSNames = []string{"aigw.elsewhere.svc.cluster.local"}
	issued, err := harness.Issue(renewed, ca)
	if err != nil {
		t.Fatal(err)
	}
	var families map[string]*dto.MetricFamily
	eventually(t, "the series of this test's objects", func() error {
		var s corev1.Secret
		if err := env.Client.Get(ctx, client.ObjectKeyFromObject(secrets[2]), &s); err != nil {
			return err
		}
		if s.Annotations == nil {
			s.Annotations = map[string]string{}
		}
		s.Annotations["example.com/touched"] = time.Now().Format(time.RFC3339Nano)
		s.Data = issued.Secret(renewed).Data
		if err := env.Client.Update(ctx, &s); err != nil {
			return err
		}
		time.Sleep(200 * time.Millisecond)
		families, err = scrapeFamilies(w.MetricsURL)
		if err != nil {
			return err
		}
		for name, want := range map[string]map[string]string{
			"aigw_mtls_policy_problems":                      {"namespace": space, "policy": "aigw-mtls", "rule": "POLICY_SSLNAME_NOT_IN_SAN"},
			"aigw_mtls_certificate_expiry_timestamp_seconds": {"namespace": space, "secret": "internal-ca"},
			"aigw_mtls_admissions_total":                     {"outcome": "denied"},
			"aigw_mtls_requests_rejected_total":              {"reason": "malformed"},
			"aigw_mtls_ca_sync_total":                        {"outcome": "synced"},
		} {
			if !hasSeries(families[name], want) {
				return fmt.Errorf("no %s%v among the metrics", name, want)
			}
		}
		if !hasSeries(families["aigw_mtls_admissions_total"], map[string]string{"outcome": "warned"}) {
			return fmt.Errorf("no warned admission among the metrics")
		}
		return nil
	})
	labelsOf := exported(families)

	// Each query parses with Prometheus' parser...
	dir := t.TempDir()
	var rules []map[string]string
	for i, e := range exprs {
		rules = append(rules, map[string]string{"record": fmt.Sprintf("dashboard:query_%d", i+1), "expr": grafanaFree(e)})
	}
	b, err := yaml.Marshal(map[string]any{"groups": []any{map[string]any{"name": "dashboard", "rules": rules}}})
	if err != nil {
		t.Fatal(err)
	}
	must(t, os.WriteFile(filepath.Join(dir, "dashboard.rules.yaml"), b, 0o600))
	if out, err := exec.Command(promtool, "check", "rules", filepath.Join(dir, "dashboard.rules.yaml")).CombinedOutput(); err != nil {
		t.Fatalf("promtool check rules on the dashboard's queries: %v\n%s", err, out)
	}
	// ...and names only exported metrics and their labels.
	for _, e := range exprs {
		metrics, labels, err := harness.PromQLNames(grafanaFree(e))
		if err != nil {
			t.Error(err)
			continue
		}
		var carried []string
		for _, m := range metrics {
			l, ok := labelsOf[m]
			if !ok {
				t.Errorf("dashboard query %q: the server exports no metric %s", e, m)
			}
			carried = append(carried, l...)
		}
		for _, l := range labels {
			if !slices.Contains(carried, l) {
				t.Errorf("dashboard query %q: label %s is not on %v as exported", e, l, metrics)
			}
		}
	}
}

// dashboardExprs is every query of the chart's dashboard, rows' panels included.
func dashboardExprs(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatalf("%v (make dashboard writes it)", err)
	}
	type panel struct {
		Panels  []panel `json:"panels"`
		Targets []struct {
			Expr string `json:"expr"`
		} `json:"targets"`
	}
	var d panel
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatal(err)
	}
	var exprs []string
	var walk func([]panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			for _, q := range p.Targets {
				exprs = append(exprs, q.Expr)
			}
			walk(p.Panels)
		}
	}
	walk(d.Panels)
	if len(exprs) < 10 {
		t.Fatalf("the dashboard holds %d queries", len(exprs))
	}
	return exprs
}

// grafanaFree replaces the variables Grafana fills in before sending a query to Prometheus.
func grafanaFree(expr string) string {
	return strings.NewReplacer("$__rate_interval", "5m", "$__interval", "1m", "$__range", "1h").Replace(expr)
}

func scrapeFamilies(url string) (map[string]*dto.MetricFamily, error) {
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Get(url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("scrape: %s", resp.Status)
	}
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(resp.Body); err != nil {
		return nil, err
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	return p.TextToMetricFamilies(&buf)
}

func hasSeries(f *dto.MetricFamily, want map[string]string) bool {
	if f == nil {
		return false
	}
	for _, m := range f.GetMetric() {
		matched := 0
		for _, l := range m.GetLabel() {
			if v, ok := want[l.GetName()]; ok && v == l.GetValue() {
				matched++
			}
		}
		if matched == len(want) {
			return true
		}
	}
	return false
}

// exported maps each series name of the scrape to the label names its samples carry: a
// histogram's _bucket (with le), _sum and _count, a summary's quantiles, _sum and _count.
func exported(families map[string]*dto.MetricFamily) map[string][]string {
	out := map[string][]string{}
	for name, f := range families {
		var labels []string
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if !slices.Contains(labels, l.GetName()) {
					labels = append(labels, l.GetName())
				}
			}
		}
		switch f.GetType() {
		case dto.MetricType_HISTOGRAM:
			out[name+"_bucket"] = append(slices.Clone(labels), "le")
			out[name+"_sum"], out[name+"_count"] = labels, labels
		case dto.MetricType_SUMMARY:
			out[name] = append(slices.Clone(labels), "quantile")
			out[name+"_sum"], out[name+"_count"] = labels, labels
		default:
			out[name] = labels
		}
	}
	return out
}
