package webhook

import (
	"encoding/json"
	"fmt"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/aigw-mtls/aigw-mtls-webhook/internal/aigw"
	"github.com/aigw-mtls/aigw-mtls-webhook/internal/kinds"
	"github.com/aigw-mtls/aigw-mtls-webhook/internal/objects"
	"github.com/aigw-mtls/aigw-mtls-webhook/internal/rules"
)

// A Service as clusters hold them: labels, annotations, selector, addresses, a load balancer.
func sampleService(name string) *corev1.Service {
	return &corev1.Service{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Service"},
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ai-gateway", UID: "5b1c0f7e-2d0a-4f7e-9d55-0d7c1f0b7a11", ResourceVersion: "123456",
			CreationTimestamp: metav1.NewTime(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)),
			Labels:            map[string]string{"app.kubernetes.io/name": name, "app.kubernetes.io/part-of": "ai-gateway", "team": "platform"},
			Annotations:       map[string]string{"meta.helm.sh/release-name": "aigw", "meta.helm.sh/release-namespace": "ai-gateway", "service.beta.kubernetes.io/aws-load-balancer-type": "nlb"},
			ManagedFields:     []metav1.ManagedFieldsEntry{{Manager: "helm", Operation: metav1.ManagedFieldsOperationUpdate}}},
		Spec: corev1.ServiceSpec{
			Type: corev1.ServiceTypeLoadBalancer, ClusterIP: "10.96.12.34", ClusterIPs: []string{"10.96.12.34"},
			Selector: map[string]string{"app.kubernetes.io/name": name},
			Ports: []corev1.ServicePort{
				{Name: "https", Port: 443, TargetPort: intstr.FromInt32(8443), Protocol: corev1.ProtocolTCP, NodePort: 31443},
				{Name: "metrics", Port: 9090, TargetPort: intstr.FromString("metrics"), Protocol: corev1.ProtocolTCP, NodePort: 31090},
			},
		},
		Status: corev1.ServiceStatus{LoadBalancer: corev1.LoadBalancerStatus{Ingress: []corev1.LoadBalancerIngress{{Hostname: "a1b2c3.elb.amazonaws.com"}}}},
	}
}

// An HTTPRoute as clusters hold them: parents, hostnames, matches, filters (a mirror naming
// another backend), weighted backendRefs with their own filters, and a status.
func sampleHTTPRoute(name string) *unstructured.Unstructured {
	var u unstructured.Unstructured
	if err := json.Unmarshal([]byte(strings.ReplaceAll(`{
	"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
	"metadata": {"name": "NAME", "namespace": "ai-gateway", "uid": "0d7c1f0b-7a11-4f7e-9d55-5b1c0f7e2d0a", "resourceVersion": "654321",
		"creationTimestamp": "2026-01-01T00:00:00Z", "generation": 3,
		"labels": {"app.kubernetes.io/name": "NAME", "team": "platform"},
		"annotations": {"meta.helm.sh/release-name": "aigw"},
		"managedFields": [{"manager": "helm", "operation": "Update"}]},
	"spec": {
		"parentRefs": [{"name": "gateway", "namespace": "nginx-gateway", "sectionName": "https"}],
		"hostnames": ["ai.example.com", "api.example.com"],
		"rules": [
			{"matches": [{"path": {"type": "PathPrefix", "value": "/v1/chat"}, "headers": [{"name": "x-tenant", "value": "a"}]}],
			 "filters": [{"type": "RequestMirror", "requestMirror": {"backendRef": {"name": "shadow", "port": 443}}},
			             {"type": "RequestHeaderModifier", "requestHeaderModifier": {"set": [{"name": "x-route", "value": "NAME"}]}}],
			 "backendRefs": [{"name": "aigw", "port": 443, "weight": 90, "filters": [{"type": "ResponseHeaderModifier", "responseHeaderModifier": {"remove": ["server"]}}]},
			                 {"group": "", "kind": "Service", "name": "aigw-canary", "namespace": "ai-gateway", "port": 443, "weight": 10}]},
			{"matches": [{"path": {"type": "PathPrefix", "value": "/metrics"}}],
			 "backendRefs": [{"name": "aigw", "port": 9090}]}
		]},
	"status": {"parents": [{"parentRef": {"name": "gateway", "namespace": "nginx-gateway"}, "controllerName": "gateway.nginx.org/nginx-gateway-controller",
		"conditions": [{"type": "Accepted", "status": "True", "reason": "Accepted", "message": "The route is accepted", "lastTransitionTime": "2026-01-01T00:00:00Z", "observedGeneration": 3}]}]}
}`, "NAME", name)), &u.Object); err != nil {
		panic(err)
	}
	return &u
}

