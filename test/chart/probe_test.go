package chart_test

import (
	"slices"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// TestProbeOptIn: the live TLS probe is off by default, with none of its rights; probe.enabled
// passes its flags and grants get and list (nothing more) of VirtualServers, Ingresses, Services
// and EndpointSlices.
func TestProbeOptIn(t *testing.T) {
	grants := func(objs []*unstructured.Unstructured) map[string][]string {
		out := map[string][]string{}
		for _, o := range objs {
			if o.GetKind() != "ClusterRole" && o.GetKind() != "Role" || o.GetName() == defaultRelease+"-check" {
				continue
			}
			for _, x := range slice(o.Object, "rules") {
				rule := x.(map[string]any)
				for _, res := range slice(rule, "resources") {
					if r := res.(string); r == "services" || r == "endpointslices" || r == "virtualservers" || r == "ingresses" {
						for _, v := range slice(rule, "verbs") {
							out[r] = append(out[r], v.(string))
						}
					}
				}
			}
		}
		return out
	}
	deployment := func(objs []*unstructured.Unstructured) *unstructured.Unstructured {
		for _, o := range objs {
			if o.GetKind() == "Deployment" {
				return o
			}
		}
		t.Fatal("no Deployment")
		return nil
	}
	_, off := render(t, valueSetNamed("defaults"))
	if g := grants(off); len(g) != 0 {
		t.Errorf("probe off: the webhook may still %v", g)
	}
	if f := flags(t, deployment(off)); f["probe"] != "" {
		t.Errorf("probe off: --probe=%s", f["probe"])
	}
	_, on := render(t, valueSetNamed("probe"))
	g := grants(on)
	for _, r := range []string{"services", "endpointslices", "virtualservers", "ingresses"} {
		v := slices.Clone(g[r])
		slices.Sort(v)
		if !slices.Equal(v, []string{"get", "list"}) {
			t.Errorf("probe on: %s verbs %v, want [get list]", r, v)
		}
	}
	f := flags(t, deployment(on))
	for k, want := range map[string]string{"probe": "true", "probe-interval": "1m", "probe-timeout": "2s", "probe-max-endpoints": "4", "probe-max-targets": "64"} {
		if f[k] != want {
			t.Errorf("probe on: --%s=%q, want %q", k, f[k], want)
		}
	}
}

// probeReads are the reads the probe adds with probe.enabled: get and list, read per cycle, never
// watched (nothing of them is cached).
func probeReads(r rendering) map[grant]bool {
	out := map[grant]bool{}
	if r.value("probe.enabled", "false") != "true" {
		return out
	}
	for _, g := range []grant{{"k8s.nginx.org", "virtualservers", ""}, {"networking.k8s.io", "ingresses", ""}, {"", "services", ""}, {"discovery.k8s.io", "endpointslices", ""}} {
		for _, v := range []string{"get", "list"} {
			g.verb = v
			out[g] = true
		}
	}
	return out
}
