package probe

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/aigw-mtls/aigw-mtls-webhook/internal/aigw"
	"github.com/aigw-mtls/aigw-mtls-webhook/internal/objects"
)

// TestUsesBounded: a VirtualServer of 1000 TLS upstreams and 1000 server-level Policy names gives
// at most maxUsesPerObject pairs and says it left the rest out, instead of a million pairs.
func TestUsesBounded(t *testing.T) {
	var ups, pols []any
	for i := range 1000 {
		ups = append(ups, map[string]any{"name": fmt.Sprintf("u%d", i), "service": fmt.Sprintf("s%d", i), "port": 443, "tls": map[string]any{"enable": true}})
		pols = append(pols, map[string]any{"name": fmt.Sprintf("p%d", i)})
	}
	raw := js(t, map[string]any{"metadata": map[string]any{"name": "vs", "namespace": "ai"}, "spec": map[string]any{"upstreams": ups, "policies": pols}})
	var vs virtualServer
	if err := objects.Decode(raw, &vs); err != nil {
		t.Fatal(err)
	}
	list, truncated := vs.uses(context.Background())
	if len(list) != maxUsesPerObject || !truncated {
		t.Errorf("%d pairs (truncated %v), want %d and truncated", len(list), truncated, maxUsesPerObject)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if list, truncated := vs.uses(ctx); len(list) != 0 || !truncated {
		t.Errorf("ended context: %d pairs (truncated %v), want none and truncated", len(list), truncated)
	}
	c := &cluster{ObjectSet: objects.NewObjectSet("ai"), vss: [][]byte{raw}}
	plan := Targets(context.Background(), c, aigw.DefaultSettings(), Limits{}, time.Now())
	if len(plan.NotProbed) != 1 || plan.NotProbed[0].Object != "VirtualServer/ai/vs" || plan.NotProbed[0].Namespace != "ai" {
		t.Errorf("not probed %q, want one line naming VirtualServer/ai/vs", plan.NotProbed)
	}
}

// countingCluster counts the Service and EndpointSlice reads.
type countingCluster struct {
	*cluster
	serviceReads, sliceReads int
}

func (c *countingCluster) Service(ns, name string) *corev1.Service {
	c.serviceReads++
	return c.cluster.Service(ns, name)
}

func (c *countingCluster) EndpointSlices(ns, svc string) []discoveryv1.EndpointSlice {
	c.sliceReads++
	return c.cluster.EndpointSlices(ns, svc)
}

// manyTargets: namespaces × perNamespace labelled Policies, each in its own VirtualServer with one
// TLS upstream to Service aigw.
func manyTargets(t *testing.T, namespaces, perNamespace int) *countingCluster {
	var objs [][]byte
	c := &cluster{services: map[string]*corev1.Service{}, slices: map[string][]discoveryv1.EndpointSlice{}}
	for n := range namespaces {
		ns := fmt.Sprintf("ns%d", n)
		c.services[ns+"/aigw"] = &corev1.Service{Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Port: 443}}}}
		for i := range perNamespace {
			name := fmt.Sprintf("p%03d", i)
			pol := policy(t, name, true)
			pol = []byte(strings.Replace(string(pol), `"namespace":"ai"`, `"namespace":"`+ns+`"`, 1))
			objs = append(objs, pol)
			c.vss = append(c.vss, js(t, map[string]any{"metadata": map[string]any{"name": "vs-" + name, "namespace": ns}, "spec": map[string]any{
				"upstreams": []any{map[string]any{"name": "gw", "service": "aigw", "port": 443, "tls": map[string]any{"enable": true}}},
				"policies":  []any{map[string]any{"name": name}}}}))
		}
	}
	c.ObjectSet = objects.NewObjectSet("", objs...)
	return &countingCluster{cluster: c}
}

