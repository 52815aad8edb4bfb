package e2e

import (
	"context"
	"encoding/json"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/aigw-mtls/aigw-mtls-webhook/internal/aigw"
	"github.com/aigw-mtls/aigw-mtls-webhook/webhook"
)

// The webhook's cache holds of each object what the rules read: no managedFields, no kubectl
// last-applied copy, no status of a custom resource (README Security › Memory bounds: the cost per
// labelled object). The spec and labels the rules read stay.
var policyGVK = schema.GroupVersionKind{Group: "k8s.nginx.org", Version: "v1", Kind: "Policy"}

func TestCachedObjectsKeepOnlyWhatTheRulesRead(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	space := "cache-trim"
	if err := env.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: space}}); err != nil {
		t.Fatal(err)
	}
	c, err := cache.New(env.Config, func() cache.Options {
		o := webhook.CacheOptions(aigw.DefaultSettings())
		return o
	}())
	if err != nil {
		t.Fatal(err)
	}
	policy := &unstructured.Unstructured{}
	policy.SetGroupVersionKind(policyGVK)
	if _, err := c.GetInformer(ctx, &corev1.Secret{}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.GetInformer(ctx, webhook.CachedObject("Policy")); err != nil {
		t.Fatal(err)
	}
	go func() { _ = c.Start(ctx) }()
	if !c.WaitForCacheSync(ctx) {
		t.Fatal("cache did not sync")
	}
	lastApplied := map[string]string{"kubectl.kubernetes.io/last-applied-configuration": `{"apiVersion":"v1","kind":"Secret","data":{"a":"b"}}`, "team": "ai"}
	sec := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "trimmed", Namespace: space, Labels: map[string]string{"aigw": "mtls"}, Annotations: lastApplied},
		Type: corev1.SecretTypeOpaque, Data: map[string][]byte{"ca.crt": []byte("bundle")}}
	if err := env.Client.Create(ctx, sec); err != nil {
		t.Fatal(err)
	}
	policy.SetNamespace(space)
	policy.SetName("rate")
	policy.SetAnnotations(lastApplied)
	policy.Object["spec"] = map[string]any{"rateLimit": map[string]any{"rate": "10r/s", "key": "${binary_remote_addr}", "zoneSize": "10M"}}
	if err := env.Client.Create(ctx, policy); err != nil {
		t.Fatal(err)
	}
	policy.Object["status"] = map[string]any{"state": "Valid", "reason": "AddedOrUpdated", "message": "Policy is valid and was added or updated"}
	if err := env.Client.Status().Update(ctx, policy); err != nil {
		t.Fatal(err)
	}
	stored := &unstructured.Unstructured{}
	stored.SetGroupVersionKind(policyGVK)
	if err := env.Client.Get(ctx, client.ObjectKeyFromObject(policy), stored); err != nil || stored.Object["status"] == nil || len(stored.GetManagedFields()) == 0 {
		t.Fatalf("the API server must hold the status and managedFields this test expects dropped: %v %v", err, stored.Object)
	}
	cached := webhook.CachedObject("Policy")
	eventually(t, "Policy status cached", func() error {
		if err := c.Get(ctx, client.ObjectKeyFromObject(policy), cached); err != nil {
			return err
		}
		if cached.GetResourceVersion() != stored.GetResourceVersion() {
			return errorf("cached resourceVersion %s, want %s", cached.GetResourceVersion(), stored.GetResourceVersion())
		}
		return nil
	})
	raw, err := json.Marshal(cached)
	if err != nil {
		t.Fatal(err)
	}
	var held map[string]any
	if err := json.Unmarshal(raw, &held); err != nil {
		t.Fatal(err)
	}
	if _, ok := held["status"]; ok {
		t.Errorf("cached Policy keeps its status: %v", held["status"])
	}
	if rate, _, _ := unstructured.NestedString(held, "spec", "rateLimit", "rate"); rate != "10r/s" {
		t.Errorf("cached Policy lost its spec: %s", raw)
	}
	var cachedSecret corev1.Secret
	eventually(t, "Secret cached", func() error { return c.Get(ctx, client.ObjectKeyFromObject(sec), &cachedSecret) })
	for what, m := range map[string]metav1.Object{"Policy": cached, "Secret": &cachedSecret} {
		if len(m.GetManagedFields()) != 0 {
			t.Errorf("cached %s keeps managedFields %v", what, m.GetManagedFields())
		}
		if a := m.GetAnnotations(); a["kubectl.kubernetes.io/last-applied-configuration"] != "" || a["team"] != "ai" {
			t.Errorf("cached %s annotations %v: want team=ai only", what, a)
		}
	}
	if string(cachedSecret.Data["ca.crt"]) != "bundle" {
		t.Errorf("cached Secret lost ca.crt: %v", cachedSecret.Data)
	}
}
