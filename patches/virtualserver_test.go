package patches

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	jsonpatchapply "github.com/evanphx/json-patch/v5"
	"sigs.k8s.io/yaml"

	"github.com/aigw-mtls/aigw-mtls-webhook/internal/aigw"
	"github.com/aigw-mtls/aigw-mtls-webhook/internal/objects"
)

func TestVirtualServerFixtures(t *testing.T) {
	runFixtures(t, "testdata/virtualserver", PatchVirtualServer)
}

func TestVirtualServerRouteFixtures(t *testing.T) {
	runFixtures(t, "testdata/virtualserverroute", PatchVirtualServerRoute)
}

// The walkthrough's VirtualServer without tls and policies, once patched, is the walkthrough's
// VirtualServer (plus the record).
func TestVirtualServerSeedRoundTrip(t *testing.T) {
	unwired := readYAMLAsJSON(t, "testdata/virtualserver/seed-unwired.yaml")
	res, err := PatchVirtualServer(unwired, "ai-gateway", aigw.DefaultSettings(), nil)
	if err != nil || len(res.Conflicts()) > 0 || len(res.Findings.Warnings()) > 0 {
		t.Fatalf("err %v conflicts %v warnings %v", err, res.Conflicts(), res.Findings.Warnings())
	}
	var got, want map[string]any
	if err := json.Unmarshal(applyPatch(t, unwired, res.Patch()), &got); err != nil {
		t.Fatal(err)
	}
	meta := got["metadata"].(map[string]any)
	if rec := meta["annotations"].(map[string]any)[aigw.AnnotationInjected]; rec != "policy=ai-gateway/aigw-mtls,upstreams=aigw" {
		t.Errorf("record: got %v", rec)
	}
	delete(meta, "annotations")
	if err := json.Unmarshal(readYAMLAsJSON(t, "testdata/virtualserver/seed.yaml"), &want); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		g, _ := yaml.Marshal(got)
		w, _ := yaml.Marshal(want)
		t.Errorf("patched seed differs from the walkthrough's VirtualServer:\ngot\n%s\nwant\n%s", g, w)
	}
}

func TestVirtualServerMalformed(t *testing.T) {
	const meta = `"metadata":{"name":"x","labels":{"aigw":"mtls"}}`
	for name, raw := range map[string]string{
		"not JSON":               `{"metadata":`,
		"not an object":          `[]`,
		"metadata not an object": `{"metadata":"x"}`,
		"labels not strings":     `{"metadata":{"labels":{"aigw":1}}}`,
		"spec not an object":     `{` + meta + `,"spec":[]}`,
		"upstreams not a list":   `{` + meta + `,"spec":{"upstreams":{}}}`,
		"upstream name number":   `{` + meta + `,"spec":{"upstreams":[{"name":1}]}}`,
		"tls not an object":      `{` + meta + `,"spec":{"upstreams":[{"name":"a","tls":true}]}}`,
		"routes not a list":      `{` + meta + `,"spec":{"routes":"/","subroutes":"/"}}`,
		"route not an object":    `{` + meta + `,"spec":{"routes":["/"],"subroutes":["/"]}}`,
		"action not an object":   `{` + meta + `,"spec":{"routes":[{"action":"a"}],"subroutes":[{"action":"a"}]}}`,
		"proxy not an object":    `{` + meta + `,"spec":{"routes":[{"action":{"proxy":1}}],"subroutes":[{"action":{"proxy":1}}]}}`,
		"splits not a list":      `{` + meta + `,"spec":{"routes":[{"splits":{}}],"subroutes":[{"splits":{}}]}}`,
		"match splits not list":  `{` + meta + `,"spec":{"routes":[{"matches":[{"splits":1}]}],"subroutes":[{"matches":[{"splits":1}]}]}}`,
		"policies not a list": `{` + meta + `,"spec":{"upstreams":[{"name":"a"}],"routes":[{"action":{"pass":"a"},"policies":{}}],` +
			`"subroutes":[{"action":{"pass":"a"},"policies":{}}]}}`,
		"policy not an object": `{` + meta + `,"spec":{"upstreams":[{"name":"a"}],"routes":[{"action":{"pass":"a"},"policies":["p"]}],` +
			`"subroutes":[{"action":{"pass":"a"},"policies":["p"]}]}}`,
	} {
		for kind, fn := range map[string]Mutation{"VirtualServer": PatchVirtualServer, "VirtualServerRoute": PatchVirtualServerRoute} {
			if _, err := fn([]byte(raw), "ai-gateway", aigw.DefaultSettings(), nil); err == nil {
				t.Errorf("%s %s: want an error", kind, name)
			}
		}
	}
}

