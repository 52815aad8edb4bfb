package check

import (
	"context"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/aigw-mtls/aigw-mtls-webhook/test/harness"
)

// Each breakage is built on a healthy scenario in its own namespace; check must print the specific
// ✗ lines, exit 1, and report errors only about the objects the breakage affects.
func TestEachBreakageIsReported(t *testing.T) {
	mutating := "MutatingWebhookConfiguration/" + configName
	validating := "ValidatingWebhookConfiguration/" + configName
	for _, tc := range []struct {
		name    string
		ns      string
		opts    []scenarioOption
		breakIt func(t *testing.T, sc *scenario)
		// want are ✗ lines of the text output (a prefix of the line, after the indentation);
		// {ns} stands for the namespace.
		want []string
		// notWant must not appear in the text output.
		notWant []string
		// failing are the objects allowed to have errors (the JSON output); {ns} as above.
		failing []string
	}{
		{
			name: "internal-ca of the wrong type", ns: "broken-ca-type",
			opts: []scenarioOption{func(c *scenarioConfig) {
				c.internalCA = func(ca *harness.Issued) *corev1.Secret {
					return &corev1.Secret{
						ObjectMeta: metav1.ObjectMeta{Name: "internal-ca", Labels: map[string]string{"aigw": "mtls"}},
						Type:       corev1.SecretTypeTLS,
						Data:       map[string][]byte{"tls.crt": ca.CertPEM, "tls.key": ca.KeyPEM, "ca.crt": ca.CertPEM},
					}
				}
			}},
			want: []string{
				"✗ Secret/{ns}/internal-ca: type kubernetes.io/tls, expected nginx.org/ca\n        fix: NIC accepts only type nginx.org/ca for trustedCertSecret",
			},
			failing: []string{"Secret/{ns}/internal-ca", "Policy/{ns}/aigw-mtls", "VirtualServer/{ns}/aigw-mtls", "Ingress/{ns}/aigw-ingress"},
		},
		{
			name: "server certificate from another CA", ns: "broken-server-ca",
			breakIt: func(t *testing.T, sc *scenario) {
				other := sc.caCrt.DeepCopy()
				other.Spec.CommonName = "Other CA"
				server := issue(t, sc.serverCrt, issue(t, other, nil))
				replaceSecretData(t, sc.ns, "aigw-server-tls", server.Secret(sc.serverCrt).Data)
			},
			want: []string{
				"✗ Secret/{ns}/aigw-server-tls: [SERVER_CERT_UNTRUSTED] data.tls.crt: expected a server certificate that chains to the CA in internal-ca (CN=Internal CA) as nginx's OpenSSL verifies it, found DNS:aigw.{ns}.svc.cluster.local,aigw.{ns}.svc in Secret {ns}/aigw-server-tls issued by CN=Other CA",
				"✗ Policy/{ns}/aigw-mtls: [SERVER_CERT_UNTRUSTED] spec.egressMTLS (aigw server certificate): expected a server certificate that chains to the CA in trustedCertSecret internal-ca",
				// The VirtualServer's rule judges the Policy it references, as admission does.
				"spec.routes[0].policies[0] references Policy/{ns}/aigw-mtls: spec.egressMTLS (aigw server certificate): expected a server certificate that chains to the CA in trustedCertSecret internal-ca",
			},
			failing: []string{"Secret/{ns}/aigw-server-tls", "Policy/{ns}/aigw-mtls", "VirtualServer/{ns}/aigw-mtls", "Ingress/{ns}/aigw-ingress"},
		},
		{
			name: "expired client certificate", ns: "broken-client-expired",
			opts: []scenarioOption{func(c *scenarioConfig) { c.backdateCA = true }},
			breakIt: func(t *testing.T, sc *scenario) {
				crt, key := expiredClientCert(t, sc.ca, "nginx-ingress-client")
				replaceSecretData(t, sc.ns, "aigw-nic-client-tls", map[string][]byte{"tls.crt": crt, "tls.key": key, "ca.crt": sc.ca.CAPEM})
			},
			want: []string{
				"✗ Secret/{ns}/aigw-nic-client-tls: [CLIENT_CERT_EXPIRED] data.tls.crt: expected a client certificate valid now, found CN=nginx-ingress-client expired on ",
			},
			notWant: []string{"does not chain"},
			failing: []string{"Secret/{ns}/aigw-nic-client-tls", "Policy/{ns}/aigw-mtls", "VirtualServer/{ns}/aigw-mtls", "Ingress/{ns}/aigw-ingress"},
		},
		{
			name: "VirtualServer route without the Policy", ns: "broken-vs-route",
			breakIt: func(t *testing.T, sc *scenario) {
				// Applied before the webhook was installed, with tls already on the upstream.
				vs := sample(t, "aigw-virtualserver.yaml", sc.ns)
				vs.SetName("unwired")
				must(t, unstructured.SetNestedField(vs.Object, "unwired.example.com", "spec", "host"))
				ups, _, _ := unstructured.NestedSlice(vs.Object, "spec", "upstreams")
				ups[0].(map[string]any)["tls"] = map[string]any{"enable": true}
				must(t, unstructured.SetNestedSlice(vs.Object, ups, "spec", "upstreams"))
				withoutMutation(t, func() error {
					_, err := dyn.Resource(vsGVR).Namespace(sc.ns).Create(context.Background(), vs, metav1.CreateOptions{})
					return err
				})
			},
			want: []string{
				"✗ VirtualServer/{ns}/unwired: [VS_ROUTE_POLICY_UNWIRED] spec.routes[0] (path /): expected a reference to the EgressMTLS Policy {ns}/aigw-mtls: the route sends traffic to the aigw upstream, found none (NIC connects without its client certificate and aigw refuses)\n" +
					"        fix: re-apply the VirtualServer through the webhook, or add {name: aigw-mtls} to spec.routes[0].policies\n",
			},
			failing: []string{"VirtualServer/{ns}/unwired"},
		},
		{
			name: "ingress without the wiring", ns: "broken-ingress",
			breakIt: func(t *testing.T, sc *scenario) {
				ing := sample(t, "aigw-ingress.yaml", sc.ns)
				ing.SetName("unwired-ingress")
				withoutMutation(t, func() error { return kube.Create(context.Background(), ing) })
			},
			want: []string{
				"✗ Ingress/{ns}/unwired-ingress: [INGRESS_SSL_SERVICES_UNWIRED] metadata.annotations[nginx.org/ssl-services]: expected the aigw Service aigw, found none (NIC speaks plain HTTP to aigw, which expects TLS)\n" +
					"        fix: re-apply the Ingress through the webhook, or add aigw to nginx.org/ssl-services (comma-separated, no spaces)\n",
				"✗ Ingress/{ns}/unwired-ingress: [INGRESS_POLICY_UNWIRED] metadata.annotations[nginx.org/policies]: expected the EgressMTLS Policy {ns}/aigw-mtls, found none",
			},
			failing: []string{"Ingress/{ns}/unwired-ingress"},
		},
		{
			name: "pod without the mounts", ns: "broken-pod-mounts",
			breakIt: func(t *testing.T, sc *scenario) {
				p := sample(t, "aigw-pod.yaml", sc.ns)
				p.SetName("aigw-before-webhook")
				withoutMutation(t, func() error { return kube.Create(context.Background(), p) })
			},
			want: []string{
				"✗ Pod/{ns}/aigw-before-webhook: [POD_NOT_MOUNTED] spec.containers[0].volumeMounts: expected the CA Secret internal-ca at /etc/internal-ca, found no such mount",
				"✗ Pod/{ns}/aigw-before-webhook: [POD_NOT_MOUNTED] spec.containers[0].volumeMounts: expected the server TLS Secret aigw-server-tls at /tls, found no such mount",
			},
			failing: []string{"Pod/{ns}/aigw-before-webhook"},
		},
		{
			name: "unlabelled pod behind the aigw Service", ns: "broken-unlabelled-pod",
			breakIt: func(t *testing.T, sc *scenario) {
				p := sample(t, "aigw-pod.yaml", sc.ns)
				p.SetName("aigw-unlabelled")
				p.SetLabels(map[string]string{"app.kubernetes.io/name": "aigw"})
				must(t, kube.Create(context.Background(), p))
			},
			want: []string{
				"✗ Pod/{ns}/aigw-unlabelled: is behind Service aigw but not labelled aigw=mtls: it has no CA or server certificate mounted and NIC's mTLS handshake with it fails\n" +
					"        fix: add the label aigw=mtls to the pod template",
			},
			failing: []string{"Pod/{ns}/aigw-unlabelled"},
		},
		{
			name: "webhook caBundle that does not verify", ns: "broken-hook-cabundle",
			breakIt: func(t *testing.T, sc *scenario) {
				must(t, registerWebhook(sc.ca.CAPEM)) // a CA that did not issue the serving certificate
				t.Cleanup(func() {
					must(t, registerWebhook(hook.CABundle))
					must(t, harness.WaitForPodMutation(context.Background(), kube, "default"))
				})
			},
			want: []string{
				"✗ MutatingWebhookConfiguration/" + configName + ": the caBundle of webhook(s) " + webhookNames(true) + " does not verify the serving certificate served at https://127.0.0.1:",
				"✗ ValidatingWebhookConfiguration/" + configName + ": the caBundle of webhook(s) " + webhookNames(false) + " does not verify the serving certificate served at https://127.0.0.1:",
			},
			failing: []string{mutating, validating},
		},
		{
			name: "webhook down", ns: "broken-hook-down",
			breakIt: func(t *testing.T, sc *scenario) {
				must(t, hook.Stop())
				t.Cleanup(func() {
					must(t, startWebhook())
					must(t, harness.WaitForPodMutation(context.Background(), kube, "default"))
				})
			},
			want: []string{
				"✗ MutatingWebhookConfiguration/" + configName + ": https://127.0.0.1:",
				"✗ ValidatingWebhookConfiguration/" + configName + ": https://127.0.0.1:",
				" does not answer TLS (dial tcp 127.0.0.1:",
			},
			failing: []string{mutating, validating},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sc := newScenario(t, tc.ns, tc.opts...)
			if tc.breakIt != nil {
				tc.breakIt(t, sc)
			}
			expand := func(s string) string { return strings.ReplaceAll(s, "{ns}", sc.ns) }

			out, code := runCheck(t, "-n", sc.ns)
			if code != 1 {
				t.Errorf("exit code %d, want 1", code)
			}
			for _, w := range tc.want {
				if !strings.Contains(out, expand(w)) {
					t.Errorf("missing ✗ line %q", expand(w))
				}
			}
			for _, w := range tc.notWant {
				if strings.Contains(out, expand(w)) {
					t.Errorf("unexpected %q", expand(w))
				}
			}
			if t.Failed() {
				t.Logf("check -n %s:\n%s", sc.ns, out)
			}

			out, code = runCheck(t, "-n", sc.ns, "-o", "json")
			r := parseReport(t, out)
			if code != 1 || r.Summary.Errors == 0 {
				t.Errorf("-o json: exit code %d with %d errors, want 1 and errors", code, r.Summary.Errors)
			}
			var failing []string
			for _, f := range tc.failing {
				failing = append(failing, expand(f))
			}
			for _, c := range r.Checks {
				// A finding's line names its rule, in the message and in the rule field.
				if id, _, ok := strings.Cut(strings.TrimPrefix(c.Message, "["), "] "); strings.HasPrefix(c.Message, "[") && ok && c.Rule != id {
					t.Errorf("%s: message names rule %s, rule field %q", c.Object, id, c.Rule)
				}
				if c.Status == "error" && !slices.Contains(failing, c.Object) {
					t.Errorf("unexpected error about %s: %s", c.Object, c.Message)
				}
				if c.Status == "error" && c.Fix == "" {
					t.Errorf("error about %s without a fix: %s", c.Object, c.Message)
				}
			}
		})
	}
}
