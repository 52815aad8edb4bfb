package e2e

import (
	"fmt"
	"testing"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/aigw-mtls/aigw-mtls-webhook/test/harness"
	"github.com/aigw-mtls/aigw-mtls-webhook/webhook"
)

// aigw_mtls_certificate_expiry_timestamp_seconds, as the metrics endpoint serves it (the
// controller-runtime registry), holds the notAfter of each certificate of the labelled Secrets
// the webhook's cache sees on the real API server.
func TestCertificateExpiryMetric(t *testing.T) {
	issueSeedPKI(t)
	o := webhook.DefaultOptions()
	o.CASyncSource = ""
	hook, err := harness.StartWebhook(env.Config, o)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = hook.Stop() }()
	want := map[string]time.Time{
		ns + "/aigw-server-tls/tls.crt":     seedPKI.server.Cert.NotAfter,
		ns + "/aigw-nic-client-tls/tls.crt": seedPKI.client.Cert.NotAfter,
		ns + "/aigw-ca/tls.crt":             seedPKI.ca.Cert.NotAfter,
		ns + "/internal-ca/ca.crt":          seedPKI.ca.Cert.NotAfter,
	}
	eventually(t, "expiry series", func() error {
		families, err := metrics.Registry.Gather()
		if err != nil {
			return err
		}
		got := map[string]float64{}
		for _, f := range families {
			if f.GetName() != "aigw_mtls_certificate_expiry_timestamp_seconds" {
				continue
			}
			for _, m := range f.GetMetric() {
				l := map[string]string{}
				for _, p := range m.GetLabel() {
					l[p.GetName()] = p.GetValue()
				}
				got[l["namespace"]+"/"+l["secret"]+"/"+l["key"]] = m.GetGauge().GetValue()
			}
		}
		for series, notAfter := range want {
			if v, ok := got[series]; !ok || v != float64(notAfter.Unix()) {
				return fmt.Errorf("%s: got %v (present %v), want %d; all: %v", series, v, ok, notAfter.Unix(), got)
			}
		}
		return nil
	})
}
