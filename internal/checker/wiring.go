package checker

import (
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/aigw-mtls/aigw-mtls-webhook/internal/kinds"
	"github.com/aigw-mtls/aigw-mtls-webhook/internal/objects"
	"github.com/aigw-mtls/aigw-mtls-webhook/internal/rules"
	"github.com/aigw-mtls/aigw-mtls-webhook/patches"
)

// checkPolicies: every labelled EgressMTLS Policy passes the webhook's validation against the
// Secrets and certificates in the cluster now.
func checkPolicies(s *snapshot, ns string) []Check {
	l := newLines(SectionPolicies, ns)
	for _, i := range s.in.policies[ns] {
		if !s.selected(s.policies[i].labels) {
			continue
		}
		p := s.policies[i].obj()
		obj := ref("Policy", ns, p.GetName())
		fs, e, err := s.validatePolicy(p)
		switch {
		case err != nil:
			l.fail(obj, "cannot be read: "+err.Error(), "correct the Policy's spec")
		case len(fs) > 0:
			l.findings(obj, "", "", fs)
		case e == nil:
			l.ok(obj, "no spec.egressMTLS: nothing to check")
		default:
			l.ok(obj, fmt.Sprintf("egressMTLS passes validation: sslName %s, trustedCertSecret %s, tlsSecret %s, protocols %s",
				e.SSLName, e.TrustedCertSecret, e.TLSSecret, e.Protocols))
		}
	}
	return l.out
}

// validatePolicy validates p as the webhook does when a labelled VirtualServer references it,
// whether or not p carries the label itself; e is its spec.egressMTLS as NIC renders it.
func (s *snapshot) validatePolicy(p *unstructured.Unstructured) (fs rules.Findings, e *rules.Egress, err error) {
	c := p.DeepCopy()
	l := c.GetLabels()
	if l == nil {
		l = map[string]string{}
	}
	l[s.o.Settings.SelectorKey] = s.o.Settings.SelectorValue
	c.SetLabels(l)
	raw, err := c.MarshalJSON()
	if err != nil {
		return nil, nil, err
	}
	if e, err = rules.PolicyEgress(raw, c.GetNamespace(), s.o.Settings); err != nil {
		return nil, nil, err
	}
	fs, err = rules.Policy(raw, c.GetNamespace(), s.o.Settings, s.objs, s.o.Now)
	return rules.Silence(raw, fs), e, err
}

// checkVirtualServers: each labelled VirtualServer (and VirtualServerRoute) is wired — its aigw
// upstreams have tls.enable and the routes reaching them reference the EgressMTLS Policy, so that
// admitting it again would change nothing — and passes the kind's rule (internal/kinds), judged
// exactly as admission judges it: the Policy references as NIC validates them, the Policies they
// reach, the gRPC routes under a server-level Policy.
func checkVirtualServers(s *snapshot, ns string) []Check {
	l := newLines(SectionVirtualServers, ns)
	for _, k := range []struct {
		kind *kinds.Kind
		list []item
		in   []int
	}{{kinds.VirtualServer, s.vss, s.in.vss[ns]}, {kinds.VirtualServerRoute, s.vsrs, s.in.vsrs[ns]}} {
		for _, i := range k.in {
			s.checkRouting(l, k.list[i].obj(), k.kind)
		}
	}
	return l.out
}

func (s *snapshot) checkRouting(l *lines, u *unstructured.Unstructured, k *kinds.Kind) {
	ns := u.GetNamespace()
	obj := ref(k.Kind, ns, u.GetName())
	raw, err := u.MarshalJSON()
	if err != nil {
		l.fail(obj, "cannot be encoded: "+err.Error(), "")
		return
	}
	objs := listedObjects{ObjectSet: s.objs, s: s}
	res, err := k.Mutate(raw, ns, s.o.Settings, objs)
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
	fs, err := k.Validate(raw, nil, ns, s.o.Settings, objs, s.o.Now)
	if err != nil {
		l.fail(obj, "cannot be read: "+err.Error(), "correct its spec")
		return
	}
	for _, f := range fs {
		// A finding about a referenced Policy names where the object references it.
		prefix := ""
		if f.Object != obj {
			prefix = strings.TrimPrefix(f.Object, obj+": ") + ": "
		}
		l.findings(obj, prefix, "", rules.Findings{f})
	}
	if len(fs.Errors()) == 0 {
		l.ok(obj, fmt.Sprintf("upstreams [%s] have tls.enable; passes the webhook's %s rules", strings.Join(tlsUpstreams(u), ", "), k.Kind))
	}
}

// tlsUpstreams are the upstreams of u with tls.enable.
func tlsUpstreams(u *unstructured.Unstructured) []string {
	var out []string
	ups, _, _ := unstructured.NestedSlice(u.Object, "spec", "upstreams")
	for _, x := range ups {
		m, _ := x.(map[string]any)
		if on, _, _ := unstructured.NestedBool(m, "tls", "enable"); on {
			name, _ := m["name"].(string)
			out = append(out, name)
		}
	}
	return out
}

// listedObjects answers lookups only in the namespaces check listed: a reference to another
// namespace (check -n) is reported as not checked, never as missing.
type listedObjects struct {
	*objects.ObjectSet
	s *snapshot
}

func (o listedObjects) Available(kind, namespace string) error {
	if !o.s.wasListed(namespace) {
		return &objects.Unavailable{Kind: kind, Namespace: namespace, Reason: "check read only the namespaces it was given: run it with -n " + namespace + " too"}
	}
	return nil
}

// checkConfigMaps: each labelled aigw ConfigMap points aigw at the mounted certificates.
func checkConfigMaps(s *snapshot, ns string) []Check {
	l := newLines(SectionConfigMaps, ns)
	set := s.o.Settings
	p := set.TLSPaths()
	for _, i := range s.in.configMaps[ns] {
		cm := &s.configMaps[i]
		if !s.selected(cm.Labels) {
			continue
		}
		if set.IsCABundle(cm.Data, cm.BinaryData) {
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
