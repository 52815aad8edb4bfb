package webhook

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/aigw-mtls/aigw-mtls-webhook/internal/aigw"
	"github.com/aigw-mtls/aigw-mtls-webhook/internal/objects"
	"github.com/aigw-mtls/aigw-mtls-webhook/internal/rules"
	"github.com/aigw-mtls/aigw-mtls-webhook/internal/rules/fixtures"
)

func certificateRequest(op admissionv1.Operation, obj, old []byte) admission.Request {
	return admission.Request{AdmissionRequest: admissionv1.AdmissionRequest{
		UID: "1", Operation: op, Namespace: "ai-gateway", Name: "aigw-server",
		Kind:      metav1.GroupVersionKind{Group: "cert-manager.io", Version: "v1", Kind: "Certificate"},
		Object:    runtime.RawExtension{Raw: obj},
		OldObject: runtime.RawExtension{Raw: old},
	}}
}

// The validator hands the rule the old object on UPDATE, and none on CREATE.
func TestValidatorPassesTheOldObjectOnUpdate(t *testing.T) {
	var gotOld []byte
	called := 0
	v := &Validator{Kind: "Certificate", Settings: aigw.DefaultSettings(), Validate: func(raw, oldRaw []byte, _ string, _ aigw.Settings, _ objects.Objects, _ time.Time) (rules.Findings, error) {
		called++
		gotOld = oldRaw
		return nil, nil
	}}
	obj, old := []byte(`{"kind":"Certificate","metadata":{"name":"aigw-server"},"spec":{"dnsNames":["b"]}}`), []byte(`{"kind":"Certificate","metadata":{"name":"aigw-server"},"spec":{"dnsNames":["a"]}}`)
	v.Handle(context.Background(), certificateRequest(admissionv1.Update, obj, old))
	if called != 1 || !bytes.Equal(gotOld, old) {
		t.Errorf("UPDATE: rule called %d times with old object %q, want once with %q", called, gotOld, old)
	}
	v.Handle(context.Background(), certificateRequest(admissionv1.Create, obj, old))
	if called != 2 || gotOld != nil {
		t.Errorf("CREATE: rule called %d times with old object %q, want a second time with none", called, gotOld)
	}
}

// The served Certificate validator on the rule fixture drop-name: an UPDATE that drops a name a
// live Policy needs is refused; the same object created is only warned about.
func TestCertificateValidatorRefusesADroppedNameOnUpdateOnly(t *testing.T) {
	pki := fixtures.PKI(t)
	var c *fixtures.Case
	for _, fc := range fixtures.Cases(t, "../internal/rules/testdata/certificate", pki) {
		if fc.Name == "drop-name" {
			c = &fc
		}
	}
	if c == nil || c.Old == nil {
		t.Fatal("rule fixture certificate/drop-name (with drop-name.old.yaml) not found")
	}
	want, err := os.ReadFile("../internal/rules/testdata/certificate/drop-name.deny.txt")
	if err != nil {
		t.Fatal(err)
	}
	h := Handlers(Options{Settings: aigw.DefaultSettings()}, objects.NewObjectSet("ai-gateway", c.Objects...))[PathValidateCertificate]
	h.(*Validator).Now = func() time.Time { return fixtures.Now }

	resp := h.Handle(context.Background(), certificateRequest(admissionv1.Update, c.Object, c.Old))
	if resp.Allowed || !strings.Contains(resp.Result.Message, strings.TrimSpace(string(want))) {
		t.Errorf("UPDATE: want refused with\n%s\ngot allowed=%v %v", want, resp.Allowed, resp.Result)
	}
	resp = h.Handle(context.Background(), certificateRequest(admissionv1.Create, c.Object, nil))
	if !resp.Allowed || len(resp.Warnings) == 0 {
		t.Errorf("CREATE: want allowed with a warning, got allowed=%v warnings %q", resp.Allowed, resp.Warnings)
	}
}

// Admission counts its findings by kind, rule and severity: an UPDATE the rule refuses is one
// error finding, the CREATE it warns about one warning, each under its rule ID.
func TestAdmissionCountsFindingsByRule(t *testing.T) {
	v := &Validator{Kind: "Certificate", Settings: aigw.DefaultSettings(), Validate: func(raw, oldRaw []byte, _ string, _ aigw.Settings, _ objects.Objects, _ time.Time) (rules.Findings, error) {
		sev := rules.Warning
		if oldRaw != nil {
			sev = rules.Error
		}
		return rules.Findings{{Object: "Certificate/ai-gateway/aigw-server", Field: "spec.dnsNames", Severity: sev, Rule: "TEST_RULE", Found: "x"}}, nil
	}}
	errors := func() float64 {
		return testutil.ToFloat64(admissionFindings.WithLabelValues("Certificate", "TEST_RULE", string(rules.Error)))
	}
	warnings := func() float64 {
		return testutil.ToFloat64(admissionFindings.WithLabelValues("Certificate", "TEST_RULE", string(rules.Warning)))
	}
	e0, w0 := errors(), warnings()
	obj := []byte(`{"kind":"Certificate","metadata":{"name":"aigw-server"}}`)
	v.Handle(context.Background(), certificateRequest(admissionv1.Update, obj, obj))
	v.Handle(context.Background(), certificateRequest(admissionv1.Create, obj, nil))
	if e, w := errors()-e0, warnings()-w0; e != 1 || w != 1 {
		t.Errorf("aigw_mtls_admission_findings_total grew by %v errors and %v warnings of TEST_RULE, want 1 and 1", e, w)
	}
}
