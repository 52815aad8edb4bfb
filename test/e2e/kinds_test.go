package e2e

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/aigw-mtls/aigw-mtls-webhook/test/harness"
)

// The harness registers the chart's own webhooks (harness.ChartWebhooks), the Gateway API kinds
// included: a labelled BackendTLSPolicy created through the API server is completed by the
// mutation, and a labelled Gateway without a client certificate is refused by the validation.
func TestGatewayAPIKindsThroughTheChartsWebhooks(t *testing.T) {
	ctx := context.Background()
	btp := unstructuredSample(t, "aigw-backendtlspolicy.yaml")
	btp.SetNamespace(ns)
	if err := env.Client.Create(ctx, btp, client.DryRunAll); err != nil {
		t.Fatalf("labelled BackendTLSPolicy: %v", err)
	}
	hostname, _, _ := unstructured.NestedString(btp.Object, "spec", "validation", "hostname")
	if hostname != "aigw."+ns+".svc.cluster.local" {
		t.Errorf("BackendTLSPolicy spec.validation.hostname %q: want the mutation's aigw.%s.svc.cluster.local", hostname, ns)
	}
	refs, _, _ := unstructured.NestedSlice(btp.Object, "spec", "validation", "caCertificateRefs")
	if len(refs) != 1 {
		t.Errorf("BackendTLSPolicy spec.validation.caCertificateRefs %v: want the CA ConfigMap the mutation adds", refs)
	}

	gw := unstructuredSample(t, filepath.Join(harness.RepoRoot(), "internal", "rules", "testdata", "gateway", "no-client-certificate.yaml"))
	gw.SetNamespace(ns)
	err := env.Client.Create(ctx, gw, client.DryRunAll)
	if err == nil || !strings.Contains(err.Error(), `denied the request`) || !strings.Contains(err.Error(), "spec.tls.backend.clientCertificateRef") {
		t.Errorf("labelled Gateway without a client certificate: want refused by the validation, got %v", err)
	}
}
