package rules

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/aigw-mtls/aigw-mtls-webhook/internal/objects"
)

// BTPTarget is one spec.targetRefs entry of a BackendTLSPolicy.
type BTPTarget struct {
	Group       string  `json:"group"`
	Kind        string  `json:"kind"`
	Name        string  `json:"name"`
	SectionName *string `json:"sectionName"`
}

// IsService says whether NGF applies the policy through this target: NGF v2.6.7
// internal/controller/state/graph/backend_tls_policy.go collectOrderedGateways looks at kind alone
// (the group is ignored), and dataplane/configuration.go convertBackendTLS renders TLS only for the
// Gateways found so.
func (t BTPTarget) IsService() bool { return t.Kind == "Service" }

// appliesTo is NGF v2.6.7 graph/backend_refs.go findBackendTLSPolicyForService: a target matches
// a Service port by the Service's name alone (any kind), and by the port's name when it has a
// sectionName. Every port (anyPort) is matched only by a target without sectionName.
func (t BTPTarget) appliesTo(service, port string) bool {
	return t.Name == service && (t.SectionName == nil || *t.SectionName == port)
}

// anyPort stands for the ports of a Service when no route to it is known.
const anyPort = "*"

// before is NGF's ngfsort.LessClientObject within one namespace: created first, then by name. A
// policy without creationTimestamp (a manifest not applied yet) is newer than any that has one.
func (p backendTLSPolicy) before(o backendTLSPolicy) bool {
	a, b := p.Metadata.CreationTimestamp, o.Metadata.CreationTimestamp
	switch {
	case a.Equal(b):
		return p.Metadata.Name < o.Metadata.Name
	case a.IsZero() || b.IsZero():
		return b.IsZero()
	}
	return a.Before(b)
}

func (p backendTLSPolicy) appliesTo(service, port string) bool {
	for _, t := range p.Spec.TargetRefs {
		if t.appliesTo(service, port) {
			return true
		}
	}
	return false
}

func (p backendTLSPolicy) targetsServiceKind() bool {
	for _, t := range p.Spec.TargetRefs {
		if t.IsService() {
			return true
		}
	}
	return false
}

// servicePorts is what NGF knows of the ports of Service namespace/name: every port's name, and
// the names of the ports HTTPRoutes and GRPCRoutes send to (graph/backend_refs.go getPortFromRef
// maps backendRefs[].port to the Service port of that number). known is false when the Service or
// every route to it is missing from objs, or unread says why some routes could not be read: the
// rules then judge every port. capped says the routes to it were more than the reader reads for
// one judgement (the webhook's bound): nothing is judged on the ports of that Service then.
type servicePorts struct {
	all, used []string
	known     bool
	unread    string
	capped    string
}

// maxRouteBackendRefs bounds the backendRefs read per route (the Gateway API CRD allows 16 rules
// of 16 backendRefs, plus filters' mirrors).
const maxRouteBackendRefs = 512

// routeKinds are the routes whose backendRefs NGF v2.6.7 resolves to Service ports
// (graph/backend_refs.go addBackendRefsToRouteRules; getRefGrantFromResourceForRoute).
var routeKinds = []string{"HTTPRoute", "GRPCRoute"}

// gatewayGroup is the API group of the routes, as ReferenceGrants name it in spec.from.
const gatewayGroup = "gateway.networking.k8s.io"

