// Package tools finds the programs the tests run (nginx, openssl, helm, kustomize, promtool, the
// envtest binaries) and decides what a missing one means: the test fails, saying how to get it, unless
// AIGW_TEST_ALLOW_MISSING=1 is set for a quick local run, when the test is skipped (and
// `make test`, which never sets it, lists every skip). It imports nothing but the standard
// library, so any test package can use it.
package tools

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
)

// AllowMissingEnv is the opt-out: set to 1, a missing tool skips the tests that need it.
const AllowMissingEnv = "AIGW_TEST_ALLOW_MISSING"

// Tool is a program a test runs.
type Tool struct {
	Name string // the executable's name in bin/ and on the PATH
	Env  string // the variable naming its path, which wins over everything else
	Get  string // how to get it
}

var (
	Nginx     = Tool{"nginx", "NGINX", "`make nginx` (Debian's package unpacked into bin/, no root needed), or apt-get install -y nginx"}
	OpenSSL   = Tool{"openssl", "OPENSSL", "`make openssl` (Debian's package unpacked into bin/, no root needed), or apt-get install -y openssl"}
	Helm      = Tool{"helm", "HELM", "`make helm` (built from the Go module proxy into bin/)"}
	Kustomize = Tool{"kustomize", "KUSTOMIZE", "`make kustomize` (built from the Go module proxy into bin/)"}
	Promtool  = Tool{"promtool", "PROMTOOL", "`make promtool` (Debian's prometheus package unpacked into bin/, about 20 seconds, once; built from the Go module proxy where apt-get is missing)"}
)

// ErrMissing wraps every "not found" error of this package.
var ErrMissing = errors.New("missing")

// RepoRoot is the module's root directory.
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// Path is $Env when set, else bin/<Name> in the repository, else <Name> on the PATH.
func (tl Tool) Path() (string, error) {
	if p := os.Getenv(tl.Env); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("%w: %s=%s: %v; get it with %s", ErrMissing, tl.Env, p, err, tl.Get)
		}
		return p, nil
	}
	if p := filepath.Join(RepoRoot(), "bin", tl.Name); isExecutable(p) {
		return p, nil
	}
	if p, err := exec.LookPath(tl.Name); err == nil {
		return p, nil
	}
	return "", fmt.Errorf("%w: %s not found (not in $%s, bin/ or the PATH): get it with %s, or set %s=/path/to/%s",
		ErrMissing, tl.Name, tl.Env, tl.Get, tl.Env, tl.Name)
}

// Need returns the tool's path, or ends the test through Missing.
func (tl Tool) Need(t testing.TB) string {
	t.Helper()
	p, err := tl.Path()
	if err != nil {
		Missing(t, err)
	}
	return p
}

// AllowMissing reports whether the opt-out is set.
func AllowMissing() bool { return os.Getenv(AllowMissingEnv) == "1" }

// Missing fails the test with err, or skips it when the opt-out is set.
func Missing(t testing.TB, err error) {
	t.Helper()
	if AllowMissing() {
		t.Skipf("%v (skipped: %s=1)", err, AllowMissingEnv)
	}
	t.Fatalf("%v (%s=1 skips instead)", err, AllowMissingEnv)
}

func isExecutable(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir() && st.Mode()&0o111 != 0
}
