package checker

import (
	"fmt"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/aigw-mtls/aigw-mtls-webhook/internal/aigw"
	"github.com/aigw-mtls/aigw-mtls-webhook/internal/rules"
	"github.com/aigw-mtls/aigw-mtls-webhook/patches"
)

// checkPolicies: every labelled EgressMTLS Policy passes the webhook's validation against the
// Secrets and certificates in the cluster now.
func checkPolicies(s *snapshot, ns string) []Check {
	l := newLines(SectionPolicies, ns)
	for i := range s.policies {
		p := &s.policies[i]
		if p.GetNamespace() != ns || !s.selected(p.GetLabels()) {
			continue
		}
		obj := ref("Policy", ns, p.GetName())
		fs, egress, err := s.validatePolicy(p)
		switch {
		case err != nil:
			l.fail(obj, "cannot be read: "+err.Error(), "correct the Policy's spec")
		case len(fs) > 0:
			l.findings(obj, "", "", fs)
		case !egress:
			l.ok(obj, "no spec.egressMTLS: nothing to check")
		default:
			field := func(name string) string {
				v, _, _ := unstructured.NestedString(p.Object, "spec", "egressMTLS", name)
				return v
			}
			l.ok(obj, fmt.Sprintf("egressMTLS passes validation: sslName %s, trustedCertSecret %s, tlsSecret %s, protocols %s",
				field("sslName"), field("trustedCertSecret"), field("tlsSecret"), field("protocols")))
		}
	}
	return l.out
}

// validatePolicy validates p as the webhook does when a labelled VirtualServer references it,
// whether or not p carries the label itself.
func (s *snapshot) validatePolicy(p *unstructured.Unstructured) (fs rules.Findings, egress bool, err error) {
	e, found, _ := unstructured.NestedMap(p.Object, "spec", "egressMTLS")
	egress = found && e != nil
	c := p.DeepCopy()
	l := c.GetLabels()
	if l == nil {
		l = map[string]string{}
	}
	l[s.o.Settings.SelectorKey] = s.o.Settings.SelectorValue
	c.SetLabels(l)
	raw, err := c.MarshalJSON()
	if err != nil {
		return nil, egress, err
	}
	fs, err = rules.Policy(raw, c.GetNamespace(), s.o.Settings, s.objs, s.o.Now)
	return rules.Silence(raw, fs), egress, err
}

func (s *snapshot) policy(namespace, name string) *unstructured.Unstructured {
	for i := range s.policies {
		if p := &s.policies[i]; p.GetNamespace() == namespace && p.GetName() == name {
			return p
		}
	}
	return nil
}

// checkVirtualServers: each labelled VirtualServer (and VirtualServerRoute) is wired — its aigw
// upstreams have tls.enable and the routes reaching them reference the EgressMTLS Policy, so
// that admitting it again would change nothing — and that Policy exists and passes validation.
func checkVirtualServers(s *snapshot, ns string) []Check {
	l := newLines(SectionVirtualServers, ns)
	for _, k := range []struct {
		kind, routesKey string
		list            []unstructured.Unstructured
		patch           patches.Mutation
	}{
		{"VirtualServer", "routes", s.vss, patches.PatchVirtualServer},
		{"VirtualServerRoute", "subroutes", s.vsrs, patches.PatchVirtualServerRoute},
	} {
		for i := range k.list {
			if u := &k.list[i]; u.GetNamespace() == ns {
				s.checkRouting(l, u, k.kind, k.routesKey, k.patch)
			}
		}
	}
	return l.out
}

func (s *snapshot) checkRouting(l *lines, u *unstructured.Unstructured, kind, routesKey string, patch patches.Mutation) {
	ns := u.GetNamespace()
	obj := ref(kind, ns, u.GetName())
	raw, err := u.MarshalJSON()
	if err != nil {
		l.fail(obj, "cannot be encoded: "+err.Error(), "")
		return
	}
	res, err := patch(raw, ns, s.o.Settings, s.objs)
	if err != nil {
		l.fail(obj, "cannot be read: "+err.Error(), "correct its spec")
		return
	}
	res.Findings = rules.Silence(raw, res.Findings)
	l.result(obj, res)
	l.findings(obj, "", "", res.Unwired)
	if !res.Wired() {
		return
	}
	pns, pname := s.policyFor(u)
	upstreams, routes := wiredParts(u, routesKey, pns, pname)
	msg := fmt.Sprintf("upstreams [%s] have tls.enable", strings.Join(upstreams, ", "))
	if len(routes) > 0 {
		msg += fmt.Sprintf("; routes [%s] reference Policy %s/%s", strings.Join(routes, ", "), pns, pname)
	}
	l.ok(obj, msg)
	if len(routes) > 0 {
		s.checkReferencedPolicy(l, obj, pns, pname)
	}
}

