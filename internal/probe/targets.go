package probe

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"sort"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"

	"github.com/aigw-mtls/aigw-mtls-webhook/internal/aigw"
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

// Limits bound Targets.
type Limits struct {
	MaxEndpoints int // ready endpoints per target; <= 0: DefaultMaxEndpoints
	MaxTargets   int // targets resolved (Service and EndpointSlice reads); <= 0: DefaultMaxTargets
	// MaxPerNamespace are the targets of Policies of one namespace among MaxTargets, so that one
	// namespace's many Policies cannot leave the others unprobed; <= 0: a quarter of MaxTargets
	// (at least 1).
	MaxPerNamespace int
}

// Validate refuses the bounds a run given by a user (serve's and check's --probe-max-endpoints and
// --probe-max-targets) cannot mean: none of them may be 0 or negative, which would otherwise
// silently become the defaults.
func (l Limits) Validate() error {
	if l.MaxEndpoints <= 0 || l.MaxTargets <= 0 || l.MaxPerNamespace < 0 {
		return fmt.Errorf("probe: max endpoints (--probe-max-endpoints) and max targets (--probe-max-targets) must be positive (got %d, %d)", l.MaxEndpoints, l.MaxTargets)
	}
	return nil
}

// withDefaults is l with its defaults filled in.
func (l Limits) withDefaults() Limits {
	if l.MaxEndpoints <= 0 {
		l.MaxEndpoints = DefaultMaxEndpoints
	}
	if l.MaxTargets <= 0 {
		l.MaxTargets = DefaultMaxTargets
	}
	if l.MaxPerNamespace <= 0 {
		l.MaxPerNamespace = max(1, l.MaxTargets/4)
	}
	return l
}

// Plan is what a probe run handshakes with and what it leaves out.
type Plan struct {
	Targets []Target // in Policy, Service order; those with CutOff were not resolved
	Limits  Limits   // the bounds applied, defaults filled in
	// LeftOut are the targets past Limits.MaxTargets or MaxPerNamespace: not probed.
	LeftOut int
	// LeftOutBy says, per Policy in Policy order, how many of its targets LeftOut holds.
	LeftOutBy []NotProbed
	// NotProbed say, per object, what was not probed and why.
	NotProbed []NotProbed
}

// NotProbed is what a run leaves out of one object, and why.
type NotProbed struct {
	Namespace string // the object's
	Object    string // Kind/namespace/name
	Reason    string
}

// key is one target before it is resolved: a Policy (or BackendTLSPolicy) and a Service port.
type key struct {
	policy, service string // refs: Kind/namespace/name, and namespace/name:port
	namespace       string // the Policy's
	egress          *rules.Egress
	btp             *rules.BackendTLS
	svcNamespace    string
	up              upstream
}

