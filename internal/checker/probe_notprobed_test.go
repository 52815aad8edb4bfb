package checker

import (
	"context"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
)

// probeVirtualServer is a labelled VirtualServer of namespace ns whose upstreams (one per port,
// all of Service aigw, with tls.enable) are under the server-level Policy ns/aigw-mtls, or the
// Policy of policyNamespace when set.
func probeVirtualServer(ns, policyNamespace string, ports ...int64) *unstructured.Unstructured {
	var ups, routes []any
	for i, p := range ports {
		name := "aigw" + string(rune('a'+i))
		ups = append(ups, map[string]any{"name": name, "service": "aigw", "port": p, "tls": map[string]any{"enable": true}})
		routes = append(routes, map[string]any{"path": "/" + name, "action": map[string]any{"pass": name}})
	}
	policy := map[string]any{"name": "aigw-mtls"}
	if policyNamespace != "" {
		policy["namespace"] = policyNamespace
	}
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "k8s.nginx.org/v1", "kind": "VirtualServer",
		"metadata": map[string]any{"name": "vs", "namespace": ns, "labels": map[string]any{"aigw": "mtls"}},
		"spec":     map[string]any{"host": "aigw.example.com", "upstreams": ups, "routes": routes, "policies": []any{policy}},
	}}
}

// check --probe names what the probe left out by the object it left out of, in that object's
// namespace, and says why once, without repeating the object in the message.
func TestProbeNotProbedNamesTheObject(t *testing.T) {
	vs := probeVirtualServer("tenant", "ai", 443)
	c := fake.NewClientBuilder().WithScheme(coreScheme(t)).WithRESTMapper(restMapper()).WithObjects(vs).Build()
	o := DefaultOptions()
	o.Probe.Enabled = true
	r, err := Run(context.Background(), c, o)
	if err != nil {
		t.Fatal(err)
	}
	var got []Check
	for _, ch := range r.Checks {
		if ch.Section == SectionProbe {
			got = append(got, ch)
		}
	}
	want := Check{Section: SectionProbe, Namespace: "tenant", Object: "VirtualServer/tenant/vs", Status: StatusWarning,
		Message: "Policy ai/aigw-mtls is in another namespace: not probed", Fix: "see docs/monitoring.md, Bounds of the probe"}
	if len(got) != 1 || got[0] != want {
		t.Errorf("probe lines %+v, want only %+v", got, want)
	}
}
