package nicconf

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestDirectivesDefaults(t *testing.T) {
	d := Decide("ns", "p", Spec{EgressMTLS: &EgressMTLS{TLSSecret: "client", TrustedCertSecret: "ca"}}, testSecrets(t), "/etc/nginx/secrets")
	if d.Outcome != Render {
		t.Fatalf("decision %s", d)
	}
	got := Directives(*d.Config, RouteLevel, false, "/etc/nginx/secrets")
	want := []string{
		"proxy_ssl_certificate $secret_dir_path/ns-client",
		"proxy_ssl_certificate_key $secret_dir_path/ns-client",
		"proxy_ssl_trusted_certificate /etc/nginx/secrets/ns-ca-ca.crt",
		"proxy_ssl_verify off",
		"proxy_ssl_verify_depth 1",
		"proxy_ssl_protocols TLSv1 TLSv1.1 TLSv1.2",
		"proxy_ssl_ciphers DEFAULT",
		"proxy_ssl_session_reuse on",
		"proxy_ssl_server_name off",
		"proxy_ssl_name $proxy_host",
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("defaults:\n got %q\nwant %q", got, want)
	}
	for _, f := range []string{"/etc/nginx/secrets/ns-client", "/etc/nginx/secrets/ns-ca-ca.crt", "/etc/nginx/secrets/ns-ca-ca.crl"} {
		if _, ok := d.Files[f]; !ok {
			t.Errorf("NIC writes %s; files: %v", f, keys(d.Files))
		}
	}
}

func TestDirectivesSet(t *testing.T) {
	c := Config{
		VerifyServer: true, VerifyDepth: 0, Protocols: "TLSv1.3", Ciphers: "HIGH",
		SessionReuse: false, ServerName: true, SSLName: "aigw.ai-gateway.svc.cluster.local",
	}
	want := []string{
		"proxy_ssl_verify on",
		"proxy_ssl_verify_depth 0",
		"proxy_ssl_protocols TLSv1.3",
		"proxy_ssl_ciphers HIGH",
		"proxy_ssl_session_reuse off",
		"proxy_ssl_server_name on",
		"proxy_ssl_name aigw.ai-gateway.svc.cluster.local",
	}
	if got := Directives(c, RouteLevel, false, StaticSSLPath); !reflect.DeepEqual(got, want) {
		t.Fatalf("route:\n got %q\nwant %q", got, want)
	}
	// Server level: proxy_ssl_* even for a gRPC upstream.
	if got := Directives(c, ServerLevel, true, StaticSSLPath); !reflect.DeepEqual(got, want) {
		t.Fatalf("server, grpc:\n got %q\nwant %q", got, want)
	}
	// Route level, gRPC upstream: grpc_ssl_*.
	got := Directives(c, RouteLevel, true, StaticSSLPath)
	for i := range want {
		if w := strings.Replace(want[i], "proxy_", "grpc_", 1); got[i] != w {
			t.Fatalf("route, grpc: %q, want %q", got[i], w)
		}
	}
}

func TestSecretDirMap(t *testing.T) {
	want := "map $nginx_version $secret_dir_path {\n    default \"/etc/nginx/secrets\";\n}\n"
	if got := SecretDirMap(StaticSSLPath); got != want {
		t.Fatalf("SecretDirMap = %q", got)
	}
}

func TestDecide(t *testing.T) {
	seed := func() *EgressMTLS {
		return &EgressMTLS{TLSSecret: "client", TrustedCertSecret: "ca", VerifyServer: true, ServerName: true, SSLName: "aigw.ns.svc"}
	}
	for _, tc := range []struct {
		name    string
		spec    func() Spec
		secrets func(m map[string]Secret)
		want    Outcome
		reason  string
	}{
		{name: "seed", want: Render},
		{name: "sslName upper case", want: Invalid, reason: `spec.egressMTLS.sslName: Invalid value: "AIGW.ns.svc": a lowercase RFC 1123 subdomain`,
			spec: func() Spec { e := seed(); e.SSLName = "AIGW.ns.svc"; return Spec{EgressMTLS: e} }},
		{name: "sslName with port", want: Invalid, reason: `spec.egressMTLS.sslName: Invalid value: "aigw.ns.svc:443"`,
			spec: func() Spec { e := seed(); e.SSLName = "aigw.ns.svc:443"; return Spec{EgressMTLS: e} }},
		{name: "secret name with namespace", want: Invalid, reason: `spec.egressMTLS.trustedCertSecret: Invalid value: "ns/ca"`,
			spec: func() Spec { e := seed(); e.TrustedCertSecret = "ns/ca"; return Spec{EgressMTLS: e} }},
		{name: "verifyDepth -1", want: Invalid, reason: `spec.egressMTLS.verifyDepth: Invalid value: -1: must be positive`,
			spec: func() Spec { e := seed(); e.VerifyDepth = Int(-1); return Spec{EgressMTLS: e} }},
		{name: "verifyServer without trustedCertSecret: the early return hides the sslName error", want: Invalid,
			reason: `spec.egressMTLS.trustedCertSecret: Required value: must be set when verifyServer is 'true'`,
			spec: func() Spec {
				e := seed()
				e.TrustedCertSecret, e.SSLName = "", "UPPER"
				return Spec{EgressMTLS: e}
			}},
		{name: "two types", want: Invalid, reason: "spec: Invalid value: \"\": must specify exactly one of: `accessControl`",
			spec: func() Spec {
				return Spec{EgressMTLS: seed(), AccessControl: &AccessControl{Allow: []string{"10.0.0.0/8"}}}
			}},
		{name: "client Secret missing", want: Return500, reason: "EgressMTLS policy ns/p references an invalid secret ns/client: secret doesn't exist or of an unsupported type",
			secrets: func(m map[string]Secret) { delete(m, "client") }},
		{name: "CA Secret Opaque", want: Return500, reason: "references an invalid secret ns/ca: secret doesn't exist or of an unsupported type",
			secrets: func(m map[string]Secret) { m["ca"] = Secret{Type: "Opaque", Data: m["ca"].Data} }},
		{name: "trustedCertSecret of type kubernetes.io/tls, verifyServer off", want: Return500,
			reason: "references a secret ns/client of a wrong type 'kubernetes.io/tls', must be 'nginx.org/ca'",
			spec: func() Spec {
				e := seed()
				e.TrustedCertSecret, e.VerifyServer = "client", false
				return Spec{EgressMTLS: e}
			}},
		{name: "tls.key of another certificate", want: Return500, reason: "failed to validate TLS cert and key: tls: private key does not match public key",
			secrets: func(m map[string]Secret) { m["client"].Data["tls.key"] = testCert(t).keyPEM }},
		{name: "ca.crt with a CRL first", want: Return500, reason: "the data field ca.crt must hold a valid CERTIFICATE PEM block, but got 'X509 CRL'",
			secrets: func(m map[string]Secret) {
				m["ca"].Data["ca.crt"] = append(pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: []byte{0}}), m["ca"].Data["ca.crt"]...)
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			spec := Spec{EgressMTLS: seed()}
			if tc.spec != nil {
				spec = tc.spec()
			}
			secrets := testSecrets(t)
			if tc.secrets != nil {
				tc.secrets(secrets)
			}
			d := Decide("ns", "p", spec, secrets, StaticSSLPath)
			if d.Outcome != tc.want || !strings.Contains(d.Reason, tc.reason) {
				t.Fatalf("decision %q %q, want %q containing %q", d.Outcome, d.Reason, tc.want, tc.reason)
			}
			if (d.Config != nil) != (tc.want == Render) {
				t.Fatalf("config %+v for outcome %s", d.Config, d.Outcome)
			}
		})
	}
}

