package webhook

import (
	"context"
	"encoding/json"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	"github.com/aigw-mtls/aigw-mtls-webhook/internal/kinds"
	"github.com/aigw-mtls/aigw-mtls-webhook/internal/objects"
)

// reviewing is a fake client (pure unit test) that answers SubjectAccessReviews with allow and
// records the ones it was sent.
func reviewing(allow func(authorizationv1.SubjectAccessReviewSpec) bool, sent *[]authorizationv1.SubjectAccessReviewSpec) client.Client {
	return fake.NewClientBuilder().WithInterceptorFuncs(interceptor.Funcs{
		Create: func(_ context.Context, _ client.WithWatch, obj client.Object, _ ...client.CreateOption) error {
			sar := obj.(*authorizationv1.SubjectAccessReview)
			*sent = append(*sent, sar.Spec)
			sar.Status.Allowed = allow(sar.Spec)
			return nil
		},
	}).Build()
}

// Two identities that differ only where the old key joined lists with separators get separate
// answers: a cached "allowed" for one is never the other's.
func TestAccessAnswersAreNotSharedAcrossIdentities(t *testing.T) {
	pairs := []struct {
		name           string
		allowed, other authenticationv1.UserInfo
	}{
		{"a group holding a comma", authenticationv1.UserInfo{Username: "u", Groups: []string{"a", "b"}}, authenticationv1.UserInfo{Username: "u", Groups: []string{"a,b"}}},
		{"an extra value holding a comma", authenticationv1.UserInfo{Username: "u", Extra: map[string]authenticationv1.ExtraValue{"scopes": {"x", "y"}}},
			authenticationv1.UserInfo{Username: "u", Extra: map[string]authenticationv1.ExtraValue{"scopes": {"x,y"}}}},
		{"an extra value holding ; and =", authenticationv1.UserInfo{Username: "u", Extra: map[string]authenticationv1.ExtraValue{"a": {"b"}, "c": {"d"}}},
			authenticationv1.UserInfo{Username: "u", Extra: map[string]authenticationv1.ExtraValue{"a": {"b;c=d"}}}},
		{"an extra key holding =", authenticationv1.UserInfo{Username: "u", Extra: map[string]authenticationv1.ExtraValue{"a": {"b=c"}}},
			authenticationv1.UserInfo{Username: "u", Extra: map[string]authenticationv1.ExtraValue{"a=b": {"c"}}}},
		{"a name holding the old field separator", authenticationv1.UserInfo{Username: "u", UID: "1"}, authenticationv1.UserInfo{Username: "u\x001"}},
	}
	for _, p := range pairs {
		t.Run(p.name, func(t *testing.T) {
			var sent []authorizationv1.SubjectAccessReviewSpec
			allowedKey := newAccessKey(p.allowed, "", "", "")
			a := NewAccess(reviewing(func(s authorizationv1.SubjectAccessReviewSpec) bool {
				extra := map[string]authenticationv1.ExtraValue{}
				for k, v := range s.Extra {
					extra[k] = authenticationv1.ExtraValue(v)
				}
				return newAccessKey(authenticationv1.UserInfo{Username: s.User, UID: s.UID, Groups: s.Groups, Extra: extra}, "", "", "") == allowedKey
			}, &sent))
			if err := a.MayRead(context.Background(), p.allowed, "Policy", "shared"); err != nil {
				t.Fatalf("the allowed identity: %v", err)
			}
			if err := a.MayRead(context.Background(), p.other, "Policy", "shared"); err == nil {
				t.Errorf("%+v got the answer cached for %+v", p.other, p.allowed)
			}
			if len(sent) != 2 {
				t.Errorf("%d reviews for two identities, want 2", len(sent))
			}
		})
	}
	// Groups are a set: their order does not make another identity.
	ab := newAccessKey(authenticationv1.UserInfo{Username: "u", Groups: []string{"a", "b"}}, "g", "r", "ns")
	if ba := newAccessKey(authenticationv1.UserInfo{Username: "u", Groups: []string{"b", "a"}}, "g", "r", "ns"); ab != ba {
		t.Errorf("groups in another order make another key")
	}
}

