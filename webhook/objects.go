package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync/atomic"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

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
	case "Policy":
		u := &unstructured.Unstructured{}
		u.SetGroupVersionKind(policyGVK)
		return u
	case "Certificate":
		u := &unstructured.Unstructured{}
		u.SetGroupVersionKind(certificateGVK)
		return u
	case "BackendTLSPolicy":
		u := &unstructured.Unstructured{}
		u.SetGroupVersionKind(backendTLSPolicyGVK)
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

// CacheOptions restricts the informer cache to what the webhook reads: labelled Secrets (without
// private keys), all Policies, labelled Certificates.
func CacheOptions(s aigw.Settings) cache.Options {
	selected := labels.SelectorFromSet(labels.Set{s.SelectorKey: s.SelectorValue})
	return cache.Options{
		ReaderFailOnMissingInformer: true,
		DefaultTransform:            cache.TransformStripManagedFields(),
		ByObject: map[client.Object]cache.ByObject{
			&corev1.Secret{}:               {Label: selected, Transform: StripPrivateKeys},
			newCachedObject("Certificate"): {Label: selected},
		},
	}
}

// StripPrivateKeys empties every private key of a Secret before it enters the cache: tls.key and
// any value holding a PEM private key. The keys stay (empty) so their presence can be checked, and
// whether tls.key matched tls.crt is recorded in the cached copy's aigw.AnnotationKeyCheck (NIC
// refuses a Secret whose key does not match; the rules read the verdict).
func StripPrivateKeys(obj any) (any, error) {
	sec, ok := obj.(*corev1.Secret)
	if !ok {
		return obj, nil
	}
	sec.ManagedFields = nil
	sec.Annotations = rules.RecordKeyCheckIn(sec.Annotations, sec.Data[corev1.TLSCertKey], sec.Data[corev1.TLSPrivateKeyKey])
	for k, v := range sec.Data {
		if k == corev1.TLSPrivateKeyKey || bytes.Contains(v, []byte("PRIVATE KEY")) {
			sec.Data[k] = []byte{}
		}
	}
	for k, v := range sec.StringData {
		if k == corev1.TLSPrivateKeyKey || bytes.Contains([]byte(v), []byte("PRIVATE KEY")) {
			sec.StringData[k] = ""
		}
	}
	return sec, nil
}

// cacheObjects serves objects.Objects from the informer cache; it never calls the API server.
type cacheObjects struct {
	reader cache.Cache
}

func (o cacheObjects) Get(kind, namespace, name string) ([]byte, bool) {
	obj := newCachedObject(kind)
	if obj == nil {
		return nil, false
	}
	if err := o.reader.Get(context.Background(), client.ObjectKey{Namespace: namespace, Name: name}, obj); err != nil {
		return nil, false
	}
	raw, err := json.Marshal(obj)
	return raw, err == nil
}

func (o cacheObjects) List(kind, namespace string) [][]byte {
	l := newCachedList(kind)
	if l == nil {
		return nil
	}
	if err := o.reader.List(context.Background(), l, client.InNamespace(namespace)); err != nil {
		return nil
	}
	var out [][]byte
	switch l := l.(type) {
	case *corev1.SecretList:
		for i := range l.Items {
			if raw, err := json.Marshal(&l.Items[i]); err == nil {
				out = append(out, raw)
			}
		}
	case *corev1.ConfigMapList:
		for i := range l.Items {
			if raw, err := json.Marshal(&l.Items[i]); err == nil {
				out = append(out, raw)
			}
		}
	case *unstructured.UnstructuredList:
		for i := range l.Items {
			if raw, err := json.Marshal(l.Items[i].Object); err == nil {
				out = append(out, raw)
			}
		}
	}
	return out
}

// startInformers starts the informers of the cached kinds and marks the cache synced. A kind whose
// CRD is not installed (no NIC, no cert-manager yet) is skipped with a log line; its lookups find
// nothing, so validations warn instead of refusing.
func startInformers(ctx context.Context, c cache.Cache, synced *atomic.Bool, extraKinds ...string) error {
	logger := log.FromContext(ctx)
	for _, kind := range append(cachedKinds, extraKinds...) {
		if _, err := c.GetInformer(ctx, newCachedObject(kind)); err != nil {
			if meta.IsNoMatchError(err) {
				logger.Info("kind not served by the API server; lookups of it find nothing", "kind", kind)
				continue
			}
			return fmt.Errorf("starting the %s informer: %w", kind, err)
		}
	}
	if !c.WaitForCacheSync(ctx) {
		return errors.New("informer cache did not sync")
	}
	synced.Store(true)
	logger.Info("informer cache synced")
	<-ctx.Done()
	return nil
}
