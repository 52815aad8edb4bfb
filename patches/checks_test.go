package patches

import (
	"crypto/x509"
	"strings"
	"testing"

	"gomodules.xyz/jsonpatch/v2"
)

// findingsText renders findings as "error: msg" lines for comparison.
func findingsText(r CertReport) string {
	var lines []string
	for _, f := range r.Findings {
		lines = append(lines, string(f.Severity)+": "+f.Message)
	}
	return strings.Join(lines, "\n")
}

func TestCheckCA(t *testing.T) {
	pki := testPKI(t)
	certs, r := CheckCA(pki["ca"].pem, "internal-ca ca.crt", validationNow)
	if len(certs) != 1 || len(r.Findings) != 0 || !strings.HasPrefix(r.Summary, "CA CN=Internal CA, expires in ") {
		t.Errorf("valid CA: certs %d, findings %q, summary %q", len(certs), findingsText(r), r.Summary)
	}
	// An intermediate alone: nginx cannot end the chain.
	_, r = CheckCA(pki["intermediate"].pem, "internal-ca ca.crt", validationNow)
	if got := findingsText(r); !strings.Contains(got, "error: internal-ca ca.crt holds no self-signed root CA (only CN=Intermediate CA)") {
		t.Errorf("intermediate only: got %q", got)
	}
	_, r = CheckCA(pki["expired-ca"].pem, "internal-ca ca.crt", validationNow)
	if got := findingsText(r); got != "error: CA CN=Expired CA expired on 2021-01-01T00:00:00Z" {
		t.Errorf("expired CA: got %q", got)
	}
	// After a rotation the old CA stays until it expires: judged on the newest.
	_, r = CheckCA(append(append([]byte{}, pki["ca"].pem...), pki["expired-ca"].pem...), "internal-ca ca.crt", validationNow)
	if len(r.Findings) != 0 {
		t.Errorf("rotation bundle: want no finding, got %q", findingsText(r))
	}
	if _, r = CheckCA([]byte("junk"), "internal-ca ca.crt", validationNow); !strings.Contains(findingsText(r), "error: internal-ca ca.crt: no PEM certificate") {
		t.Errorf("junk: got %q", findingsText(r))
	}
}

func TestCheckServerCert(t *testing.T) {
	pki := testPKI(t)
	trusted := []*x509.Certificate{pki["ca"].cert}
	for _, tc := range []struct {
		cert, want, summary string
	}{
		{"server", "", "CN=aigw.ai-gateway.svc.cluster.local [aigw.ai-gateway.svc.cluster.local, aigw.ai-gateway.svc], chains to internal-ca with 0 intermediate(s), server auth, expires in "},
		{"server-via-intermediate", "", "chains to internal-ca with 1 intermediate(s)"},
		{"server-other-ca", "error: server certificate CN=aigw.ai-gateway.svc.cluster.local (issued by CN=Other CA) does not chain to the CA in internal-ca (CN=Internal CA) as nginx's OpenSSL verifies it", ""},
		{"server-client-auth-only", "error: server certificate CN=aigw.ai-gateway.svc.cluster.local has extended key usages that exclude server auth", ""},
		{"server-expired", "error: server certificate CN=aigw.ai-gateway.svc.cluster.local expired on 2026-01-01T00:00:00Z", ""},
		{"server-expiring", "warning: server certificate CN=aigw.ai-gateway.svc.cluster.local expires on 2026-06-11T00:00:00Z, in 10 days", ""},
	} {
		r := CheckServerCert(pki[tc.cert].pem, trusted, "internal-ca", validationNow)
		if got := findingsText(r); tc.want == "" && got != "" || !strings.Contains(got, tc.want) {
			t.Errorf("%s: findings %q, want %q", tc.cert, got, tc.want)
		}
		if tc.summary != "" && !strings.Contains(r.Summary, tc.summary) {
			t.Errorf("%s: summary %q, want %q", tc.cert, r.Summary, tc.summary)
		}
	}
	// Without a usable CA the chain is not judged here.
	if r := CheckServerCert(pki["server-other-ca"].pem, nil, "internal-ca", validationNow); len(r.Findings) != 0 {
		t.Errorf("no CA: want no finding, got %q", findingsText(r))
	}
}

func TestCheckClientCert(t *testing.T) {
	pki := testPKI(t)
	roots := []*x509.Certificate{pki["ca"].cert}
	for _, tc := range []struct{ cert, want string }{
		{"client", ""},
		{"client-other-ca", "error: client certificate CN=nginx-ingress-client (issued by CN=Other CA) does not chain to the CA aigw trusts (internal-ca, CN=Internal CA)"},
		{"client-server-only", "error: client certificate CN=nginx-ingress-client has extended key usages that exclude client auth"},
	} {
		r := CheckClientCert(pki[tc.cert].pem, roots, "internal-ca", validationNow)
		if got := findingsText(r); tc.want == "" && got != "" || !strings.Contains(got, tc.want) {
			t.Errorf("%s: findings %q, want %q", tc.cert, got, tc.want)
		}
	}
	if r := CheckClientCert(pki["client"].pem, roots, "internal-ca", validationNow); !strings.HasPrefix(r.Summary, "CN=nginx-ingress-client, chains to internal-ca with 0 intermediate(s), client auth, expires in ") {
		t.Errorf("summary: %q", r.Summary)
	}
}

func TestMissingCAs(t *testing.T) {
	pki := testPKI(t)
	bundle := []*x509.Certificate{pki["ca"].cert, pki["expired-ca"].cert}
	if m, err := MissingCAs(bundle, pki["ca"].pem); err != nil || len(m) != 0 {
		t.Errorf("held: missing %v, err %v", m, err)
	}
	if m, err := MissingCAs(bundle, pki["other-ca"].pem); err != nil || len(m) != 1 || m[0].Subject.CommonName != "Other CA" {
		t.Errorf("rotated: missing %v, err %v", m, err)
	}
	if _, err := MissingCAs(bundle, []byte("junk")); err == nil {
		t.Error("junk source: want an error")
	}
}

func TestWiringOps(t *testing.T) {
	r := Result{Patch: []jsonpatch.Operation{
		add("/metadata/annotations", map[string]string{}),
		add("/spec/volumes", []any{}),
	}}
	if ops := WiringOps(r); len(ops) != 1 || ops[0].Path != "/spec/volumes" {
		t.Errorf("got %v", ops)
	}
	if ops := WiringOps(Result{Patch: r.Patch[:1]}); len(ops) != 0 {
		t.Errorf("annotation only: got %v", ops)
	}
}
