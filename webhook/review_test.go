package webhook

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"
)

// Whatever the body, the envelope check answers with an AdmissionReview (a refusal naming what
// it expected, or the handler's answer for a v1 review with a uid) and never panics.
func FuzzReviewGuard(f *testing.F) {
	for _, seed := range []string{
		`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"1"}}`,
		`{"apiVersion":"admission.k8s.io/v1beta1","kind":"AdmissionReview","request":{"uid":"1"}}`,
		`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":""}}`,
		`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":null}`,
		`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":1}}`,
		`{"APIVERSION":"admission.k8s.io/v1"}`, `[]`, `null`, ``, `{`, "\xff",
	} {
		f.Add([]byte(seed))
	}
	reached := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_ = json.NewEncoder(w).Encode(admissionv1.AdmissionReview{Response: &admissionv1.AdmissionResponse{UID: "handler", Allowed: true}})
	})
	guard := reviewGuard(reached)
	f.Fuzz(func(t *testing.T, body []byte) {
		rec := httptest.NewRecorder()
		guard.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, PathMutatePod, strings.NewReader(string(body))))
		var r admissionv1.AdmissionReview
		if err := json.Unmarshal(rec.Body.Bytes(), &r); err != nil || r.Response == nil {
			t.Fatalf("answer is not an AdmissionReview: %v %q", err, rec.Body.String())
		}
		uid, msg := checkReview(body)
		switch {
		case msg == "" && (r.Response.UID != "handler" || rec.Code != http.StatusOK):
			t.Fatalf("a v1 review with uid %q did not reach the handler: %d %+v", uid, rec.Code, r.Response)
		case msg != "" && (r.Response.Allowed || rec.Code != http.StatusBadRequest || r.Response.Result == nil || r.Response.Result.Message != msg):
			t.Fatalf("refusal %q not answered as such: %d %+v", msg, rec.Code, r.Response)
		case len(msg) > 400:
			t.Fatalf("message of %d bytes", len(msg))
		}
	})
}
