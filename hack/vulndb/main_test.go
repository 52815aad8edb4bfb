package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Entries shaped like golang.org/x/vulndb's data/osv: one module fixed twice, a module whose
// vulnerability comes back after its fix, the standard library with a prerelease introduction.
var osvEntries = map[string]string{
	"GO-2026-0002.json": `{"schema_version":"1.3.1","id":"GO-2026-0002","modified":"2026-03-01T00:00:00Z","aliases":["CVE-2026-2"],
		"affected":[
			{"package":{"name":"example.com/a","ecosystem":"Go"},"ranges":[{"type":"SEMVER","events":[{"introduced":"0"},{"fixed":"1.2.0"},{"introduced":"1.10.0"},{"fixed":"1.10.3"}]}]},
			{"package":{"name":"stdlib","ecosystem":"Go"},"ranges":[{"type":"SEMVER","events":[{"introduced":"0"},{"fixed":"1.26.9"},{"introduced":"1.27.0-0"},{"fixed":"1.27.2"}]}]}]}`,
	"GO-2026-0001.json": `{"schema_version":"1.3.1","id":"GO-2026-0001","modified":"2026-05-01T00:00:00Z",
		"affected":[
			{"package":{"name":"example.com/b","ecosystem":"Go"},"ranges":[{"type":"SEMVER","events":[{"introduced":"0"},{"fixed":"0.3.0"},{"introduced":"0.5.0"}]}]},
			{"package":{"name":"example.com/a","ecosystem":"Go"},"ranges":[{"type":"SEMVER","events":[{"introduced":"2.0.0-rc.1"},{"fixed":"2.0.0"}]}]}]}`,
	"NOTES.txt": "not an entry",
}

