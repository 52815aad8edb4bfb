package checker

import (
	"context"
	"fmt"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/aigw-mtls/aigw-mtls-webhook/internal/rules"
)

// DefaultMaxIngressEvents bounds the Events check reads to find NIC's verdicts on Ingresses:
// 20 pages of 500. Only NIC's Events about Ingresses are listed (field selector) and only the
// latest per labelled Ingress is kept, so memory grows with the Ingresses checked, not with the
// Events read.
const DefaultMaxIngressEvents = 10000

// ingressEvents holds NIC's latest Event on each labelled Ingress, by the Ingress's UID (an Event
// about an earlier Ingress of the same name is not about this one).
type ingressEvents struct {
	latest    map[types.UID]*nicEvent
	read      int
	truncated bool  // the bound stopped the reading
	err       error // the Events could not be listed
}

type nicEvent struct {
	rules.NICEvent
	when            time.Time
	resourceVersion string
}

// listIngressEvents reads NIC's Events about Ingresses in namespaces ("" for all), page by page,
// when there is a labelled Ingress to judge.
func (s *snapshot) listIngressEvents(ctx context.Context, c client.Reader, namespaces []string) {
	s.events.latest = map[types.UID]*nicEvent{}
	if len(s.ingresses) == 0 {
		return
	}
	labelled := map[types.UID]bool{}
	for i := range s.ingresses {
		labelled[s.ingresses[i].UID] = true
	}
	bound := s.o.MaxIngressEvents
	if bound <= 0 {
		bound = DefaultMaxIngressEvents
	}
	selector := client.MatchingFieldsSelector{Selector: fields.AndSelectors(
		fields.OneTermEqualSelector("involvedObject.kind", "Ingress"), fields.OneTermEqualSelector("source", rules.NICEventSource))}
	for _, ns := range namespaces {
		cont := ""
		for {
			if s.events.read >= bound {
				s.events.truncated = true
				return
			}
			var l corev1.EventList
			if err := c.List(ctx, &l, client.InNamespace(ns), selector, client.Limit(min(500, bound-s.events.read)), client.Continue(cont)); err != nil {
				s.events.err = err
				return
			}
			for i := range l.Items {
				s.events.keep(&l.Items[i], labelled)
			}
			s.events.read += len(l.Items)
			if cont = l.Continue; cont == "" {
				break
			}
		}
	}
}

// keep records e when it is NIC's and later than what is kept for its Ingress.
func (ev *ingressEvents) keep(e *corev1.Event, labelled map[types.UID]bool) {
	uid := e.InvolvedObject.UID
	if e.InvolvedObject.Kind != "Ingress" || e.Source.Component != rules.NICEventSource || !labelled[uid] {
		return
	}
	when := e.LastTimestamp.Time
	for _, t := range []time.Time{e.EventTime.Time, e.FirstTimestamp.Time, e.CreationTimestamp.Time} {
		if when.IsZero() {
			when = t
		}
	}
	if old := ev.latest[uid]; old != nil && !later(when, e.ResourceVersion, old.when, old.resourceVersion) {
		return
	}
	ev.latest[uid] = &nicEvent{NICEvent: rules.NICEvent{Type: e.Type, Reason: e.Reason, Message: rules.ClipStatusMessage(e.Message)},
		when: when, resourceVersion: e.ResourceVersion}
}

// later orders Events by resourceVersion, which etcd increments with each write (a recurring Event
// is rewritten with a new one), and only where it does not parse by time: the timestamps are the
// writer's, and a tenant who may create Events could date one in the future to win for good.
func later(t time.Time, rv string, thanT time.Time, thanRV string) bool {
	a, errA := strconv.ParseUint(rv, 10, 64)
	b, errB := strconv.ParseUint(thanRV, 10, 64)
	if errA == nil && errB == nil {
		return a > b
	}
	return t.After(thanT)
}

// verdictLimits are the Cluster lines saying what keeps check from showing NIC's verdicts.
func verdictLimits(s *snapshot) []Check {
	l := newLines(SectionCluster, "")
	if s.events.err != nil {
		l.warn("Events", "cannot be listed, so NGINX Ingress Controller's verdicts on Ingresses are not shown: "+s.events.err.Error(),
			"grant list on events to the user running check (the chart's check ClusterRole does)")
	}
	if s.events.truncated {
		l.warn("Events", fmt.Sprintf("check read the first %d of NGINX Ingress Controller's Events about Ingresses (its bound): Ingresses without an Event among them show no verdict", s.events.read),
			"run check -n NAMESPACE to read the Events of one namespace")
	}
	return l.out
}

// trimStatus keeps of u's status what the verdicts read, bounded: NIC's state, reason and message
// on VirtualServers, VirtualServerRoutes and Policies; NGF's ancestors on BackendTLSPolicies. Any
// other kind's status is dropped.
func trimStatus(u *unstructured.Unstructured) {
	st, _ := u.Object["status"].(map[string]any)
	delete(u.Object, "status")
	if st == nil {
		return
	}
	switch u.GroupVersionKind() {
	case vsGVK, vsrGVK, policyGVK:
		kept := map[string]any{}
		for _, k := range []string{"state", "reason", "message"} {
			if v, ok := st[k].(string); ok {
				kept[k] = rules.ClipStatusMessage(v)
			}
		}
		u.Object["status"] = kept
	case btpGVK:
		ancestors, _ := st["ancestors"].([]any)
		var kept []any
		for _, a := range ancestors[:min(len(ancestors), rules.MaxStatusAncestors)] {
			am, _ := a.(map[string]any)
			if am == nil {
				continue
			}
			ref, _ := am["ancestorRef"].(map[string]any)
			keptRef := map[string]any{}
			for _, k := range []string{"namespace", "name", "kind"} {
				if v, ok := ref[k].(string); ok {
					keptRef[k] = rules.ClipStatusMessage(v)
				}
			}
			conds, _ := am["conditions"].([]any)
			var keptConds []any
			for _, c := range conds[:min(len(conds), rules.MaxStatusConditions)] {
				cm, _ := c.(map[string]any)
				kc := map[string]any{}
				for _, k := range []string{"type", "status", "reason", "message"} {
					if v, ok := cm[k].(string); ok {
						kc[k] = rules.ClipStatusMessage(v)
					}
				}
				switch g := cm["observedGeneration"].(type) {
				case int64:
					kc["observedGeneration"] = g
				case float64:
					kc["observedGeneration"] = int64(g)
				}
				keptConds = append(keptConds, kc)
			}
			name, _ := am["controllerName"].(string)
			kept = append(kept, map[string]any{"ancestorRef": keptRef, "controllerName": rules.ClipStatusMessage(name), "conditions": keptConds})
		}
		u.Object["status"] = map[string]any{"ancestors": kept}
	}
}