// Targets are the aigw Service ports the labelled egressMTLS Policies serve: the upstreams with
// tls.enable of the labelled VirtualServers that reference the Policy (at the server: every such
// upstream; on a route: the upstreams it passes to) and the backends in nginx.org/ssl-services of
// the labelled Ingresses whose nginx.org/policies name it; and the Service ports the labelled
// BackendTLSPolicies target (NGINX Gateway Fabric). Only a Policy of the referring object's own
// namespace is followed (a reference to another namespace's Policy is not probed: a tenant could
// otherwise make another namespace's Policy fail). The pairs are found first, from the objects
// alone (a BackendTLSPolicy's Service read then, once per run, for its ports); then
// lim.MaxTargets of them, taken in turns (fairOrder), at most lim.MaxPerNamespace of one
// namespace, are resolved, each with at most lim.MaxEndpoints ready endpoints. Once ctx ends the remaining targets are returned with CutOff
// set, unresolved.
func Targets(ctx context.Context, c Cluster, s aigw.Settings, lim Limits, now time.Time) Plan {
	lim = lim.withDefaults()
	plan := Plan{Limits: lim}
	seen := map[[2]string]bool{}
	var keys []key
	// Each Policy is read and decoded once per run, however many upstreams name it.
	type policyRef struct{ namespace, name string }
	egresses := map[policyRef]*rules.Egress{}
	said := map[NotProbed]bool{}
	egressOf := func(namespace, name string) *rules.Egress {
		ref := policyRef{namespace, name}
		if e, ok := egresses[ref]; ok {
			return e
		}
		var e *rules.Egress
		if raw, ok := c.Get("Policy", namespace, name); ok {
			if got, err := rules.PolicyEgress(raw, namespace, s); err == nil && got != nil && got.Selected {
				e = got
			}
		}
		egresses[ref] = e
		return e
	}
	addUses := func(kind, ref, ns string, list []use, truncated bool) {
		obj := kind + "/" + ns + "/" + ref
		if truncated {
			plan.NotProbed = append(plan.NotProbed, NotProbed{Namespace: ns, Object: obj,
				Reason: fmt.Sprintf("only the first %d Policy and upstream pairs are probed", maxUsesPerObject)})
		}
		for _, use := range list {
			pns := use.policy.Namespace
			if pns == "" {
				pns = ns
			}
			if pns != ns {
				// Said once per object and Policy, not once per upstream that names it.
				if n := (NotProbed{Namespace: ns, Object: obj, Reason: fmt.Sprintf("Policy %s/%s is in another namespace: not probed", pns, use.policy.Name)}); !said[n] {
					said[n] = true
					plan.NotProbed = append(plan.NotProbed, n)
				}
				continue
			}
			e := egressOf(pns, use.policy.Name)
			if e == nil {
				continue
			}
			if e.SNIIsUpstreamName() {
				// The handshake nginx makes carries a name the probe cannot know (NIC's upstream
				// name); probing without it or with another would judge a handshake nginx does not
				// make. Said once per Policy.
				if n := (NotProbed{Namespace: pns, Object: "Policy/" + pns + "/" + e.Name,
					Reason: "nginx sends NIC's internal upstream name as SNI (" + rules.NICDefaultSSLName + "); set sslName"}); !said[n] {
					said[n] = true
					plan.NotProbed = append(plan.NotProbed, n)
				}
				continue
			}
			up := use.upstream
			k := key{policy: "Policy/" + pns + "/" + e.Name, service: fmt.Sprintf("%s/%s:%d%s", ns, up.Service, up.Port, up.PortName),
				namespace: pns, egress: e, svcNamespace: ns, up: up}
			if id := [2]string{k.policy, k.service}; !seen[id] {
				seen[id] = true
				keys = append(keys, k)
			}
		}
	}
	for _, raw := range c.VirtualServers() {
		if ctx.Err() != nil {
			break
		}
		var vs virtualServer
		if objects.Decode(raw, &vs) == nil {
			list, truncated := vs.uses(ctx)
			addUses("VirtualServer", vs.Metadata.Name, vs.Metadata.Namespace, list, truncated)
		}
	}
	for _, raw := range c.Ingresses() {
		if ctx.Err() != nil {
			break
		}
		meta, list, truncated := ingressUses(raw)
		addUses("Ingress", meta.Name, meta.Namespace, list, truncated)
	}
	rc := &readOnce{Cluster: c, services: map[string]*corev1.Service{}}
	leftOut := &leftOutCount{by: map[string]int{}}
	keys = append(keys, backendTLSKeys(ctx, rc, s, lim, leftOut, now)...)
	kept := within(keys, lim, leftOut)
	sort.SliceStable(kept, func(i, j int) bool {
		if kept[i].policy != kept[j].policy {
			return kept[i].policy < kept[j].policy
		}
		return kept[i].service < kept[j].service
	})
	for _, k := range kept {
		if ctx.Err() != nil {
			plan.Targets = append(plan.Targets, Target{Kind: strings.SplitN(k.policy, "/", 2)[0], Policy: k.policy, Service: "Service/" + k.svcNamespace + "/" + k.up.Service, Port: k.up.Port, CutOff: true})
			continue
		}
		if k.egress != nil {
			plan.Targets = append(plan.Targets, target(rc, s, k.egress, k.svcNamespace, k.up, lim.MaxEndpoints))
		} else {
			plan.Targets = append(plan.Targets, backendTLSTarget(rc, k.btp, k.up, lim.MaxEndpoints))
		}
	}
	sort.SliceStable(leftOut.order, func(i, j int) bool { return leftOut.order[i].Object < leftOut.order[j].Object })
	for _, n := range leftOut.order {
		count := leftOut.by[n.Object]
		plan.LeftOut += count
		n.Reason = fmt.Sprintf("%d Service port(s) not probed: a run probes at most %d Policy and Service port pairs, %d of them for the Policies of one namespace",
			count, lim.MaxTargets, lim.MaxPerNamespace)
		plan.LeftOutBy = append(plan.LeftOutBy, n)
	}
	return plan
}

// leftOutCount counts the targets left out per Policy, in the order first left out.
type leftOutCount struct {
	by    map[string]int
	order []NotProbed
}

