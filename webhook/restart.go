package webhook

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/recorder"
	"sigs.k8s.io/controller-runtime/pkg/source"

	"github.com/aigw-mtls/aigw-mtls-webhook/internal/aigw"
	"github.com/aigw-mtls/aigw-mtls-webhook/patches"
)

// RestartOnRenewal rolls out a Deployment annotated aigw.AnnotationRestartOnRenewal="true" when
// the certificates the webhook mounts into its pods change: the aigw server certificate
// (tls.crt) and the CA bundle (the CA key), as the pod mutation picks them (the pod template's
// mtls.aigw.io/server-tls-secret and mtls.aigw.io/ca-secret, else the settings). Whether aigw
// re-reads /tls by itself is not documented; a rollout under the Deployment's own strategy is
// certain to.
//
// The fingerprints are kept on the Deployment (aigw.AnnotationCertificates): first recorded on
// its metadata only (no rollout: the running pods mount the current certificates), then, when
// they differ, written to the pod template as well, which starts the rollout. A write of the same
// fingerprints never happens, so neither a loop nor a restart for an unchanged certificate.
type RestartOnRenewal struct {
	Client      client.Client // patches Deployments
	Deployments cache.Cache   // Deployments of Namespaces only (nil: the manager's cache)
	Secrets     client.Reader // the labelled Secrets (the manager's cache)
	Namespaces  []string
	Settings    aigw.Settings
	Events      recorder.EventRecorder
}

// secretsOf are the server TLS and CA Secrets the pod mutation mounts for this pod template.
func (r *RestartOnRenewal) secretsOf(d *appsv1.Deployment) (server, ca string) {
	ca, server = patches.PodSecrets(r.Settings, d.Spec.Template.Annotations)
	return server, ca
}

func fingerprint(data []byte) string {
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])[:16]
}

// fingerprints of the certificates mounted into d's pods; "" and what is missing while one of
// them is.
func (r *RestartOnRenewal) fingerprints(ctx context.Context, d *appsv1.Deployment) (string, string, error) {
	server, ca := r.secretsOf(d)
	var out string
	for _, s := range []struct{ name, key, label string }{{server, corev1.TLSCertKey, "server"}, {ca, r.Settings.CAKey, "ca"}} {
		var sec corev1.Secret
		if err := r.Secrets.Get(ctx, types.NamespacedName{Namespace: d.Namespace, Name: s.name}, &sec); err != nil {
			if client.IgnoreNotFound(err) != nil {
				return "", "", err
			}
			return "", fmt.Sprintf("Secret %s/%s labelled %s=%s", d.Namespace, s.name, r.Settings.SelectorKey, r.Settings.SelectorValue), nil
		}
		if len(sec.Data[s.key]) == 0 {
			return "", fmt.Sprintf("key %s in Secret %s/%s", s.key, d.Namespace, s.name), nil
		}
		if out != "" {
			out += ","
		}
		out += fmt.Sprintf("%s/%s=sha256:%s", s.label, s.name, fingerprint(sec.Data[s.key]))
	}
	return out, "", nil
}

