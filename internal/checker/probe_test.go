package checker

import (
	"context"
	"encoding/json"
	"io"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/aigw-mtls/aigw-mtls-webhook/internal/rules"
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

// TestProbeLimitsPerNamespace: check -n NS --probe has one namespace in scope, which may take every
// target of --probe-max-targets (not a quarter of them).
func TestProbeLimitsPerNamespace(t *testing.T) {
	var ports []int64
	for i := range 20 {
		ports = append(ports, int64(8000+i))
	}
	c := fake.NewClientBuilder().WithScheme(coreScheme(t)).WithRESTMapper(restMapper()).
		WithObjects(probeVirtualServer("ai", "", ports...), probePolicy("ai")).Build()
	o := DefaultOptions()
	o.Probe.Enabled, o.Namespace = true, "ai"
	r, err := Run(context.Background(), c, o)
	if err != nil {
		t.Fatal(err)
	}
	probed := map[string]bool{}
	for _, ch := range r.Checks {
		if ch.Section == SectionProbe && ch.Object == "Policy/ai/aigw-mtls" {
			if ch.Rule != rules.ProbeNoReadyEndpoint.ID {
				t.Errorf("probe line %+v, want none but the probed Service ports", ch)
			}
			probed[strings.SplitN(ch.Message, ":", 2)[0]] = true
		}
	}
	if len(probed) != 20 {
		t.Errorf("probed %d Service ports of the one namespace in scope, want all 20", len(probed))
	}
}

// TestStreamRefusesNonPositiveProbeBounds: --probe with a bound of 0 or less is refused, as serve
// refuses it, before the cluster is read.
func TestStreamRefusesNonPositiveProbeBounds(t *testing.T) {
	for _, mod := range []func(*ProbeOptions){func(p *ProbeOptions) { p.MaxTargets = 0 }, func(p *ProbeOptions) { p.MaxTargets = -1 }, func(p *ProbeOptions) { p.MaxEndpoints = 0 }} {
		o := DefaultOptions()
		o.Probe.Enabled = true
		mod(&o.Probe)
		c := fake.NewClientBuilder().WithScheme(coreScheme(t)).WithRESTMapper(restMapper()).Build()
		if err := Stream(context.Background(), c, o, NewTextWriter(io.Discard)); err == nil || !strings.Contains(err.Error(), "must be positive") {
			t.Errorf("probe %+v: error %v, want the bounds refused", o.Probe, err)
		}
	}
}
