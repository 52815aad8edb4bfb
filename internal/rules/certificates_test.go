package rules

import (
	"crypto/x509"
	"strings"
	"testing"

	"github.com/aigw-mtls/aigw-mtls-webhook/internal/certs"
	"github.com/aigw-mtls/aigw-mtls-webhook/internal/rules/fixtures"
)

// text renders findings as "error: <found>" lines for comparison.
func text(fs Findings) string {
	var lines []string
	for _, f := range fs {
		lines = append(lines, string(f.Severity)+": "+f.Found)
	}
	return strings.Join(lines, "\n")
}

func TestCABundle(t *testing.T) {
	pki := fixtures.PKI(t)
	cs, fs, sum := CABundle("Secret/ai-gateway/internal-ca", "ca.crt", "", pki["ca"].PEM, fixtures.Now)
	if len(cs) != 1 || len(fs) != 0 || !strings.HasPrefix(sum, "CA CN=Internal CA, expires in ") {
		t.Errorf("valid CA: certs %d, findings %q, summary %q", len(cs), text(fs), sum)
	}
	// An intermediate alone: nginx cannot end the chain.
	if _, fs, _ = CABundle("o", "f", "", pki["intermediate"].PEM, fixtures.Now); !strings.Contains(text(fs), "error: only CN=Intermediate CA") {
		t.Errorf("intermediate only: got %q", text(fs))
	}
	if _, fs, _ = CABundle("o", "f", "", pki["expired-ca"].PEM, fixtures.Now); text(fs) != "error: CN=Expired CA expired on 2021-01-01T00:00:00Z" {
		t.Errorf("expired CA: got %q", text(fs))
	}
	// After a rotation the old CA stays until it expires: only a warning, for check and admission alike.
	both := append(append([]byte{}, pki["ca"].PEM...), pki["expired-ca"].PEM...)
	if _, fs, _ = CABundle("o", "f", "", both, fixtures.Now); len(fs.Errors()) != 0 || len(fs.Warnings()) != 1 {
		t.Errorf("rotation bundle: want one warning, got %q", text(fs))
	}
	if _, fs, _ = CABundle("o", "f", "", []byte("junk"), fixtures.Now); !strings.Contains(text(fs), "error: no PEM block") {
		t.Errorf("junk: got %q", text(fs))
	}
	crl := []byte("-----BEGIN X509 CRL-----\nAAAA\n-----END X509 CRL-----\n")
	if _, fs, _ = CABundle("o", "f", "", append(crl, pki["ca"].PEM...), fixtures.Now); !strings.Contains(text(fs), "error: a PEM block of type X509 CRL first") || fs[0].Consequence != Route500 {
		t.Errorf("CRL first: got %q", text(fs))
	}
}

func chainOf(t *testing.T, pem []byte) []*x509.Certificate {
	t.Helper()
	c, err := certs.Parse(pem)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestServerCertificate(t *testing.T) {
	pki := fixtures.PKI(t)
	trusted := []*x509.Certificate{pki["ca"].Cert}
	for _, tc := range []struct {
		cert, want, summary string
		depth               int
	}{
		{"server", "", "CN=aigw.ai-gateway.svc.cluster.local [aigw.ai-gateway.svc.cluster.local, aigw.ai-gateway.svc], chains to internal-ca with 0 intermediate(s), server auth, expires in ", 1},
		{"server-via-intermediate", "", "chains to internal-ca with 1 intermediate(s)", 1},
		{"server-via-intermediate", "error: 0", "", 0},
		{"server-other-ca", "error: CN=aigw.ai-gateway.svc.cluster.local in s issued by CN=Other CA", "", 1},
		{"server-client-auth-only", "error: CN=aigw.ai-gateway.svc.cluster.local in s with extended key usages that exclude it", "", 1},
		{"server-expired", "error: CN=aigw.ai-gateway.svc.cluster.local in s expired on 2026-01-01T00:00:00Z", "", 1},
		{"server-expiring", "warning: server certificate CN=aigw.ai-gateway.svc.cluster.local in s expires on 2026-06-11T00:00:00Z, in 10 days", "", 1},
	} {
		fs, sum := ServerCertificate("o", "f", chainOf(t, pki[tc.cert].PEM), "s", trusted, "internal-ca", tc.depth, fixtures.Now)
		if got := text(fs); tc.want == "" && got != "" || !strings.Contains(got, tc.want) {
			t.Errorf("%s: findings %q, want %q", tc.cert, got, tc.want)
		}
		if tc.summary != "" && !strings.Contains(sum, tc.summary) {
			t.Errorf("%s: summary %q, want %q", tc.cert, sum, tc.summary)
		}
	}
	if fs, _ := ServerCertificate("o", "f", chainOf(t, pki["server-other-ca"].PEM), "s", nil, "internal-ca", 1, fixtures.Now); len(fs) != 0 {
		t.Errorf("no CA: want no finding, got %q", text(fs))
	}
}

func TestClientCertificate(t *testing.T) {
	pki := fixtures.PKI(t)
	roots := []*x509.Certificate{pki["ca"].Cert}
	for _, tc := range []struct{ cert, want string }{
		{"client", ""},
		{"client-other-ca", "error: CN=nginx-ingress-client issued by CN=Other CA"},
		{"client-server-only", "error: CN=nginx-ingress-client with extended key usages that exclude it"},
	} {
		fs, _ := ClientCertificate("o", "f", chainOf(t, pki[tc.cert].PEM), roots, "internal-ca", fixtures.Now)
		if got := text(fs); tc.want == "" && got != "" || !strings.Contains(got, tc.want) {
			t.Errorf("%s: findings %q, want %q", tc.cert, got, tc.want)
		}
	}
	if _, sum := ClientCertificate("o", "f", chainOf(t, pki["client"].PEM), roots, "internal-ca", fixtures.Now); !strings.HasPrefix(sum, "CN=nginx-ingress-client, chains to internal-ca with 0 intermediate(s), client auth, expires in ") {
		t.Errorf("summary: %q", sum)
	}
}
