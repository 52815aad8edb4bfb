package webhook

import (
	"bytes"
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/recorder"

	"github.com/aigw-mtls/aigw-mtls-webhook/internal/aigw"
	"github.com/aigw-mtls/aigw-mtls-webhook/internal/certs"
)

// AnnotationCASyncSource marks the nginx.org/ca Secrets the CA sync owns.
const AnnotationCASyncSource = "mtls.aigw.io/ca-sync-source"

// CASync keeps the nginx.org/ca Secret NIC needs (Settings.CASecret, key ca.crt) equal to the CA
// cert-manager issued into Source (a kubernetes.io/tls Secret, labelled with the selector), in
// every namespace Source exists. When the CA rotates, the bundle holds the old CA and the new
// until the old one expires. A target Secret it does not own is never overwritten.
//
// The source is read from the informer cache, which holds its certificates but never its private
// key; only the target is read from the API server, by name.
type CASync struct {
	Client   client.Client // writes
	Cache    client.Reader // the source: labelled, so cached (without its private key)
	API      client.Reader // the target: a hand-made one may not carry the label the cache selects
	Source   string
	Settings aigw.Settings
	Events   recorder.EventRecorder
	Now      func() time.Time
	// ConfigMap also keeps a ConfigMap named Settings.CASecret with key ca.crt in step: the form
	// a Gateway API BackendTLSPolicy references (caCertificateRefs kind ConfigMap).
	ConfigMap bool
}

func (r *CASync) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	logger := log.FromContext(ctx).WithValues("namespace", req.Namespace, "source", r.Source, "target", r.Settings.CASecret)
	// The target is read whole from the API server (a hand-made one may hold anything): client-go
	// logs response bodies at high verbosity, so the read runs with a logger that writes nothing.
	quiet := log.IntoContext(ctx, logger.WithSink(nil))
	var src corev1.Secret
	if err := r.Cache.Get(ctx, types.NamespacedName{Namespace: req.Namespace, Name: r.Source}, &src); err != nil {
		return reconcile.Result{}, client.IgnoreNotFound(err)
	}
	current := src.Data[corev1.TLSCertKey]
	if len(current) == 0 {
		current = src.Data["ca.crt"]
	}
	if r.ConfigMap {
		if err := r.syncConfigMap(ctx, &src, current); err != nil {
			return reconcile.Result{}, err
		}
	}
	var target corev1.Secret
	err := r.API.Get(quiet, types.NamespacedName{Namespace: req.Namespace, Name: r.Settings.CASecret}, &target)
	exists := err == nil
	if err != nil && !apierrors.IsNotFound(err) {
		return reconcile.Result{}, err
	}
	if exists && target.Annotations[AnnotationCASyncSource] != r.Source {
		caSyncOutcomes.WithLabelValues("unowned").Inc()
		r.Events.Eventf(&src, nil, corev1.EventTypeWarning, "CASecretNotOwned", "Sync",
			"Secret %s/%s exists and was not created by the CA sync; it is left alone. Delete it (or annotate it %s=%s) to let the CA sync manage it",
			req.Namespace, r.Settings.CASecret, AnnotationCASyncSource, r.Source)
		logger.Info("target exists and is not owned; not overwriting")
		return reconcile.Result{}, nil
	}
	now := time.Now
	if r.Now != nil {
		now = r.Now
	}
	bundle, next, err := certs.CABundle(current, target.Data[r.Settings.CAKey], now())
	if err != nil {
		caSyncOutcomes.WithLabelValues("error").Inc()
		r.Events.Eventf(&src, nil, corev1.EventTypeWarning, "CASourceUnreadable", "Sync", "Secret %s/%s: %v", req.Namespace, r.Source, err)
		return reconcile.Result{}, nil
	}
	result := reconcile.Result{}
	if !next.IsZero() {
		result.RequeueAfter = next.Sub(now()) + time.Second
	}
	if exists && target.Type == "nginx.org/ca" && bytes.Equal(target.Data[r.Settings.CAKey], bundle) {
		return result, nil
	}
	desired := corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{
			Name:        r.Settings.CASecret,
			Namespace:   req.Namespace,
			Labels:      map[string]string{r.Settings.SelectorKey: r.Settings.SelectorValue},
			Annotations: map[string]string{AnnotationCASyncSource: r.Source},
			OwnerReferences: []metav1.OwnerReference{{
				APIVersion: "v1", Kind: "Secret", Name: src.Name, UID: src.UID,
			}},
		},
		Type: "nginx.org/ca",
		Data: map[string][]byte{r.Settings.CAKey: bundle},
	}
	switch {
	case !exists:
		err = r.Client.Create(ctx, &desired)
	case target.Type != desired.Type:
		// The type of a Secret cannot change: replace it.
		if err = r.Client.Delete(ctx, &target); err == nil {
			err = r.Client.Create(ctx, &desired)
		}
	default:
		target.Labels = mergeMaps(target.Labels, desired.Labels)
		target.Annotations = mergeMaps(target.Annotations, desired.Annotations)
		target.OwnerReferences = desired.OwnerReferences
		target.Data = desired.Data
		err = r.Client.Update(ctx, &target)
	}
	if err != nil {
		caSyncOutcomes.WithLabelValues("error").Inc()
		return reconcile.Result{}, fmt.Errorf("writing Secret %s/%s: %w", req.Namespace, r.Settings.CASecret, err)
	}
	caSyncOutcomes.WithLabelValues("synced").Inc()
	r.Events.Eventf(&src, nil, corev1.EventTypeNormal, "CASynced", "Sync", "Secret %s/%s (nginx.org/ca) now holds the CA of %s", req.Namespace, r.Settings.CASecret, r.Source)
	logger.Info("synced the CA bundle")
	return result, nil
}

func mergeMaps(a, b map[string]string) map[string]string {
	if a == nil {
		a = map[string]string{}
	}
	for k, v := range b {
		a[k] = v
	}
	return a
}

// SetupWithManager registers the CA sync: it reconciles on changes of the source Secret and of the
// target it maintains (labelled, so both are in the cache).
func (r *CASync) SetupWithManager(mgr ctrl.Manager) error {
	toSource := handler.EnqueueRequestsFromMapFunc(func(_ context.Context, obj client.Object) []reconcile.Request {
		if obj.GetName() != r.Source && obj.GetName() != r.Settings.CASecret {
			return nil
		}
		return []reconcile.Request{{NamespacedName: types.NamespacedName{Namespace: obj.GetNamespace(), Name: r.Source}}}
	})
	return ctrl.NewControllerManagedBy(mgr).
		Named("ca-sync").
		Watches(&corev1.Secret{}, toSource, builder.WithPredicates(predicate.ResourceVersionChangedPredicate{})).
		Complete(r)
}
