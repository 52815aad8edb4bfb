package nginx_test

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	cmapi "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"

	"github.com/aigw-mtls/aigw-mtls-webhook/test/harness"
)

// chartVariants are the seed's Policy with certificates issued, as cert-manager would, from the
// Certificates and Issuers the Helm chart renders with its default values: the proof that what
// the chart installs gives a working mTLS hop through real nginx.
func chartVariants(t *testing.T) []variant {
	helm := os.Getenv("HELM")
	if helm == "" {
		helm = filepath.Join(harness.RepoRoot(), "bin", "helm")
	}
	if _, err := os.Stat(helm); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("helm not found at %s (make helm installs it)", helm)
		}
		t.Logf("helm not found at %s: the chart's certificates are not exercised (make helm installs it)", helm)
		return nil
	}
	out, err := exec.Command(helm, "template", "aigw-mtls-webhook", filepath.Join(harness.RepoRoot(), "charts", "aigw-mtls-webhook"),
		"--namespace", "aigw-mtls-system").CombinedOutput()
	if err != nil {
		t.Fatalf("helm template: %v\n%s", err, out)
	}
	issued := issueChartCertificates(t, out, namespace)
	server, client, ca := issued["aigw-server-tls"], issued["aigw-nic-client-tls"], issued["aigw-ca"]
	if server == nil || client == nil || ca == nil {
		t.Fatalf("the chart's PKI lacks aigw-server-tls, aigw-nic-client-tls or aigw-ca: %v", keys(issued))
	}
	asCert := func(i *harness.Issued) *cert { return &cert{x509: i.Cert, der: i.Cert.Raw, key: i.Key} }
	return []variant{{
		name: "chart PKI (cert-manager Certificates of the chart)",
		build: func(*fixtures) setup {
			return setup{
				policy:      seedPolicy(),
				serverChain: []*cert{asCert(server)},
				clientChain: []*cert{asCert(client)},
				ca:          []*cert{asCert(ca)},
			}
		},
		nginxOK: true,
	}}
}

// issueChartCertificates issues every Certificate of namespace in a rendered chart, following
// issuerRef to SelfSigned and CA Issuers, and returns them by secretName.
func issueChartCertificates(t *testing.T, rendered []byte, namespace string) map[string]*harness.Issued {
	t.Helper()
	issuers := map[string]cmapi.Issuer{}
	var certs []*cmapi.Certificate
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(rendered)))
	for {
		doc, err := r.Read()
		if err != nil {
			break
		}
		var meta struct{ Kind string }
		if yaml.Unmarshal(doc, &meta) != nil {
			continue
		}
		switch meta.Kind {
		case "Issuer":
			var i cmapi.Issuer
			if err := yaml.UnmarshalStrict(doc, &i); err != nil {
				t.Fatalf("Issuer: %v", err)
			}
			if i.Namespace == namespace {
				issuers[i.Name] = i
			}
		case "Certificate":
			var c cmapi.Certificate
			if err := yaml.UnmarshalStrict(doc, &c); err != nil {
				t.Fatalf("Certificate: %v", err)
			}
			if c.Namespace == namespace {
				certs = append(certs, &c)
			}
		}
	}
	issued := map[string]*harness.Issued{}
	for len(issued) < len(certs) {
		progress := false
		for _, c := range certs {
			if issued[c.Spec.SecretName] != nil {
				continue
			}
			iss, ok := issuers[c.Spec.IssuerRef.Name]
			if !ok {
				t.Fatalf("Certificate %s: Issuer %s not rendered", c.Name, c.Spec.IssuerRef.Name)
			}
			var by *harness.Issued
			switch {
			case iss.Spec.SelfSigned != nil:
			case iss.Spec.CA != nil:
				if by = issued[iss.Spec.CA.SecretName]; by == nil {
					continue // its CA is not issued yet
				}
			default:
				t.Fatalf("Issuer %s: only SelfSigned and CA issuers are expected in the chart", iss.Name)
			}
			i, err := harness.Issue(c, by)
			if err != nil {
				t.Fatalf("issuing %s: %v", c.Name, err)
			}
			issued[c.Spec.SecretName] = i
			progress = true
		}
		if !progress {
			t.Fatalf("the chart's Certificates cannot all be issued (issuer cycle or missing CA)")
		}
	}
	return issued
}

func keys(m map[string]*harness.Issued) string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return strings.Join(out, ", ")
}
