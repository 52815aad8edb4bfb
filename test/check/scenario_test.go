package check

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"testing"
	"time"

	cmapi "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/aigw-mtls/aigw-mtls-webhook/test/harness"
)

var (
	vsGVR     = schema.GroupVersionResource{Group: "k8s.nginx.org", Version: "v1", Resource: "virtualservers"}
	policyGVR = schema.GroupVersionResource{Group: "k8s.nginx.org", Version: "v1", Resource: "policies"}
)

// scenario is the walkthrough's setup in one namespace: the PKI issued as cert-manager would, the
// seed Policy, VirtualServer, ConfigMap and pod admitted through the webhook, the aigw Service.
type scenario struct {
	ns                 string
	ca, server, client *harness.Issued
	caCrt, serverCrt   *cmapi.Certificate
	clientCrt          *cmapi.Certificate
}

// scenarioOption changes how a scenario is built.
type scenarioOption func(*scenarioConfig)

type scenarioConfig struct {
	// internalCA, when set, is created by hand before cert-manager's CA Secret, so the CA sync
	// leaves it alone (it never overwrites a Secret it does not own).
	internalCA func(ca *harness.Issued) *corev1.Secret
	// backdateCA makes the CA valid since three days ago, as a CA in use for a while is, so a
	// certificate it issued can already have expired.
	backdateCA bool
	// noControllerVerdicts leaves out what NGINX Ingress Controller writes once it serves the
	// objects (acceptAsNIC): a cluster where it has not processed them yet.
	noControllerVerdicts bool
}

// runs counts the namespaces made from each base name, so that -count=N reruns in the same
// control plane get fresh ones.
var runs = map[string]int{}

// freshNamespace returns base the first time, then base-2, base-3...
func freshNamespace(base string) string {
	runs[base]++
	if runs[base] == 1 {
		return base
	}
	return fmt.Sprintf("%s-%d", base, runs[base])
}

// newScenario builds the healthy setup in a fresh namespace named after base, in the order a GitOps tool might apply
// it: the wiring first (admitted through the webhook, with warnings while the certificates are
// missing), then the certificates, then internal-ca from the CA sync, then NGINX Ingress
// Controller's verdicts (it accepts the objects).
func newScenario(t *testing.T, base string, opts ...scenarioOption) *scenario {
	t.Helper()
	ns := freshNamespace(base)
	var cfg scenarioConfig
	for _, o := range opts {
		o(&cfg)
	}
	ctx := context.Background()
	sc := &scenario{ns: ns}
	must(t, kube.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}))
	must(t, kube.Create(ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "aigw", Namespace: ns},
		Spec: corev1.ServiceSpec{
			Selector: map[string]string{"app.kubernetes.io/name": "aigw"},
			Ports:    []corev1.ServicePort{{Name: "https", Port: 80, TargetPort: intstr.FromInt32(4141)}},
		},
	}))

	policy := sample(t, "aigw-policy.yaml", ns)
	must(t, unstructured.SetNestedField(policy.Object, "aigw."+ns+".svc.cluster.local", "spec", "egressMTLS", "sslName"))
	_, err := dyn.Resource(policyGVR).Namespace(ns).Create(ctx, policy, metav1.CreateOptions{})
	must(t, err)
	vs := sample(t, "aigw-virtualserver.yaml", ns)
	must(t, unstructured.SetNestedField(vs.Object, ns+".example.com", "spec", "host"))
	_, err = dyn.Resource(vsGVR).Namespace(ns).Create(ctx, vs, metav1.CreateOptions{})
	must(t, err)
	// The webhook reads which backends are aigw from the Policy's sslName: wait until its cache
	// holds the Policy (a dry run wires the Ingress), then create it.
	eventually(t, "the webhook sees the Policy", func() error {
		ing := sample(t, "aigw-ingress.yaml", ns)
		if err := kube.Create(ctx, ing, client.DryRunAll); err != nil {
			return err
		}
		if ing.GetAnnotations()["nginx.org/ssl-services"] != "aigw" {
			return fmt.Errorf("Ingress not wired yet: %v", ing.GetAnnotations())
		}
		return nil
	})
	must(t, kube.Create(ctx, sample(t, "aigw-ingress.yaml", ns)))
	must(t, kube.Create(ctx, sample(t, "aigw-config.yaml", ns)))
	must(t, kube.Create(ctx, sample(t, "aigw-pod.yaml", ns)))

	sc.caCrt, sc.serverCrt, sc.clientCrt = harness.SeedCertificates(ns)
	sc.ca = issue(t, sc.caCrt, nil)
	if cfg.backdateCA {
		sc.ca = backdate(t, sc.ca, 72*time.Hour)
	}
	sc.server = issue(t, sc.serverCrt, sc.ca)
	sc.client = issue(t, sc.clientCrt, sc.ca)
	if cfg.internalCA != nil {
		sec := cfg.internalCA(sc.ca)
		sec.Namespace = ns
		must(t, kube.Create(ctx, sec))
	}
	for _, c := range []struct {
		crt    *cmapi.Certificate
		issued *harness.Issued
	}{{sc.caCrt, sc.ca}, {sc.serverCrt, sc.server}, {sc.clientCrt, sc.client}} {
		must(t, kube.Create(ctx, c.crt))
		must(t, kube.Create(ctx, c.issued.Secret(c.crt)))
	}
	eventually(t, "internal-ca in "+ns, func() error {
		var s corev1.Secret
		if err := kube.Get(ctx, client.ObjectKey{Namespace: ns, Name: "internal-ca"}, &s); err != nil {
			return err
		}
		if cfg.internalCA == nil && s.Type != "nginx.org/ca" {
			return fmt.Errorf("not synced yet: type %s", s.Type)
		}
		return nil
	})
	if !cfg.noControllerVerdicts {
		acceptAsNIC(t, ns, time.Now())
	}
	return sc
}