// TestTargetsResolveOnlyMaxTargets: of 200 Policy × Service port pairs, only MaxTargets are
// resolved: the Service is read once per run and the EndpointSlices once per resolved target; the
// rest are counted as left out; one namespace takes at most MaxPerNamespace.
func TestTargetsResolveOnlyMaxTargets(t *testing.T) {
	c := manyTargets(t, 2, 100)
	plan := Targets(context.Background(), c, aigw.DefaultSettings(), Limits{MaxEndpoints: 1, MaxTargets: 8, MaxPerNamespace: 4}, time.Now())
	if len(plan.Targets) != 8 || plan.LeftOut != 192 {
		t.Fatalf("%d targets, %d left out; want 8 and 192", len(plan.Targets), plan.LeftOut)
	}
	perNS := map[string]int{}
	for _, tg := range plan.Targets {
		perNS[strings.Split(tg.Policy, "/")[1]]++
	}
	if perNS["ns0"] != 4 || perNS["ns1"] != 4 {
		t.Errorf("targets per namespace %v, want 4 each (MaxPerNamespace)", perNS)
	}
	if c.serviceReads != 2 || c.sliceReads != 8 {
		t.Errorf("%d Service reads and %d EndpointSlice reads, want 2 (one per Service) and 8 (one per resolved target)", c.serviceReads, c.sliceReads)
	}
}

// TestTargetsCutOff: once the run's context has ended, the targets are returned unresolved and
// marked cut off, and Run reports them with no finding, making no connection.
func TestTargetsCutOff(t *testing.T) {
	c := manyTargets(t, 1, 3)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	plan := Targets(ctx, c, aigw.DefaultSettings(), Limits{}, time.Now())
	// The objects were all read before ctx was checked; resolution stopped at once.
	if c.serviceReads != 0 || c.sliceReads != 0 {
		t.Errorf("%d Service and %d EndpointSlice reads after the context ended, want none", c.serviceReads, c.sliceReads)
	}
	res := Run(ctx, append(plan.Targets, Target{Policy: "Policy/ns0/other", Service: "Service/ns0/x", Endpoints: []string{"10.255.0.1:443"}}), Options{})
	if len(res) != len(plan.Targets)+1 {
		t.Fatalf("%d results for %d targets", len(res), len(plan.Targets)+1)
	}
	for _, r := range res {
		if !r.CutOff || len(r.Findings) != 0 {
			t.Errorf("%s %s: cut off %v, findings %v; want cut off without finding", r.Target.Policy, r.Endpoint, r.CutOff, r.Findings)
		}
	}
}

// TestTargetsDefaultBounds: without limits a run resolves DefaultMaxTargets, at most a quarter of
// them for the Policies of one namespace, taking the namespaces in turn (the last one by name is
// probed too), and says per Policy how many it left out.
func TestTargetsDefaultBounds(t *testing.T) {
	c := manyTargets(t, 5, 20)
	plan := Targets(context.Background(), c, aigw.DefaultSettings(), Limits{}, time.Now())
	if want := (Limits{MaxEndpoints: DefaultMaxEndpoints, MaxTargets: DefaultMaxTargets, MaxPerNamespace: DefaultMaxTargets / 4}); plan.Limits != want {
		t.Errorf("limits %+v, want %+v", plan.Limits, want)
	}
	perNS := map[string]int{}
	for _, tg := range plan.Targets {
		perNS[strings.Split(tg.Policy, "/")[1]]++
	}
	if len(plan.Targets) != DefaultMaxTargets {
		t.Errorf("%d targets, want %d", len(plan.Targets), DefaultMaxTargets)
	}
	for n := range 5 {
		if got := perNS[fmt.Sprintf("ns%d", n)]; got < DefaultMaxTargets/5 || got > DefaultMaxTargets/4 {
			t.Errorf("per namespace %v; want each of the 5 namespaces between %d and %d", perNS, DefaultMaxTargets/5, DefaultMaxTargets/4)
		}
	}
	left := 0
	for _, n := range plan.LeftOutBy {
		if n.Namespace != strings.Split(n.Object, "/")[1] || !strings.HasPrefix(n.Reason, "1 Service port(s) not probed") {
			t.Errorf("left out %+v, want one Service port of the Policy, in its namespace", n)
		}
		left++
	}
	if left != 100-DefaultMaxTargets || plan.LeftOut != left {
		t.Errorf("%d Policies left out, LeftOut %d; want %d", left, plan.LeftOut, 100-DefaultMaxTargets)
	}
}

