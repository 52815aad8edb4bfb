package patches

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/aigw-mtls/aigw-mtls-webhook/internal/aigw"
)

var testAIGWPaths = aigw.TLSPaths{
	ServerCertPath: "/tls/server.crt",
	ServerKeyPath:  "/tls/server.key",
	ClientCAPath:   "/etc/internal-ca/ca.crt",
}

type aigwTLSConfig struct {
	Server aigwServerTLS `yaml:"server"`
}

// aigwFixtures returns the case names under testdata/aigwyaml (each has <name>.in.yaml).
func aigwFixtures(tb testing.TB) []string {
	tb.Helper()
	ins, err := filepath.Glob(filepath.Join("testdata", "aigwyaml", "*.in.yaml"))
	if err != nil || len(ins) == 0 {
		tb.Fatalf("no fixtures: %v", err)
	}
	for i, in := range ins {
		ins[i] = strings.TrimSuffix(in, ".in.yaml")
	}
	return ins
}

func TestSetAIGWTLSFixtures(t *testing.T) {
	for _, base := range aigwFixtures(t) {
		t.Run(filepath.Base(base), func(t *testing.T) {
			in := readFixture(t, base+".in.yaml")
			out, changed, err := SetAIGWTLS(in, testAIGWPaths)

			if wantErr, ok := tryReadFixture(t, base+".error.txt"); ok {
				wantErr = strings.TrimSpace(wantErr)
				if err == nil {
					t.Fatalf("want error containing %q, got output:\n%s", wantErr, out)
				}
				if !strings.Contains(err.Error(), wantErr) {
					t.Fatalf("error %q does not contain %q", err, wantErr)
				}
				var ye *YAMLError
				if !errors.As(err, &ye) {
					t.Errorf("error %v is %T, want *YAMLError", err, err)
				}
				return
			}

			want := readFixture(t, base+".out.yaml")
			if err != nil {
				t.Fatalf("SetAIGWTLS: %v", err)
			}
			if out != want {
				t.Errorf("output differs\n--- got ---\n%s\n--- want ---\n%s", out, want)
			}
			if changed != (in != want) {
				t.Errorf("changed = %v, want %v", changed, in != want)
			}
			checkAIGWOutput(t, in, out)
			checkOtherKeys(t, in, out)
			if textEdited(in, out) {
				checkOtherLinesKept(t, in, out)
			}
		})
	}
}

// checkAIGWOutput asserts that out parses, holds the wanted values, and is left alone by a
// second call.
func checkAIGWOutput(t *testing.T, in, out string) {
	t.Helper()
	var c aigwTLSConfig
	if err := yaml.Unmarshal([]byte(out), &c); err != nil {
		t.Fatalf("output does not parse: %v\ninput:\n%q\noutput:\n%q", err, in, out)
	}
	s := c.Server
	if !s.TLS.Enabled || s.TLS.ServerCertPath != testAIGWPaths.ServerCertPath || s.TLS.ServerKeyPath != testAIGWPaths.ServerKeyPath ||
		!s.MTLS.Enabled || s.MTLS.ClientCertPath != testAIGWPaths.ClientCAPath {
		t.Fatalf("values not set: %+v\ninput:\n%q\noutput:\n%q", s, in, out)
	}
	again, changed, err := SetAIGWTLS(out, testAIGWPaths)
	if err != nil || changed || again != out {
		t.Fatalf("second call: changed=%v err=%v\ninput:\n%q\noutput:\n%q\nagain:\n%q", changed, err, in, out, again)
	}
}

// checkOtherKeys asserts that everything but server.tls and server.mtls decodes the same.
func checkOtherKeys(t *testing.T, in, out string) {
	t.Helper()
	strip := func(doc string) map[string]any {
		var m map[string]any
		if err := yaml.Unmarshal([]byte(doc), &m); err != nil {
			t.Fatalf("decode: %v", err)
		}
		if m == nil {
			m = map[string]any{}
		}
		srv, ok := m["server"].(map[string]any)
		if !ok {
			delete(m, "server")
			return m
		}
		delete(srv, "tls")
		delete(srv, "mtls")
		if len(srv) == 0 {
			delete(m, "server")
		}
		return m
	}
	if a, b := strip(in), strip(out); !reflect.DeepEqual(a, b) {
		t.Errorf("other keys changed\nbefore: %v\nafter:  %v", a, b)
	}
}

func readFixture(t *testing.T, path string) string {
	t.Helper()
	s, ok := tryReadFixture(t, path)
	if !ok {
		t.Fatalf("missing fixture %s", path)
	}
	return s
}

func tryReadFixture(t *testing.T, path string) (string, bool) {
	t.Helper()
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return "", false
	}
	if err != nil {
		t.Fatal(err)
	}
	return string(b), true
}

