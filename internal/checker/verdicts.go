package checker

import (
	"encoding/json"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/aigw-mtls/aigw-mtls-webhook/internal/rules"
)

// What NGINX Ingress Controller and NGINX Gateway Fabric themselves decided about the objects
// check judges: NIC's status on VirtualServers, VirtualServerRoutes and Policies, its latest Event
// on Ingresses, NGF's conditions on BackendTLSPolicies. Each object's verdict follows its own
// lines, judged beside them (internal/rules controller_verdicts.go).

// verdictsOf lists, for the objects of one section in namespace ns, the controller's verdict
// lines; failed tells whether our rules reported an error about an object.
type verdictsOf func(s *snapshot, ns string, failed map[string]bool) []Check

// withVerdicts runs check, then places each object's verdict lines after that object's lines.
func withVerdicts(check func(*snapshot, string) []Check, verdicts verdictsOf) func(*snapshot, string) []Check {
	return func(s *snapshot, ns string) []Check {
		out := check(s, ns)
		failed := map[string]bool{}
		for _, c := range out {
			if c.Status == StatusError {
				failed[c.Object] = true
			}
		}
		return placeAfter(out, verdicts(s, ns, failed))
	}
}

// placeAfter inserts each line of extra after the last line of out about the same object, or at
// the end when out has none.
func placeAfter(out, extra []Check) []Check {
	last := map[string]int{}
	for i, c := range out {
		last[c.Object] = i
	}
	byObj := map[string][]Check{}
	var tail []Check
	for _, c := range extra {
		if _, ok := last[c.Object]; ok {
			byObj[c.Object] = append(byObj[c.Object], c)
		} else {
			tail = append(tail, c)
		}
	}
	merged := make([]Check, 0, len(out)+len(extra))
	for i, c := range out {
		merged = append(merged, c)
		if last[c.Object] == i {
			merged = append(merged, byObj[c.Object]...)
		}
	}
	return append(merged, tail...)
}

func (l *lines) verdict(obj string, v rules.Verdict) {
	if len(v.Findings) == 0 {
		l.ok(obj, v.OK)
		return
	}
	l.findings(obj, "", "", v.Findings)
}

// statusOf decodes the status check kept of u (trimStatus) into T.
func statusOf[T any](u *unstructured.Unstructured) T {
	var st T
	if raw, err := json.Marshal(u.Object["status"]); err == nil {
		_ = json.Unmarshal(raw, &st)
	}
	return st
}

// policyVerdicts: NIC's status of each labelled Policy.
func policyVerdicts(s *snapshot, ns string, failed map[string]bool) []Check {
	l := newLines(SectionPolicies, ns)
	for _, i := range s.in.policies[ns] {
		if !s.selected(s.policies[i].labels) {
			continue
		}
		p := s.policies[i].obj()
		obj := ref("Policy", ns, p.GetName())
		l.verdict(obj, rules.NICResourceVerdict(obj, statusOf[rules.NICStatus](p), failed[obj]))
	}
	return l.out
}

// routingVerdicts: NIC's status of each labelled VirtualServer and VirtualServerRoute.
func routingVerdicts(s *snapshot, ns string, failed map[string]bool) []Check {
	l := newLines(SectionVirtualServers, ns)
	for _, k := range []struct {
		kind string
		list []item
		in   []int
	}{{"VirtualServer", s.vss, s.in.vss[ns]}, {"VirtualServerRoute", s.vsrs, s.in.vsrs[ns]}} {
		for _, i := range k.in {
			u := k.list[i].obj()
			obj := ref(k.kind, ns, u.GetName())
			l.verdict(obj, rules.NICResourceVerdict(obj, statusOf[rules.NICStatus](u), failed[obj]))
		}
	}
	return l.out
}

// ingressVerdicts: NIC's latest Event on each labelled Ingress. Nothing is said when the Events
// could not be read, or when the bound stopped reading them before an Ingress's Event (both
// reported once under Cluster).
func ingressVerdicts(s *snapshot, ns string, failed map[string]bool) []Check {
	l := newLines(SectionIngresses, ns)
	if s.events.err != nil {
		return nil
	}
	for _, i := range s.in.ingresses[ns] {
		ing := &s.ingresses[i]
		obj := ref("Ingress", ns, ing.Name)
		e := s.events.latest[ing.UID]
		if e == nil && s.events.truncated {
			continue
		}
		var ev *rules.NICEvent
		if e != nil {
			ev = &e.NICEvent
		}
		l.verdict(obj, rules.NICIngressVerdict(obj, ev, failed[obj]))
	}
	return l.out
}

// backendTLSPolicyVerdicts: NGF's conditions on each labelled BackendTLSPolicy.
func backendTLSPolicyVerdicts(s *snapshot, ns string, failed map[string]bool) []Check {
	l := newLines(SectionGatewayAPI, ns)
	for _, i := range s.in.btps[ns] {
		if !s.selected(s.btps[i].labels) {
			continue
		}
		u := s.btps[i].obj()
		obj := ref("BackendTLSPolicy", ns, u.GetName())
		l.verdict(obj, rules.NGFBackendTLSPolicyVerdict(obj, u.GetGeneration(), statusOf[rules.PolicyStatus](u), failed[obj]))
	}
	return l.out
}
