package patches

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/aigw-mtls/aigw-mtls-webhook/internal/aigw"
)

// configMapOfSize is a labelled ConfigMap whose aigw.yaml is a valid config of exactly size bytes
// (comment lines pad it).
func configMapOfSize(t testing.TB, size int) []byte {
	t.Helper()
	head := "version: 1\nserver:\n  address: :4141\n"
	line := "# padding padding padding padding padding padding padding padding\n"
	var b strings.Builder
	b.WriteString(head)
	for b.Len()+len(line) <= size {
		b.WriteString(line)
	}
	b.WriteString(strings.Repeat("#", size-b.Len()-1) + "\n")
	cm := map[string]any{"apiVersion": "v1", "kind": "ConfigMap",
		"metadata": map[string]any{"name": "aigw-config", "namespace": "ai-gateway", "labels": map[string]any{"aigw": "mtls"}},
		"data":     map[string]any{"aigw.yaml": b.String()}}
	raw, err := json.Marshal(cm)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// An aigw config past MaxAIGWConfigBytes is refused before it is parsed, naming the bound; one at
// the bound is wired.
func TestPatchConfigMapBoundsTheConfig(t *testing.T) {
	at, err := PatchConfigMap(configMapOfSize(t, MaxAIGWConfigBytes), "ai-gateway", aigw.DefaultSettings(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(at.Findings) != 0 || len(at.Wiring) != 1 {
		t.Errorf("a config of %d bytes (the bound): want it wired, got findings %v, %d wiring ops", MaxAIGWConfigBytes, at.Findings, len(at.Wiring))
	}
	over, err := PatchConfigMap(configMapOfSize(t, MaxAIGWConfigBytes+1), "ai-gateway", aigw.DefaultSettings(), nil)
	if err != nil {
		t.Fatal(err)
	}
	errs := over.Findings.Errors()
	if len(errs) != 1 || len(over.Wiring) != 0 || !strings.Contains(errs[0], "[CONFIGMAP_CONFIG_TOO_LARGE] data[aigw.yaml]: expected an aigw config of at most 262144 bytes, found 262145 bytes") {
		t.Errorf("a config one byte past the bound: want one refusal naming the field, bound and size, got %q (%d wiring ops)", errs, len(over.Wiring))
	}
}

// BenchmarkPatchConfigMapAtBound is the cost of wiring the largest config the mutation parses:
// MaxAIGWConfigBytes is derived from it.
func BenchmarkPatchConfigMapAtBound(b *testing.B) {
	raw := configMapOfSize(b, MaxAIGWConfigBytes)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := PatchConfigMap(raw, "ai-gateway", aigw.DefaultSettings(), nil); err != nil {
			b.Fatal(err)
		}
	}
}

// Configs within the byte bound that would cost seconds or ~100 MB to decode are refused before
// they are decoded: a flat mapping of many keys (yaml.v3 compares every pair for duplicates) and
// nested aliases (expanded).
func TestPatchConfigMapBoundsTheYAMLNodes(t *testing.T) {
	var keys strings.Builder
	keys.WriteString("version: 1\nserver:\n  address: :4141\n")
	for i := 0; keys.Len() < 200<<10; i++ {
		fmt.Fprintf(&keys, "k%d: 0\n", i)
	}
	aliases := "version: 1\nserver:\n  address: :4141\na: &a [x, x, x, x, x, x, x, x, x, x]\n"
	prev := "a"
	for _, name := range []string{"b", "c", "d", "e", "f"} {
		aliases += fmt.Sprintf("%s: &%s [*%s, *%s, *%s, *%s, *%s, *%s, *%s, *%s, *%s, *%s]\n", name, name, prev, prev, prev, prev, prev, prev, prev, prev, prev, prev)
		prev = name
	}
	for name, doc := range map[string]string{"many keys": keys.String(), "nested aliases": aliases} {
		raw, err := json.Marshal(map[string]any{"apiVersion": "v1", "kind": "ConfigMap",
			"metadata": map[string]any{"name": "aigw-config", "namespace": "ai-gateway", "labels": map[string]any{"aigw": "mtls"}},
			"data":     map[string]any{"aigw.yaml": doc}})
		if err != nil {
			t.Fatal(err)
		}
		res, err := PatchConfigMap(raw, "ai-gateway", aigw.DefaultSettings(), nil)
		if err != nil {
			t.Fatal(err)
		}
		errs := res.Findings.Errors()
		if len(errs) != 1 || len(res.Wiring) != 0 || !strings.Contains(errs[0], "[CONFIGMAP_CONFIG_TOO_LARGE] data[aigw.yaml]: expected an aigw config of at most 4096 YAML nodes") {
			t.Errorf("%s (%d bytes): want one refusal naming the node bound, got %q", name, len(doc), errs)
		}
	}
}
