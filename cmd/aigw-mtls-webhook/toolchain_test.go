package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// goModVersion is go.mod's toolchain line: the Go release the module is built and tested with (one
// without the standard library's known vulnerabilities; make vulncheck checks that).
func goModVersion(t *testing.T, root string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^toolchain go(1\.\d+\.\d+)$`).FindSubmatch(b)
	if m == nil {
		t.Fatal("go.mod has no toolchain line naming a release (toolchain go1.N.P)")
	}
	return string(m[1])
}

// Every recipe of the Makefile runs go.mod's Go, even on a machine whose go is another version and
// says GOTOOLCHAIN=local.
func TestMakefileUsesGoModToolchain(t *testing.T) {
	root := filepath.Join("..", "..")
	want := "go version go" + goModVersion(t, root) + " "
	cmd := exec.Command("make", "-s", "--no-print-directory", "-C", root, "toolchain")
	cmd.Env = append(os.Environ(), "GOTOOLCHAIN=local", "MAKEFLAGS=")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("make toolchain: %v\n%s", err, out)
	}
	if !strings.HasPrefix(string(out), want) {
		t.Errorf("make toolchain printed %q, want %q…", out, want)
	}
}

// The image's binary is compiled by go.mod's Go: a golang image of that version, or GOTOOLCHAIN
// naming it in the build stage.
func TestDockerfileUsesGoModToolchain(t *testing.T) {
	root := filepath.Join("..", "..")
	version := goModVersion(t, root)
	b, err := os.ReadFile(filepath.Join(root, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	build, _, _ := strings.Cut(string(b), "\nCOPY --from")
	image := regexp.MustCompile(`(?m)^FROM golang:([\w.-]+)@`).FindStringSubmatch(build)
	env := regexp.MustCompile(`(?m)^ENV GOTOOLCHAIN=(\S+)$`).FindStringSubmatch(build)
	switch {
	case env != nil:
		if env[1] != "go"+version {
			t.Errorf("the build stage sets GOTOOLCHAIN=%s, want go%s (go.mod)", env[1], version)
		}
	case image == nil:
		t.Error("the build stage is no golang image and sets no GOTOOLCHAIN")
	case image[1] != version:
		t.Errorf("the build stage compiles with golang:%s and sets no GOTOOLCHAIN; want Go %s (go.mod)", image[1], version)
	}
}
