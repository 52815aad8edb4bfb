package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func writeServerCert(t *testing.T, dnsNames ...string) string {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "aigw"}, DNSNames: dnsNames,
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(365 * 24 * time.Hour),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "server.crt")
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestValidateSamplesWithServerCert(t *testing.T) {
	samples := filepath.Join("..", "..", "config", "samples")
	good := writeServerCert(t, "aigw.ai-gateway.svc.cluster.local")
	code, out, errOut := runCLI(t, "", "validate", "-f", samples, "--server-cert", good)
	if code != 0 || strings.Contains(out, "sslName: cannot be checked") {
		t.Errorf("good server cert: exit %d\n%s%s", code, out, errOut)
	}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if line != "" && !strings.Contains(line, ": warning: ") {
			t.Errorf("only warnings expected, got %q", line)
		}
	}

	bad := writeServerCert(t, "gateway.example.com")
	code, out, _ = runCLI(t, "", "validate", "-f", samples, "--server-cert", bad)
	want := `Policy/ai-gateway/aigw-mtls: [POLICY_SSLNAME_NOT_IN_SAN] spec.egressMTLS.sslName: expected a name the aigw server certificate (Secret ai-gateway/aigw-server-tls) covers as nginx checks it, one of [gateway.example.com], found "aigw.ai-gateway.svc.cluster.local"`
	if code != 1 || !strings.Contains(out, want) {
		t.Errorf("wrong SAN: want exit 1 and %q, got %d\n%s", want, code, out)
	}
	// The mutated VirtualServer references the Policy, so it is refused for the same reason.
	if !strings.Contains(out, "VirtualServer/ai-gateway/aigw-mtls: spec.routes[0].policies[0] references Policy/ai-gateway/aigw-mtls") {
		t.Errorf("want the VirtualServer refused through its Policy:\n%s", out)
	}
}

func TestValidateExitCodes(t *testing.T) {
	if code, _, _ := runCLI(t, "", "validate", "-f", "-", "--server-cert", "/nonexistent.pem"); code != 2 {
		t.Errorf("unreadable --server-cert: want exit 2, got %d", code)
	}
	if code, _, _ := runCLI(t, "kind: [", "validate", "-f", "-"); code != 2 {
		t.Errorf("unreadable YAML: want exit 2, got %d", code)
	}
	if code, out, _ := runCLI(t, "apiVersion: v1\nkind: Service\nmetadata: {name: x}\n", "validate", "-f", "-"); code != 0 || out != "" {
		t.Errorf("nothing to report: want exit 0 and no output, got %d %q", code, out)
	}
}
