package webhook

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/aigw-mtls/aigw-mtls-webhook/internal/aigw"
)

func TestParseConfigMapRef(t *testing.T) {
	for in, want := range map[string]string{
		"nginx-ingress/nginx-ingress":    "nginx-ingress/nginx-ingress",
		"nginx/my-release-nginx-ingress": "nginx/my-release-nginx-ingress",
	} {
		got, err := ParseConfigMapRef(in)
		if err != nil || got.String() != want {
			t.Errorf("%q: %v %v", in, got, err)
		}
	}
	for _, in := range []string{"", "nginx-ingress", "/name", "ns/", "a/b/c"} {
		_, err := ParseConfigMapRef(in)
		if err == nil || !strings.Contains(err.Error(), "expected namespace/name") || !strings.Contains(err.Error(), "found \""+in+"\"") {
			t.Errorf("%q: %v", in, err)
		}
	}
}

// The NIC reload counts a bundle only in the CA sync's namespaces and only when its controller
// ownerReference names the source of its namespace by UID; it annotates at most once per
// MinInterval.
func TestNICReloadCountsOwnedBundlesAndCoalesces(t *testing.T) {
	ctx := context.Background()
	s := aigw.DefaultSettings()
	owner := func(uid types.UID) []metav1.OwnerReference {
		return []metav1.OwnerReference{{APIVersion: "v1", Kind: "Secret", Name: "aigw-ca", UID: uid, Controller: ptr.To(true)}}
	}
	bundle := func(ns string, owners []metav1.OwnerReference, data string) *corev1.Secret {
		return &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: s.CASecret, Namespace: ns, Labels: map[string]string{"aigw": "mtls"},
			Annotations: map[string]string{AnnotationCASyncSource: "aigw-ca"}, OwnerReferences: owners},
			Type: "nginx.org/ca", Data: map[string][]byte{s.CAKey: []byte(data)}}
	}
	source := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "aigw-ca", Namespace: "ai-gateway", UID: "src-uid", Labels: map[string]string{"aigw": "mtls"}}}
	tenantSource := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "aigw-ca", Namespace: "tenant-b", UID: "tenant-uid", Labels: map[string]string{"aigw": "mtls"}}}
	own := bundle("ai-gateway", owner("src-uid"), "v1")
	forged := []*corev1.Secret{
		bundle("tenant-a", owner("src-uid"), "forged"),       // a copy: no source with that UID in tenant-a
		bundle("tenant-b", owner("tenant-uid"), "forged"),    // a real source, outside the CA sync's namespaces
		bundle("ai-gateway-staging", nil, "annotation only"), // in a CA sync namespace, without the ownerReference
	}
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "nginx-ingress", Namespace: "nginx"}}
	objs := []client.Object{source, tenantSource, own, cm}
	for _, f := range forged {
		objs = append(objs, f)
	}
	c := fake.NewClientBuilder().WithObjects(objs...).Build()
	clock := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	r := &NICReload{Client: c, API: c, Cache: c, ConfigMap: client.ObjectKeyFromObject(cm), Source: "aigw-ca", Settings: s,
		Delay: time.Second, MinInterval: time.Minute, Namespaces: []string{"ai-gateway", "ai-gateway-staging"},
		Events: &eventLog{}, Now: func() time.Time { return clock }}
	annotation := func() string {
		var got corev1.ConfigMap
		if err := c.Get(ctx, client.ObjectKeyFromObject(cm), &got); err != nil {
			t.Fatal(err)
		}
		return got.Annotations[aigw.AnnotationCABundle]
	}
	reconcileAt := func(at time.Time) reconcile.Result {
		clock = at
		res, err := r.Reconcile(ctx, reconcile.Request{})
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	start := clock
	reconcileAt(start)
	reconcileAt(start.Add(time.Second))
	first := annotation()
	if first == "" {
		t.Fatal("the owned bundle was not annotated after the delay")
	}
	// The digest is that of the owned bundle alone: dropping every forged Secret changes nothing.
	for _, f := range forged {
		if err := c.Delete(ctx, f); err != nil {
			t.Fatal(err)
		}
	}
	if digest, refs, _ := r.bundles(ctx); digest != first || len(refs) != 1 || refs[0] != "ai-gateway/"+s.CASecret {
		t.Errorf("digest %s of %v, want %s of the owned bundle only", digest, refs, first)
	}

	// Owned changes within the minimum interval wait for it; the annotation then names the last.
	for i, at := range []time.Duration{5 * time.Second, 20 * time.Second, 40 * time.Second} {
		own.Data[s.CAKey] = []byte(fmt.Sprintf("v%d", i+2))
		if err := c.Update(ctx, own); err != nil {
			t.Fatal(err)
		}
		reconcileAt(start.Add(at))
		res := reconcileAt(start.Add(at + 2*time.Second))
		if annotation() != first {
			t.Fatalf("annotated again %s after the first annotation, within the minimum interval", at+2*time.Second)
		}
		if want := start.Add(time.Second + time.Minute).Sub(clock); res.RequeueAfter != want {
			t.Errorf("RequeueAfter %s, want %s (the end of the minimum interval)", res.RequeueAfter, want)
		}
	}
	reconcileAt(start.Add(time.Second + time.Minute))
	last, _, _ := r.bundles(ctx)
	if got := annotation(); got == first || got != last {
		t.Errorf("after the minimum interval: annotation %s, want the last bundle's %s", got, last)
	}
}
