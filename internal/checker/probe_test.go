package checker

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
)

// TestProbeSeesNoPrivateKey: the Secrets check --probe hands the probe (probeCluster) carry their
// certificates and no private key, whatever key names they use.
func TestProbeSeesNoPrivateKey(t *testing.T) {
	key := []byte("-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEI\n-----END EC PRIVATE KEY-----\n")
	crt := []byte("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n")
	secrets := []*corev1.Secret{
		{ObjectMeta: metav1.ObjectMeta{Name: "aigw-server-tls", Namespace: "ai", Labels: map[string]string{"aigw": "mtls"}}, Type: corev1.SecretTypeTLS,
			Data: map[string][]byte{"tls.crt": crt, "tls.key": key}},
		{ObjectMeta: metav1.ObjectMeta{Name: "internal-ca", Namespace: "ai"}, Type: "nginx.org/ca",
			Data: map[string][]byte{"ca.crt": crt, "ca.key": key}},
	}
	c := fake.NewClientBuilder().WithScheme(coreScheme(t)).WithRESTMapper(restMapper()).WithObjects(secrets[0], secrets[1]).Build()
	o := DefaultOptions()
	o.Probe.Enabled = true
	s, err := collect(context.Background(), c, o)
	if err != nil {
		t.Fatal(err)
	}
	pc := probeCluster{s}
	raws := pc.List("Secret", "ai")
	if len(raws) != 2 {
		t.Fatalf("the probe sees %d Secrets, want 2", len(raws))
	}
	for _, raw := range raws {
		var sec corev1.Secret
		if err := json.Unmarshal(raw, &sec); err != nil {
			t.Fatal(err)
		}
		for k, v := range sec.Data {
			if strings.Contains(string(v), "PRIVATE KEY") || strings.Contains(string(v), "MHcCAQEEI") {
				t.Errorf("the probe's Secret %s holds a private key under %s", sec.Name, k)
			}
		}
		if cert := sec.Data["tls.crt"]; sec.Name == "aigw-server-tls" && !strings.Contains(string(cert), "BEGIN CERTIFICATE") {
			t.Errorf("the probe's Secret %s lost its certificate: %q", sec.Name, cert)
		}
	}
}
