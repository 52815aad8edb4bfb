package webhook

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/aigw-mtls/aigw-mtls-webhook/internal/objects"
)

// recordingCache counts the informers asked for (pure unit test: only GetInformer is called).
type recordingCache struct {
	cache.Cache
	asked []string
}

func (c *recordingCache) GetInformer(_ context.Context, obj client.Object, _ ...cache.InformerGetOption) (cache.Informer, error) {
	c.asked = append(c.asked, obj.GetObjectKind().GroupVersionKind().Kind)
	return nil, nil
}

// A lookup of a kind the cache options leave out (ConfigMaps with Gateway API off) never starts an
// informer, which no label selector would restrict (every ConfigMap of the cluster): it is
// answered "cannot be checked", naming the value that turns it on.
func TestLookupOfUncachedKindStartsNoInformer(t *testing.T) {
	c := &recordingCache{}
	o := DefaultOptions()
	objs := &cacheObjects{reader: c, informers: newInformers(c, cachedKinds(o)...)}
	err := objs.available(context.Background(), "ConfigMap", "team")
	var u *objects.Unavailable
	if !errors.As(err, &u) || !strings.Contains(u.Reason, "gatewayAPI.enabled") {
		t.Errorf("ConfigMap lookup with Gateway API off: want unavailable naming gatewayAPI.enabled, got %v", err)
	}
	if len(c.asked) != 0 {
		t.Errorf("informers started for %v", c.asked)
	}
	o.GatewayAPI = true
	objs = &cacheObjects{reader: c, informers: newInformers(c, cachedKinds(o)...)}
	if err := objs.available(context.Background(), "ConfigMap", "team"); err != nil || len(c.asked) != 1 {
		t.Errorf("ConfigMap lookup with Gateway API on: %v, informers asked for %v", err, c.asked)
	}
}

// With one cluster-wide Secret watch, "every namespace the cache holds" for the CA sync is the
// served namespaces, not every namespace whose Secrets the watch sees by name.
func TestCASyncNamespacesWithOneSecretInformer(t *testing.T) {
	served := []string{"a", "b"}
	for _, c := range []struct {
		o    Options
		want []string
	}{
		{Options{SecretNamespaces: served, OneSecretInformer: true}, served},
		{Options{SecretNamespaces: served, OneSecretInformer: true, CASyncNamespaces: []string{"*"}}, served},
		{Options{SecretNamespaces: served, OneSecretInformer: true, CASyncNamespaces: []string{"a"}}, []string{"a"}},
		{Options{SecretNamespaces: served}, nil},
		{Options{OneSecretInformer: true}, nil},
	} {
		if got := caSyncNamespaces(c.o); !slices.Equal(got, c.want) {
			t.Errorf("%+v: CA sync namespaces %v, want %v", c.o, got, c.want)
		}
	}
}
