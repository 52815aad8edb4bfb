package webhook

import (
	"context"
	"errors"
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
