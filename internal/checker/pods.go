package checker

import (
	"fmt"
	"path"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/aigw-mtls/aigw-mtls-webhook/internal/aigw"
	"github.com/aigw-mtls/aigw-mtls-webhook/patches"
)

// checkPods: each labelled pod mounts the CA and the server certificate (admitting it again would
// add nothing), and every pod behind the aigw Service carries the label.
func checkPods(s *snapshot, ns string) []Check {
	l := newLines(SectionPods, ns)
	labelled := 0
	for i := range s.pods {
		p := &s.pods[i]
		if p.Namespace != ns || finished(p) || !s.selected(p.Labels) {
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
	res, err := patches.PatchPod(rawTyped(p, "v1", "Pod"), p.Namespace, set, nil)
	if err != nil {
		l.fail(obj, "cannot be read: "+err.Error(), "")
		return
	}
	if l.result(obj, res) && len(res.Conflicts()) > 0 {
		return
	}
	ca, tls := set.CASecret, set.ServerTLSSecret
	if v := p.Annotations[aigw.AnnotationCASecret]; v != "" {
		ca = v
	}
	if v := p.Annotations[aigw.AnnotationServerTLSSecret]; v != "" {
		tls = v
	}
	what := map[string]string{
		path.Clean(set.CAMountPath):        fmt.Sprintf("the CA Secret %s at %s", ca, set.CAMountPath),
		path.Clean(set.ServerTLSMountPath): fmt.Sprintf("the server TLS Secret %s at %s", tls, set.ServerTLSMountPath),
	}
	if ops := res.Wiring; len(ops) > 0 {
		var missing []string
		for _, op := range ops {
			for _, mp := range mountPaths(op.Value) {
				if w, ok := what[path.Clean(mp)]; ok {
					missing = append(missing, w)
				}
			}
		}
		if len(missing) == 0 {
			missing = []string{"its volumes"}
		}
		l.fail(obj, fmt.Sprintf("does not mount %s: it was created while the webhook was not in its admission path, and a pod's volumes cannot change",
			strings.Join(missing, " or ")),
			"delete the pod (or kubectl rollout restart its Deployment) so it is re-created through the webhook")
		return
	}
	l.ok(obj, fmt.Sprintf("mounts %s and %s", what[path.Clean(set.CAMountPath)], what[path.Clean(set.ServerTLSMountPath)]))
}

// mountPaths finds the mountPath of the volume mounts an operation adds (one mount, or a list).
func mountPaths(v any) []string {
	switch v := v.(type) {
	case map[string]any:
		if mp, ok := v["mountPath"].(string); ok {
			return []string{mp}
		}
	case []any:
		var out []string
		for _, x := range v {
			out = append(out, mountPaths(x)...)
		}
		return out
	}
	return nil
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
	for i := range s.pods {
		p := &s.pods[i]
		if p.Namespace != ns || finished(p) || !sel.Matches(labels.Set(p.Labels)) {
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
