package podengine

import (
	"testing"

	"k8s.io/client-go/discovery"
)

// The API server these tests run against serves the policy kinds podInjection.engine=policy
// renders: what the chart's refusal (.Capabilities.APIVersions) asks of a cluster.
func TestAPIServerServesMutatingAdmissionPolicy(t *testing.T) {
	d := discovery.NewDiscoveryClientForConfigOrDie(env.Config)
	list, err := d.ServerResourcesForGroupVersion("admissionregistration.k8s.io/v1")
	if err != nil {
		t.Fatal(err)
	}
	served := map[string]bool{}
	for _, r := range list.APIResources {
		served[r.Kind] = true
	}
	for _, k := range []string{"MutatingAdmissionPolicy", "MutatingAdmissionPolicyBinding", "ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding"} {
		if !served[k] {
			t.Errorf("admissionregistration.k8s.io/v1 %s not served (served: %v)", k, served)
		}
	}
}
