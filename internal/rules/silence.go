package rules

import (
	"bytes"
	"strings"

	"github.com/aigw-mtls/aigw-mtls-webhook/internal/objects"
)

// AnnotationSilence on a judged object lists rule IDs, separated by commas, whose warnings about
// it are not reported: not in admission, `validate` or `check`. Errors are never silenced: an
// error's ID listed there is ignored.
const AnnotationSilence = "mtls.aigw.io/silence-warnings"

// The annotation is read up to these bounds; IDs past them are ignored.
const (
	MaxSilencedIDs   = 64
	MaxSilenceLength = 4 << 10 // bytes
)

// Silence drops the warnings of fs that the judged object raw silences with AnnotationSilence.
func Silence(raw []byte, fs Findings) Findings {
	if len(fs) == 0 || !mayName(raw, AnnotationSilence) {
		return fs
	}
	var o struct {
		Metadata objects.Meta `json:"metadata"`
	}
	if objects.Decode(raw, &o) != nil {
		return fs
	}
	return SilenceBy(o.Metadata.Annotations, fs)
}

// mayName reports whether raw, JSON, may hold the string s: it does unless neither s nor an
// escape that could spell it (\u, \/) is in it. Most objects silence nothing: the byte search
// spares them a second decode of the whole object.
func mayName(raw []byte, s string) bool {
	return bytes.Contains(raw, []byte(s)) || bytes.Contains(raw, []byte(`\u`)) || bytes.Contains(raw, []byte(`\/`))
}

// SilenceBy drops the warnings of fs that annotations (the judged object's) silence.
func SilenceBy(annotations map[string]string, fs Findings) Findings {
	ids := silenced(annotations[AnnotationSilence])
	if len(ids) == 0 {
		return fs
	}
	out := make(Findings, 0, len(fs))
	for _, f := range fs {
		if f.Severity == Warning && ids[f.Rule] {
			continue
		}
		out = append(out, f)
	}
	return out
}

// silenced parses the annotation's value within its bounds.
func silenced(v string) map[ID]bool {
	if len(v) > MaxSilenceLength {
		v = v[:MaxSilenceLength]
	}
	ids := map[ID]bool{}
	for _, id := range strings.Split(v, ",") {
		if len(ids) == MaxSilencedIDs {
			break
		}
		if id = strings.TrimSpace(id); id != "" {
			ids[ID(id)] = true
		}
	}
	return ids
}
