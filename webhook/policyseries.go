package webhook

import (
	"context"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/aigw-mtls/aigw-mtls-webhook/internal/rules"
)

// policySeries keeps aigw_mtls_policy_problems to the problems that exist: the audit sets a series
// per Policy and rule it finds a problem of, and a series goes when the problem is gone, or its
// Policy deleted (or no longer listed). Rules are a fixed set (the catalogue), so a namespace has
// at most Policies × rules series.
type policySeries struct {
	mu   sync.Mutex
	seen map[string]map[string]map[rules.ID]bool // namespace → Policy → rules with a series
}

// set records the problems of the Policies of namespace, by rule, and drops the other series of
// the namespace.
func (p *policySeries) set(namespace string, problems map[string]map[rules.ID]int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.seen == nil {
		p.seen = map[string]map[string]map[rules.ID]bool{}
	}
	for name, ids := range p.seen[namespace] {
		for id := range ids {
			if problems[name][id] == 0 {
				policyProblems.DeleteLabelValues(namespace, name, string(id))
			}
		}
	}
	seen := map[string]map[rules.ID]bool{}
	for name, byRule := range problems {
		for id, n := range byRule {
			if n == 0 {
				continue
			}
			policyProblems.WithLabelValues(namespace, name, string(id)).Set(float64(n))
			if seen[name] == nil {
				seen[name] = map[rules.ID]bool{}
			}
			seen[name][id] = true
		}
	}
	p.seen[namespace] = seen
}

// deleted drops the series of a deleted Policy.
func (p *policySeries) deleted(namespace, name string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	policyProblems.DeletePartialMatch(prometheus.Labels{"namespace": namespace, "policy": name})
	delete(p.seen[namespace], name)
}

// watchDeletes drops a Policy's series as soon as the Policy informer sees it deleted, from when
// the informer starts: with the webhook, or when the Policy CRD appears (informers.run retries).
func (p *policySeries) watchDeletes(ctx context.Context, i *informers) error {
	return i.whenStarted(ctx, "Policy", func(ctx context.Context, inf cache.Informer) {
		_, err := inf.AddEventHandler(toolscache.ResourceEventHandlerFuncs{DeleteFunc: func(obj any) {
			if t, ok := obj.(toolscache.DeletedFinalStateUnknown); ok {
				obj = t.Obj
			}
			if o, ok := obj.(client.Object); ok {
				p.deleted(o.GetNamespace(), o.GetName())
			}
		}})
		if err != nil {
			log.FromContext(ctx).Error(err, "Policy informer: series of deleted Policies are dropped at the next audit instead")
		}
	})
}