func (l *leftOutCount) add(namespace, policy string) {
	if _, ok := l.by[policy]; !ok {
		l.order = append(l.order, NotProbed{Namespace: namespace, Object: policy})
	}
	l.by[policy]++
}

// readOnce reads each Service once per Targets call.
type readOnce struct {
	Cluster
	services map[string]*corev1.Service
}

func (r *readOnce) Service(namespace, name string) *corev1.Service {
	k := namespace + "/" + name
	if svc, ok := r.services[k]; ok {
		return svc
	}
	svc := r.Cluster.Service(namespace, name)
	r.services[k] = svc
	return svc
}

func target(c Cluster, s aigw.Settings, e *rules.Egress, ns string, up upstream, maxEndpoints int) Target {
	t := Target{Kind: "Policy", Policy: "Policy/" + e.Namespace + "/" + e.Name, Service: "Service/" + ns + "/" + up.Service, Port: up.Port, Depth: e.Depth}
	t.MinVersion, t.MaxVersion, _ = Versions(e.Protocols)
	// nginx sends SNI only with proxy_ssl_server_name on, and then proxy_ssl_name: NIC v5.5.4
	// renders "proxy_ssl_server_name {{ if .ServerName }}on{{else}}off{{end}}; proxy_ssl_name
	// {{ .SSLName }};" from egressMTLS.serverName and sslName (internal/configs/policy.go
	// addEgressMTLSConfig; version2/nginx.virtualserver.tmpl and nginx-plus.virtualserver.tmpl,
	// "with $s.EgressMTLS" and "with $l.EgressMTLS"; version1/nginx.ingress.tmpl for an Ingress),
	// and nothing else NIC renders for the aigw location turns it on. nginx's own default is off
	// (src/http/modules/ngx_http_proxy_module.c ngx_http_proxy_merge_loc_conf: ssl_server_name
	// merged with 0; src/http/ngx_http_upstream.c ngx_http_upstream_ssl_name sends none when off).
	// test/nginx/sni_test.go shows both on real nginx. serverName without sslName (nginx sends
	// NIC's upstream name) never reaches here: Targets reports it as not probed.
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

// backendTLSKeys are the Service ports of the labelled BackendTLSPolicies, one key each: every
// port of a target without sectionName, the named one with it, so that the bounds of Targets
// count ports. A Service that is missing or lacks the named port gives one key, whose target says
// so. Finding the ports reads the Service (once per run), so only as many targets are expanded as
// could be taken: in fairOrder, at most lim.MaxPerNamespace of one namespace and lim.MaxTargets
// in all; each other one is counted in leftOut as one Service port. Once ctx ends the Services
// are no longer read (the keys are then cut off).
func backendTLSKeys(ctx context.Context, c Cluster, s aigw.Settings, lim Limits, leftOut *leftOutCount, now time.Time) []key {
	var refs []key // one per Service a BackendTLSPolicy targets, up.PortName its sectionName
	for _, raw := range c.BackendTLSPolicies() {
		b, err := rules.BackendTLSOf(raw, "", s, c, now)
		if err != nil || !b.Selected {
			continue
		}
		for _, svc := range b.Services {
			refs = append(refs, key{policy: "BackendTLSPolicy/" + b.Namespace + "/" + b.Name, service: b.Namespace + "/" + svc.Name + ":" + svc.Port,
				namespace: b.Namespace, btp: b, svcNamespace: b.Namespace, up: upstream{Service: svc.Name, PortName: svc.Port}})
		}
	}
	var out []key
	for _, r := range within(refs, lim, leftOut) {
		if ctx.Err() != nil {
			out = append(out, r)
			continue
		}
		var ports []upstream
		if sv := c.Service(r.namespace, r.up.Service); sv != nil {
			for _, p := range sv.Spec.Ports {
				if r.up.PortName == "" || p.Name == r.up.PortName {
					ports = append(ports, upstream{Service: r.up.Service, Port: p.Port})
				}
			}
		}
		if len(ports) == 0 {
			out = append(out, r)
		}
		for _, up := range ports {
			k := r
			k.up, k.service = up, fmt.Sprintf("%s/%s:%d", r.namespace, up.Service, up.Port)
			out = append(out, k)
		}
	}
	return out
}

// within are the keys Targets takes, in fairOrder: at most lim.MaxTargets, lim.MaxPerNamespace of
// one namespace; leftOut counts the others.
func within(keys []key, lim Limits, leftOut *leftOutCount) []key {
	var kept []key
	perNamespace := map[string]int{}
	for _, k := range fairOrder(keys) {
		if len(kept) == lim.MaxTargets || perNamespace[k.namespace] == lim.MaxPerNamespace {
			leftOut.add(k.namespace, k.policy)
			continue
		}
		perNamespace[k.namespace]++
		kept = append(kept, k)
	}
	return kept
}

// fairOrder is the order in which Targets takes keys within its bounds: a key of each namespace in
// turn, and within a namespace a key of each Policy (or BackendTLSPolicy) in turn, so that neither
// one object's many Service ports, nor one kind, nor the namespaces that sort first leave the
// others unprobed. Namespaces, objects and Service ports each go in name order.
func fairOrder(keys []key) []key {
	sort.SliceStable(keys, func(i, j int) bool {
		if keys[i].policy != keys[j].policy {
			return keys[i].policy < keys[j].policy
		}
		return keys[i].service < keys[j].service
	})
	// rank: the key's turn within its object, then within its namespace.
	rank := make([]int, len(keys))
	for i := range keys {
		if i > 0 && keys[i].policy == keys[i-1].policy {
			rank[i] = rank[i-1] + 1
		}
	}
	byNamespace := map[string][]int{}
	for i := range keys {
		byNamespace[keys[i].namespace] = append(byNamespace[keys[i].namespace], i)
	}
	turn := make([]int, len(keys))
	for _, idx := range byNamespace {
		sort.SliceStable(idx, func(a, b int) bool { return rank[idx[a]] < rank[idx[b]] })
		for t, i := range idx {
			turn[i] = t
		}
	}
	out := make([]key, len(keys))
	order := make([]int, len(keys))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool {
		i, j := order[a], order[b]
		if turn[i] != turn[j] {
			return turn[i] < turn[j]
		}
		return keys[i].namespace < keys[j].namespace
	})
	for o, i := range order {
		out[o] = keys[i]
	}
	return out
}

