package main

import (
	"bytes"
	"strings"
	"testing"
)

// A negative bound on the namespaces one admission request may reach is refused before anything
// starts.
func TestServeRefusesNegativeNamespacesPerRequest(t *testing.T) {
	var stderr bytes.Buffer
	if code := serve([]string{"--namespaces-per-request=-1"}, &stderr); code != 2 || !strings.Contains(stderr.String(), "--namespaces-per-request -1: expected 0 or more") {
		t.Errorf("exit %d, stderr %q", code, stderr.String())
	}
}
