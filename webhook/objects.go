package webhook

import (
	"reflect"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/aigw-mtls/aigw-mtls-webhook/internal/aigw"
	"github.com/aigw-mtls/aigw-mtls-webhook/internal/kinds"
	"github.com/aigw-mtls/aigw-mtls-webhook/internal/rules"
)

// newCachedObject is an empty object of a cached kind (internal/kinds): typed for the built-in
// kinds, a cachedResource for the custom resources the cache keeps whole, unstructured for the
// others; nil for a kind the cache does not hold.
func newCachedObject(kind string) client.Object {
	k := kinds.Named(kind)
	if k == nil || k.Cache == nil {
		return nil
	}
	if c, ok := compactKinds[kind]; ok {
		return c.object()
	}
	if obj, err := clientgoscheme.Scheme.New(k.GroupVersionKind()); err == nil {
		if o, ok := obj.(client.Object); ok {
			return o
		}
	}
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(k.GroupVersionKind())
	return u
}

func newCachedList(kind string) client.ObjectList {
	k := kinds.Named(kind)
	if k == nil || k.Cache == nil {
		return nil
	}
	if c, ok := compactKinds[kind]; ok {
		return c.list()
	}
	gvk := k.GroupVersionKind()
	gvk.Kind += "List"
	if obj, err := clientgoscheme.Scheme.New(gvk); err == nil {
		if l, ok := obj.(client.ObjectList); ok {
			return l
		}
	}
	l := &unstructured.UnstructuredList{}
	l.SetGroupVersionKind(gvk)
	return l
}

// cachedKinds are the names of the kinds the cache holds with o.
func cachedKinds(o Options) []string {
	var out []string
	for _, k := range kinds.Cached(o.GatewayAPI) {
		out = append(out, k.Kind)
	}
	return out
}

// CacheOptions restricts the informer cache to what the webhook reads, without Gateway API: see
// cacheOptions.
func CacheOptions(s aigw.Settings, secretNamespaces ...string) cache.Options {
	return cacheOptions(Options{Settings: s, SecretNamespaces: secretNamespaces})
}

// CacheOptionsOf is the informer cache serve builds for o: see cacheOptions.
func CacheOptionsOf(o Options) cache.Options { return cacheOptions(o) }

// cacheOptions restricts the informer cache to the kinds internal/kinds caches with o, each as
// its row says: labelled objects only, Secrets with their certificates only (KeepCertificates)
// and in o.SecretNamespaces (none given: every namespace).
func cacheOptions(o Options) cache.Options {
	selected := labels.SelectorFromSet(labels.Set{o.Settings.SelectorKey: o.Settings.SelectorValue})
	by := map[client.Object]cache.ByObject{}
	for _, k := range kinds.Cached(o.GatewayAPI) {
		var b cache.ByObject
		if k.Cache.Labelled {
			b.Label = selected
		}
		if k.Cache.CertificatesOnly {
			keep := KeepCertificates(o.Settings.CAKey)
			b.Transform = func(obj any) (any, error) {
				obj, _ = TrimCached(obj)
				return keep(obj)
			}
		}
		if k.Cache.SecretNamespaces && len(o.SecretNamespaces) > 0 {
			if o.OneSecretInformer {
				b.Transform = keepNamespaces(o.SecretNamespaces, b.Transform)
			} else {
				b.Namespaces = map[string]cache.Config{}
				for _, ns := range o.SecretNamespaces {
					b.Namespaces[ns] = cache.Config{}
				}
			}
		}
		// Only kinds with a restriction: an entry needs the kind served when the manager starts
		// (controller-runtime asks the API server whether it is namespaced).
		if b.Label != nil || b.Transform != nil || b.Namespaces != nil {
			by[newCachedObject(k.Kind)] = b
		}
	}
	// The restart on renewal reads Deployments only in its namespaces (the chart's Roles there).
	if len(o.RestartNamespaces) > 0 {
		b := cache.ByObject{Namespaces: map[string]cache.Config{}}
		for _, ns := range o.RestartNamespaces {
			b.Namespaces[ns] = cache.Config{}
		}
		by[&appsv1.Deployment{}] = b
	}
	return cache.Options{
		Scheme:                      cacheScheme,
		ReaderFailOnMissingInformer: true,
		DefaultTransform:            TrimCached,
		ByObject:                    by,
	}
}

// annotationLastApplied is kubectl apply's copy of the whole object, as large as the object.
const annotationLastApplied = "kubectl.kubernetes.io/last-applied-configuration"

