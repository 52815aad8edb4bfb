// Command noskip runs `go test -json` with the arguments it is given and prints what a plain
// `go test` would: a line per package, and the output of every failed or skipped test. It fails
// when go test fails, when a test skips and skips.txt does not allow it, and when a package with
// tests ran none of them (a TestMain that returned early). With AIGW_TEST_ALLOW_MISSING=1 (the
// opt-out for machines lacking a tool) every skip is listed and none fails the run.
//
//	go run ./hack/noskip -count=1 ./...
package main

import (
	"bufio"
	"bytes"
	_ "embed"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"sort"
	"strings"
)

//go:embed skips.txt
var allowedText string

const module = "github.com/aigw-mtls/aigw-mtls-webhook/"

// event is one line of `go test -json` (cmd/test2json).
type event struct {
	Action  string
	Package string
	Test    string
	Output  string
}

// allowed is a skip skips.txt permits: a package (relative to the module) and a test name pattern.
type allowed struct {
	pkg  string
	test *regexp.Regexp
	why  string
}

func parseAllowed(text string) ([]allowed, error) {
	var out []allowed
	for i, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Fields(line)
		if len(f) < 3 {
			return nil, fmt.Errorf("skips.txt:%d: want `package test-regexp why`, found %q", i+1, line)
		}
		re, err := regexp.Compile("^(?:" + f[1] + ")$")
		if err != nil {
			return nil, fmt.Errorf("skips.txt:%d: %v", i+1, err)
		}
		out = append(out, allowed{pkg: f[0], test: re, why: strings.Join(f[2:], " ")})
	}
	return out, nil
}

func isAllowed(list []allowed, pkg, test string) bool {
	for _, a := range list {
		if a.pkg == strings.TrimPrefix(pkg, module) && a.test.MatchString(test) {
			return true
		}
	}
	return false
}

type pkgState struct {
	output  bytes.Buffer // package-level lines: ok/FAIL, TestMain's own prints
	tests   map[string]*bytes.Buffer
	ran     int
	noTests bool
}

func main() {
	list, err := parseAllowed(allowedText)
	if err != nil {
		fmt.Fprintln(os.Stderr, "noskip:", err)
		os.Exit(2)
	}
	cmd := exec.Command("go", append([]string{"test", "-json"}, os.Args[1:]...)...)
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		fmt.Fprintln(os.Stderr, "noskip:", err)
		os.Exit(2)
	}
	if err := cmd.Start(); err != nil {
		fmt.Fprintln(os.Stderr, "noskip:", err)
		os.Exit(2)
	}
	r := run(stdout, os.Stdout, list)
	testErr := cmd.Wait()
	os.Exit(r.report(os.Stdout, testErr, os.Getenv("AIGW_TEST_ALLOW_MISSING") == "1"))
}

type result struct {
	skips      []string // "pkg Test: reason"
	disallowed []string
	ranNone    []string
	passed     int
	failed     int
}

// run reads go test's events from in and writes the readable output to out.
func run(in io.Reader, out io.Writer, list []allowed) *result {
	res := &result{}
	pkgs := map[string]*pkgState{}
	state := func(p string) *pkgState {
		if pkgs[p] == nil {
			pkgs[p] = &pkgState{tests: map[string]*bytes.Buffer{}}
		}
		return pkgs[p]
	}
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for sc.Scan() {
		var e event
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil || e.Action == "" {
			// Not an event (a build error printed as text): pass it through.
			fmt.Fprintln(out, sc.Text())
			continue
		}
		if e.Action == "build-output" {
			fmt.Fprint(out, e.Output)
			continue
		}
		if e.Package == "" {
			continue
		}
		ps := state(e.Package)
		if e.Test == "" {
			switch e.Action {
			case "output":
				ps.output.WriteString(e.Output)
				if strings.Contains(e.Output, "[no test files]") {
					ps.noTests = true
				}
			case "pass", "fail", "skip":
				fmt.Fprint(out, ps.output.String())
				if e.Action == "pass" && ps.ran == 0 && !ps.noTests {
					res.ranNone = append(res.ranNone, strings.TrimPrefix(e.Package, module))
				}
				delete(pkgs, e.Package)
			}
			continue
		}
		buf := ps.tests[e.Test]
		if buf == nil {
			buf = &bytes.Buffer{}
			ps.tests[e.Test] = buf
		}
		switch e.Action {
		case "output":
			buf.WriteString(e.Output)
		case "pass":
			ps.ran++
			res.passed++
		case "fail":
			ps.ran++
			res.failed++
			fmt.Fprint(out, buf.String())
		case "skip":
			ps.ran++
			reason := skipReason(buf.String())
			id := fmt.Sprintf("%s %s: %s", strings.TrimPrefix(e.Package, module), e.Test, reason)
			res.skips = append(res.skips, id)
			if !isAllowed(list, e.Package, e.Test) {
				res.disallowed = append(res.disallowed, id)
			}
		}
	}
	return res
}

// skipReason is the message t.Skip printed: the lines of the test's output after "=== RUN",
// without the "--- SKIP" line.
func skipReason(output string) string {
	var lines []string
	for _, l := range strings.Split(output, "\n") {
		l = strings.TrimSpace(l)
		if l == "" || strings.HasPrefix(l, "=== ") || strings.HasPrefix(l, "--- SKIP") {
			continue
		}
		lines = append(lines, l)
	}
	if len(lines) == 0 {
		return "(no reason given)"
	}
	return strings.Join(lines, " / ")
}

func (r *result) report(out io.Writer, testErr error, allowMissing bool) int {
	code := 0
	if testErr != nil {
		code = 1
	}
	sort.Strings(r.skips)
	fmt.Fprintf(out, "\nnoskip: %d tests passed, %d failed, %d skipped\n", r.passed, r.failed, len(r.skips))
	for _, s := range r.skips {
		fmt.Fprintln(out, "  skipped:", s)
	}
	for _, p := range r.ranNone {
		fmt.Fprintf(out, "  ran no test: %s (its TestMain returned before running them)\n", p)
	}
	if allowMissing {
		if len(r.skips)+len(r.ranNone) > 0 {
			fmt.Fprintln(out, "noskip: AIGW_TEST_ALLOW_MISSING=1: the skips above do not fail this run; `make test` without it runs everything")
		}
		return code
	}
	if len(r.disallowed)+len(r.ranNone) > 0 {
		fmt.Fprintln(out, "noskip: FAIL: tests skipped that hack/noskip/skips.txt does not allow:")
		for _, s := range r.disallowed {
			fmt.Fprintln(out, "  ", s)
		}
		for _, p := range r.ranNone {
			fmt.Fprintln(out, "  ", p, "ran no test")
		}
		fmt.Fprintln(out, "noskip: get the missing tools (the messages above say how), or set AIGW_TEST_ALLOW_MISSING=1 for a quick local run")
		return 1
	}
	return code
}
