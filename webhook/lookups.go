package webhook

import (
	"context"
	"fmt"
	"net/http"

	admissionv1 "k8s.io/api/admission/v1"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/aigw-mtls/aigw-mtls-webhook/internal/objects"
)

// lookups is what a handler consults for req: the request's own view when objs gives one (the
// webhook's cache: reads outside req's namespace reviewed for req's user), else objs itself.
// failed reports the first lookup the cache could not answer; limited what the request's bounds
// left unchecked ("" if nothing).
func lookups(ctx context.Context, objs objects.Objects, req admission.Request) (_ objects.Objects, failed func() error, limited func() string) {
	if p, ok := objs.(perRequest); ok {
		v := p.ForRequest(ctx, req)
		return v, v.Failed, v.Limited
	}
	return objs, func() error { return nil }, func() string { return "" }
}

// afterLookups turns what the lookups of req met into resp: a cache failure replaces it (see
// cacheFailure); references left unchecked by the request's bounds come first among its warnings,
// where the API server keeps them when it truncates a long list of warnings.
func afterLookups(kind string, req admission.Request, resp admission.Response, failed func() error, limited func() string) admission.Response {
	if err := failed(); err != nil {
		return cacheFailure(kind, req, err)
	}
	if note := limited(); note != "" {
		resp.Warnings = append([]string{fmt.Sprintf("%s %s: %s", kind, requestObject(req), note)}, resp.Warnings...)
	}
	return resp
}

// requestObject is "namespace/name" of req's object, clipped.
func requestObject(req admission.Request) string {
	name := req.Name
	if name == "" { // a CREATE with generateName, or a review that names none
		var m struct {
			Metadata objects.Meta `json:"metadata"`
		}
		_ = objects.Decode(req.Object.Raw, &m)
		name = m.Metadata.Name
	}
	return clip(req.Namespace) + "/" + clip(name)
}

// cacheFailure answers a request whose verdict would rest on a lookup the cache could not answer:
// an error, so the API server applies the webhook's failurePolicy, never a verdict that treats
// the object as missing.
func cacheFailure(kind string, req admission.Request, err error) admission.Response {
	return admission.Errored(http.StatusInternalServerError, fmt.Errorf(
		"%s %s cannot be judged now: %v; expected the webhook's cache to answer, found it failing: retry shortly, and if it persists see the webhook's logs and readiness",
		kind, requestObject(req), err))
}

// handleReview runs handle for req with the objects it may consult, then accounts for the answer:
// what the lookups met (afterLookups), the admission metrics, and a log line when refused.
func handleReview(ctx context.Context, objs objects.Objects, kind, verb string, req admission.Request, handle func(admission.Request, objects.Objects) admission.Response) admission.Response {
	view, failed, limited := lookups(ctx, objs, req)
	resp := afterLookups(kind, req, handle(req, view), failed, limited)
	observe(kind, verb, resp)
	if !resp.Allowed {
		log.FromContext(ctx).Info("refused", "kind", kind, "webhook", verb, "namespace", clip(req.Namespace), "name", clip(req.Name), "reason", resp.Result.Message)
	}
	return resp
}

// screen answers what a handler of kind never judges: a request for another kind (the webhook
// configuration is wrong), an excluded namespace, an operation other than CREATE or UPDATE, or a
// request without its object. done is false when the handler must judge req.
func screen(kind, does string, excluded map[string]bool, req admission.Request) (resp admission.Response, done bool) {
	switch {
	case req.Kind.Kind != kind:
		return admission.Errored(http.StatusBadRequest, fmt.Errorf("this endpoint %s %s objects, the request holds a %q: check the webhook configuration's rules", does, kind, clip(req.Kind.Kind))), true
	case excluded[req.Namespace]:
		return admission.Allowed("namespace excluded"), true
	case req.Operation != admissionv1.Create && req.Operation != admissionv1.Update:
		return admission.Allowed(""), true
	case len(req.Object.Raw) == 0:
		return admission.Errored(http.StatusBadRequest, fmt.Errorf("%s %s: the admission request carries no object", kind, requestObject(req))), true
	}
	return admission.Response{}, false
}