// TestEndpointsRefuseNonPodAddresses: the probe dials only IP addresses of EndpointSlices that are
// not of type FQDN, and never loopback, link-local, unspecified or multicast ones.
func TestEndpointsRefuseNonPodAddresses(t *testing.T) {
	c := newCluster(t, 0, 0)
	name, port := "https", int32(8443)
	ready := true
	addrs := []string{"10.0.1.1", "127.0.0.1", "169.254.169.254", "0.0.0.0", "224.0.0.1", "::1", "fe80::1", "ff02::1", "metadata.google.internal", "fd00::5"}
	var eps []discoveryv1.Endpoint
	for _, a := range addrs {
		eps = append(eps, discoveryv1.Endpoint{Addresses: []string{a}, Conditions: discoveryv1.EndpointConditions{Ready: &ready}})
	}
	c.slices["ai/aigw"] = []discoveryv1.EndpointSlice{
		{ObjectMeta: metav1.ObjectMeta{Name: "ip"}, AddressType: discoveryv1.AddressTypeIPv4, Endpoints: eps, Ports: []discoveryv1.EndpointPort{{Name: &name, Port: &port}}},
		{ObjectMeta: metav1.ObjectMeta{Name: "fqdn"}, AddressType: discoveryv1.AddressTypeFQDN, Endpoints: []discoveryv1.Endpoint{{Addresses: []string{"10.0.9.9"}, Conditions: discoveryv1.EndpointConditions{Ready: &ready}}},
			Ports: []discoveryv1.EndpointPort{{Name: &name, Port: &port}}},
	}
	ts := Targets(context.Background(), c, aigw.DefaultSettings(), Limits{}, time.Now()).Targets
	if len(ts) != 1 {
		t.Fatalf("%d targets, want 1", len(ts))
	}
	if want := "10.0.1.1:8443 [fd00::5]:8443"; strings.Join(ts[0].Endpoints, " ") != want {
		t.Errorf("endpoints %v, want %s only", ts[0].Endpoints, want)
	}
}

// TestTargetsOwnNamespacePolicyOnly: a VirtualServer naming a Policy of another namespace does not
// make the probe handshake for it; the plan says why, once for the object and Policy however many
// upstreams the Policy covers.
func TestTargetsOwnNamespacePolicyOnly(t *testing.T) {
	c := newCluster(t, 1, 0)
	c.vss = [][]byte{js(t, map[string]any{"metadata": map[string]any{"name": "vs", "namespace": "tenant"}, "spec": map[string]any{
		"upstreams": []any{map[string]any{"name": "gw", "service": "aigw", "port": 443, "tls": map[string]any{"enable": true}},
			map[string]any{"name": "gw2", "service": "aigw", "port": 8443, "tls": map[string]any{"enable": true}}},
		"policies": []any{map[string]any{"name": "aigw-mtls", "namespace": "ai"}}}})}
	c.services["tenant/aigw"] = c.services["ai/aigw"]
	c.slices["tenant/aigw"] = c.slices["ai/aigw"]
	plan := Targets(context.Background(), c, aigw.DefaultSettings(), Limits{}, time.Now())
	if len(plan.Targets) != 0 {
		t.Errorf("targets %+v, want none for a Policy of another namespace", plan.Targets)
	}
	if len(plan.NotProbed) != 1 || plan.NotProbed[0].Object != "VirtualServer/tenant/vs" || plan.NotProbed[0].Namespace != "tenant" ||
		!strings.Contains(plan.NotProbed[0].Reason, "another namespace") {
		t.Errorf("not probed %q, want the VirtualServer and the reason", plan.NotProbed)
	}
}

