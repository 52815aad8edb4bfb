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

// What check's ✓ line about a Policy shows is spec.egressMTLS as the rules read it (one decode):
// on every Policy fixture check passes, the line names the rules' sslName, Secrets and protocols,
// and "nothing to check" is said exactly when the rules find no egressMTLS.
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
			e, err := rules.PolicyEgressMTLS(c.Object)
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

// isVerdict tells NIC's verdict line from check's own.
func isVerdict(msg string) bool { return len(msg) >= 4 && msg[:4] == "NIC:" }
