package checker

import (
	"bytes"
	"encoding/json"
	"testing"
)

// WriteJSON prints, a check at a time, the very document json.Encoder prints of the whole report.
func TestWriteJSONIsTheEncodersDocument(t *testing.T) {
	for name, r := range map[string]*Report{
		"none": newReport(nil, nil),
		"some": newReport([]Check{
			{Section: SectionPolicies, Namespace: "a", Object: "Policy/a/p", Status: StatusError, Message: "<sslName> & \"quotes\"", Fix: "fix it", Rule: "POLICY_X"},
			{Section: SectionSecrets, Namespace: "a", Object: "Secret/a/s", Status: StatusOK, Message: "ok — ✓"},
			{Section: SectionCluster, Object: "namespaces", Status: StatusWarning, Message: "m", Fix: "f"},
		}, []string{"a"}),
	} {
		var want bytes.Buffer
		enc := json.NewEncoder(&want)
		enc.SetIndent("", "  ")
		enc.SetEscapeHTML(false)
		if err := enc.Encode(r); err != nil {
			t.Fatal(err)
		}
		var got bytes.Buffer
		if err := r.WriteJSON(&got); err != nil {
			t.Fatal(err)
		}
		if got.String() != want.String() {
			t.Errorf("%s: WriteJSON printed\n%s\nwant\n%s", name, got.String(), want.String())
		}
	}
}