// sample reads a manifest of config/samples into namespace ns.
func sample(t *testing.T, file, ns string) *unstructured.Unstructured {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(harness.RepoRoot(), "config", "samples", file))
	must(t, err)
	u := &unstructured.Unstructured{}
	must(t, yaml.Unmarshal(b, &u.Object))
	u.SetNamespace(ns)
	return u
}

func issue(t *testing.T, crt *cmapi.Certificate, by *harness.Issued) *harness.Issued {
	t.Helper()
	i, err := harness.Issue(crt, by)
	must(t, err)
	return i
}

// replaceSecretData writes new data into an existing Secret, as a renewal does.
func replaceSecretData(t *testing.T, ns, name string, data map[string][]byte) {
	t.Helper()
	ctx := context.Background()
	var s corev1.Secret
	must(t, kube.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, &s))
	s.Data = data
	must(t, kube.Update(ctx, &s))
}

// backdate re-signs a self-signed CA with the same key, valid from d ago.
func backdate(t *testing.T, ca *harness.Issued, d time.Duration) *harness.Issued {
	t.Helper()
	tmpl := *ca.Cert
	tmpl.NotBefore = ca.Cert.NotBefore.Add(-d)
	der, err := x509.CreateCertificate(rand.Reader, &tmpl, &tmpl, ca.Key.Public(), ca.Key)
	must(t, err)
	cert, err := x509.ParseCertificate(der)
	must(t, err)
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	return &harness.Issued{Cert: cert, Key: ca.Key, CertPEM: certPEM, KeyPEM: ca.KeyPEM, CAPEM: certPEM}
}

// expiredClientCert signs a client certificate with ca that expired yesterday.
func expiredClientCert(t *testing.T, ca *harness.Issued, cn string) (certPEM, keyPEM []byte) {
	t.Helper()
	leaf := issue(t, &cmapi.Certificate{ObjectMeta: metav1.ObjectMeta{Name: "key-only"}, Spec: cmapi.CertificateSpec{
		CommonName: cn, PrivateKey: &cmapi.CertificatePrivateKey{Algorithm: cmapi.ECDSAKeyAlgorithm, Size: 256},
	}}, nil)
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(now.UnixNano()),
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    now.Add(-48 * time.Hour),
		NotAfter:     now.Add(-24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, leaf.Key.Public(), ca.Key)
	must(t, err)
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), leaf.KeyPEM
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
