package webhook

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	apimeta "k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/aigw-mtls/aigw-mtls-webhook/internal/objects"
)

// lookupTimeout bounds one cache lookup, including starting a late informer.
const lookupTimeout = 3 * time.Second

// DefaultNamespacesPerRequest is how many namespaces other than its own one admission request may
// have reviewed (a SubjectAccessReview for each kind read there). A VirtualServer references
// Policies in a handful of namespaces (usually its own and the gateway's), and each review is a
// call to the API server in the webhook's own priority-and-fairness flow, within the chart's 5 s
// timeoutSeconds: 16 leaves room for every realistic object, while one object naming thousands of
// namespaces costs 16 reviews, not thousands. References past it are reported as not checked.
const DefaultNamespacesPerRequest = 16

// DefaultLookupsPerRequest bounds the cache lookups (Get and List) of one admission request, whose
// references are otherwise bounded only by the object's size: a 3 MiB VirtualServer can name
// about 100000 distinct Policies, and every egressMTLS Policy found leads to its Secrets and
// certificate chain being checked. A request that spends all 1024 takes about 0.3 s and allocates
// 16 MB (BenchmarkRequestAtLookupBound), far within the chart's 5 s timeoutSeconds and 256 Mi,
// and 1024 covers a VirtualServer with hundreds of routes and distinct Policies. Lookups past it
// are reported as not checked.
const DefaultLookupsPerRequest = 1024

// DefaultRoutesPerRequest bounds the routes one admission request reads from the cache: a
// BackendTLSPolicy's ports are judged from the HTTPRoutes and GRPCRoutes sending to the Services it
// targets (read through the cache's index, routeServiceIndex), and each route read is copied and
// encoded. 256 trimmed routes are about 1.2 MB copied per request (BENCHMARKS.md "Cost of the
// Gateway API port-rule cache"), small beside the chart's 256 Mi; past it the ports of the Service
// are not judged and the request is warned (BTP_CONFLICT_UNJUDGED naming the bound).
const DefaultRoutesPerRequest = 256

// cacheObjects serves lookups from the informer cache; it never calls the API server. A cache
// error is an error, never "not found".
type cacheObjects struct {
	reader    cache.Cache
	informers *informers
	// secretNamespaces are the namespaces whose Secrets are cached (empty: every namespace).
	secretNamespaces map[string]bool
	// access reviews reads outside an admission request's namespace (nil: not reviewed).
	access *Access
	// maxNamespaces is how many other namespaces one admission request may have reviewed.
	maxNamespaces int
	// maxLookups bounds the Gets and Lists of one admission request (0: DefaultLookupsPerRequest).
	maxLookups int
	// maxRoutes bounds the routes one admission request reads (0: DefaultRoutesPerRequest).
	maxRoutes int
}

// available is nil when lookups of kind in namespace can be answered, an *objects.Unavailable when
// they cannot (the kind is not served, or its Secrets are not cached there), another error when
// the cache fails.
func (o *cacheObjects) available(ctx context.Context, kind, namespace string) error {
	if kind == "Secret" && len(o.secretNamespaces) > 0 && namespace != "" && !o.secretNamespaces[namespace] {
		var served []string
		for ns := range o.secretNamespaces {
			served = append(served, ns)
		}
		sort.Strings(served)
		return &objects.Unavailable{Kind: kind, Namespace: namespace,
			Reason: fmt.Sprintf("the webhook reads Secrets only in the namespaces it serves (%s; chart value access.secretNamespaces, flag --secret-namespaces)", strings.Join(served, ", "))}
	}
	if o.informers == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, lookupTimeout)
	defer cancel()
	err := o.informers.ensure(ctx, kind)
	if errors.Is(err, errNotServed) || errors.Is(err, errNotCached) {
		return &objects.Unavailable{Kind: kind, Namespace: namespace, Reason: err.Error(), NotServed: errors.Is(err, errNotServed)}
	}
	return err
}

func (o *cacheObjects) get(ctx context.Context, kind, namespace, name string) ([]byte, bool, error) {
	obj := newCachedObject(kind)
	if obj == nil {
		return nil, false, nil
	}
	ctx, cancel := context.WithTimeout(ctx, lookupTimeout)
	defer cancel()
	if err := o.reader.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, obj); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, false, nil
		}
		return nil, false, fmt.Errorf("reading %s %s/%s from the webhook's cache: %w", kind, clip(namespace), clip(name), err)
	}
	raw, err := cachedJSON(obj)
	return raw, err == nil, err
}

