package checker

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/aigw-mtls/aigw-mtls-webhook/internal/aigw"
	"github.com/aigw-mtls/aigw-mtls-webhook/internal/objects"
	"github.com/aigw-mtls/aigw-mtls-webhook/internal/rules"
	"github.com/aigw-mtls/aigw-mtls-webhook/internal/rules/fixtures"
	"github.com/aigw-mtls/aigw-mtls-webhook/patches"
	"github.com/aigw-mtls/aigw-mtls-webhook/webhook"
)

// Every labelled BackendTLSPolicy and Gateway fixture is judged by the admission handler and by
// check reading a cluster that holds the fixture's objects: both refuse or both pass, with the
// same problems.
func TestCheckAgreesWithAdmissionOnEveryGatewayAPIFixture(t *testing.T) {
	pki := agreementPKI(t)
	settings := aigw.DefaultSettings()
	for _, k := range []struct {
		dir, kind, resource, path string
	}{
		{"../rules/testdata/backendtlspolicy", "BackendTLSPolicy", "backendtlspolicies", webhook.PathValidateBackendTLSPolicy},
		{"../rules/testdata/gateway", "Gateway", "gateways", webhook.PathValidateGateway},
	} {
		for _, c := range fixtures.Cases(t, k.dir, pki) {
			t.Run(k.kind+"/"+c.Name, func(t *testing.T) {
				var u unstructured.Unstructured
				if err := json.Unmarshal(c.Object, &u.Object); err != nil {
					t.Fatal(err)
				}
				if !settings.Selected(u.GetLabels()) {
					return // neither judges it
				}
				h := webhook.Handlers(webhook.Options{Settings: settings}, objects.NewObjectSet("ai-gateway", c.Objects...))[k.path]
				h.(*webhook.Validator).Now = func() time.Time { return fixtures.Now }
				resp := h.Handle(context.Background(), admission.Request{AdmissionRequest: admissionv1.AdmissionRequest{
					UID: "agreement", Operation: admissionv1.Create, Namespace: "ai-gateway", Name: u.GetName(),
					Kind:   metav1.GroupVersionKind{Group: "gateway.networking.k8s.io", Version: "v1", Kind: k.kind},
					Object: runtime.RawExtension{Raw: c.Object},
				}})
				objs := []client.Object{&u}
				for _, raw := range clusterObjects(t, c.Objects) {
					objs = append(objs, clusterObject(t, raw))
				}
				mapper := restMapper().(*meta.DefaultRESTMapper)
				mapper.Add(btpGVK, meta.RESTScopeNamespace)
				mapper.Add(gatewayGVK, meta.RESTScopeNamespace)
				mapper.Add(httpRouteGVK, meta.RESTScopeNamespace)
				mapper.Add(grpcRouteGVK, meta.RESTScopeNamespace)
				mapper.Add(referenceGrantGVK, meta.RESTScopeNamespace)
				cl := fake.NewClientBuilder().WithScheme(coreScheme(t)).WithRESTMapper(mapper).WithObjects(objs...).Build()
				r, err := Run(context.Background(), cl, Options{Settings: settings, Namespace: "ai-gateway", Now: fixtures.Now})
				if err != nil {
					t.Fatal(err)
				}
				var checkErrors []Check
				for _, ch := range r.Checks {
					if ch.Section == SectionGatewayAPI && ch.Object == k.kind+"/ai-gateway/"+u.GetName() && ch.Status == StatusError {
						checkErrors = append(checkErrors, ch)
					}
				}
				if resp.Allowed != (len(checkErrors) == 0) {
					t.Fatalf("admission allowed=%v (%s); check reports %d error(s): %+v", resp.Allowed, resp.Result.Message, len(checkErrors), checkErrors)
				}
				// What the mutation would add is check's own finding (admission mutates first).
				res, err := patches.PatchBackendTLSPolicy(c.Object, "ai-gateway", settings, nil)
				if err != nil || k.kind != "BackendTLSPolicy" {
					res = patches.Result{}
				}
				for _, ch := range checkErrors {
					if slices.ContainsFunc(res.Unwired, func(f rules.Finding) bool { return f.Problem() == ch.Message }) {
						continue
					}
					if !strings.Contains(resp.Result.Message, ch.Message+"; fix: "+ch.Fix) {
						t.Errorf("check reports %q (fix %q), which admission's denial does not hold:\n%s", ch.Message, ch.Fix, resp.Result.Message)
					}
				}
			})
		}
	}
}

var (
	agreementPKIOnce sync.Once
	agreementPKIs    map[string]*fixtures.Cert
)

// agreementPKI is one test PKI for every agreement test of the package: the certificate parse
// memo is keyed by Secret and resourceVersion, which the fake clients of different tests repeat,
// so two PKIs in one process would meet each other's parsed certificates.
func agreementPKI(t *testing.T) map[string]*fixtures.Cert {
	agreementPKIOnce.Do(func() { agreementPKIs = fixtures.PKI(t) })
	return agreementPKIs
}