// TestTrimKeepsTargets: the trimmed VirtualServers and Ingresses give the same targets as the
// objects, and drop what the probe does not read.
func TestTrimKeepsTargets(t *testing.T) {
	c := newCluster(t, 2, 0)
	c.ings = [][]byte{js(t, map[string]any{"metadata": map[string]any{"name": "ing", "namespace": "ai", "annotations": map[string]string{
		"nginx.org/policies": "aigw-mtls", "nginx.org/ssl-services": "aigw"}},
		"spec": map[string]any{"tls": []any{map[string]any{"hosts": []string{strings.Repeat("h", 4096)}}}, "rules": []any{map[string]any{"http": map[string]any{"paths": []any{
			map[string]any{"path": "/", "backend": map[string]any{"service": map[string]any{"name": "aigw", "port": map[string]any{"number": 443}}}}}}}}}})}
	want := Targets(context.Background(), c, aigw.DefaultSettings(), Limits{}, time.Now()).Targets
	c.vss[0] = []byte(strings.Replace(string(c.vss[0]), `"spec":{`, `"spec":{"host":"`+strings.Repeat("h", 4096)+`",`, 1))
	for i := range c.vss {
		c.vss[i] = TrimVirtualServer(c.vss[i])
		if len(c.vss[i]) > 2048 {
			t.Errorf("trimmed VirtualServer is %d bytes: %s", len(c.vss[i]), c.vss[i][:200])
		}
	}
	for i := range c.ings {
		c.ings[i] = TrimIngress(c.ings[i])
		if len(c.ings[i]) > 2048 {
			t.Errorf("trimmed Ingress is %d bytes", len(c.ings[i]))
		}
	}
	got := Targets(context.Background(), c, aigw.DefaultSettings(), Limits{}, time.Now()).Targets
	if len(want) == 0 || fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("targets of the trimmed objects\n%v\nwant\n%v", got, want)
	}
}

// TestTargetsBackendTLSPolicyPortsBounded: a BackendTLSPolicy without sectionName on a Service of
// 200 ports is 200 targets, bounded and counted like any other: it takes at most its namespace's
// share, the Policies of the other namespaces (and its own) are still probed, the EndpointSlices
// are read only for the targets resolved, and what is left out is counted per Service port.
func TestTargetsBackendTLSPolicyPortsBounded(t *testing.T) {
	c := manyTargets(t, 4, 20)
	big := &corev1.Service{}
	for i := range 200 {
		big.Spec.Ports = append(big.Spec.Ports, corev1.ServicePort{Name: fmt.Sprintf("p%03d", i), Port: int32(10000 + i)})
	}
	c.services["gw/big"] = big
	c.btps = [][]byte{js(t, map[string]any{"apiVersion": "gateway.networking.k8s.io/v1", "kind": "BackendTLSPolicy",
		"metadata": map[string]any{"name": "wide", "namespace": "gw", "labels": map[string]string{"aigw": "mtls"}},
		"spec": map[string]any{"targetRefs": []any{map[string]any{"group": "", "kind": "Service", "name": "big"}},
			"validation": map[string]any{"hostname": "aigw.gw.svc", "wellKnownCACertificates": "System"}}})}
	plan := Targets(context.Background(), c, aigw.DefaultSettings(), Limits{MaxEndpoints: 1}, time.Now())
	lim := plan.Limits
	perNS := map[string]int{}
	for _, tg := range plan.Targets {
		perNS[strings.Split(tg.Policy, "/")[1]]++
	}
	if len(plan.Targets) != lim.MaxTargets || perNS["gw"] == 0 || perNS["gw"] > lim.MaxPerNamespace {
		t.Errorf("%d targets, per namespace %v; want %d, at most %d of the BackendTLSPolicy's namespace gw", len(plan.Targets), perNS, lim.MaxTargets, lim.MaxPerNamespace)
	}
	for n := range 4 {
		if ns := fmt.Sprintf("ns%d", n); perNS[ns] == 0 {
			t.Errorf("no Policy of namespace %s probed (per namespace %v)", ns, perNS)
		}
	}
	if c.sliceReads > lim.MaxTargets {
		t.Errorf("%d EndpointSlice reads, want at most %d (one per resolved target)", c.sliceReads, lim.MaxTargets)
	}
	var btpLeft int
	for _, n := range plan.LeftOutBy {
		if n.Object == "BackendTLSPolicy/gw/wide" {
			btpLeft++
			if want := fmt.Sprintf("%d Service port(s) not probed", 200-perNS["gw"]); !strings.HasPrefix(n.Reason, want) || n.Namespace != "gw" {
				t.Errorf("left out %+v, want %q in namespace gw", n, want)
			}
		}
	}
	if btpLeft != 1 || plan.LeftOut != 200+80-lim.MaxTargets {
		t.Errorf("BackendTLSPolicy left out %d times, LeftOut %d; want once and %d Service ports in all", btpLeft, plan.LeftOut, 200+80-lim.MaxTargets)
	}
}