// TrimCached drops from an object entering the cache what no rule or mutation reads: its
// managedFields, kubectl's last-applied copy, and the status of a custom resource unless its
// kind's row in internal/kinds says the rules read it (Cache.Status); of the kinds whose row says
// Cache.Keep, only those fields and keptMetaFields. The cache's memory then grows
// with the fields the rules read.
func TrimCached(obj any) (any, error) {
	m, ok := obj.(metav1.Object)
	if !ok {
		return obj, nil
	}
	m.SetManagedFields(nil)
	if a := m.GetAnnotations(); a != nil {
		if _, ok := a[annotationLastApplied]; ok {
			delete(a, annotationLastApplied)
			// An emptied map keeps its slots (kubectl's copy is often the only annotation).
			if len(a) == 0 {
				a = nil
			}
			m.SetAnnotations(a)
		}
	}
	if c, ok := obj.(compactObject); ok {
		c.trim()
	}
	if u, ok := obj.(*unstructured.Unstructured); ok {
		k := kinds.Named(u.GetKind())
		if k == nil || k.Cache == nil || !k.Cache.Status {
			delete(u.Object, "status")
		}
		if k != nil && k.Cache != nil && k.Cache.Keep != kinds.KeepAll {
			keepOnly(u, k.Cache.Keep)
		}
		return obj, nil
	}
	if r, ok := obj.(runtime.Object); ok {
		if k := typedKind(r); k != nil && k.Cache != nil && k.Cache.Keep != kinds.KeepAll {
			keepTyped(r, k.Cache.Keep)
		}
	}
	return obj, nil
}

// keepNamespaces is then for the objects of namespaces, and for the others keeps their name and
// version only: one cluster-wide informer then holds about as much as one per namespace would.
// (Lookups outside namespaces are refused before the cache is read: cacheObjects.secretNamespaces.)
func keepNamespaces(namespaces []string, then toolscache.TransformFunc) toolscache.TransformFunc {
	served := map[string]bool{}
	for _, ns := range namespaces {
		served[ns] = true
	}
	return func(obj any) (any, error) {
		m, ok := obj.(metav1.Object)
		if !ok || served[m.GetNamespace()] {
			if then == nil {
				return obj, nil
			}
			return then(obj)
		}
		if sec, ok := obj.(*corev1.Secret); ok {
			return &corev1.Secret{TypeMeta: sec.TypeMeta, ObjectMeta: metav1.ObjectMeta{Name: sec.Name, Namespace: sec.Namespace,
				ResourceVersion: sec.ResourceVersion, UID: sec.UID}}, nil
		}
		return obj, nil
	}
}

// typedKind is the internal/kinds row of a typed object (the watch decoder clears its apiVersion
// and kind: its Go type names it).
func typedKind(obj runtime.Object) *kinds.Kind {
	gvks, _, err := cacheScheme.ObjectKinds(obj)
	if err != nil || len(gvks) == 0 {
		return nil
	}
	return kinds.Named(gvks[0].Kind)
}

// keepTyped reduces a typed object to keep (kinds.Keep) and the metadata keptMeta keeps; when keep
// is not one its Go type can hold, to that metadata alone (the trim fails closed: a rule reading
// more finds it absent rather than the cache growing with whole objects), and false
// (TestEveryCachedRowsKeepApplies).
func keepTyped(obj runtime.Object, keep kinds.Keep) bool {
	svc, ok := obj.(*corev1.Service)
	if !ok || keep != kinds.KeepServicePorts {
		keepMetaOnly(obj)
		return false
	}
	ports := make([]corev1.ServicePort, len(svc.Spec.Ports))
	for i, p := range svc.Spec.Ports {
		ports[i] = corev1.ServicePort{Name: p.Name, Port: p.Port}
	}
	svc.ObjectMeta = keptMeta(svc.ObjectMeta)
	svc.Spec = corev1.ServiceSpec{Ports: ports}
	svc.Status = corev1.ServiceStatus{}
	return true
}

// keepMetaOnly zeroes the typed object obj points to but its apiVersion, kind and keptMetaFields.
func keepMetaOnly(obj runtime.Object) {
	acc, ok := obj.(metav1.ObjectMetaAccessor)
	if !ok {
		return
	}
	m, ok := acc.GetObjectMeta().(*metav1.ObjectMeta)
	v := reflect.ValueOf(obj)
	if !ok || v.Kind() != reflect.Pointer || v.IsNil() {
		return
	}
	meta, gvk := keptMeta(*m), obj.GetObjectKind().GroupVersionKind()
	v.Elem().SetZero()
	if m, ok := acc.GetObjectMeta().(*metav1.ObjectMeta); ok {
		*m = meta
	}
	obj.GetObjectKind().SetGroupVersionKind(gvk)
}

// keptMetaFields are what the cache needs of an object's metadata (the informer's identity and
// version, and the age the BackendTLSPolicy rules order by): each by its JSON name, for
// unstructured objects, and as the ObjectMeta field it copies, for typed ones.
var keptMetaFields = []struct {
	json string
	copy func(to, from *metav1.ObjectMeta)
}{
	{"name", func(to, from *metav1.ObjectMeta) { to.Name = from.Name }},
	{"namespace", func(to, from *metav1.ObjectMeta) { to.Namespace = from.Namespace }},
	{"uid", func(to, from *metav1.ObjectMeta) { to.UID = from.UID }},
	{"resourceVersion", func(to, from *metav1.ObjectMeta) { to.ResourceVersion = from.ResourceVersion }},
	{"creationTimestamp", func(to, from *metav1.ObjectMeta) { to.CreationTimestamp = from.CreationTimestamp }},
	{"deletionTimestamp", func(to, from *metav1.ObjectMeta) { to.DeletionTimestamp = from.DeletionTimestamp }},
}

