package rules

import (
	"fmt"
	"regexp"
	"sort"
)

// ID names a rule. IDs are stable: they appear in every finding's message, in the `rule` label of
// aigw_mtls_policy_problems, in `check`, in docs/rules.md and in the silence annotation, so a
// rule keeps its ID when its wording changes.
type ID string

// Def is one rule of the catalogue: what it requires, its severity, what happens at run time when
// a finding of it is ignored, the upstream behaviour it follows and the fix in general. A finding
// names the expected and found values and the fix for its object.
type Def struct {
	ID          ID
	Severity    Severity
	Checks      string // what the rule requires
	Consequence string
	Source      string // the upstream source it follows (file and function), or why it is stricter
	Fix         string
}

// New returns f as a finding of d: d's ID, severity and consequence (unless f names a consequence
// particular to its object), and d's fix when f has none.
func (d Def) New(f Finding) Finding {
	f.Rule, f.Severity = d.ID, d.Severity
	if f.Consequence == "" {
		f.Consequence = d.Consequence
	}
	if f.Fix == "" {
		f.Fix = d.Fix
	}
	return f
}

var (
	catalogue = map[ID]Def{}
	idPattern = regexp.MustCompile(`^[A-Z][A-Z0-9]*(_[A-Z0-9]+)+$`)
)

// define adds d to the catalogue; an ID defined twice, or not UPPER_SNAKE, stops the program at
// start-up.
func define(d Def) Def {
	if !idPattern.MatchString(string(d.ID)) {
		panic(fmt.Sprintf("rule ID %q is not UPPER_SNAKE", d.ID))
	}
	if _, dup := catalogue[d.ID]; dup {
		panic(fmt.Sprintf("rule ID %s defined twice", d.ID))
	}
	catalogue[d.ID] = d
	return d
}

// Catalogue returns every rule, sorted by ID.
func Catalogue() []Def {
	out := make([]Def, 0, len(catalogue))
	for _, d := range catalogue {
		out = append(out, d)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// Lookup returns the rule with ID id.
func Lookup(id ID) (Def, bool) {
	d, ok := catalogue[id]
	return d, ok
}
