package webhook

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
)

// answeringCache is a cache whose reads all end with err (pure unit test: only Get and List are
// called).
type answeringCache struct {
	cache.Cache
	err error
}

func (c answeringCache) Get(context.Context, client.ObjectKey, client.Object, ...client.GetOption) error {
	return c.err
}

func (c answeringCache) List(context.Context, client.ObjectList, ...client.ListOption) error {
	return c.err
}

const labelledVS = `{"apiVersion":"k8s.nginx.org/v1","kind":"VirtualServer","metadata":{"name":"vs","namespace":"team","labels":{"aigw":"mtls"}},
  "spec":{"upstreams":[{"name":"aigw","service":"aigw","port":80}],"routes":[{"path":"/","action":{"pass":"aigw"},"policies":[{"name":"aigw-mtls"}]}]}}`

func vsValidator(reader cache.Cache) *Validator {
	o := DefaultOptions()
	return Handlers(o, &cacheObjects{reader: reader})[PathValidateVirtualServer].(*Validator)
}

// A cache that fails is never read as "the Policy does not exist": the request fails (500), so
// the API server applies failurePolicy, and the message says why.
func TestCacheErrorIsNotNotFound(t *testing.T) {
	req := request(admissionv1.Create, "VirtualServer", "team", labelledVS)
	resp := vsValidator(answeringCache{err: errors.New("timed out waiting for cache to be synced")}).Handle(context.Background(), req)
	if resp.Allowed || resp.Result == nil || resp.Result.Code != http.StatusInternalServerError {
		t.Fatalf("a failing cache: want an error (500), got allowed=%v %+v", resp.Allowed, resp.Result)
	}
	for _, want := range []string{"VirtualServer team/vs cannot be judged now", "Policy team/aigw-mtls", "timed out waiting"} {
		if !strings.Contains(resp.Result.Message, want) {
			t.Errorf("message %q lacks %q", resp.Result.Message, want)
		}
	}
	// The same lookup answered "not found" by the cache is a warning, as before.
	notFound := apierrors.NewNotFound(schema.GroupResource{Group: "k8s.nginx.org", Resource: "policies"}, "aigw-mtls")
	resp = vsValidator(answeringCache{err: notFound}).Handle(context.Background(), req)
	if !resp.Allowed || !strings.Contains(strings.Join(resp.Warnings, "\n"), "Policy team/aigw-mtls not found yet") {
		t.Errorf("not found: want allowed with a warning, got allowed=%v %v %+v", resp.Allowed, resp.Warnings, resp.Result)
	}
}

// Secrets of a namespace the webhook does not serve are reported as not checkable, never missing.
func TestSecretsOutsideServedNamespacesAreNotCheckable(t *testing.T) {
	o := &cacheObjects{reader: answeringCache{err: errors.New("must not be read")}, secretNamespaces: map[string]bool{"ai-gateway": true}}
	v := o.view(context.Background(), "team", nil)
	if raw, ok := v.Get("Secret", "team", "aigw-server-tls"); ok || raw != nil {
		t.Errorf("a Secret outside the served namespaces was read")
	}
	err := v.Available("Secret", "team")
	if err == nil || !strings.Contains(err.Error(), "the webhook reads Secrets only in the namespaces it serves (ai-gateway") {
		t.Errorf("Available: %v", err)
	}
	if v.Failed() != nil {
		t.Errorf("a namespace not served is not a cache failure: %v", v.Failed())
	}
}

// SubjectAccessReviews: one per user, kind and namespace for TTL; no user, no read.
func TestAccessReviewsAreCachedBriefly(t *testing.T) {
	reviews := 0
	c := fake.NewClientBuilder().WithInterceptorFuncs(interceptor.Funcs{
		Create: func(_ context.Context, _ client.WithWatch, obj client.Object, _ ...client.CreateOption) error {
			sar := obj.(*authorizationv1.SubjectAccessReview)
			reviews++
			ra := sar.Spec.ResourceAttributes
			sar.Status.Allowed = sar.Spec.User == "owner" && ra.Namespace == "shared" && ra.Verb == "list" && ra.Resource == "policies" && ra.Group == "k8s.nginx.org"
			return nil
		},
	}).Build()
	now := time.Unix(1000, 0)
	a := NewAccess(c)
	a.Now = func() time.Time { return now }
	owner := authenticationv1.UserInfo{Username: "owner", Groups: []string{"devs"}}
	for range 3 {
		if err := a.MayRead(context.Background(), owner, "Policy", "shared"); err != nil {
			t.Fatal(err)
		}
	}
	if reviews != 1 {
		t.Errorf("%d SubjectAccessReviews for one user, kind and namespace within the TTL, want 1", reviews)
	}
	now = now.Add(11 * time.Second)
	_ = a.MayRead(context.Background(), owner, "Policy", "shared")
	if reviews != 2 {
		t.Errorf("after the TTL: %d reviews, want 2", reviews)
	}
	err := a.MayRead(context.Background(), authenticationv1.UserInfo{Username: "tenant"}, "Policy", "shared")
	if err == nil || !strings.Contains(err.Error(), "the requesting user tenant may not list policies in namespace shared") {
		t.Errorf("tenant: %v", err)
	}
	if err := a.MayRead(context.Background(), owner, "Secret", "shared"); err == nil {
		t.Errorf("owner may not list Secrets in shared")
	}
	before := reviews
	if err := a.MayRead(context.Background(), authenticationv1.UserInfo{}, "Policy", "shared"); err == nil || reviews != before {
		t.Errorf("no user: want refused without a review, got %v (%d reviews)", err, reviews-before)
	}
}

// A view for an admission request reviews reads outside the request's namespace only.
func TestViewReviewsOtherNamespacesOnly(t *testing.T) {
	var asked []string
	c := fake.NewClientBuilder().WithInterceptorFuncs(interceptor.Funcs{
		Create: func(_ context.Context, _ client.WithWatch, obj client.Object, _ ...client.CreateOption) error {
			sar := obj.(*authorizationv1.SubjectAccessReview)
			asked = append(asked, sar.Spec.ResourceAttributes.Namespace)
			return nil // not allowed
		},
	}).Build()
	notFound := apierrors.NewNotFound(schema.GroupResource{Resource: "secrets"}, "x")
	o := &cacheObjects{reader: answeringCache{err: notFound}, access: NewAccess(c), maxNamespaces: DefaultNamespacesPerRequest}
	req := request(admissionv1.Create, "VirtualServer", "team", labelledVS)
	req.UserInfo = authenticationv1.UserInfo{Username: "tenant"}
	v := o.ForRequest(context.Background(), req)
	if err := v.Available("Policy", "team"); err != nil {
		t.Errorf("own namespace: %v", err)
	}
	if err := v.Available("Policy", "other"); err == nil {
		t.Errorf("another namespace, user without access: available")
	}
	if _, ok := v.Get("Policy", "other", "p"); ok {
		t.Errorf("read in another namespace without access")
	}
	if strings.Join(asked, ",") != "other" {
		t.Errorf("reviews for namespaces %v, want [other] once", asked)
	}
}
