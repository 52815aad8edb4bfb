package probe

import (
	"slices"

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
func ingressUses(raw []byte) (namespace string, out []use) {
	var ing ingressBackends
	if objects.Decode(raw, &ing) != nil {
		return "", nil
	}
	ns := ing.Metadata.Namespace
	ann := ing.Metadata.Annotations
	ssl := ingress.ServiceList(ann[ingress.AnnotationSSLServices])
	var backends []upstream
	add := func(b *ingressBackend) {
		if b == nil || b.Service == nil || !slices.Contains(ssl, b.Service.Name) {
			return
		}
		up := upstream{Service: b.Service.Name, Port: b.Service.Port.Number, PortName: b.Service.Port.Name}
		if !slices.Contains(backends, up) {
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
		return ns, nil
	}
	for _, p := range ingress.PolicyRefs(ann[ingress.AnnotationPolicies], ns) {
		for _, b := range backends {
			out = append(out, use{policy: policyRef{Name: p.Name, Namespace: p.Namespace}, upstream: b})
		}
	}
	return ns, out
}
