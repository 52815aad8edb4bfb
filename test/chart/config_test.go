package chart_test

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/aigw-mtls/aigw-mtls-webhook/test/harness"
	"github.com/aigw-mtls/aigw-mtls-webhook/test/tools"
)

var update = flag.Bool("update", false, "rewrite config/default from the chart's default rendering")

// config/default is generated, every file of it, from the chart's default rendering with
// caSync.precreateSecret=true (release aigw-mtls-webhook in namespace aigw-mtls-system,
// networkPolicy.webhookFrom the placeholder that
// admits nobody: the chart renders nothing without a choice of network exposure): one file per chart
// template, the Namespace, and the kustomization listing them. The transformation is textual and small: helm's
// "# Source:" lines and the two labels that only make sense under Helm (helm.sh/chart and
// app.kubernetes.io/managed-by: Helm) are dropped, so a kubectl apply -k does not claim Helm
// manages the objects. `go test ./test/chart -run TestConfigInStepWithChart -update` rewrites it.
func configDir() string { return filepath.Join(harness.RepoRoot(), "config", "default") }

const generatedHeader = "# Generated from charts/aigw-mtls-webhook with its default values and caSync.precreateSecret=true\n" +
	"# (release %s, namespace %s) by `go test ./test/chart -run TestConfigInStepWithChart -update`.\n" +
	"# Do not edit: change the chart.\n" +
	"# networkPolicy.webhookFrom is " + placeholderControlPlane + ", a never-routed placeholder: replace it with the control\n" +
	"# plane's addresses in an overlay (charts/aigw-mtls-webhook/README.md, \"Install\").\n"

// configValues: kubectl apply -k applies each object on its own, so on a cluster without
// ValidatingAdmissionPolicy (Kubernetes before 1.30) it would apply the CA sync's Secret create
// without the policy that limits it; with caSync.precreateSecret there is no Secret create to limit.
var configValues = valueSet{name: "config-default", release: defaultRelease, namespace: defaultNamespace, set: []string{"caSync.precreateSecret=true"}}

var helmOnlyLine = regexp.MustCompile(`(?m)^\s*(helm\.sh/chart: .*|app\.kubernetes\.io/managed-by: Helm)\n`)

// configFiles is config/default as the chart renders it, file name → content.
func configFiles(t *testing.T) map[string]string {
	t.Helper()
	text, objs := render(t, configValues)
	header := fmt.Sprintf(generatedHeader, defaultRelease, defaultNamespace)
	files := map[string]string{}
	var order []string
	for _, doc := range strings.Split(text, "\n---\n") {
		doc = strings.TrimPrefix(strings.TrimSpace(doc), "---")
		doc = strings.TrimSpace(doc)
		if doc == "" {
			continue
		}
		first, rest, _ := strings.Cut(doc, "\n")
		source, ok := strings.CutPrefix(first, "# Source: aigw-mtls-webhook/templates/")
		if !ok {
			t.Fatalf("rendered document without a # Source line:\n%s", doc)
		}
		body := helmOnlyLine.ReplaceAllString(rest+"\n", "")
		if _, seen := files[source]; !seen {
			order = append(order, source)
			files[source] = header
		}
		files[source] += "---\n" + body
	}
	files["namespace.yaml"] = header + "---\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: " + defaultNamespace + "\n" +
		"  labels:\n    app.kubernetes.io/name: aigw-mtls-webhook\n    app.kubernetes.io/part-of: aigw-mtls\n"
	k := header + "# Install without Helm: kubectl apply -k config/default (cert-manager and the namespace of the aigw\n" +
		"# PKI, ai-gateway, must exist first).\napiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n  - namespace.yaml\n"
	for _, f := range order {
		k += "  - " + f + "\n"
	}
	files["kustomization.yaml"] = k

	// The transformation only drops the Helm labels: what remains decodes to the rendering minus them.
	var generated []*unstructured.Unstructured
	for _, f := range order {
		objs, err := decode(files[f])
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		generated = append(generated, objs...)
	}
	if len(generated) != len(objs) {
		t.Fatalf("config/default holds %d objects, the rendering %d", len(generated), len(objs))
	}
	byKey := map[string]*unstructured.Unstructured{}
	for _, o := range generated {
		byKey[objectKey(o)] = o
	}
	for _, o := range objs {
		o = o.DeepCopy()
		stripHelmLabels(o)
		if g := byKey[objectKey(o)]; g == nil || !equalJSON(t, o.Object, g.Object) {
			t.Errorf("%s differs from the rendering beyond the Helm labels", objectKey(o))
		}
	}
	return files
}

