package checker

import (
	"context"
	"math"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
)

// A listed object check cannot encode (newItem) is not dropped silently: a line names it and says
// it was not checked; the other objects of the page are kept.
func TestUnencodableObjectIsReported(t *testing.T) {
	policies := interceptor.Funcs{List: func(ctx context.Context, c client.WithWatch, list client.ObjectList, opts ...client.ListOption) error {
		ul, ok := list.(*unstructured.UnstructuredList)
		if !ok || ul.GetKind() != "PolicyList" {
			return c.List(ctx, list, opts...)
		}
		for _, p := range []struct {
			name string
			v    any
		}{{"broken", math.NaN()}, {"fine", int64(1)}} {
			ul.Items = append(ul.Items, unstructured.Unstructured{Object: map[string]any{
				"metadata": map[string]any{"name": p.name, "namespace": "ai", "labels": map[string]any{"aigw": "mtls"}},
				"spec":     map[string]any{"egressMTLS": map[string]any{"verifyDepth": p.v}},
			}})
		}
		return nil
	}}
	c := fake.NewClientBuilder().WithScheme(coreScheme(t)).WithRESTMapper(restMapper()).WithInterceptorFuncs(policies).Build()
	r, err := Run(context.Background(), c, Options{Settings: DefaultOptions().Settings, Namespace: "ai"})
	if err != nil {
		t.Fatal(err)
	}
	var named, fine bool
	for _, ch := range r.Checks {
		switch ch.Object {
		case "Policy/ai/broken":
			named = true
			if ch.Status != StatusError || !strings.Contains(ch.Message, "cannot be encoded") || !strings.Contains(ch.Message, "NaN") ||
				!strings.Contains(ch.Message, "not checked") || ch.Fix == "" {
				t.Errorf("line about the unencodable Policy: %+v", ch)
			}
		case "Policy/ai/fine":
			fine = true
		}
	}
	if !named {
		t.Errorf("no line names Policy/ai/broken in %+v", r.Checks)
	}
	if !fine {
		t.Errorf("the Policy listed with it was dropped: no line names Policy/ai/fine")
	}
}
