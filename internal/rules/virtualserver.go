package rules

import (
	"fmt"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/aigw-mtls/aigw-mtls-webhook/internal/aigw"
	"github.com/aigw-mtls/aigw-mtls-webhook/internal/objects"
)

type policyRef struct {
	Name      string `json:"name"`
	Namespace string `json:"namespace"`
}

type route struct {
	Path     string      `json:"path"`
	Policies []policyRef `json:"policies"`
	Action   *struct {
		Pass  string `json:"pass"`
		Proxy *struct {
			Upstream string `json:"upstream"`
		} `json:"proxy"`
	} `json:"action"`
}

// upstream is the name of the upstream the route's action sends to, "" for other actions.
func (r route) upstream() string {
	switch {
	case r.Action == nil:
		return ""
	case r.Action.Pass != "":
		return r.Action.Pass
	case r.Action.Proxy != nil:
		return r.Action.Proxy.Upstream
	}
	return ""
}

type virtualServer struct {
	Metadata objects.Meta `json:"metadata"`
	Spec     struct {
		Policies  []policyRef `json:"policies"`
		Upstreams []struct {
			Name string `json:"name"`
			Type string `json:"type"`
		} `json:"upstreams"`
		Routes    []route `json:"routes"`
		Subroutes []route `json:"subroutes"`
	} `json:"spec"`
}

// VirtualServer judges a labelled VirtualServer: its server-level spec.policies and every
// route's policies, as NIC validates them, and the egressMTLS Policies they reference, whether or
// not those carry the label.
func VirtualServer(raw []byte, namespace string, s aigw.Settings, objs objects.Objects, now time.Time) (Findings, error) {
	return judgeRoutes(raw, namespace, s, objs, now, "VirtualServer", "routes")
}

// VirtualServerRoute judges a labelled VirtualServerRoute's subroutes the same way. A subroute's
// own policies replace its parent route's list and resolve in the VirtualServerRoute's namespace
// (internal/configs/virtualserver.go).
func VirtualServerRoute(raw []byte, namespace string, s aigw.Settings, objs objects.Objects, now time.Time) (Findings, error) {
	return judgeRoutes(raw, namespace, s, objs, now, "VirtualServerRoute", "subroutes")
}

func judgeRoutes(raw []byte, namespace string, s aigw.Settings, objs objects.Objects, now time.Time, kind, routesKey string) (Findings, error) {
	var vs virtualServer
	if err := objects.Decode(raw, &vs); err != nil {
		return nil, fmt.Errorf("decoding %s: %w", kind, err)
	}
	if !s.Selected(vs.Metadata.Labels) {
		return nil, nil
	}
	ns := vs.Metadata.In(namespace)
	c := &collector{obj: vs.Metadata.Ref(kind, ns)}
	judged := map[string]bool{}
	lists := map[string][]policyRef{}
	var order []string
	if kind == "VirtualServer" {
		lists["spec.policies"] = vs.Spec.Policies
		order = append(order, "spec.policies")
	}
	routes := vs.Spec.Routes
	if routesKey == "subroutes" {
		routes = vs.Spec.Subroutes
	}
	for i, r := range routes {
		f := fmt.Sprintf("spec.%s[%d].policies", routesKey, i)
		lists[f] = r.Policies
		order = append(order, f)
	}
	ignored := map[string]bool{}
	for _, field := range order {
		policyReferences(c, field, lists[field], ns)
		keys := make([]PolicyKey, len(lists[field]))
		for j, ref := range lists[field] {
			keys[j] = PolicyKey{Namespace: ref.Namespace, Name: ref.Name}
			if keys[j].Namespace == "" {
				keys[j].Namespace = ns
			}
		}
		// NIC applies the first egressMTLS Policy of each list and ignores the later ones
		// (internal/configs/policy.go addEgressMTLSConfig): those are judged by NIC's own
		// validation only, which decides whether NIC finds them at all.
		inUse := EgressMTLSInUse(objs, keys)
		for j, ref := range lists[field] {
			pns, key := keys[j].Namespace, keys[j].String()
			if ref.Name == "" || len(dns1123Subdomain(ref.Name)) > 0 {
				continue
			}
			if p := ignoredEgressMTLS(objs, keys, inUse, j); p != nil {
				at := fmt.Sprintf("%s[%d]", field, j)
				c.add(PolicyNotFirst, Finding{Field: at, Found: fmt.Sprintf("Policy %s is an egressMTLS Policy listed after %s, the one NIC applies: ignored by NIC (internal/configs/policy.go addEgressMTLSConfig)", key, keys[inUse]),
					Fix: fmt.Sprintf("remove %s from %s", ref.Name, field)})
				if !ignored[key] {
					ignored[key] = true
					referencedFindings(c, at, p.nicFindings(pns))
				}
				continue
			}
			if judged[key] {
				continue
			}
			judged[key] = true
			if _, err := referencedPolicy(c, fmt.Sprintf("%s[%d]", field, j), pns, ref.Name, s, objs, now); err != nil {
				return nil, err
			}
		}
	}
	if kind == "VirtualServer" {
		grpcUnderServerPolicy(c, &vs, ns, objs)
	}
	return c.out, nil
}

