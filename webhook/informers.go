package webhook

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/aigw-mtls/aigw-mtls-webhook/internal/kinds"
	"github.com/aigw-mtls/aigw-mtls-webhook/internal/rules"
)

// informers starts the informers of the cached kinds. A kind whose CRD is not installed yet (NIC
// or cert-manager installed after the webhook) is started as soon as its CRD appears: a background
// retry every RetryEvery, and at once when a lookup needs it. Until then lookups of it are
// answered with "cannot be checked", never with "not found".
type informers struct {
	cache      cache.Cache
	kinds      []string
	RetryEvery time.Duration

	mu      sync.Mutex
	started map[string]bool
	missing map[string]error                                   // kind → why its informer is not running
	tried   map[string]time.Time                               // kind → when a missing kind was last looked for
	hooks   map[string][]func(context.Context, cache.Informer) // kind → called once its informer starts (whenStarted)

	indexMu sync.Mutex
	indexed map[string]bool // kinds whose informer has its index (routeServiceIndex)
}

// retryMissingAfter spaces the lookups a request triggers for a kind that is not served: each is a
// discovery call to the API server.
const retryMissingAfter = time.Second

// newInformers starts the informers of kinds.
func newInformers(c cache.Cache, kinds ...string) *informers {
	return &informers{cache: c, kinds: kinds, RetryEvery: 5 * time.Second, started: map[string]bool{}, missing: map[string]error{}, tried: map[string]time.Time{},
		hooks: map[string][]func(context.Context, cache.Informer){}}
}

// errNotCached is wrapped when the webhook does not cache a kind with its options.
var errNotCached = errors.New("not cached by the webhook")

// errNotServed is wrapped when the API server does not serve a kind (its CRD is missing).
var errNotServed = errors.New("not served by the API server")

// ensure starts kind's informer if it is not running and waits until it has synced (bounded by
// ctx). It returns an error wrapping errNotServed when the kind's CRD is not installed.
func (i *informers) ensure(ctx context.Context, kind string) error {
	if !slices.Contains(i.kinds, kind) {
		// Never an informer the cache options do not restrict (all ConfigMaps of the cluster).
		if k := kinds.Named(kind); k != nil && k.Cache != nil && k.Cache.GatewayAPI {
			return fmt.Errorf("%s: %w (only with Gateway API on: chart value gatewayAPI.enabled, flag --gateway-api)", kind, errNotCached)
		}
		return fmt.Errorf("%s: %w", kind, errNotCached)
	}
	i.mu.Lock()
	if i.started[kind] {
		i.mu.Unlock()
		return nil
	}
	if missing := i.missing[kind]; missing != nil && time.Since(i.tried[kind]) < retryMissingAfter {
		i.mu.Unlock()
		return missing
	}
	i.tried[kind] = time.Now()
	i.mu.Unlock()
	obj := newCachedObject(kind)
	if obj == nil {
		return fmt.Errorf("%s: not a cached kind", kind)
	}
	inf, err := i.cache.GetInformer(ctx, obj)
	if err == nil {
		err = i.index(ctx, kind, obj)
	}
	var hooks []func(context.Context, cache.Informer)
	defer func() {
		for _, f := range hooks {
			f(ctx, inf)
		}
	}()
	i.mu.Lock()
	defer i.mu.Unlock()
	switch {
	case err == nil:
		if !i.started[kind] && i.missing[kind] != nil {
			log.FromContext(ctx).Info("kind now served by the API server; its informer started", "kind", kind)
		}
		if !i.started[kind] {
			hooks = i.hooks[kind] // called once the lock is released
			delete(i.hooks, kind)
		}
		i.started[kind] = true
		delete(i.missing, kind)
		return nil
	case meta.IsNoMatchError(err):
		err = fmt.Errorf("%s %w (CRD not installed)", kinds.Named(kind).GroupVersionKind(), errNotServed)
		if i.missing[kind] == nil {
			log.FromContext(ctx).Info("kind not served by the API server; its informer starts when its CRD appears", "kind", kind)
		}
		i.missing[kind] = err
		return err
	default:
		return fmt.Errorf("starting the %s informer: %w", kind, err)
	}
}

// whenStarted calls f with kind's informer once it runs: at once when it does, else when ensure
// starts it (its CRD installed after the webhook), with ensure's ctx.
func (i *informers) whenStarted(ctx context.Context, kind string, f func(context.Context, cache.Informer)) error {
	i.mu.Lock()
	if !i.started[kind] {
		i.hooks[kind] = append(i.hooks[kind], f)
		i.mu.Unlock()
		return nil
	}
	i.mu.Unlock()
	inf, err := i.cache.GetInformer(ctx, newCachedObject(kind))
	if err != nil {
		return err
	}
	f(ctx, inf)
	return nil
}

// run starts every cached kind it can, marks the cache synced, then retries the missing kinds
// until ctx ends.
func (i *informers) run(ctx context.Context, synced *atomic.Bool) error {
	for _, kind := range i.kinds {
		if err := i.ensure(ctx, kind); err != nil && !errors.Is(err, errNotServed) {
			return err
		}
	}
	if !i.cache.WaitForCacheSync(ctx) {
		return errors.New("informer cache did not sync")
	}
	synced.Store(true)
	log.FromContext(ctx).Info("informer cache synced")
	t := time.NewTicker(i.RetryEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		for _, kind := range i.missingKinds() {
			if err := i.ensure(ctx, kind); err != nil && !errors.Is(err, errNotServed) {
				log.FromContext(ctx).Error(err, "starting an informer", "kind", kind)
			}
		}
	}
}

func (i *informers) missingKinds() []string {
	i.mu.Lock()
	defer i.mu.Unlock()
	var out []string
	for _, k := range i.kinds {
		if !i.started[k] {
			out = append(out, k)
		}
	}
	return out
}

// routeServiceIndex indexes the cached HTTPRoutes and GRPCRoutes by the Services their
// backendRefs name ("namespace/name", rules.RouteServices): a BackendTLSPolicy's admission then
// reads only the routes to the Services it targets (cacheObjects.routesTo).
const routeServiceIndex = "aigw.routeService"

// index adds routeServiceIndex to the informer of a route kind, once, before any lookup reads it.
func (i *informers) index(ctx context.Context, kind string, obj client.Object) error {
	if !slices.Contains(rules.RouteKinds(), kind) {
		return nil
	}
	i.indexMu.Lock()
	defer i.indexMu.Unlock()
	if i.indexed[kind] {
		return nil
	}
	if err := i.cache.IndexField(ctx, obj, routeServiceIndex, routeServices); err != nil {
		return fmt.Errorf("indexing the %ss by Service: %w", kind, err)
	}
	if i.indexed == nil {
		i.indexed = map[string]bool{}
	}
	i.indexed[kind] = true
	return nil
}

// routeServices are the "namespace/name" of the Services a cached route sends to.
func routeServices(obj client.Object) []string {
	u, ok := obj.(*unstructured.Unstructured)
	if !ok {
		return nil
	}
	raw, err := u.MarshalJSON()
	if err != nil {
		return nil
	}
	return rules.RouteServices(raw, u.GetNamespace())
}