func (o *cacheObjects) list(ctx context.Context, kind, namespace string) ([][]byte, error) {
	l := newCachedList(kind)
	if l == nil {
		return nil, nil
	}
	ctx, cancel := context.WithTimeout(ctx, lookupTimeout)
	defer cancel()
	if err := o.reader.List(ctx, l, client.InNamespace(namespace)); err != nil {
		return nil, fmt.Errorf("listing %ss in namespace %q from the webhook's cache: %w", kind, clip(namespace), err)
	}
	var out [][]byte
	err := apimeta.EachListItem(l, func(obj runtime.Object) error {
		if raw, err := cachedJSON(obj); err == nil {
			out = append(out, raw)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("listing %ss in namespace %q from the webhook's cache: %w", kind, clip(namespace), err)
	}
	return out, nil
}

// routesTo lists the routes of kind in namespace that send to Service serviceNamespace/service,
// through the cache's index (routeServiceIndex): the other routes are neither copied nor encoded.
// At most limit are read.
func (o *cacheObjects) routesTo(ctx context.Context, kind, namespace, serviceNamespace, service string, limit int) ([][]byte, error) {
	l := newCachedList(kind)
	if l == nil {
		return nil, nil
	}
	ctx, cancel := context.WithTimeout(ctx, lookupTimeout)
	defer cancel()
	if err := o.reader.List(ctx, l, client.InNamespace(namespace), client.MatchingFields{routeServiceIndex: serviceNamespace + "/" + service},
		client.Limit(int64(limit))); err != nil {
		return nil, fmt.Errorf("listing the %ss to Service %s/%s in namespace %q from the webhook's cache: %w", kind, clip(serviceNamespace), clip(service), clip(namespace), err)
	}
	var out [][]byte
	err := apimeta.EachListItem(l, func(obj runtime.Object) error {
		if raw, err := cachedJSON(obj); err == nil {
			out = append(out, raw)
		}
		return nil
	})
	return out, err
}

// view is what one admission request (or one audit pass) sees of the cache: lookups outside
// namespace only when user may read them (when access is set), and the first cache error
// remembered, so the handler answers with an error instead of a verdict built on a missing object.
func (o *cacheObjects) view(ctx context.Context, namespace string, user *admission.Request) *cacheView {
	v := &cacheView{ctx: ctx, o: o, namespace: namespace}
	if user != nil && o.access != nil {
		v.req = user
	}
	return v
}

// ForRequest is the view of one admission request.
func (o *cacheObjects) ForRequest(ctx context.Context, req admission.Request) requestObjects {
	return o.view(ctx, req.Namespace, &req)
}

// requestObjects are the lookups of one admission request.
type requestObjects interface {
	objects.Objects
	objects.Guarded
	// Failed is the first lookup the cache could not answer, nil if none.
	Failed() error
	// Limited says which lookups the request's bounds left out ("" if none), for a warning.
	Limited() string
}

// perRequest is implemented by Objects that give every admission request its own view.
type perRequest interface {
	ForRequest(ctx context.Context, req admission.Request) requestObjects
}

type cacheView struct {
	ctx       context.Context
	o         *cacheObjects
	namespace string
	req       *admission.Request

	mu     sync.Mutex
	failed error
	known  map[string]error
	// reviewed are the other namespaces whose reads were reviewed; skipped those past the bound.
	reviewed   map[string]bool
	skipped    []string
	skippedSet map[string]bool
	lookups    int
	// overBudget counts the Available calls refused because the lookups were spent.
	overBudget int
	// lists are the Lists already made, by kind and namespace: the rules list the same namespace
	// once per referenced object, and each List copies and encodes every object in it.
	lists map[string][][]byte
	// routes are the RoutesTo lookups already made; routesRead counts the routes they read.
	routes     map[string]routesLookup
	routesRead int
}

type routesLookup struct {
	service string // namespace/name of the Service the routes send to
	raw     [][]byte
	err     error
}

// routesReadTo counts the routes the lookups already made read to Service svc (namespace/name).
// Called with mu held.
func (v *cacheView) routesReadTo(svc string) int {
	n := 0
	for _, l := range v.routes {
		if l.service == svc {
			n += len(l.raw)
		}
	}
	return n
}

var (
	_ objects.Objects    = (*cacheView)(nil)
	_ objects.Guarded    = (*cacheView)(nil)
	_ objects.RouteIndex = (*cacheView)(nil)
)

func (v *cacheView) Available(kind, namespace string) error {
	if err := v.budget(kind, namespace); err != nil {
		return err
	}
	key := kind + "/" + namespace
	v.mu.Lock()
	err, ok := v.known[key]
	v.mu.Unlock()
	if ok {
		return err
	}
	err = v.o.available(v.ctx, kind, namespace)
	// The API server always names the requesting user (system:anonymous at least): a review that
	// names none was not sent by it, and is answered from nothing but the object it carries.
	if err == nil && v.req != nil && v.req.UserInfo.Username == "" {
		err = &objects.Unavailable{Kind: kind, Namespace: namespace, Reason: "the admission request names no user"}
	}
	// namespace is where a reference resolves as NIC v5.5.4 resolves it (internal/configs/policy.go
	// generatePolicies: the reference's namespace, else its owner's; internal/rules does the same).
	if err == nil && v.req != nil && namespace != v.namespace {
		if skipped := v.admitNamespace(kind, namespace); skipped != nil {
			err = skipped
		} else if denied := v.o.access.MayRead(v.ctx, v.req.UserInfo, kind, namespace); denied != nil {
			err = &objects.Unavailable{Kind: kind, Namespace: namespace, Reason: denied.Error()}
		}
	}
	if err != nil && objects.AsUnavailable(err) == nil {
		v.fail(err)
	}
	v.mu.Lock()
	if v.known == nil {
		v.known = map[string]error{}
	}
	v.known[key] = err
	v.mu.Unlock()
	return err
}

// admitNamespace counts namespace among the other namespaces this request has reviewed, or
// returns why it is not reviewed: the request already reached the bound.
func (v *cacheView) admitNamespace(kind, namespace string) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.reviewed[namespace] {
		return nil
	}
	if len(v.reviewed) < v.o.maxNamespaces {
		if v.reviewed == nil {
			v.reviewed = map[string]bool{}
		}
		v.reviewed[namespace] = true
		return nil
	}
	if !v.skippedSet[namespace] {
		if v.skippedSet == nil {
			v.skippedSet = map[string]bool{}
		}
		v.skippedSet[namespace] = true
		v.skipped = append(v.skipped, namespace)
	}
	return &objects.Unavailable{Kind: kind, Namespace: namespace, Reason: fmt.Sprintf(
		"the request reaches more than %d other namespaces, the most the webhook reviews for one admission request (chart value access.namespacesPerRequest, flag --namespaces-per-request)",
		v.o.maxNamespaces)}
}

// budget is an *objects.Unavailable once the request has made its most lookups.
func (v *cacheView) budget(kind, namespace string) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.lookups < v.maxLookups() {
		return nil
	}
	v.overBudget++
	return &objects.Unavailable{Kind: kind, Namespace: namespace, Reason: fmt.Sprintf(
		"the request already made %d lookups, the most the webhook makes for one admission request", v.maxLookups())}
}

