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
