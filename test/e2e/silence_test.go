package e2e

import (
	"context"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// A warning is silenced by its rule ID in mtls.aigw.io/silence-warnings on the object; an error
// listed there is refused all the same.
func TestSilencedWarningIsNotReturnedAndErrorsAreStillRefused(t *testing.T) {
	issueSeedPKI(t)
	ctx := context.Background()
	withoutProtocols := func(name, sslName, silence string) *unstructured.Unstructured {
		p := policyWith(name, ns, sslName)
		delete(p.Object["spec"].(map[string]any)["egressMTLS"].(map[string]any), "protocols")
		if silence != "" {
			p.SetAnnotations(map[string]string{"mtls.aigw.io/silence-warnings": silence})
		}
		return p
	}
	const unset = "[POLICY_PROTOCOLS_UNSET] spec.egressMTLS.protocols"

	mark := warnings.mark()
	if _, err := dyn.Resource(policyGVR).Namespace(ns).Create(ctx, withoutProtocols("loud", "aigw.ai-gateway.svc.cluster.local", ""), metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}}); err != nil {
		t.Fatal(err)
	}
	if w := warnings.since(mark); !strings.Contains(w, unset) {
		t.Fatalf("without the annotation: want the warning %q, got %q", unset, w)
	}

	mark = warnings.mark()
	if _, err := dyn.Resource(policyGVR).Namespace(ns).Create(ctx, withoutProtocols("quiet", "aigw.ai-gateway.svc.cluster.local", "OTHER_RULE, POLICY_PROTOCOLS_UNSET"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if w := warnings.since(mark); w != "" {
		t.Errorf("silenced: want no warning, got %q", w)
	}

	mark = warnings.mark()
	_, err := dyn.Resource(policyGVR).Namespace(ns).Create(ctx, withoutProtocols("still-refused", "aigw.example.com", "POLICY_SSLNAME_NOT_IN_SAN,POLICY_PROTOCOLS_UNSET"), metav1.CreateOptions{})
	if err == nil || !strings.Contains(err.Error(), "Policy/ai-gateway/still-refused: [POLICY_SSLNAME_NOT_IN_SAN] spec.egressMTLS.sslName") {
		t.Errorf("an error listed in the annotation: want it refused all the same, got %v", err)
	}
	if w := warnings.since(mark); strings.Contains(w, unset) {
		t.Errorf("the refusal carries the silenced warning: %q", w)
	}
}