func (v *cacheView) maxLookups() int {
	if v.o.maxLookups > 0 {
		return v.o.maxLookups
	}
	return DefaultLookupsPerRequest
}

// spend counts one lookup; false when the budget is spent.
func (v *cacheView) spend() bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.lookups >= v.maxLookups() {
		v.overBudget++
		return false
	}
	v.lookups++
	return true
}

// Limited names the namespaces left unreviewed and counts the lookups left out, "" if none. The
// namespaces come first: the API server keeps only the first 256 characters of each warning once
// a response's warnings pass 4096 characters.
func (v *cacheView) Limited() string {
	v.mu.Lock()
	defer v.mu.Unlock()
	var parts []string
	if n := len(v.skipped); n > 0 {
		const named = 5
		list := make([]string, 0, named+1)
		for _, ns := range v.skipped[:min(n, named)] {
			list = append(list, clip(ns))
		}
		if n > named {
			list = append(list, fmt.Sprintf("and %d more", n-named))
		}
		parts = append(parts, fmt.Sprintf("references in %d other namespaces were not checked (%s): the webhook reviews at most %d other namespaces for one admission request (chart value access.namespacesPerRequest, flag --namespaces-per-request)",
			n, strings.Join(list, ", "), v.o.maxNamespaces))
	}
	if v.overBudget > 0 {
		parts = append(parts, fmt.Sprintf("%d lookups of referenced objects were not made: the webhook makes at most %d for one admission request", v.overBudget, v.maxLookups()))
	}
	if len(parts) == 0 {
		return ""
	}
	return strings.Join(parts, "; ") + "; admitted as it is, so NIC answers 500 or nginx 502 at run time if one of those references is wrong: run `aigw-mtls-webhook check` to check them"
}

// ended is true once the request's context is done (the API server gave up on the answer): no
// lookup is made for an answer nobody reads, and the request fails instead of being judged on less.
func (v *cacheView) ended() bool {
	if err := v.ctx.Err(); err != nil {
		v.fail(fmt.Errorf("the admission request ended before its lookups did: %w", err))
		return true
	}
	return false
}

func (v *cacheView) Get(kind, namespace, name string) ([]byte, bool) {
	if v.ended() || v.Available(kind, namespace) != nil || !v.spend() {
		return nil, false
	}
	raw, ok, err := v.o.get(v.ctx, kind, namespace, name)
	if err != nil {
		v.fail(err)
	}
	return raw, ok
}

