package checker

import (
	"context"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
)

// wiredVS is a labelled VirtualServer whose aigw route references the Policy namespace/name.
func wiredVS(namespace, policyRef string) *unstructured.Unstructured {
	ref := map[string]any{"name": policyRef}
	if ns, name, ok := strings.Cut(policyRef, "/"); ok {
		ref = map[string]any{"namespace": ns, "name": name}
	}
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "k8s.nginx.org/v1", "kind": "VirtualServer",
		"metadata": map[string]any{"name": "vs", "namespace": namespace, "labels": map[string]any{"aigw": "mtls"},
			"annotations": map[string]any{"mtls.aigw.io/policy": policyRef}},
		"spec": map[string]any{
			"host":      "aigw.example.com",
			"upstreams": []any{map[string]any{"name": "aigw", "service": "aigw", "port": int64(80), "tls": map[string]any{"enable": true}}},
			"routes": []any{map[string]any{"path": "/", "policies": []any{ref},
				"action": map[string]any{"pass": "aigw"}}},
		},
	}}
}

// check judges a VirtualServer with the rule admission uses: a referenced Policy that does not
// exist yet is a warning in both (NIC answers 500 on its routes until it is applied), and a
// Policy in a namespace check was not asked to read is reported as not checked, never missing.
func TestVirtualServerReferencesAsAdmissionJudgesThem(t *testing.T) {
	for _, tc := range []struct {
		name, ref, namespace, want string
	}{
		{"missing Policy", "not-applied-yet", "", "Policy ai/not-applied-yet not found yet"},
		{"Policy outside the namespace checked", "gateway/aigw-mtls", "ai", "Policy gateway/aigw-mtls cannot be checked: check read only the namespaces it was given: run it with -n gateway too"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := fake.NewClientBuilder().WithScheme(coreScheme(t)).WithRESTMapper(restMapper()).WithObjects(wiredVS("ai", tc.ref)).Build()
			r, err := Run(context.Background(), c, Options{Settings: DefaultOptions().Settings, Namespace: tc.namespace, Service: "aigw"})
			if err != nil {
				t.Fatal(err)
			}
			found := false
			for _, ch := range r.Checks {
				if ch.Object != "VirtualServer/ai/vs" {
					continue
				}
				if ch.Status == StatusError {
					t.Errorf("error %q: admission only warns", ch.Message)
				}
				if ch.Status == StatusWarning && strings.Contains(ch.Message, tc.want) {
					found = true
				}
			}
			if !found {
				t.Errorf("no warning %q in %+v", tc.want, r.Checks)
			}
		})
	}
}
