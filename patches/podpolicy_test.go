package patches

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// The CEL the chart ships for podInjection.engine=policy is the one GeneratePodPolicy writes from
// PatchPod's mounts, texts and rules: editing either alone fails here until `make podpolicy` runs.
// test/podengine holds the two engines to the same results on a real API server.
func TestCommittedPodPolicyIsGenerated(t *testing.T) {
	want, err := RenderPodPolicy()
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join("..", PodPolicyPath))
	if err != nil {
		t.Fatalf("%v: run make podpolicy", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from its generator (patches/podpolicy.go): run make podpolicy and commit it", PodPolicyPath)
	}
}
