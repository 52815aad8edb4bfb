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
	"sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/aigw-mtls/aigw-mtls-webhook/internal/certs"
)

// caConfigMapKey is the key NGF reads a CA from (internal/controller/state/resolver/configmaps.go).
const caConfigMapKey = "ca.crt"

// syncConfigMap keeps the ConfigMap named Settings.CASecret (key ca.crt) equal to the CA bundle,
// built as the Secret's: the source's CAs and the previous CAs the sync wrote (own), each kept
// until it expires or dropPrevious. A ConfigMap it does not own is left alone.
// It carries the selector label, so the webhook's cache holds it; the ConfigMap mutation leaves
// a CA bundle alone.
func (r *CASync) syncConfigMap(ctx context.Context, src *corev1.Secret, current []byte, own map[string]bool, dropPrevious bool) error {
	logger := log.FromContext(ctx)
	name := r.Settings.CASecret
	var cm corev1.ConfigMap
	err := r.API.Get(ctx, types.NamespacedName{Namespace: src.Namespace, Name: name}, &cm)
	exists := err == nil
	if err != nil && !apierrors.IsNotFound(err) {
		return err
	}
	if exists && cm.Annotations[AnnotationCASyncSource] != r.Source {
		caSyncOutcomes.WithLabelValues("unowned").Inc()
		r.Events.Eventf(src, nil, corev1.EventTypeWarning, "CAConfigMapNotOwned", "Sync",
			"ConfigMap %s/%s exists and was not created by the CA sync; it is left alone. Delete it (or annotate it %s=%s) to let the CA sync manage it",
			src.Namespace, name, AnnotationCASyncSource, r.Source)
		return nil
	}
	now := time.Now
	if r.Now != nil {
		now = r.Now
	}
	b, err := certs.CABundle(current, []byte(cm.Data[caConfigMapKey]), own, now(), dropPrevious)
	bundle := b.PEM
	if err != nil {
		return nil // the Secret's sync reports the unreadable source
	}
	if exists && bytes.Equal([]byte(cm.Data[caConfigMapKey]), bundle) && cm.Labels[r.Settings.SelectorKey] == r.Settings.SelectorValue {
		return nil
	}
	owner := []metav1.OwnerReference{{APIVersion: "v1", Kind: "Secret", Name: src.Name, UID: src.UID}}
	if !exists {
		cm = corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: src.Namespace}}
	}
	cm.Labels = mergeMaps(cm.Labels, map[string]string{r.Settings.SelectorKey: r.Settings.SelectorValue})
	cm.Annotations = mergeMaps(cm.Annotations, map[string]string{AnnotationCASyncSource: r.Source})
	cm.OwnerReferences = owner
	cm.Data = map[string]string{caConfigMapKey: string(bundle)}
	cm.BinaryData = nil
	if exists {
		err = r.Client.Update(ctx, &cm)
	} else {
		err = r.Client.Create(ctx, &cm)
	}
	if err != nil {
		caSyncOutcomes.WithLabelValues("error").Inc()
		return fmt.Errorf("writing ConfigMap %s/%s: %w", src.Namespace, name, err)
	}
	r.reportLeftOut(src, "ConfigMap", b, dropPrevious)
	r.Events.Eventf(src, nil, corev1.EventTypeNormal, "CASynced", "Sync", "ConfigMap %s/%s (ca.crt) now holds the CA of %s", src.Namespace, name, r.Source)
	logger.Info("synced the CA ConfigMap", "configmap", name)
	return nil
}
