package webhook

import (
	"context"
	"sync"

	"k8s.io/apimachinery/pkg/api/meta"
	toolscache "k8s.io/client-go/tools/cache"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/manager"
)

// policySeries keeps aigw_mtls_policy_problems to the Policies that exist: the audit sets a series
// per Policy it checks, and a series goes when its Policy is deleted (or is no longer listed).
type policySeries struct {
	mu   sync.Mutex
	seen map[string]map[string]bool // namespace → Policy names with a series
}

// set records the problems of the Policies of namespace and drops the series of those not in it.
func (p *policySeries) set(namespace string, problems map[string]int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.seen == nil {
		p.seen = map[string]map[string]bool{}
	}
	for name := range p.seen[namespace] {
		if _, ok := problems[name]; !ok {
			policyProblems.DeleteLabelValues(namespace, name)
		}
	}
	names := map[string]bool{}
	for name, n := range problems {
		policyProblems.WithLabelValues(namespace, name).Set(float64(n))
		names[name] = true
	}
	p.seen[namespace] = names
}

// deleted drops the series of a deleted Policy.
func (p *policySeries) deleted(namespace, name string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	policyProblems.DeleteLabelValues(namespace, name)
	delete(p.seen[namespace], name)
}

// watchDeletes drops a Policy's series as soon as the Policy informer sees it deleted. Without the
// Policy CRD there are no Policies and no series.
func (p *policySeries) watchDeletes(mgr ctrl.Manager) error {
	return mgr.Add(manager.RunnableFunc(func(ctx context.Context) error {
		inf, err := mgr.GetCache().GetInformer(ctx, newCachedObject("Policy"))
		if err != nil {
			if meta.IsNoMatchError(err) {
				return nil
			}
			log.FromContext(ctx).Error(err, "Policy informer: series of deleted Policies are dropped at the next audit instead")
			return nil
		}
		_, err = inf.AddEventHandler(toolscache.ResourceEventHandlerFuncs{DeleteFunc: func(obj any) {
			if t, ok := obj.(toolscache.DeletedFinalStateUnknown); ok {
				obj = t.Obj
			}
			if o, ok := obj.(client.Object); ok {
				p.deleted(o.GetNamespace(), o.GetName())
			}
		}})
		if err != nil {
			return err
		}
		<-ctx.Done()
		return nil
	}))
}