// The answer cache is bounded by count and drops the least recently used answer, not all of them.
func TestAccessCacheDropsLeastRecentlyUsed(t *testing.T) {
	var sent []authorizationv1.SubjectAccessReviewSpec
	a := NewAccess(reviewing(func(authorizationv1.SubjectAccessReviewSpec) bool { return true }, &sent))
	a.Max = 2
	read := func(user string) {
		t.Helper()
		if err := a.MayRead(context.Background(), authenticationv1.UserInfo{Username: user}, "Policy", "shared"); err != nil {
			t.Fatal(err)
		}
	}
	read("u1")
	read("u2")
	read("u1") // cached; u1 is now the most recently used
	read("u3") // drops u2
	if a.Len() != 2 {
		t.Errorf("%d answers cached, want at most 2", a.Len())
	}
	before := len(sent)
	read("u1")
	if len(sent) != before {
		t.Errorf("u1, used recently, was dropped from the cache")
	}
	read("u2")
	if len(sent) != before+1 {
		t.Errorf("u2, the least recently used, was not dropped")
	}
	var users []string
	for _, s := range sent {
		users = append(users, s.User)
	}
	if got := strings.Join(users, ","); got != "u1,u2,u3,u2" {
		t.Errorf("reviews for %s, want u1,u2,u3,u2", got)
	}
}

// Concurrent misses of one question wait on one review: a burst of admission requests from one
// user naming one namespace costs one SubjectAccessReview, and every caller gets its answer.
func TestAccessMergesConcurrentMisses(t *testing.T) {
	var reviews atomic.Int32
	release := make(chan struct{})
	c := fake.NewClientBuilder().WithInterceptorFuncs(interceptor.Funcs{
		Create: func(_ context.Context, _ client.WithWatch, obj client.Object, _ ...client.CreateOption) error {
			reviews.Add(1)
			<-release
			obj.(*authorizationv1.SubjectAccessReview).Status.Allowed = true
			return nil
		},
	}).Build()
	a := NewAccess(c)
	const callers = 50
	errs := make(chan error, callers)
	var started sync.WaitGroup
	started.Add(callers)
	for range callers {
		go func() {
			started.Done()
			errs <- a.MayRead(context.Background(), authenticationv1.UserInfo{Username: "tenant"}, "Policy", "other")
		}()
	}
	// Let the callers reach the review before it answers.
	started.Wait()
	for deadline := time.Now().Add(5 * time.Second); reviews.Load() == 0 && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond)
	close(release)
	for range callers {
		if err := <-errs; err != nil {
			t.Errorf("a merged caller: %v", err)
		}
	}
	if n := reviews.Load(); n != 1 {
		t.Errorf("%d SubjectAccessReviews for %d concurrent identical questions, want 1", n, callers)
	}
}

// The review merged callers wait on does not end with the first caller's request: when the API
// server gives up on that one, the others still get their answer.
func TestAccessMergedReviewOutlivesTheFirstCaller(t *testing.T) {
	release := make(chan struct{})
	var reviews atomic.Int32
	c := fake.NewClientBuilder().WithInterceptorFuncs(interceptor.Funcs{
		Create: func(ctx context.Context, _ client.WithWatch, obj client.Object, _ ...client.CreateOption) error {
			reviews.Add(1)
			select {
			case <-release:
			case <-ctx.Done():
				return ctx.Err()
			}
			obj.(*authorizationv1.SubjectAccessReview).Status.Allowed = true
			return nil
		},
	}).Build()
	a := NewAccess(c)
	user := authenticationv1.UserInfo{Username: "tenant"}
	first, cancel := context.WithCancel(context.Background())
	firstDone := make(chan error, 1)
	go func() { firstDone <- a.MayRead(first, user, "Policy", "other") }()
	for deadline := time.Now().Add(5 * time.Second); reviews.Load() == 0 && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
	}
	second := make(chan error, 1)
	go func() { second <- a.MayRead(context.Background(), user, "Policy", "other") }()
	time.Sleep(50 * time.Millisecond) // the second caller joins the review in flight
	cancel()
	time.Sleep(50 * time.Millisecond)
	close(release)
	<-firstDone
	if err := <-second; err != nil {
		t.Errorf("a caller merged into a review whose first caller was cancelled: %v", err)
	}
}

