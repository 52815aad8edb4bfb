// Command dashboard writes the Grafana dashboard the chart ships (grafanaDashboard.enabled) from
// the panels below: `make dashboard` runs it, and a test fails when the committed JSON differs.
// It is not part of the release binary.
package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"

	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/common"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/grafana/grafana-foundation-sdk/go/prometheus"
	"github.com/grafana/grafana-foundation-sdk/go/stat"
	"github.com/grafana/grafana-foundation-sdk/go/table"
	"github.com/grafana/grafana-foundation-sdk/go/timeseries"
)

// Path is where the chart reads the dashboard from (.Files.Get), relative to the repository root.
const Path = "charts/aigw-mtls-webhook/dashboards/aigw-mtls.json"

func main() {
	out := Path
	if len(os.Args) > 1 {
		out = os.Args[1]
	}
	b, err := render()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if err := os.WriteFile(out, b, 0o644); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

// render is the dashboard's JSON, indented, with a final newline.
func render() ([]byte, error) {
	d, err := build().Build()
	if err != nil {
		return nil, err
	}
	number(&d)
	b, err := json.MarshalIndent(d, "", "  ")
	if err != nil {
		return nil, err
	}
	// The SDK's types marshal with encoding/json's HTML escaping: PromQL's comparisons are written
	// unescaped instead, the same strings to any JSON reader. (No text here holds a backslash, so no
	// escaped backslash precedes a "u003e".)
	for esc, c := range map[string]string{`\u003c`: "<", `\u003e`: ">", `\u0026`: "&"} {
		b = bytes.ReplaceAll(b, []byte(esc), []byte(c))
	}
	return append(b, '\n'), nil
}

// number gives each row and panel an id in layout order and each query a refId (A, B, ...), so
// links to a panel and Grafana's query editor stay stable from one generation to the next.
func number(d *dashboard.Dashboard) {
	for i := range d.Panels {
		id := uint32(i + 1)
		if r := d.Panels[i].RowPanel; r != nil {
			r.Id = id
			continue
		}
		p := d.Panels[i].Panel
		p.Id = &id
		for j, t := range p.Targets {
			if q, ok := t.(prometheus.Dataquery); ok {
				q.RefId = cog.ToPtr(string(rune('A' + j)))
				p.Targets[j] = q
			}
		}
	}
}

var source = common.DataSourceRef{Type: cog.ToPtr("prometheus"), Uid: cog.ToPtr("${datasource}")}

// The chart's certificate-expiry alert fires at 14 days (prometheusRule.certificateExpiryDays).
const day = 86400.0

func build() *dashboard.DashboardBuilder {
	return dashboard.NewDashboardBuilder("aigw mTLS webhook").
		Uid("aigw-mtls-webhook").
		Description("Certificates, egressMTLS Policy problems, admission decisions, CA sync and rollouts, and serving of the aigw-mtls-webhook.").
		Tags([]string{"aigw-mtls-webhook"}).
		Refresh("1m").
		Time("now-6h", "now").
		Timezone(common.TimeZoneBrowser).
		WithVariable(dashboard.NewDatasourceVariableBuilder("datasource").Label("Data source").Type("prometheus")).
		WithRow(dashboard.NewRowBuilder("Certificates and Policies")).
		WithPanel(certificates()).
		WithPanel(policiesWithProblems()).
		WithPanel(policyProblems()).
		WithRow(dashboard.NewRowBuilder("Admission")).
		WithPanel(denials()).
		WithPanel(admissions()).
		WithRow(dashboard.NewRowBuilder("CA sync and rollouts")).
		WithPanel(controllerErrors()).
		WithPanel(controllerOutcomes()).
		WithRow(dashboard.NewRowBuilder("Serving")).
		WithPanel(latency()).
		WithPanel(inFlight()).
		WithPanel(refused()).
		WithPanel(responses())
}

func query(expr, legend string) *prometheus.DataqueryBuilder {
	return prometheus.NewDataqueryBuilder().Expr(expr).LegendFormat(legend).Range()
}

func instantTable(expr string) *prometheus.DataqueryBuilder {
	return prometheus.NewDataqueryBuilder().Expr(expr).Instant().Format(prometheus.PromQueryFormatTable)
}

func steps(base string, more ...dashboard.Threshold) *dashboard.ThresholdsConfigBuilder {
	return dashboard.NewThresholdsConfigBuilder().Mode(dashboard.ThresholdsModeAbsolute).
		Steps(append([]dashboard.Threshold{{Color: base}}, more...))
}

// hideTime drops the Time column of an instant table and names the value column.
func hideTime(value string) dashboard.DataTransformerConfig {
	return dashboard.DataTransformerConfig{Id: "organize", Options: map[string]any{
		"excludeByName": map[string]bool{"Time": true},
		"renameByName":  map[string]string{"Value": value},
	}}
}

func colouredCells() common.TableCellOptions {
	return common.TableCellOptions{TableColoredBackgroundCellOptions: common.NewTableColoredBackgroundCellOptions()}
}

func certificates() *table.PanelBuilder {
	return table.NewPanelBuilder().
		Title("Certificates by time to expiry").
		Description("Each certificate in a labelled Secret (key tls.crt: aigw server, NIC client, cert-manager CA; key ca.crt: the latest-expiring CA of the nginx.org/ca bundle), soonest first. Red under 7 days, orange under 14 (the expiry alert), green otherwise.").
		Datasource(source).Span(12).Height(9).
		WithTarget(instantTable(`min by (namespace, secret, key) (aigw_mtls_certificate_expiry_timestamp_seconds) - time()`)).
		WithTransformation(hideTime("Expires in")).
		Unit("s").
		Thresholds(steps("red", dashboard.Threshold{Value: cog.ToPtr(7 * day), Color: "orange"}, dashboard.Threshold{Value: cog.ToPtr(14 * day), Color: "green"})).
		ColorScheme(dashboard.NewFieldColorBuilder().Mode(dashboard.FieldColorModeIdThresholds)).
		OverrideByName("Expires in", []dashboard.DynamicConfigValue{{Id: "custom.cellOptions", Value: colouredCells()}}).
		SortBy([]cog.Builder[common.TableSortByFieldState]{common.NewTableSortByFieldStateBuilder().DisplayName("Expires in")})
}

func policiesWithProblems() *stat.PanelBuilder {
	return stat.NewPanelBuilder().
		Title("Policies with problems").
		Description("egressMTLS Policies the audit found broken at run time (nginx or aigw would fail the handshake). The Warning Event EgressMTLSBroken on each names the fix.").
		Datasource(source).Span(4).Height(9).
		WithTarget(query(`count(max by (namespace, policy) (aigw_mtls_policy_problems) > 0) or vector(0)`, "Policies")).
		Thresholds(steps("green", dashboard.Threshold{Value: cog.ToPtr(1.0), Color: "red"})).
		ColorScheme(dashboard.NewFieldColorBuilder().Mode(dashboard.FieldColorModeIdThresholds))
}

func policyProblems() *table.PanelBuilder {
	return table.NewPanelBuilder().
		Title("Policy problems by rule, namespace and Policy").
		Description("Run-time problems per live egressMTLS Policy and rule ID, as the audit last found them (re-checked when a labelled Secret changes); docs/rules.md gives each rule's consequence and fix.").
		Datasource(source).Span(8).Height(9).
		WithTarget(instantTable(`max by (rule, namespace, policy) (aigw_mtls_policy_problems) > 0`)).
		WithTransformation(hideTime("Problems")).
		Thresholds(steps("green", dashboard.Threshold{Value: cog.ToPtr(1.0), Color: "red"})).
		ColorScheme(dashboard.NewFieldColorBuilder().Mode(dashboard.FieldColorModeIdThresholds)).
		OverrideByName("Problems", []dashboard.DynamicConfigValue{{Id: "custom.cellOptions", Value: colouredCells()}}).
		NoValue("No Policy has a problem")
}

func denials() *timeseries.PanelBuilder {
	return timeseries.NewPanelBuilder().
		Title("Denials by kind and rule").
		Description("Error findings at admission, per second, by object kind and rule ID: each denies its object in enforce mode (a warning in warn mode). docs/rules.md gives each rule's consequence and fix.").
		Datasource(source).Span(12).Height(8).Unit("reqps").Min(0).
		WithTarget(query(`sum by (kind, rule) (rate(aigw_mtls_admission_findings_total{severity="error"}[$__rate_interval]))`, "{{kind}} {{rule}}"))
}

func admissions() *timeseries.PanelBuilder {
	return timeseries.NewPanelBuilder().
		Title("Admissions by outcome").
		Description("Admission decisions per second: patched, unchanged, warned (admitted with a warning kubectl prints) and denied.").
		Datasource(source).Span(12).Height(8).Unit("reqps").Min(0).
		WithTarget(query(`sum by (outcome) (rate(aigw_mtls_admissions_total[$__rate_interval]))`, "{{outcome}}"))
}

func controllerErrors() *timeseries.PanelBuilder {
	return timeseries.NewPanelBuilder().
		Title("CA sync, NIC reload and restart errors").
		Description("Failures of the controllers over the interval: the CA sync (error: source unreadable or write failed; unowned: a hand-made CA Secret blocks it), the NGINX Ingress Controller reload annotation, and restarts on certificate renewal.").
		Datasource(source).Span(12).Height(8).Min(0).Decimals(0).
		WithTarget(query(`sum by (outcome) (increase(aigw_mtls_ca_sync_total{outcome=~"error|unowned"}[$__rate_interval]))`, "CA sync {{outcome}}")).
		WithTarget(query(`sum(increase(aigw_mtls_nic_reload_total{outcome="error"}[$__rate_interval]))`, "NIC reload error")).
		WithTarget(query(`sum(increase(aigw_mtls_restart_on_renewal_total{outcome="error"}[$__rate_interval]))`, "restart on renewal error"))
}

func controllerOutcomes() *timeseries.PanelBuilder {
	return timeseries.NewPanelBuilder().
		Title("CA sync, NIC reload and restarts by outcome").
		Description("What the controllers did over the interval: CA bundles synced, NIC reloads annotated or coalesced (the minimum interval), Deployments restarted after a renewal.").
		Datasource(source).Span(12).Height(8).Min(0).Decimals(0).
		WithTarget(query(`sum by (outcome) (increase(aigw_mtls_ca_sync_total[$__rate_interval]))`, "CA sync {{outcome}}")).
		WithTarget(query(`sum by (outcome) (increase(aigw_mtls_nic_reload_total[$__rate_interval]))`, "NIC reload {{outcome}}")).
		WithTarget(query(`sum by (outcome) (increase(aigw_mtls_restart_on_renewal_total[$__rate_interval]))`, "restart {{outcome}}"))
}

func latency() *timeseries.PanelBuilder {
	return timeseries.NewPanelBuilder().
		Title("Admission latency by webhook").
		Description("Time the webhook takes to answer an admission request (controller-runtime's histogram), 50th and 99th percentile per webhook path. The API server gives up at the webhook's 5 s timeout.").
		Datasource(source).Span(12).Height(8).Unit("s").Min(0).
		WithTarget(query(`histogram_quantile(0.99, sum by (webhook, le) (rate(controller_runtime_webhook_latency_seconds_bucket[$__rate_interval])))`, "p99 {{webhook}}")).
		WithTarget(query(`histogram_quantile(0.5, sum by (webhook, le) (rate(controller_runtime_webhook_latency_seconds_bucket[$__rate_interval])))`, "p50 {{webhook}}"))
}

func inFlight() *timeseries.PanelBuilder {
	return timeseries.NewPanelBuilder().
		Title("Admission requests in flight").
		Description("Requests being handled at once per webhook path, summed over the replicas; past --max-in-flight more are answered 429.").
		Datasource(source).Span(12).Height(8).Min(0).Decimals(0).
		WithTarget(query(`sum by (webhook) (controller_runtime_webhook_requests_in_flight)`, "{{webhook}}"))
}

func refused() *timeseries.PanelBuilder {
	return timeseries.NewPanelBuilder().
		Title("Requests refused before admission (429 overload, malformed)").
		Description("overload: answered 429 with Retry-After (the in-flight or body-bytes budget was full); malformed: not an AdmissionReview with a request uid.").
		Datasource(source).Span(12).Height(8).Unit("reqps").Min(0).
		WithTarget(query(`sum by (reason) (rate(aigw_mtls_requests_rejected_total[$__rate_interval]))`, "{{reason}}"))
}

func responses() *timeseries.PanelBuilder {
	return timeseries.NewPanelBuilder().
		Title("Admission responses by HTTP code").
		Description("Answers of the admission handlers per second by webhook path and HTTP status code (controller-runtime).").
		Datasource(source).Span(12).Height(8).Unit("reqps").Min(0).
		WithTarget(query(`sum by (webhook, code) (rate(controller_runtime_webhook_requests_total[$__rate_interval]))`, "{{webhook}} {{code}}"))
}
