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
