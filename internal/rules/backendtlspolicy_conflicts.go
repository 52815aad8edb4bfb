package rules

import (
	"fmt"
	"time"

	"github.com/aigw-mtls/aigw-mtls-webhook/internal/objects"
)

// btpOrder is what NGF orders conflicting BackendTLSPolicies by.
type btpOrder struct {
	Metadata struct {
		Name              string    `json:"name"`
		CreationTimestamp time.Time `json:"creationTimestamp"`
	} `json:"metadata"`
	Spec struct {
		TargetRefs []struct {
			Group       string  `json:"group"`
			Kind        string  `json:"kind"`
			Name        string  `json:"name"`
			SectionName *string `json:"sectionName"`
		} `json:"targetRefs"`
	} `json:"spec"`
}

// checkBTPConflicts follows internal/controller/state/graph/backend_refs.go
// findBackendTLSPolicyForService: of the BackendTLSPolicies that apply to the same Service port
// (sectionName unset, or naming that port), NGF uses the oldest (ngfsort.LessClientObject:
// creationTimestamp, then name) and marks the others Conflicted; their hostname and CA are not
// used. The other policies are read from objs (all of the namespace's, labelled or not).
func checkBTPConflicts(c *collector, raw []byte, namespace string, objs objects.Objects) {
	var me btpOrder
	if objects.Decode(raw, &me) != nil {
		return
	}
	for _, other := range objects.List(objs, "BackendTLSPolicy", namespace) {
		var o btpOrder
		if objects.Decode(other, &o) != nil || o.Metadata.Name == me.Metadata.Name {
			continue
		}
		older := o.Metadata.CreationTimestamp.Before(me.Metadata.CreationTimestamp) ||
			o.Metadata.CreationTimestamp.Equal(me.Metadata.CreationTimestamp) && o.Metadata.Name < me.Metadata.Name
		if !older {
			continue
		}
		for i, mine := range me.Spec.TargetRefs {
			if mine.Kind != "Service" {
				continue
			}
			for _, theirs := range o.Spec.TargetRefs {
				if theirs.Kind != "Service" || theirs.Name != mine.Name {
					continue
				}
				if mine.SectionName != nil && theirs.SectionName != nil && *mine.SectionName != *theirs.SectionName {
					continue // different ports
				}
				c.add(BTPConflicted, Finding{Field: fmt.Sprintf("spec.targetRefs[%d]", i), Expected: fmt.Sprintf("the only BackendTLSPolicy for Service %s", mine.Name),
					Found: fmt.Sprintf("BackendTLSPolicy %s/%s, older, targets it too", namespace, o.Metadata.Name),
					Fix:   fmt.Sprintf("edit BackendTLSPolicy %s instead, or delete it first", o.Metadata.Name)})
				return
			}
		}
	}
}
