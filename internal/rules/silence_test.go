package rules

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

func objectWithSilence(t *testing.T, v string) []byte {
	t.Helper()
	raw, err := json.Marshal(map[string]any{"metadata": map[string]any{"name": "p", "annotations": map[string]string{AnnotationSilence: v}}})
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func TestSilenceDropsListedWarningsOnly(t *testing.T) {
	fs := Findings{
		PolicyProtocolsUnset.New(Finding{Object: "Policy/ns/p", Field: "spec.egressMTLS.protocols", Found: "unset"}),
		PolicySecretNotFound.New(Finding{Object: "Policy/ns/p", Field: "spec.egressMTLS.tlsSecret", Found: "not found yet"}),
		PolicySSLNameNotInSAN.New(Finding{Object: "Policy/ns/p", Field: "spec.egressMTLS.sslName", Expected: "a", Found: "b"}),
	}
	got := Silence(objectWithSilence(t, " POLICY_PROTOCOLS_UNSET ,POLICY_SSLNAME_NOT_IN_SAN,NO_SUCH_RULE"), fs)
	if len(got) != 2 || got[0].Rule != PolicySecretNotFound.ID || got[1].Rule != PolicySSLNameNotInSAN.ID {
		t.Errorf("got %v: want the unlisted warning and the error (errors are never silenced)", got)
	}
	if got := Silence([]byte(`{"metadata":{"name":"p"}}`), fs); len(got) != 3 {
		t.Errorf("without the annotation: %v", got)
	}
	if got := Silence([]byte(`not json`), fs); len(got) != 3 {
		t.Errorf("an undecodable object: %v", got)
	}
}

func TestSilenceBounds(t *testing.T) {
	fs := Findings{PolicyProtocolsUnset.New(Finding{Object: "Policy/ns/p", Field: "f", Found: "unset"})}
	var ids []string
	for i := 0; i < MaxSilencedIDs; i++ {
		ids = append(ids, fmt.Sprintf("RULE_%d", i))
	}
	if got := Silence(objectWithSilence(t, strings.Join(append(ids, string(PolicyProtocolsUnset.ID)), ",")), fs); len(got) != 1 {
		t.Errorf("an ID past the %dth silenced a warning", MaxSilencedIDs)
	}
	padding := strings.Repeat(" ", MaxSilenceLength)
	if got := Silence(objectWithSilence(t, padding+","+string(PolicyProtocolsUnset.ID)), fs); len(got) != 1 {
		t.Errorf("an ID past %d bytes silenced a warning", MaxSilenceLength)
	}
	if got := Silence(objectWithSilence(t, strings.Join(append(ids[:MaxSilencedIDs-1], string(PolicyProtocolsUnset.ID)), ",")), fs); len(got) != 0 {
		t.Errorf("the %dth ID did not silence its warning", MaxSilencedIDs)
	}
}

// The byte search that spares a decode never hides an annotation: written plainly or with JSON
// escapes, the silence applies; an object without it keeps its warnings.
func TestSilenceFindsEscapedAnnotation(t *testing.T) {
	fs := Findings{PolicyProtocolsUnset.New(Finding{Object: "Policy/ns/p", Field: "spec.egressMTLS.protocols", Found: "unset"})}
	if fs[0].Severity != Warning {
		t.Fatalf("%s is not a warning", fs[0].Rule)
	}
	id := string(fs[0].Rule)
	for _, raw := range []string{
		`{"metadata":{"annotations":{"mtls.aigw.io/silence-warnings":"` + id + `"}}}`,
		`{"metadata":{"annotations":{"mtls.aigw.io\/silence-warnings":"` + id + `"}}}`,
		`{"metadata":{"annotations":{"mtls.aigw.io\u002fsilence-warnings":"` + id + `"}}}`,
	} {
		if got := Silence([]byte(raw), fs); len(got) != 0 {
			t.Errorf("%s: the warning was kept", raw)
		}
	}
	if got := Silence([]byte(`{"metadata":{"annotations":{"other":"`+id+`"}}}`), fs); len(got) != 1 {
		t.Errorf("no silence annotation: want the warning kept, got %v", got)
	}
}
