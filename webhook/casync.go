package webhook

import (
	"bytes"
	"context"
	"crypto/x509"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
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

const (
	// AnnotationCASyncSource marks the nginx.org/ca Secrets the CA sync owns.
	AnnotationCASyncSource = "mtls.aigw.io/ca-sync-source"
	// AnnotationCASyncFingerprints lists (comma separated) the SHA-256 fingerprints of the
	// certificates the CA sync wrote into its Secret: its record across restarts.
	AnnotationCASyncFingerprints = "mtls.aigw.io/ca-sync-fingerprints"
	// AnnotationCASyncDropPrevious "true" on the CA sync's Secret drops every previous CA at the
	// next sync (a compromised CA); the sync removes the annotation with that write.
	AnnotationCASyncDropPrevious = "mtls.aigw.io/ca-sync-drop-previous"
)

// CASync keeps the nginx.org/ca Secret NIC needs (Settings.CASecret, key ca.crt) equal to the CA
// cert-manager issued into Source (a kubernetes.io/tls Secret, labelled with the selector), in
// each of Namespaces where Source exists. When the CA rotates, the bundle holds the old CA and the
// new until the old one expires. A target Secret it does not own is never overwritten.
//
// Provenance: the bundle holds the source's current CAs and the previous CAs the sync itself
// wrote, nothing else (certs.CABundle). What it wrote is recorded in memory, per namespace; the
// record is seeded once per process from AnnotationCASyncFingerprints on its own Secret (so a
// restart keeps the overlap) and from then on only the sync changes it: a certificate added to the
// Secret, with or without its fingerprint in the annotation, is removed at the next sync. Only an
// edit of both while no replica runs the sync (between a leader's end and its successor's first
// sync of the namespace) survives; the drop-previous annotation removes it.
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
	// Namespaces are where the sync runs; empty or "*": every namespace.
	Namespaces []string

	mu      sync.Mutex
	written map[string]map[string]bool // namespace → fingerprints of what the sync wrote there
}

// inNamespaces says whether namespace is one of namespaces (empty or "*": all of them).
func inNamespaces(namespaces []string, namespace string) bool {
	return len(namespaces) == 0 || slices.Contains(namespaces, "*") || slices.Contains(namespaces, namespace)
}

// controlledBy says whether refs name the Secret name with uid as their controller.
func controlledBy(refs []metav1.OwnerReference, name string, uid types.UID) bool {
	for _, o := range refs {
		if o.APIVersion == "v1" && o.Kind == "Secret" && o.Name == name && o.UID == uid && o.Controller != nil && *o.Controller {
			return true
		}
	}
	return false
}

// maxRecordedFingerprints bounds what is read from a hand-editable annotation: the current CAs
// and MaxPreviousCAs previous ones, with room for a source holding a few CA certificates.
const maxRecordedFingerprints = 4 * certs.MaxPreviousCAs

// record returns what the sync wrote in namespace, seeded from the annotation of target (its own
// Secret, nil when there is none) the first time.
func (r *CASync) record(namespace string, target *corev1.Secret) map[string]bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if own, ok := r.written[namespace]; ok {
		return own
	}
	own := map[string]bool{}
	if target != nil {
		for i, fp := range strings.Split(target.Annotations[AnnotationCASyncFingerprints], ",") {
			if i == maxRecordedFingerprints {
				break
			}
			if fp = strings.TrimSpace(fp); fp != "" {
				own[fp] = true
			}
		}
	}
	if r.written == nil {
		r.written = map[string]map[string]bool{}
	}
	r.written[namespace] = own
	return own
}

// remember replaces the record of namespace with what the sync just wrote (nil: forget it).
func (r *CASync) remember(namespace string, fingerprints []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if fingerprints == nil {
		delete(r.written, namespace)
		return
	}
	own := map[string]bool{}
	for _, fp := range fingerprints {
		own[fp] = true
	}
	if r.written == nil {
		r.written = map[string]map[string]bool{}
	}
	r.written[namespace] = own
}