func (v *cacheView) List(kind, namespace string) [][]byte {
	if v.ended() || v.Available(kind, namespace) != nil {
		return nil
	}
	key := kind + "/" + namespace
	v.mu.Lock()
	out, listed := v.lists[key]
	v.mu.Unlock()
	if listed {
		return out
	}
	if !v.spend() {
		return nil
	}
	out, err := v.o.list(v.ctx, kind, namespace)
	if err != nil {
		v.fail(err)
		return out
	}
	v.mu.Lock()
	if v.lists == nil {
		v.lists = map[string][][]byte{}
	}
	v.lists[key] = out
	v.mu.Unlock()
	return out
}

func (v *cacheView) maxRoutes() int {
	if v.o.maxRoutes > 0 {
		return v.o.maxRoutes
	}
	return DefaultRoutesPerRequest
}

// RoutesTo reads the routes of kind in namespace that send to Service serviceNamespace/service,
// within the request's bound on routes read (an *objects.Unavailable with Capped past it).
func (v *cacheView) RoutesTo(kind, namespace, serviceNamespace, service string) ([][]byte, error) {
	if v.ended() {
		return nil, nil
	}
	if err := v.Available(kind, namespace); err != nil {
		return nil, err
	}
	key := kind + "/" + namespace + "/" + serviceNamespace + "/" + service
	v.mu.Lock()
	done, ok := v.routes[key]
	v.mu.Unlock()
	if ok {
		return done.raw, done.err
	}
	if !v.spend() {
		return nil, &objects.Unavailable{Kind: kind, Namespace: namespace, Reason: fmt.Sprintf(
			"the request already made %d lookups, the most the webhook makes for one admission request", v.maxLookups())}
	}
	v.mu.Lock()
	left := v.maxRoutes() - v.routesRead
	v.mu.Unlock()
	raw, err := v.o.routesTo(v.ctx, kind, namespace, serviceNamespace, service, left+1)
	if err != nil {
		v.fail(err)
		return nil, nil
	}
	svc := serviceNamespace + "/" + service
	v.mu.Lock()
	defer v.mu.Unlock()
	if len(raw) > left {
		read := v.routesReadTo(svc) + left
		reason := fmt.Sprintf("more than %d routes send to Service %s: not judged (the webhook reads at most %d routes for one admission request)", read, clip(svc), v.maxRoutes())
		if read < v.maxRoutes() {
			reason = fmt.Sprintf("more than %d routes send to Service %s, which with the routes to the policy's other targets pass the %d routes the webhook reads for one admission request: not judged", read, clip(svc), v.maxRoutes())
		}
		raw, err = nil, &objects.Unavailable{Kind: kind, Namespace: namespace, Reason: reason, Capped: true}
		v.routesRead = v.maxRoutes()
	} else {
		v.routesRead += len(raw)
	}
	if v.routes == nil {
		v.routes = map[string]routesLookup{}
	}
	v.routes[key] = routesLookup{svc, raw, err}
	return raw, err
}

func (v *cacheView) fail(err error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.failed == nil {
		v.failed = err
	}
}

func (v *cacheView) Failed() error {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.failed
}

// newCacheObjects reads from mgr's cache; reads outside a request's namespace are reviewed with
// SubjectAccessReviews (mgr's client).
func newCacheObjects(mgr manager.Manager, o Options) *cacheObjects {
	c := cacheLookups(mgr.GetCache(), o)
	c.access = NewAccess(mgr.GetClient())
	return c
}

// CacheLookups answers lookups from c, a cache built with CacheOptionsOf(o), as the webhook's
// handlers read it (without the reviews of reads outside an admission request's namespace).
func CacheLookups(c cache.Cache, o Options) objects.Objects { return cacheLookups(c, o) }

func cacheLookups(reader cache.Cache, o Options) *cacheObjects {
	c := &cacheObjects{reader: reader, informers: newInformers(reader, cachedKinds(o)...), maxNamespaces: o.NamespacesPerRequest}
	if len(o.SecretNamespaces) > 0 {
		c.secretNamespaces = map[string]bool{}
		for _, ns := range o.SecretNamespaces {
			c.secretNamespaces[ns] = true
		}
	}
	return c
}

// Get and List serve lookups outside admission (no request: nothing reviewed); a cache error reads
// as nothing found, so callers that must tell the two apart use view.
func (o *cacheObjects) Get(kind, namespace, name string) ([]byte, bool) {
	return o.view(context.Background(), namespace, nil).Get(kind, namespace, name)
}

func (o *cacheObjects) List(kind, namespace string) [][]byte {
	return o.view(context.Background(), namespace, nil).List(kind, namespace)
}

func (o *cacheObjects) RoutesTo(kind, namespace, serviceNamespace, service string) ([][]byte, error) {
	return o.view(context.Background(), namespace, nil).RoutesTo(kind, namespace, serviceNamespace, service)
}
