package patches

import (
	"testing"

	"gomodules.xyz/jsonpatch/v2"
)

func TestWiringOps(t *testing.T) {
	r := Result{Patch: []jsonpatch.Operation{
		add("/metadata/annotations", map[string]string{}),
		add("/spec/volumes", []any{}),
	}}
	if ops := WiringOps(r); len(ops) != 1 || ops[0].Path != "/spec/volumes" {
		t.Errorf("got %v", ops)
	}
	if ops := WiringOps(Result{Patch: r.Patch[:1]}); len(ops) != 0 {
		t.Errorf("annotation only: got %v", ops)
	}
}
