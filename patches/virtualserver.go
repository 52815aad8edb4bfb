package patches

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/aigw-mtls/aigw-mtls-webhook/internal/aigw"
	"github.com/aigw-mtls/aigw-mtls-webhook/internal/objects"
	"github.com/aigw-mtls/aigw-mtls-webhook/internal/rules"
)

// PatchVirtualServer sets tls.enable on the aigw upstreams of a k8s.nginx.org/v1 VirtualServer
// labelled with the selector and references the EgressMTLS Policy from every route that sends
// traffic to them, or delegates to a VirtualServerRoute (whose subroutes without policies of their
// own inherit the route's). objs is where referenced Policies are looked up; it may be nil.
func PatchVirtualServer(raw []byte, namespace string, s aigw.Settings, objs objects.Objects) (Result, error) {
	return patchVirtualServerKind(raw, namespace, s, objs, "VirtualServer", "routes")
}

// PatchVirtualServerRoute does the same for a VirtualServerRoute's upstreams and subroutes, except
// that a subroute without a policies list of its own is left to inherit its parent route's list.
func PatchVirtualServerRoute(raw []byte, namespace string, s aigw.Settings, objs objects.Objects) (Result, error) {
	return patchVirtualServerKind(raw, namespace, s, objs, "VirtualServerRoute", "subroutes")
}

// routePolicyRef is an entry of a route's policies list.
type routePolicyRef struct {
	Name      string `json:"name"`
	Namespace string `json:"namespace,omitempty"`
}

// key is the reference with its effective namespace: NIC reads {name: x} as the route owner's x.
func (p routePolicyRef) key(ownNamespace string) string {
	ns := p.Namespace
	if ns == "" {
		ns = ownNamespace
	}
	if ns == "" {
		return p.Name
	}
	return ns + "/" + p.Name
}

func patchVirtualServerKind(raw []byte, namespace string, s aigw.Settings, objs objects.Objects, kind, routesKey string) (Result, error) {
	top, err := rawObject(raw, kind)
	if err != nil {
		return Result{}, err
	}
	meta, err := rawMeta(top["metadata"])
	if err != nil {
		return Result{}, fmt.Errorf("%s: %w", kind, err)
	}
	if !s.Selected(meta.Labels) {
		return Result{}, nil
	}
	spec, err := rawObject(top["spec"], "spec")
	if err != nil {
		return Result{}, err
	}
	upstreams, err := rawList(spec["upstreams"], "spec.upstreams")
	if err != nil {
		return Result{}, err
	}
	routes, err := rawList(spec[routesKey], "spec."+routesKey)
	if err != nil {
		return Result{}, err
	}

	obj := meta.Ref(kind, namespace)
	own := meta.Namespace
	if own == "" {
		own = namespace
	}
	policy, problem := vsPolicyFor(s, meta.Annotations)
	if problem != nil {
		problem.Object = obj
		return Result{Findings: rules.Findings{*problem}}, nil
	}
	names, problem, err := vsSelectUpstreams(upstreams, meta.Annotations)
	if err != nil {
		return Result{}, err
	}
	if problem != nil {
		problem.Object = obj
		return Result{Findings: rules.Findings{*problem}}, nil
	}
	w := vsWiring{obj: obj, kind: kind, own: own, objs: objs, policy: policy, selected: names}

	for i, u := range upstreams {
		if err := w.upstream(i, u); err != nil {
			return Result{}, err
		}
	}
	for i, r := range routes {
		if err := w.route(kind, routesKey, i, r, s); err != nil {
			return Result{}, err
		}
	}
	if len(w.res.Findings.Errors()) > 0 {
		return Result{Findings: w.res.Findings}, nil
	}

	record := "policy=" + w.policy.key(own)
	if len(names) > 0 {
		record += ",upstreams=" + strings.Join(names, "+")
	}
	w.res.Record = annotationOp(meta, aigw.AnnotationInjected, record)
	return w.res, nil
}

// vsWiring collects what one VirtualServer or VirtualServerRoute needs.
type vsWiring struct {
	obj      string
	kind     string
	own      string // the object's namespace, against which references without one resolve
	objs     objects.Objects
	policy   routePolicyRef
	selected []string
	res      Result
}