func portsOf(objs objects.Objects, namespace, service string, decoded decodedRoutes) servicePorts {
	if u := objects.AsUnavailable(objects.Available(objs, "Service", namespace)); u != nil {
		return servicePorts{unread: u.Error()}
	}
	raw, ok := objects.Get(objs, "Service", namespace, service)
	if !ok {
		return servicePorts{}
	}
	var svc struct {
		Spec struct {
			Ports []struct {
				Name string `json:"name"`
				Port int32  `json:"port"`
			} `json:"ports"`
		} `json:"spec"`
	}
	if objects.Decode(raw, &svc) != nil {
		return servicePorts{}
	}
	var sp servicePorts
	byNumber := map[int32]string{}
	for _, p := range svc.Spec.Ports {
		sp.all = append(sp.all, p.Name)
		byNumber[p.Port] = p.Name
	}
	used := map[string]bool{}
	sources, unread := routeSources(objs, namespace, service)
	for _, src := range sources {
		if u := objects.AsUnavailable(objects.Available(objs, src.kind, src.namespace)); u != nil {
			if !u.NotServed && unread == "" {
				unread = u.Error()
			}
			continue
		}
		routes, err := objects.RoutesTo(objs, src.kind, src.namespace, namespace, service)
		if u := objects.AsUnavailable(err); u != nil {
			if u.Capped {
				sp.capped = u.Reason
			} else if unread == "" {
				unread = u.Error()
			}
			continue
		}
		for _, raw := range routes {
			for _, port := range decoded.routePorts(raw, namespace, service) {
				if name, ok := byNumber[port]; ok && !used[name] {
					used[name] = true
					sp.used = append(sp.used, name)
				}
			}
		}
	}
	sort.Strings(sp.used)
	sp.unread = unread
	if sp.capped != "" && sp.unread == "" {
		sp.unread = sp.capped
	}
	sp.known = len(sp.used) > 0 && sp.unread == ""
	return sp
}

// routeSource is a kind of route in a namespace whose backendRefs may reach the Service.
type routeSource struct{ kind, namespace string }

