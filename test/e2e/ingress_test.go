package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

var ingressGVR = schema.GroupVersionResource{Group: "networking.k8s.io", Version: "v1", Resource: "ingresses"}

// NIC's Ingress egress-mTLS example, labelled, with a Policy list already in use: the webhook adds
// aigw to nginx.org/ssl-services and the Policy after the existing entry; re-applying changes
// nothing.
func TestLabelledIngressComesBackWired(t *testing.T) {
	ctx := context.Background()
	ing := unstructuredSample(t, "aigw-ingress.yaml")
	ing.SetNamespace(ns)
	ing.SetAnnotations(map[string]string{"nginx.org/policies": "rate-limit", "nginx.org/proxy-read-timeout": "300s"})
	got, err := dyn.Resource(ingressGVR).Namespace(ns).Create(ctx, ing, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"nginx.org/policies":           "rate-limit,aigw-mtls",
		"nginx.org/ssl-services":       "aigw",
		"nginx.org/proxy-read-timeout": "300s",
		"mtls.aigw.io/injected":        "policy=ai-gateway/aigw-mtls,services=aigw",
	}
	for k, v := range want {
		if got.GetAnnotations()[k] != v {
			t.Errorf("annotation %s: got %q, want %q (all: %v)", k, got.GetAnnotations()[k], v, got.GetAnnotations())
		}
	}
	rv := got.GetResourceVersion()
	updated, err := dyn.Resource(ingressGVR).Namespace(ns).Update(ctx, got, metav1.UpdateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if updated.GetResourceVersion() != rv {
		t.Errorf("UPDATE of the wired Ingress changed it: %v", updated.GetAnnotations())
	}
}

func TestUnlabelledIngressIsUntouched(t *testing.T) {
	ctx := context.Background()
	ing := unstructuredSample(t, "aigw-ingress.yaml")
	ing.SetNamespace(ns)
	ing.SetName("plain-ingress")
	ing.SetLabels(nil)
	got, err := dyn.Resource(ingressGVR).Namespace(ns).Create(ctx, ing, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got.GetAnnotations() != nil {
		t.Errorf("unlabelled Ingress was changed: %v", got.GetAnnotations())
	}
}

func TestIngressReferencingABadPolicyIsRefused(t *testing.T) {
	issueSeedPKI(t)
	ctx := context.Background()
	bad := policyWith("ingress-bad", ns, "aigw")
	bad.SetLabels(nil) // not validated on its own
	if _, err := dyn.Resource(policyGVR).Namespace(ns).Create(ctx, bad, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	ing := unstructuredSample(t, "aigw-ingress.yaml")
	ing.SetNamespace(ns)
	ing.SetName("legacy-ingress")
	ing.SetAnnotations(map[string]string{"mtls.aigw.io/policy": "ingress-bad"})
	want := `Ingress/ai-gateway/legacy-ingress: metadata.annotations[nginx.org/policies] (ingress-bad) references Policy/ai-gateway/ingress-bad: spec.egressMTLS.sslName: expected a name the aigw server certificate`
	eventually(t, "refusal once the Policy is cached", func() error {
		_, err := dyn.Resource(ingressGVR).Namespace(ns).Create(ctx, ing, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		if err == nil || !strings.Contains(err.Error(), want) {
			return fmt.Errorf("want %q, got %v", want, err)
		}
		return nil
	})
}