// upstream enables TLS on upstream i when it is selected, keeping whatever else its tls holds.
func (w *vsWiring) upstream(i int, raw json.RawMessage) error {
	at := fmt.Sprintf("spec.upstreams[%d]", i)
	u, err := rawObject(raw, at)
	if err != nil {
		return err
	}
	name, err := rawString(u, "name", at)
	if err != nil || !slices.Contains(w.selected, name) {
		return err
	}
	p := fmt.Sprintf("/spec/upstreams/%d/tls", i)
	tls, err := rawObject(u["tls"], at+".tls")
	if err == nil && string(tls["enable"]) != "true" {
		w.res.Unwired = append(w.res.Unwired, rules.VSUpstreamTLSUnwired.New(rules.Finding{Object: w.obj, Field: at + " (" + name + ")", Expected: "tls.enable: true",
			Found: "TLS not enabled", Fix: fmt.Sprintf("re-apply the %s through the webhook, or set %s.tls.enable: true", w.kind, at)}))
	}
	switch {
	case err != nil:
		return err
	case tls == nil && u["tls"] == nil:
		w.res.Wiring = append(w.res.Wiring, add(p, map[string]bool{"enable": true}))
	case tls == nil: // tls: null
		w.res.Wiring = append(w.res.Wiring, replace(p, map[string]bool{"enable": true}))
	case tls["enable"] == nil:
		w.res.Wiring = append(w.res.Wiring, add(p+"/enable", true))
	case string(tls["enable"]) != "true":
		w.res.Wiring = append(w.res.Wiring, replace(p+"/enable", true))
	}
	return nil
}

// route references the policy from route i when its traffic reaches a selected upstream (or, in a
// VirtualServer, when it delegates to a VirtualServerRoute).
func (w *vsWiring) route(kind, routesKey string, i int, raw json.RawMessage, s aigw.Settings) error {
	at := fmt.Sprintf("spec.%s[%d]", routesKey, i)
	r, err := rawObject(raw, at)
	if err != nil {
		return err
	}
	reaches, err := w.reachesSelected(r, at)
	if err != nil {
		return err
	}
	delegates := false
	if kind == "VirtualServer" {
		route, err := rawString(r, "route", at)
		if err != nil {
			return err
		}
		delegates = route != "" || (r["routeSelector"] != nil && string(r["routeSelector"]) != "null")
	}
	if !reaches && !delegates {
		return nil
	}
	path, err := rawString(r, "path", at)
	if err != nil {
		return err
	}
	field := at
	if path != "" {
		field += " (path " + path + ")"
	}
	list, err := rawList(r["policies"], at+".policies")
	if err != nil {
		return err
	}
	want := w.policy.key(w.own)
	keys := make([]rules.PolicyKey, len(list))
	ours := -1
	for j, p := range list {
		ref, err := rawPolicyRef(p, fmt.Sprintf("%s.policies[%d]", at, j))
		if err != nil {
			return err
		}
		ns := ref.Namespace
		if ns == "" {
			ns = w.own
		}
		keys[j] = rules.PolicyKey{Namespace: ns, Name: ref.Name}
		if ours < 0 && ref.key(w.own) == want {
			ours = j
		}
	}
	// NIC applies the first egressMTLS Policy of a context and ignores the rest with a warning
	// (rules.EgressMTLSInUse): another one before ours is a conflict.
	inUse := rules.EgressMTLSInUse(w.objs, keys)
	found := ours >= 0 && (inUse < 0 || ours <= inUse)
	if !found && inUse >= 0 {
		k := keys[inUse].String()
		w.res.Findings = append(w.res.Findings, rules.VSOtherEgressPolicy.New(rules.Finding{Object: w.obj, Field: field, Expected: fmt.Sprintf("one egressMTLS Policy (%s)", want),
			Found: k + " with egressMTLS already referenced", Fix: fmt.Sprintf("remove the reference to %s or set annotation %s: %s", k, aigw.AnnotationPolicy, k)}))
	}
	p := fmt.Sprintf("/spec/%s/%d/policies", routesKey, i)
	if !found && !(kind == "VirtualServerRoute" && len(list) == 0) {
		why := "sends traffic to the aigw upstream"
		if !reaches {
			why = "delegates to a VirtualServerRoute whose subroutes inherit its policies"
		}
		entry := "{name: " + w.policy.Name + "}"
		if w.policy.Namespace != "" && w.policy.Namespace != w.own {
			entry = "{name: " + w.policy.Name + ", namespace: " + w.policy.Namespace + "}"
		}
		w.res.Unwired = append(w.res.Unwired, rules.VSRoutePolicyUnwired.New(rules.Finding{Object: w.obj, Field: field, Expected: fmt.Sprintf("a reference to the EgressMTLS Policy %s: the %s %s", want, strings.TrimSuffix(routesKey, "s"), why),
			Found: "none", Fix: fmt.Sprintf("re-apply the %s through the webhook, or add %s to %s.policies", kind, entry, at)}))
	}
	switch {
	case found:
	case kind == "VirtualServerRoute" && len(list) == 0:
		// NIC gives a subroute with no (or an empty) policies list the list of the VirtualServer
		// route that delegates to it; creating one here would drop inherited JWT, rate limits...
		w.res.Findings = append(w.res.Findings, rules.VSRInheritsPolicies.New(rules.Finding{Object: w.obj, Field: field,
			Found: "no policies of its own: it inherits the policies of the VirtualServer route that delegates to it",
			Fix:   fmt.Sprintf("make sure that route references %s (the webhook adds it when the VirtualServer is labelled %s=%s)", want, s.SelectorKey, s.SelectorValue)}))
	case r["policies"] == nil:
		w.res.Wiring = append(w.res.Wiring, add(p, []routePolicyRef{w.policy}))
	case list == nil: // policies: null
		w.res.Wiring = append(w.res.Wiring, replace(p, []routePolicyRef{w.policy}))
	default:
		w.res.Wiring = append(w.res.Wiring, add(p+"/-", w.policy))
	}
	return nil
}

