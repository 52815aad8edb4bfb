package check

import (
	"context"
	"strings"
	"testing"

	cmapi "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/aigw-mtls/aigw-mtls-webhook/test/harness"
)

// As the chart installs it: the configurations call a Service, cainjector fills the caBundle from
// the serving Certificate named by cert-manager.io/inject-ca-from. check verifies the caBundle
// against that Certificate's Secret and counts the Service's ready endpoints. These
// configurations match no object (their objectSelector), so the API server never calls them.
func TestWebhookBehindAService(t *testing.T) {
	const name = "svc-hooks"
	ctx := context.Background()
	app := newScenario(t, "svc-hook-app")
	hookNS := freshNamespace("svc-hook-system")
	must(t, kube.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: hookNS}}))

	caCrt, _, _ := harness.SeedCertificates(hookNS)
	caCrt.Spec.CommonName = "svc-hooks webhook CA"
	ca := issue(t, caCrt, nil)
	serving := &cmapi.Certificate{
		ObjectMeta: metav1.ObjectMeta{Name: "svc-hooks-serving", Namespace: hookNS},
		Spec: cmapi.CertificateSpec{
			SecretName: "svc-hooks-serving-tls",
			DNSNames:   []string{name + "." + hookNS + ".svc", name + "." + hookNS + ".svc.cluster.local"},
			Usages:     []cmapi.KeyUsage{cmapi.UsageServerAuth, cmapi.UsageDigitalSignature},
			PrivateKey: &cmapi.CertificatePrivateKey{Algorithm: cmapi.ECDSAKeyAlgorithm, Size: 256},
			IssuerRef:  caCrt.Spec.IssuerRef,
		},
	}
	must(t, kube.Create(ctx, serving))
	must(t, kube.Create(ctx, issue(t, serving, ca).Secret(serving)))
	must(t, kube.Create(ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: hookNS},
		Spec:       corev1.ServiceSpec{Selector: map[string]string{"app": name}, Ports: []corev1.ServicePort{{Name: "https", Port: 443}}},
	}))
	slice := &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Name: name + "-1", Namespace: hookNS, Labels: map[string]string{discoveryv1.LabelServiceName: name}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints:   []discoveryv1.Endpoint{{Addresses: []string{"10.0.0.7"}, Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)}}},
		Ports:       []discoveryv1.EndpointPort{{Name: ptr.To("https"), Port: ptr.To[int32](9443)}},
	}
	must(t, kube.Create(ctx, slice))

	clientConfig := admissionregistrationv1.WebhookClientConfig{
		Service:  &admissionregistrationv1.ServiceReference{Namespace: hookNS, Name: name, Path: ptr.To("/mutate-v1-pod"), Port: ptr.To[int32](443)},
		CABundle: ca.CAPEM, // what cainjector writes
	}
	common := admissionregistrationv1.ValidatingWebhook{
		Name: "pods" + ".svc-hooks.example.com", ClientConfig: clientConfig, AdmissionReviewVersions: []string{"v1"},
		SideEffects:    ptr.To(admissionregistrationv1.SideEffectClassNone),
		ObjectSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"never": "matches"}},
		Rules: []admissionregistrationv1.RuleWithOperations{{Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create},
			Rule: admissionregistrationv1.Rule{APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"pods"}}}},
	}
	annotations := map[string]string{"cert-manager.io/inject-ca-from": hookNS + "/" + serving.Name}
	mutating := &admissionregistrationv1.MutatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: name, Annotations: annotations},
		Webhooks: []admissionregistrationv1.MutatingWebhook{{Name: common.Name, ClientConfig: common.ClientConfig, AdmissionReviewVersions: common.AdmissionReviewVersions,
			SideEffects: common.SideEffects, ObjectSelector: common.ObjectSelector, Rules: common.Rules}},
	}
	validating := &admissionregistrationv1.ValidatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: name, Annotations: annotations},
		Webhooks:   []admissionregistrationv1.ValidatingWebhook{common},
	}
	must(t, kube.Create(ctx, mutating))
	must(t, kube.Create(ctx, validating))
	t.Cleanup(func() {
		_ = kube.Delete(ctx, mutating)
		_ = kube.Delete(ctx, validating)
	})

	check := func(t *testing.T, wantCode int, want ...string) {
		t.Helper()
		out, code := runCheck(t, "-n", app.ns, "--webhook-name", name)
		if code != wantCode {
			t.Errorf("exit code %d, want %d", code, wantCode)
		}
		for _, w := range want {
			if w = strings.ReplaceAll(w, "{hookNS}", hookNS); !strings.Contains(out, w) {
				t.Errorf("missing %q", w)
			}
		}
		if t.Failed() {
			t.Logf("check -n %s --webhook-name %s:\n%s", app.ns, name, out)
		}
	}
	t.Run("healthy", func(t *testing.T) {
		check(t, 0,
			"✓ MutatingWebhookConfiguration/svc-hooks: caBundle verifies the serving certificate in Secret {hookNS}/svc-hooks-serving-tls (DNS:svc-hooks.{hookNS}.svc,svc-hooks.{hookNS}.svc.cluster.local, expires in ",
			"✓ MutatingWebhookConfiguration/svc-hooks: Service {hookNS}/svc-hooks:443 has 1 ready endpoint(s)\n",
			"✓ ValidatingWebhookConfiguration/svc-hooks: Service {hookNS}/svc-hooks:443 has 1 ready endpoint(s)\n")
	})
	t.Run("no ready endpoint", func(t *testing.T) {
		slice.Endpoints[0].Conditions.Ready = ptr.To(false)
		must(t, kube.Update(ctx, slice))
		check(t, 1, "✗ MutatingWebhookConfiguration/svc-hooks: Service {hookNS}/svc-hooks has no ready endpoint: the API server refuses the labelled objects these webhooks receive (failurePolicy Fail)\n")
	})
	t.Run("caBundle from another CA", func(t *testing.T) {
		var m admissionregistrationv1.MutatingWebhookConfiguration
		must(t, kube.Get(ctx, client.ObjectKeyFromObject(mutating), &m))
		m.Webhooks[0].ClientConfig.CABundle = app.ca.CAPEM
		must(t, kube.Update(ctx, &m))
		check(t, 1, "✗ MutatingWebhookConfiguration/svc-hooks: the caBundle of webhook(s) pods.svc-hooks.example.com does not verify the serving certificate in Secret {hookNS}/svc-hooks-serving-tls (DNS:svc-hooks.{hookNS}.svc,svc-hooks.{hookNS}.svc.cluster.local, issued by CN=svc-hooks webhook CA): x509: certificate signed by unknown authority; the API server refuses the labelled objects these webhooks receive (failurePolicy Fail)\n")
	})
	t.Run("configuration missing", func(t *testing.T) {
		must(t, kube.Delete(ctx, validating))
		check(t, 1, "✗ ValidatingWebhookConfiguration/svc-hooks: not found: EgressMTLS Policies, VirtualServers and Ingresses are not validated\n")
	})
}