// The cache holds of a Service its identity, age and ports' names and numbers: what the
// BackendTLSPolicy rules read, nothing a tenant labelled or annotated it with.
func TestTrimCachedKeepsOfServicesTheirPorts(t *testing.T) {
	svc := sampleService("aigw")
	got, err := TrimCached(svc.DeepCopy())
	if err != nil {
		t.Fatal(err)
	}
	want := &corev1.Service{
		TypeMeta: svc.TypeMeta,
		ObjectMeta: metav1.ObjectMeta{Name: "aigw", Namespace: "ai-gateway", UID: svc.UID, ResourceVersion: svc.ResourceVersion,
			CreationTimestamp: svc.CreationTimestamp},
		Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "https", Port: 443}, {Name: "metrics", Port: 9090}}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("cached Service:\n%+v\nwant\n%+v", got, want)
	}
}

// The cache holds of a route its identity, age and its backendRefs' group, kind, name, namespace
// and port, rule by rule; and the rules decide on the trimmed routes and Services exactly as on
// the whole objects.
func TestTrimCachedKeepsOfRoutesTheirBackendRefs(t *testing.T) {
	route := sampleHTTPRoute("ai")
	got, err := TrimCached(route.DeepCopy())
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(got)
	want := `{"apiVersion":"gateway.networking.k8s.io/v1","kind":"HTTPRoute",` +
		`"metadata":{"creationTimestamp":"2026-01-01T00:00:00Z","name":"ai","namespace":"ai-gateway","resourceVersion":"654321","uid":"0d7c1f0b-7a11-4f7e-9d55-5b1c0f7e2d0a"},` +
		`"spec":{"rules":[{"backendRefs":[{"name":"aigw","port":443},{"group":"","kind":"Service","name":"aigw-canary","namespace":"ai-gateway","port":443}],` +
		`"filters":[{"requestMirror":{"backendRef":{"name":"shadow","port":443}}}]},` +
		`{"backendRefs":[{"name":"aigw","port":9090}]}]}}`
	if string(b) != want {
		t.Errorf("cached HTTPRoute:\n%s\nwant\n%s", b, want)
	}

	grant := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "gateway.networking.k8s.io/v1beta1", "kind": "ReferenceGrant",
		"metadata": map[string]any{"name": "apps", "namespace": "ai-gateway", "labels": map[string]any{"team": "platform"}},
		"spec":     map[string]any{"from": []any{map[string]any{"group": "gateway.networking.k8s.io", "kind": "HTTPRoute", "namespace": "apps"}}, "to": []any{map[string]any{"group": "", "kind": "Service"}}},
	}}
	trimmed, _ := TrimCached(grant.DeepCopy())
	if g := trimmed.(*unstructured.Unstructured); g.GetLabels() != nil || !reflect.DeepEqual(g.Object["spec"], grant.Object["spec"]) {
		t.Errorf("cached ReferenceGrant %v: want its spec and no labels", g.Object)
	}

	// The policy names metrics, which only the second rule of the route sends to.
	policy := []byte(`{"apiVersion":"gateway.networking.k8s.io/v1","kind":"BackendTLSPolicy","metadata":{"name":"p","namespace":"ai-gateway","labels":{"aigw":"mtls"}},` +
		`"spec":{"targetRefs":[{"group":"","kind":"Service","name":"aigw","sectionName":"metrics"}],"validation":{"wellKnownCACertificates":"System","hostname":"aigw.ai-gateway.svc.cluster.local"}}}`)
	judge := func(svc, route any) []rules.ID {
		sb, _ := json.Marshal(svc)
		rb, _ := json.Marshal(route)
		fs, err := rules.BackendTLSPolicy(policy, "ai-gateway", aigw.DefaultSettings(), objects.NewObjectSet("ai-gateway", sb, rb), time.Now())
		if err != nil {
			t.Fatal(err)
		}
		var ids []rules.ID
		for _, f := range fs {
			ids = append(ids, f.Rule)
		}
		return ids
	}
	whole := judge(sampleService("aigw"), sampleHTTPRoute("ai"))
	trimmedSvc, _ := TrimCached(sampleService("aigw"))
	if cached := judge(trimmedSvc, got); !reflect.DeepEqual(cached, whole) {
		t.Errorf("the rules find %v on the cached objects, %v on the whole ones", cached, whole)
	}
	// And a route to https only makes the same sectionName unused, trimmed or not.
	https := sampleHTTPRoute("ai")
	https.Object["spec"].(map[string]any)["rules"] = https.Object["spec"].(map[string]any)["rules"].([]any)[:1]
	trimmedHTTPS, _ := TrimCached(https.DeepCopy())
	a, b2 := judge(sampleService("aigw"), https), judge(trimmedSvc, trimmedHTTPS)
	if !reflect.DeepEqual(a, b2) || !strings.Contains(fmt.Sprint(a), string(rules.BTPSectionNameUnused.ID)) {
		t.Errorf("route to https only: the rules find %v on the whole objects, %v on the cached ones; want %s in both", a, b2, rules.BTPSectionNameUnused.ID)
	}
	// Unless its RequestMirror filter sends a copy to metrics, which NGF counts as a use.
	rule := https.Object["spec"].(map[string]any)["rules"].([]any)[0].(map[string]any)
	rule["filters"].([]any)[0].(map[string]any)["requestMirror"] = map[string]any{"backendRef": map[string]any{"name": "aigw", "port": int64(9090)}}
	trimmedMirror, _ := TrimCached(https.DeepCopy())
	a, b2 = judge(sampleService("aigw"), https), judge(trimmedSvc, trimmedMirror)
	if !reflect.DeepEqual(a, b2) || strings.Contains(fmt.Sprint(a), string(rules.BTPSectionNameUnused.ID)) {
		t.Errorf("route to https mirrored to metrics: the rules find %v on the whole objects, %v on the cached ones; want no %s", a, b2, rules.BTPSectionNameUnused.ID)
	}
}

