package e2e

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"

	cmapi "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/aigw-mtls/aigw-mtls-webhook/test/harness"
)

var (
	pkiOnce sync.Once
	pkiErr  error
	seedPKI struct{ ca, server, client *harness.Issued }
)

// issueSeedPKI issues the walkthrough's CA, server and client certificates from cert-manager
// Certificates (as cert-manager would) into namespace ai-gateway, and waits until the CA sync has
// written internal-ca and the webhook's cache sees all of them.
func issueSeedPKI(t *testing.T) {
	t.Helper()
	pkiOnce.Do(func() { pkiErr = doIssueSeedPKI() })
	if pkiErr != nil {
		t.Fatal(pkiErr)
	}
}

func doIssueSeedPKI() error {
	ctx := context.Background()
	caCrt, serverCrt, clientCrt := harness.SeedCertificates(ns)
	var err error
	if seedPKI.ca, err = harness.Issue(caCrt, nil); err != nil {
		return err
	}
	if seedPKI.server, err = harness.Issue(serverCrt, seedPKI.ca); err != nil {
		return err
	}
	if seedPKI.client, err = harness.Issue(clientCrt, seedPKI.ca); err != nil {
		return err
	}
	for _, c := range []struct {
		crt    *cmapi.Certificate
		issued *harness.Issued
	}{{caCrt, seedPKI.ca}, {serverCrt, seedPKI.server}, {clientCrt, seedPKI.client}} {
		if err := env.Client.Create(ctx, c.crt); err != nil {
			return fmt.Errorf("Certificate %s: %w", c.crt.Name, err)
		}
		if err := env.Client.Create(ctx, c.issued.Secret(c.crt)); err != nil {
			return fmt.Errorf("Secret %s: %w", c.crt.Spec.SecretName, err)
		}
	}
	// The webhook's CA sync writes internal-ca (nginx.org/ca) from aigw-ca.
	return pollErr(func() error {
		var s corev1.Secret
		if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "internal-ca"}, &s); err != nil {
			return err
		}
		if s.Type != "nginx.org/ca" || string(s.Data["ca.crt"]) != string(seedPKI.ca.CertPEM) {
			return fmt.Errorf("internal-ca not synced yet: type %s", s.Type)
		}
		return nil
	})
}

func policyWith(name, namespace, sslName string) *unstructured.Unstructured {
	u := unstructuredSample(nil, "aigw-policy.yaml")
	u.SetName(name)
	u.SetNamespace(namespace)
	eg := u.Object["spec"].(map[string]any)["egressMTLS"].(map[string]any)
	if sslName == "" {
		delete(eg, "sslName")
	} else {
		eg["sslName"] = sslName
	}
	return u
}

func TestSeedPolicyIsAdmittedAndBadOnesRefused(t *testing.T) {
	issueSeedPKI(t)
	ctx := context.Background()
	// The seed's Policy, against the issued certificates: admitted with no warning.
	mark := warnings.mark()
	if _, err := dyn.Resource(policyGVR).Namespace(ns).Create(ctx, policyWith("aigw-mtls", ns, "aigw.ai-gateway.svc.cluster.local"), metav1.CreateOptions{}); err != nil {
		t.Fatalf("seed Policy refused: %v", err)
	}
	if w := warnings.since(mark); w != "" {
		t.Errorf("seed Policy: want no warning, got %q", w)
	}

	wrong := `Policy/ai-gateway/wrong-name: [POLICY_SSLNAME_NOT_IN_SAN] spec.egressMTLS.sslName: expected a name the aigw server certificate (Secret ai-gateway/aigw-server-tls) covers as nginx checks it, one of [aigw.ai-gateway.svc.cluster.local, aigw.ai-gateway.svc], found "aigw.example.com" (nginx answers 502: the TLS handshake with aigw fails); fix: set sslName to aigw.ai-gateway.svc.cluster.local`
	_, err := dyn.Resource(policyGVR).Namespace(ns).Create(ctx, policyWith("wrong-name", ns, "aigw.example.com"), metav1.CreateOptions{})
	if err == nil || !strings.Contains(err.Error(), wrong) {
		t.Errorf("wrong sslName: want %q, got %v", wrong, err)
	}
	_, err = dyn.Resource(policyGVR).Namespace(ns).Create(ctx, policyWith("no-name", ns, ""), metav1.CreateOptions{})
	if err == nil || !strings.Contains(err.Error(), "[POLICY_SSLNAME_MISSING] spec.egressMTLS.sslName: expected the aigw server certificate's name when verifyServer is true, found none") {
		t.Errorf("missing sslName: got %v", err)
	}
}

