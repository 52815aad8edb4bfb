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
// every route to it is missing from objs: the rules then judge every port.
type servicePorts struct {
	all, used []string
	known     bool
}

// maxRouteBackendRefs bounds the backendRefs read per route (the Gateway API CRD allows 16 rules
// of 16 backendRefs, plus filters' mirrors).
const maxRouteBackendRefs = 512

func portsOf(objs objects.Objects, namespace, service string) servicePorts {
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
	for _, kind := range []string{"HTTPRoute", "GRPCRoute"} {
		for _, raw := range objects.List(objs, kind, "") {
			var r struct {
				Metadata objects.Meta `json:"metadata"`
				Spec     struct {
					Rules []struct {
						BackendRefs []struct {
							Group     *string `json:"group"`
							Kind      *string `json:"kind"`
							Name      string  `json:"name"`
							Namespace *string `json:"namespace"`
							Port      *int32  `json:"port"`
						} `json:"backendRefs"`
					} `json:"rules"`
				} `json:"spec"`
			}
			if objects.Decode(raw, &r) != nil {
				continue
			}
			n := 0
			for _, rule := range r.Spec.Rules {
				for _, b := range rule.BackendRefs {
					if n++; n > maxRouteBackendRefs {
						break
					}
					ns := r.Metadata.In(namespace)
					if b.Namespace != nil {
						ns = *b.Namespace
					}
					if b.Kind != nil && *b.Kind != "Service" || b.Group != nil && *b.Group != "" && *b.Group != "core" ||
						b.Name != service || ns != namespace || b.Port == nil {
						continue
					}
					if name, ok := byNumber[*b.Port]; ok && !used[name] {
						used[name] = true
						sp.used = append(sp.used, name)
					}
				}
			}
		}
	}
	sort.Strings(sp.used)
	sp.known = len(sp.used) > 0
	return sp
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
	for i, t := range me.Spec.TargetRefs {
		if !t.IsService() {
			continue
		}
		field := fmt.Sprintf("spec.targetRefs[%d]", i)
		if t.Group != "" && t.Group != "core" {
			c.add(BTPTargetGroupIgnored, Finding{Field: field + ".group", Expected: "\"\" (the core group of Service)",
				Found: fmt.Sprintf("%q, which NGF ignores: it applies the policy to Service %s", t.Group, t.Name), Fix: "set group: \"\""})
		}
		ports := portsOf(objs, namespace, t.Name)
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
			for _, o := range others {
				for _, theirs := range o.Spec.TargetRefs {
					if theirs.Name == t.Name && theirs.SectionName != nil && o.before(me) {
						c.add(BTPConflictUnjudged, Finding{Field: field,
							Found: fmt.Sprintf("BackendTLSPolicy %s/%s, older, names port %s of Service %s, and no route to %s is known", namespace, o.Metadata.Name, *theirs.SectionName, t.Name, t.Name),
							Fix:   fmt.Sprintf("if a route sends to port %s, edit BackendTLSPolicy %s instead; run `aigw-mtls-webhook check` or validate -f with the Service and its routes to have it judged", *theirs.SectionName, o.Metadata.Name)})
						return
					}
				}
			}
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
