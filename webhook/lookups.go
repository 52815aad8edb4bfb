package webhook

import (
	"context"
	"fmt"
	"net/http"

	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/aigw-mtls/aigw-mtls-webhook/internal/objects"
)

// lookups is what a handler consults for req: the request's own view when objs gives one (the
// webhook's cache: reads outside req's namespace reviewed for req's user), else objs itself.
// failed reports the first lookup the cache could not answer.
func lookups(ctx context.Context, objs objects.Objects, req admission.Request) (objects.Objects, func() error) {
	if p, ok := objs.(perRequest); ok {
		v := p.ForRequest(ctx, req)
		return v, v.Failed
	}
	return objs, func() error { return nil }
}

// cacheFailure answers a request whose verdict would rest on a lookup the cache could not answer:
// an error, so the API server applies the webhook's failurePolicy, never a verdict that treats
// the object as missing.
func cacheFailure(kind string, req admission.Request, err error) admission.Response {
	name := req.Name
	if name == "" { // a CREATE with generateName, or a review that names none
		var m struct {
			Metadata objects.Meta `json:"metadata"`
		}
		_ = objects.Decode(req.Object.Raw, &m)
		name = m.Metadata.Name
	}
	return admission.Errored(http.StatusInternalServerError, fmt.Errorf(
		"%s %s/%s cannot be judged now: %v; expected the webhook's cache to answer, found it failing: retry shortly, and if it persists see the webhook's logs and readiness",
		kind, req.Namespace, name, err))
}