func (r *CASync) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	if !inNamespaces(r.Namespaces, req.Namespace) {
		return reconcile.Result{}, nil
	}
	logger := log.FromContext(ctx).WithValues("namespace", req.Namespace, "source", r.Source, "target", r.Settings.CASecret)
	// The target is read whole from the API server (a hand-made one may hold anything): client-go
	// logs response bodies at high verbosity, so the read runs with a logger that writes nothing.
	quiet := log.IntoContext(ctx, logger.WithSink(nil))
	var src corev1.Secret
	if err := r.Cache.Get(ctx, types.NamespacedName{Namespace: req.Namespace, Name: r.Source}, &src); err != nil {
		if apierrors.IsNotFound(err) {
			r.remember(req.Namespace, nil)
		}
		return reconcile.Result{}, client.IgnoreNotFound(err)
	}
	current := src.Data[corev1.TLSCertKey]
	if len(current) == 0 {
		current = src.Data["ca.crt"]
	}
	var target corev1.Secret
	err := r.API.Get(quiet, types.NamespacedName{Namespace: req.Namespace, Name: r.Settings.CASecret}, &target)
	exists := err == nil
	if err != nil && !apierrors.IsNotFound(err) {
		return reconcile.Result{}, err
	}
	owned := exists && target.Annotations[AnnotationCASyncSource] == r.Source
	var own map[string]bool
	if owned {
		own = r.record(req.Namespace, &target)
	} else {
		own = r.record(req.Namespace, nil)
	}
	dropPrevious := owned && target.Annotations[AnnotationCASyncDropPrevious] == "true"
	if r.ConfigMap {
		if err := r.syncConfigMap(ctx, &src, current, own, dropPrevious); err != nil {
			return reconcile.Result{}, err
		}
	}
	if exists && !owned {
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
	b, err := certs.CABundle(current, target.Data[r.Settings.CAKey], own, now(), dropPrevious)
	if err != nil {
		caSyncOutcomes.WithLabelValues("error").Inc()
		r.Events.Eventf(&src, nil, corev1.EventTypeWarning, "CASourceUnreadable", "Sync", "Secret %s/%s: %v", req.Namespace, r.Source, err)
		return reconcile.Result{}, nil
	}
	result := reconcile.Result{}
	if !b.Next.IsZero() {
		result.RequeueAfter = b.Next.Sub(now()) + time.Second
	}
	fingerprints := strings.Join(b.Fingerprints, ",")
	owner := metav1.OwnerReference{APIVersion: "v1", Kind: "Secret", Name: src.Name, UID: src.UID, Controller: ptr.To(true)}
	if exists && target.Type == "nginx.org/ca" && bytes.Equal(target.Data[r.Settings.CAKey], b.PEM) &&
		target.Annotations[AnnotationCASyncFingerprints] == fingerprints && !dropPrevious &&
		len(target.OwnerReferences) == 1 && controlledBy(target.OwnerReferences, src.Name, src.UID) {
		r.remember(req.Namespace, b.Fingerprints)
		return result, nil
	}
	desired := corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{
			Name:            r.Settings.CASecret,
			Namespace:       req.Namespace,
			Labels:          map[string]string{r.Settings.SelectorKey: r.Settings.SelectorValue},
			Annotations:     map[string]string{AnnotationCASyncSource: r.Source, AnnotationCASyncFingerprints: fingerprints},
			OwnerReferences: []metav1.OwnerReference{owner},
		},
		Type: "nginx.org/ca",
		Data: map[string][]byte{r.Settings.CAKey: b.PEM},
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
		delete(target.Annotations, AnnotationCASyncDropPrevious)
		target.OwnerReferences = desired.OwnerReferences
		target.Data = desired.Data
		err = r.Client.Update(ctx, &target)
	}
	if err != nil {
		caSyncOutcomes.WithLabelValues("error").Inc()
		return reconcile.Result{}, fmt.Errorf("writing Secret %s/%s: %w", req.Namespace, r.Settings.CASecret, err)
	}
	r.remember(req.Namespace, b.Fingerprints)
	caSyncOutcomes.WithLabelValues("synced").Inc()
	r.reportLeftOut(&src, "Secret", b, dropPrevious)
	r.Events.Eventf(&src, nil, corev1.EventTypeNormal, "CASynced", "Sync", "Secret %s/%s (nginx.org/ca) now holds the CA of %s", req.Namespace, r.Settings.CASecret, r.Source)
	logger.Info("synced the CA bundle")
	return result, nil
}

