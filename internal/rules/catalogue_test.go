package rules

import (
	"bytes"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

func TestCatalogueEntriesComplete(t *testing.T) {
	if len(Catalogue()) < 50 {
		t.Fatalf("catalogue has %d rules", len(Catalogue()))
	}
	for _, d := range Catalogue() {
		if !idPattern.MatchString(string(d.ID)) {
			t.Errorf("%s: not UPPER_SNAKE", d.ID)
		}
		if d.Severity != Error && d.Severity != Warning {
			t.Errorf("%s: severity %q", d.ID, d.Severity)
		}
		if d.Checks == "" || d.Consequence == "" || d.Source == "" || d.Fix == "" {
			t.Errorf("%s: rule, consequence, source and fix must all be set: %+v", d.ID, d)
		}
	}
}

func TestDefineRefusesDuplicateIDs(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("a second rule with ID POLICY_SSLNAME_NOT_IN_SAN was accepted")
		}
	}()
	define(Def{ID: PolicySSLNameNotInSAN.ID, Severity: Warning})
}

// catalogueVars maps each rule variable of catalogue*.go to its ID, read from the source.
func catalogueVars(t *testing.T) map[string]string {
	t.Helper()
	files, _ := filepath.Glob("catalogue*.go")
	vars := map[string]string{}
	for _, path := range files {
		if strings.HasSuffix(path, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			vs, ok := n.(*ast.ValueSpec)
			if !ok || len(vs.Values) != 1 {
				return true
			}
			call, ok := vs.Values[0].(*ast.CallExpr)
			if !ok || len(call.Args) != 1 {
				return true
			}
			if fn, ok := call.Fun.(*ast.Ident); !ok || fn.Name != "define" {
				return true
			}
			for _, el := range call.Args[0].(*ast.CompositeLit).Elts {
				kv := el.(*ast.KeyValueExpr)
				if kv.Key.(*ast.Ident).Name == "ID" {
					id, _ := strconv.Unquote(kv.Value.(*ast.BasicLit).Value)
					vars[vs.Names[0].Name] = id
				}
			}
			return true
		})
	}
	return vars
}

// TestEveryRuleIsReported: each rule of the catalogue is reported by some code (the rules here or
// the mutations in patches, the probe in internal/probe), and every rule defined is in the catalogue.
func TestEveryRuleIsReported(t *testing.T) {
	vars := catalogueVars(t)
	if len(vars) != len(Catalogue()) {
		t.Errorf("%d rule variables in catalogue*.go, %d rules in the catalogue", len(vars), len(Catalogue()))
	}
	used := map[string]bool{}
	for _, dir := range []string{".", filepath.Join("..", "..", "patches"), filepath.Join("..", "probe")} {
		files, _ := filepath.Glob(filepath.Join(dir, "*.go"))
		for _, path := range files {
			base := filepath.Base(path)
			if strings.HasSuffix(base, "_test.go") || (dir == "." && strings.HasPrefix(base, "catalogue")) {
				continue
			}
			f, err := parser.ParseFile(token.NewFileSet(), path, nil, 0)
			if err != nil {
				t.Fatal(err)
			}
			ast.Inspect(f, func(n ast.Node) bool {
				switch n := n.(type) {
				case *ast.Ident:
					used[n.Name] = true
				case *ast.SelectorExpr:
					used[n.Sel.Name] = true
				}
				return true
			})
		}
	}
	for name, id := range vars {
		if !used[name] {
			t.Errorf("rule %s (%s) is reported by no code", id, name)
		}
	}
}

// TestReferenceInStep fails when docs/rules.md is not what `make docs` writes from the catalogue.
func TestReferenceInStep(t *testing.T) {
	path := filepath.Join("..", "..", "docs", "rules.md")
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run make docs)", err)
	}
	if !bytes.Equal(got, Reference()) {
		t.Errorf("%s differs from the rule catalogue: run make docs", path)
	}
	for _, d := range Catalogue() {
		if !bytes.Contains(got, []byte("| `"+string(d.ID)+"` | "+string(d.Severity)+" |")) {
			t.Errorf("%s not documented in %s", d.ID, path)
		}
	}
}
