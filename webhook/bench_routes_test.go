package webhook

import (
	"context"
	"fmt"
	"strings"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// indexedRoutes stands for the informer cache in benchmarks: HTTPRoutes in a client-go Indexer
// with the namespace index and the cache's field indexes (keyed "namespace/value", as
// controller-runtime's IndexField keys them), each object listed deep-copied as controller-runtime's
// CacheReader copies it; and Services by name.
type indexedRoutes struct {
	cache.Cache
	routes   toolscache.Indexer
	services map[string]*corev1.Service
}

func newIndexedRoutes(indexers toolscache.Indexers) *indexedRoutes {
	indexers[toolscache.NamespaceIndex] = toolscache.MetaNamespaceIndexFunc
	return &indexedRoutes{routes: toolscache.NewIndexer(toolscache.MetaNamespaceKeyFunc, indexers), services: map[string]*corev1.Service{}}
}

func (c *indexedRoutes) Get(_ context.Context, k client.ObjectKey, obj client.Object, _ ...client.GetOption) error {
	if svc, ok := obj.(*corev1.Service); ok {
		if s, ok := c.services[k.Namespace+"/"+k.Name]; ok {
			s.DeepCopyInto(svc)
			return nil
		}
	}
	return apierrors.NewNotFound(schema.GroupResource{Resource: obj.GetObjectKind().GroupVersionKind().Kind}, k.Name)
}

func (c *indexedRoutes) List(_ context.Context, list client.ObjectList, opts ...client.ListOption) error {
	var lo client.ListOptions
	lo.ApplyOptions(opts)
	ul, ok := list.(*unstructured.UnstructuredList)
	if !ok || ul.GetKind() != "HTTPRouteList" {
		return nil
	}
	var objs []any
	var err error
	if lo.FieldSelector != nil && !lo.FieldSelector.Empty() {
		r := lo.FieldSelector.Requirements()[0]
		objs, err = c.routes.ByIndex("field:"+r.Field, lo.Namespace+"/"+r.Value)
	} else {
		objs, err = c.routes.ByIndex(toolscache.NamespaceIndex, lo.Namespace)
	}
	if err != nil {
		return err
	}
	for _, o := range objs {
		if lo.Limit > 0 && int64(len(ul.Items)) >= lo.Limit {
			break
		}
		ul.Items = append(ul.Items, *o.(*unstructured.Unstructured).DeepCopy())
	}
	return nil
}

// BenchmarkBTPAdmission10000Routes times the admission of a BackendTLSPolicy with 16 targets
// naming Service aigw, with 10,000 trimmed HTTPRoutes cached in its namespace, 10 of them sending
// to aigw and the others to 100 other Services.
func BenchmarkBTPAdmission10000Routes(b *testing.B) {
	c := newIndexedRoutes(benchRouteIndexers())
	svc := sampleService("aigw")
	trimmed, _ := TrimCached(svc.DeepCopy())
	c.services["ai-gateway/aigw"] = trimmed.(*corev1.Service)
	for i := range 10000 {
		r := sampleHTTPRoute(fmt.Sprintf("route-%d", i))
		if i%1000 != 0 {
			raw, _ := r.MarshalJSON()
			_ = r.UnmarshalJSON([]byte(strings.ReplaceAll(string(raw), `"name":"aigw"`, fmt.Sprintf(`"name":"svc-%d"`, i%100))))
		}
		t, _ := TrimCached(r)
		if err := c.routes.Add(t); err != nil {
			b.Fatal(err)
		}
	}
	var targets []string
	for range 16 {
		targets = append(targets, `{"group":"","kind":"Service","name":"aigw","sectionName":"https"}`)
	}
	policy := `{"apiVersion":"gateway.networking.k8s.io/v1","kind":"BackendTLSPolicy","metadata":{"name":"aigw-mtls","namespace":"ai-gateway","labels":{"aigw":"mtls"}},` +
		`"spec":{"targetRefs":[` + strings.Join(targets, ",") + `],"validation":{"wellKnownCACertificates":"System","hostname":"aigw.ai-gateway.svc.cluster.local"}}}`
	o := DefaultOptions()
	o.GatewayAPI = true
	h := Handlers(o, &cacheObjects{reader: c})[PathValidateBackendTLSPolicy]
	req := request(admissionv1.Create, "BackendTLSPolicy", "ai-gateway", policy)
	// Refused for its CA (none is cached here); its targets are judged, and found sound.
	resp := h.Handle(context.Background(), req)
	if all := resp.Result.Message + strings.Join(resp.Warnings, "\n"); resp.Allowed || strings.Contains(all, "BTP_SECTION_NAME") || strings.Contains(all, "BTP_CONFLICT") {
		b.Fatalf("want refused for its CA alone: %v %q %q", resp.Allowed, resp.Result.Message, resp.Warnings)
	}
	b.ReportAllocs()
	for b.Loop() {
		h.Handle(context.Background(), req)
	}
}
