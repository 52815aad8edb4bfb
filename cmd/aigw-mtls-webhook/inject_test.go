package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

func runCLI(t *testing.T, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := run(args, strings.NewReader(stdin), &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestInjectSamplesDirectory(t *testing.T) {
	code, out, errOut := runCLI(t, "", "inject", "-f", filepath.Join("..", "..", "config", "samples"))
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	docs := strings.Split(out, "\n---\n")
	var kinds []string
	for _, d := range docs {
		var obj map[string]any
		if err := yaml.Unmarshal([]byte(d), &obj); err != nil {
			t.Fatalf("output document does not parse: %v\n%s", err, d)
		}
		kinds = append(kinds, obj["kind"].(string))
	}
	if !strings.Contains(out, "mountPath: /etc/internal-ca") || !strings.Contains(out, "clientCertPath: /etc/internal-ca/ca.crt") ||
		!strings.Contains(out, "nginx.org/ssl-services: aigw\n") || !strings.Contains(out, "nginx.org/policies: aigw-mtls\n") {
		t.Errorf("samples not mutated:\n%s", out)
	}
	// Idempotent offline too: injecting the output again changes nothing.
	code, again, _ := runCLI(t, out, "inject", "-f", "-")
	if code != 0 || again != out {
		t.Errorf("second inject changed the output (exit %d)", code)
	}
	if len(kinds) < 3 {
		t.Errorf("want every document written, got kinds %v", kinds)
	}
}

func TestInjectKeepsUnlabelledDocumentsByteForByte(t *testing.T) {
	in := "# a comment that must survive\napiVersion: v1\nkind: Service\nmetadata:\n  name: aigw\nspec:\n  ports: [{port: 80}]\n"
	code, out, _ := runCLI(t, in, "inject", "-f", "-")
	if code != 0 || out != in {
		t.Errorf("exit %d, output changed:\n%q\nwant\n%q", code, out, in)
	}
}

func TestInjectConflictExitsOne(t *testing.T) {
	in := `apiVersion: v1
kind: Pod
metadata: {name: aigw, namespace: ai-gateway, labels: {aigw: mtls}}
spec:
  containers: [{name: aigw, image: aigw}]
  volumes: [{name: internal-ca-volume, emptyDir: {}}]
`
	code, out, errOut := runCLI(t, in, "inject", "-f", "-")
	if code != 1 || !strings.Contains(errOut, "Pod/ai-gateway/aigw: [POD_VOLUME_CONFLICT] spec.volumes[name=internal-ca-volume]") || out != in {
		t.Errorf("want exit 1, the denial on stderr, the document unchanged; got %d %q %q", code, errOut, out)
	}
	code, _, errOut = runCLI(t, in, "inject", "--mode", "warn", "-f", "-")
	if code != 0 || !strings.Contains(errOut, "warning: ") {
		t.Errorf("warn mode: want exit 0 with a warning, got %d %q", code, errOut)
	}
}

func TestInjectUnreadableInputExitsTwo(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("kind: Pod\n  metadata: [\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"inject", "-f", bad}, {"inject", "-f", filepath.Join(dir, "missing.yaml")}, {"inject"}} {
		if code, _, errOut := runCLI(t, "", args...); code != 2 || errOut == "" {
			t.Errorf("%v: want exit 2 with a message, got %d %q", args, code, errOut)
		}
	}
}
