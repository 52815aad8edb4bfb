package e2e

import (
	"context"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/aigw-mtls/aigw-mtls-webhook/internal/aigw"
	"github.com/aigw-mtls/aigw-mtls-webhook/webhook"
)

// With --one-secret-informer the Secrets of the served namespaces come from one cluster-wide watch
// of the labelled Secrets: those of the served namespaces are held as with one watch each
// (certificates only), those of any other namespace only by name — no data, no labels, so no list
// of labelled Secrets (expiry series, the NIC reload count) ever sees them; the CA sync runs in the
// served namespaces (caSyncNamespaces).
func TestOneSecretInformerKeepsOnlyTheServedNamespaces(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	served, other := []string{"one-informer-a", "one-informer-b"}, "one-informer-other"
	for _, ns := range append(served, other) {
		if err := env.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
			t.Fatal(err)
		}
	}
	c, err := cache.New(env.Config, func() cache.Options {
		o := webhook.CacheOptionsOf(webhook.Options{Settings: aigw.DefaultSettings(), SecretNamespaces: served, OneSecretInformer: true})
		return o
	}())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.GetInformer(ctx, &corev1.Secret{}); err != nil {
		t.Fatal(err)
	}
	go func() { _ = c.Start(ctx) }()
	if !c.WaitForCacheSync(ctx) {
		t.Fatal("cache did not sync")
	}
	secret := func(ns string) *corev1.Secret {
		return &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "bundle", Namespace: ns, Labels: map[string]string{"aigw": "mtls"}},
			Type: corev1.SecretTypeOpaque, Data: map[string][]byte{"ca.crt": []byte("bundle of " + ns), "password": []byte("s3cret")}}
	}
	for _, ns := range append(served, other) {
		if err := env.Client.Create(ctx, secret(ns)); err != nil {
			t.Fatal(err)
		}
	}
	for _, ns := range served {
		var got corev1.Secret
		eventually(t, "Secret of "+ns+" cached", func() error { return c.Get(ctx, client.ObjectKey{Namespace: ns, Name: "bundle"}, &got) })
		if string(got.Data["ca.crt"]) != "bundle of "+ns || len(got.Data) != 1 || got.Labels["aigw"] != "mtls" {
			t.Errorf("served %s: cached %v %v, want its ca.crt only, labelled", ns, got.Labels, got.Data)
		}
	}
	var stub corev1.Secret
	eventually(t, "Secret of "+other+" seen by the one watch", func() error { return c.Get(ctx, client.ObjectKey{Namespace: other, Name: "bundle"}, &stub) })
	if len(stub.Data) != 0 || len(stub.Labels) != 0 || len(stub.Annotations) != 0 {
		t.Errorf("a Secret outside the served namespaces is cached with %v %v %v: want its name only", stub.Labels, stub.Annotations, stub.Data)
	}
	var labelled corev1.SecretList
	if err := c.List(ctx, &labelled, client.MatchingLabels{"aigw": "mtls"}); err != nil {
		t.Fatal(err)
	}
	for _, s := range labelled.Items {
		if s.Namespace == other {
			t.Errorf("the labelled Secrets listed from the cache include %s/%s", s.Namespace, s.Name)
		}
	}
}
