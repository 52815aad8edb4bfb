package webhook

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"gomodules.xyz/jsonpatch/v2"
	admissionv1 "k8s.io/api/admission/v1"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"
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
		_, uid, msg := decodeReview(body)
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

// A v1 review reaching an admission.Webhook is decoded once by the guard and answered as
// controller-runtime answers it: the request's uid, the handler's verdict and its patch as a
// JSONPatch; a body that is not application/json is still refused by controller-runtime.
func TestReviewGuardAnswersAsControllerRuntime(t *testing.T) {
	var seen admission.Request
	wh := &admission.Webhook{Handler: admission.HandlerFunc(func(_ context.Context, req admission.Request) admission.Response {
		seen = req
		return admission.Patched("wired", jsonpatch.JsonPatchOperation{Operation: "add", Path: "/metadata/labels", Value: map[string]any{"a": "b"}})
	})}
	guard := reviewGuard(wh)
	body := `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u-7","kind":{"group":"","version":"v1","kind":"ConfigMap"},` +
		`"operation":"CREATE","namespace":"ns","object":{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c"}}}}`
	post := func(contentType string) (*httptest.ResponseRecorder, admissionv1.AdmissionReview) {
		req := httptest.NewRequest(http.MethodPost, PathMutateConfigMap, strings.NewReader(body))
		req.Header.Set("Content-Type", contentType)
		rec := httptest.NewRecorder()
		guard.ServeHTTP(rec, req)
		var r admissionv1.AdmissionReview
		if err := json.Unmarshal(rec.Body.Bytes(), &r); err != nil || r.Response == nil {
			t.Fatalf("answer is not an AdmissionReview: %v %q", err, rec.Body.String())
		}
		return rec, r
	}
	rec, r := post("application/json")
	if rec.Code != http.StatusOK || r.APIVersion != "admission.k8s.io/v1" || r.Kind != "AdmissionReview" || r.Response.UID != "u-7" || !r.Response.Allowed ||
		r.Response.PatchType == nil || *r.Response.PatchType != admissionv1.PatchTypeJSONPatch || string(r.Response.Patch) != `[{"op":"add","path":"/metadata/labels","value":{"a":"b"}}]` {
		t.Errorf("want the handler's patch for uid u-7 in a v1 AdmissionReview, got %d %s", rec.Code, rec.Body)
	}
	if seen.Namespace != "ns" || seen.Operation != admissionv1.Create || !strings.Contains(string(seen.Object.Raw), `"name":"c"`) {
		t.Errorf("the handler saw %+v", seen.AdmissionRequest)
	}
	if _, r := post("text/plain"); r.Response.Allowed || r.Response.Result == nil || r.Response.Result.Code != http.StatusBadRequest {
		t.Errorf("text/plain: want controller-runtime's 400 refusal, got %+v", r.Response)
	}
}