func (r *RestartOnRenewal) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	var d appsv1.Deployment
	if err := r.Deployments.Get(ctx, req.NamespacedName, &d); err != nil {
		return reconcile.Result{}, client.IgnoreNotFound(err)
	}
	if d.Annotations[aigw.AnnotationRestartOnRenewal] != "true" || d.DeletionTimestamp != nil {
		return reconcile.Result{}, nil
	}
	current, missing, err := r.fingerprints(ctx, &d)
	if err != nil {
		return reconcile.Result{}, err
	}
	if missing != "" {
		r.Events.Eventf(&d, nil, corev1.EventTypeWarning, "CertificatesNotFound", "Restart",
			"%s=true: expected the %s the webhook mounts into its pods, found none; it is not restarted on renewal until it exists (annotations %s, %s pick other Secrets)",
			aigw.AnnotationRestartOnRenewal, missing, aigw.AnnotationServerTLSSecret, aigw.AnnotationCASecret)
		return reconcile.Result{}, nil
	}
	recorded := d.Spec.Template.Annotations[aigw.AnnotationCertificates]
	if recorded == "" {
		recorded = d.Annotations[aigw.AnnotationCertificates]
	}
	if recorded == current {
		return reconcile.Result{}, nil
	}
	patch := client.MergeFrom(d.DeepCopy())
	d.Annotations[aigw.AnnotationCertificates] = current
	rollout := recorded != ""
	if rollout {
		if d.Spec.Template.Annotations == nil {
			d.Spec.Template.Annotations = map[string]string{}
		}
		d.Spec.Template.Annotations[aigw.AnnotationCertificates] = current
	}
	if err := r.Client.Patch(ctx, &d, patch); err != nil {
		restarts.WithLabelValues("error").Inc()
		return reconcile.Result{}, fmt.Errorf("annotating Deployment %s: %w", req.NamespacedName, err)
	}
	logger := log.FromContext(ctx).WithValues("deployment", req.NamespacedName.String(), "certificates", current)
	if !rollout {
		logger.Info("recorded the certificates the pods mount")
		return reconcile.Result{}, nil
	}
	restarts.WithLabelValues("restarted").Inc()
	r.Events.Eventf(&d, nil, corev1.EventTypeNormal, "CertificatesRenewed", "Restart",
		"the mounted certificates changed (%s, was %s): pod template annotation %s updated, pods roll out under the Deployment's strategy",
		current, recorded, aigw.AnnotationCertificates)
	logger.Info("certificates changed; rolling out", "was", recorded)
	return reconcile.Result{}, nil
}

// SetupWithManager runs the restart on changes of annotated Deployments and of the Secrets they
// mount, reading Deployments from the manager's cache, which holds those of r.Namespaces only
// (cacheOptions: the RBAC the chart grants) unless r.Deployments is set.
func (r *RestartOnRenewal) SetupWithManager(mgr ctrl.Manager) error {
	namespaces := map[string]bool{}
	for _, ns := range r.Namespaces {
		namespaces[ns] = true
	}
	if r.Deployments == nil {
		r.Deployments = mgr.GetCache()
	}
	c := r.Deployments
	optedIn := predicate.NewTypedPredicateFuncs(func(d *appsv1.Deployment) bool {
		return d.Annotations[aigw.AnnotationRestartOnRenewal] == "true"
	})
	toDeployments := handler.EnqueueRequestsFromMapFunc(func(ctx context.Context, obj client.Object) []reconcile.Request {
		if !namespaces[obj.GetNamespace()] {
			return nil
		}
		var l appsv1.DeploymentList
		if err := c.List(ctx, &l, client.InNamespace(obj.GetNamespace())); err != nil {
			return nil
		}
		var out []reconcile.Request
		for i := range l.Items {
			d := &l.Items[i]
			if server, ca := r.secretsOf(d); d.Annotations[aigw.AnnotationRestartOnRenewal] == "true" && (obj.GetName() == server || obj.GetName() == ca) {
				out = append(out, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(d)})
			}
		}
		return out
	})
	return ctrl.NewControllerManagedBy(mgr).
		Named("restart-on-renewal").
		WatchesRawSource(source.Kind(c, &appsv1.Deployment{}, &handler.TypedEnqueueRequestForObject[*appsv1.Deployment]{}, optedIn, deploymentsIn(namespaces))).
		Watches(&corev1.Secret{}, toDeployments, builder.WithPredicates(predicate.ResourceVersionChangedPredicate{})).
		Complete(r)
}

// deploymentsIn keeps the Deployments of namespaces: the cache holds no other when built by
// cacheOptions, and a cache of another making must not widen the restart.
func deploymentsIn(namespaces map[string]bool) predicate.TypedPredicate[*appsv1.Deployment] {
	return predicate.NewTypedPredicateFuncs(func(d *appsv1.Deployment) bool { return namespaces[d.Namespace] })
}

var restarts = prometheus.NewCounterVec(prometheus.CounterOpts{
	Name: "aigw_mtls_restart_on_renewal_total",
	Help: "Rollouts of Deployments annotated mtls.aigw.io/restart-on-renewal after their certificates changed, by outcome (restarted, error).",
}, []string{"outcome"})

func init() { metrics.Registry.MustRegister(restarts) }
