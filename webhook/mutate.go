// Package webhook serves the admission webhooks: thin handlers that decode a request, call the
// pure functions of package patches, and encode the answer.
package webhook

import (
	"context"
	"fmt"
	"net/http"

	admissionv1 "k8s.io/api/admission/v1"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/aigw-mtls/aigw-mtls-webhook/internal/aigw"
	"github.com/aigw-mtls/aigw-mtls-webhook/internal/objects"
	"github.com/aigw-mtls/aigw-mtls-webhook/internal/rules"
	"github.com/aigw-mtls/aigw-mtls-webhook/patches"
)

// PatchFunc is one of the mutations of package patches.
type PatchFunc = patches.Mutation

// Mutator is an admission.Handler for one kind of object.
type Mutator struct {
	Kind     string
	Patch    PatchFunc
	Settings aigw.Settings
	Objects  objects.Objects
	// CreateOnly objects (Pods) are never patched on UPDATE: their volumes cannot change after
	// creation, so a patch would make the API server refuse the update.
	CreateOnly bool
	Excluded   map[string]bool
}

var _ admission.Handler = (*Mutator)(nil)

func (m *Mutator) Handle(ctx context.Context, req admission.Request) admission.Response {
	return handleReview(ctx, m.Objects, m.Kind, "mutate", req, m.handle)
}

func (m *Mutator) handle(req admission.Request, objs objects.Objects) admission.Response {
	if resp, done := screen(m.Kind, "mutates", m.Excluded, req); done {
		return resp
	}
	res, err := m.Patch(req.Object.Raw, req.Namespace, m.Settings, objs)
	if err != nil {
		return admission.Errored(http.StatusBadRequest, err)
	}
	res.Findings = rules.Silence(req.Object.Raw, res.Findings)
	if m.CreateOnly && req.Operation == admissionv1.Update {
		resp := admission.Allowed("")
		if len(res.Wiring) > 0 {
			resp.Warnings = append(resp.Warnings, fmt.Sprintf(patches.UpdateWarning, m.Kind, requestObject(req), m.Settings.SelectorKey, m.Settings.SelectorValue))
		}
		return resp
	}
	countFindings(m.Kind, res.Findings)
	d := res.Decide(m.Settings.Mode)
	if !d.Allowed {
		resp := admission.Denied(d.Denial)
		resp.Warnings = d.Warnings
		return resp
	}
	resp := admission.Patched("", d.Patch...)
	resp.Warnings = d.Warnings
	return resp
}
