// Command vulndb writes a Go vulnerability database in the v1 layout that `govulncheck -db
// file://DIR` reads (https://go.dev/security/vuln/database#api) from a folder of OSV entries, the
// data/osv folder of a golang.org/x/vulndb module version:
//
//	go run ./hack/vulndb -osv DIR/data/osv -out bin/vulndb
//
// It writes index/db.json, index/modules.json, index/vulns.json and ID/<id>.json, the uncompressed
// endpoints a file:// database serves, with the content golang.org/x/vulndb's own cmd/indexdb
// writes; that command is not used because it builds the vulndb module's cloud dependencies. The
// output folder is replaced whole, so an interrupted run never leaves a half-written database.
package main

import (
	"cmp"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

func main() {
	osvDir := flag.String("osv", "", "folder of OSV entries, one <id>.json each (golang.org/x/vulndb's data/osv)")
	out := flag.String("out", "", "database folder to write (replaced whole)")
	flag.Parse()
	if *osvDir == "" || *out == "" {
		fmt.Fprintln(os.Stderr, "usage: vulndb -osv DIR -out DIR")
		os.Exit(2)
	}
	n, err := build(*osvDir, *out)
	if err != nil {
		fmt.Fprintln(os.Stderr, "vulndb:", err)
		os.Exit(1)
	}
	fmt.Fprintf(os.Stderr, "vulndb: %d entries from %s written to %s\n", n, *osvDir, *out)
}

// entry holds the fields of an OSV entry that the indexes are made of.
type entry struct {
	ID       string    `json:"id"`
	Modified time.Time `json:"modified"`
	Aliases  []string  `json:"aliases,omitempty"`
	Affected []struct {
		Package struct {
			Name string `json:"name"`
		} `json:"package"`
		Ranges []osvRange `json:"ranges"`
	} `json:"affected"`
}

type osvRange struct {
	Type   string `json:"type"`
	Events []struct {
		Introduced string `json:"introduced,omitempty"`
		Fixed      string `json:"fixed,omitempty"`
	} `json:"events"`
}

type dbMeta struct {
	Modified time.Time `json:"modified"`
}

type module struct {
	Path  string       `json:"path"`
	Vulns []moduleVuln `json:"vulns"`
}

type moduleVuln struct {
	ID       string    `json:"id"`
	Modified time.Time `json:"modified"`
	Fixed    string    `json:"fixed,omitempty"`
}

type vuln struct {
	ID       string    `json:"id"`
	Modified time.Time `json:"modified"`
	Aliases  []string  `json:"aliases,omitempty"`
}

// build writes the database of the entries in osvDir to out and returns how many it holds.
func build(osvDir, out string) (int, error) {
	files, err := os.ReadDir(osvDir)
	if err != nil {
		return 0, err
	}
	tmp, err := os.MkdirTemp(filepath.Dir(filepath.Clean(out)), ".vulndb-*")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(tmp)
	if err := os.MkdirAll(filepath.Join(tmp, "index"), 0o755); err != nil {
		return 0, err
	}
	if err := os.MkdirAll(filepath.Join(tmp, "ID"), 0o755); err != nil {
		return 0, err
	}

	var meta dbMeta
	modules := map[string]*module{}
	var vulns []vuln
	for _, f := range files {
		name := f.Name()
		if f.IsDir() || filepath.Ext(name) != ".json" || name == "index.json" {
			continue
		}
		b, err := os.ReadFile(filepath.Join(osvDir, name))
		if err != nil {
			return 0, err
		}
		var e entry
		if err := json.Unmarshal(b, &e); err != nil {
			return 0, fmt.Errorf("%s: %w", name, err)
		}
		if e.ID == "" || name != e.ID+".json" {
			return 0, fmt.Errorf("%s: holds the entry %q; want a file named <id>.json", name, e.ID)
		}
		if e.Modified.After(meta.Modified) {
			meta.Modified = e.Modified
		}
		for _, a := range e.Affected {
			m := modules[a.Package.Name]
			if m == nil {
				m = &module{Path: a.Package.Name, Vulns: []moduleVuln{}}
				modules[a.Package.Name] = m
			}
			m.Vulns = append(m.Vulns, moduleVuln{ID: e.ID, Modified: e.Modified, Fixed: latestFixed(a.Ranges)})
		}
		vulns = append(vulns, vuln{ID: e.ID, Modified: e.Modified, Aliases: e.Aliases})
		if err := os.WriteFile(filepath.Join(tmp, "ID", name), b, 0o644); err != nil {
			return 0, err
		}
	}
	if len(vulns) == 0 {
		return 0, fmt.Errorf("%s holds no OSV entry (<id>.json)", osvDir)
	}

	// The order of golang.org/x/vulndb's indexes: modules by path, each module's and the vulns
	// index's entries by ID (os.ReadDir lists the files sorted, so equal IDs keep file order).
	paths := make([]*module, 0, len(modules))
	for _, m := range modules {
		slices.SortStableFunc(m.Vulns, func(a, b moduleVuln) int { return strings.Compare(a.ID, b.ID) })
		paths = append(paths, m)
	}
	slices.SortFunc(paths, func(a, b *module) int { return strings.Compare(a.Path, b.Path) })
	slices.SortStableFunc(vulns, func(a, b vuln) int { return strings.Compare(a.ID, b.ID) })
	for name, v := range map[string]any{"db.json": meta, "modules.json": paths, "vulns.json": vulns} {
		b, err := json.Marshal(v)
		if err != nil {
			return 0, err
		}
		if err := os.WriteFile(filepath.Join(tmp, "index", name), b, 0o644); err != nil {
			return 0, err
		}
	}

	if err := os.RemoveAll(out); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return 0, err
	}
	if err := os.Rename(tmp, out); err != nil {
		return 0, err
	}
	return len(vulns), nil
}

