// Package ingress reads a networking.k8s.io/v1 Ingress the way NGINX Ingress Controller v5.5.4
// reads it for egress mTLS: its mergeable type, the Services its paths send to, and the
// nginx.org/policies and nginx.org/ssl-services lists.
package ingress

import (
	"fmt"
	"slices"
	"strings"

	"github.com/aigw-mtls/aigw-mtls-webhook/internal/objects"
)

// NIC's annotations (internal/configs/annotations.go, internal/k8s/validation.go).
const (
	AnnotationPolicies      = "nginx.org/policies"
	AnnotationSSLServices   = "nginx.org/ssl-services"
	AnnotationGRPCServices  = "nginx.org/grpc-services"
	AnnotationMergeableType = "nginx.org/mergeable-ingress-type"
)

// Type is an Ingress's role in NIC's mergeable Ingresses.
type Type string

const (
	Regular Type = ""
	Master  Type = "master"
	Minion  Type = "minion"
)

// Ingress is the part of an Ingress NIC reads for egress mTLS.
type Ingress struct {
	Metadata objects.Meta `json:"metadata"`
	Spec     struct {
		DefaultBackend *backend `json:"defaultBackend"`
		Rules          []struct {
			Host string `json:"host"`
			HTTP *struct {
				Paths []struct {
					Path    string  `json:"path"`
					Backend backend `json:"backend"`
				} `json:"paths"`
			} `json:"http"`
		} `json:"rules"`
	} `json:"spec"`
}

type backend struct {
	Service *struct {
		Name string `json:"name"`
	} `json:"service"`
}

// Decode reads an Ingress with the API server's case-sensitive decoder.
func Decode(raw []byte) (Ingress, error) {
	var ing Ingress
	if err := objects.Decode(raw, &ing); err != nil {
		return Ingress{}, fmt.Errorf("decoding Ingress: %w", err)
	}
	return ing, nil
}

// Type is the value of nginx.org/mergeable-ingress-type.
func (ing Ingress) Type() Type { return Type(ing.Metadata.Annotations[AnnotationMergeableType]) }

// Services are the Services the Ingress sends to, in the order they first appear: the default
// backend, then each path (internal/k8s/validation.go getSpecServices).
func (ing Ingress) Services() []string {
	var out []string
	seen := map[string]bool{}
	add := func(b *backend) {
		if b != nil && b.Service != nil && b.Service.Name != "" && !seen[b.Service.Name] {
			seen[b.Service.Name] = true
			out = append(out, b.Service.Name)
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
	return out
}

// AigwServices are the Services to wire, in the Ingress's order: those the comma-separated list
// names (the mtls.aigw.io/services annotation), else the backend Services whose in-cluster DNS
// name the egressMTLS Policy's sslName is (ServiceNamed); missing are the listed names that are no
// backend Service of the Ingress.
func (ing Ingress) AigwServices(list, sslName, namespace string) (selected, missing []string) {
	all := ing.Services()
	var want []string
	for _, n := range strings.Split(list, ",") {
		if n = strings.TrimSpace(n); n != "" {
			want = append(want, n)
		}
	}
	if len(want) == 0 {
		for _, n := range all {
			if ServiceNamed(sslName, n, namespace) {
				selected = append(selected, n)
			}
		}
		return selected, nil
	}
	for _, n := range want {
		if !slices.Contains(all, n) {
			missing = append(missing, n)
		}
	}
	for _, n := range all {
		if slices.Contains(want, n) {
			selected = append(selected, n)
		}
	}
	return selected, missing
}

// ServiceNamed reports whether host is a DNS name of the Service svc in namespace: svc (from the
// same namespace), svc.namespace, or svc.namespace.svc followed by any cluster domain
// (svc.namespace.svc.cluster.local).
func ServiceNamed(host, svc, namespace string) bool {
	labels := strings.Split(strings.ToLower(host), ".")
	switch {
	case svc == "" || labels[0] != svc:
		return false
	case len(labels) == 1:
		return true
	case labels[1] != namespace:
		return false
	}
	return len(labels) == 2 || labels[2] == "svc"
}

// ServiceList splits a nginx.org/ssl-services (or grpc-services) value as NIC does
// (internal/configs/parsing_helpers.go ParseServiceList): on ',' only, without trimming, so
// "a, b" names the Services "a" and " b".
func ServiceList(v string) []string { return strings.Split(v, ",") }

// PolicyRef is one entry of nginx.org/policies.
type PolicyRef struct {
	Entry     string // as written, trimmed
	Namespace string // the Ingress's when the entry names none
	Name      string
}

// Key is namespace/name.
func (p PolicyRef) Key() string { return p.Namespace + "/" + p.Name }

// PolicyRefs splits a nginx.org/policies value as NIC does
// (internal/k8s/policies/policy_refs.go GetPolicyRefsFromAnnotation): entries separated by ',',
// trimmed; "namespace/name" names another namespace, else the Ingress's namespace applies.
func PolicyRefs(v, namespace string) []PolicyRef {
	var out []PolicyRef
	for _, e := range strings.Split(v, ",") {
		e = strings.TrimSpace(e)
		ref := PolicyRef{Entry: e, Namespace: namespace, Name: e}
		if parts := strings.Split(e, "/"); len(parts) == 2 {
			ref.Namespace, ref.Name = parts[0], parts[1]
		}
		out = append(out, ref)
	}
	return out
}
