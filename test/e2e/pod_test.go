package e2e

import (
	"context"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

func volumeByName(p *corev1.Pod, name string) *corev1.Volume {
	for i := range p.Spec.Volumes {
		if p.Spec.Volumes[i].Name == name {
			return &p.Spec.Volumes[i]
		}
	}
	return nil
}

func mountAt(c corev1.Container, path string) *corev1.VolumeMount {
	for i := range c.VolumeMounts {
		if c.VolumeMounts[i].MountPath == path {
			return &c.VolumeMounts[i]
		}
	}
	return nil
}

// assertInjected checks the mounts and the record the webhook promises on an aigw pod.
func assertInjected(t *testing.T, p *corev1.Pod) {
	t.Helper()
	ca := volumeByName(p, "internal-ca-volume")
	if ca == nil || ca.Secret == nil || ca.Secret.SecretName != "internal-ca" {
		t.Errorf("volume internal-ca-volume from Secret internal-ca: got %+v", ca)
	}
	tls := volumeByName(p, "aigw-server-tls")
	if tls == nil || tls.Secret == nil || tls.Secret.SecretName != "aigw-server-tls" || len(tls.Secret.Items) != 2 ||
		tls.Secret.Items[0] != (corev1.KeyToPath{Key: "tls.crt", Path: "server.crt"}) ||
		tls.Secret.Items[1] != (corev1.KeyToPath{Key: "tls.key", Path: "server.key"}) {
		t.Errorf("volume aigw-server-tls with items tls.crt→server.crt, tls.key→server.key: got %+v", tls)
	}
	c := p.Spec.Containers[0]
	if m := mountAt(c, "/etc/internal-ca"); m == nil || m.Name != "internal-ca-volume" || !m.ReadOnly {
		t.Errorf("read-only mount of internal-ca-volume at /etc/internal-ca: got %+v", m)
	}
	if m := mountAt(c, "/tls"); m == nil || m.Name != "aigw-server-tls" || !m.ReadOnly {
		t.Errorf("read-only mount of aigw-server-tls at /tls: got %+v", m)
	}
	if got := p.Annotations["mtls.aigw.io/injected"]; got != "container=aigw,ca-secret=internal-ca,server-tls-secret=aigw-server-tls" {
		t.Errorf("annotation mtls.aigw.io/injected: got %q", got)
	}
}

func TestSeedPodComesBackInjected(t *testing.T) {
	ctx := context.Background()
	var p corev1.Pod
	sample(t, "aigw-pod.yaml", &p)
	p.Name = "seed-aigw"
	if err := env.Client.Create(ctx, &p); err != nil {
		t.Fatal(err)
	}
	var got corev1.Pod
	if err := env.Client.Get(ctx, client.ObjectKeyFromObject(&p), &got); err != nil {
		t.Fatal(err)
	}
	assertInjected(t, &got)
	if v := volumeByName(&got, "config"); v == nil || v.ConfigMap == nil || v.ConfigMap.Name != "aigw-config" {
		t.Errorf("the pod's own config volume was lost: %+v", got.Spec.Volumes)
	}
	if m := mountAt(got.Spec.Containers[0], "/etc/aigw"); m == nil {
		t.Errorf("the pod's own config mount was lost: %+v", got.Spec.Containers[0].VolumeMounts)
	}

	// An UPDATE (a label edit) of the mutated pod goes through and changes no volume: a patch
	// on UPDATE would make the API server refuse it.
	got.Labels["tier"] = "gateway"
	if err := env.Client.Update(ctx, &got); err != nil {
		t.Fatalf("updating the mutated pod: %v", err)
	}
	var after corev1.Pod
	if err := env.Client.Get(ctx, client.ObjectKeyFromObject(&p), &after); err != nil {
		t.Fatal(err)
	}
	if len(after.Spec.Volumes) != len(got.Spec.Volumes) || after.Labels["tier"] != "gateway" {
		t.Errorf("update: volumes %d → %d, labels %v", len(got.Spec.Volumes), len(after.Spec.Volumes), after.Labels)
	}
}

func TestUnlabelledPodIsUntouched(t *testing.T) {
	ctx := context.Background()
	p := pod("plain", false)
	if err := env.Client.Create(ctx, p); err != nil {
		t.Fatal(err)
	}
	var got corev1.Pod
	if err := env.Client.Get(ctx, client.ObjectKeyFromObject(p), &got); err != nil {
		t.Fatal(err)
	}
	if len(got.Spec.Volumes) != 0 || len(got.Spec.Containers[0].VolumeMounts) != 0 || got.Annotations["mtls.aigw.io/injected"] != "" {
		t.Errorf("unlabelled pod was changed: volumes %v annotations %v", got.Spec.Volumes, got.Annotations)
	}
}

func TestServerSideDryRunIsMutated(t *testing.T) {
	ctx := context.Background()
	p := pod("dry-run", true)
	if err := env.Client.Create(ctx, p, client.DryRunAll); err != nil {
		t.Fatal(err)
	}
	assertInjected(t, p)
	err := env.Client.Get(ctx, client.ObjectKeyFromObject(p), &corev1.Pod{})
	if !apierrors.IsNotFound(err) {
		t.Errorf("a dry-run create must persist nothing; Get: %v", err)
	}
}

func TestPodGainingTheLabelIsWarnedNotPatched(t *testing.T) {
	ctx := context.Background()
	created, err := kube.CoreV1().Pods(ns).Create(ctx, pod("late-label", false), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	created.Labels["aigw"] = "mtls"
	mark := warnings.mark()
	updated, err := kube.CoreV1().Pods(ns).Update(ctx, created, metav1.UpdateOptions{})
	if err != nil {
		t.Fatalf("a label edit must never be refused: %v", err)
	}
	if len(updated.Spec.Volumes) != 0 {
		t.Errorf("an UPDATE was patched: %v", updated.Spec.Volumes)
	}
	if w := warnings.since(mark); !strings.Contains(w, "late-label") || !strings.Contains(w, "roll out") {
		t.Errorf("want a warning that the mounts come with the next rollout, got %q", w)
	}
}

func TestConflictingPodIsDenied(t *testing.T) {
	p := pod("conflict", true)
	p.Spec.Volumes = []corev1.Volume{{Name: "internal-ca-volume", VolumeSource: corev1.VolumeSource{
		ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "trust-bundle"}},
	}}}
	err := env.Client.Create(context.Background(), p)
	want := `Pod/ai-gateway/conflict: [POD_VOLUME_CONFLICT] spec.volumes[name=internal-ca-volume]: expected the CA Secret "internal-ca" with key ca.crt, found a volume of type configMap (aigw starts without the CA and server certificate: it cannot serve mTLS and nginx answers 502); fix: rename that volume, or remove it so the webhook can add its own`
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("want denial containing %q, got %v", want, err)
	}
}
