package checker

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	"github.com/aigw-mtls/aigw-mtls-webhook/internal/rules"
)

// The real API server tests (test/check, test/gatewayapi) cover the verdicts as NIC and NGF write
// them; these cover the bounds: how many Events are read, what is read when they cannot be, and
// what of a status is kept.

func labelledIngress(ns string) *networkingv1.Ingress {
	return &networkingv1.Ingress{ObjectMeta: metav1.ObjectMeta{Name: "aigw", Namespace: ns, UID: "ingress-uid", Labels: map[string]string{"aigw": "mtls"}}}
}

// Reading NIC's Events stops at the bound, with one line saying so; only NIC's Events about
// Ingresses are asked for, in the namespace checked.
func TestIngressEventsAreBounded(t *testing.T) {
	var limits []int64
	events := interceptor.Funcs{List: func(ctx context.Context, c client.WithWatch, list client.ObjectList, opts ...client.ListOption) error {
		el, ok := list.(*corev1.EventList)
		if !ok {
			return c.List(ctx, list, opts...)
		}
		var lo client.ListOptions
		lo.ApplyOptions(opts)
		if lo.Namespace != "ai" || lo.FieldSelector.String() != "involvedObject.kind=Ingress,source=nginx-ingress-controller" {
			t.Errorf("Events listed in %q with %q", lo.Namespace, lo.FieldSelector)
		}
		limits = append(limits, lo.Limit)
		for i := range lo.Limit { // an endless stream of other Ingresses' Events
			el.Items = append(el.Items, corev1.Event{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprint(len(limits), i)},
				InvolvedObject: corev1.ObjectReference{Kind: "Ingress", UID: "another"}, Source: corev1.EventSource{Component: rules.NICEventSource}})
		}
		el.Continue = "more"
		return nil
	}}
	c := fake.NewClientBuilder().WithScheme(coreScheme(t)).WithRESTMapper(restMapper()).WithObjects(labelledIngress("ai")).WithInterceptorFuncs(events).Build()
	o := DefaultOptions()
	o.Namespace, o.MaxIngressEvents = "ai", 1200
	r, err := Run(context.Background(), c, o)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(limits) != "[500 500 200]" {
		t.Errorf("page limits %v, want [500 500 200]", limits)
	}
	var cluster, ingress []string
	for _, ch := range r.Checks {
		switch {
		case ch.Section == SectionCluster && ch.Object == "Events":
			cluster = append(cluster, string(ch.Status)+" "+ch.Message)
		case ch.Object == "Ingress/ai/aigw" && strings.HasPrefix(string(ch.Rule), "NIC_INGRESS"):
			ingress = append(ingress, ch.Message)
		}
	}
	if len(cluster) != 1 || !strings.HasPrefix(cluster[0], "warning check read the first 1200 of NGINX Ingress Controller's Events about Ingresses (its bound)") {
		t.Errorf("Cluster lines %q", cluster)
	}
	if len(ingress) != 0 {
		t.Errorf("an Ingress whose Event may lie past the bound is said to have none: %q", ingress)
	}
}

// Events that cannot be listed (a check ClusterRole from before this release) are one warning; the
// rest of the check runs.
func TestIngressEventsForbidden(t *testing.T) {
	forbidden := interceptor.Funcs{List: func(ctx context.Context, c client.WithWatch, list client.ObjectList, opts ...client.ListOption) error {
		if _, ok := list.(*corev1.EventList); ok {
			return apierrors.NewForbidden(schema.GroupResource{Resource: "events"}, "", fmt.Errorf("no"))
		}
		return c.List(ctx, list, opts...)
	}}
	c := fake.NewClientBuilder().WithScheme(coreScheme(t)).WithRESTMapper(restMapper()).WithObjects(labelledIngress("ai")).WithInterceptorFuncs(forbidden).Build()
	o := DefaultOptions()
	o.Namespace = "ai"
	r, err := Run(context.Background(), c, o)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, ch := range r.Checks {
		if ch.Section == SectionCluster && ch.Object == "Events" {
			found = ch.Status == StatusWarning && strings.Contains(ch.Message, "cannot be listed, so NGINX Ingress Controller's verdicts on Ingresses are not shown") &&
				strings.Contains(ch.Fix, "grant list on events")
		}
		if strings.HasPrefix(string(ch.Rule), "NIC_INGRESS") {
			t.Errorf("an Ingress verdict without its Events: %+v", ch)
		}
	}
	if !found {
		t.Errorf("no warning about the Events in %+v", r.Checks)
	}
}

