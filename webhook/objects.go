package webhook

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/aigw-mtls/aigw-mtls-webhook/internal/aigw"
	"github.com/aigw-mtls/aigw-mtls-webhook/internal/rules"
)

// Cached kinds. Secrets and cert-manager Certificates are cached only when labelled; Policies
// are all cached (they are small, hold no key material, and a labelled VirtualServer may
// reference an unlabelled one).
var (
	policyGVK      = schema.GroupVersionKind{Group: "k8s.nginx.org", Version: "v1", Kind: "Policy"}
	certificateGVK = schema.GroupVersionKind{Group: "cert-manager.io", Version: "v1", Kind: "Certificate"}
)

func newCachedObject(kind string) client.Object {
	switch kind {
	case "Secret":
		return &corev1.Secret{}
	case "ConfigMap":
		return &corev1.ConfigMap{}
	case "BackendTLSPolicy":
		u := &unstructured.Unstructured{}
		u.SetGroupVersionKind(backendTLSPolicyGVK)
		return u
	case "Policy":
		u := &unstructured.Unstructured{}
		u.SetGroupVersionKind(policyGVK)
		return u
	case "Certificate":
		u := &unstructured.Unstructured{}
		u.SetGroupVersionKind(certificateGVK)
		return u
	}
	return nil
}

func newCachedList(kind string) client.ObjectList {
	switch kind {
	case "Secret":
		return &corev1.SecretList{}
	case "ConfigMap":
		return &corev1.ConfigMapList{}
	case "BackendTLSPolicy":
		l := &unstructured.UnstructuredList{}
		l.SetGroupVersionKind(backendTLSPolicyGVK.GroupVersion().WithKind("BackendTLSPolicyList"))
		return l
	case "Policy", "Certificate":
		l := &unstructured.UnstructuredList{}
		gvk := policyGVK
		if kind == "Certificate" {
			gvk = certificateGVK
		}
		l.SetGroupVersionKind(gvk.GroupVersion().WithKind(gvk.Kind + "List"))
		return l
	}
	return nil
}

var cachedKinds = []string{"Secret", "Policy", "Certificate"}

// CacheOptions restricts the informer cache to what the webhook reads: labelled Secrets (only
// their certificates: KeepCertificates) in secretNamespaces (none given: every namespace), all
// Policies, labelled Certificates.
func CacheOptions(s aigw.Settings, secretNamespaces ...string) cache.Options {
	selected := labels.SelectorFromSet(labels.Set{s.SelectorKey: s.SelectorValue})
	secrets := cache.ByObject{Label: selected, Transform: KeepCertificates(s.CAKey)}
	if len(secretNamespaces) > 0 {
		secrets.Namespaces = map[string]cache.Config{}
		for _, ns := range secretNamespaces {
			secrets.Namespaces[ns] = cache.Config{}
		}
	}
	return cache.Options{
		ReaderFailOnMissingInformer: true,
		DefaultTransform:            cache.TransformStripManagedFields(),
		ByObject: map[client.Object]cache.ByObject{
			&corev1.Secret{}:               secrets,
			newCachedObject("Certificate"): {Label: selected},
		},
	}
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
