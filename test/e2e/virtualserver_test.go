package e2e

import (
	"context"
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

var (
	vsGVR     = schema.GroupVersionResource{Group: "k8s.nginx.org", Version: "v1", Resource: "virtualservers"}
	vsrGVR    = schema.GroupVersionResource{Group: "k8s.nginx.org", Version: "v1", Resource: "virtualserverroutes"}
	policyGVR = schema.GroupVersionResource{Group: "k8s.nginx.org", Version: "v1", Resource: "policies"}
)

func TestSeedVirtualServerComesBackWired(t *testing.T) {
	ctx := context.Background()
	vs := unstructuredSample(t, "aigw-virtualserver.yaml")
	vs.SetNamespace(ns)
	if _, err := dyn.Resource(vsGVR).Namespace(ns).Create(ctx, vs, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	got, err := dyn.Resource(vsGVR).Namespace(ns).Get(ctx, vs.GetName(), metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// Read back through NIC's real (structural, pruning) schema: equal to the walkthrough's own.
	want := unstructuredSample(t, "testdata/aigw-virtualserver.wired.yaml")
	if !reflect.DeepEqual(normalize(got.Object["spec"]), normalize(want.Object["spec"])) {
		t.Errorf("spec read back:\n%v\nwant:\n%v", got.Object["spec"], want.Object["spec"])
	}
	if !reflect.DeepEqual(got.GetAnnotations(), want.GetAnnotations()) {
		t.Errorf("annotations: got %v want %v", got.GetAnnotations(), want.GetAnnotations())
	}

	// Re-applying the wired object (kubectl apply of an already-mutated object) changes nothing.
	rv := got.GetResourceVersion()
	updated, err := dyn.Resource(vsGVR).Namespace(ns).Update(ctx, got, metav1.UpdateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if updated.GetResourceVersion() != rv {
		t.Errorf("UPDATE of the wired VirtualServer changed it: %v", updated.Object["spec"])
	}
}

func TestUnlabelledVirtualServerIsUntouched(t *testing.T) {
	ctx := context.Background()
	vs := unstructuredSample(t, "aigw-virtualserver.yaml")
	vs.SetName("plain-vs")
	vs.SetLabels(nil)
	vs.Object["spec"].(map[string]any)["host"] = "plain.example.com"
	got, err := dyn.Resource(vsGVR).Namespace(ns).Create(ctx, vs, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	up := got.Object["spec"].(map[string]any)["upstreams"].([]any)[0].(map[string]any)
	route := got.Object["spec"].(map[string]any)["routes"].([]any)[0].(map[string]any)
	if up["tls"] != nil || route["policies"] != nil || got.GetAnnotations() != nil {
		t.Errorf("unlabelled VirtualServer was changed: %v", got.Object["spec"])
	}
}

func TestVirtualServerWithAnotherEgressMTLSPolicyIsRefused(t *testing.T) {
	ctx := context.Background()
	const space = "vs-conflict"
	if err := env.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: space}}); err != nil {
		t.Fatal(err)
	}
	// An unlabelled egressMTLS Policy: not validated by the webhook, but seen by its cache.
	legacy := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "k8s.nginx.org/v1", "kind": "Policy",
		"metadata": map[string]any{"name": "legacy-mtls", "namespace": space},
		"spec":     map[string]any{"egressMTLS": map[string]any{"tlsSecret": "old-client", "verifyServer": false}},
	}}
	if _, err := dyn.Resource(policyGVR).Namespace(space).Create(ctx, legacy, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	vs := unstructuredSample(t, "aigw-virtualserver.yaml")
	vs.SetNamespace(space)
	route := vs.Object["spec"].(map[string]any)["routes"].([]any)[0].(map[string]any)
	route["policies"] = []any{map[string]any{"name": "legacy-mtls"}}
	want := "VirtualServer/vs-conflict/aigw-mtls: [VS_OTHER_EGRESS_POLICY] spec.routes[0] (path /): expected one egressMTLS Policy (vs-conflict/aigw-mtls), found vs-conflict/legacy-mtls with egressMTLS already referenced"
	eventually(t, "conflict refused once the Policy is in the webhook's cache", func() error {
		_, err := dyn.Resource(vsGVR).Namespace(space).Create(ctx, vs, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		if err == nil || !strings.Contains(err.Error(), want) {
			return errorf("want refusal containing %q, got %v", want, err)
		}
		return nil
	})
}

func TestVirtualServerRouteSubroutes(t *testing.T) {
	ctx := context.Background()
	vsr := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "k8s.nginx.org/v1", "kind": "VirtualServerRoute",
		"metadata": map[string]any{"name": "aigw-api", "namespace": ns, "labels": map[string]any{"aigw": "mtls"}},
		"spec": map[string]any{
			"host":      "aigw.example.com",
			"upstreams": []any{map[string]any{"name": "aigw", "service": "aigw", "port": int64(80)}},
			"subroutes": []any{
				map[string]any{"path": "/api/chat", "policies": []any{map[string]any{"name": "rate-limit"}}, "action": map[string]any{"pass": "aigw"}},
				map[string]any{"path": "/api/models", "action": map[string]any{"pass": "aigw"}},
			},
		},
	}}
	mark := warnings.mark()
	got, err := dyn.Resource(vsrGVR).Namespace(ns).Create(ctx, vsr, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	spec := got.Object["spec"].(map[string]any)
	if tls := spec["upstreams"].([]any)[0].(map[string]any)["tls"]; !reflect.DeepEqual(tls, map[string]any{"enable": true}) {
		t.Errorf("upstream tls: got %v", tls)
	}
	subs := spec["subroutes"].([]any)
	withList := subs[0].(map[string]any)["policies"]
	if !reflect.DeepEqual(withList, []any{map[string]any{"name": "rate-limit"}, map[string]any{"name": "aigw-mtls"}}) {
		t.Errorf("subroute with a list: got %v", withList)
	}
	if p, ok := subs[1].(map[string]any)["policies"]; ok {
		t.Errorf("a subroute without a list must keep inheriting, got policies %v", p)
	}
	if w := warnings.since(mark); !strings.Contains(w, "spec.subroutes[1]") {
		t.Errorf("want a warning about the inheriting subroute, got %q", w)
	}
}

func TestVirtualServerAcceptedByNICSchemaOnly(t *testing.T) {
	// The mutated object must pass NIC's real schema; a wrong field type is still the API server's
	// to refuse (the webhook does not hide schema errors).
	vs := unstructuredSample(t, "aigw-virtualserver.yaml")
	vs.SetName("bad-schema")
	vs.Object["spec"].(map[string]any)["host"] = 42
	_, err := dyn.Resource(vsGVR).Namespace(ns).Create(context.Background(), vs, metav1.CreateOptions{})
	if err == nil || !apierrors.IsInvalid(err) {
		t.Errorf("want the API server's schema error, got %v", err)
	}
}

// normalize makes numbers compare equal whether they came from YAML or the API server.
func normalize(v any) any {
	b, _ := json.Marshal(v)
	var out any
	_ = json.Unmarshal(b, &out)
	return out
}
