package rules

import (
	"fmt"
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
}

type virtualServer struct {
	Metadata objects.Meta `json:"metadata"`
	Spec     struct {
		Policies  []policyRef `json:"policies"`
		Routes    []route     `json:"routes"`
		Subroutes []route     `json:"subroutes"`
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
	for _, field := range order {
		policyReferences(c, field, lists[field], ns)
		for j, ref := range lists[field] {
			pns := ref.Namespace
			if pns == "" {
				pns = ns
			}
			key := pns + "/" + ref.Name
			if ref.Name == "" || len(dns1123Subdomain(ref.Name)) > 0 || judged[key] {
				continue
			}
			judged[key] = true
			at := fmt.Sprintf("%s[%d]", field, j)
			praw, ok := objects.Get(objs, "Policy", pns, ref.Name)
			if !ok {
				if objs != nil {
					c.warn(at, "Policy "+key+" not found yet", "NIC answers 500 on the routes that reference it until it exists", "apply the Policy")
				}
				continue
			}
			p, err := decodePolicy(praw)
			if err != nil {
				return nil, fmt.Errorf("Policy %s: %w", key, err)
			}
			if p.egress == nil {
				continue
			}
			for _, f := range p.judge(pns, s, objs, now) {
				f.Object = fmt.Sprintf("%s: %s references %s", c.obj, at, f.Object)
				c.out = append(c.out, f)
			}
		}
	}
	return c.out, nil
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
			c.refuse(at, "each Policy referenced once", "a second reference to "+key, VSInvalid, "remove the duplicate reference")
		}
		seen[key] = true
		if p.Name == "" {
			c.refuse(at+".name", "the Policy's name", "none", VSInvalid, "set name")
		}
		for _, msg := range dns1123Subdomain(p.Name) {
			c.refuse(at+".name", "a Policy name (a DNS-1123 subdomain)", fmt.Sprintf("%q: %s", p.Name, msg), VSInvalid, "use the Policy's metadata.name; put its namespace in namespace")
		}
		if p.Namespace != "" {
			for _, msg := range validation.IsDNS1123Label(p.Namespace) {
				c.refuse(at+".namespace", "a namespace name (a DNS-1123 label)", fmt.Sprintf("%q: %s", p.Namespace, msg), VSInvalid, "set the Policy's namespace")
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
