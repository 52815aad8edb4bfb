package patches

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"

	jsonpatchapply "github.com/evanphx/json-patch/v5"
	"gomodules.xyz/jsonpatch/v2"
	"sigs.k8s.io/yaml"

	"github.com/aigw-mtls/aigw-mtls-webhook/internal/aigw"
	"github.com/aigw-mtls/aigw-mtls-webhook/internal/objects"
	"github.com/aigw-mtls/aigw-mtls-webhook/internal/rules/fixtures"
)

var update = flag.Bool("update", false, "rewrite the expected fixture files from the current output")

// runFixtures runs fn over every <case>.yaml in dir. Expected output sits next to the input:
//
//	<case>.patch.json     the JSON Patch (absent: no patch)
//	<case>.deny.txt       the conflicts, one per line (absent: none)
//	<case>.warnings.txt   the warnings, one per line (absent: none)
//	<case>.unwired.txt    what the patch wires, one finding per part, as check reports it (absent: none)
//	<case>.settings.json  overrides of aigw.DefaultSettings (optional)
//	<case>.objects.yaml   other objects the mutation may look up, e.g. Policies (optional)
//
// Every case is also checked for the two promises all mutations keep: applying the patch loses
// nothing of the input, and mutating the result again yields no patch.
func runFixtures(t *testing.T, dir string, fn Mutation) {
	t.Helper()
	inputs, _ := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if len(inputs) == 0 {
		t.Fatalf("no fixtures in %s", dir)
	}
	for _, in := range inputs {
		if strings.HasSuffix(in, ".objects.yaml") {
			continue
		}
		name := strings.TrimSuffix(in, ".yaml")
		t.Run(filepath.Base(name), func(t *testing.T) {
			raw := readYAMLAsJSON(t, in)
			s := fixtureSettings(t, name+".settings.json")
			objs := fixtureObjects(t, name+".objects.yaml")
			res, err := fn(raw, "ai-gateway", s, objs)
			if err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			checkLines(t, name+".deny.txt", res.Conflicts())
			checkLines(t, name+".warnings.txt", res.Findings.Warnings())
			checkPatch(t, name+".patch.json", res.Patch())
			checkLines(t, name+".unwired.txt", res.Unwired.Errors())
			if (len(res.Wiring) > 0) != (len(res.Unwired) > 0) {
				t.Errorf("the wiring and what it is said to add disagree: wiring %v, unwired %v", res.Wiring, res.Unwired)
			}

			if len(res.Conflicts()) > 0 {
				d := res.Decide(aigw.ModeWarn)
				if !d.Allowed || len(d.Patch) != 0 || len(d.Warnings) < len(res.Conflicts()) {
					t.Errorf("warn mode: want allowed, unchanged, one warning per conflict; got %+v", d)
				}
				if d := res.Decide(aigw.ModeEnforce); d.Allowed || d.Denial == "" {
					t.Errorf("enforce mode: want denied, got %+v", d)
				}
				return
			}
			if len(res.Patch()) == 0 {
				return
			}
			out := applyPatch(t, raw, res.Patch())
			assertNothingLost(t, raw, out, res.Patch())
			again, err := fn(out, "ai-gateway", s, objs)
			if err != nil || len(again.Patch()) != 0 || len(again.Conflicts()) != 0 {
				t.Errorf("not idempotent: second mutation gave patch %v conflicts %v err %v", again.Patch(), again.Conflicts(), err)
			}
		})
	}
}

func readYAMLAsJSON(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	j, err := yaml.YAMLToJSON(b)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return j
}

// fixturePKI is the test PKI {{b64 "name"}} in an objects file stands for (fixtures.PKI).
var fixturePKI = struct {
	sync.Once
	pki map[string]*fixtures.Cert
}{}

// fixtureObjects reads the (multi-document) objects file of a case, with {{b64 "name"}} rendered
// as in the rule fixtures; none when it is absent.
func fixtureObjects(t *testing.T, path string) *objects.ObjectSet {
	t.Helper()
	set := objects.NewObjectSet("ai-gateway")
	if _, err := os.Stat(path); os.IsNotExist(err) {
		return set
	}
	fixturePKI.Do(func() { fixturePKI.pki = fixtures.PKI(t) })
	b, _ := fixtures.Render(t, path, fixturePKI.pki)
	for _, doc := range strings.Split(string(b), "\n---\n") {
		j, err := yaml.YAMLToJSON([]byte(doc))
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		set.Add("ai-gateway", j)
	}
	return set
}

