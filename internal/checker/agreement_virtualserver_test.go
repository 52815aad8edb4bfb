package checker

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	jsonpatch "github.com/evanphx/json-patch/v5"
	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/aigw-mtls/aigw-mtls-webhook/internal/aigw"
	"github.com/aigw-mtls/aigw-mtls-webhook/internal/kinds"
	"github.com/aigw-mtls/aigw-mtls-webhook/internal/objects"
	"github.com/aigw-mtls/aigw-mtls-webhook/internal/rules/fixtures"
	"github.com/aigw-mtls/aigw-mtls-webhook/webhook"
)

// Every VirtualServer and VirtualServerRoute fixture is admitted as the API server chains the
// webhooks (the mutating handler, then the validating one on the patched object) and checked as
// check reads a cluster holding the object as the mutation leaves it, with the fixture's Policies
// and Secrets: both refuse or both pass, and every error check reports is in admission's denial.
// check and admission call the same mutation and rule (internal/kinds).
func TestCheckAgreesWithAdmissionOnEveryVirtualServerFixture(t *testing.T) {
	pki := agreementPKI(t)
	settings := aigw.DefaultSettings()
	for dir, k := range map[string]*kinds.Kind{
		"../rules/testdata/policy-via-virtualserver":      kinds.VirtualServer,
		"../rules/testdata/policy-via-virtualserverroute": kinds.VirtualServerRoute,
	} {
		for _, c := range fixtures.Cases(t, dir, pki) {
			t.Run(k.Kind+"/"+c.Name, func(t *testing.T) {
				var u unstructured.Unstructured
				if err := json.Unmarshal(c.Object, &u.Object); err != nil {
					t.Fatal(err)
				}
				if u.GetNamespace() == "" {
					u.SetNamespace("ai-gateway")
				}
				handlers := webhook.Handlers(webhook.Options{Settings: settings}, objects.NewObjectSet("ai-gateway", c.Objects...))
				handlers[k.ValidatePath()].(*webhook.Validator).Now = func() time.Time { return fixtures.Now }
				request := func(obj []byte) admission.Request {
					return admission.Request{AdmissionRequest: admissionv1.AdmissionRequest{
						UID: "agreement", Operation: admissionv1.Create, Namespace: u.GetNamespace(), Name: u.GetName(),
						Kind: metav1.GroupVersionKind{Group: k.Group, Version: k.Version, Kind: k.Kind}, Object: runtime.RawExtension{Raw: obj},
					}}
				}
				stored := c.Object
				resp := handlers[k.MutatePath()].Handle(context.Background(), request(c.Object))
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
					resp = handlers[k.ValidatePath()].Handle(context.Background(), request(stored))
				}

				inCluster := &unstructured.Unstructured{}
				if err := json.Unmarshal(stored, &inCluster.Object); err != nil {
					t.Fatal(err)
				}
				inCluster.SetNamespace(u.GetNamespace())
				objs := []client.Object{inCluster}
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
					if ch.Section == SectionVirtualServers && ch.Object == k.Kind+"/"+u.GetNamespace()+"/"+u.GetName() && ch.Status == StatusError {
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
}
