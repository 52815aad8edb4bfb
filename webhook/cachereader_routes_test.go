package webhook

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/aigw-mtls/aigw-mtls-webhook/internal/objects"
)

// routesCache answers a list of the routes of a namespace to a Service (the routeServiceIndex
// field) with that many HTTPRoutes, at most the list's limit (pure unit test: only List is called).
type routesCache struct {
	answeringCache
	to map[string]int // "namespace to serviceNamespace/name" → routes
}

func (c routesCache) List(_ context.Context, l client.ObjectList, opts ...client.ListOption) error {
	var lo client.ListOptions
	lo.ApplyOptions(opts)
	svc, _ := lo.FieldSelector.RequiresExactMatch(routeServiceIndex)
	ul := l.(*unstructured.UnstructuredList)
	for i := range min(c.to[lo.Namespace+" to "+svc], int(lo.Limit)) {
		u := unstructured.Unstructured{}
		u.SetAPIVersion("gateway.networking.k8s.io/v1")
		u.SetKind("HTTPRoute")
		u.SetNamespace(lo.Namespace)
		u.SetName(fmt.Sprintf("r%d", i))
		ul.Items = append(ul.Items, u)
	}
	return nil
}

// Past the request's bound on routes, the reason counts the routes to that Service the request
// read before (in every namespace) with those it could still read, and says when the routes to
// the policy's other Services took the rest.
func TestRoutesToNamesTheRoutesReadPerService(t *testing.T) {
	o := &cacheObjects{reader: routesCache{to: map[string]int{"x to ai/a": 3, "y to ai/a": 20, "x to ai/b": 20}}, maxRoutes: 10}
	capped := func(v *cacheView, ns, svc string) string {
		_, err := v.RoutesTo("HTTPRoute", ns, "ai", svc)
		var u *objects.Unavailable
		if !errors.As(err, &u) || !u.Capped {
			t.Fatalf("routes of %s to %s: %v, want capped", ns, svc, err)
		}
		return u.Reason
	}
	readA := func(v *cacheView) {
		if raw, err := v.RoutesTo("HTTPRoute", "x", "ai", "a"); err != nil || len(raw) != 3 {
			t.Fatalf("routes of x to ai/a: %d, %v; want 3", len(raw), err)
		}
	}

	// 3 routes to ai/a read in namespace x, then those of namespace y to ai/a pass the bound.
	v := o.view(context.Background(), "ai", nil)
	readA(v)
	if got, want := capped(v, "y", "a"), "more than 10 routes send to Service ai/a: not judged (the webhook reads at most 10 routes for one admission request)"; got != want {
		t.Errorf("same Service:\n%s\nwant\n%s", got, want)
	}

	// 3 routes to ai/a read, then those to ai/b pass the bound: the routes to ai/a took part of it.
	v = o.view(context.Background(), "ai", nil)
	readA(v)
	if got, want := capped(v, "x", "b"), "more than 7 routes send to Service ai/b, which with the routes to the policy's other targets pass the 10 routes the webhook reads for one admission request: not judged"; got != want {
		t.Errorf("another Service:\n%s\nwant\n%s", got, want)
	}
}
