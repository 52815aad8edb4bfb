package webhook

import (
	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/aigw-mtls/aigw-mtls-webhook/internal/rules"
)

var admissions = prometheus.NewCounterVec(prometheus.CounterOpts{
	Name: "aigw_mtls_admissions_total",
	Help: "Admission decisions by object kind, webhook type and outcome (patched, unchanged, warned, denied).",
}, []string{"kind", "webhook", "outcome"})

// admissionFindings counts admission findings by rule: its series are bounded by the kinds and the
// rule catalogue (no object or namespace names).
var admissionFindings = prometheus.NewCounterVec(prometheus.CounterOpts{
	Name: "aigw_mtls_admission_findings_total",
	Help: "Findings reported at admission by object kind, rule ID (docs/rules.md) and severity: an error finding denies the object in enforce mode and is a warning in warn mode. Silenced warnings are not counted.",
}, []string{"kind", "rule", "severity"})

func init() { metrics.Registry.MustRegister(admissions, admissionFindings) }

func countFindings(kind string, fs rules.Findings) {
	for _, f := range fs {
		admissionFindings.WithLabelValues(kind, string(f.Rule), string(f.Severity)).Inc()
	}
}

func observe(kind, webhook string, resp admission.Response) {
	outcome := "unchanged"
	switch {
	case !resp.Allowed:
		outcome = "denied"
	case len(resp.Patches) > 0:
		outcome = "patched"
	case len(resp.Warnings) > 0:
		outcome = "warned"
	}
	admissions.WithLabelValues(kind, webhook, outcome).Inc()
}

var caSyncOutcomes = prometheus.NewCounterVec(prometheus.CounterOpts{
	Name: "aigw_mtls_ca_sync_total",
	Help: "CA sync reconciliations by outcome (synced, unowned, error).",
}, []string{"outcome"})

var policyProblems = prometheus.NewGaugeVec(prometheus.GaugeOpts{
	Name: "aigw_mtls_policy_problems",
	Help: "Run-time problems found in live egressMTLS Policies, by rule ID (docs/rules.md), re-checked when a labelled Secret, such as a renewed certificate, changes. A Policy without problems has no series.",
}, []string{"namespace", "policy", "rule"})

func init() { metrics.Registry.MustRegister(caSyncOutcomes, policyProblems) }

var rejected = prometheus.NewCounterVec(prometheus.CounterOpts{
	Name: "aigw_mtls_requests_rejected_total",
	Help: "Requests refused before admission by reason: overload (the in-flight limit) or malformed (not an admission.k8s.io/v1 AdmissionReview with a request uid).",
}, []string{"reason"})

var budgetWaits = prometheus.NewCounterVec(prometheus.CounterOpts{
	Name: "aigw_mtls_body_budget_waits_total",
	Help: "Requests that waited for room in the body budget (--max-body-bytes-in-flight) before their body was read, by outcome: admitted (room was made in time) or overload (answered 429).",
}, []string{"outcome"})

func init() { metrics.Registry.MustRegister(rejected, budgetWaits) }
