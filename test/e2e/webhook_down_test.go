package e2e

import (
	"context"
	"strings"
	"testing"

	cmapi "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	cmmeta "github.com/cert-manager/cert-manager/pkg/apis/meta/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// With the webhook down, the API server fails closed for labelled objects only: the objectSelector
// keeps every other pod and ConfigMap out of the webhook's path.
func TestWebhookDownRefusesOnlyLabelledObjects(t *testing.T) {
	ctx := context.Background()
	running := pod("down-running", true)
	if err := env.Client.Create(ctx, running); err != nil {
		t.Fatal(err)
	}
	if err := hook.Stop(); err != nil {
		t.Fatalf("stopping the webhook: %v", err)
	}
	t.Cleanup(func() {
		if err := startWebhook(); err != nil {
			t.Fatalf("restarting the webhook: %v", err)
		}
	})

	err := env.Client.Create(ctx, pod("down-labelled", true))
	if err == nil || !strings.Contains(err.Error(), `failed calling webhook "pods.mtls.aigw.io"`) {
		t.Errorf("labelled pod with the webhook down: want refused by pods.mtls.aigw.io, got %v", err)
	}
	if err := env.Client.Create(ctx, pod("down-plain", false)); err != nil {
		t.Errorf("unlabelled pod with the webhook down must create: %v", err)
	}
	// A running labelled pod's label edits (and finalizer removals) still go through.
	running.Labels["edited-while-down"] = "yes"
	if err := env.Client.Update(ctx, running); err != nil {
		t.Errorf("updating a labelled pod with the webhook down must succeed: %v", err)
	}

	labelled := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "down-labelled", Namespace: ns, Labels: map[string]string{"aigw": "mtls"}}}
	err = env.Client.Create(ctx, labelled)
	if err == nil || !strings.Contains(err.Error(), `failed calling webhook "configmaps.mtls.aigw.io"`) {
		t.Errorf("labelled ConfigMap with the webhook down: want refused by configmaps.mtls.aigw.io, got %v", err)
	}
	if err := env.Client.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "down-plain", Namespace: ns}}); err != nil {
		t.Errorf("unlabelled ConfigMap with the webhook down must create: %v", err)
	}

	// A new labelled Certificate is only ever warned about: its CREATE goes through (the chart's
	// failurePolicy Ignore for it), while an UPDATE, which may be refused, fails closed.
	crt := &cmapi.Certificate{
		ObjectMeta: metav1.ObjectMeta{Name: "down-certificate", Namespace: ns, Labels: map[string]string{"aigw": "mtls"}},
		Spec: cmapi.CertificateSpec{SecretName: "down-certificate-tls", DNSNames: []string{"aigw." + ns + ".svc.cluster.local"},
			IssuerRef: cmmeta.IssuerReference{Name: "aigw-ca-issuer"}},
	}
	if err := env.Client.Create(ctx, crt); err != nil {
		t.Fatalf("labelled Certificate CREATE with the webhook down must go through (failurePolicy Ignore): %v", err)
	}
	crt.Labels["edited-while-down"] = "yes"
	err = env.Client.Update(ctx, crt)
	if err == nil || !strings.Contains(err.Error(), `failed calling webhook "certificates.mtls.aigw.io"`) {
		t.Errorf("labelled Certificate UPDATE with the webhook down: want refused by certificates.mtls.aigw.io, got %v", err)
	}
}
