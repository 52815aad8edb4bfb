package webhook

import (
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	toolscache "k8s.io/client-go/tools/cache"
)

// benchRouteIndexers are the cache's field indexes on routes, keyed as controller-runtime keys them.
func benchRouteIndexers() toolscache.Indexers {
	return toolscache.Indexers{"field:" + routeServiceIndex: func(obj any) ([]string, error) {
		u := obj.(*unstructured.Unstructured)
		var out []string
		for _, v := range routeServices(u) {
			out = append(out, u.GetNamespace()+"/"+v)
		}
		return out, nil
	}}
}
