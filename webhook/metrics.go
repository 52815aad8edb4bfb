package webhook

import (
	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"
)

var admissions = prometheus.NewCounterVec(prometheus.CounterOpts{
	Name: "aigw_mtls_admissions_total",
	Help: "Admission decisions by object kind, webhook type and outcome (patched, unchanged, warned, denied).",
}, []string{"kind", "webhook", "outcome"})

func init() { metrics.Registry.MustRegister(admissions) }

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

func init() { metrics.Registry.MustRegister(rejected) }
