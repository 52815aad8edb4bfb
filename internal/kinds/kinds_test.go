package kinds

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"sigs.k8s.io/yaml"
)

// The table is consistent: one row per kind, a mutation exactly when it has mutating webhooks,
// a rule exactly when it has validating ones, every webhook name and serving path once, and only
// CREATE and UPDATE (the handlers judge nothing else).
func TestTableIsConsistent(t *testing.T) {
	names, paths := map[string]bool{}, map[string]bool{}
	for _, k := range All {
		if Named(k.Kind) != k || Of(k.APIVersion(), k.Kind) != k {
			t.Errorf("%s: not found by its name or apiVersion (two rows?)", k.Kind)
		}
		if (k.Mutate != nil) != (len(k.MutateHooks) > 0) || (k.Validate != nil) != (len(k.ValidateHooks) > 0) {
			t.Errorf("%s: a mutation or rule without webhooks, or webhooks without one", k.Kind)
		}
		if k.Mutate == nil && k.Validate == nil && k.Cache == nil {
			t.Errorf("%s: neither admitted nor cached", k.Kind)
		}
		for _, p := range []string{k.MutatePath(), k.ValidatePath()} {
			if p != "" && paths[p] {
				t.Errorf("%s: path %s twice", k.Kind, p)
			}
			paths[p] = true
		}
		for _, h := range slices.Concat(k.MutateHooks, k.ValidateHooks) {
			if names[h.Name] {
				t.Errorf("%s: webhook %s twice", k.Kind, h.Name)
			}
			names[h.Name] = true
			for _, op := range h.Operations {
				if op != "CREATE" && op != "UPDATE" {
					t.Errorf("%s: webhook %s operation %s", k.Kind, h.Name, op)
				}
			}
		}
	}
	if got := Pod.MutatePath(); got != "/mutate-v1-pod" {
		t.Errorf("Pod mutate path %s", got)
	}
	if got := BackendTLSPolicy.ValidatePath(); got != "/validate-gateway-networking-k8s-io-v1-backendtlspolicy" {
		t.Errorf("BackendTLSPolicy validate path %s", got)
	}
}

// Every row of a kind whose CRD is kept in test/crds names the CRD's group, a served version and
// its plural: the resource the webhook configurations match.
func TestResourcesAreTheCRDs(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("..", "..", "test", "crds", "*", "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no CRDs in test/crds: %v", err)
	}
	type crd struct {
		Spec struct {
			Group string `json:"group"`
			Names struct {
				Kind   string `json:"kind"`
				Plural string `json:"plural"`
			} `json:"names"`
			Versions []struct {
				Name   string `json:"name"`
				Served bool   `json:"served"`
			} `json:"versions"`
		} `json:"spec"`
	}
	checked := 0
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var c crd
		if err := yaml.Unmarshal(b, &c); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		k := Named(c.Spec.Names.Kind)
		if k == nil || k.Group != c.Spec.Group {
			continue
		}
		checked++
		if k.Resource != c.Spec.Names.Plural {
			t.Errorf("%s: resource %q, the CRD's plural is %q", k.Kind, k.Resource, c.Spec.Names.Plural)
		}
		if !slices.ContainsFunc(c.Spec.Versions, func(v struct {
			Name   string `json:"name"`
			Served bool   `json:"served"`
		}) bool {
			return v.Name == k.Version && v.Served
		}) {
			t.Errorf("%s: version %s not served by its CRD", k.Kind, k.Version)
		}
	}
	if checked < 5 {
		t.Errorf("only %d rows checked against test/crds, want Policy, VirtualServer, VirtualServerRoute, BackendTLSPolicy, Gateway", checked)
	}
}