// TestTargetsKindsShareNamespace: in one namespace, a BackendTLSPolicy of many Service ports and
// the Policies take their turns within the namespace's share; neither kind leaves the other out.
func TestTargetsKindsShareNamespace(t *testing.T) {
	c := manyTargets(t, 1, 20)
	big := &corev1.Service{}
	for i := range 50 {
		big.Spec.Ports = append(big.Spec.Ports, corev1.ServicePort{Name: fmt.Sprintf("p%03d", i), Port: int32(10000 + i)})
	}
	c.services["ns0/big"] = big
	c.btps = [][]byte{js(t, map[string]any{"apiVersion": "gateway.networking.k8s.io/v1", "kind": "BackendTLSPolicy",
		"metadata": map[string]any{"name": "wide", "namespace": "ns0", "labels": map[string]string{"aigw": "mtls"}},
		"spec": map[string]any{"targetRefs": []any{map[string]any{"group": "", "kind": "Service", "name": "big"}},
			"validation": map[string]any{"hostname": "aigw.ns0.svc", "wellKnownCACertificates": "System"}}})}
	plan := Targets(context.Background(), c, aigw.DefaultSettings(), Limits{MaxEndpoints: 1}, time.Now())
	byKind := map[string]int{}
	for _, tg := range plan.Targets {
		byKind[tg.Kind]++
	}
	if len(plan.Targets) != plan.Limits.MaxPerNamespace || byKind["Policy"] == 0 || byKind["BackendTLSPolicy"] == 0 {
		t.Errorf("targets by kind %v, want %d in all, both kinds", byKind, plan.Limits.MaxPerNamespace)
	}
}