// vsNaming is a labelled VirtualServer in team whose route references the Policy p in each of
// namespaces.
func vsNaming(namespaces []string) string {
	var refs []string
	for _, ns := range namespaces {
		refs = append(refs, fmt.Sprintf(`{"name":"p","namespace":%q}`, ns))
	}
	return `{"apiVersion":"k8s.nginx.org/v1","kind":"VirtualServer","metadata":{"name":"vs","namespace":"team","labels":{"aigw":"mtls"}},
  "spec":{"upstreams":[{"name":"aigw","service":"aigw","port":80}],"routes":[{"path":"/","action":{"pass":"aigw"},"policies":[` + strings.Join(refs, ",") + `]}]}}`
}

func namespacesNamed(n int) []string {
	var out []string
	for i := range n {
		out = append(out, fmt.Sprintf("ns-%d", i+1))
	}
	return out
}

// One admission request has at most maxNamespaces other namespaces reviewed; the references past
// them are warned about as not checked, and the first warning names them.
func TestRequestReviewsBoundedNamespaces(t *testing.T) {
	var sent []authorizationv1.SubjectAccessReviewSpec
	c := reviewing(func(authorizationv1.SubjectAccessReviewSpec) bool { return true }, &sent)
	notFound := apierrors.NewNotFound(schema.GroupResource{Group: "k8s.nginx.org", Resource: "policies"}, "p")
	o := &cacheObjects{reader: answeringCache{err: notFound}, access: NewAccess(c), maxNamespaces: 16}
	opts := DefaultOptions()
	v := Handlers(opts, o)[PathValidateVirtualServer].(*Validator)
	req := request(admissionv1.Create, "VirtualServer", "team", vsNaming(namespacesNamed(200)))
	req.UserInfo = authenticationv1.UserInfo{Username: "owner"}
	resp := v.Handle(context.Background(), req)
	if !resp.Allowed {
		t.Fatalf("refused: %+v", resp.Result)
	}
	if len(sent) != 16 {
		t.Errorf("%d SubjectAccessReviews for one request, want 16", len(sent))
	}
	var reviewed []string
	for _, s := range sent {
		reviewed = append(reviewed, s.ResourceAttributes.Namespace)
	}
	if !slices.Equal(reviewed, namespacesNamed(16)) {
		t.Errorf("reviewed %v, want the first 16 referenced", reviewed)
	}
	first := resp.Warnings[0]
	for _, want := range []string{"VirtualServer team/vs", "references in 184 other namespaces were not checked (ns-17, ns-18, ns-19, ns-20, ns-21, and 179 more)", "at most 16 other namespaces", "access.namespacesPerRequest", "--namespaces-per-request"} {
		if !strings.Contains(first, want) {
			t.Errorf("first warning %q lacks %q", first, want)
		}
	}
	all := strings.Join(resp.Warnings, "\n")
	for _, ns := range []string{"ns-17", "ns-200"} {
		if !strings.Contains(all, "Policy "+ns+"/p cannot be checked: the request reaches more than 16 other namespaces") {
			t.Errorf("no not-checked warning for %s in\n%s", ns, all)
		}
	}
	if !strings.Contains(all, "Policy ns-16/p not found yet") || strings.Contains(all, "ns-16/p cannot be checked") {
		t.Errorf("ns-16, within the bound, not checked:\n%s", all)
	}

	// 0: no other namespace is reviewed.
	sent = nil
	o.maxNamespaces = 0
	resp = v.Handle(context.Background(), req)
	if len(sent) != 0 || !strings.Contains(resp.Warnings[0], "references in 200 other namespaces were not checked") {
		t.Errorf("maxNamespaces 0: %d reviews, first warning %q", len(sent), resp.Warnings[0])
	}
}