// keptMeta is m with only keptMetaFields.
func keptMeta(m metav1.ObjectMeta) metav1.ObjectMeta {
	var out metav1.ObjectMeta
	for _, f := range keptMetaFields {
		f.copy(&out, &m)
	}
	return out
}

// keepOnly reduces u to keep (kinds.Keep) and keptMetaFields; when keep is not one an
// unstructured object can hold, to keptMetaFields alone (fails closed, as keepTyped), and false
// (TestEveryCachedRowsKeepApplies).
func keepOnly(u *unstructured.Unstructured, keep kinds.Keep) bool {
	spec, _ := u.Object["spec"].(map[string]any)
	applied := true
	switch keep {
	case kinds.KeepBackendRefs:
		spec = map[string]any{"rules": backendRefsOf(spec)}
	case kinds.KeepSpec:
	default:
		spec, applied = nil, false
	}
	meta := map[string]any{}
	if m, ok := u.Object["metadata"].(map[string]any); ok {
		for _, f := range keptMetaFields {
			if v, ok := m[f.json]; ok {
				meta[f.json] = v
			}
		}
	}
	u.Object = map[string]any{"apiVersion": u.Object["apiVersion"], "kind": u.Object["kind"], "metadata": meta}
	if spec != nil {
		u.Object["spec"] = spec
	}
	return applied
}

// routeRefFields are the fields of a route's backendRef the rules read.
var routeRefFields = []string{"group", "kind", "name", "namespace", "port"}

// backendRefsOf is, rule by rule, spec.rules[].backendRefs[] of a route and the backendRef of its
// RequestMirror filters (filters[].requestMirror.backendRef), each with only routeRefFields.
func backendRefsOf(spec map[string]any) []any {
	rules, _ := spec["rules"].([]any)
	out := make([]any, 0, len(rules))
	for _, r := range rules {
		rule, _ := r.(map[string]any)
		refs, _ := rule["backendRefs"].([]any)
		kept := make([]any, 0, len(refs))
		for _, ref := range refs {
			kept = append(kept, refFields(ref))
		}
		k := map[string]any{"backendRefs": kept}
		filters, _ := rule["filters"].([]any)
		var mirrors []any
		for _, f := range filters {
			f, _ := f.(map[string]any)
			if m, ok := f["requestMirror"].(map[string]any); ok {
				mirrors = append(mirrors, map[string]any{"requestMirror": map[string]any{"backendRef": refFields(m["backendRef"])}})
			}
		}
		if mirrors != nil {
			k["filters"] = mirrors
		}
		out = append(out, k)
	}
	return out
}

func refFields(ref any) map[string]any {
	m, _ := ref.(map[string]any)
	k := map[string]any{}
	for _, f := range routeRefFields {
		if v, ok := m[f]; ok {
			k[f] = v
		}
	}
	return k
}

// KeepCertificates keeps of a Secret's data only what the rules and the CA sync read: tls.crt,
// ca.crt and caKey (the CA Secret's key). Everything else is dropped before it enters the cache,
// whatever its encoding (PEM or DER keys, PKCS#12 keystores, passwords); tls.key stays as an empty
// value so its presence can be checked, and whether it matched tls.crt is recorded in the cached
// copy's aigw.AnnotationKeyCheck (NIC refuses a Secret whose key does not match; the rules read
// the verdict).
func KeepCertificates(caKey string) func(any) (any, error) {
	keep := map[string]bool{corev1.TLSCertKey: true, corev1.ServiceAccountRootCAKey: true, caKey: true}
	return func(obj any) (any, error) {
		sec, ok := obj.(*corev1.Secret)
		if !ok {
			return obj, nil
		}
		sec.ManagedFields = nil
		sec.Annotations = rules.RecordKeyCheckIn(sec.Annotations, sec.Data[corev1.TLSCertKey], sec.Data[corev1.TLSPrivateKeyKey])
		_, hasKey := sec.Data[corev1.TLSPrivateKeyKey]
		for k := range sec.Data {
			if !keep[k] {
				delete(sec.Data, k)
			}
		}
		if hasKey {
			sec.Data[corev1.TLSPrivateKeyKey] = []byte{}
		}
		sec.StringData = nil
		return sec, nil
	}
}

// StripPrivateKeys is KeepCertificates with the default CA key (ca.crt).
func StripPrivateKeys(obj any) (any, error) {
	return KeepCertificates(corev1.ServiceAccountRootCAKey)(obj)
}