func TestNames(t *testing.T) {
	if got := UpstreamName("ai-gateway", "aigw-mtls", "aigw"); got != "vs_ai-gateway_aigw-mtls_aigw" {
		t.Fatalf("UpstreamName = %q", got)
	}
	if got := string(TLSSecretContent([]byte("CRT"), []byte("KEY"))); got != "CRT\nKEY" {
		t.Fatalf("TLSSecretContent = %q", got)
	}
	if got := MakeSecretPath("/etc/nginx/secrets/ns-client", StaticSSLPath); got != "$secret_dir_path/ns-client" {
		t.Fatalf("MakeSecretPath = %q", got)
	}
}

type testKeyPair struct{ certPEM, keyPEM []byte }

func testCert(t *testing.T) testKeyPair {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return testKeyPair{
		certPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		keyPEM:  pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}),
	}
}

// testSecrets: "client" (kubernetes.io/tls) and "ca" (nginx.org/ca), both valid.
func testSecrets(t *testing.T) map[string]Secret {
	c := testCert(t)
	return map[string]Secret{
		"client": {Type: SecretTypeTLS, Data: map[string][]byte{"tls.crt": c.certPEM, "tls.key": c.keyPEM}},
		"ca":     {Type: SecretTypeCA, Data: map[string][]byte{"ca.crt": c.certPEM}},
	}
}

func keys(m map[string][]byte) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func TestDecideIngress(t *testing.T) {
	ours := Spec{EgressMTLS: &EgressMTLS{TLSSecret: "client", TrustedCertSecret: "ca", VerifyServer: true, SSLName: "aigw.ns.svc"}}
	legacy := Spec{EgressMTLS: &EgressMTLS{TLSSecret: "client", TrustedCertSecret: "ca", VerifyServer: true, SSLName: "legacy"}}
	rateLimit := Spec{RateLimit: &RateLimit{Rate: "10r/s", Key: "${binary_remote_addr}", ZoneSize: "10M"}}
	allow := Spec{AccessControl: &AccessControl{Allow: []string{"10.0.0.0/8"}}}
	for _, tc := range []struct {
		name    string
		pols    []IngressPolicy
		outcome Outcome
		sslName string
	}{
		{"first egressMTLS Policy applied, the second ignored", []IngressPolicy{{"allow", allow}, {"ours", ours}, {"legacy", legacy}}, Render, "aigw.ns.svc"},
		{"rateLimit is no Ingress policy type", []IngressPolicy{{"ours", ours}, {"rl", rateLimit}}, Return500, ""},
		{"an invalid Policy is missing", []IngressPolicy{{"two", Spec{AccessControl: allow.AccessControl, EgressMTLS: ours.EgressMTLS}}}, Invalid, ""},
		{"no egressMTLS Policy", []IngressPolicy{{"allow", allow}}, Render, ""},
	} {
		d := DecideIngress("ns", tc.pols, testSecrets(t), t.TempDir())
		if d.Outcome != tc.outcome {
			t.Errorf("%s: outcome %s, want %s", tc.name, d, tc.outcome)
			continue
		}
		got := ""
		if d.Config != nil {
			got = d.Config.SSLName
		}
		if got != tc.sslName {
			t.Errorf("%s: rendered sslName %q, want %q", tc.name, got, tc.sslName)
		}
	}
}
