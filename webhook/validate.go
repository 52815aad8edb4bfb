package webhook

import (
	"context"
	"fmt"
	"net/http"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/aigw-mtls/aigw-mtls-webhook/internal/aigw"
	"github.com/aigw-mtls/aigw-mtls-webhook/internal/objects"
	"github.com/aigw-mtls/aigw-mtls-webhook/internal/rules"
)

// Validator is an admission.Handler that refuses (enforce) or warns about (warn) configurations
// that would fail at run time.
type Validator struct {
	Kind     string
	Validate rules.Rule
	Settings aigw.Settings
	Objects  objects.Objects
	Excluded map[string]bool
	Now      func() time.Time
}

var _ admission.Handler = (*Validator)(nil)

func (v *Validator) Handle(ctx context.Context, req admission.Request) admission.Response {
	objs, failed, limited := lookups(ctx, v.Objects, req)
	resp := afterLookups(v.Kind, req, v.handle(req, objs), failed, limited)
	observe(v.Kind, "validate", resp)
	if !resp.Allowed {
		log.FromContext(ctx).Info("refused", "kind", v.Kind, "namespace", clip(req.Namespace), "name", clip(req.Name), "reason", resp.Result.Message)
	}
	return resp
}

func (v *Validator) handle(req admission.Request, objs objects.Objects) admission.Response {
	if req.Kind.Kind != v.Kind {
		return admission.Errored(http.StatusBadRequest, fmt.Errorf("this endpoint validates %s objects, the request holds a %q: check the webhook configuration's rules", v.Kind, clip(req.Kind.Kind)))
	}
	if v.Excluded[req.Namespace] || (req.Operation != admissionv1.Create && req.Operation != admissionv1.Update) {
		return admission.Allowed("")
	}
	if len(req.Object.Raw) == 0 {
		return admission.Errored(http.StatusBadRequest, fmt.Errorf("%s %s: the admission request carries no object", v.Kind, requestObject(req)))
	}
	var old []byte
	if req.Operation == admissionv1.Update {
		old = req.OldObject.Raw
	}
	now := time.Now
	if v.Now != nil {
		now = v.Now
	}
	fs, err := v.Validate(req.Object.Raw, old, req.Namespace, v.Settings, objs, now())
	if err != nil {
		return admission.Errored(http.StatusBadRequest, err)
	}
	fs = rules.Silence(req.Object.Raw, fs)
	countFindings(v.Kind, fs)
	d := fs.Decide(v.Settings.Mode)
	if !d.Allowed {
		resp := admission.Denied(d.Denial)
		resp.Warnings = d.Warnings
		return resp
	}
	resp := admission.Allowed("")
	resp.Warnings = d.Warnings
	return resp
}
