package e2e

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

func TestSeedConfigMapComesBackWithTLSPaths(t *testing.T) {
	ctx := context.Background()
	var cm corev1.ConfigMap
	sample(t, "aigw-config.yaml", &cm)
	if err := env.Client.Create(ctx, &cm); err != nil {
		t.Fatal(err)
	}
	var got corev1.ConfigMap
	if err := env.Client.Get(ctx, client.ObjectKeyFromObject(&cm), &got); err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile(filepath.Join("testdata", "aigw-config.injected.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if got.Data["aigw.yaml"] != string(want) {
		t.Errorf("aigw.yaml read back:\n%s\nwant:\n%s", got.Data["aigw.yaml"], want)
	}
	if got.Annotations["mtls.aigw.io/injected"] == "" {
		t.Error("annotation mtls.aigw.io/injected missing")
	}

	// An UPDATE that keeps the config yields no change; one that breaks the TLS paths is mended.
	got.Data["aigw.yaml"] = strings.Replace(got.Data["aigw.yaml"], "serverCertPath: /tls/server.crt", "serverCertPath: /wrong.crt", 1)
	if err := env.Client.Update(ctx, &got); err != nil {
		t.Fatal(err)
	}
	if got.Data["aigw.yaml"] != string(want) {
		t.Errorf("UPDATE was not mended:\n%s", got.Data["aigw.yaml"])
	}
	rv := got.ResourceVersion
	if err := env.Client.Update(ctx, &got); err != nil {
		t.Fatal(err)
	}
	if got.ResourceVersion != rv {
		t.Errorf("an UPDATE of the mutated ConfigMap changed it (resourceVersion %s → %s)", rv, got.ResourceVersion)
	}
}

func TestUnlabelledConfigMapIsUntouched(t *testing.T) {
	ctx := context.Background()
	cm := &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: "plain-config", Namespace: ns},
		Data:       map[string]string{"aigw.yaml": "server:\n  address: :4141\n"},
	}
	if err := env.Client.Create(ctx, cm); err != nil {
		t.Fatal(err)
	}
	if cm.Data["aigw.yaml"] != "server:\n  address: :4141\n" || cm.Annotations != nil {
		t.Errorf("unlabelled ConfigMap changed: %v %v", cm.Data, cm.Annotations)
	}
}

func TestConfigMapDryRunIsMutated(t *testing.T) {
	ctx := context.Background()
	cm := &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: "dry-config", Namespace: ns, Labels: map[string]string{"aigw": "mtls"}},
		Data:       map[string]string{"aigw.yaml": "server:\n  address: :4141\n"},
	}
	if err := env.Client.Create(ctx, cm, client.DryRunAll); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(cm.Data["aigw.yaml"], "clientCertPath: /etc/internal-ca/ca.crt") {
		t.Errorf("dry-run response not mutated: %q", cm.Data["aigw.yaml"])
	}
	if err := env.Client.Get(ctx, client.ObjectKeyFromObject(cm), &corev1.ConfigMap{}); !apierrors.IsNotFound(err) {
		t.Errorf("dry-run persisted the ConfigMap: %v", err)
	}
}

func TestBrokenConfigIsDeniedWithItsLine(t *testing.T) {
	cm := &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: "broken-config", Namespace: ns, Labels: map[string]string{"aigw": "mtls"}},
		Data:       map[string]string{"aigw.yaml": "version: 1\nserver:\n  address: :4141\n   tls: [\n"},
	}
	err := env.Client.Create(context.Background(), cm)
	if err == nil || !strings.Contains(err.Error(), "ConfigMap/ai-gateway/broken-config: [CONFIGMAP_YAML_INVALID] data[aigw.yaml]") || !strings.Contains(err.Error(), "line 4") {
		t.Errorf("want a denial naming data[aigw.yaml] and line 4, got %v", err)
	}
}