// routeSources are where the routes to Service namespace/name may live, as NGF v2.6.7 admits a
// backendRef: in the Service's namespace, and in a namespace a ReferenceGrant in the Service's
// namespace lets that kind of route refer from (graph/reference_grant.go refAllowedFrom; a
// backendRef to another namespace without one is invalid: backend_refs.go validateRouteBackendRef).
// unread says why the ReferenceGrants could not be read.
func routeSources(objs objects.Objects, namespace, service string) (out []routeSource, unread string) {
	seen := map[routeSource]bool{}
	add := func(s routeSource) {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	for _, k := range routeKinds {
		add(routeSource{k, namespace})
	}
	if u := objects.AsUnavailable(objects.Available(objs, "ReferenceGrant", namespace)); u != nil {
		if u.NotServed {
			return out, ""
		}
		return out, u.Error()
	}
	for _, raw := range objects.List(objs, "ReferenceGrant", namespace) {
		var g struct {
			Spec struct {
				From []struct {
					Group     string `json:"group"`
					Kind      string `json:"kind"`
					Namespace string `json:"namespace"`
				} `json:"from"`
				To []struct {
					Group string  `json:"group"`
					Kind  string  `json:"kind"`
					Name  *string `json:"name"`
				} `json:"to"`
			} `json:"spec"`
		}
		if objects.Decode(raw, &g) != nil {
			continue
		}
		toService := false
		for _, to := range g.Spec.To {
			if (to.Group == "" || to.Group == "core") && to.Kind == "Service" && (to.Name == nil || *to.Name == "" || *to.Name == service) {
				toService = true
			}
		}
		if !toService {
			continue
		}
		for _, from := range g.Spec.From {
			if from.Group == gatewayGroup && slices.Contains(routeKinds, from.Kind) && from.Namespace != "" {
				add(routeSource{from.Kind, from.Namespace})
			}
		}
	}
	return out, ""
}

// routeBackendRef is a backendRef of a route, or the backendRef of a rule's RequestMirror filter.
type routeBackendRef struct {
	Group     *string `json:"group"`
	Kind      *string `json:"kind"`
	Name      string  `json:"name"`
	Namespace *string `json:"namespace"`
	Port      *int32  `json:"port"`
}

// serviceRef is a route's backendRef to a Service: its namespace (the route's when it names none),
// name and port (nil when it names none).
type serviceRef struct {
	namespace, name string
	port            *int32
}

// routeServiceRefs are the backendRefs of raw, a route in namespace (when it names none), that
// name a Service: each rule's backendRefs and the backendRefs of its RequestMirror filters, which
// NGF v2.6.7 resolves the same way (graph/httproute.go and grpcroute.go processRule append them
// with MirrorBackendIdx). At most maxRouteBackendRefs are read.
func routeServiceRefs(raw []byte, namespace string) []serviceRef {
	var r struct {
		Metadata objects.Meta `json:"metadata"`
		Spec     struct {
			Rules []struct {
				BackendRefs []routeBackendRef `json:"backendRefs"`
				Filters     []struct {
					RequestMirror *struct {
						BackendRef routeBackendRef `json:"backendRef"`
					} `json:"requestMirror"`
				} `json:"filters"`
			} `json:"rules"`
		} `json:"spec"`
	}
	if objects.Decode(raw, &r) != nil {
		return nil
	}
	var out []serviceRef
	n := 0
	for _, rule := range r.Spec.Rules {
		refs := rule.BackendRefs
		for _, f := range rule.Filters {
			if f.RequestMirror != nil {
				refs = append(refs, f.RequestMirror.BackendRef)
			}
		}
		for _, b := range refs {
			if n++; n > maxRouteBackendRefs {
				return out
			}
			if b.Kind != nil && *b.Kind != "Service" || b.Group != nil && *b.Group != "" && *b.Group != "core" {
				continue
			}
			ns := r.Metadata.In(namespace)
			if b.Namespace != nil {
				ns = *b.Namespace
			}
			out = append(out, serviceRef{namespace: ns, name: b.Name, port: b.Port})
		}
	}
	return out
}

// RouteServices are the Services raw, an HTTPRoute or GRPCRoute in namespace (when it names
// none), sends to, each as "namespace/name" once: what the webhook's cache indexes routes by, so
// that a BackendTLSPolicy's admission reads only the routes to the Services it targets.
func RouteServices(raw []byte, namespace string) []string {
	var out []string
	seen := map[string]bool{}
	for _, ref := range routeServiceRefs(raw, namespace) {
		key := ref.namespace + "/" + ref.name
		if !seen[key] {
			seen[key] = true
			out = append(out, key)
		}
	}
	return out
}

// RouteKinds are the kinds of route whose backendRefs the BackendTLSPolicy rules read.
func RouteKinds() []string { return slices.Clone(routeKinds) }

// decodedRoutes holds the Service backendRefs of the routes one judgement has decoded, by their
// JSON: a route naming several targets of a policy is decoded once.
type decodedRoutes map[string][]serviceRef

func (d decodedRoutes) refs(raw []byte, namespace string) []serviceRef {
	if refs, ok := d[string(raw)]; ok {
		return refs
	}
	refs := routeServiceRefs(raw, namespace)
	d[string(raw)] = refs
	return refs
}

// routePorts are the port numbers raw's backendRefs send to on Service namespace/name.
func (d decodedRoutes) routePorts(raw []byte, namespace, service string) []int32 {
	var out []int32
	for _, ref := range d.refs(raw, namespace) {
		if ref.name == service && ref.namespace == namespace && ref.port != nil {
			out = append(out, *ref.port)
		}
	}
	return out
}

// checkBTPTargets judges the policy's targets as NGF v2.6.7 applies it: through targets of kind
// Service (collectOrderedGateways; group ignored), to the ports routes use that the target's
// sectionName names (findBackendTLSPolicyForService), where the oldest of the policies naming that
// Service port wins and the others are Conflicted. others are the namespace's BackendTLSPolicies
// (labelled or not).
func checkBTPTargets(c *collector, me backendTLSPolicy, namespace string, objs objects.Objects) {
	if !me.targetsServiceKind() {
		c.add(BTPNoServiceTarget, Finding{Field: "spec.targetRefs", Expected: "a reference to the aigw Service (kind Service)",
			Found: "no target of kind Service", Fix: "add {group: \"\", kind: Service, name: aigw}"})
	}
	var others []backendTLSPolicy
	for _, raw := range objects.List(objs, "BackendTLSPolicy", namespace) {
		var o backendTLSPolicy
		if objects.Decode(raw, &o) == nil && o.Metadata.Name != me.Metadata.Name {
			others = append(others, o)
		}
	}
	decoded := decodedRoutes{}
	portsBy := map[string]servicePorts{}
	for i, t := range me.Spec.TargetRefs {
		if !t.IsService() {
			continue
		}
		field := fmt.Sprintf("spec.targetRefs[%d]", i)
		if t.Group != "" && t.Group != "core" {
			c.add(BTPTargetGroupIgnored, Finding{Field: field + ".group", Expected: "\"\" (the core group of Service)",
				Found: fmt.Sprintf("%q, which NGF ignores: it applies the policy to Service %s", t.Group, t.Name), Fix: "set group: \"\""})
		}
		ports, ok := portsBy[t.Name]
		if !ok {
			ports = portsOf(objs, namespace, t.Name, decoded)
			portsBy[t.Name] = ports
		}
		if t.SectionName != nil && ports.known && !slices.Contains(ports.used, *t.SectionName) {
			c.add(BTPSectionNameUnused, Finding{Field: field + ".sectionName",
				Expected:    fmt.Sprintf("the name of a port of Service %s the routes send to, one of [%s]", t.Name, strings.Join(ports.used, ", ")),
				Found:       fmt.Sprintf("%q, a port no route sends to", *t.SectionName),
				Consequence: fmt.Sprintf("NGF applies the policy to no port a route uses: nginx speaks plain HTTP to %s on port %s, which answers 400", t.Name, strings.Join(ports.used, ", ")),
				Fix:         fmt.Sprintf("set sectionName: %s, or remove it", quoteFirst(ports.used))})
			continue
		}
		judged := ports.used
		switch {
		case ports.known:
		case t.SectionName != nil:
			judged = []string{*t.SectionName}
		default:
			judged = []string{anyPort}
		}
		for _, port := range judged {
			if !t.appliesTo(t.Name, port) {
				continue
			}
			winner, lost := me, false
			for _, o := range others {
				if o.appliesTo(t.Name, port) && o.before(winner) {
					winner, lost = o, true
				}
			}
			if lost {
				c.add(BTPConflicted, Finding{Field: field, Expected: fmt.Sprintf("the only BackendTLSPolicy for Service %s%s", t.Name, onPort(port)),
					Found:       fmt.Sprintf("BackendTLSPolicy %s/%s, older, names it too", namespace, winner.Metadata.Name),
					Consequence: conflictOutcome(winner, t.Name, port),
					Fix:         fmt.Sprintf("edit BackendTLSPolicy %s instead, or delete it first", winner.Metadata.Name)})
				return
			}
		}
		if !ports.known && t.SectionName == nil {
			// Without the routes, an older policy on one named port conflicts only if a route
			// sends to that port.
			why := fmt.Sprintf("no route to %s is known", t.Name)
			if ports.unread != "" {
				why = fmt.Sprintf("the routes to %s cannot be read (%s)", t.Name, ports.unread)
			}
			for _, o := range others {
				for _, theirs := range o.Spec.TargetRefs {
					if theirs.Name == t.Name && theirs.SectionName != nil && o.before(me) {
						c.add(BTPConflictUnjudged, Finding{Field: field,
							Found: fmt.Sprintf("BackendTLSPolicy %s/%s, older, names port %s of Service %s, and %s", namespace, o.Metadata.Name, *theirs.SectionName, t.Name, why),
							Fix:   fmt.Sprintf("if a route sends to port %s, edit BackendTLSPolicy %s instead; run `aigw-mtls-webhook check` or validate -f with the Service and its routes to have it judged", *theirs.SectionName, o.Metadata.Name)})
						return
					}
				}
			}
		}
		if ports.capped != "" {
			c.add(BTPConflictUnjudged, Finding{Field: field,
				Found: ports.capped,
				Fix:   fmt.Sprintf("run `aigw-mtls-webhook check` or validate -f with Service %s and its routes to have its ports and conflicts judged", t.Name)})
		}
	}
}

// conflictOutcome is what nginx does with the winner: NGF renders TLS only through a policy with a
// target of kind Service (convertBackendTLS: btp.Gateways comes from collectOrderedGateways).
func conflictOutcome(winner backendTLSPolicy, service, port string) string {
	if !winner.targetsServiceKind() {
		return fmt.Sprintf("NGF marks this policy Conflicted and, the older one having no target of kind Service, renders no TLS: nginx speaks plain HTTP to %s%s, which answers 400", service, onPort(port))
	}
	return "NGF marks this policy Conflicted and verifies aigw with the older policy's hostname and CA, not this one's"
}

func onPort(port string) string {
	if port == anyPort {
		return ""
	}
	return " port " + port
}