// countingCache counts the lookups that reach the cache (pure unit test).
type countingCache struct {
	answeringCache
	n *int
}

func (c countingCache) Get(ctx context.Context, k client.ObjectKey, o client.Object, opts ...client.GetOption) error {
	*c.n++
	return c.answeringCache.Get(ctx, k, o, opts...)
}

// The lookups of one request are bounded, however many distinct objects it references.
func TestRequestLookupsAreBounded(t *testing.T) {
	var names []string
	for i := range 300 {
		names = append(names, fmt.Sprintf(`{"name":"p%d"}`, i))
	}
	raw := strings.Replace(labelledVS, `"policies":[{"name":"aigw-mtls"}]`, `"policies":[`+strings.Join(names, ",")+`]`, 1)
	n := 0
	notFound := apierrors.NewNotFound(schema.GroupResource{Group: "k8s.nginx.org", Resource: "policies"}, "p")
	o := &cacheObjects{reader: countingCache{answeringCache{err: notFound}, &n}, maxLookups: 50}
	resp := Handlers(DefaultOptions(), o)[PathValidateVirtualServer].Handle(context.Background(), request(admissionv1.Create, "VirtualServer", "team", raw))
	if !resp.Allowed {
		t.Fatalf("refused: %+v", resp.Result)
	}
	if n != 50 {
		t.Errorf("%d cache lookups for one request, want the bound, 50", n)
	}
	if first := resp.Warnings[0]; !strings.Contains(first, "lookups of referenced objects were not made: the webhook makes at most 50 for one admission request") {
		t.Errorf("first warning: %q", first)
	}
	if all := strings.Join(resp.Warnings, "\n"); !strings.Contains(all, "Policy team/p299 cannot be checked: the request already made 50 lookups") {
		t.Errorf("the last reference is not reported as not checked:\n%s", all)
	}
}

// What a caller sends (kind, name, namespace) is clipped in every answer: a 1 MiB kind name gets
// a short answer.
func TestAnswersClipCallerInput(t *testing.T) {
	huge := strings.Repeat("k", 1<<20)
	for path, h := range Handlers(DefaultOptions(), nil) {
		for _, req := range []struct {
			what string
			req  admissionv1.AdmissionRequest
		}{
			{"kind", admissionv1.AdmissionRequest{UID: "1", Operation: admissionv1.Create, Namespace: "team"}},
			{"name and namespace", admissionv1.AdmissionRequest{UID: "1", Operation: admissionv1.Create, Namespace: huge, Name: huge}},
		} {
			r := request(req.req.Operation, huge, req.req.Namespace, "")
			r.Name = req.req.Name
			if req.what != "kind" {
				r.Kind.Kind = h.(interface{ kind() string }).kind()
			}
			resp := h.Handle(context.Background(), r)
			if resp.Allowed || resp.Result == nil {
				t.Errorf("%s, %s of 1 MiB: allowed", path, req.what)
				continue
			}
			if len(resp.Result.Message) > 400 {
				t.Errorf("%s, %s of 1 MiB: a message of %d bytes", path, req.what, len(resp.Result.Message))
			}
		}
	}
}

func (v *Validator) kind() string { return v.Kind }
func (m *Mutator) kind() string   { return m.Kind }

// BenchmarkAccessCacheEntry reports the heap one cached answer takes (B/answer), whatever the
// user's groups: DefaultAccessAnswers is derived from it.
func BenchmarkAccessCacheEntry(b *testing.B) {
	groups := []string{"system:authenticated", "oidc:platform-team", "oidc:ai-gateway-admins", strings.Repeat("g", 200)}
	for b.Loop() {
		a := NewAccess(nil)
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		for i := range DefaultAccessAnswers {
			user := authenticationv1.UserInfo{Username: fmt.Sprintf("user-%d", i), Groups: groups}
			a.cache().Put(newAccessKey(user, "k8s.nginx.org", "policies", "ns"), accessAnswer{allowed: true, expires: time.Now()}, 1)
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/float64(a.Len()), "B/answer")
		runtime.KeepAlive(a)
	}
}

