package checker

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/aigw-mtls/aigw-mtls-webhook/internal/rules"
	"github.com/aigw-mtls/aigw-mtls-webhook/patches"
)

// checkPods: each labelled pod mounts the CA and the server certificate (admitting it again would
// add nothing), and every pod behind the aigw Service carries the label.
func checkPods(s *snapshot, ns string) []Check {
	l := newLines(SectionPods, ns)
	labelled := 0
	for _, i := range s.in.pods[ns] {
		p := &s.pods[i]
		if finished(p) || !s.selected(p.Labels) {
			continue
		}
		labelled++
		s.checkLabelledPod(l, p)
	}
	s.checkServicePods(l, ns, labelled)
	return l.out
}

func finished(p *corev1.Pod) bool {
	return p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed
}

func (s *snapshot) checkLabelledPod(l *lines, p *corev1.Pod) {
	obj := ref("Pod", p.Namespace, p.Name)
	set := s.o.Settings
	raw := rawTyped(p, "v1", "Pod")
	res, err := patches.PatchPod(raw, p.Namespace, set, nil)
	if err != nil {
		l.fail(obj, "cannot be read: "+err.Error(), "")
		return
	}
	res.Findings = rules.Silence(raw, res.Findings)
	if l.result(obj, res) && len(res.Conflicts()) > 0 {
		return
	}
	if len(res.Unwired) > 0 {
		l.findings(obj, "", "", res.Unwired)
		return
	}
	ca, tls := patches.PodSecrets(set, p.Annotations)
	l.ok(obj, fmt.Sprintf("mounts the CA Secret %s at %s and the server TLS Secret %s at %s", ca, set.CAMountPath, tls, set.ServerTLSMountPath))
}

// checkServicePods: the pods the aigw Service sends traffic to all carry the selector label; an
// unlabelled one has no certificates mounted and fails NIC's mTLS handshake.
func (s *snapshot) checkServicePods(l *lines, ns string, labelled int) {
	obj := ref("Service", ns, s.o.Service)
	svc := s.service(ns, s.o.Service)
	switch {
	case svc == nil && labelled > 0:
		l.warn(obj, "not found: unlabelled pods behind the aigw Service cannot be found", "name the aigw Service with --service")
		return
	case svc == nil:
		return
	case len(svc.Spec.Selector) == 0:
		l.warn(obj, "has no selector: the pods behind it cannot be found", "")
		return
	}
	sel := labels.SelectorFromSet(svc.Spec.Selector)
	behind, unlabelled := 0, 0
	for _, i := range s.in.pods[ns] {
		p := &s.pods[i]
		if finished(p) || !sel.Matches(labels.Set(p.Labels)) {
			continue
		}
		behind++
		if !s.selected(p.Labels) {
			unlabelled++
			l.fail(ref("Pod", ns, p.Name), fmt.Sprintf("is behind Service %s but not labelled %s: it has no CA or server certificate mounted and NIC's mTLS handshake with it fails",
				s.o.Service, s.selector()),
				fmt.Sprintf("add the label %s to the pod template (e.g. Deployment spec.template.metadata.labels) and roll it out", s.selector()))
		}
	}
	switch {
	case behind == 0:
		l.warn(obj, fmt.Sprintf("selects no pod (%s): NIC has no aigw endpoint to connect to", sel), "start aigw, or correct the Service's selector")
	case unlabelled == 0:
		l.ok(obj, fmt.Sprintf("all %d pod(s) behind it are labelled %s", behind, s.selector()))
	}
}
