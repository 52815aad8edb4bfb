package patches

import (
	"path"
	"strings"

	"gomodules.xyz/jsonpatch/v2"

	"github.com/aigw-mtls/aigw-mtls-webhook/internal/aigw"
	"github.com/aigw-mtls/aigw-mtls-webhook/internal/objects"
	"github.com/aigw-mtls/aigw-mtls-webhook/internal/rules"
)

// Result is what a mutation found: the operations that wire the object, the operations that record
// the wiring in its metadata, and findings (errors stop the mutation, warnings do not).
type Result struct {
	Wiring   []jsonpatch.Operation
	Record   []jsonpatch.Operation
	Findings rules.Findings
	// Unwired says, one finding per part, what the wiring adds: what the object lacks until it is
	// applied through the webhook (check reports them for objects admitted without it).
	Unwired rules.Findings
}

// Patch is the whole JSON Patch: the wiring, then the record.
func (r Result) Patch() []jsonpatch.Operation {
	if len(r.Record) == 0 {
		return r.Wiring
	}
	return append(append([]jsonpatch.Operation{}, r.Wiring...), r.Record...)
}

// Wired reports whether the object needs nothing more: no conflict and no wiring to add. The record
// alone does not count: an object wired by hand is wired.
func (r Result) Wired() bool { return len(r.Wiring) == 0 && len(r.Findings.Errors()) == 0 }

// Conflicts are the error findings, one line each.
func (r Result) Conflicts() []string { return r.Findings.Errors() }

// Decision is a Result with the mode applied: what the API server (or the CLI) should do.
type Decision struct {
	aigw.Decision
	Patch []jsonpatch.Operation
}

// Decide applies mode: in enforce mode a conflict denies the object; in warn mode the object is
// allowed unchanged and each conflict becomes a warning.
func (r Result) Decide(mode aigw.Mode) Decision {
	d := Decision{Decision: r.Findings.Decide(mode)}
	if len(r.Findings.Errors()) == 0 {
		d.Patch = r.Patch()
	}
	return d
}

// pointerEscaper escapes one JSON Pointer reference token (RFC 6901), built once.
var pointerEscaper = strings.NewReplacer("~", "~0", "/", "~1")

func pointerEscape(s string) string {
	return pointerEscaper.Replace(s)
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
