package checker

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	jsonpatch "github.com/evanphx/json-patch/v5"
	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"
	"sigs.k8s.io/yaml"

	"github.com/aigw-mtls/aigw-mtls-webhook/internal/aigw"
	"github.com/aigw-mtls/aigw-mtls-webhook/internal/kinds"
	"github.com/aigw-mtls/aigw-mtls-webhook/internal/objects"
	"github.com/aigw-mtls/aigw-mtls-webhook/webhook"
)

// Every Pod and ConfigMap fixture of the mutations (patches/testdata) is admitted by the webhook's
// handler with the fixture's settings, and checked as check reads a cluster holding the object as
// admission leaves it (patched when allowed, as written when refused, which is what a write with
// the webhook down stores): both refuse or both pass, every error check reports is in admission's
// denial, and an object admission wires is reported wired (✓) by check.
func TestCheckAgreesWithAdmissionOnEveryPodAndConfigMapFixture(t *testing.T) {
	for dir, k := range map[string]*kinds.Kind{
		"../../patches/testdata/pod":       kinds.Pod,
		"../../patches/testdata/configmap": kinds.ConfigMap,
	} {
		inputs, _ := filepath.Glob(filepath.Join(dir, "*.yaml"))
		if len(inputs) == 0 {
			t.Fatalf("no fixtures in %s", dir)
		}
		for _, in := range inputs {
			if strings.HasSuffix(in, ".objects.yaml") {
				continue
			}
			name := strings.TrimSuffix(in, ".yaml")
			t.Run(k.Kind+"/"+filepath.Base(name), func(t *testing.T) {
				settings := agreementSettings(t, name+".settings.json")
				y, err := os.ReadFile(in)
				if err != nil {
					t.Fatal(err)
				}
				raw, err := yaml.YAMLToJSON(y)
				if err != nil {
					t.Fatal(err)
				}
				var u unstructured.Unstructured
				if err := json.Unmarshal(raw, &u.Object); err != nil {
					t.Fatal(err)
				}
				if u.GetNamespace() == "" {
					u.SetNamespace("ai-gateway")
				}
				if u.GetName() == "" {
					u.SetName("fixture")
				}
				raw, _ = u.MarshalJSON()

				handler := webhook.Handlers(webhook.Options{Settings: settings}, objects.NewObjectSet(u.GetNamespace()))[k.MutatePath()]
				resp := handler.Handle(context.Background(), admission.Request{AdmissionRequest: admissionv1.AdmissionRequest{
					UID: "agreement", Operation: admissionv1.Create, Namespace: u.GetNamespace(), Name: u.GetName(),
					Kind: metav1.GroupVersionKind{Version: k.Version, Kind: k.Kind}, Object: runtime.RawExtension{Raw: raw},
				}})
				stored := raw
				if resp.Allowed && len(resp.Patches) > 0 {
					ops, _ := json.Marshal(resp.Patches)
					p, err := jsonpatch.DecodePatch(ops)
					if err != nil {
						t.Fatal(err)
					}
					if stored, err = p.Apply(raw); err != nil {
						t.Fatal(err)
					}
				}
				inCluster := &unstructured.Unstructured{}
				if err := json.Unmarshal(stored, &inCluster.Object); err != nil {
					t.Fatal(err)
				}
				cl := fake.NewClientBuilder().WithScheme(coreScheme(t)).WithRESTMapper(restMapper()).WithObjects([]client.Object{inCluster}...).Build()
				r, err := Run(context.Background(), cl, Options{Settings: settings, Namespace: u.GetNamespace()})
				if err != nil {
					t.Fatal(err)
				}
				section := SectionPods
				if k == kinds.ConfigMap {
					section = SectionConfigMaps
				}
				obj := k.Kind + "/" + u.GetNamespace() + "/" + u.GetName()
				var errs []Check
				okay := false
				for _, ch := range r.Checks {
					if ch.Section != section || ch.Object != obj {
						continue
					}
					switch ch.Status {
					case StatusError:
						errs = append(errs, ch)
					case StatusOK:
						okay = true
					}
				}
				if resp.Allowed != (len(errs) == 0) {
					t.Fatalf("admission allowed=%v (%v); check reports %d error(s): %+v", resp.Allowed, resp.Result, len(errs), errs)
				}
				for _, ch := range errs {
					if !strings.Contains(resp.Result.Message, ch.Message) {
						t.Errorf("check reports %q, which admission's denial does not hold:\n%s", ch.Message, resp.Result.Message)
					}
				}
				if resp.Allowed && len(resp.Patches) > 0 && !okay {
					t.Errorf("admission wired it (%d operations), check does not report it wired: %+v", len(resp.Patches), r.Checks)
				}
			})
		}
	}
}

// agreementSettings are the fixture's settings (patches' <case>.settings.json), else the defaults.
func agreementSettings(t *testing.T, path string) aigw.Settings {
	t.Helper()
	s := aigw.DefaultSettings()
	b, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return s
	}
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return s
}
