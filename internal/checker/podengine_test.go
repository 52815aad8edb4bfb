package checker

import (
	"context"
	"fmt"
	"strings"
	"testing"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
)

// check reports which engine wires labelled pods: the webhook's pod hook, or the chart's bound
// MutatingAdmissionPolicy (podInjection.engine=policy); neither, an unbound policy, or both are
// findings.
func TestCheckSaysWhichEngineWiresPods(t *testing.T) {
	url := "https://127.0.0.1:1"
	mutating := func(hooks ...string) *admissionregistrationv1.MutatingWebhookConfiguration {
		cfg := &admissionregistrationv1.MutatingWebhookConfiguration{ObjectMeta: metav1.ObjectMeta{Name: "aigw-mtls-webhook"}}
		for _, h := range hooks {
			resource := strings.SplitN(h, ".", 2)[0]
			if resource == "pod-updates" {
				resource = "pods"
			}
			op := admissionregistrationv1.Create
			if h == "pod-updates.mtls.aigw.io" {
				op = admissionregistrationv1.Update
			}
			cfg.Webhooks = append(cfg.Webhooks, admissionregistrationv1.MutatingWebhook{Name: h, ClientConfig: admissionregistrationv1.WebhookClientConfig{URL: &url},
				Rules: []admissionregistrationv1.RuleWithOperations{{Operations: []admissionregistrationv1.OperationType{op},
					Rule: admissionregistrationv1.Rule{APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{resource}}}}})
		}
		return cfg
	}
	policy := &admissionregistrationv1.MutatingAdmissionPolicy{ObjectMeta: metav1.ObjectMeta{Name: "aigw-mtls-webhook-pods",
		Labels: map[string]string{"app.kubernetes.io/component": "pod-policy"}}}
	binding := &admissionregistrationv1.MutatingAdmissionPolicyBinding{ObjectMeta: metav1.ObjectMeta{Name: "aigw-mtls-webhook-pods"},
		Spec: admissionregistrationv1.MutatingAdmissionPolicyBindingSpec{PolicyName: "aigw-mtls-webhook-pods"}}
	for _, tc := range []struct {
		name string
		objs []client.Object
		want string
	}{
		{"webhook", []client.Object{mutating("pods.mtls.aigw.io", "pod-updates.mtls.aigw.io", "configmaps.mtls.aigw.io")},
			"ok MutatingWebhookConfiguration/aigw-mtls-webhook: wires labelled pods: webhook pods.mtls.aigw.io (podInjection.engine=webhook)"},
		{"policy", []client.Object{mutating("configmaps.mtls.aigw.io"), policy, binding},
			"ok MutatingAdmissionPolicy/aigw-mtls-webhook-pods: wires labelled pods: the API server applies it itself, no replica needed (podInjection.engine=policy)"},
		{"policy-unbound", []client.Object{mutating("configmaps.mtls.aigw.io"), policy},
			"error MutatingAdmissionPolicy/aigw-mtls-webhook-pods: no MutatingAdmissionPolicyBinding binds it: labelled pods are not wired"},
		{"both", []client.Object{mutating("pods.mtls.aigw.io", "configmaps.mtls.aigw.io"), policy, binding},
			"warning MutatingWebhookConfiguration/aigw-mtls-webhook, MutatingAdmissionPolicy/aigw-mtls-webhook-pods: both wire labelled pods"},
		{"neither", []client.Object{mutating("configmaps.mtls.aigw.io")},
			"error Pods: neither webhook pods.mtls.aigw.io nor a pod MutatingAdmissionPolicy: labelled pods are not wired"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := fake.NewClientBuilder().WithScheme(coreScheme(t)).WithObjects(tc.objs...).Build()
			s := &snapshot{o: DefaultOptions()}
			if err := s.listWebhookConfigurations(context.Background(), c); err != nil {
				t.Fatal(err)
			}
			l := newLines(SectionWebhooks, "")
			(&webhookChecker{s: s, l: l}).checkPodEngine()
			var got []string
			for _, c := range l.out {
				got = append(got, fmt.Sprintf("%s %s: %s", c.Status, c.Object, c.Message))
			}
			if len(got) != 1 || !strings.HasPrefix(got[0], tc.want) {
				t.Errorf("got %q, want one line starting %q", got, tc.want)
			}
		})
	}
}