// reachesSelected reports whether a route sends traffic to a selected upstream through its
// action, its splits, or the actions and splits of its matches.
func (w *vsWiring) reachesSelected(r map[string]json.RawMessage, at string) (bool, error) {
	actions := []routeAction{{at + ".action", r["action"]}}
	actions, err := vsCollectActions(actions, r["splits"], at+".splits", false)
	if err != nil {
		return false, err
	}
	if actions, err = vsCollectActions(actions, r["matches"], at+".matches", true); err != nil {
		return false, err
	}
	for _, a := range actions {
		name, err := vsActionUpstream(a.raw, a.at)
		if err != nil {
			return false, err
		}
		if name != "" && slices.Contains(w.selected, name) {
			return true, nil
		}
	}
	return false, nil
}

// routeAction is one action of a route, with where it is for messages.
type routeAction struct {
	at  string
	raw json.RawMessage
}

// vsCollectActions appends the action of every element of a splits or matches list (and, for
// matches, of their splits) to actions.
func vsCollectActions(actions []routeAction, raw json.RawMessage, at string, matches bool) ([]routeAction, error) {
	list, err := rawList(raw, at)
	if err != nil {
		return nil, err
	}
	for j, el := range list {
		elAt := fmt.Sprintf("%s[%d]", at, j)
		o, err := rawObject(el, elAt)
		if err != nil {
			return nil, err
		}
		actions = append(actions, routeAction{elAt + ".action", o["action"]})
		if matches {
			if actions, err = vsCollectActions(actions, o["splits"], elAt+".splits", false); err != nil {
				return nil, err
			}
		}
	}
	return actions, nil
}

// vsActionUpstream is the upstream an action passes or proxies to ("" for return and redirect).
func vsActionUpstream(raw json.RawMessage, at string) (string, error) {
	a, err := rawObject(raw, at)
	if err != nil {
		return "", err
	}
	pass, err := rawString(a, "pass", at)
	if pass != "" || err != nil {
		return pass, err
	}
	proxy, err := rawObject(a["proxy"], at+".proxy")
	if err != nil {
		return "", err
	}
	return rawString(proxy, "upstream", at+".proxy")
}

// vsPolicyFor is the Policy to reference: the annotation's, else the default; "ns/name" names
// another namespace.
func vsPolicyFor(s aigw.Settings, ann map[string]string) (routePolicyRef, *rules.Finding) {
	v, from := s.Policy, "the webhook's policy setting"
	if a := strings.TrimSpace(ann[aigw.AnnotationPolicy]); a != "" {
		v, from = a, "metadata.annotations["+aigw.AnnotationPolicy+"]"
	}
	parts := strings.Split(v, "/")
	switch {
	case len(parts) == 1 && parts[0] != "":
		return checkedRef(routePolicyRef{Name: parts[0]}, from, v)
	case len(parts) == 2 && parts[0] != "" && parts[1] != "":
		return checkedRef(routePolicyRef{Name: parts[1], Namespace: parts[0]}, from, v)
	}
	f := rules.WiringPolicyAnnotationInvalid.New(rules.Finding{Field: from, Expected: "a Policy name or namespace/name",
		Found: fmt.Sprintf("%q", v), Fix: "name the EgressMTLS Policy, e.g. aigw-mtls or ai-gateway/aigw-mtls"})
	return routePolicyRef{}, &f
}

