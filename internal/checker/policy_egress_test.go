package checker

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/aigw-mtls/aigw-mtls-webhook/internal/aigw"
	"github.com/aigw-mtls/aigw-mtls-webhook/internal/rules"
	"github.com/aigw-mtls/aigw-mtls-webhook/internal/rules/fixtures"
)

// What check's ✓ line about a Policy shows is spec.egressMTLS as NIC renders it (the decoder the
// probe uses): on every Policy fixture check passes, the line names its sslName, Secrets and
// protocols, and "nothing to check" is said exactly when the Policy has no egressMTLS.
func TestPolicyLineShowsWhatTheRulesRead(t *testing.T) {
	pki := agreementPKI(t)
	settings := aigw.DefaultSettings()
	shown := map[string]int{} // lines check printed, by kind
	for _, c := range fixtures.Cases(t, "../rules/testdata/policy", pki) {
		t.Run(c.Name, func(t *testing.T) {
			var p unstructured.Unstructured
			if err := json.Unmarshal(c.Object, &p.Object); err != nil {
				t.Fatal(err)
			}
			if p.GetNamespace() == "" {
				p.SetNamespace("ai-gateway")
			}
			objs := []client.Object{&p}
			for _, raw := range clusterObjects(t, c.Objects) {
				objs = append(objs, clusterObject(t, raw))
			}
			cl := fake.NewClientBuilder().WithScheme(coreScheme(t)).WithRESTMapper(restMapper()).WithObjects(objs...).Build()
			r, err := Run(context.Background(), cl, Options{Settings: settings, Namespace: "ai-gateway", Now: fixtures.Now})
			if err != nil {
				t.Fatal(err)
			}
			e, err := rules.PolicyEgress(c.Object, "ai-gateway", settings)
			if err != nil {
				t.Fatal(err)
			}
			want := "no spec.egressMTLS: nothing to check"
			if e != nil {
				want = fmt.Sprintf("egressMTLS passes validation: sslName %s, trustedCertSecret %s, tlsSecret %s, protocols %s", e.SSLName, e.TrustedCertSecret, e.TLSSecret, e.Protocols)
			}
			for _, ch := range r.Checks {
				if ch.Section != SectionPolicies || ch.Object != "Policy/ai-gateway/"+p.GetName() || ch.Status != StatusOK || isVerdict(ch.Message) {
					continue
				}
				shown[want[:12]]++
				if ch.Message != want {
					t.Errorf("check: %q; the rules read: %q", ch.Message, want)
				}
			}
		})
	}
	if shown["egressMTLS p"] == 0 || shown["no spec.egre"] == 0 {
		t.Errorf("lines compared %v: want both kinds", shown)
	}
}

// A Policy without protocols passes check once its warning is silenced; the line shows the
// protocols NIC renders then (proxy_ssl_protocols TLSv1 TLSv1.1 TLSv1.2, internal/configs/policy.go
// addEgressMTLSConfig), not an empty value.
func TestPolicyLineShowsNICDefaultProtocols(t *testing.T) {
	pki := agreementPKI(t)
	var c fixtures.Case
	for _, fc := range fixtures.Cases(t, "../rules/testdata/policy", pki) {
		if fc.Name == "protocols-unset" {
			c = fc
		}
	}
	if c.Object == nil {
		t.Fatal("fixture protocols-unset not found")
	}
	var p unstructured.Unstructured
	if err := json.Unmarshal(c.Object, &p.Object); err != nil {
		t.Fatal(err)
	}
	p.SetAnnotations(map[string]string{rules.AnnotationSilence: string(rules.PolicyProtocolsUnset.ID)})
	objs := []client.Object{&p}
	for _, raw := range clusterObjects(t, c.Objects) {
		objs = append(objs, clusterObject(t, raw))
	}
	cl := fake.NewClientBuilder().WithScheme(coreScheme(t)).WithRESTMapper(restMapper()).WithObjects(objs...).Build()
	r, err := Run(context.Background(), cl, Options{Settings: aigw.DefaultSettings(), Namespace: "ai-gateway", Now: fixtures.Now})
	if err != nil {
		t.Fatal(err)
	}
	want := "egressMTLS passes validation: sslName aigw.ai-gateway.svc.cluster.local, trustedCertSecret internal-ca, tlsSecret aigw-nic-client-tls, protocols TLSv1 TLSv1.1 TLSv1.2"
	for _, ch := range r.Checks {
		if ch.Section == SectionPolicies && ch.Object == "Policy/ai-gateway/aigw-mtls" && !isVerdict(ch.Message) {
			if ch.Status != StatusOK || ch.Message != want {
				t.Errorf("check: %s %q; want ✓ %q", ch.Status, ch.Message, want)
			}
			return
		}
	}
	t.Errorf("no Policy line in %v", r.Checks)
}

// isVerdict tells NIC's verdict line from check's own.
func isVerdict(msg string) bool { return len(msg) >= 4 && msg[:4] == "NIC:" }
