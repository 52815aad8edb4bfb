package chart_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode"

	"github.com/aigw-mtls/aigw-mtls-webhook/test/harness"
)

// securityRows are the "what" cells of the Permissions table of docs/security.md, lower case,
// without backticks.
func securityRows(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(harness.RepoRoot(), "docs", "security.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(b), "\n## Permissions\n")
	if !ok {
		t.Fatal("docs/security.md has no Permissions section")
	}
	section, _, _ = strings.Cut(section, "\n## ")
	var rows []string
	for _, line := range strings.Split(section, "\n") {
		cells := strings.Split(line, "|")
		if len(cells) < 4 || strings.HasPrefix(line, "|---") || strings.TrimSpace(cells[1]) == "what" {
			continue
		}
		rows = append(rows, strings.ToLower(strings.ReplaceAll(cells[1], "`", "")))
	}
	if len(rows) == 0 {
		t.Fatal("docs/security.md's Permissions section has no table")
	}
	return rows
}

// names reports whether a "what" cell grants verb on resource: the verb as a word, the resource
// (plural as in RBAC, or singular) in the text.
func names(row, verb, resource string) bool {
	words := strings.FieldsFunc(row, func(r rune) bool { return !unicode.IsLetter(r) })
	hasVerb := false
	for _, w := range words {
		hasVerb = hasVerb || w == verb
	}
	singular := strings.TrimSuffix(resource, "s")
	if p, ok := strings.CutSuffix(resource, "ies"); ok {
		singular = p + "y"
	}
	return hasVerb && (strings.Contains(row, resource) || strings.Contains(row, singular))
}

// TestSecurityTableListsEveryGrant: every verb on every resource (and URL) of every Role and
// ClusterRole the chart renders, in any value set, is a row of the Permissions table in docs/security.md.
func TestSecurityTableListsEveryGrant(t *testing.T) {
	rows := securityRows(t)
	missing := map[string]bool{}
	for _, v := range valueSets {
		_, objs := render(t, v)
		for _, o := range objs {
			if o.GetKind() != "Role" && o.GetKind() != "ClusterRole" {
				continue
			}
			for _, x := range slice(o.Object, "rules") {
				rule := x.(map[string]any)
				var targets []string
				for _, res := range slice(rule, "resources") {
					targets = append(targets, res.(string))
				}
				for _, u := range slice(rule, "nonResourceURLs") {
					targets = append(targets, u.(string))
				}
				for _, verb := range slice(rule, "verbs") {
					for _, target := range targets {
						found := false
						for _, row := range rows {
							found = found || names(row, verb.(string), target)
						}
						if !found {
							missing[verb.(string)+" "+target+" ("+o.GetKind()+" "+o.GetName()+", value set "+v.name+")"] = true
						}
					}
				}
			}
		}
	}
	for _, m := range sortedKeys(missing) {
		t.Errorf("docs/security.md's Permissions table has no row granting %s", m)
	}
}