func TestSetAIGWTLSErrorLine(t *testing.T) {
	_, _, err := SetAIGWTLS("a: 1\nb: [\n", testAIGWPaths)
	var ye *YAMLError
	if !errors.As(err, &ye) || ye.Line == 0 {
		t.Fatalf("err = %#v, want *YAMLError with a line", err)
	}
}

func TestSetAIGWTLSQuotesPaths(t *testing.T) {
	p := aigw.TLSPaths{ServerCertPath: "/a b/#c.crt", ServerKeyPath: "yes", ClientCAPath: "line\nbreak"}
	out, changed, err := SetAIGWTLS("server:\n  tls:\n    serverCertPath: /x # old\n", p)
	if err != nil || !changed {
		t.Fatalf("changed=%v err=%v", changed, err)
	}
	var c aigwTLSConfig
	if err := yaml.Unmarshal([]byte(out), &c); err != nil {
		t.Fatal(err)
	}
	if c.Server.TLS.ServerCertPath != p.ServerCertPath || c.Server.TLS.ServerKeyPath != p.ServerKeyPath || c.Server.MTLS.ClientCertPath != p.ClientCAPath {
		t.Fatalf("got %+v from\n%s", c.Server, out)
	}
	if !strings.Contains(out, "# old") {
		t.Errorf("comment lost:\n%s", out)
	}
	if _, changed, _ := SetAIGWTLS(out, p); changed {
		t.Errorf("second call changed")
	}
}

func FuzzSetAIGWTLS(f *testing.F) {
	for _, base := range aigwFixtures(f) {
		b, err := os.ReadFile(base + ".in.yaml")
		if err != nil {
			f.Fatal(err)
		}
		f.Add(string(b))
	}
	f.Fuzz(func(t *testing.T, doc string) {
		out, changed, err := SetAIGWTLS(doc, testAIGWPaths)
		if errors.Is(err, errInternal) {
			t.Fatalf("input %q: %v", doc, err)
		}
		if err != nil {
			return
		}
		if !changed && out != doc {
			t.Fatalf("unchanged but out != doc")
		}
		checkAIGWOutput(t, doc, out)
		if textEdited(doc, out) {
			checkOtherLinesKept(t, doc, out)
		}
	})
}

// textEdited reports whether out is the text editor's answer for doc (not the tree editor's
// re-encoding, which keeps values but not formatting).
func textEdited(doc, out string) bool {
	ws, err := aigwWants(testAIGWPaths)
	if err != nil || !textSafe(doc) {
		return false
	}
	in, err := parseDoc(doc, MaxAIGWConfigNodes)
	if err != nil {
		return false
	}
	edited, err := textEdit(doc, in, ws)
	return err == nil && edited == out
}

// A line of a key SetAIGWTLS sets, with the lines of its value (deeper lines after it), or of
// server, whose other keys stay.
var (
	setKeyLine = regexp.MustCompile(`^( *)(tls|mtls|enabled|serverCertPath|serverKeyPath|clientCertPath) *:`)
	serverLine = regexp.MustCompile(`^ *server *:`)
)

// checkOtherLinesKept: the text editor keeps every other line of the input byte for byte (line
// breaks included), in order; it only inserts lines and rewrites the keys it sets.
func checkOtherLinesKept(t *testing.T, in, out string) {
	t.Helper()
	outLines := strings.SplitAfter(out, "\n")
	j := 0
	within := -1 // the indent of the set key whose value lines follow
	for n, l := range strings.SplitAfter(in, "\n") {
		indent := len(l) - len(strings.TrimLeft(l, " "))
		if within >= 0 && (indent > within || strings.TrimSpace(l) == "") {
			continue
		}
		within = -1
		if m := setKeyLine.FindStringSubmatch(l); m != nil {
			within = len(m[1])
			continue
		}
		if l == "" || serverLine.MatchString(l) {
			continue
		}
		last := n == strings.Count(in, "\n") // the input's last line may gain the line break it lacked
		for j < len(outLines) && outLines[j] != l && !(last && strings.TrimRight(outLines[j], "\r\n") == l) {
			j++
		}
		if j == len(outLines) {
			t.Fatalf("input line %d %q is not kept byte for byte, in order\ninput:\n%q\noutput:\n%q", n+1, l, in, out)
		}
		j++
	}
}

// stringText's memo answers as the computation does, and holds at most maxStringTexts paths
// however many distinct ones it is asked.
func TestStringTextMemoIsBoundedAndExact(t *testing.T) {
	for i := range 3 * maxStringTexts {
		v := fmt.Sprintf("/etc/aigw/#%d: tls.crt", i)
		want, werr := scalarText(v)
		for range 2 {
			got, err := stringText(v)
			if got != want || (err == nil) != (werr == nil) {
				t.Fatalf("stringText(%q) = %q, %v; computed %q, %v", v, got, err, want, werr)
			}
		}
		if _, n := stringTexts.Size(); n > maxStringTexts {
			t.Fatalf("memo holds %d entries, bound %d", n, maxStringTexts)
		}
	}
}