// benchCachedBytes reports the heap one object holds once in the cache (b.N of them kept alive,
// as an informer's store keeps them), trimmed as the cache trims it or whole.
func benchCachedBytes(b *testing.B, newObject func(i int) any, trim bool) {
	store := map[string]any{}
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for i := 0; i < b.N; i++ {
		obj := newObject(i)
		if trim {
			obj, _ = TrimCached(obj)
		}
		store[fmt.Sprintf("ai-gateway/obj-%d", i)] = obj
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	b.ReportMetric(float64(int64(after.HeapAlloc)-int64(before.HeapAlloc))/float64(b.N), "heapB/object")
	runtime.KeepAlive(store)
}

func BenchmarkCachedServiceTrimmed(b *testing.B) {
	benchCachedBytes(b, func(i int) any { return sampleService(fmt.Sprintf("svc-%d", i)) }, true)
}

func BenchmarkCachedServiceWhole(b *testing.B) {
	benchCachedBytes(b, func(i int) any { return sampleService(fmt.Sprintf("svc-%d", i)) }, false)
}

func BenchmarkCachedHTTPRouteTrimmed(b *testing.B) {
	benchCachedBytes(b, func(i int) any { return sampleHTTPRoute(fmt.Sprintf("route-%d", i)) }, true)
}

func BenchmarkCachedHTTPRouteWhole(b *testing.B) {
	benchCachedBytes(b, func(i int) any { return sampleHTTPRoute(fmt.Sprintf("route-%d", i)) }, false)
}

// What the cache holds of a Service is what its row in internal/kinds says (Cache.Keep): with the
// row keeping the whole object, the trim keeps its labels, selector and status.
func TestTrimCachedObeysTheServiceRow(t *testing.T) {
	saved := kinds.Service.Cache.Keep
	t.Cleanup(func() { kinds.Service.Cache.Keep = saved })
	kinds.Service.Cache.Keep = kinds.KeepAll

	svc := sampleService("aigw")
	got, err := TrimCached(svc.DeepCopy())
	if err != nil {
		t.Fatal(err)
	}
	want := svc.DeepCopy()
	want.ManagedFields = nil
	if !reflect.DeepEqual(got, want) {
		t.Errorf("cached Service with the row keeping it whole:\n%+v\nwant\n%+v", got, want)
	}
}

// Every cached row's Keep is one the object the cache holds its kind as can be reduced to.
func TestEveryCachedRowsKeepApplies(t *testing.T) {
	for _, k := range kinds.Cached(true) {
		if k.Cache.Keep == kinds.KeepAll {
			continue
		}
		var applied bool
		switch o := newCachedObject(k.Kind).(type) {
		case *unstructured.Unstructured:
			o.Object["spec"] = map[string]any{}
			applied = keepOnly(o, k.Cache.Keep)
		default:
			applied = keepTyped(o, k.Cache.Keep)
		}
		if !applied {
			t.Errorf("%s: the cache holds it as %T, which cannot keep only its row's Keep (%d)", k.Kind, newCachedObject(k.Kind), k.Cache.Keep)
		}
	}
}

// keptMetaFields names, for unstructured objects, exactly the fields it copies of typed ones.
func TestKeptMetaFieldsNameWhatTheyCopy(t *testing.T) {
	now := metav1.Now()
	full := metav1.ObjectMeta{Name: "n", Namespace: "ns", UID: "u", ResourceVersion: "1", Generation: 2, CreationTimestamp: now, DeletionTimestamp: &now,
		Labels: map[string]string{"a": "b"}, Annotations: map[string]string{"c": "d"}, Finalizers: []string{"f"}}
	raw, err := json.Marshal(keptMeta(full))
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(raw, &got); err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, f := range keptMetaFields {
		want = append(want, f.json)
		if _, ok := got[f.json]; !ok {
			t.Errorf("keptMeta does not copy %s", f.json)
		}
	}
	if len(got) != len(want) {
		t.Errorf("keptMeta holds %v; keptMetaFields names %v", got, want)
	}
}

// A row's Keep the trim cannot apply leaves of the object its apiVersion, kind and metadata's
// keptMetaFields only: the cache never holds whole objects because a Keep value went unhandled.
func TestTrimCachedKeepsMetadataOnlyForAKeepItCannotApply(t *testing.T) {
	const unknown = kinds.Keep(1 << 20)
	for _, k := range []*kinds.Kind{kinds.Service, kinds.HTTPRoute} {
		saved := k.Cache.Keep
		t.Cleanup(func() { k.Cache.Keep = saved })
		k.Cache.Keep = unknown
	}

	svc := sampleService("aigw")
	got, err := TrimCached(svc.DeepCopy())
	if err != nil {
		t.Fatal(err)
	}
	want := &corev1.Service{TypeMeta: svc.TypeMeta, ObjectMeta: keptMeta(svc.ObjectMeta)}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("cached Service with a Keep the trim cannot apply:\n%+v\nwant\n%+v", got, want)
	}

	route := sampleHTTPRoute("ai")
	gotRoute, err := TrimCached(route.DeepCopy())
	if err != nil {
		t.Fatal(err)
	}
	meta := route.Object["metadata"].(map[string]any)
	wantMeta := map[string]any{}
	for _, f := range keptMetaFields {
		if v, ok := meta[f.json]; ok {
			wantMeta[f.json] = v
		}
	}
	wantRoute := map[string]any{"apiVersion": route.GetAPIVersion(), "kind": route.GetKind(), "metadata": wantMeta}
	if !reflect.DeepEqual(gotRoute.(*unstructured.Unstructured).Object, wantRoute) {
		t.Errorf("cached HTTPRoute with a Keep the trim cannot apply:\n%v\nwant\n%v", gotRoute.(*unstructured.Unstructured).Object, wantRoute)
	}
}
