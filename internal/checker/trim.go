package checker

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// What check keeps of each object it lists: the fields the checks and rules read. The rest
// (managedFields, kubectl's last-applied copy, the data of unrelated Secrets) is dropped page by
// page, so check's memory grows with what it checks, not with what the cluster stores.

// annotationLastApplied is kubectl apply's copy of the whole object.
const annotationLastApplied = "kubectl.kubernetes.io/last-applied-configuration"

func trimMeta(m metav1.Object) {
	m.SetManagedFields(nil)
	if a := m.GetAnnotations(); a != nil {
		if _, ok := a[annotationLastApplied]; ok {
			delete(a, annotationLastApplied)
			m.SetAnnotations(a)
		}
	}
}

func trimUnstructured(u *unstructured.Unstructured) {
	trimMeta(u)
	trimStatus(u)
}

// secretKeys are the data keys the checks and rules read: certificates, the presence of private
// keys, the CA bundle under the configured key.
func (s *snapshot) trimSecret(sec *corev1.Secret) {
	trimMeta(sec)
	for k := range sec.Data {
		switch k {
		case corev1.TLSCertKey, corev1.TLSPrivateKeyKey, "ca.crt", s.o.Settings.CAKey:
		default:
			delete(sec.Data, k)
		}
	}
	sec.StringData = nil
}

// trimPod keeps a labelled pod whole but for its status (the mutation reads its spec and
// metadata) and of any other pod what checkServicePods reads: name, labels and phase.
func (s *snapshot) trimPod(p *corev1.Pod) {
	trimMeta(p)
	phase := p.Status.Phase
	p.Status = corev1.PodStatus{Phase: phase}
	if !s.selected(p.Labels) {
		p.Spec = corev1.PodSpec{}
		p.Annotations = nil
		p.OwnerReferences = nil
	}
}