// Of a BackendTLSPolicy's status, check keeps at most MaxStatusAncestors ancestors of at most
// MaxStatusConditions conditions each, the fields the verdict reads, messages clipped.
func TestTrimKeepsABoundedBackendTLSPolicyStatus(t *testing.T) {
	var conds, ancestors []any
	for i := range 20 {
		conds = append(conds, map[string]any{"type": "Accepted", "status": "True", "reason": "Accepted", "observedGeneration": int64(3),
			"message": strings.Repeat("m", 40000), "lastTransitionTime": "2026-01-01T00:00:00Z", "extra": i})
	}
	for range 40 {
		ancestors = append(ancestors, map[string]any{"controllerName": "gateway.nginx.org/nginx-gateway-controller", "conditions": conds,
			"ancestorRef": map[string]any{"name": "gw", "namespace": "ai", "group": "gateway.networking.k8s.io", "sectionName": "https"}})
	}
	u := &unstructured.Unstructured{Object: map[string]any{"status": map[string]any{"ancestors": ancestors, "other": "x"}}}
	u.SetGroupVersionKind(btpGVK)
	trimUnstructured(u)
	st := statusOf[rules.PolicyStatus](u)
	if len(st.Ancestors) != rules.MaxStatusAncestors {
		t.Fatalf("%d ancestors kept, bound %d", len(st.Ancestors), rules.MaxStatusAncestors)
	}
	a := st.Ancestors[0]
	if len(a.Conditions) != rules.MaxStatusConditions || a.AncestorRef.Name != "gw" || a.ControllerName == "" {
		t.Fatalf("ancestor %+v", a)
	}
	if c := a.Conditions[0]; c.ObservedGeneration != 3 || c.Type != "Accepted" || len(c.Message) > rules.MaxStatusMessage+len("… (clipped)") {
		t.Errorf("condition %+v", c)
	}
	raw, _ := u.MarshalJSON()
	if strings.Contains(string(raw), "lastTransitionTime") || strings.Contains(string(raw), "sectionName") || strings.Contains(string(raw), `"other"`) {
		t.Errorf("kept fields the verdict does not read: %s", raw)
	}
	// Kinds without a verdict keep no status.
	cert := &unstructured.Unstructured{Object: map[string]any{"status": map[string]any{"conditions": conds}}}
	cert.SetGroupVersionKind(certificateGVK)
	trimUnstructured(cert)
	if _, ok := cert.Object["status"]; ok {
		t.Errorf("Certificate status kept")
	}
}

// NIC's latest verdict on an Ingress is the Event written last (its resourceVersion), not the one
// dated last: a tenant who may create Events cannot make a forged one dated in the future win.
func TestLatestIngressEventIsTheLastWritten(t *testing.T) {
	ev := &ingressEvents{latest: map[types.UID]*nicEvent{}}
	labelled := map[types.UID]bool{"ing-1": true}
	event := func(rv, reason string, at time.Time) *corev1.Event {
		return &corev1.Event{ObjectMeta: metav1.ObjectMeta{ResourceVersion: rv}, Reason: reason, Type: corev1.EventTypeNormal,
			InvolvedObject: corev1.ObjectReference{Kind: "Ingress", UID: "ing-1"}, Source: corev1.EventSource{Component: rules.NICEventSource},
			LastTimestamp: metav1.NewTime(at)}
	}
	ev.keep(event("100", "AddedOrUpdated", time.Now().Add(24*365*time.Hour)), labelled)
	ev.keep(event("200", "Rejected", time.Now()), labelled)
	if got := ev.latest["ing-1"]; got == nil || got.Reason != "Rejected" {
		t.Errorf("latest verdict %+v: want the Event written last (Rejected), not the one dated a year ahead", got)
	}
}
