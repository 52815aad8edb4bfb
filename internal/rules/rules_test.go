package rules

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"flag"
	"math/big"
	"os"
	"path/filepath"
	"reflect"
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
			tmpl.KeyUsage |= x509.KeyUsageCertSign | x509.KeyUsageCRLSign
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
		// b64cat: several certificates' PEM, one after the other (a CA bundle).
		"b64cat": func(names ...string) (string, error) {
			var all []byte
			for _, name := range names {
				c, ok := pki[name]
				if !ok {
					return "", os.ErrNotExist
				}
				all = append(all, c.pem...)
			}
			return base64.StdEncoding.EncodeToString(all), nil
		},
		// b64key: the PEM private key of a certificate.
		"b64key": func(name string) (string, error) {
			c, ok := pki[name]
			if !ok {
				return "", os.ErrNotExist
			}
			der, err := x509.MarshalECPrivateKey(c.key)
			if err != nil {
				return "", err
			}
			return base64.StdEncoding.EncodeToString(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der})), nil
		},
		// b64crlca: a CRL signed by the CA, then the CA: a bundle whose first PEM block is no certificate.
		"b64crlca": func() (string, error) {
			ca := pki["ca"]
			der, err := x509.CreateRevocationList(rand.Reader, &x509.RevocationList{Number: big.NewInt(1), ThisUpdate: validationNow, NextUpdate: validationNow.Add(time.Hour)}, ca.cert, ca.key)
			if err != nil {
				return "", err
			}
			return base64.StdEncoding.EncodeToString(append(pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: der}), ca.pem...)), nil
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
func runValidationFixtures(t *testing.T, dir string, v Rule) {
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
			fs, err := v(raw, old, "ai-gateway", aigw.DefaultSettings(), objs, validationNow)
			if err != nil {
				t.Fatal(err)
			}
			for _, f := range fs {
				if f.Object == "" || f.Field == "" || f.Found == "" || f.Consequence == "" || (f.Severity == Error && (f.Expected == "" || f.Fix == "")) {
					t.Errorf("incomplete finding: %+v", f)
				}
			}
			checkLines(t, name+".deny.txt", fs.Errors())
			checkLines(t, name+".warnings.txt", fs.Warnings())
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

func TestPolicyFixtures(t *testing.T) {
	runValidationFixtures(t, "testdata/policy", For("k8s.nginx.org/v1", "Policy"))
}

func TestVirtualServerFixtures(t *testing.T) {
	runValidationFixtures(t, "testdata/policy-via-virtualserver", For("k8s.nginx.org/v1", "VirtualServer"))
}

func TestCertificateFixtures(t *testing.T) {
	runValidationFixtures(t, "testdata/certificate", For("cert-manager.io/v1", "Certificate"))
}

var update = flag.Bool("update", false, "rewrite the expected fixture files from the current output")

func checkLines(t *testing.T, path string, got []string) {
	t.Helper()
	if *update {
		if len(got) == 0 {
			_ = os.Remove(path)
			return
		}
		if err := os.WriteFile(path, []byte(strings.Join(got, "\n")+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	var want []string
	if b, err := os.ReadFile(path); err == nil {
		want = strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	}
	if !reflect.DeepEqual(want, got) && !(len(want) == 0 && len(got) == 0) {
		t.Errorf("%s:\nwant %q\ngot  %q", filepath.Base(path), want, got)
	}
}
