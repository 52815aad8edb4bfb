package checker

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/aigw-mtls/aigw-mtls-webhook/internal/aigw"
	"github.com/aigw-mtls/aigw-mtls-webhook/internal/objects"
	"github.com/aigw-mtls/aigw-mtls-webhook/internal/rules/fixtures"
	"github.com/aigw-mtls/aigw-mtls-webhook/webhook"
)

// Every Policy fixture is judged by the admission handler (as the API server would call it) and by
// check (as it reads a cluster holding the fixture's objects): both refuse or both pass, with the
// same problems. They share the rules; this holds the wiring around them to it.
func TestCheckAgreesWithAdmissionOnEveryPolicyFixture(t *testing.T) {
	pki := agreementPKI(t)
	settings := aigw.DefaultSettings()
	for _, c := range fixtures.Cases(t, "../rules/testdata/policy", pki) {
		t.Run(c.Name, func(t *testing.T) {
			// A Secret copy as the webhook's cache holds it (key dropped, its verdict recorded) is no
			// cluster object: the cluster holds the Secret it was made from. A copy named
			// <name>-cached is made from the fixtures' Secret <name>.
			inCluster := clusterObjects(t, c.Objects)
			var p unstructured.Unstructured
			if err := json.Unmarshal(c.Object, &p.Object); err != nil {
				t.Fatal(err)
			}
			// Admission: the Policy validation handler, its lookups served from the fixture's objects.
			h := webhook.Handlers(webhook.Options{Settings: settings}, objects.NewObjectSet("ai-gateway", c.Objects...))[webhook.PathValidatePolicy]
			h.(*webhook.Validator).Now = func() time.Time { return fixtures.Now }
			resp := h.Handle(context.Background(), admission.Request{AdmissionRequest: admissionv1.AdmissionRequest{
				UID: "agreement", Operation: admissionv1.Create, Namespace: "ai-gateway", Name: p.GetName(),
				Kind:   metav1.GroupVersionKind{Group: "k8s.nginx.org", Version: "v1", Kind: "Policy"},
				Object: runtime.RawExtension{Raw: c.Object},
			}})
			// check: the same objects in a cluster.
			objs := []client.Object{&p}
			for _, raw := range inCluster {
				objs = append(objs, clusterObject(t, raw))
			}
			cl := fake.NewClientBuilder().WithScheme(coreScheme(t)).WithRESTMapper(restMapper()).WithObjects(objs...).Build()
			r, err := Run(context.Background(), cl, Options{Settings: settings, Namespace: "ai-gateway", Now: fixtures.Now})
			if err != nil {
				t.Fatal(err)
			}
			var checkErrors []Check
			for _, ch := range r.Checks {
				if ch.Section == SectionPolicies && ch.Object == "Policy/ai-gateway/"+p.GetName() && ch.Status == StatusError {
					checkErrors = append(checkErrors, ch)
				}
			}
			if resp.Allowed != (len(checkErrors) == 0) {
				t.Fatalf("admission allowed=%v (%s); check reports %d error(s): %+v", resp.Allowed, resp.Result.Message, len(checkErrors), checkErrors)
			}
			for _, ch := range checkErrors {
				if !strings.Contains(resp.Result.Message, ch.Message+"; fix: "+ch.Fix) {
					t.Errorf("check reports %q (fix %q), which admission's denial does not hold:\n%s", ch.Message, ch.Fix, resp.Result.Message)
				}
			}
		})
	}
}

// clusterObjects replaces each cache copy of a Secret among objs by the Secret it was made from.
func clusterObjects(t *testing.T, objs [][]byte) [][]byte {
	t.Helper()
	byName := map[string][]byte{}
	for _, raw := range objs {
		var m metav1.PartialObjectMetadata
		if err := json.Unmarshal(raw, &m); err != nil {
			t.Fatal(err)
		}
		byName[m.Kind+"/"+m.Name] = raw
	}
	var out [][]byte
	for _, raw := range objs {
		var m metav1.PartialObjectMetadata
		_ = json.Unmarshal(raw, &m)
		if _, cached := m.Annotations[aigw.AnnotationKeyCheck]; !cached {
			out = append(out, raw)
			continue
		}
		orig, ok := byName["Secret/"+strings.TrimSuffix(m.Name, "-cached")]
		if !strings.HasSuffix(m.Name, "-cached") || !ok {
			t.Fatalf("Secret %s is a cache copy: name it <name>-cached beside the Secret <name> it was made from", m.Name)
		}
		var sec map[string]any
		if err := json.Unmarshal(orig, &sec); err != nil {
			t.Fatal(err)
		}
		sec["metadata"].(map[string]any)["name"] = m.Name
		b, _ := json.Marshal(sec)
		out = append(out, b)
	}
	return out
}

// clusterObject turns a fixture object into what a client reads: Secrets typed, others
// unstructured.
func clusterObject(t *testing.T, raw []byte) client.Object {
	t.Helper()
	var u unstructured.Unstructured
	if err := json.Unmarshal(raw, &u.Object); err != nil {
		t.Fatal(err)
	}
	if u.GetNamespace() == "" {
		u.SetNamespace("ai-gateway")
	}
	if u.GetKind() != "Secret" {
		return &u
	}
	var sec corev1.Secret
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, &sec); err != nil {
		t.Fatal(err)
	}
	return &sec
}