// backendTLSTarget is a Service port a BackendTLSPolicy targets: NGF sends SNI and checks
// validation.hostname, verifies with depth 4 and nginx's default protocols. NGF v2.6.7 renders,
// for every location whose backend has a valid BackendTLSPolicy, "proxy_ssl_server_name on;
// proxy_ssl_verify on; proxy_ssl_verify_depth 4; proxy_ssl_name <hostname>;"
// (internal/controller/nginx/config/servers_template.go, the ProxySSLVerify block; servers.go
// createProxySSLVerify: Name from dataplane/configuration.go convertBackendTLS, which copies
// spec.validation.hostname).
func backendTLSTarget(c Cluster, b *rules.BackendTLS, up upstream, maxEndpoints int) Target {
	t := Target{Kind: "BackendTLSPolicy", Policy: "BackendTLSPolicy/" + b.Namespace + "/" + b.Name, Service: "Service/" + b.Namespace + "/" + up.Service,
		Port: up.Port, SNI: b.Hostname, SSLName: b.Hostname, MinVersion: tls.VersionTLS12, MaxVersion: tls.VersionTLS13,
		Trusted: b.Trusted, TrustedName: b.TrustedName, Depth: b.Depth}
	t.Secret, t.SecretName = certificates(c, b.Namespace, b.ServerTLSSecret, corev1.TLSCertKey), b.Namespace+"/"+b.ServerTLSSecret
	t.Endpoints, t.Skipped, t.NoEndpoint = endpoints(c, b.Namespace, up, maxEndpoints)
	return t
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
	cs, err := rules.SecretCertificates(raw, namespace, key)
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
		if es.AddressType == discoveryv1.AddressTypeFQDN {
			continue // a name would let the slice's writer send the probe anywhere DNS resolves
		}
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
				if probeable(a) {
					seen[net.JoinHostPort(a, strconv.Itoa(int(ep)))] = true
				}
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

// probeable reports whether an EndpointSlice address is one the probe dials: an IP address (not a
// name), not loopback (the probe's own pod), link-local (cloud metadata services), unspecified or
// multicast. Anyone who can write an EndpointSlice can still name any other in-cluster address
// (docs/security.md, Live TLS probe).
func probeable(addr string) bool {
	ip := net.ParseIP(addr)
	return ip != nil && !ip.IsLoopback() && !ip.IsLinkLocalUnicast() && !ip.IsLinkLocalMulticast() &&
		!ip.IsInterfaceLocalMulticast() && !ip.IsMulticast() && !ip.IsUnspecified()
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
