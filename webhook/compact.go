package webhook

import (
	"bytes"
	"encoding/json"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/aigw-mtls/aigw-mtls-webhook/internal/kinds"
)

// cachedResource is how the informer cache holds a custom resource that it keeps whole (a row of
// internal/kinds with Cache and Keep == KeepAll): its metadata typed, its spec (and its status,
// when the row says Cache.Status) as the JSON the API server sent. As unstructured.Unstructured,
// every field is a map entry or an interface value: at 10,000 tenants (a Policy and a Certificate
// each) the cached custom resources took 57 MB of the chart's 256 Mi, held so 22 MB
// (BENCHMARKS.md "Many tenants"). The spec is never more bytes than the
// API server sent: fields the CRD's schema prunes never arrive, and unknown fields it preserves
// are held as their JSON, not as maps.
//
// Each kind has its own Go type (R names the row): the informer's transform (TrimCached) knows the
// kind of an object whose apiVersion and kind the decoder cleared.
type cachedResource[R row] struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	Spec              json.RawMessage `json:"spec,omitempty"`
	Status            json.RawMessage `json:"status,omitempty"`
}

type cachedResourceList[R row] struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []cachedResource[R] `json:"items"`
}

// row names the internal/kinds row of a cachedResource type.
type row interface{ row() *kinds.Kind }

type policyRow struct{}

func (policyRow) row() *kinds.Kind { return kinds.Policy }

type certificateRow struct{}

func (certificateRow) row() *kinds.Kind { return kinds.Certificate }

type backendTLSPolicyRow struct{}

func (backendTLSPolicyRow) row() *kinds.Kind { return kinds.BackendTLSPolicy }

// compactKind is one kind the cache holds as a cachedResource.
type compactKind struct {
	row    *kinds.Kind
	object func() client.Object
	list   func() client.ObjectList
}

func compactKindOf[R row]() compactKind {
	var r R
	return compactKind{row: r.row(),
		object: func() client.Object { return &cachedResource[R]{} },
		list:   func() client.ObjectList { return &cachedResourceList[R]{} }}
}

// compactKinds are the custom resources the cache keeps whole (TestEveryWholeCachedResourceIsCompact
// holds this list equal to the rows of internal/kinds).
var compactKinds = map[string]compactKind{
	kinds.Policy.Kind:           compactKindOf[policyRow](),
	kinds.Certificate.Kind:      compactKindOf[certificateRow](),
	kinds.BackendTLSPolicy.Kind: compactKindOf[backendTLSPolicyRow](),
}

// cacheScheme is the scheme of the webhook's manager and informer cache: client-go's types and the
// cachedResource types under their kinds' GroupVersionKinds. It is the webhook's own: client-go's
// global scheme is left as it is.
var cacheScheme = func() *runtime.Scheme {
	s := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(s); err != nil {
		panic(err)
	}
	versions := map[schema.GroupVersion]bool{}
	for _, c := range compactKinds {
		gvk := c.row.GroupVersionKind()
		s.AddKnownTypeWithName(gvk, c.object())
		s.AddKnownTypeWithName(gvk.GroupVersion().WithKind(gvk.Kind+"List"), c.list())
		versions[gvk.GroupVersion()] = true
	}
	for gv := range versions {
		metav1.AddToGroupVersion(s, gv)
	}
	return s
}()

func (c *cachedResource[R]) DeepCopyObject() runtime.Object {
	out := &cachedResource[R]{TypeMeta: c.TypeMeta, Spec: bytes.Clone(c.Spec), Status: bytes.Clone(c.Status)}
	c.ObjectMeta.DeepCopyInto(&out.ObjectMeta)
	return out
}

func (l *cachedResourceList[R]) DeepCopyObject() runtime.Object {
	out := &cachedResourceList[R]{TypeMeta: l.TypeMeta}
	l.ListMeta.DeepCopyInto(&out.ListMeta)
	if l.Items != nil {
		out.Items = make([]cachedResource[R], len(l.Items))
		for i := range l.Items {
			out.Items[i] = *l.Items[i].DeepCopyObject().(*cachedResource[R])
		}
	}
	return out
}

// trim drops the status unless the kind's row says the rules read it (Cache.Status).
func (c *cachedResource[R]) trim() {
	var r R
	if k := r.row(); k.Cache == nil || !k.Cache.Status {
		c.Status = nil
	}
}

// cachedJSON is what a lookup returns of obj read from the cache: its JSON, with the apiVersion
// and kind of its row in internal/kinds (the watch decoder leaves them empty).
func (c *cachedResource[R]) cachedJSON() ([]byte, error) {
	var r R
	out := *c
	out.TypeMeta = metav1.TypeMeta{APIVersion: r.row().APIVersion(), Kind: r.row().Kind}
	return json.Marshal(&out)
}

// compactObject is a cachedResource of any kind.
type compactObject interface {
	trim()
	cachedJSON() ([]byte, error)
}

// cachedJSON is the JSON of an object read from the cache.
func cachedJSON(obj runtime.Object) ([]byte, error) {
	if c, ok := obj.(compactObject); ok {
		return c.cachedJSON()
	}
	return json.Marshal(obj)
}

// CachedObject is an empty object of the type the webhook's cache holds kind as (its informer's
// type), nil for a kind it does not cache.
func CachedObject(kind string) client.Object { return newCachedObject(kind) }
