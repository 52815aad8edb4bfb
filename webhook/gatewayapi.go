package webhook

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/fields"
	"sigs.k8s.io/controller-runtime/pkg/cache"
)

// cacheOptions are CacheOptions plus, with Gateway API on, the ConfigMaps named like the CA Secret:
// the CA ConfigMaps BackendTLSPolicies reference (no other ConfigMap enters the cache).
func cacheOptions(o Options) cache.Options {
	opts := CacheOptions(o.Settings)
	if o.GatewayAPI {
		opts.ByObject[&corev1.ConfigMap{}] = cache.ByObject{Field: fields.OneTermEqualSelector("metadata.name", o.Settings.CASecret)}
	}
	return opts
}

// gatewayAPIKinds are the kinds cached only with Gateway API on.
func gatewayAPIKinds(o Options) []string {
	if o.GatewayAPI {
		return []string{"ConfigMap"}
	}
	return nil
}