func TestVirtualServerReferencingABadPolicyIsRefused(t *testing.T) {
	issueSeedPKI(t)
	ctx := context.Background()
	bad := policyWith("legacy-bad", ns, "aigw")
	bad.SetLabels(nil) // not validated on its own
	if _, err := dyn.Resource(policyGVR).Namespace(ns).Create(ctx, bad, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	vs := unstructuredSample(t, "aigw-virtualserver.yaml")
	vs.SetName("legacy-vs")
	vs.Object["spec"].(map[string]any)["host"] = "legacy.example.com"
	annotations := map[string]string{"mtls.aigw.io/policy": "legacy-bad"}
	vs.SetAnnotations(annotations)
	want := `VirtualServer/ai-gateway/legacy-vs: spec.routes[0].policies[0] references Policy/ai-gateway/legacy-bad: [POLICY_SSLNAME_NOT_IN_SAN] spec.egressMTLS.sslName`
	eventually(t, "refusal once the Policy is cached", func() error {
		_, err := dyn.Resource(vsGVR).Namespace(ns).Create(ctx, vs, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		if err == nil || !strings.Contains(err.Error(), want) {
			return fmt.Errorf("want %q, got %v", want, err)
		}
		return nil
	})
}

func TestCertificateUpdateThatBreaksAPolicyIsRefused(t *testing.T) {
	issueSeedPKI(t)
	ctx := context.Background()
	p := policyWith("uses-short-name", ns, "aigw.ai-gateway.svc")
	if _, err := dyn.Resource(policyGVR).Namespace(ns).Create(ctx, p, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	var crt cmapi.Certificate
	if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "aigw-server"}, &crt); err != nil {
		t.Fatal(err)
	}
	crt.Spec.DNSNames = []string{"aigw.ai-gateway.svc.cluster.local"}
	want := "Certificate/ai-gateway/aigw-server: [CERTIFICATE_DROPS_SSLNAME] spec.dnsNames: expected names covering the sslName of every Policy that uses this certificate: Policy/ai-gateway/uses-short-name (sslName aigw.ai-gateway.svc)"
	eventually(t, "refusal once the Policy is cached", func() error {
		err := env.Client.Update(ctx, crt.DeepCopy(), client.DryRunAll)
		if err == nil || !strings.Contains(err.Error(), want) {
			return fmt.Errorf("want %q, got %v", want, err)
		}
		return nil
	})
	// Adding a name is fine.
	crt.Spec.DNSNames = []string{"aigw.ai-gateway.svc.cluster.local", "aigw.ai-gateway.svc", "aigw"}
	if err := env.Client.Update(ctx, &crt); err != nil {
		t.Errorf("adding a DNS name was refused: %v", err)
	}
}

func TestRenewalThatBreaksAPolicyIsNotBlockedButReported(t *testing.T) {
	issueSeedPKI(t)
	ctx := context.Background()
	const space = "renewal"
	if err := env.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: space}}); err != nil {
		t.Fatal(err)
	}
	caCrt, serverCrt, clientCrt := harness.SeedCertificates(space)
	for _, c := range []*cmapi.Certificate{caCrt, clientCrt, serverCrt} {
		c.Namespace = space
	}
	serverCrt.Spec.DNSNames = []string{"aigw.renewal.svc.cluster.local"}
	issue := func(crt *cmapi.Certificate, by *harness.Issued) *corev1.Secret {
		i, err := harness.Issue(crt, by)
		if err != nil {
			t.Fatal(err)
		}
		return i.Secret(crt)
	}
	ca, err := harness.Issue(caCrt, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []*corev1.Secret{ca.Secret(caCrt), issue(clientCrt, ca), issue(serverCrt, ca)} {
		if err := env.Client.Create(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := dyn.Resource(policyGVR).Namespace(space).Create(ctx, policyWith("aigw-mtls", space, "aigw.renewal.svc.cluster.local"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// A renewal (a Secret write) that no longer covers sslName: never blocked...
	serverCrt.Spec.DNSNames = []string{"other.renewal.svc.cluster.local"}
	renewed := issue(serverCrt, ca)
	var current corev1.Secret
	if err := env.Client.Get(ctx, client.ObjectKeyFromObject(renewed), &current); err != nil {
		t.Fatal(err)
	}
	current.Data = renewed.Data
	if err := env.Client.Update(ctx, &current); err != nil {
		t.Fatalf("a certificate renewal must never be blocked: %v", err)
	}
	// ...but reported: a Warning Event on the Policy.
	eventually(t, "EgressMTLSBroken event on the Policy", func() error {
		evs, err := kube.EventsV1().Events(space).List(ctx, metav1.ListOptions{})
		if err != nil {
			return err
		}
		for _, e := range evs.Items {
			if e.Reason == "EgressMTLSBroken" && e.Regarding.Name == "aigw-mtls" && strings.Contains(e.Note, "spec.egressMTLS.sslName") {
				return nil
			}
		}
		return fmt.Errorf("no EgressMTLSBroken event among %d events", len(evs.Items))
	})
}

func TestPolicyBeforeItsCertificatesIsAdmittedWithAWarning(t *testing.T) {
	ctx := context.Background()
	const space = "gitops-order"
	if err := env.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: space}}); err != nil {
		t.Fatal(err)
	}
	mark := warnings.mark()
	if _, err := dyn.Resource(policyGVR).Namespace(space).Create(ctx, policyWith("aigw-mtls", space, "aigw.gitops-order.svc.cluster.local"), metav1.CreateOptions{}); err != nil {
		t.Fatalf("a Policy applied before its certificates must be admitted: %v", err)
	}
	w := warnings.since(mark)
	if !strings.Contains(w, "Policy/gitops-order/aigw-mtls: [SERVER_CERT_NOT_FOUND] spec.egressMTLS.sslName: cannot be checked yet") {
		t.Errorf("want the warning kubectl prints, got %q", w)
	}
}
