package checker

import (
	"context"
	"fmt"
	"slices"
	"strings"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/aigw-mtls/aigw-mtls-webhook/internal/kinds"
)

// The chart's pod policies (podInjection.engine=policy) carry this component label and are named
// <release fullname>-pods.
const (
	podPolicyComponent = "pod-policy"
	podPolicySuffix    = "-pods"
)

// podPolicies are the product's MutatingAdmissionPolicies that wire pods, with their bindings.
type podPolicies struct {
	names   []string
	bound   map[string]bool
	listErr error // why they could not be listed (not served: none, no error)
}

// listPodPolicies lists the chart's pod MutatingAdmissionPolicies and their bindings; a cluster that
// does not serve the kind has none.
func (s *snapshot) listPodPolicies(ctx context.Context, c client.Reader) {
	var p admissionregistrationv1.MutatingAdmissionPolicyList
	if err := c.List(ctx, &p); err != nil {
		if !meta.IsNoMatchError(err) && !apierrors.IsNotFound(err) {
			s.podPolicies.listErr = err
		}
		return
	}
	for _, pol := range p.Items {
		ours := pol.Labels["app.kubernetes.io/component"] == podPolicyComponent && strings.HasSuffix(pol.Name, podPolicySuffix)
		if s.o.WebhookName != "" {
			ours = pol.Name == s.o.WebhookName+podPolicySuffix
		}
		if ours {
			s.podPolicies.names = append(s.podPolicies.names, pol.Name)
		}
	}
	if len(s.podPolicies.names) == 0 {
		return
	}
	var b admissionregistrationv1.MutatingAdmissionPolicyBindingList
	if err := c.List(ctx, &b); err != nil {
		s.podPolicies.listErr = err
		return
	}
	s.podPolicies.bound = map[string]bool{}
	for _, binding := range b.Items {
		s.podPolicies.bound[binding.Spec.PolicyName] = true
	}
}

// createsPods: rules send pod CREATEs.
func createsPods(rules []admissionregistrationv1.RuleWithOperations) bool {
	for _, r := range rules {
		if (slices.Contains(r.Resources, "pods") || slices.Contains(r.Resources, "*")) && (slices.Contains(r.APIGroups, "") || slices.Contains(r.APIGroups, "*")) &&
			(slices.Contains(r.Operations, admissionregistrationv1.Create) || slices.Contains(r.Operations, admissionregistrationv1.OperationAll)) {
			return true
		}
	}
	return false
}

// checkPodEngine says what wires labelled pods: the webhook's pod hook (podInjection.engine
// webhook) or the chart's MutatingAdmissionPolicy (engine policy), which needs no replica up.
func (w *webhookChecker) checkPodEngine() {
	var hookedBy, podHooks []string
	for _, h := range w.s.hooks {
		for _, hv := range h.hooks {
			if h.kind == "MutatingWebhookConfiguration" && hv.createsPods {
				hookedBy = append(hookedBy, h.ref())
				podHooks = append(podHooks, hv.name)
			}
		}
	}
	podHook := strings.Join(podHooks, ", ")
	if podHook == "" {
		podHook = kinds.Pod.MutateHooks[0].Name
	}
	pp := w.s.podPolicies
	if pp.listErr != nil {
		w.l.warn("MutatingAdmissionPolicy", fmt.Sprintf("cannot list MutatingAdmissionPolicies (%v): whether the pod policy wires pods is not checked", pp.listErr),
			"grant list on mutatingadmissionpolicies and mutatingadmissionpolicybindings (the chart's check ClusterRole does)")
	}
	var policies []string
	for _, name := range pp.names {
		obj := ref("MutatingAdmissionPolicy", "", name)
		if pp.listErr == nil && !pp.bound[name] {
			w.l.fail(obj, "no MutatingAdmissionPolicyBinding binds it: labelled pods are not wired", "install the chart's binding "+name+" (helm upgrade)")
			continue
		}
		policies = append(policies, obj)
	}
	switch {
	case len(hookedBy) > 0 && len(policies) > 0:
		w.l.warn(strings.Join(append(hookedBy, policies...), ", "), "both wire labelled pods (webhook "+podHook+" and the pod policy): the webhook stays on the path of pod creation",
			"keep one engine: helm upgrade with podInjection.engine=policy (or webhook) removes the other")
	case len(hookedBy) > 0:
		w.l.ok(strings.Join(hookedBy, ", "), "wires labelled pods: webhook "+podHook+" (podInjection.engine=webhook)")
	case len(policies) > 0:
		w.l.ok(strings.Join(policies, ", "), "wires labelled pods: the API server applies it itself, no replica needed (podInjection.engine=policy)")
	case pp.listErr == nil && len(pp.names) == 0 && len(w.s.hooks) > 0:
		w.l.fail("Pods", "neither webhook "+podHook+" nor a pod MutatingAdmissionPolicy: labelled pods are not wired",
			"install the chart (helm upgrade), with podInjection.engine=webhook or policy")
	}
}