func writeEntries(t *testing.T, entries map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, body := range entries {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func readJSON(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestBuildWritesTheV1Layout(t *testing.T) {
	src := writeEntries(t, osvEntries)
	out := filepath.Join(t.TempDir(), "vulndb")
	// A database already there is replaced whole: nothing of it is left.
	if err := os.MkdirAll(filepath.Join(out, "ID"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(out, "ID", "GO-2020-9999.json"), []byte("{}"), 0o644); err != nil {
		t.Fatal(err)
	}

	n, err := build(src, out)
	if err != nil {
		t.Fatal(err)
	}
	if n != 2 {
		t.Errorf("build reported %d entries, want 2", n)
	}

	if got, want := readJSON(t, filepath.Join(out, "index", "db.json")), `{"modified":"2026-05-01T00:00:00Z"}`; got != want {
		t.Errorf("index/db.json = %s, want %s (the latest modified of an entry)", got, want)
	}
	// Modules by path, their vulnerabilities by ID; "fixed" is the version from which no version
	// is affected, and absent where a range reintroduces the vulnerability after its last fix.
	wantModules := `[` +
		`{"path":"example.com/a","vulns":[{"id":"GO-2026-0001","modified":"2026-05-01T00:00:00Z","fixed":"2.0.0"},{"id":"GO-2026-0002","modified":"2026-03-01T00:00:00Z","fixed":"1.10.3"}]},` +
		`{"path":"example.com/b","vulns":[{"id":"GO-2026-0001","modified":"2026-05-01T00:00:00Z"}]},` +
		`{"path":"stdlib","vulns":[{"id":"GO-2026-0002","modified":"2026-03-01T00:00:00Z","fixed":"1.27.2"}]}]`
	if got := readJSON(t, filepath.Join(out, "index", "modules.json")); got != wantModules {
		t.Errorf("index/modules.json =\n%s\nwant\n%s", got, wantModules)
	}
	wantVulns := `[{"id":"GO-2026-0001","modified":"2026-05-01T00:00:00Z"},{"id":"GO-2026-0002","modified":"2026-03-01T00:00:00Z","aliases":["CVE-2026-2"]}]`
	if got := readJSON(t, filepath.Join(out, "index", "vulns.json")); got != wantVulns {
		t.Errorf("index/vulns.json =\n%s\nwant\n%s", got, wantVulns)
	}

	ids, err := os.ReadDir(filepath.Join(out, "ID"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, id := range ids {
		names = append(names, id.Name())
	}
	if got, want := strings.Join(names, " "), "GO-2026-0001.json GO-2026-0002.json"; got != want {
		t.Errorf("ID/ holds %s, want %s", got, want)
	}
	for _, name := range names {
		if got := readJSON(t, filepath.Join(out, "ID", name)); got != osvEntries[name] {
			t.Errorf("ID/%s differs from the OSV entry it was made of", name)
		}
		var e map[string]any
		if err := json.Unmarshal([]byte(readJSON(t, filepath.Join(out, "ID", name))), &e); err != nil {
			t.Errorf("ID/%s: %v", name, err)
		}
	}
	leftovers, _ := filepath.Glob(filepath.Join(filepath.Dir(out), ".vulndb-*"))
	if len(leftovers) != 0 {
		t.Errorf("temporary folders left beside the database: %v", leftovers)
	}
}

func TestBuildRefusesBadInput(t *testing.T) {
	for name, entries := range map[string]map[string]string{
		"no entry":           {"README.md": "#"},
		"misnamed entry":     {"GO-2026-0003.json": `{"id":"GO-2026-0004","affected":[]}`},
		"entry without id":   {"GO-2026-0003.json": `{"affected":[]}`},
		"not an OSV entry":   {"GO-2026-0003.json": `[1, 2]`},
		"truncated entry":    {"GO-2026-0003.json": `{"id":"GO-2026-0003","affected":[`},
		"malformed modified": {"GO-2026-0003.json": `{"id":"GO-2026-0003","modified":"yesterday"}`},
	} {
		t.Run(name, func(t *testing.T) {
			parent := t.TempDir()
			out := filepath.Join(parent, "vulndb")
			if err := os.MkdirAll(filepath.Join(out, "index"), 0o755); err != nil {
				t.Fatal(err)
			}
			if _, err := build(writeEntries(t, entries), out); err == nil {
				t.Fatal("build succeeded, want an error")
			}
			// The database already there is kept when the new one cannot be made.
			if _, err := os.Stat(filepath.Join(out, "index")); err != nil {
				t.Errorf("the previous database is gone: %v", err)
			}
			if leftovers, _ := filepath.Glob(filepath.Join(parent, ".vulndb-*")); len(leftovers) != 0 {
				t.Errorf("temporary folders left: %v", leftovers)
			}
		})
	}
}

// compare orders versions as golang.org/x/mod/semver.Compare orders them with a "v" prefix.
func TestCompare(t *testing.T) {
	ascending := []string{
		"", "bad", "1.2.3.4", "01.0.0", // invalid versions first, equal to each other
		"0",
		"0.3.0",
		"1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-alpha.beta", "1.0.0-beta", "1.0.0-beta.2", "1.0.0-beta.11", "1.0.0-rc.1",
		"1.0.0",
		"1.2.0",
		"1.10.0",
		"1.26.10",
		"1.27.0-0",
		"1.27.0",
		"1.27.3",
		"2.0.0",
		"10.0.0",
	}
	rank := func(i int) int { return max(i, 3) } // the invalid ones share a rank
	for i, v := range ascending {
		for j, w := range ascending {
			want := 0
			switch {
			case rank(i) < rank(j):
				want = -1
			case rank(i) > rank(j):
				want = 1
			}
			if got := compare(v, w); got != want {
				t.Errorf("compare(%q, %q) = %d, want %d", v, w, got, want)
			}
		}
	}
	for _, eq := range [][2]string{{"1", "1.0.0"}, {"1.2", "1.2.0"}, {"1.2.0+build.5", "1.2.0"}, {"1.2.0-rc.1+b", "1.2.0-rc.1"}} {
		if got := compare(eq[0], eq[1]); got != 0 {
			t.Errorf("compare(%q, %q) = %d, want 0", eq[0], eq[1], got)
		}
	}
	for _, bad := range []string{"1.2.3-", "1.2.3-01", "1.2.3-a..b", "1.2.3+", "1.2-rc.1", "1.2.3_4", "v1.2.3", "1.2."} {
		if _, ok := parse(bad); ok {
			t.Errorf("parse(%q) accepted an invalid version", bad)
		}
	}
}