// maxNamedCerts bounds how many certificates one Event names (a hand-edited bundle may hold many).
const maxNamedCerts = 5

// describeCerts names up to maxNamedCerts certificates, with how many more there are.
func describeCerts(cs []*x509.Certificate) string {
	var parts []string
	for i, c := range cs {
		if i == maxNamedCerts {
			parts = append(parts, fmt.Sprintf("and %d more", len(cs)-i))
			break
		}
		parts = append(parts, fmt.Sprintf("%s (sha256 %s, valid until %s)", certs.Subject(c), certs.Fingerprint(c), c.NotAfter.UTC().Format(time.RFC3339)))
	}
	return strings.Join(parts, "; ")
}

// reportLeftOut tells what a write removed from the bundle of kind (Secret or ConfigMap) and why:
// one Event per reason.
func (r *CASync) reportLeftOut(src *corev1.Secret, kind string, b certs.Bundle, dropPrevious bool) {
	ref := src.Namespace + "/" + r.Settings.CASecret
	if len(b.Foreign) > 0 {
		r.Events.Eventf(src, nil, corev1.EventTypeWarning, "CAForeignRemoved", "Sync",
			"%s %s key %s: expected only CAs the CA sync wrote from Secret %s, found %d it did not write: %s. Removed: nginx no longer trusts them. Fix: to trust a CA, issue it into %s",
			kind, ref, r.Settings.CAKey, r.Source, len(b.Foreign), describeCerts(b.Foreign), r.Source)
	}
	if len(b.Dropped) > 0 {
		why := fmt.Sprintf("more than %d previous CAs (the oldest go first)", certs.MaxPreviousCAs)
		if dropPrevious {
			why = "annotation " + AnnotationCASyncDropPrevious + "=true"
		}
		r.Events.Eventf(src, nil, corev1.EventTypeNormal, "CAPreviousDropped", "Sync",
			"%s %s: dropped %d previous CA(s) before their expiry, by %s: %s. Certificates they issued no longer verify",
			kind, ref, len(b.Dropped), why, describeCerts(b.Dropped))
	}
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
// targets it maintains (labelled, so all are in the cache).
func (r *CASync) SetupWithManager(mgr ctrl.Manager) error {
	toSource := handler.EnqueueRequestsFromMapFunc(func(_ context.Context, obj client.Object) []reconcile.Request {
		if obj.GetName() != r.Source && obj.GetName() != r.Settings.CASecret || !inNamespaces(r.Namespaces, obj.GetNamespace()) {
			return nil
		}
		return []reconcile.Request{{NamespacedName: types.NamespacedName{Namespace: obj.GetNamespace(), Name: r.Source}}}
	})
	b := ctrl.NewControllerManagedBy(mgr).
		Named("ca-sync").
		Watches(&corev1.Secret{}, toSource, builder.WithPredicates(predicate.ResourceVersionChangedPredicate{}))
	if r.ConfigMap {
		// An edit of the ConfigMap alone (a CA added by hand) is undone at once, as the Secret's.
		b = b.Watches(&corev1.ConfigMap{}, toSource, builder.WithPredicates(predicate.ResourceVersionChangedPredicate{}))
	}
	return b.Complete(r)
}
