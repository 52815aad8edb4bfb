package checker

import (
	"context"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/aigw-mtls/aigw-mtls-webhook/internal/rules"
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

// check --probe probes at most a quarter of --probe-max-targets (64 by default: 16) of the Policy
// and Service port pairs of one namespace, like serve (probe.Limits), and says how many of a
// Policy's it left out.
func TestProbeBoundsOneNamespace(t *testing.T) {
	var ports []int64
	for i := range 20 {
		ports = append(ports, int64(8000+i))
	}
	c := fake.NewClientBuilder().WithScheme(coreScheme(t)).WithRESTMapper(restMapper()).
		WithObjects(probeVirtualServer("ai", "", ports...), probePolicy("ai")).Build()
	o := DefaultOptions()
	o.Probe.Enabled = true
	r, err := Run(context.Background(), c, o)
	if err != nil {
		t.Fatal(err)
	}
	probed := map[string]bool{} // Service ports, each reported without a ready endpoint (no Service)
	var leftOut []Check
	for _, ch := range r.Checks {
		if ch.Section != SectionProbe || ch.Object != "Policy/ai/aigw-mtls" {
			continue
		}
		if ch.Rule == rules.ProbeNoReadyEndpoint.ID {
			probed[strings.SplitN(ch.Message, ":", 2)[0]] = true
		} else {
			leftOut = append(leftOut, ch)
		}
	}
	if len(probed) != 16 {
		t.Errorf("probed %d Service ports of namespace ai (%v), want 16", len(probed), probed)
	}
	want := "4 Service port(s) not probed: a run probes at most 64 Policy and Service port pairs, 16 of them for the Policies of one namespace"
	if len(leftOut) != 1 || leftOut[0].Message != want || leftOut[0].Status != StatusWarning || leftOut[0].Namespace != "ai" {
		t.Errorf("other probe lines %+v, want one warning %q", leftOut, want)
	}
}

// probePolicy is the labelled egressMTLS Policy ns/aigw-mtls.
func probePolicy(ns string) *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "k8s.nginx.org/v1", "kind": "Policy",
		"metadata": map[string]any{"name": "aigw-mtls", "namespace": ns, "labels": map[string]any{"aigw": "mtls"}},
		"spec": map[string]any{"egressMTLS": map[string]any{"tlsSecret": "aigw-nic-client-tls", "trustedCertSecret": "internal-ca",
			"verifyServer": true, "sslName": "aigw." + ns + ".svc.cluster.local", "protocols": "TLSv1.3"}},
	}}
}
