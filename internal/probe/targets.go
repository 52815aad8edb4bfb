package probe

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net"
	"sort"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"

	"github.com/aigw-mtls/aigw-mtls-webhook/internal/aigw"
	"github.com/aigw-mtls/aigw-mtls-webhook/internal/certs"
	"github.com/aigw-mtls/aigw-mtls-webhook/internal/objects"
	"github.com/aigw-mtls/aigw-mtls-webhook/internal/rules"
)

// Cluster is what the probe reads to find its targets. Secrets come as objects.Objects serve them:
// without private keys (the webhook's cache and check drop them when they read a Secret); the
// probe reads only tls.crt and the CA key of them.
type Cluster interface {
	objects.Objects // Policies and Secrets
	// VirtualServers are the labelled VirtualServers, as raw JSON.
	VirtualServers() [][]byte
	// Ingresses are the labelled Ingresses, as raw JSON.
	Ingresses() [][]byte
	// BackendTLSPolicies are the labelled BackendTLSPolicies, as raw JSON (none without Gateway
	// API). Their CA ConfigMaps are read with Get.
	BackendTLSPolicies() [][]byte
	Service(namespace, name string) *corev1.Service
	// EndpointSlices are the slices of a Service (label kubernetes.io/service-name).
	EndpointSlices(namespace, service string) []discoveryv1.EndpointSlice
}

// Targets are the aigw Service ports the labelled egressMTLS Policies serve: the upstreams with
// tls.enable of the labelled VirtualServers that reference the Policy (at the server: every such
// upstream; on a route: the upstreams it passes to) and the backends in nginx.org/ssl-services of
// the labelled Ingresses whose nginx.org/policies name it; and the Service ports the labelled
// BackendTLSPolicies target (NGINX Gateway Fabric). Each has at most maxEndpoints ready endpoints.
func Targets(c Cluster, s aigw.Settings, maxEndpoints int, now time.Time) []Target {
	if maxEndpoints <= 0 {
		maxEndpoints = DefaultMaxEndpoints
	}
	type key struct{ policy, service string }
	seen := map[key]bool{}
	var out []Target
	type uses struct {
		namespace string
		list      []use
	}
	var all []uses
	for _, raw := range c.VirtualServers() {
		var vs virtualServer
		if objects.Decode(raw, &vs) == nil {
			all = append(all, uses{vs.Metadata.Namespace, vs.uses()})
		}
	}
	for _, raw := range c.Ingresses() {
		ns, list := ingressUses(raw)
		all = append(all, uses{ns, list})
	}
	for _, u := range all {
		ns := u.namespace
		for _, use := range u.list {
			pns := use.policy.Namespace
			if pns == "" {
				pns = ns
			}
			praw, ok := c.Get("Policy", pns, use.policy.Name)
			if !ok {
				continue
			}
			e, err := rules.PolicyEgress(praw, pns, s)
			if err != nil || e == nil || !e.Selected {
				continue
			}
			up := use.upstream
			k := key{pns + "/" + e.Name, fmt.Sprintf("%s/%s:%d%s", ns, up.Service, up.Port, up.PortName)}
			if seen[k] {
				continue
			}
			seen[k] = true
			out = append(out, target(c, s, e, ns, up, maxEndpoints))
		}
	}
	out = append(out, backendTLSTargets(c, s, maxEndpoints, now)...)
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Policy != out[j].Policy {
			return out[i].Policy < out[j].Policy
		}
		return out[i].Service < out[j].Service
	})
	return out
}

func target(c Cluster, s aigw.Settings, e *rules.Egress, ns string, up upstream, maxEndpoints int) Target {
	t := Target{Kind: "Policy", Policy: "Policy/" + e.Namespace + "/" + e.Name, Service: "Service/" + ns + "/" + up.Service, Port: up.Port, Depth: e.Depth}
	t.MinVersion, t.MaxVersion, _ = Versions(e.Protocols)
	if e.ServerName {
		t.SNI = e.SSLName
	}
	if e.VerifyServer {
		t.SSLName = e.SSLName
		if ca := certificates(c, e.Namespace, e.TrustedCertSecret, s.CAKey); len(ca) > 0 {
			t.Trusted, t.TrustedName = ca, "trustedCertSecret "+e.TrustedCertSecret
		}
	}
	t.Secret, t.SecretName = certificates(c, e.Namespace, e.ServerTLSSecret, corev1.TLSCertKey), e.Namespace+"/"+e.ServerTLSSecret
	t.Client, t.ClientName = certificates(c, e.Namespace, e.TLSSecret, corev1.TLSCertKey), "Secret "+e.Namespace+"/"+e.TLSSecret
	if sp := servicePort(c, ns, up); sp != nil {
		t.Port = sp.Port
	}
	t.Endpoints, t.Skipped, t.NoEndpoint = endpoints(c, ns, up, maxEndpoints)
	return t
}

