package patches

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"text/template"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/aigw-mtls/aigw-mtls-webhook/internal/aigw"
	"github.com/aigw-mtls/aigw-mtls-webhook/internal/objects"
)

// validationNow is the moment the validation fixtures are judged at; the test certificates are
// valid from 2025 to 2125 unless their name says otherwise.
var validationNow = time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)

type testCert struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  []byte // the certificate, then its chain (without the root)
}

// testPKI builds the certificates the validation fixtures name: {{b64 "server"}} in a fixture is
// the base64 of that certificate's PEM (with its chain).
func testPKI(t testing.TB) map[string]*testCert {
	t.Helper()
	from, to := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2125, 1, 1, 0, 0, 0, 0, time.UTC)
	serial := int64(1)
	mk := func(cn string, dns []string, isCA bool, eku []x509.ExtKeyUsage, parent *testCert, nb, na time.Time) *testCert {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		serial++
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: cn}, DNSNames: dns,
			NotBefore: nb, NotAfter: na, IsCA: isCA, BasicConstraintsValid: true, ExtKeyUsage: eku,
			KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		}
		if isCA {
			tmpl.KeyUsage |= x509.KeyUsageCertSign
		}
		signer, signerKey := tmpl, key
		if parent != nil {
			signer, signerKey = parent.cert, parent.key
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, signer, &key.PublicKey, signerKey)
		if err != nil {
			t.Fatal(err)
		}
		c, _ := x509.ParseCertificate(der)
		p := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
		if parent != nil && parent.cert.Subject.String() != parent.cert.Issuer.String() {
			p = append(p, parent.pem...) // send the intermediate with the leaf, as cert-manager does
		}
		return &testCert{cert: c, key: key, pem: p}
	}
	server := []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	client := []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	svc := []string{"aigw.ai-gateway.svc.cluster.local", "aigw.ai-gateway.svc"}
	pki := map[string]*testCert{}
	pki["ca"] = mk("Internal CA", nil, true, nil, nil, from, to)
	pki["other-ca"] = mk("Other CA", nil, true, nil, nil, from, to)
	pki["expired-ca"] = mk("Expired CA", nil, true, nil, nil, time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2021, 1, 1, 0, 0, 0, 0, time.UTC))
	pki["intermediate"] = mk("Intermediate CA", nil, true, nil, pki["ca"], from, to)
	pki["server"] = mk("aigw.ai-gateway.svc.cluster.local", svc, false, server, pki["ca"], from, to)
	pki["server-wildcard"] = mk("aigw", []string{"*.ai-gateway.svc.cluster.local"}, false, server, pki["ca"], from, to)
	pki["server-cn-only"] = mk("aigw.ai-gateway.svc.cluster.local", nil, false, server, pki["ca"], from, to)
	pki["server-other-ca"] = mk("aigw.ai-gateway.svc.cluster.local", svc, false, server, pki["other-ca"], from, to)
	pki["server-via-intermediate"] = mk("aigw.ai-gateway.svc.cluster.local", svc, false, server, pki["intermediate"], from, to)
	pki["server-expired"] = mk("aigw.ai-gateway.svc.cluster.local", svc, false, server, pki["ca"], time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	pki["server-expiring"] = mk("aigw.ai-gateway.svc.cluster.local", svc, false, server, pki["ca"], from, validationNow.Add(10*24*time.Hour))
	pki["server-client-auth-only"] = mk("aigw.ai-gateway.svc.cluster.local", svc, false, client, pki["ca"], from, to)
	pki["client"] = mk("nginx-ingress-client", nil, false, client, pki["ca"], from, to)
	pki["client-other-ca"] = mk("nginx-ingress-client", nil, false, client, pki["other-ca"], from, to)
	pki["client-server-only"] = mk("nginx-ingress-client", nil, false, server, pki["ca"], from, to)
	return pki
}

// renderFixture expands {{b64 "name"}} in a fixture file.
func renderFixture(t *testing.T, path string, pki map[string]*testCert) ([]byte, bool) {
	t.Helper()
	b, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return nil, false
	}
	if err != nil {
		t.Fatal(err)
	}
	tmpl, err := template.New(filepath.Base(path)).Funcs(template.FuncMap{
		"b64": func(name string) (string, error) {
			c, ok := pki[name]
			if !ok {
				return "", os.ErrNotExist
			}
			return base64.StdEncoding.EncodeToString(c.pem), nil
		},
	}).Parse(string(b))
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	var out bytes.Buffer
	if err := tmpl.Execute(&out, nil); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return out.Bytes(), true
}

// runValidationFixtures runs v over every <case>.yaml in dir (the object admitted), with
// <case>.old.yaml as the object it replaces (an UPDATE) and the objects of <case>.objects.yaml, or
// else of the directory's objects.yaml, in the lookups. Expected: <case>.deny.txt and
// <case>.warnings.txt (absent: none).
func runValidationFixtures(t *testing.T, dir string, v Validation) {
	pki := testPKI(t)
	inputs, _ := filepath.Glob(filepath.Join(dir, "*.yaml"))
	ran := 0
	for _, in := range inputs {
		if strings.HasSuffix(in, ".objects.yaml") || strings.HasSuffix(in, ".old.yaml") || filepath.Base(in) == "objects.yaml" {
			continue
		}
		ran++
		name := strings.TrimSuffix(in, ".yaml")
		t.Run(filepath.Base(name), func(t *testing.T) {
			raw := fixtureJSON(t, in, pki)
			var old []byte
			if _, ok := renderFixture(t, name+".old.yaml", pki); ok {
				old = fixtureJSON(t, name+".old.yaml", pki)
			}
			objsFile := name + ".objects.yaml"
			if _, err := os.Stat(objsFile); err != nil {
				objsFile = filepath.Join(dir, "objects.yaml")
			}
			objs := objects.NewObjectSet("ai-gateway")
			if b, ok := renderFixture(t, objsFile, pki); ok {
				for _, doc := range strings.Split(string(b), "\n---\n") {
					j, err := yaml.YAMLToJSON([]byte(doc))
					if err != nil {
						t.Fatalf("%s: %v", objsFile, err)
					}
					objs.Add("ai-gateway", j)
				}
			}
			res, err := v(raw, old, "ai-gateway", aigw.DefaultSettings(), objs, validationNow)
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Patch) != 0 {
				t.Errorf("a validation returned a patch: %v", res.Patch)
			}
			checkLines(t, name+".deny.txt", res.Conflicts)
			checkLines(t, name+".warnings.txt", res.Warnings)
		})
	}
	if ran == 0 {
		t.Fatalf("no fixtures in %s", dir)
	}
}

func fixtureJSON(t *testing.T, path string, pki map[string]*testCert) []byte {
	t.Helper()
	b, _ := renderFixture(t, path, pki)
	j, err := yaml.YAMLToJSON(b)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return j
}

func policyValidation(raw, _ []byte, ns string, s aigw.Settings, objs objects.Objects, now time.Time) (Result, error) {
	return ValidatePolicy(raw, ns, s, objs, now)
}

func TestPolicyValidationFixtures(t *testing.T) {
	runValidationFixtures(t, "testdata/policy", policyValidation)
}

func TestVirtualServerValidationFixtures(t *testing.T) {
	runValidationFixtures(t, "testdata/policy-via-virtualserver", ValidationFor("k8s.nginx.org/v1", "VirtualServer"))
}

func TestCertificateValidationFixtures(t *testing.T) {
	runValidationFixtures(t, "testdata/certificate", ValidateCertificate)
}
