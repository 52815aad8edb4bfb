package podengine

import (
	"context"
	"fmt"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/aigw-mtls/aigw-mtls-webhook/internal/aigw"
)

// The policies' CEL loops over the pod's mounts and volumes within the API server's CEL cost limit
// for pods far larger than any aigw pod (docs/security.md, "Memory bounds"): 1000 volumes, each
// mounted at a 200-character path, or 300 whose paths need cleaning (a trailing slash: split and
// joined). Past the limit the policy fails and failurePolicy applies.
func TestPolicyCostOfLargePods(t *testing.T) {
	ctx := context.Background()
	s := aigw.DefaultSettings()
	objs := renderPolicyEngine(t, chartValues(s)...)
	applyPodPolicies(ctx, t, objs)
	defer removeAll(ctx, t, objs, s)
	waitInPath(ctx, t, s)

	for _, tc := range []struct {
		mounts int
		suffix string
	}{{1000, ""}, {300, "/"}} {
		pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "large", Namespace: ns, Labels: map[string]string{s.SelectorKey: s.SelectorValue}},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "aigw", Image: "aigw:v1"}}}}
		for i := range tc.mounts {
			name := fmt.Sprintf("v%d", i)
			pod.Spec.Volumes = append(pod.Spec.Volumes, corev1.Volume{Name: name, VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}})
			pod.Spec.Containers[0].VolumeMounts = append(pod.Spec.Containers[0].VolumeMounts,
				corev1.VolumeMount{Name: name, MountPath: "/" + strings.Repeat("d/", 100) + name + tc.suffix})
		}
		if err := env.Client.Create(ctx, pod, client.DryRunAll); err != nil {
			t.Errorf("a pod with %d mounts (paths ending %q): %v", tc.mounts, tc.suffix, err)
			continue
		}
		if pod.Annotations[aigw.AnnotationInjected] == "" || len(pod.Spec.Volumes) != tc.mounts+2 {
			t.Errorf("a pod with %d mounts is not wired: %d volumes, annotations %v", tc.mounts, len(pod.Spec.Volumes), pod.Annotations)
		}
	}
}
