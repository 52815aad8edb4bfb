package patches

import (
	"fmt"
	"path"
	"strings"

	"gomodules.xyz/jsonpatch/v2"

	"github.com/aigw-mtls/aigw-mtls-webhook/internal/aigw"
	"github.com/aigw-mtls/aigw-mtls-webhook/internal/objects"
)

// Result is what a mutation found: the operations that wire the object, the conflicts that stop it,
// and warnings that do not.
type Result struct {
	Patch     []jsonpatch.Operation
	Conflicts []string
	Warnings  []string
}

// Decision is a Result with the mode applied: what the API server (or the CLI) should do.
type Decision struct {
	aigw.Decision
	Patch []jsonpatch.Operation
}

// Decide applies mode: in enforce mode a conflict denies the object; in warn mode the object is
// allowed unchanged and each conflict becomes a warning.
func (r Result) Decide(mode aigw.Mode) Decision {
	d := Decision{Decision: aigw.Decide(r.Conflicts, r.Warnings, mode)}
	if len(r.Conflicts) == 0 {
		d.Patch = r.Patch
	}
	return d
}

// conflict formats one denial line: object, field, expected, found and the fix.
func conflict(obj, field, expected, found, fix string) string {
	return fmt.Sprintf("%s: %s: expected %s, found %s; fix: %s", obj, field, expected, found, fix)
}

// pointerEscape escapes one JSON Pointer reference token (RFC 6901).
func pointerEscape(s string) string {
	return strings.NewReplacer("~", "~0", "/", "~1").Replace(s)
}

func joinPath(dir, file string) string { return path.Join(dir, file) }

func add(p string, v any) jsonpatch.Operation {
	return jsonpatch.Operation{Operation: "add", Path: p, Value: v}
}

func replace(p string, v any) jsonpatch.Operation {
	return jsonpatch.Operation{Operation: "replace", Path: p, Value: v}
}

// objectMeta is the part of metadata the patches read.
type objectMeta = objects.Meta

// annotationOp sets one annotation, creating the map when the object has none.
func annotationOp(m objectMeta, key, value string) []jsonpatch.Operation {
	if m.Annotations == nil {
		return []jsonpatch.Operation{add("/metadata/annotations", map[string]string{key: value})}
	}
	if old, ok := m.Annotations[key]; ok {
		if old == value {
			return nil
		}
		return []jsonpatch.Operation{replace("/metadata/annotations/"+pointerEscape(key), value)}
	}
	return []jsonpatch.Operation{add("/metadata/annotations/"+pointerEscape(key), value)}
}

// WiringOps returns the operations of r that wire an object (everything but the record kept in
// metadata): a labelled object whose mutation still yields such operations is not wired.
func WiringOps(r Result) []jsonpatch.Operation {
	var ops []jsonpatch.Operation
	for _, op := range r.Patch {
		if !strings.HasPrefix(op.Path, "/metadata/") {
			ops = append(ops, op)
		}
	}
	return ops
}
