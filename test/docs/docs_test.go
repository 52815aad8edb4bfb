// Package docs_test holds the documentation to its layout: the README a user reads first, the
// reference pages under docs/ it links, and links between them that resolve.
package docs_test

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unicode"

	"github.com/aigw-mtls/aigw-mtls-webhook/test/tools"
)

// maxReadmeLines keeps the README to what a user reads first; reference material goes to docs/.
const maxReadmeLines = 250

// pages are the Markdown files whose links must resolve, relative to the repository root.
func pages(t *testing.T) []string {
	t.Helper()
	docs, err := filepath.Glob(filepath.Join(tools.RepoRoot(), "docs", "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	if len(docs) == 0 {
		t.Fatal("docs/ holds no Markdown page")
	}
	var out []string
	for _, d := range docs {
		rel, _ := filepath.Rel(tools.RepoRoot(), d)
		out = append(out, filepath.ToSlash(rel))
	}
	return append(out, "README.md", "BENCHMARKS.md", "charts/aigw-mtls-webhook/README.md")
}

func read(t *testing.T, page string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(tools.RepoRoot(), filepath.FromSlash(page)))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// prose is the text of a page outside fenced code blocks, one entry per line, with inline code
// spans blanked so that brackets inside them are not read as links.
func prose(text string) []string {
	var out []string
	fenced := false
	for _, line := range strings.Split(text, "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "```") {
			fenced = !fenced
			out = append(out, "")
			continue
		}
		if fenced {
			out = append(out, "")
			continue
		}
		out = append(out, codeSpan.ReplaceAllString(line, "``"))
	}
	return out
}

var (
	codeSpan = regexp.MustCompile("`[^`]*`")
	link     = regexp.MustCompile(`\]\(([^)\s]+)\)`)
	heading  = regexp.MustCompile(`^#{1,6} (.+)$`)
)

// anchors are the fragment names GitHub gives a page's headings: lower case, letters, digits,
// hyphens and underscores kept, spaces turned into hyphens, "-1", "-2", … for repeats.
func anchors(text string) map[string]bool {
	out := map[string]bool{}
	seen := map[string]int{}
	fenced := false
	for _, line := range strings.Split(text, "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "```") {
			fenced = !fenced
		}
		m := heading.FindStringSubmatch(line)
		if fenced || m == nil {
			continue
		}
		var b strings.Builder
		for _, r := range strings.ToLower(m[1]) {
			switch {
			case unicode.IsLetter(r) || unicode.IsDigit(r) || r == '-' || r == '_':
				b.WriteRune(r)
			case r == ' ':
				b.WriteRune('-')
			}
		}
		slug := b.String()
		if n := seen[slug]; n > 0 {
			seen[slug] = n + 1
			slug += "-" + strconv.Itoa(n)
		} else {
			seen[slug] = 1
		}
		out[slug] = true
	}
	return out
}

// links are the relative link targets of a page (web addresses left out), in order.
func links(text string) []string {
	var out []string
	for _, line := range prose(text) {
		for _, m := range link.FindAllStringSubmatch(line, -1) {
			target := m[1]
			if strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
				continue
			}
			out = append(out, target)
		}
	}
	return out
}

// TestDocsLinksResolve: every relative link in the README, docs/, BENCHMARKS.md and the chart's
// README names a file or folder that exists, and a fragment on a Markdown page names one of its
// headings.
func TestDocsLinksResolve(t *testing.T) {
	for _, page := range pages(t) {
		for _, target := range links(read(t, page)) {
			path, fragment, _ := strings.Cut(target, "#")
			file := page
			if path != "" {
				file = filepath.ToSlash(filepath.Join(filepath.Dir(page), path))
				if _, err := os.Stat(filepath.Join(tools.RepoRoot(), filepath.FromSlash(file))); err != nil {
					t.Errorf("%s links %s, which does not exist (%s)", page, target, file)
					continue
				}
			}
			if fragment == "" || !strings.HasSuffix(file, ".md") {
				continue
			}
			if !anchors(read(t, file))[fragment] {
				t.Errorf("%s links %s: %s has no heading #%s", page, target, file, fragment)
			}
		}
	}
}

// TestDocsReadmeLinksEveryPage: every page under docs/ is reachable from the README.
func TestDocsReadmeLinksEveryPage(t *testing.T) {
	var linked []string
	for _, target := range links(read(t, "README.md")) {
		path, _, _ := strings.Cut(target, "#")
		linked = append(linked, filepath.ToSlash(filepath.Clean(path)))
	}
	for _, page := range pages(t) {
		if strings.HasPrefix(page, "docs/") && !slices.Contains(linked, page) {
			t.Errorf("README.md does not link %s", page)
		}
	}
}

// TestDocsReadmeOpening: the README starts with what the tool does, then the two commands that
// work on a fresh machine, `make demo` and `make test`, before any section, and stays short.
func TestDocsReadmeOpening(t *testing.T) {
	text := read(t, "README.md")
	lines := strings.Split(strings.TrimRight(text, "\n"), "\n")
	if len(lines) > maxReadmeLines {
		t.Errorf("README.md has %d lines, want at most %d: move reference material to docs/", len(lines), maxReadmeLines)
	}
	if !strings.HasPrefix(lines[0], "# ") {
		t.Fatalf("README.md starts with %q, want its title", lines[0])
	}
	opening, _, _ := strings.Cut(text, "\n## ")
	fence := strings.Index(opening, "\n```")
	if fence < 0 {
		t.Fatal("README.md has no command block before its first section")
	}
	if words := len(strings.Fields(opening[len(lines[0]):fence])); words < 30 {
		t.Errorf("README.md opens with %d words before its commands, want a paragraph on what the tool does", words)
	}
	block, _, _ := strings.Cut(opening[fence+4:], "\n```")
	var commands []string
	for _, line := range strings.Split(block, "\n") {
		if cmd, _, _ := strings.Cut(line, "#"); strings.TrimSpace(cmd) != "" && !strings.HasPrefix(line, "sh") {
			commands = append(commands, strings.TrimSpace(cmd))
		}
	}
	if !slices.Equal(commands, []string{"make demo", "make test"}) {
		t.Errorf("README.md's first command block runs %q, want make demo and make test", commands)
	}
}
