package main

import (
	"path/filepath"
	"strings"
	"testing"
)

// The Gateway API samples through inject and validate: the BackendTLSPolicy gets hostname and
// caCertificateRefs offline as in the cluster, and validate judges it against --server-cert.
func TestInjectAndValidateBackendTLSPolicySample(t *testing.T) {
	sample := filepath.Join("..", "..", "config", "samples", "aigw-backendtlspolicy.yaml")
	code, out, errOut := runCLI(t, "", "inject", "-f", sample)
	if code != 0 || !strings.Contains(out, "hostname: aigw.ai-gateway.svc.cluster.local") || !strings.Contains(out, "kind: ConfigMap\n      name: internal-ca") {
		t.Fatalf("inject: exit %d\n%s%s", code, out, errOut)
	}

	good := writeServerCert(t, "aigw.ai-gateway.svc.cluster.local")
	code, got, _ := runCLI(t, out, "validate", "-f", "-", "--server-cert", good)
	if code != 0 || strings.Contains(got, "spec.validation.hostname") {
		t.Errorf("matching server certificate: want exit 0 without a hostname finding, got %d\n%s", code, got)
	}

	bad := writeServerCert(t, "gateway.example.com")
	code, got, _ = runCLI(t, out, "validate", "-f", "-", "--server-cert", bad)
	want := `BackendTLSPolicy/ai-gateway/aigw-mtls: [BTP_HOSTNAME_NOT_IN_SAN] spec.validation.hostname: expected a name the aigw server certificate (Secret ai-gateway/aigw-server-tls) covers as nginx checks it, one of [gateway.example.com], found "aigw.ai-gateway.svc.cluster.local"`
	if code != 1 || !strings.Contains(got, want) {
		t.Errorf("wrong SAN: want exit 1 and %q, got %d\n%s", want, code, got)
	}
}

func TestValidateGatewaySampleWithoutClientCertificate(t *testing.T) {
	in := "apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\nmetadata: {name: aigw, namespace: ai-gateway, labels: {aigw: mtls}}\nspec:\n  gatewayClassName: nginx\n  listeners: [{name: http, port: 80, protocol: HTTP}]\n"
	code, out, _ := runCLI(t, in, "validate", "-f", "-")
	if code != 1 || !strings.Contains(out, "Gateway/ai-gateway/aigw: [GATEWAY_CLIENT_CERT_MISSING] spec.tls.backend.clientCertificateRef: expected the client certificate Secret") {
		t.Errorf("want exit 1 and the missing client certificate, got %d\n%s", code, out)
	}
}
