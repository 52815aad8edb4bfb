package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestParseMemoryLimit(t *testing.T) {
	for v, want := range map[string]int64{"0": 0, "0Mi": 0, "320Mi": 320 << 20, "1G": 1e9, "32Mi": 32 << 20} {
		if got, err := parseMemoryLimit(v); err != nil || got != want {
			t.Errorf("parseMemoryLimit(%q) = %d, %v; want %d", v, got, err, want)
		}
	}
	for _, v := range []string{"300m", "1m", "31Mi", "lots", "-1Gi"} {
		if got, err := parseMemoryLimit(v); err == nil {
			t.Errorf("parseMemoryLimit(%q) = %d, want an error", v, got)
		}
	}
}

// A bad --memory-limit is a usage error (exit 2) before any cluster is read, even when GOMEMLIMIT
// is set and would win.
func TestCheckRefusesABadMemoryLimit(t *testing.T) {
	t.Setenv("GOMEMLIMIT", "1GiB")
	var stdout, stderr bytes.Buffer
	if code := check([]string{"--memory-limit", "300m", "--kubeconfig", "/nonexistent"}, &stdout, &stderr); code != 2 {
		t.Errorf("exit %d, want 2", code)
	}
	if !strings.Contains(stderr.String(), `--memory-limit "300m"`) || stdout.Len() != 0 {
		t.Errorf("stdout %q, stderr %q: want nothing printed and the flag named", stdout.String(), stderr.String())
	}
}

// check --probe refuses a bound of 0 or less, as serve does, instead of silently probing 64
// targets or 16 endpoints; without --probe the bounds are not used and not judged.
func TestCheckRefusesNonPositiveProbeBounds(t *testing.T) {
	for _, args := range [][]string{
		{"--probe", "--probe-max-targets", "0"},
		{"--probe", "--probe-max-targets=-3"},
		{"--probe", "--probe-max-endpoints", "0"},
	} {
		var stdout, stderr bytes.Buffer
		if code := check(append(args, "--kubeconfig", "/nonexistent"), &stdout, &stderr); code != 2 ||
			!strings.Contains(stderr.String(), "must be positive") || strings.Contains(stderr.String(), "cannot read the cluster") {
			t.Errorf("%v: exit %d, stderr %q; want 2, the bound refused before any cluster is read", args, code, stderr.String())
		}
	}
	var stdout, stderr bytes.Buffer
	if code := check([]string{"--probe-max-targets", "0", "--kubeconfig", "/nonexistent"}, &stdout, &stderr); strings.Contains(stderr.String(), "must be positive") {
		t.Errorf("without --probe: exit %d, stderr %q; want the bound not judged", code, stderr.String())
	}
}
