package rules

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/aigw-mtls/aigw-mtls-webhook/internal/aigw"
	"github.com/aigw-mtls/aigw-mtls-webhook/internal/ingress"
	"github.com/aigw-mtls/aigw-mtls-webhook/internal/objects"
)

// Ingress judges a labelled networking.k8s.io/v1 Ingress: its nginx.org/policies and
// nginx.org/ssl-services annotations as NIC v5.5.4 validates them, TLS to its aigw Services, the
// egressMTLS Policies it references (whether or not those carry the label), and gRPC Services
// under an Ingress-wide Policy.
func Ingress(raw []byte, namespace string, s aigw.Settings, objs objects.Objects, now time.Time) (Findings, error) {
	ing, err := ingress.Decode(raw)
	if err != nil {
		return nil, err
	}
	if !s.Selected(ing.Metadata.Labels) {
		return nil, nil
	}
	ns := ing.Metadata.In(namespace)
	c := &collector{obj: ing.Metadata.Ref("Ingress", ns)}
	ann := ing.Metadata.Annotations
	services := ing.Services()

	sslField := "metadata.annotations[" + ingress.AnnotationSSLServices + "]"
	ssl, hasSSL := ann[ingress.AnnotationSSLServices]
	if hasSSL {
		ingressServiceList(c, sslField, ssl, services)
	}

	var egress string // the egressMTLS Policy NIC applies
	polField := "metadata.annotations[" + ingress.AnnotationPolicies + "]"
	if v, ok := ann[ingress.AnnotationPolicies]; ok {
		var err error
		if egress, err = ingressPolicies(c, polField, ingressPolicyNames(c, polField, v, ns), ing.Type(), s, objs, now); err != nil {
			return nil, err
		}
	}
	if ing.Type() == ingress.Master || egress == "" {
		return c.out, nil
	}

	sslName, _ := EgressMTLSSSLName(objs, ingressPolicyKey(egress))
	aigwServices, _ := ing.AigwServices(ann[aigw.AnnotationServices], sslName, ns)
	// NIC proxies to a Service over https:// only when nginx.org/ssl-services names it
	// (internal/configs/ingress.go generateNginxCfg: isSSLEnabled); the proxy_ssl_* directives of
	// the Policy apply to https:// upstreams only.
	var listed []string
	if hasSSL {
		listed = ingress.ServiceList(ssl)
	}
	for _, svc := range aigwServices {
		if !slices.Contains(listed, svc) {
			c.add(IngressSSLServicesMissing, Finding{Field: sslField, Expected: "the aigw Service " + svc + ", which the egressMTLS Policy " + egress + " is for",
				Found: "none", Fix: fmt.Sprintf("add %s to %s (comma-separated, no spaces)", svc, ingress.AnnotationSSLServices)})
		}
	}
	// A regular Ingress's Policy is rendered in the server block as proxy_ssl_* only
	// (internal/configs/version1/nginx.ingress.tmpl "with $server.EgressMTLS"); a gRPC location
	// grpc_passes and does not read them. A minion's Policy is rendered per location with
	// $proxyOrGRPC, as grpc_ssl_* for a gRPC Service (generateNginxCfg: isMinion → loc.EgressMTLS).
	if ing.Type() != ingress.Minion {
		if v, ok := ann[ingress.AnnotationGRPCServices]; ok {
			for _, svc := range ingress.ServiceList(v) {
				if slices.Contains(aigwServices, svc) {
					c.add(IngressGRPCUnderServerPolicy, Finding{Field: "metadata.annotations[" + ingress.AnnotationGRPCServices + "]",
						Expected: fmt.Sprintf("no aigw Service under the Ingress-wide egressMTLS Policy %s", egress),
						Found:    fmt.Sprintf("%s: with http2: \"true\" in NIC's ConfigMap, NIC renders the Policy as proxy_ssl_* in the server block, which grpc_pass ignores; with NIC's default http2: false, NIC ignores %s (internal/configs/ingress.go generateNginxCfg: \"requires HTTP2, ignoring\") and proxies gRPC over HTTP/1.1, which gRPC clients cannot use", svc, ingress.AnnotationGRPCServices),
						Fix:      "move the gRPC paths to a minion Ingress (nginx.org/mergeable-ingress-type: minion) that references the Policy itself, with http2: \"true\" in NIC's ConfigMap: NIC renders the Policy as grpc_ssl_* there"})
				}
			}
		}
	}
	return c.out, nil
}

// ingressPolicyNames follows internal/k8s/validation.go for nginx.org/policies
// (validateRequiredAnnotation, validateCommaSeparatedList, validatePolicyNames): a value that is
// empty, or an entry whose name (or namespace) is not a DNS-1123 subdomain, makes NIC reject the
// Ingress. It returns the entries NIC resolves.
func ingressPolicyNames(c *collector, field, v, namespace string) []ingress.PolicyRef {
	fix := "list Policies as name or namespace/name, separated by ','"
	if strings.TrimSpace(v) == "" {
		c.add(IngressPoliciesEmpty, Finding{Field: field, Expected: "a comma-separated list of Policies",
			Found: "an empty value", Fix: fix + ", or remove the annotation"})
		return nil
	}
	var out []ingress.PolicyRef
	for _, ref := range ingress.PolicyRefs(v, namespace) {
		bad := false
		name := ref.Entry
		if ns, n, ok := strings.Cut(ref.Entry, "/"); ok {
			for _, msg := range validation.IsDNS1123Subdomain(ns) {
				c.add(IngressPolicyRefInvalid, Finding{Field: field, Expected: "a Policy namespace (a DNS-1123 subdomain)",
					Found: fmt.Sprintf("%q in %q: %s", ns, ref.Entry, msg), Fix: fix})
				bad = true
			}
			name = n
		}
		for _, msg := range validation.IsDNS1123Subdomain(name) {
			c.add(IngressPolicyRefInvalid, Finding{Field: field, Expected: "a Policy name (a DNS-1123 subdomain)",
				Found: fmt.Sprintf("%q in %q: %s", name, ref.Entry, msg), Fix: fix})
			bad = true
		}
		if !bad {
			out = append(out, ref)
		}
	}
	return out
}

// ingressServiceList follows internal/k8s/validation.go validateServiceListAnnotation: every
// entry, split on ',' without trimming, must be a Service the Ingress sends to, else NIC rejects
// the Ingress.
func ingressServiceList(c *collector, field, v string, services []string) {
	var unknown []string
	for _, svc := range ingress.ServiceList(v) {
		if !slices.Contains(services, svc) {
			unknown = append(unknown, fmt.Sprintf("%q", svc))
		}
	}
	if len(unknown) == 0 {
		return
	}
	known := strings.Join(services, ",")
	if known == "" {
		known = "none: the Ingress has no paths"
	}
	c.add(IngressSSLServicesUnknown, Finding{Field: field, Expected: "Services of this Ingress's backends separated by ',' without spaces (" + known + ")",
		Found: fmt.Sprintf("%q, naming %s", v, strings.Join(unknown, ", ")),
		Fix:   "list only this Ingress's backend Services, without spaces (NIC does not trim them); on a mergeable master, move the annotation to the minions"})
}
