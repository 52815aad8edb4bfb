package probe

import (
	"context"
	"crypto/x509"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/aigw-mtls/aigw-mtls-webhook/internal/aigw"
	"github.com/aigw-mtls/aigw-mtls-webhook/webhook"
)

// TestProbeCacheHoldsNoPrivateKey: the Secrets serve --probe reads (the webhook's informer cache,
// with its options, on a real API server) hold the certificates of the hop and no private key,
// although the Secrets in the API server carry theirs.
func TestProbeCacheHoldsNoPrivateKey(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	now := time.Now()
	day := 24 * time.Hour
	ca := issue(t, "aigw-ca", nil, true, nil, 0, now.Add(-day), now.Add(365*day))
	nic := issue(t, "nic-client", ca, false, nil, x509.ExtKeyUsageClientAuth, now.Add(-day), now.Add(90*day))
	server := issue(t, "aigw", ca, false, []string{sslName}, x509.ExtKeyUsageServerAuth, now.Add(-day), now.Add(90*day))
	ns := "probe-keys"
	apply(t, ctx, ns, "10.213.255.2", 8443, false, "", ca, nic, server)

	o := webhook.CacheOptions(aigw.DefaultSettings())
	c, err := cache.New(env.Config, o)
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
	for _, name := range []string{"aigw-server-tls", "aigw-nic-client-tls"} {
		var stored, cached corev1.Secret
		if err := kube.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, &stored); err != nil || !strings.Contains(string(stored.Data["tls.key"]), "PRIVATE KEY") {
			t.Fatalf("the API server must hold %s's private key for this test: %v", name, err)
		}
		deadline := time.Now().Add(20 * time.Second)
		for c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, &cached) != nil {
			if time.Now().After(deadline) {
				t.Fatalf("%s not cached", name)
			}
			time.Sleep(100 * time.Millisecond)
		}
		for k, v := range cached.Data {
			if strings.Contains(string(v), "PRIVATE KEY") || k == "tls.key" && len(v) > 0 {
				t.Errorf("the cached %s holds key material under %s", name, k)
			}
		}
		if !strings.Contains(string(cached.Data["tls.crt"]), "BEGIN CERTIFICATE") {
			t.Errorf("the cached %s lost tls.crt", name)
		}
	}
}