// stripHelmLabels removes helm.sh/chart and app.kubernetes.io/managed-by wherever labels are.
func stripHelmLabels(v any) {
	switch x := v.(type) {
	case *unstructured.Unstructured:
		stripHelmLabels(x.Object)
	case map[string]any:
		for k, val := range x {
			if k == "labels" || k == "matchLabels" {
				if m, ok := val.(map[string]any); ok {
					delete(m, "helm.sh/chart")
					if m["app.kubernetes.io/managed-by"] == "Helm" {
						delete(m, "app.kubernetes.io/managed-by")
					}
				}
			}
			stripHelmLabels(val)
		}
	case []any:
		for _, e := range x {
			stripHelmLabels(e)
		}
	}
}

func TestConfigInStepWithChart(t *testing.T) {
	want := configFiles(t)
	dir := configDir()
	if *update {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		old, _ := filepath.Glob(filepath.Join(dir, "*"))
		for _, f := range old {
			if _, keep := want[filepath.Base(f)]; !keep {
				if err := os.Remove(f); err != nil {
					t.Fatal(err)
				}
			}
		}
		for name, content := range want {
			if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatalf("%v (go test ./test/chart -run TestConfigInStepWithChart -update generates it)", err)
	}
	var have []string
	for _, e := range entries {
		have = append(have, e.Name())
	}
	var names []string
	for n := range want {
		names = append(names, n)
	}
	slices.Sort(names)
	if !slices.Equal(have, names) {
		t.Errorf("config/default holds %v, the chart renders %v (run with -update)", have, names)
	}
	for _, name := range names {
		got, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			continue
		}
		if string(got) != want[name] {
			t.Errorf("config/default/%s is out of step with the chart: run go test ./test/chart -run TestConfigInStepWithChart -update\n%s",
				name, firstDifference(string(got), want[name]))
		}
	}
}

// TestConfigKustomizes builds config/default with kustomize, what `kubectl apply -k` runs: the
// objects are the chart's (minus the Helm labels) and the Namespace.
func TestConfigKustomizes(t *testing.T) {
	cmd := exec.Command(tools.Kustomize.Need(t), "build", configDir())
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("kustomize build config/default: %v\n%s", err, stderr.String())
	}
	built, err := decode(string(out))
	if err != nil {
		t.Fatal(err)
	}
	_, objs := render(t, configValues)
	if len(built) != len(objs)+1 {
		t.Errorf("kustomize builds %d objects, want the chart's %d and the Namespace", len(built), len(objs))
	}
	byKey := map[string]*unstructured.Unstructured{}
	for _, o := range built {
		byKey[objectKey(o)] = o
	}
	for _, o := range objs {
		o = o.DeepCopy()
		stripHelmLabels(o)
		b, ok := byKey[objectKey(o)]
		if !ok {
			t.Errorf("kustomize output lacks %s", objectKey(o))
			continue
		}
		if !equalJSON(t, o.Object, b.Object) {
			t.Errorf("kustomize changes %s", objectKey(o))
		}
	}
}

func firstDifference(a, b string) string {
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	for i := 0; i < len(al) || i < len(bl); i++ {
		var x, y string
		if i < len(al) {
			x = al[i]
		}
		if i < len(bl) {
			y = bl[i]
		}
		if x != y {
			return fmt.Sprintf("line %d:\n  have: %s\n  want: %s", i+1, x, y)
		}
	}
	return ""
}

func objectKey(o *unstructured.Unstructured) string {
	return o.GetKind() + "/" + o.GetNamespace() + "/" + o.GetName()
}
