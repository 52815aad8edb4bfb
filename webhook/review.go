package webhook

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/go-logr/logr"
	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"
	sigsjson "sigs.k8s.io/json"
)

// MaxReviewBytes is controller-runtime's own limit on an AdmissionReview body (two objects of at
// most 3 MiB each, plus the request).
const MaxReviewBytes = 7 << 20

// reviewGuard refuses what the API server never sends before the handler sees it: a review that
// is not an admission.k8s.io/v1 AdmissionReview (the webhook configurations accept v1 only, and
// controller-runtime would otherwise decode a v1beta1 review as v1), or one without a request uid.
func reviewGuard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			refuseReview(w, http.StatusMethodNotAllowed, "", fmt.Sprintf("HTTP method: expected POST (an AdmissionReview from the API server), found %s", clip(r.Method)))
			return
		}
		if r.Body == nil {
			next.ServeHTTP(w, r)
			return
		}
		body, err := io.ReadAll(io.LimitReader(r.Body, MaxReviewBytes+1))
		if over := (*overBudget)(nil); errors.As(err, &over) {
			overloaded(w, over.why)
			return
		}
		if err != nil {
			refuseReview(w, http.StatusBadRequest, "", fmt.Sprintf("request body: expected an AdmissionReview, reading it failed: %v (the body must arrive within the read timeout)", err))
			return
		}
		if len(body) > MaxReviewBytes {
			refuseReview(w, http.StatusRequestEntityTooLarge, "", fmt.Sprintf("request body: expected at most %d bytes, found more", MaxReviewBytes))
			return
		}
		review, uid, msg := decodeReview(body)
		if msg != "" {
			refuseReview(w, http.StatusBadRequest, uid, msg)
			return
		}
		if wh, ok := next.(*admission.Webhook); ok && r.Header.Get("Content-Type") == "application/json" {
			// The review is decoded once, here, instead of again by controller-runtime (which
			// reads it twice more: once to find its kind, once to decode it): on a ~1 MiB object
			// that is most of the review's cost.
			req := admission.Request{AdmissionRequest: *review.Request}
			reviewLogger(wh, &req).V(5).Info("received request")
			answerReview(w, wh.Handle(r.Context(), req))
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		r.ContentLength = int64(len(body))
		next.ServeHTTP(w, r)
	})
}

// reviewLogger is the logger controller-runtime's admission.Webhook logs a request with.
func reviewLogger(wh *admission.Webhook, req *admission.Request) logr.Logger {
	construct := wh.LogConstructor
	if construct == nil {
		construct = admission.DefaultLogConstructor
	}
	return construct(logf.Log.WithName("admission"), req)
}

// answerReview writes the handler's answer as an admission.k8s.io/v1 AdmissionReview, as
// controller-runtime's admission.Webhook does.
func answerReview(w http.ResponseWriter, resp admission.Response) {
	review := admissionv1.AdmissionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: admissionv1.SchemeGroupVersion.String(), Kind: "AdmissionReview"},
		Response: &resp.AdmissionResponse,
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(review)
}

// decodeReview decodes body as an admission.k8s.io/v1 AdmissionReview; it returns why it is not
// one with a request uid ("" when it is), and the uid when there is one.
func decodeReview(body []byte) (*admissionv1.AdmissionReview, types.UID, string) {
	var env admissionv1.AdmissionReview
	// Case-sensitive, as the API server's decoder.
	if err := sigsjson.UnmarshalCaseSensitivePreserveInts(body, &env); err != nil {
		return nil, "", fmt.Sprintf("AdmissionReview: expected a JSON admission.k8s.io/v1 AdmissionReview, found a body that does not decode (%s); the API server sends one, other callers are refused", clip(err.Error()))
	}
	want := admissionv1.SchemeGroupVersion.String()
	var uid types.UID
	if env.Request != nil {
		uid = types.UID(clip(string(env.Request.UID)))
	}
	switch {
	case env.APIVersion != want:
		return nil, uid, fmt.Sprintf("AdmissionReview apiVersion: expected %q, found %q; the webhook configurations must list admissionReviewVersions: [v1] (the chart's do)", want, clip(env.APIVersion))
	case env.Kind != "AdmissionReview":
		return nil, uid, fmt.Sprintf("AdmissionReview kind: expected \"AdmissionReview\", found %q", clip(env.Kind))
	case env.Request == nil:
		return nil, "", "AdmissionReview request: expected the admission request, found none"
	case uid == "":
		return nil, "", "AdmissionReview request.uid: expected the API server's request uid, found an empty one; the API server always sets it, so this review did not come from it"
	}
	return &env, uid, ""
}

// refuseReview answers with an AdmissionReview v1 whose response refuses the request.
func refuseReview(w http.ResponseWriter, code int, uid types.UID, msg string) {
	rejected.WithLabelValues("malformed").Inc()
	review := admissionv1.AdmissionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: admissionv1.SchemeGroupVersion.String(), Kind: "AdmissionReview"},
		Response: &admissionv1.AdmissionResponse{
			UID:     uid,
			Allowed: false,
			Result:  &metav1.Status{Status: metav1.StatusFailure, Code: int32(code), Message: msg},
		},
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(review)
}

// clip bounds what a caller's input contributes to a message.
func clip(s string) string {
	const max = 64
	if len(s) > max {
		return s[:max] + "…"
	}
	return s
}