// TestTargetsSNIOfUpstreamNameNotProbed: with serverName on and no sslName nginx sends NIC's
// internal upstream name ($proxy_host) as SNI, a handshake the probe cannot reproduce: the Policy
// is reported as not probed, once, saying why and what to set; with sslName it is probed with
// that name as SNI.
func TestTargetsSNIOfUpstreamNameNotProbed(t *testing.T) {
	for _, sslName := range []string{"", "aigw.ai.svc"} {
		c := newCluster(t, 1, 0)
		egress := map[string]any{"tlsSecret": "aigw-nic-client-tls", "trustedCertSecret": "internal-ca", "verifyServer": true, "serverName": true, "protocols": "TLSv1.3"}
		if sslName != "" {
			egress["sslName"] = sslName
		}
		c.ObjectSet = objects.NewObjectSet("ai", js(t, map[string]any{"apiVersion": "k8s.nginx.org/v1", "kind": "Policy",
			"metadata": map[string]any{"name": "aigw-mtls", "namespace": "ai", "labels": map[string]string{"aigw": "mtls"}},
			"spec":     map[string]any{"egressMTLS": egress}}))
		c.vss = append(c.vss, c.vss[0]) // a second object naming the Policy: still said once
		c.vss[1] = []byte(strings.Replace(string(c.vss[1]), `"name":"vs"`, `"name":"vs2"`, 1))
		plan := Targets(context.Background(), c, aigw.DefaultSettings(), Limits{}, time.Now())
		if sslName != "" {
			if len(plan.Targets) != 1 || plan.Targets[0].SNI != sslName || len(plan.NotProbed) != 0 {
				t.Errorf("sslName %s: targets %+v, not probed %+v; want one target with SNI %s", sslName, plan.Targets, plan.NotProbed, sslName)
			}
			continue
		}
		want := NotProbed{Namespace: "ai", Object: "Policy/ai/aigw-mtls", Reason: "nginx sends NIC's internal upstream name as SNI ($proxy_host); set sslName"}
		if len(plan.Targets) != 0 || len(plan.NotProbed) != 1 || plan.NotProbed[0] != want {
			t.Errorf("without sslName: targets %+v, not probed %+v; want none and %+v", plan.Targets, plan.NotProbed, want)
		}
	}
}

// TestTargetsBackendTLSPolicyServiceReadsBounded: finding a BackendTLSPolicy's ports reads its
// Services, so only as many are read as could be probed: of 4 namespaces × 2 BackendTLSPolicies ×
// 10 Services, at most MaxTargets Services are read, the namespaces and the BackendTLSPolicies of
// each take turns, and the rest are counted as left out.
func TestTargetsBackendTLSPolicyServiceReadsBounded(t *testing.T) {
	c := &countingCluster{cluster: &cluster{ObjectSet: objects.NewObjectSet(""), services: map[string]*corev1.Service{}, slices: map[string][]discoveryv1.EndpointSlice{}}}
	for n := range 4 {
		ns := fmt.Sprintf("gw%d", n)
		for b := range 2 {
			var refs []any
			for i := range 10 {
				svc := fmt.Sprintf("s%d-%02d", b, i)
				c.services[ns+"/"+svc] = &corev1.Service{Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "https", Port: 443}}}}
				refs = append(refs, map[string]any{"group": "", "kind": "Service", "name": svc})
			}
			c.btps = append(c.btps, js(t, map[string]any{"apiVersion": "gateway.networking.k8s.io/v1", "kind": "BackendTLSPolicy",
				"metadata": map[string]any{"name": fmt.Sprintf("b%d", b), "namespace": ns, "labels": map[string]string{"aigw": "mtls"}},
				"spec":     map[string]any{"targetRefs": refs, "validation": map[string]any{"hostname": "aigw.gw.svc", "wellKnownCACertificates": "System"}}}))
		}
	}
	plan := Targets(context.Background(), c, aigw.DefaultSettings(), Limits{MaxEndpoints: 1, MaxTargets: 8, MaxPerNamespace: 4}, time.Now())
	if c.serviceReads > 8 || c.sliceReads > 8 {
		t.Errorf("%d Service and %d EndpointSlice reads, want at most 8 each (MaxTargets)", c.serviceReads, c.sliceReads)
	}
	perPolicy := map[string]int{}
	for _, tg := range plan.Targets {
		perPolicy[tg.Policy]++
	}
	if len(plan.Targets) != 8 || len(perPolicy) != 8 || plan.LeftOut != 72 {
		t.Errorf("%d targets of %v, %d left out; want one of each of the 8 BackendTLSPolicies and 72 left out", len(plan.Targets), perPolicy, plan.LeftOut)
	}
}