// latestFixed is the version from which no version in ranges is affected, "" when a SEMVER range
// introduces the vulnerability again after its latest fix (golang.org/x/vulndb's
// osvutils.LatestFixed). govulncheck skips reading an entry for a module at or past it.
func latestFixed(ranges []osvRange) string {
	var latest string
	for _, r := range ranges {
		if r.Type != "SEMVER" {
			continue
		}
		for _, e := range r.Events {
			if e.Fixed != "" && compare(latest, e.Fixed) < 0 {
				latest = e.Fixed
			}
		}
		for _, e := range r.Events {
			if e.Introduced != "" && e.Introduced != "0" && compare(latest, e.Introduced) < 0 {
				latest = ""
				break
			}
		}
	}
	return latest
}

// compare orders two OSV versions (semantic versions without the "v") as
// golang.org/x/mod/semver.Compare orders them with a "v": an invalid version sorts before every
// valid one and equal to another invalid one.
func compare(v, w string) int {
	pv, okv := parse(v)
	pw, okw := parse(w)
	switch {
	case !okv && !okw:
		return 0
	case !okv:
		return -1
	case !okw:
		return 1
	}
	for i := range 3 {
		if c := compareNum(pv.nums[i], pw.nums[i]); c != 0 {
			return c
		}
	}
	return comparePrerelease(pv.pre, pw.pre)
}

type version struct {
	nums [3]string
	pre  string // with its leading "-", or ""
}

// parse accepts what golang.org/x/mod/semver accepts after its "v": MAJOR, MAJOR.MINOR (both
// short for .0), or MAJOR.MINOR.PATCH with an optional -PRERELEASE and +BUILD.
func parse(v string) (version, bool) {
	var p version
	p.nums = [3]string{"0", "0", "0"}
	for i := range 3 {
		n, rest, ok := number(v)
		if !ok {
			return p, false
		}
		p.nums[i], v = n, rest
		if v == "" {
			return p, true
		}
		if i < 2 {
			if v[0] != '.' {
				return p, false
			}
			v = v[1:]
		}
	}
	if v[0] == '-' {
		end := strings.IndexByte(v, '+')
		if end < 0 {
			end = len(v)
		}
		if !identifiers(v[1:end], true) {
			return p, false
		}
		p.pre, v = v[:end], v[end:]
	}
	if v == "" {
		return p, true
	}
	return p, v[0] == '+' && identifiers(v[1:], false)
}

// number takes a decimal number without a leading zero off the front of v.
func number(v string) (n, rest string, ok bool) {
	i := 0
	for i < len(v) && '0' <= v[i] && v[i] <= '9' {
		i++
	}
	if i == 0 || (v[0] == '0' && i != 1) {
		return "", v, false
	}
	return v[:i], v[i:], true
}

// identifiers reports whether s is dot-separated non-empty [0-9A-Za-z-] identifiers; numeric
// prerelease identifiers have no leading zero.
func identifiers(s string, pre bool) bool {
	for _, id := range strings.Split(s, ".") {
		if id == "" {
			return false
		}
		for _, c := range id {
			if !('0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || c == '-') {
				return false
			}
		}
		if pre && isNum(id) && len(id) > 1 && id[0] == '0' {
			return false
		}
	}
	return true
}

func isNum(s string) bool {
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return s != ""
}

func compareNum(a, b string) int {
	if len(a) != len(b) {
		if len(a) < len(b) {
			return -1
		}
		return 1
	}
	return strings.Compare(a, b)
}

// comparePrerelease orders prereleases by semver 2.0.0: none sorts after any, numeric identifiers
// numerically and before alphanumeric ones, a shorter run of equal identifiers first.
func comparePrerelease(x, y string) int {
	switch {
	case x == y:
		return 0
	case x == "":
		return 1
	case y == "":
		return -1
	}
	xs, ys := strings.Split(x[1:], "."), strings.Split(y[1:], ".")
	for i := 0; i < len(xs) && i < len(ys); i++ {
		a, b := xs[i], ys[i]
		if a == b {
			continue
		}
		an, bn := isNum(a), isNum(b)
		switch {
		case an && bn:
			return compareNum(a, b)
		case an:
			return -1
		case bn:
			return 1
		}
		return strings.Compare(a, b)
	}
	return cmp.Compare(len(xs), len(ys))
}
