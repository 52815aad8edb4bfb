package podengine

import (
	"context"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/aigw-mtls/aigw-mtls-webhook/internal/aigw"
)

// With podInjection.engine=policy and every webhook replica down (the chart's webhook
// configurations point where nothing listens, fail closed), a labelled pod is still created, and
// wired; a labelled ConfigMap, which only the webhook handles, is refused: the webhook is down.
func TestPodsAreWiredWithEveryReplicaDown(t *testing.T) {
	ctx := context.Background()
	s := aigw.DefaultSettings()
	objs := renderPolicyEngine(t, chartValues(s)...)
	if err := pointAtNothing(ctx, objs); err != nil {
		t.Fatal(err)
	}
	applyPodPolicies(ctx, t, objs)
	defer removeAll(ctx, t, objs, s)
	waitInPath(ctx, t, s)

	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "aigw-while-down", Namespace: ns, Labels: map[string]string{s.SelectorKey: s.SelectorValue}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "aigw", Image: "aigw:v1"}}}}
	if err := env.Client.Create(ctx, pod); err != nil {
		t.Fatalf("labelled pod create with every replica down: %v", err)
	}
	defer func() { _ = env.Client.Delete(ctx, pod) }()
	if got := pod.Annotations[aigw.AnnotationInjected]; got != "container=aigw,ca-secret=internal-ca,server-tls-secret=aigw-server-tls" || len(pod.Spec.Volumes) != 2 ||
		len(pod.Spec.Containers[0].VolumeMounts) != 2 || !pod.Spec.Containers[0].VolumeMounts[0].ReadOnly {
		t.Errorf("pod not wired: record %q, volumes %+v, mounts %+v", got, pod.Spec.Volumes, pod.Spec.Containers[0].VolumeMounts)
	}

	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "aigw-config", Namespace: ns, Labels: map[string]string{s.SelectorKey: s.SelectorValue}}}
	err := env.Client.Create(ctx, cm, &client.CreateOptions{DryRun: []string{metav1.DryRunAll}})
	if err == nil || !strings.Contains(err.Error(), "configmaps.mtls.aigw.io") {
		t.Errorf("labelled ConfigMap create: %v; want the unreachable webhook configmaps.mtls.aigw.io to refuse it (the replicas are down)", err)
	}
}