func fixtureSettings(t *testing.T, path string) aigw.Settings {
	t.Helper()
	s := aigw.DefaultSettings()
	b, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return s
	}
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&s); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return s
}

func checkLines(t *testing.T, path string, got []string) {
	t.Helper()
	if *update {
		writeOrRemove(t, path, strings.Join(got, "\n"))
		return
	}
	var want []string
	if b, err := os.ReadFile(path); err == nil {
		want = strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	}
	if !reflect.DeepEqual(want, got) && !(len(want) == 0 && len(got) == 0) {
		t.Errorf("%s:\nwant %q\ngot  %q", filepath.Base(path), want, got)
	}
}

func checkPatch(t *testing.T, path string, got []jsonpatch.Operation) {
	t.Helper()
	gotJSON, _ := json.MarshalIndent(got, "", "  ")
	if *update {
		if len(got) == 0 {
			gotJSON = nil
		}
		writeOrRemove(t, path, string(gotJSON))
		return
	}
	b, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		if len(got) != 0 {
			t.Errorf("want no patch, got %s", gotJSON)
		}
		return
	}
	var want, have any
	if err := json.Unmarshal(b, &want); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	_ = json.Unmarshal(gotJSON, &have)
	if !reflect.DeepEqual(want, have) {
		t.Errorf("%s:\nwant %s\ngot  %s", filepath.Base(path), b, gotJSON)
	}
}

func writeOrRemove(t *testing.T, path, content string) {
	t.Helper()
	if content == "" {
		_ = os.Remove(path)
		return
	}
	if err := os.WriteFile(path, []byte(content+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
}

func applyPatch(t *testing.T, raw []byte, ops []jsonpatch.Operation) []byte {
	t.Helper()
	b, _ := json.Marshal(ops)
	p, err := jsonpatchapply.DecodePatch(b)
	if err != nil {
		t.Fatalf("patch does not decode: %v", err)
	}
	out, err := p.Apply(raw)
	if err != nil {
		t.Fatalf("patch does not apply: %v\n%s", err, b)
	}
	return out
}

// assertNothingLost checks that every value of the input is still in the output, except at paths
// the patch replaced on purpose. Arrays may only grow at their end.
func assertNothingLost(t *testing.T, in, out []byte, ops []jsonpatch.Operation) {
	t.Helper()
	replaced := map[string]bool{}
	for _, op := range ops {
		if op.Operation == "replace" {
			replaced[op.Path] = true
		}
	}
	var a, b any
	_ = json.Unmarshal(in, &a)
	_ = json.Unmarshal(out, &b)
	if p := lost(a, b, "", replaced); p != "" {
		t.Errorf("the patch lost or changed %s", p)
	}
}

func lost(a, b any, at string, replaced map[string]bool) string {
	if replaced[at] {
		return ""
	}
	switch av := a.(type) {
	case map[string]any:
		bv, ok := b.(map[string]any)
		if !ok {
			return at
		}
		for k, v := range av {
			if p := lost(v, bv[k], at+"/"+pointerEscape(k), replaced); p != "" {
				return p
			}
		}
	case []any:
		bv, ok := b.([]any)
		if !ok || len(bv) < len(av) {
			return at
		}
		for i := range av {
			if p := lost(av[i], bv[i], at+"/"+itoa(i), replaced); p != "" {
				return p
			}
		}
	default:
		if !reflect.DeepEqual(a, b) {
			return at
		}
	}
	return ""
}

func itoa(i int) string { b, _ := json.Marshal(i); return string(b) }

func TestPodFixtures(t *testing.T)       { runFixtures(t, "testdata/pod", PatchPod) }
func TestConfigMapFixtures(t *testing.T) { runFixtures(t, "testdata/configmap", PatchConfigMap) }

func TestBackendTLSPolicyFixtures(t *testing.T) {
	runFixtures(t, "testdata/backendtlspolicy", PatchBackendTLSPolicy)
}
