package rules

import (
	"strings"
	"testing"

	"github.com/aigw-mtls/aigw-mtls-webhook/internal/aigw"
	"github.com/aigw-mtls/aigw-mtls-webhook/internal/objects"
	"github.com/aigw-mtls/aigw-mtls-webhook/internal/rules/fixtures"
)

// withheld answers no lookup of Secrets and Certificates: what one admission request sees of a
// namespace whose Secrets the webhook may not read for its user, or does not watch.
type withheld struct{ *objects.ObjectSet }

func (w withheld) Available(kind, namespace string) error {
	if kind == "Secret" || kind == "Certificate" {
		return &objects.Unavailable{Kind: kind, Namespace: namespace, Reason: "not watched"}
	}
	return nil
}

func (w withheld) Get(kind, namespace, name string) ([]byte, bool) {
	if w.Available(kind, namespace) != nil {
		return nil, false
	}
	return w.ObjectSet.Get(kind, namespace, name)
}

// A Secret or certificate that cannot be read is reported as not checkable, never refused and
// never called missing: the Gateway API rules follow the Policy rules there.
func TestWithheldSecretsAreNotCheckableNotRefused(t *testing.T) {
	for _, k := range []struct {
		dir, kind string
		rule      Rule
	}{{"testdata/gateway", "Gateway", newOnly(Gateway)}, {"testdata/backendtlspolicy", "BackendTLSPolicy", newOnly(BackendTLSPolicy)}} {
		rule := k.rule
		for _, c := range fixtures.Cases(t, k.dir, fixtures.PKI(t)) {
			objs := withheld{objects.NewObjectSet("ai-gateway", c.Objects...)}
			fs, err := rule(c.Object, c.Old, "ai-gateway", aigw.DefaultSettings(), objs, validationNow)
			if err != nil {
				t.Fatalf("%s/%s: %v", k.kind, c.Name, err)
			}
			for _, f := range fs {
				if f.Severity == Error && (strings.Contains(f.Found, "cannot be checked") || strings.Contains(f.Expected, "readable")) {
					t.Errorf("%s/%s: refused for a lookup that was withheld: %s", k.kind, c.Name, f)
				}
				if (strings.HasPrefix(f.Found, "Secret ") && strings.Contains(f.Found, "not found yet")) || strings.Contains(f.Found, "neither") {
					t.Errorf("%s/%s: a withheld object reported as missing: %s", k.kind, c.Name, f)
				}
			}
		}
	}
}
