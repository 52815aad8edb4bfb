package webhook

import (
	"context"
	"encoding/json"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/recorder"

	"github.com/aigw-mtls/aigw-mtls-webhook/internal/aigw"
	"github.com/aigw-mtls/aigw-mtls-webhook/internal/objects"
	"github.com/aigw-mtls/aigw-mtls-webhook/internal/rules"
)

// PolicyAudit re-validates the egressMTLS Policies of a namespace whenever a labelled Secret there
// changes. Secret writes (cert-manager renewals) are never blocked by admission; a renewal that
// breaks a live Policy is reported here instead: a log line, a Warning Event on the Policy and the
// aigw_mtls_policy_problems gauge.
type PolicyAudit struct {
	Objects  objects.Objects
	Settings aigw.Settings
	Events   recorder.EventRecorder
	Now      func() time.Time
	series   policySeries
	// informers starts the Policy informer whose deletes drop series (the webhook's own, from
	// NewManager; else one of the audit's).
	informers *informers
}

func (a *PolicyAudit) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	now := time.Now
	if a.Now != nil {
		now = a.Now
	}
	s := a.Settings
	s.Mode = aigw.ModeEnforce
	problems := map[string]map[rules.ID]int{}
	defer func() { a.series.set(req.Namespace, problems) }()
	for _, raw := range a.Objects.List("Policy", req.Namespace) {
		var p unstructured.Unstructured
		if err := json.Unmarshal(raw, &p.Object); err != nil {
			continue
		}
		fs, err := rules.Policy(raw, req.Namespace, s, a.Objects, now())
		if err != nil {
			continue
		}
		byRule := map[rules.ID]int{}
		for _, f := range fs {
			if f.Severity != rules.Error {
				continue
			}
			byRule[f.Rule]++
			log.FromContext(ctx).Info("live Policy would fail at run time", "policy", p.GetName(), "rule", f.Rule, "problem", f.String())
			a.Events.Eventf(&p, nil, corev1.EventTypeWarning, "EgressMTLSBroken", "Audit", "%s", f.String())
		}
		problems[p.GetName()] = byRule
	}
	return reconcile.Result{}, nil
}

// SetupWithManager reconciles a namespace on every change of a labelled Secret in it.
func (a *PolicyAudit) SetupWithManager(mgr ctrl.Manager) error {
	toNamespace := handler.EnqueueRequestsFromMapFunc(func(_ context.Context, obj client.Object) []reconcile.Request {
		return []reconcile.Request{{NamespacedName: types.NamespacedName{Namespace: obj.GetNamespace(), Name: "policies"}}}
	})
	if a.informers == nil {
		a.informers = newInformers(mgr.GetCache(), "Policy")
		run := a.informers
		if err := mgr.Add(manager.RunnableFunc(func(ctx context.Context) error { return run.run(ctx, &atomic.Bool{}) })); err != nil {
			return err
		}
	}
	if err := a.series.watchDeletes(context.Background(), a.informers); err != nil {
		return err
	}
	return ctrl.NewControllerManagedBy(mgr).Named("policy-audit").Watches(&corev1.Secret{}, toNamespace).Complete(a)
}