// encoding/json matches struct fields case-insensitively; the patch must address the keys that
// exist, so "Policies", "TLS" and "Annotations" are unknown fields, kept as they are.
func TestVirtualServerExactKeys(t *testing.T) {
	raw := []byte(`{"metadata":{"name":"x","namespace":"ns","labels":{"aigw":"mtls"},"Annotations":{"a":"b"}},
		"spec":{"upstreams":[{"name":"aigw","TLS":{"enable":true}}],
		"routes":[{"path":"/","Policies":[{"name":"aigw-mtls"}],"action":{"pass":"aigw"}}]}}`)
	res, err := PatchVirtualServer(raw, "", aigw.DefaultSettings(), nil)
	if err != nil || len(res.Conflicts()) > 0 {
		t.Fatalf("err %v conflicts %v", err, res.Conflicts())
	}
	out := applyPatch(t, raw, res.Patch())
	if again, err := PatchVirtualServer(out, "", aigw.DefaultSettings(), nil); err != nil || len(again.Patch()) > 0 {
		t.Errorf("second mutation: %v %v", again.Patch(), err)
	}
}

// fuzzObjects are the Policies every fuzz input may reference: an egressMTLS Policy that
// conflicts and a rate limit that does not.
func fuzzObjects() objects.Objects {
	set := objects.NewObjectSet("ai-gateway")
	set.Add("ai-gateway", []byte(`{"kind":"Policy","metadata":{"name":"legacy-mtls"},"spec":{"egressMTLS":{"tlsSecret":"c"}}}`))
	set.Add("ai-gateway", []byte(`{"kind":"Policy","metadata":{"name":"rate-limit"},"spec":{"rateLimit":{"rate":"1r/s"}}}`))
	return set
}

func FuzzPatchVirtualServer(f *testing.F) {
	for _, dir := range []string{"testdata/virtualserver", "testdata/virtualserverroute"} {
		inputs, _ := filepath.Glob(filepath.Join(dir, "*.yaml"))
		for _, in := range inputs {
			if strings.HasSuffix(in, ".objects.yaml") {
				continue
			}
			b, err := os.ReadFile(in)
			if err != nil {
				f.Fatal(err)
			}
			j, err := yaml.YAMLToJSON(b)
			if err != nil {
				f.Fatalf("%s: %v", in, err)
			}
			f.Add(j, strings.HasSuffix(dir, "route"))
		}
	}
	objs := fuzzObjects()
	s := aigw.DefaultSettings()
	f.Fuzz(func(t *testing.T, raw []byte, route bool) {
		fn := PatchVirtualServer
		if route {
			fn = PatchVirtualServerRoute
		}
		_, _ = fn(raw, "ai-gateway", s, objs) // must not panic, whatever the bytes

		// The API server sends objects it has decoded and encoded again (no duplicate keys);
		// the promises below are about such input.
		var v any
		if json.Unmarshal(raw, &v) != nil {
			return
		}
		canonical, _ := json.Marshal(v)
		res, err := fn(canonical, "ai-gateway", s, objs)
		if err != nil || len(res.Conflicts()) > 0 || len(res.Patch()) == 0 {
			return
		}
		ops, _ := json.Marshal(res.Patch())
		p, err := jsonpatchapply.DecodePatch(ops)
		if err != nil {
			t.Fatalf("patch does not decode: %v\n%s", err, ops)
		}
		out, err := p.Apply(canonical)
		if err != nil {
			t.Fatalf("patch does not apply: %v\ninput %s\npatch %s", err, canonical, ops)
		}
		assertNothingLost(t, canonical, out, res.Patch())
		again, err := fn(out, "ai-gateway", s, objs)
		if err != nil || len(again.Patch()) > 0 || len(again.Conflicts()) > 0 {
			t.Fatalf("not idempotent: patch %v conflicts %v err %v\ninput %s\nfirst patch %s", again.Patch(), again.Conflicts(), err, canonical, ops)
		}
	})
}

func TestIngressFixtures(t *testing.T) {
	runFixtures(t, "testdata/ingress", PatchIngress)
}