// referencedPolicy judges the Policy namespace/name that field at references: not found yet is a
// warning; an egressMTLS Policy's findings are added as the referencing object's, prefixed with
// where it is referenced. It reports whether the Policy is known to have spec.egressMTLS.
func referencedPolicy(c *collector, at, namespace, name string, s aigw.Settings, objs objects.Objects, now time.Time) (egress bool, err error) {
	key := namespace + "/" + name
	if u := objects.AsUnavailable(objects.Available(objs, "Policy", namespace)); u != nil {
		c.add(ObjectNotCheckable, Finding{Field: at, Found: "Policy " + key + " cannot be checked: " + u.Reason})
		return false, nil
	}
	praw, ok := objects.Get(objs, "Policy", namespace, name)
	if !ok {
		if objs != nil {
			c.add(PolicyRefNotFound, Finding{Field: at, Found: "Policy " + key + " not found yet"})
		}
		return false, nil
	}
	p, err := decodePolicy(praw)
	if err != nil {
		return false, fmt.Errorf("Policy %s: %w", key, err)
	}
	if p.egress == nil {
		return false, nil
	}
	for _, f := range p.judge(namespace, s, objs, now) {
		f.Object = fmt.Sprintf("%s: %s references %s", c.obj, at, f.Object)
		c.out = append(c.out, f)
	}
	return true, nil
}

// grpcUnderServerPolicy: NIC renders an egressMTLS Policy of spec.policies in the server block as
// proxy_ssl_* directives (internal/configs/version2/nginx.virtualserver.tmpl, the server-level
// EgressMTLS block), which a grpc_pass location does not read; only a route-level Policy is
// rendered as grpc_ssl_* for a type: grpc upstream (the location-level block, $proxyOrGRPC). A
// gRPC route that inherits the server's egressMTLS Policy therefore connects to aigw without a
// client certificate and without verifying it.
func grpcUnderServerPolicy(c *collector, vs *virtualServer, ns string, objs objects.Objects) {
	var egress string
	for _, ref := range vs.Spec.Policies {
		pns := ref.Namespace
		if pns == "" {
			pns = ns
		}
		if objects.Available(objs, "Policy", pns) != nil {
			continue
		}
		if raw, ok := objects.Get(objs, "Policy", pns, ref.Name); ok {
			if p, err := decodePolicy(raw); err == nil && p.egress != nil {
				egress = pns + "/" + ref.Name
				break
			}
		}
	}
	if egress == "" {
		return
	}
	grpc := map[string]bool{}
	for _, u := range vs.Spec.Upstreams {
		if u.Type == "grpc" {
			grpc[u.Name] = true
		}
	}
	for i, r := range vs.Spec.Routes {
		if len(r.Policies) > 0 || !grpc[r.upstream()] {
			continue
		}
		c.add(VSGRPCRouteInheritsPolicy, Finding{Field: fmt.Sprintf("spec.routes[%d].policies", i),
			Expected: fmt.Sprintf("the egressMTLS Policy %s referenced by the route itself, because it sends to the gRPC upstream %s", egress, r.upstream()),
			Found:    "none: the route inherits spec.policies, which NIC renders as proxy_ssl_* in the server block, and grpc_pass ignores those",
			Fix:      fmt.Sprintf("add policies: [{name: %s}] to the route (NIC renders a route's Policy as grpc_ssl_* for gRPC upstreams)", egress[strings.Index(egress, "/")+1:])})
	}
}

// policyReferences follows pkg/apis/configuration/validation/virtualserver.go validatePolicies: a
// list with a duplicate, a reference without a name, a name that is not a DNS-1123 subdomain or a
// namespace that is not a DNS-1123 label makes NIC mark the whole VirtualServer (or
// VirtualServerRoute) Invalid. The mutations check the reference they write with it too.
func policyReferences(c *collector, field string, refs []policyRef, namespace string) {
	seen := map[string]bool{}
	for i, p := range refs {
		at := fmt.Sprintf("%s[%d]", field, i)
		pns := p.Namespace
		if pns == "" {
			pns = namespace
		}
		key := pns + "/" + p.Name
		if seen[key] {
			c.add(VSPolicyRefDuplicate, Finding{Field: at, Expected: "each Policy referenced once", Found: "a second reference to " + key})
		}
		seen[key] = true
		if p.Name == "" {
			c.add(VSPolicyRefNameMissing, Finding{Field: at + ".name", Expected: "the Policy's name", Found: "none"})
		}
		for _, msg := range dns1123Subdomain(p.Name) {
			c.add(VSPolicyRefNameInvalid, Finding{Field: at + ".name", Expected: "a Policy name (a DNS-1123 subdomain)", Found: fmt.Sprintf("%q: %s", p.Name, msg)})
		}
		if p.Namespace != "" {
			for _, msg := range validation.IsDNS1123Label(p.Namespace) {
				c.add(VSPolicyRefNamespaceInvalid, Finding{Field: at + ".namespace", Expected: "a namespace name (a DNS-1123 label)",
					Found: fmt.Sprintf("%q: %s", p.Namespace, msg)})
			}
		}
	}
}

// PolicyReference judges one reference {name, namespace} the way policyReferences judges a list
// entry: what a mutation is about to write from the mtls.aigw.io/policy annotation or --policy.
func PolicyReference(obj, field, name, namespace string) Findings {
	c := &collector{obj: obj}
	policyReferences(c, field, []policyRef{{Name: name, Namespace: namespace}}, "")
	return c.out
}

// ignoredEgressMTLS is the Policy of reference j when it is an egressMTLS Policy listed after the
// one NIC applies (index inUse), else nil.
func ignoredEgressMTLS(objs objects.Objects, keys []PolicyKey, inUse, j int) *policy {
	if inUse < 0 || j <= inUse || keys[j] == keys[inUse] {
		return nil
	}
	if p := lookupPolicy(objs, keys[j]); p != nil && p.egress != nil {
		return p
	}
	return nil
}
