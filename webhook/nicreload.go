package webhook

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/recorder"

	"github.com/aigw-mtls/aigw-mtls-webhook/internal/aigw"
)

// NICReload makes NGINX Ingress Controller reload nginx after the CA sync changed a CA bundle.
//
// NIC up to 5.5.4 (and 2026-lts-r1 to r4) with -ssl-dynamic-reload, its default, writes an
// updated nginx.org/ca Secret to disk but reloads nginx only when the generated configuration
// changed (internal/k8s/controller.go handleSecretUpdate, reloadIfUnchanged =
// !DynamicSSLReloadEnabled()), which a CA rotation does not do: nginx keeps the old
// proxy_ssl_trusted_certificate. Any change of NIC's main ConfigMap, an annotation included, is
// queued (internal/k8s/configmap.go createConfigMapHandlers: UpdateFunc compares the whole objects
// with reflect.DeepEqual) and always reloads (syncConfigMap → updateAllConfigs →
// internal/configs/configurator.go UpdateConfig → Reload(nginx.ReloadForOtherUpdate)).
//
// So once the digest of the bundles differs from aigw.AnnotationCABundle on that ConfigMap, and
// has stayed so for Delay (NIC must have written the Secret's file first), the annotation is set
// to the digest, with an Event. An unchanged bundle never touches the ConfigMap. Each annotation
// reloads every nginx worker of NIC (long streams are cut), so changes are coalesced: at most one
// annotation per MinInterval, the later changes folded into the next one.
//
// Only the bundles the CA sync owns count, and a tenant can forge neither half of that test:
//   - the Secret is in one of the CA sync's Namespaces, where the chart lets only the platform
//     (and the sync) write Secrets: whoever can write there could replace the source CA itself;
//   - its controller ownerReference names the source Secret with the UID the API server gave
//     the source of the Secret's own namespace (looked up there, as the garbage collector resolves
//     an ownerReference). Only the API server assigns UIDs, so a copy in a namespace without the
//     sync's source (annotations and ownerReference included) never matches. With the namespaces
//     open ("*"), a tenant who creates the source in their namespace gets a sync there, and its
//     changes count: MinInterval bounds them.
//
// The mtls.aigw.io/ca-sync-source annotation alone proves nothing: anyone who may write a Secret
// may set it.
type NICReload struct {
	Client    client.Client // patches the ConfigMap
	API       client.Reader // reads the ConfigMap (not cached: one object, RBAC limited to its name)
	Cache     client.Reader // the CA Secrets (labelled, so cached)
	ConfigMap types.NamespacedName
	Source    string // the CA sync's source: the Secrets it owns carry AnnotationCASyncSource=Source
	Settings  aigw.Settings
	Delay     time.Duration
	// MinInterval is the least time between two annotations (0: none).
	MinInterval time.Duration
	// Namespaces are the CA sync's (empty or "*": every namespace).
	Namespaces []string
	Events     recorder.EventRecorder
	Now        func() time.Time

	mu      sync.Mutex
	pending string    // a digest not yet written
	since   time.Time // when pending was first seen
	last    time.Time // when the ConfigMap was last annotated
}

func (r *NICReload) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

// bundles is the digest of every CA bundle the CA sync maintains, and their Secrets.
func (r *NICReload) bundles(ctx context.Context) (string, []string, error) {
	var l corev1.SecretList
	if err := r.Cache.List(ctx, &l, client.MatchingLabels{r.Settings.SelectorKey: r.Settings.SelectorValue}); err != nil {
		return "", nil, err
	}
	type bundle struct {
		ref  string
		data []byte
	}
	sources := map[string]types.UID{} // namespace → UID of the CA sync's source there
	for _, s := range l.Items {
		if s.Name == r.Source && inNamespaces(r.Namespaces, s.Namespace) {
			sources[s.Namespace] = s.UID
		}
	}
	var bs []bundle
	for _, s := range l.Items {
		uid, ok := sources[s.Namespace]
		if ok && s.Name == r.Settings.CASecret && s.Type == "nginx.org/ca" && s.Annotations[AnnotationCASyncSource] == r.Source &&
			controlledBy(s.OwnerReferences, r.Source, uid) {
			bs = append(bs, bundle{s.Namespace + "/" + s.Name, s.Data[r.Settings.CAKey]})
		}
	}
	if len(bs) == 0 {
		return "", nil, nil
	}
	sort.Slice(bs, func(i, j int) bool { return bs[i].ref < bs[j].ref })
	h := sha256.New()
	var refs []string
	for _, b := range bs {
		fmt.Fprintf(h, "%s\x00%d\x00", b.ref, len(b.data))
		h.Write(b.data)
		refs = append(refs, b.ref)
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil))[:32], refs, nil
}

