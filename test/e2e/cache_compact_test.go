package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"reflect"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/aigw-mtls/aigw-mtls-webhook/internal/kinds"
	"github.com/aigw-mtls/aigw-mtls-webhook/webhook"
)

// The custom resources the cache keeps whole (Policies, Certificates, BackendTLSPolicies) are held
// with their spec as JSON, not as unstructured maps, and a lookup answers what it answered when
// they were held unstructured: the object as the API server sends it, less its status,
// managedFields and kubectl's last-applied copy (webhook.TrimCached).
func TestCachedCustomResourcesAreCompactAndReadTheSame(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	space := "cache-compact"
	if err := env.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: space}}); err != nil {
		t.Fatal(err)
	}
	o := webhook.DefaultOptions()
	o.GatewayAPI = true
	c, err := cache.New(env.Config, webhook.CacheOptionsOf(o))
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = c.Start(ctx) }()
	lookups := webhook.CacheLookups(c, o)

	lastApplied := map[string]string{"kubectl.kubernetes.io/last-applied-configuration": `{"kind":"Policy","spec":{}}`, "team": "ai"}
	labelled := map[string]string{"aigw": "mtls", "tier": "gold"}
	objs := map[*kinds.Kind]*unstructured.Unstructured{
		kinds.Policy: customResource(kinds.Policy, space, "rate", labelled, lastApplied, map[string]any{"rateLimit": map[string]any{
			"rate": "10r/s", "key": "${binary_remote_addr}", "zoneSize": "10M", "burst": int64(20), "dryRun": true, "rejectCode": int64(429)}},
			map[string]any{"state": "Valid", "reason": "AddedOrUpdated", "message": "Policy is valid and was added or updated"}),
		kinds.Certificate: customResource(kinds.Certificate, space, "aigw-server", labelled, lastApplied, map[string]any{
			"secretName": "aigw-server-tls", "dnsNames": []any{"aigw.ai-gateway.svc", "aigw.example.com"}, "duration": "2160h0m0s",
			"issuerRef": map[string]any{"name": "aigw-ca", "kind": "Issuer"}, "usages": []any{"server auth"}},
			map[string]any{"conditions": []any{map[string]any{"type": "Ready", "status": "True"}}, "revision": int64(3)}),
		kinds.BackendTLSPolicy: customResource(kinds.BackendTLSPolicy, space, "aigw-tls", nil, lastApplied, map[string]any{
			"targetRefs": []any{map[string]any{"group": "", "kind": "Service", "name": "aigw", "sectionName": "https"}},
			"validation": map[string]any{"hostname": "aigw.ai-gateway.svc", "caCertificateRefs": []any{map[string]any{"group": "", "kind": "ConfigMap", "name": "aigw-ca"}}}},
			nil),
	}
	for k, u := range objs {
		status := u.Object["status"]
		if err := env.Client.Create(ctx, u); err != nil {
			t.Fatalf("creating %s: %v", k.Kind, err)
		}
		if status != nil {
			u.Object["status"] = status
			if err := env.Client.Status().Update(ctx, u); err != nil {
				t.Fatalf("status of %s: %v", k.Kind, err)
			}
		}
	}
	for k, u := range objs {
		// What the cache held before: the API server's object as unstructured, through TrimCached.
		stored := &unstructured.Unstructured{}
		stored.SetGroupVersionKind(k.GroupVersionKind())
		if err := env.Client.Get(ctx, client.ObjectKeyFromObject(u), stored); err != nil {
			t.Fatal(err)
		}
		if len(stored.GetManagedFields()) == 0 || (u.Object["status"] != nil && stored.Object["status"] == nil) {
			t.Fatalf("the API server must hold the %s's managedFields and status this test expects dropped: %v", k.Kind, stored.Object)
		}
		trimmed, err := webhook.TrimCached(stored.DeepCopy())
		if err != nil {
			t.Fatal(err)
		}
		want, err := json.Marshal(trimmed)
		if err != nil {
			t.Fatal(err)
		}
		var got []byte
		eventually(t, k.Kind+" cached", func() error {
			raw, ok := lookups.Get(k.Kind, space, u.GetName())
			if !ok {
				return errorf("%s %s/%s not in the cache", k.Kind, space, u.GetName())
			}
			var m metav1.PartialObjectMetadata
			if err := json.Unmarshal(raw, &m); err != nil || m.ResourceVersion != stored.GetResourceVersion() {
				return errorf("cached %s at resourceVersion %s (%v), want %s", k.Kind, m.ResourceVersion, err, stored.GetResourceVersion())
			}
			got = raw
			return nil
		})
		if canonical(t, got) != canonical(t, want) {
			t.Errorf("%s lookup:\n got %s\nwant %s", k.Kind, got, want)
		}
		if g, w := fields(t, got), fields(t, want); !bytes.Equal(g["spec"], w["spec"]) || !bytes.Equal(g["apiVersion"], w["apiVersion"]) || !bytes.Equal(g["kind"], w["kind"]) {
			t.Errorf("%s lookup: spec, apiVersion or kind not byte for byte what the unstructured path answered:\n got %s\nwant %s", k.Kind, got, want)
		}
		if _, ok := fields(t, got)["status"]; ok {
			t.Errorf("%s lookup keeps the status: %s", k.Kind, got)
		}
		var m metav1.PartialObjectMetadata
		if err := json.Unmarshal(got, &m); err != nil || len(m.ManagedFields) != 0 || m.Annotations["kubectl.kubernetes.io/last-applied-configuration"] != "" || m.Annotations["team"] != "ai" {
			t.Errorf("%s lookup metadata %+v (%v): want no managedFields, team=ai only", k.Kind, m.ObjectMeta, err)
		}
		if list := lookups.List(k.Kind, space); len(list) != 1 || canonical(t, list[0]) != canonical(t, want) {
			t.Errorf("%s list: got %q, want [%s]", k.Kind, list, want)
		}

		// The informer holds the compact type, not unstructured.Unstructured.
		held := webhook.CachedObject(k.Kind)
		if _, ok := held.(*unstructured.Unstructured); ok {
			t.Errorf("the cache holds %s as unstructured.Unstructured", k.Kind)
		}
		inf, err := c.GetInformer(ctx, held)
		if err != nil {
			t.Fatal(err)
		}
		item, exists, err := inf.(toolscache.SharedIndexInformer).GetStore().GetByKey(space + "/" + u.GetName())
		if err != nil || !exists || reflect.TypeOf(item) != reflect.TypeOf(held) {
			t.Errorf("the %s informer holds %T (%v, %v), want %T", k.Kind, item, exists, err, held)
		}
		// Another type for the same kind is refused, never served from a second informer.
		other := &unstructured.Unstructured{}
		other.SetGroupVersionKind(k.GroupVersionKind())
		if err := c.Get(ctx, client.ObjectKeyFromObject(u), other); err == nil {
			t.Errorf("the cache answered a read of %s as unstructured: a second informer holds the kind", k.Kind)
		}
	}
}

func customResource(k *kinds.Kind, namespace, name string, labels, annotations map[string]string, spec, status map[string]any) *unstructured.Unstructured {
	u := &unstructured.Unstructured{Object: map[string]any{"spec": spec}}
	u.SetGroupVersionKind(schema.GroupVersionKind{Group: k.Group, Version: k.Version, Kind: k.Kind})
	u.SetNamespace(namespace)
	u.SetName(name)
	u.SetLabels(labels)
	u.SetAnnotations(annotations)
	if status != nil {
		u.Object["status"] = status
	}
	return u
}

// canonical is raw with its keys sorted: the rules read it decoded, whatever its key order.
func canonical(t *testing.T, raw []byte) string {
	t.Helper()
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatalf("%s: %v", raw, err)
	}
	out, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

func fields(t *testing.T, raw []byte) map[string]json.RawMessage {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("%s: %v", raw, err)
	}
	return m
}
