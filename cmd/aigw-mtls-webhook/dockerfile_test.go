package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// The Dockerfile pins every base image by digest, and copies every package of the module the
// binary is built from (a package left out fails the image build, not the tests).
func TestDockerfile(t *testing.T) {
	root := filepath.Join("..", "..")
	b, err := os.ReadFile(filepath.Join(root, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	pinned := regexp.MustCompile(`^FROM (--platform=\S+ )?[a-z0-9./-]+:[\w.-]+@sha256:[0-9a-f]{64}( AS \w+)?$`)
	copied := map[string]bool{}
	froms := 0
	for _, line := range strings.Split(string(b), "\n") {
		switch {
		case strings.HasPrefix(line, "FROM "):
			froms++
			if !pinned.MatchString(line) {
				t.Errorf("%q: want image:tag@sha256:<digest>", line)
			}
		case strings.HasPrefix(line, "# syntax="):
			t.Errorf("%q: a syntax directive fetches an unpinned frontend image", line)
		case strings.HasPrefix(line, "COPY ") && !strings.HasPrefix(line, "COPY --from"):
			for _, f := range strings.Fields(line)[1:] {
				copied[strings.TrimSuffix(f, "/")] = true
			}
		}
	}
	if froms != 2 {
		t.Errorf("%d FROM lines, want the build and the runtime stage", froms)
	}

	out, err := exec.Command("go", "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", ".").Output()
	if err != nil {
		t.Fatal(err)
	}
	const module = "github.com/aigw-mtls/aigw-mtls-webhook/"
	for _, pkg := range strings.Fields(string(out)) {
		if rest, ok := strings.CutPrefix(pkg, module); ok {
			top, _, _ := strings.Cut(rest, "/")
			if !copied[top] {
				t.Errorf("package %s is built into the binary, but the Dockerfile does not COPY %s/", pkg, top)
			}
		}
	}
}
