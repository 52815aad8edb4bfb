package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/aigw-mtls/aigw-mtls-webhook/internal/aigw"
	"github.com/aigw-mtls/aigw-mtls-webhook/internal/kinds"
	"github.com/aigw-mtls/aigw-mtls-webhook/internal/objects"
	"github.com/aigw-mtls/aigw-mtls-webhook/internal/rules/fixtures"
	"github.com/aigw-mtls/aigw-mtls-webhook/webhook"
)

// `validate -f` gives the verdict and the refusals admission gives, on every Policy fixture: the
// fixture's Policy and objects in one manifest file, against the Policy validation handler with
// its lookups served from the same objects. (Policies are not mutated, so both judge the same
// object.)
func TestValidateAgreesWithAdmissionOnEveryPolicyFixture(t *testing.T) {
	agreement(t, "policy", metav1.GroupVersionKind{Group: "k8s.nginx.org", Version: "v1", Kind: "Policy"}, "", webhook.PathValidatePolicy)
}

// The same on every Ingress fixture, where admission is the mutating handler followed by the
// validating one on the patched object, as the API server chains them, and `validate -f` mutates
// before it validates.
func TestValidateAgreesWithAdmissionOnEveryIngressFixture(t *testing.T) {
	agreement(t, "policy-via-ingress", metav1.GroupVersionKind{Group: "networking.k8s.io", Version: "v1", Kind: "Ingress"},
		webhook.PathMutateIngress, webhook.PathValidateIngress)
}

func agreement(t *testing.T, fixtureDir string, gvk metav1.GroupVersionKind, mutatePath, validatePath string) {
	pki := fixtures.PKI(t)
	dir := t.TempDir()
	for _, c := range fixtures.Cases(t, filepath.Join("..", "..", "internal", "rules", "testdata", fixtureDir), pki) {
		t.Run(c.Name, func(t *testing.T) {
			var meta struct {
				Metadata objects.Meta `json:"metadata"`
			}
			if err := json.Unmarshal(c.Object, &meta); err != nil {
				t.Fatal(err)
			}
			handlers := webhook.Handlers(webhook.Options{Settings: aigw.DefaultSettings()}, objects.NewObjectSet("ai-gateway", c.Objects...))
			request := func(obj []byte) admission.Request {
				return admission.Request{AdmissionRequest: admissionv1.AdmissionRequest{
					UID: "agreement", Operation: admissionv1.Create, Namespace: "ai-gateway", Name: meta.Metadata.Name,
					Kind: gvk, Object: runtime.RawExtension{Raw: obj},
				}}
			}
			admitted := c.Object
			var resp admission.Response
			if mutatePath != "" {
				resp = handlers[mutatePath].Handle(context.Background(), request(c.Object))
				if resp.Allowed && len(resp.Patches) > 0 {
					var err error
					if admitted, err = applyPatch(c.Object, resp.Patches); err != nil {
						t.Fatal(err)
					}
				}
			}
			if mutatePath == "" || resp.Allowed {
				resp = handlers[validatePath].Handle(context.Background(), request(admitted))
			}

			docs := append([][]byte{c.Object}, c.Objects...)
			var manifest []string
			for _, d := range docs {
				manifest = append(manifest, string(d))
			}
			file := filepath.Join(dir, c.Name+".yaml")
			if err := os.WriteFile(file, []byte(strings.Join(manifest, "\n---\n")), 0o600); err != nil {
				t.Fatal(err)
			}
			code, out, errOut := runCLI(t, "", "validate", "-f", file)
			var refusals []string
			for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
				if strings.HasPrefix(line, gvk.Kind+"/") && !strings.Contains(line, ": warning: ") {
					refusals = append(refusals, line)
				}
			}
			switch {
			case code == 2:
				t.Fatalf("validate failed: %s", errOut)
			case resp.Allowed != (code == 0):
				t.Fatalf("admission allowed=%v (%s); validate exit %d:\n%s", resp.Allowed, resp.Result.Message, code, out)
			case !resp.Allowed && strings.Join(refusals, "; ") != resp.Result.Message:
				t.Errorf("refusals differ:\nadmission: %s\nvalidate:  %s", resp.Result.Message, strings.Join(refusals, "; "))
			}
		})
	}
}

// The same on every VirtualServer, VirtualServerRoute, BackendTLSPolicy and Gateway fixture: the
// kind's mutation (if any) and rule from internal/kinds, through admission and through
// `validate -f`.
func TestValidateAgreesWithAdmissionOnEveryFixtureOfTheOtherKinds(t *testing.T) {
	for dir, k := range map[string]*kinds.Kind{
		"policy-via-virtualserver": kinds.VirtualServer, "policy-via-virtualserverroute": kinds.VirtualServerRoute,
		"backendtlspolicy": kinds.BackendTLSPolicy, "gateway": kinds.Gateway,
	} {
		t.Run(dir, func(t *testing.T) {
			agreement(t, dir, metav1.GroupVersionKind{Group: k.Group, Version: k.Version, Kind: k.Kind}, k.MutatePath(), k.ValidatePath())
		})
	}
}
