package chart_test

import (
	"os"
	"path/filepath"
	"testing"
)

// GOMEMLIMIT is goMemLimitPercent of the memory limit however the limit is written; a limit that
// is not a whole number of bytes, or none, leaves it the whole limit (resourceFieldRef); no value
// renders a limit of 0 or one past int64.
func TestGoMemLimitFromTheMemoryLimit(t *testing.T) {
	valuesFile := filepath.Join(t.TempDir(), "values.yaml")
	// A YAML number, which helm reads as a float.
	if err := os.WriteFile(valuesFile, []byte("resources:\n  limits:\n    memory: 268435456\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name  string
		args  []string
		value string // "" : from resourceFieldRef
	}{
		{"default", nil, "214748364"},
		{"values file number", []string{"-f", valuesFile}, "214748364"},
		{"decimal unit", []string{"--set", "resources.limits.memory=512M"}, "409600000"},
		{"percent unset", []string{"--set", "goMemLimitPercent=null"}, "214748364"},
		{"fraction", []string{"--set", "resources.limits.memory=1.5Gi"}, ""},
		{"no limits", []string{"--set", "resources.limits=null"}, ""},
		{"zero", []string{"--set", "resources.limits.memory=0"}, ""},
		{"huge", []string{"--set", "resources.limits.memory=200000Ti"}, "175921860444160000"},
	} {
		args := append([]string{"template", defaultRelease, chartDir(), "--namespace", defaultNamespace,
			"--set", "networkPolicy.allowAnySource=true"}, c.args...)
		out, err := runHelm(t, args...)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		objs, err := decode(out)
		if err != nil {
			t.Fatal(err)
		}
		r := rendering{objs: objs}
		env := slice(container(t, r.one(t, "Deployment")), "env")
		if len(env) != 1 {
			t.Fatalf("%s: env %v, want GOMEMLIMIT", c.name, env)
		}
		e := env[0].(map[string]any)
		from := mapAt(e, "valueFrom", "resourceFieldRef")
		switch {
		case e["name"] != "GOMEMLIMIT":
			t.Errorf("%s: env %v, want GOMEMLIMIT", c.name, e)
		case c.value == "" && (from["resource"] != "limits.memory" || e["value"] != nil):
			t.Errorf("%s: %v, want GOMEMLIMIT from limits.memory", c.name, e)
		case c.value != "" && e["value"] != c.value:
			t.Errorf("%s: GOMEMLIMIT %v, want %s", c.name, e["value"], c.value)
		}
	}
}
