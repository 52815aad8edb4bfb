package patches

import (
	"testing"

	"gomodules.xyz/jsonpatch/v2"

	"github.com/aigw-mtls/aigw-mtls-webhook/internal/aigw"
	"github.com/aigw-mtls/aigw-mtls-webhook/internal/rules"
)

func TestResultPatchAndWired(t *testing.T) {
	wiring := []jsonpatch.Operation{add("/spec/volumes", []any{})}
	record := []jsonpatch.Operation{add("/metadata/annotations", map[string]string{})}
	r := Result{Wiring: wiring, Record: record}
	if p := r.Patch(); len(p) != 2 || p[0].Path != "/spec/volumes" || p[1].Path != "/metadata/annotations" {
		t.Errorf("Patch: want the wiring then the record, got %v", p)
	}
	if r.Wired() {
		t.Error("an object with wiring to add is not wired")
	}
	if !(Result{Record: record}).Wired() {
		t.Error("an object needing only the record is wired")
	}
	conflicted := Result{Findings: rules.Findings{rules.PodNoContainer.New(rules.Finding{Object: "Pod/ns/p", Field: "spec", Expected: "x", Found: "y", Fix: "z"})}}
	if conflicted.Wired() {
		t.Error("an object with a conflict is not wired")
	}
	if d := conflicted.Decide(aigw.ModeEnforce); d.Allowed || d.Denial != "Pod/ns/p: [POD_NO_CONTAINER] spec: expected x, found y ("+rules.NotMounted+"); fix: z" {
		t.Errorf("enforce: got %+v", d)
	}
	if d := (Result{Wiring: wiring, Findings: rules.Findings{rules.IngressNoBackend.New(rules.Finding{Object: "Pod/ns/p", Field: "spec", Found: "w"})}}).Decide(aigw.ModeEnforce); !d.Allowed || len(d.Patch) != 1 || len(d.Warnings) != 1 {
		t.Errorf("a warning does not stop the patch: got %+v", d)
	}
}