// objectSetCache serves a cache's Get from an ObjectSet, decoding each object anew as the
// informer cache copies it (pure benchmark: only Get is called).
type objectSetCache struct {
	cache.Cache
	set *objects.ObjectSet
}

func (c objectSetCache) Get(_ context.Context, k client.ObjectKey, obj client.Object, _ ...client.GetOption) error {
	kind := obj.GetObjectKind().GroupVersionKind().Kind
	if _, ok := obj.(*corev1.Secret); ok {
		kind = "Secret"
	}
	raw, ok := c.set.Get(kind, k.Namespace, k.Name)
	if !ok {
		return apierrors.NewNotFound(schema.GroupResource{Resource: kind}, k.Name)
	}
	return json.Unmarshal(raw, obj)
}

// BenchmarkRequestAtLookupBound times one admission request that spends every lookup of
// DefaultLookupsPerRequest: a VirtualServer naming 2000 distinct egressMTLS Policies that exist,
// each leading to its Secrets and certificate chain being checked.
func BenchmarkRequestAtLookupBound(b *testing.B) {
	set := benchObjects(b)
	var refs []string
	for i := range 2000 {
		name := fmt.Sprintf("p-%d", i)
		set.Add("ai-gateway", []byte(strings.Replace(benchPolicy, `"name":"aigw-mtls"`, `"name":"`+name+`"`, 1)))
		refs = append(refs, `{"name":"`+name+`"}`)
	}
	raw := strings.Replace(strings.Replace(labelledVS, `"policies":[{"name":"aigw-mtls"}]`, `"policies":[`+strings.Join(refs, ",")+`]`, 1), `"namespace":"team"`, `"namespace":"ai-gateway"`, 1)
	o := &cacheObjects{reader: objectSetCache{set: set}}
	h := Handlers(DefaultOptions(), o)[PathValidateVirtualServer]
	req := request(admissionv1.Create, "VirtualServer", "ai-gateway", raw)
	if resp := h.Handle(context.Background(), req); !strings.Contains(strings.Join(resp.Warnings, "\n"), "lookups of referenced objects were not made") {
		b.Fatalf("the request did not reach the bound: %+v %v", resp.Result, len(resp.Warnings))
	}
	for b.Loop() {
		h.Handle(context.Background(), req)
	}
}

// Every kind the rules read (the cached kinds of internal/kinds, the Gateway API ones included)
// is reviewed against its own group and resource; a kind the webhook never reads is refused
// without a review.
func TestAccessReviewsEveryCachedKind(t *testing.T) {
	for _, k := range kinds.Cached(true) {
		var sent []authorizationv1.SubjectAccessReviewSpec
		a := NewAccess(reviewing(func(authorizationv1.SubjectAccessReviewSpec) bool { return true }, &sent))
		if err := a.MayRead(context.Background(), authenticationv1.UserInfo{Username: "u"}, k.Kind, "other"); err != nil {
			t.Errorf("%s: %v", k.Kind, err)
		}
		if len(sent) == 0 || sent[0].ResourceAttributes == nil || sent[0].ResourceAttributes.Group != k.Group || sent[0].ResourceAttributes.Resource != k.Resource {
			t.Errorf("%s: reviews %+v, want group %q resource %q", k.Kind, sent, k.Group, k.Resource)
		}
	}
	var sent []authorizationv1.SubjectAccessReviewSpec
	a := NewAccess(reviewing(func(authorizationv1.SubjectAccessReviewSpec) bool { return true }, &sent))
	if err := a.MayRead(context.Background(), authenticationv1.UserInfo{Username: "u"}, "Pod", "other"); err == nil || len(sent) > 0 {
		t.Errorf("Pod (not read by the rules): %v, reviews %v", err, sent)
	}
}
