package checker

import (
	"context"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/aigw-mtls/aigw-mtls-webhook/patches"
)

// A labelled ConfigMap is either aigw's config, which the ConfigMap mutation judges and check
// reports under ConfigMaps, or a CA bundle, which both leave to the Gateway API side: the two
// decide it alike (aigw.Settings.IsCABundle) on every shape of data.
func TestMutationAndCheckAgreeOnWhatIsACABundle(t *testing.T) {
	settings := DefaultOptions().Settings
	for _, tc := range []struct {
		name       string
		data       map[string]string
		binaryData map[string][]byte
		caBundle   bool
	}{
		{"aigw config", map[string]string{"aigw.yaml": "server: {}\n"}, nil, false},
		{"ca.crt in data", map[string]string{"ca.crt": "pem"}, nil, true},
		{"ca.crt in binaryData", nil, map[string][]byte{"ca.crt": []byte("der")}, true},
		{"an empty ca.crt", map[string]string{"ca.crt": ""}, nil, true},
		{"aigw config beside ca.crt", map[string]string{"aigw.yaml": "server: {}\n", "ca.crt": "pem"}, nil, false},
		{"aigw config beside a binary ca.crt", map[string]string{"aigw.yaml": "server: {}\n"}, map[string][]byte{"ca.crt": []byte("der")}, false},
		{"neither", map[string]string{"other": "x"}, nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "cm", Namespace: "ai", Labels: map[string]string{"aigw": "mtls"}},
				Data: tc.data, BinaryData: tc.binaryData}
			if got := settings.IsCABundle(cm.Data, cm.BinaryData); got != tc.caBundle {
				t.Errorf("IsCABundle %v, want %v", got, tc.caBundle)
			}
			res, err := patches.PatchConfigMap(rawTyped(cm.DeepCopy(), "v1", "ConfigMap"), "ai", settings, nil)
			if err != nil {
				t.Fatal(err)
			}
			mutated := len(res.Patch()) > 0 || len(res.Findings) > 0 || len(res.Unwired) > 0
			c := fake.NewClientBuilder().WithScheme(coreScheme(t)).WithRESTMapper(restMapper()).WithObjects(cm).Build()
			r, err := Run(context.Background(), c, Options{Settings: settings, Namespace: "ai", Service: "aigw"})
			if err != nil {
				t.Fatal(err)
			}
			checked := false
			for _, ch := range r.Checks {
				checked = checked || (ch.Section == SectionConfigMaps && ch.Object == "ConfigMap/ai/cm")
			}
			if mutated == tc.caBundle || checked == tc.caBundle {
				t.Errorf("CA bundle %v: the mutation judged it %v, check reported it under ConfigMaps %v", tc.caBundle, mutated, checked)
			}
		})
	}
}
