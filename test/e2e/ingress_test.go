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
// aigw (the Service the Policy's sslName names) to nginx.org/ssl-services and the Policy after the
// existing entry; re-applying changes nothing.
func TestLabelledIngressComesBackWired(t *testing.T) {
	ctx := context.Background()
	issueSeedPKI(t)
	if _, err := dyn.Resource(policyGVR).Namespace(ns).Create(ctx, policyWith("ingress-mtls", ns, "aigw.ai-gateway.svc.cluster.local"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	ing := unstructuredSample(t, "aigw-ingress.yaml")
	ing.SetNamespace(ns)
	ing.SetAnnotations(map[string]string{"nginx.org/policies": "allow-office", "nginx.org/proxy-read-timeout": "300s", "mtls.aigw.io/policy": "ingress-mtls"})
	// Which backends are aigw is read from the Policy's sslName: wait until the webhook's cache
	// holds the Policy.
	eventually(t, "the webhook sees the Policy", func() error {
		got, err := dyn.Resource(ingressGVR).Namespace(ns).Create(ctx, ing, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		if err != nil {
			return err
		}
		if got.GetAnnotations()["nginx.org/ssl-services"] != "aigw" {
			return fmt.Errorf("not wired yet: %v", got.GetAnnotations())
		}
		return nil
	})
	got, err := dyn.Resource(ingressGVR).Namespace(ns).Create(ctx, ing, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"nginx.org/policies":           "allow-office,ingress-mtls",
		"nginx.org/ssl-services":       "aigw",
		"nginx.org/proxy-read-timeout": "300s",
		"mtls.aigw.io/injected":        "policy=ai-gateway/ingress-mtls,services=aigw",
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

// A labelled Ingress whose only backend is a Service the Policy's sslName does not name is left
// unwired, with a warning naming the annotation that would wire it.
func TestLabelledIngressToAnotherServiceIsLeftAlone(t *testing.T) {
	ctx := context.Background()
	issueSeedPKI(t)
	if _, err := dyn.Resource(policyGVR).Namespace(ns).Create(ctx, policyWith("web-ingress-mtls", ns, "aigw.ai-gateway.svc.cluster.local"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	ing := unstructuredSample(t, "aigw-ingress.yaml")
	ing.SetNamespace(ns)
	ing.SetName("web-ingress")
	ing.SetAnnotations(map[string]string{"mtls.aigw.io/policy": "web-ingress-mtls"})
	rules := ing.Object["spec"].(map[string]any)["rules"].([]any)
	path := rules[0].(map[string]any)["http"].(map[string]any)["paths"].([]any)[0].(map[string]any)
	path["backend"].(map[string]any)["service"].(map[string]any)["name"] = "web"
	eventually(t, "the Ingress admitted unwired, with a warning", func() error {
		mark := warnings.mark()
		got, err := dyn.Resource(ingressGVR).Namespace(ns).Create(ctx, ing, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		if err != nil {
			return err
		}
		w := warnings.since(mark)
		if !strings.Contains(w, "web: not aigw") || !strings.Contains(w, "mtls.aigw.io/services") {
			return fmt.Errorf("want the warning that web is not aigw, got %q", w)
		}
		if _, ok := got.GetAnnotations()["nginx.org/ssl-services"]; ok {
			return fmt.Errorf("web was wired: %v", got.GetAnnotations())
		}
		return nil
	})
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
	want := `Ingress/ai-gateway/legacy-ingress: metadata.annotations[nginx.org/policies] (ingress-bad) references Policy/ai-gateway/ingress-bad: [POLICY_SSLNAME_NOT_IN_SAN] spec.egressMTLS.sslName: expected a name the aigw server certificate`
	eventually(t, "refusal once the Policy is cached", func() error {
		_, err := dyn.Resource(ingressGVR).Namespace(ns).Create(ctx, ing, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		if err == nil || !strings.Contains(err.Error(), want) {
			return fmt.Errorf("want %q, got %v", want, err)
		}
		return nil
	})
}
