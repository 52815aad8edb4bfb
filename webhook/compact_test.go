package webhook

import (
	"encoding/json"
	"reflect"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"

	"github.com/aigw-mtls/aigw-mtls-webhook/internal/kinds"
)

// Every custom resource the cache keeps whole is held compact, under its kind in the webhook's
// own scheme (client-go's global scheme is left alone); the kinds the cache trims (Keep) and the
// built-in ones keep their types.
func TestEveryWholeCachedResourceIsCompact(t *testing.T) {
	for _, k := range kinds.Cached(true) {
		_, notBuiltin := clientgoscheme.Scheme.New(k.GroupVersionKind())
		_, compact := compactKinds[k.Kind]
		if want := notBuiltin != nil && k.Cache.Keep == kinds.KeepAll; compact != want {
			t.Errorf("%s held compact: %v, want %v", k.Kind, compact, want)
		}
		obj, list := newCachedObject(k.Kind), newCachedList(k.Kind)
		_, unstructuredObj := obj.(*unstructured.Unstructured)
		if compact == unstructuredObj && notBuiltin != nil {
			t.Errorf("%s: the cache's object is %T", k.Kind, obj)
		}
		if !compact {
			continue
		}
		for _, o := range []any{obj, list} {
			gvks, _, err := cacheScheme.ObjectKinds(o.(runtime.Object))
			if err != nil || len(gvks) != 1 || gvks[0].GroupVersion() != k.GroupVersionKind().GroupVersion() {
				t.Errorf("%s: %T registered as %v (%v)", k.Kind, o, gvks, err)
			}
			if _, _, err := clientgoscheme.Scheme.ObjectKinds(o.(runtime.Object)); err == nil {
				t.Errorf("%s: %T registered in client-go's global scheme", k.Kind, o)
			}
		}
	}
}

const policyFromAPIServer = `{"apiVersion":"k8s.nginx.org/v1","kind":"Policy","metadata":{
	"annotations":{"kubectl.kubernetes.io/last-applied-configuration":"{\"kind\":\"Policy\"}"},
	"creationTimestamp":"2026-12-07T10:00:00Z","generation":2,"labels":{"aigw":"mtls"},
	"managedFields":[{"apiVersion":"k8s.nginx.org/v1","fieldsType":"FieldsV1","fieldsV1":{"f:spec":{}},"manager":"kubectl","operation":"Update"}],
	"name":"aigw-mtls","namespace":"team","resourceVersion":"42","uid":"0b5ad0f8-5f25-4d7c-9f3c-6f3c1c1f2b1a"},
	"spec":{"egressMTLS":{"serverName":true,"sslName":"aigw.ai-gateway.svc","tlsSecret":"aigw-nic-client-tls","trustedCertSecret":"internal-ca","verifyDepth":2,"verifyServer":true},"x-unknown":{"a":[1,2.5,"3",null,{"b":false}]}},
	"status":{"message":"Policy is valid","reason":"AddedOrUpdated","state":"Valid"}}`

// The informer's decoder and transform leave a compact Policy that reads (cachedJSON) as the
// unstructured one did: the API server's object less status, managedFields and kubectl's copy,
// its spec byte for byte.
func TestCompactPolicyReadsAsTheUnstructuredOne(t *testing.T) {
	decoded, _, err := serializer.NewCodecFactory(cacheScheme).UniversalDeserializer().Decode([]byte(policyFromAPIServer), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if reflect.TypeOf(decoded) != reflect.TypeOf(newCachedObject("Policy")) {
		t.Fatalf("decoded as %T", decoded)
	}
	decoded.GetObjectKind().SetGroupVersionKind(kinds.Policy.GroupVersionKind().GroupVersion().WithKind("")) // as the watch decoder leaves it
	held, err := TrimCached(decoded)
	if err != nil {
		t.Fatal(err)
	}
	got, err := cachedJSON(held.(runtime.Object))
	if err != nil {
		t.Fatal(err)
	}
	u := &unstructured.Unstructured{}
	if err := json.Unmarshal([]byte(policyFromAPIServer), &u.Object); err != nil {
		t.Fatal(err)
	}
	trimmed, _ := TrimCached(u)
	want, err := json.Marshal(trimmed)
	if err != nil {
		t.Fatal(err)
	}
	var g, w map[string]any
	if json.Unmarshal(got, &g) != nil || json.Unmarshal(want, &w) != nil || !reflect.DeepEqual(g, w) {
		t.Errorf("compact Policy reads\n%s\nthe unstructured one\n%s", got, want)
	}
	var gs, ws map[string]json.RawMessage
	_ = json.Unmarshal(got, &gs)
	_ = json.Unmarshal(want, &ws)
	if string(gs["spec"]) != string(ws["spec"]) {
		t.Errorf("spec %s, want %s", gs["spec"], ws["spec"])
	}
	for _, f := range []string{"status"} {
		if _, ok := gs[f]; ok {
			t.Errorf("compact Policy keeps its %s: %s", f, got)
		}
	}
	if m := held.(metav1.Object); m.GetManagedFields() != nil || m.GetAnnotations() != nil {
		t.Errorf("compact Policy keeps managedFields %v, annotations %v", m.GetManagedFields(), m.GetAnnotations())
	}
}

// A copy shares nothing with the cached object: a lookup that changed it would change the cache.
func TestCompactDeepCopyIsIndependent(t *testing.T) {
	orig := &cachedResource[policyRow]{ObjectMeta: metav1.ObjectMeta{Name: "p", Labels: map[string]string{"aigw": "mtls"}},
		Spec: json.RawMessage(`{"a":1}`), Status: json.RawMessage(`{"s":2}`)}
	list := &cachedResourceList[policyRow]{Items: []cachedResource[policyRow]{*orig}}
	c := orig.DeepCopyObject().(*cachedResource[policyRow])
	lc := list.DeepCopyObject().(*cachedResourceList[policyRow])
	for _, cp := range []*cachedResource[policyRow]{c, &lc.Items[0]} {
		cp.Spec[1], cp.Status[1], cp.Labels["aigw"] = 'x', 'x', "off"
	}
	for _, o := range []*cachedResource[policyRow]{orig, &list.Items[0]} {
		if string(o.Spec) != `{"a":1}` || string(o.Status) != `{"s":2}` || o.Labels["aigw"] != "mtls" {
			t.Errorf("the original changed with its copy: %s %s %v", o.Spec, o.Status, o.Labels)
		}
	}
}

// kubectl's last-applied copy is often an object's only annotation: the emptied map is dropped,
// not kept with its slots, whatever the object's type.
func TestTrimCachedDropsAnEmptiedAnnotationsMap(t *testing.T) {
	only := func() map[string]string { return map[string]string{annotationLastApplied: `{"kind":"Secret"}`} }
	for _, obj := range []metav1.Object{
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "s", Annotations: only()}},
		&cachedResource[certificateRow]{ObjectMeta: metav1.ObjectMeta{Name: "c", Annotations: only()}},
		func() *unstructured.Unstructured {
			u := &unstructured.Unstructured{}
			u.SetAPIVersion("cert-manager.io/v1")
			u.SetKind("Certificate")
			u.SetAnnotations(only())
			return u
		}(),
	} {
		_, _ = TrimCached(obj)
		if a := obj.GetAnnotations(); a != nil {
			t.Errorf("%T keeps annotations %#v", obj, a)
		}
	}
}
