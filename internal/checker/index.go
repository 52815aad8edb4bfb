package checker

import (
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
)

// inNamespace holds, per namespace, the positions of the snapshot's objects there: each
// namespace's checks read only its own objects, so a whole-cluster check grows linearly with the
// number of tenants instead of scanning every object for each namespace.
type inNamespace struct {
	pods, configMaps, policies, vss, vsrs, ingresses, btps, gateways map[string][]int
}

func byNamespace[T any](items []T, namespace func(*T) string) map[string][]int {
	out := map[string][]int{}
	for i := range items {
		ns := namespace(&items[i])
		out[ns] = append(out[ns], i)
	}
	return out
}

func (s *snapshot) indexNamespaces() {
	u := func(it *item) string { return it.namespace }
	s.in = inNamespace{
		pods:       byNamespace(s.pods, func(p *corev1.Pod) string { return p.Namespace }),
		configMaps: byNamespace(s.configMaps, func(c *corev1.ConfigMap) string { return c.Namespace }),
		policies:   byNamespace(s.policies, u),
		vss:        byNamespace(s.vss, u),
		vsrs:       byNamespace(s.vsrs, u),
		ingresses:  byNamespace(s.ingresses, func(i *networkingv1.Ingress) string { return i.Namespace }),
		btps:       byNamespace(s.btps, u),
		gateways:   byNamespace(s.gateways, u),
	}
}
