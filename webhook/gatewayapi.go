package webhook

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/cache"
)

// cacheOptions are CacheOptions plus, with Gateway API on, the labelled ConfigMaps: the CA
// ConfigMaps BackendTLSPolicies reference (the CA sync labels its own).
func cacheOptions(o Options) cache.Options {
	opts := CacheOptions(o.Settings, o.SecretNamespaces...)
	if o.GatewayAPI {
		selected := labels.SelectorFromSet(labels.Set{o.Settings.SelectorKey: o.Settings.SelectorValue})
		opts.ByObject[&corev1.ConfigMap{}] = cache.ByObject{Label: selected}
	}
	return opts
}

// gatewayAPIKinds are the kinds cached only with Gateway API on: the labelled ConfigMaps, and all
// BackendTLSPolicies (small, keyless; an unlabelled one targeting the aigw Service conflicts with
// a labelled one).
func gatewayAPIKinds(o Options) []string {
	if o.GatewayAPI {
		return []string{"ConfigMap", "BackendTLSPolicy"}
	}
	return nil
}

var backendTLSPolicyGVK = schema.GroupVersionKind{Group: "gateway.networking.k8s.io", Version: "v1", Kind: "BackendTLSPolicy"}