// checkedRef refuses a reference NIC's validatePolicies would refuse in the object it is written to.
func checkedRef(ref routePolicyRef, from, v string) (routePolicyRef, *rules.Finding) {
	if fs := rules.PolicyReference("", from, ref.Name, ref.Namespace); len(fs) > 0 {
		f := fs[0]
		f.Field, f.Expected = from, "a Policy name or namespace/name that NIC accepts"
		f.Found = fmt.Sprintf("%q: %s", v, f.Found)
		return routePolicyRef{}, &f
	}
	return ref, nil
}

// vsSelectUpstreams returns the names of the upstreams to wire, in the object's order: those the
// annotation lists, else all. A listed name without an upstream is a problem.
func vsSelectUpstreams(upstreams []json.RawMessage, ann map[string]string) (names []string, problem *rules.Finding, err error) {
	var all []string
	for i, raw := range upstreams {
		at := fmt.Sprintf("spec.upstreams[%d]", i)
		u, err := rawObject(raw, at)
		if err != nil {
			return nil, nil, err
		}
		name, err := rawString(u, "name", at)
		if err != nil {
			return nil, nil, err
		}
		if !slices.Contains(all, name) {
			all = append(all, name)
		}
	}
	var want []string
	for _, n := range strings.Split(ann[aigw.AnnotationUpstreams], ",") {
		if n = strings.TrimSpace(n); n != "" {
			want = append(want, n)
		}
	}
	if len(want) == 0 {
		return all, nil, nil
	}
	var missing []string
	for _, n := range want {
		if !slices.Contains(all, n) {
			missing = append(missing, n)
		}
	}
	if len(missing) > 0 {
		existing := strings.Join(all, ", ")
		if existing == "" {
			existing = "none"
		}
		f := rules.VSUpstreamsAnnotationUnknown.New(rules.Finding{Field: "metadata.annotations[" + aigw.AnnotationUpstreams + "]", Expected: fmt.Sprintf("a comma-separated list of spec.upstreams names (%s)", existing),
			Found: fmt.Sprintf("%q, with no upstream named %s", ann[aigw.AnnotationUpstreams], strings.Join(missing, ", ")),
			Fix:   "name only existing upstreams, or remove the annotation to wire all of them"})
		return nil, &f, nil
	}
	for _, n := range all {
		if slices.Contains(want, n) {
			names = append(names, n)
		}
	}
	return names, nil, nil
}

// The helpers below decode one level at a time with objects.Decode, keeping each member's raw JSON:
// the patch must tell an absent member (add) from a null one (replace), and addresses members by
// the keys the object really has.

// rawObject decodes a JSON object one level deep; absent or null gives nil.
func rawObject(raw json.RawMessage, at string) (map[string]json.RawMessage, error) {
	if raw == nil || string(raw) == "null" {
		return nil, nil
	}
	var o map[string]json.RawMessage
	if err := objects.Decode(raw, &o); err != nil {
		return nil, fmt.Errorf("%s: expected an object: %w", at, err)
	}
	return o, nil
}

// rawList decodes a JSON array one level deep; absent or null gives nil.
func rawList(raw json.RawMessage, at string) ([]json.RawMessage, error) {
	if raw == nil || string(raw) == "null" {
		return nil, nil
	}
	var l []json.RawMessage
	if err := objects.Decode(raw, &l); err != nil {
		return nil, fmt.Errorf("%s: expected a list: %w", at, err)
	}
	if l == nil {
		l = []json.RawMessage{}
	}
	return l, nil
}

func rawString(o map[string]json.RawMessage, key, at string) (string, error) {
	var v string
	if raw := o[key]; raw != nil && string(raw) != "null" {
		if err := objects.Decode(raw, &v); err != nil {
			return "", fmt.Errorf("%s.%s: expected a string: %w", at, key, err)
		}
	}
	return v, nil
}

func rawPolicyRef(raw json.RawMessage, at string) (routePolicyRef, error) {
	o, err := rawObject(raw, at)
	if err != nil {
		return routePolicyRef{}, err
	}
	name, err := rawString(o, "name", at)
	if err != nil {
		return routePolicyRef{}, err
	}
	ns, err := rawString(o, "namespace", at)
	return routePolicyRef{Name: name, Namespace: ns}, err
}

// rawMeta reads the metadata the mutation needs; absent or null gives none.
func rawMeta(raw json.RawMessage) (objectMeta, error) {
	var m objectMeta
	if raw == nil || string(raw) == "null" {
		return m, nil
	}
	if err := objects.Decode(raw, &m); err != nil {
		return objectMeta{}, fmt.Errorf("metadata: %w", err)
	}
	return m, nil
}
