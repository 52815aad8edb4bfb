package rules

import (
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/aigw-mtls/aigw-mtls-webhook/internal/aigw"
	"github.com/aigw-mtls/aigw-mtls-webhook/internal/objects"
	"github.com/aigw-mtls/aigw-mtls-webhook/internal/rules/fixtures"
)

var validationNow = fixtures.Now

// runValidationFixtures runs v over every case of dir (see fixtures.Cases). Expected:
// <case>.deny.txt and <case>.warnings.txt (absent: none).
func runValidationFixtures(t *testing.T, dir string, v Rule) {
	for _, c := range fixtures.Cases(t, dir, fixtures.PKI(t)) {
		t.Run(c.Name, func(t *testing.T) {
			objs := objects.NewObjectSet("ai-gateway", c.Objects...)
			fs, err := v(c.Object, c.Old, "ai-gateway", aigw.DefaultSettings(), objs, validationNow)
			if err != nil {
				t.Fatal(err)
			}
			for _, f := range fs {
				if f.Object == "" || f.Field == "" || f.Found == "" || f.Consequence == "" || (f.Severity == Error && (f.Expected == "" || f.Fix == "")) {
					t.Errorf("incomplete finding: %+v", f)
				}
				if d, ok := Lookup(f.Rule); !ok || d.Severity != f.Severity || !strings.Contains(f.String(), ": ["+string(f.Rule)+"] "+f.Field+": ") {
					t.Errorf("finding without a catalogued rule of its severity, or without its ID in its message: %+v", f)
				}
			}
			checkLines(t, c.Path+".deny.txt", fs.Errors())
			checkLines(t, c.Path+".warnings.txt", fs.Warnings())
		})
	}
}

func TestPolicyFixtures(t *testing.T) {
	runValidationFixtures(t, "testdata/policy", newOnly(Policy))
}

func TestVirtualServerFixtures(t *testing.T) {
	runValidationFixtures(t, "testdata/policy-via-virtualserver", newOnly(VirtualServer))
}

func TestCertificateFixtures(t *testing.T) {
	runValidationFixtures(t, "testdata/certificate", Certificate)
}

// newOnly is a rule that judges the new object alone (internal/kinds adapts them so).
func newOnly(r func([]byte, string, aigw.Settings, objects.Objects, time.Time) (Findings, error)) Rule {
	return func(raw, _ []byte, ns string, s aigw.Settings, objs objects.Objects, now time.Time) (Findings, error) {
		return r(raw, ns, s, objs, now)
	}
}

var update = flag.Bool("update", false, "rewrite the expected fixture files from the current output")

func checkLines(t *testing.T, path string, got []string) {
	t.Helper()
	if *update {
		if len(got) == 0 {
			_ = os.Remove(path)
			return
		}
		if err := os.WriteFile(path, []byte(strings.Join(got, "\n")+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	var want []string
	if b, err := os.ReadFile(path); err == nil {
		want = strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	}
	if !reflect.DeepEqual(want, got) && !(len(want) == 0 && len(got) == 0) {
		t.Errorf("%s:\nwant %q\ngot  %q", filepath.Base(path), want, got)
	}
}

func TestVirtualServerRouteFixtures(t *testing.T) {
	runValidationFixtures(t, "testdata/policy-via-virtualserverroute", newOnly(VirtualServerRoute))
}

func TestIngressFixtures(t *testing.T) {
	runValidationFixtures(t, "testdata/policy-via-ingress", newOnly(Ingress))
}

func TestBackendTLSPolicyFixtures(t *testing.T) {
	runValidationFixtures(t, "testdata/backendtlspolicy", newOnly(BackendTLSPolicy))
}

func TestGatewayFixtures(t *testing.T) {
	runValidationFixtures(t, "testdata/gateway", newOnly(Gateway))
}
