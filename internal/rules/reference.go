package rules

import (
	"bytes"
	"fmt"
	"strings"
)

// Reference renders the catalogue as docs/rules.md (`make docs` writes it; a test fails when the
// file differs).
func Reference() []byte {
	var b bytes.Buffer
	b.WriteString(`# Rule reference

<!-- Generated from internal/rules/catalogue*.go by ` + "`make docs`" + `; do not edit. -->

Every finding names its rule by ID: in admission denials and warnings, in ` + "`validate`" + ` and
` + "`check`" + `, in Events and in the ` + "`rule`" + ` label of ` + "`aigw_mtls_policy_problems`" + `. An error refuses the
object (in enforce mode); a warning only warns, and the annotation
` + "`" + AnnotationSilence + "`" + ` on the judged object silences warnings by ID (never errors).
A finding names the fix for its object; the fix here is the general one.

| ID | severity | rule | consequence | source | fix |
|---|---|---|---|---|---|
`)
	for _, d := range Catalogue() {
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s | %s | %s |\n", d.ID, d.Severity, cell(d.Checks), cell(d.Consequence), cell(d.Source), cell(d.Fix))
	}
	return b.Bytes()
}

// cell escapes a table cell.
func cell(s string) string {
	return strings.NewReplacer("|", `\|`, "\n", " ").Replace(s)
}
