package webhook

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/aigw-mtls/aigw-mtls-webhook/internal/aigw"
	"github.com/aigw-mtls/aigw-mtls-webhook/internal/objects"
)

func bigCM(v int) []byte {
	var b strings.Builder
	line := `# "padding" "padding" "padding" "padding" "padding" "padding" "padding"` + "\n"
	for b.Len()+len(line) < 1_040_000 {
		b.WriteString(line)
	}
	cm := map[string]any{"apiVersion": "v1", "kind": "ConfigMap", "metadata": map[string]any{"name": "c", "namespace": "ns", "labels": map[string]any{"aigw": "mtls"}},
		"data": map[string]any{"aigw.yaml": fmt.Sprintf("# %d\nversion: 1\nserver:\n  address: :4141\n", v), "padding": b.String()}}
	raw, _ := json.Marshal(cm)
	return raw
}

func BenchmarkTmpCM(b *testing.B) {
	h := Handlers(Options{Settings: aigw.DefaultSettings()}, objects.NewObjectSet("ns"))[PathMutateConfigMap]
	req := admissionv1.AdmissionRequest{UID: "1", Operation: admissionv1.Update, Namespace: "ns", Name: "c",
		Kind: metav1.GroupVersionKind{Version: "v1", Kind: "ConfigMap"}, Object: runtime.RawExtension{Raw: bigCM(1)}, OldObject: runtime.RawExtension{Raw: bigCM(0)}}
	review, _ := json.Marshal(admissionv1.AdmissionReview{TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"}, Request: &req})
	for _, name := range []string{"ours", "nothing"} {
		var wh http.Handler = (&admission.Webhook{Handler: h}).WithRecoverPanic(true)
		if name == "nothing" {
			wh = (&admission.Webhook{Handler: allowAll{}}).WithRecoverPanic(true)
		}
		wh = reviewGuard(wh)
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				r := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(review))
				r.Header.Set("Content-Type", "application/json")
				w := httptest.NewRecorder()
				wh.ServeHTTP(w, r)
				if w.Code != 200 {
					b.Fatal(w.Code)
				}
			}
		})
	}
}
