package rules

import (
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"github.com/aigw-mtls/aigw-mtls-webhook/internal/aigw"
	"github.com/aigw-mtls/aigw-mtls-webhook/internal/objects"
	"github.com/aigw-mtls/aigw-mtls-webhook/internal/rules/fixtures"
)

// A CA Secret aigw trusts that cannot be decoded (a manifest given to validate -f) leaves the
// client certificate's chain unchecked with the reason, on the Policy and the Gateway side alike:
// it is never called missing.
func TestUnreadableCASecretIsNotCalledMissing(t *testing.T) {
	pki := fixtures.PKI(t)
	render := func(path string) []byte { return fixtures.JSON(t, path, pki) }
	client := []byte(`{"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "aigw-nic-client-tls", "namespace": "ai-gateway"},
		"type": "kubernetes.io/tls", "data": {"tls.crt": "` + base64.StdEncoding.EncodeToString(pki["client"].PEM) + `", "tls.key": ""}}`)
	unreadableCA := []byte(`{"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "internal-ca", "namespace": "ai-gateway"}, "type": "nginx.org/ca", "data": {"ca.crt": 42}}`)
	for _, k := range []struct {
		name string
		raw  []byte
		rule func([]byte, string, aigw.Settings, objects.Objects, time.Time) (Findings, error)
	}{
		{"Gateway", render("testdata/gateway/seed.yaml"), Gateway},
		{"Policy", render("testdata/policy/seed.yaml"), Policy},
	} {
		objs := objects.NewObjectSet("ai-gateway", client, unreadableCA)
		fs, err := k.rule(k.raw, "ai-gateway", aigw.DefaultSettings(), objs, fixtures.Now)
		if err != nil {
			t.Fatal(err)
		}
		var found []string
		for _, f := range fs {
			if f.Rule == ClientChainNotChecked.ID {
				found = append(found, f.Found)
			}
		}
		if len(found) != 1 || strings.Contains(found[0], "not found") || !strings.Contains(found[0], "decoding Secret") {
			t.Errorf("%s: the unreadable CA Secret: want one %s naming the decoding error, got %q", k.name, ClientChainNotChecked.ID, found)
		}
	}
}