func (r *NICReload) Reconcile(ctx context.Context, _ reconcile.Request) (reconcile.Result, error) {
	logger := log.FromContext(ctx).WithValues("configMap", r.ConfigMap.String())
	digest, refs, err := r.bundles(ctx)
	if err != nil || digest == "" {
		return reconcile.Result{}, err
	}
	var cm corev1.ConfigMap
	if err := r.API.Get(ctx, r.ConfigMap, &cm); err != nil {
		nicReloads.WithLabelValues("error").Inc()
		return reconcile.Result{}, fmt.Errorf("reading NGINX Ingress Controller's ConfigMap %s (value nicReload.configMap): %w", r.ConfigMap, err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if cm.Annotations[aigw.AnnotationCABundle] == digest {
		r.pending = ""
		return reconcile.Result{}, nil
	}
	now := r.now()
	if r.pending != digest {
		r.pending, r.since = digest, now
	}
	if wait := r.since.Add(r.Delay).Sub(now); wait > 0 {
		return reconcile.Result{RequeueAfter: wait}, nil
	}
	if wait := r.last.Add(r.MinInterval).Sub(now); !r.last.IsZero() && wait > 0 {
		nicReloads.WithLabelValues("coalesced").Inc()
		return reconcile.Result{RequeueAfter: wait}, nil
	}
	patch := client.MergeFrom(cm.DeepCopy())
	if cm.Annotations == nil {
		cm.Annotations = map[string]string{}
	}
	cm.Annotations[aigw.AnnotationCABundle] = digest
	if err := r.Client.Patch(ctx, &cm, patch); err != nil {
		nicReloads.WithLabelValues("error").Inc()
		return reconcile.Result{}, fmt.Errorf("annotating NGINX Ingress Controller's ConfigMap %s: %w", r.ConfigMap, err)
	}
	r.pending, r.last = "", now
	nicReloads.WithLabelValues("annotated").Inc()
	r.Events.Eventf(&cm, nil, corev1.EventTypeNormal, "CABundleChanged", "Reload",
		"set %s=%s so NGINX Ingress Controller reloads nginx and reads the CA bundle of Secret(s) %v (with -ssl-dynamic-reload it does not reload on a CA Secret update)",
		aigw.AnnotationCABundle, digest, refs)
	logger.Info("annotated NGINX Ingress Controller's ConfigMap after a CA bundle change", "digest", digest)
	return reconcile.Result{}, nil
}

// SetupWithManager runs the reload on changes of the CA sync's Secrets and sources (in its
// namespaces), one request for the one ConfigMap.
func (r *NICReload) SetupWithManager(mgr ctrl.Manager) error {
	toConfigMap := handler.EnqueueRequestsFromMapFunc(func(_ context.Context, obj client.Object) []reconcile.Request {
		if obj.GetName() != r.Settings.CASecret && obj.GetName() != r.Source || !inNamespaces(r.Namespaces, obj.GetNamespace()) {
			return nil
		}
		return []reconcile.Request{{NamespacedName: r.ConfigMap}}
	})
	return ctrl.NewControllerManagedBy(mgr).
		Named("nic-reload").
		Watches(&corev1.Secret{}, toConfigMap, builder.WithPredicates(predicate.ResourceVersionChangedPredicate{})).
		Complete(r)
}

// ParseConfigMapRef reads "namespace/name".
func ParseConfigMapRef(s string) (types.NamespacedName, error) {
	ns, name, ok := strings.Cut(s, "/")
	if !ok || ns == "" || name == "" || strings.Contains(name, "/") {
		return types.NamespacedName{}, fmt.Errorf("NGINX Ingress Controller's ConfigMap: expected namespace/name (as NIC's -nginx-configmaps), found %q", s)
	}
	return types.NamespacedName{Namespace: ns, Name: name}, nil
}

var nicReloads = prometheus.NewCounterVec(prometheus.CounterOpts{
	Name: "aigw_mtls_nic_reload_total",
	Help: "Annotations of NGINX Ingress Controller's ConfigMap after a CA bundle change, by outcome (annotated, coalesced: put off by the minimum interval, error).",
}, []string{"outcome"})

func init() { metrics.Registry.MustRegister(nicReloads) }

// setupRollouts registers the NIC reload and the restart on renewal when they are configured.
func setupRollouts(mgr ctrl.Manager, o Options, events recorder.EventRecorder) error {
	if o.NICConfigMap != "" {
		cm, err := ParseConfigMapRef(o.NICConfigMap)
		if err != nil {
			return err
		}
		if o.CASyncSource == "" {
			return fmt.Errorf("the NGINX Ingress Controller reload (ConfigMap %s) follows the CA sync, which is off (empty CA sync source)", cm)
		}
		r := &NICReload{Client: mgr.GetClient(), API: mgr.GetAPIReader(), Cache: mgr.GetCache(), ConfigMap: cm,
			Source: o.CASyncSource, Settings: o.Settings, Delay: o.NICReloadDelay, MinInterval: o.NICReloadMinInterval,
			Namespaces: o.CASyncNamespaces, Events: events}
		if err := r.SetupWithManager(mgr); err != nil {
			return err
		}
	}
	if len(o.RestartNamespaces) > 0 {
		r := &RestartOnRenewal{Client: mgr.GetClient(), Secrets: mgr.GetCache(), Namespaces: o.RestartNamespaces, Settings: o.Settings, Events: events}
		if err := r.SetupWithManager(mgr); err != nil {
			return err
		}
	}
	return nil
}
