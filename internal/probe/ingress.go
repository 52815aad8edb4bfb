package probe

import (
	"github.com/aigw-mtls/aigw-mtls-webhook/internal/ingress"
	"github.com/aigw-mtls/aigw-mtls-webhook/internal/objects"
)

// ingressBackends is the part of an Ingress that says which Service ports its paths send to.
type ingressBackends struct {
	Metadata objects.Meta `json:"metadata"`
	Spec     struct {
		DefaultBackend *ingressBackend `json:"defaultBackend"`
		Rules          []struct {
			HTTP *struct {
				Paths []struct {
					Backend ingressBackend `json:"backend"`
				} `json:"paths"`
			} `json:"http"`
		} `json:"rules"`
	} `json:"spec"`
}

type ingressBackend struct {
	Service *struct {
		Name string `json:"name"`
		Port struct {
			Number int32  `json:"number"`
			Name   string `json:"name"`
		} `json:"port"`
	} `json:"service"`
}

// ingressUses pairs each Policy of nginx.org/policies with the backend Service ports of the
// Services nginx.org/ssl-services names (NIC v5.5.4 applies an Ingress's Policies to all its
// paths; ingress.PolicyRefs and ingress.ServiceList split the annotations as NIC does).
// At most maxUsesPerObject pairs; truncated says some were left out.
func ingressUses(raw []byte) (meta objects.Meta, out []use, truncated bool) {
	var ing ingressBackends
	if objects.Decode(raw, &ing) != nil {
		return meta, nil, false
	}
	ns := ing.Metadata.Namespace
	ann := ing.Metadata.Annotations
	ssl := map[string]bool{}
	for _, name := range ingress.ServiceList(ann[ingress.AnnotationSSLServices]) {
		ssl[name] = true
	}
	var backends []upstream
	seenBackend := map[upstream]bool{}
	add := func(b *ingressBackend) {
		if b == nil || b.Service == nil || !ssl[b.Service.Name] {
			return
		}
		up := upstream{Service: b.Service.Name, Port: b.Service.Port.Number, PortName: b.Service.Port.Name}
		if !seenBackend[up] {
			seenBackend[up] = true
			backends = append(backends, up)
		}
	}
	add(ing.Spec.DefaultBackend)
	for _, r := range ing.Spec.Rules {
		if r.HTTP == nil {
			continue
		}
		for i := range r.HTTP.Paths {
			add(&r.HTTP.Paths[i].Backend)
		}
	}
	if ann[ingress.AnnotationPolicies] == "" {
		return ing.Metadata, nil, false
	}
	seen := map[use]bool{}
	for _, p := range ingress.PolicyRefs(ann[ingress.AnnotationPolicies], ns) {
		for _, b := range backends {
			u := use{policy: policyRef{Name: p.Name, Namespace: p.Namespace}, upstream: b}
			if seen[u] {
				continue
			}
			if len(out) == maxUsesPerObject {
				return ing.Metadata, out, true
			}
			seen[u] = true
			out = append(out, u)
		}
	}
	return ing.Metadata, out, false
}