// backendTLSTargets are the Service ports of the labelled BackendTLSPolicies: NGF sends SNI and
// checks validation.hostname, verifies with depth 4 and nginx's default protocols.
func backendTLSTargets(c Cluster, s aigw.Settings, maxEndpoints int, now time.Time) []Target {
	var out []Target
	for _, raw := range c.BackendTLSPolicies() {
		b, err := rules.BackendTLSOf(raw, "", s, c, now)
		if err != nil || !b.Selected {
			continue
		}
		for _, svc := range b.Services {
			var ports []upstream
			if sv := c.Service(b.Namespace, svc.Name); sv != nil {
				for _, p := range sv.Spec.Ports {
					if svc.Port == "" || p.Name == svc.Port {
						ports = append(ports, upstream{Service: svc.Name, Port: p.Port})
					}
				}
			}
			if len(ports) == 0 {
				ports = []upstream{{Service: svc.Name, PortName: svc.Port}}
			}
			for _, up := range ports {
				t := Target{Kind: "BackendTLSPolicy", Policy: "BackendTLSPolicy/" + b.Namespace + "/" + b.Name, Service: "Service/" + b.Namespace + "/" + up.Service,
					Port: up.Port, SNI: b.Hostname, SSLName: b.Hostname, MinVersion: tls.VersionTLS12, MaxVersion: tls.VersionTLS13,
					Trusted: b.Trusted, TrustedName: b.TrustedName, Depth: b.Depth}
				t.Secret, t.SecretName = certificates(c, b.Namespace, b.ServerTLSSecret, corev1.TLSCertKey), b.Namespace+"/"+b.ServerTLSSecret
				t.Endpoints, t.Skipped, t.NoEndpoint = endpoints(c, b.Namespace, up, maxEndpoints)
				out = append(out, t)
			}
		}
	}
	return out
}

// certificates are the certificates under key of Secret namespace/name; nil when there are none.
func certificates(c Cluster, namespace, name, key string) []*x509.Certificate {
	if name == "" {
		return nil
	}
	raw, ok := c.Get("Secret", namespace, name)
	if !ok {
		return nil
	}
	var sec struct {
		Data map[string][]byte `json:"data"`
	}
	if json.Unmarshal(raw, &sec) != nil {
		return nil
	}
	cs, err := certs.Parse(sec.Data[key])
	if err != nil {
		return nil
	}
	return cs
}

// endpoints are the ready addresses of the Service port, as host:port of the endpoint port, at
// most max (in address order); the number left out; and, when there is none, why.
func endpoints(c Cluster, namespace string, up upstream, max int) (out []string, skipped int, none string) {
	service := up.Service
	svc := c.Service(namespace, service)
	if svc == nil {
		return nil, 0, "Service " + namespace + "/" + service + " not found"
	}
	sp := servicePort(c, namespace, up)
	if sp == nil {
		return nil, 0, fmt.Sprintf("Service %s/%s has no port %s", namespace, service, up.portString())
	}
	port := sp.Port
	seen := map[string]bool{}
	for _, es := range c.EndpointSlices(namespace, service) {
		var ep int32
		for _, p := range es.Ports {
			if p.Port != nil && (p.Name == nil && sp.Name == "" || p.Name != nil && *p.Name == sp.Name) {
				ep = *p.Port
			}
		}
		if ep == 0 {
			continue
		}
		for _, e := range es.Endpoints {
			if e.Conditions.Ready != nil && !*e.Conditions.Ready {
				continue
			}
			for _, a := range e.Addresses {
				seen[net.JoinHostPort(a, strconv.Itoa(int(ep)))] = true
			}
		}
	}
	for a := range seen {
		out = append(out, a)
	}
	sort.Strings(out)
	if len(out) > max {
		skipped, out = len(out)-max, out[:max]
	}
	if len(out) == 0 {
		none = fmt.Sprintf("no ready endpoint for port %d (%s) in the EndpointSlices of Service %s/%s", port, portName(sp), namespace, service)
	}
	return out, skipped, none
}

// servicePort is the Service port the upstream names, by number or by name; nil when none.
func servicePort(c Cluster, namespace string, up upstream) *corev1.ServicePort {
	svc := c.Service(namespace, up.Service)
	if svc == nil {
		return nil
	}
	for i := range svc.Spec.Ports {
		if p := svc.Spec.Ports[i]; up.PortName == "" && p.Port == up.Port || up.PortName != "" && p.Name == up.PortName {
			return &svc.Spec.Ports[i]
		}
	}
	return nil
}

func (u upstream) portString() string {
	if u.PortName != "" {
		return u.PortName
	}
	return strconv.Itoa(int(u.Port))
}

func portName(sp *corev1.ServicePort) string {
	if sp.Name == "" {
		return "unnamed"
	}
	return "named " + sp.Name
}