// policyFor is the EgressMTLS Policy the routes of u must reference: its annotation's, else the
// setting; "namespace/name" names another namespace.
func (s *snapshot) policyFor(u *unstructured.Unstructured) (namespace, name string) {
	v := s.o.Settings.Policy
	if a := strings.TrimSpace(u.GetAnnotations()[aigw.AnnotationPolicy]); a != "" {
		v = a
	}
	if ns, n, ok := strings.Cut(v, "/"); ok {
		return ns, n
	}
	return u.GetNamespace(), v
}

// wiredParts lists the upstreams of u with tls.enable and the routes that reference the Policy.
func wiredParts(u *unstructured.Unstructured, routesKey, pns, pname string) (upstreams, routes []string) {
	ups, _, _ := unstructured.NestedSlice(u.Object, "spec", "upstreams")
	for _, x := range ups {
		m, _ := x.(map[string]any)
		if on, _, _ := unstructured.NestedBool(m, "tls", "enable"); on {
			name, _ := m["name"].(string)
			upstreams = append(upstreams, name)
		}
	}
	rs, _, _ := unstructured.NestedSlice(u.Object, "spec", routesKey)
	for _, x := range rs {
		m, _ := x.(map[string]any)
		ps, _ := m["policies"].([]any)
		if slices.ContainsFunc(ps, func(p any) bool {
			pm, _ := p.(map[string]any)
			ns, _ := pm["namespace"].(string)
			if ns == "" {
				ns = u.GetNamespace()
			}
			return pm["name"] == pname && ns == pns
		}) {
			path, _ := m["path"].(string)
			routes = append(routes, path)
		}
	}
	return upstreams, routes
}

// checkReferencedPolicy: the Policy the wired routes reference exists, has egressMTLS and passes
// validation. A labelled Policy of a namespace in scope is reported in full under Policies.
func (s *snapshot) checkReferencedPolicy(l *lines, obj, pns, pname string) {
	pref := pns + "/" + pname
	if !s.wasListed(pns) {
		l.warn(obj, fmt.Sprintf("references Policy %s, outside the namespace checked: not checked", pref), "run check with -n "+pns+" too")
		return
	}
	p := s.policy(pns, pname)
	if p == nil {
		l.fail(obj, fmt.Sprintf("references Policy %s, which does not exist: NIC answers 500 on the routes that reference it", pref),
			fmt.Sprintf("apply the EgressMTLS Policy %s (config/samples/aigw-policy.yaml), or point annotation %s at the Policy in use", pref, aigw.AnnotationPolicy))
		return
	}
	fs, egress, err := s.validatePolicy(p)
	switch {
	case err != nil:
		l.fail(obj, fmt.Sprintf("references Policy %s, which cannot be read: %v", pref, err), "correct the Policy's spec")
	case !egress:
		l.fail(obj, fmt.Sprintf("references Policy %s, which has no spec.egressMTLS: NIC connects without a client certificate and aigw refuses", pref),
			fmt.Sprintf("add spec.egressMTLS to Policy %s, or point annotation %s at the EgressMTLS Policy", pref, aigw.AnnotationPolicy))
	case len(fs.Errors()) > 0 && s.selected(p.GetLabels()) && slices.Contains(s.namespaces, pns):
		l.fail(obj, fmt.Sprintf("references Policy %s, which fails validation (see Policies in %s)", pref, pns), "fix the Policy as reported there")
	case len(fs.Errors()) > 0 || len(fs) > 0 && !s.selected(p.GetLabels()):
		l.findings(obj, "references Policy "+pref+": ", "", fs)
	default:
		l.ok(obj, fmt.Sprintf("references Policy %s, which passes validation", pref))
	}
}

// checkConfigMaps: each labelled aigw ConfigMap points aigw at the mounted certificates.
func checkConfigMaps(s *snapshot, ns string) []Check {
	l := newLines(SectionConfigMaps, ns)
	set := s.o.Settings
	p := set.TLSPaths()
	for i := range s.configMaps {
		cm := &s.configMaps[i]
		if cm.Namespace != ns || !s.selected(cm.Labels) {
			continue
		}
		if isCABundle(cm, set.ConfigKey) {
			continue // reported under Gateway API
		}
		obj := ref("ConfigMap", ns, cm.Name)
		raw := rawTyped(cm, "v1", "ConfigMap")
		res, err := patches.PatchConfigMap(raw, ns, set, nil)
		if err != nil {
			l.fail(obj, "cannot be read: "+err.Error(), "")
			continue
		}
		res.Findings = rules.Silence(raw, res.Findings)
		found := l.result(obj, res)
		l.findings(obj, "", "", res.Unwired)
		if !found && res.Wired() {
			l.ok(obj, fmt.Sprintf("%s sets server.tls (%s, %s) and server.mtls (%s)", set.ConfigKey, p.ServerCertPath, p.ServerKeyPath, p.ClientCAPath))
		}
	}
	return l.out
}
