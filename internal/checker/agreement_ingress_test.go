package checker

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	jsonpatch "github.com/evanphx/json-patch/v5"
	admissionv1 "k8s.io/api/admission/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/aigw-mtls/aigw-mtls-webhook/internal/aigw"
	"github.com/aigw-mtls/aigw-mtls-webhook/internal/objects"
	"github.com/aigw-mtls/aigw-mtls-webhook/internal/rules/fixtures"
	"github.com/aigw-mtls/aigw-mtls-webhook/webhook"
)

// Every Ingress fixture is admitted as the API server chains the webhooks (the mutating handler,
// then the validating one on the patched object) and checked as check reads a cluster holding the
// Ingress as the mutation leaves it, with the fixture's Policies and Secrets: both refuse or both
// pass, and every error check reports is in admission's denial.
func TestCheckAgreesWithAdmissionOnEveryIngressFixture(t *testing.T) {
	pki := agreementPKI(t)
	settings := aigw.DefaultSettings()
	gvk := metav1.GroupVersionKind{Group: "networking.k8s.io", Version: "v1", Kind: "Ingress"}
	for _, c := range fixtures.Cases(t, "../rules/testdata/policy-via-ingress", pki) {
		t.Run(c.Name, func(t *testing.T) {
			var ing networkingv1.Ingress
			if err := json.Unmarshal(c.Object, &ing); err != nil {
				t.Fatal(err)
			}
			if ing.Namespace == "" {
				ing.Namespace = "ai-gateway"
			}
			handlers := webhook.Handlers(webhook.Options{Settings: settings}, objects.NewObjectSet("ai-gateway", c.Objects...))
			request := func(obj []byte) admission.Request {
				return admission.Request{AdmissionRequest: admissionv1.AdmissionRequest{
					UID: "agreement", Operation: admissionv1.Create, Namespace: ing.Namespace, Name: ing.Name,
					Kind: gvk, Object: runtime.RawExtension{Raw: obj},
				}}
			}
			stored := c.Object
			resp := handlers[webhook.PathMutateIngress].Handle(context.Background(), request(c.Object))
			if len(resp.Patches) > 0 {
				ops, _ := json.Marshal(resp.Patches)
				p, err := jsonpatch.DecodePatch(ops)
				if err != nil {
					t.Fatal(err)
				}
				if stored, err = p.Apply(c.Object); err != nil {
					t.Fatal(err)
				}
			}
			if resp.Allowed {
				resp = handlers[webhook.PathValidateIngress].Handle(context.Background(), request(stored))
			}

			var inCluster networkingv1.Ingress
			if err := json.Unmarshal(stored, &inCluster); err != nil {
				t.Fatal(err)
			}
			inCluster.Namespace = ing.Namespace
			objs := []client.Object{&inCluster}
			for _, raw := range clusterObjects(t, c.Objects) {
				objs = append(objs, clusterObject(t, raw))
			}
			cl := fake.NewClientBuilder().WithScheme(coreScheme(t)).WithRESTMapper(restMapper()).WithObjects(objs...).Build()
			r, err := Run(context.Background(), cl, Options{Settings: settings, Now: fixtures.Now})
			if err != nil {
				t.Fatal(err)
			}
			var checkErrors []Check
			for _, ch := range r.Checks {
				if ch.Section == SectionIngresses && ch.Object == "Ingress/"+ing.Namespace+"/"+ing.Name && ch.Status == StatusError {
					checkErrors = append(checkErrors, ch)
				}
			}
			if resp.Allowed != (len(checkErrors) == 0) {
				t.Fatalf("admission allowed=%v (%s); check reports %d error(s): %+v", resp.Allowed, resp.Result.Message, len(checkErrors), checkErrors)
			}
			for _, ch := range checkErrors {
				msg := ch.Message
				if i := strings.Index(msg, ": "); i >= 0 && strings.Contains(msg[:i], " references ") {
					msg = msg[i+2:] // the referenced Policy's finding; admission names it the same way
				}
				if !strings.Contains(resp.Result.Message, msg) || !strings.Contains(resp.Result.Message, "fix: "+ch.Fix) {
					t.Errorf("check reports %q (fix %q), which admission's denial does not hold:\n%s", ch.Message, ch.Fix, resp.Result.Message)
				}
			}
		})
	}
}
