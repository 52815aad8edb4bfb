package webhook

import (
	"context"
	"net/http"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
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
	return handleReview(ctx, v.Objects, v.Kind, "validate", req, v.handle)
}

func (v *Validator) handle(req admission.Request, objs objects.Objects) admission.Response {
	if resp, done := screen(v.Kind, "validates", v.Excluded, req); done {
		return resp
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
