package patches

import (
	"strings"
	"testing"

	"github.com/aigw-mtls/aigw-mtls-webhook/internal/aigw"
)

// TestMiscasedKeysAreNotRead: the mutations read keys as the API server spells them. A "Metadata"
// or "Labels" key is not the field (the API server prunes or refuses it), so an object labelled
// only there is not selected, while the same object spelled correctly is.
func TestMiscasedKeysAreNotRead(t *testing.T) {
	const (
		pod = `{"apiVersion":"v1","kind":"Pod","METADATA":{"name":"aigw","LABELS":{"aigw":"mtls"}},` +
			`"spec":{"containers":[{"name":"aigw","image":"aigw:v1"}]}}`
		configMap = `{"apiVersion":"v1","kind":"ConfigMap","METADATA":{"name":"aigw-config","LABELS":{"aigw":"mtls"}},` +
			`"data":{"aigw.yaml":"server:\n  address: :4141\n"}}`
		virtualServer = `{"apiVersion":"k8s.nginx.org/v1","kind":"VirtualServer","METADATA":{"name":"aigw","LABELS":{"aigw":"mtls"}},` +
			`"spec":{"host":"aigw.example.com","upstreams":[{"name":"aigw","service":"aigw","port":80}],` +
			`"routes":[{"path":"/","action":{"pass":"aigw"}}]}}`
	)
	cases := []struct {
		kind string
		fn   Mutation
		raw  string
	}{
		{"Pod", PatchPod, pod},
		{"ConfigMap", PatchConfigMap, configMap},
		{"VirtualServer", PatchVirtualServer, virtualServer},
	}
	s := aigw.DefaultSettings()
	for _, c := range cases {
		t.Run(c.kind, func(t *testing.T) {
			spellings := []struct {
				metadata, labels string
				selected         bool
			}{
				{"metadata", "labels", true},
				{"Metadata", "labels", false},
				{"metadata", "Labels", false},
			}
			for _, sp := range spellings {
				raw := strings.NewReplacer("METADATA", sp.metadata, "LABELS", sp.labels).Replace(c.raw)
				res, err := c.fn([]byte(raw), "ai-gateway", s, nil)
				if err != nil {
					t.Fatalf("%s.%s: %v", sp.metadata, sp.labels, err)
				}
				if got := len(res.Patch()) > 0; got != sp.selected || len(res.Conflicts()) > 0 {
					t.Errorf("%s.%s: want selected=%v, got patch %v conflicts %v", sp.metadata, sp.labels, sp.selected, res.Patch(), res.Conflicts())
				}
			}
		})
	}
}
