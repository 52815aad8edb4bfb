package main

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

func TestRunFlagsSkipsAndEmptyPackages(t *testing.T) {
	const events = `{"Action":"start","Package":"github.com/aigw-mtls/aigw-mtls-webhook/webhook"}
{"Action":"run","Package":"github.com/aigw-mtls/aigw-mtls-webhook/webhook","Test":"TestBenchFigures"}
{"Action":"output","Package":"github.com/aigw-mtls/aigw-mtls-webhook/webhook","Test":"TestBenchFigures","Output":"    bench_test.go:320: set AIGW_BENCH=1\n"}
{"Action":"skip","Package":"github.com/aigw-mtls/aigw-mtls-webhook/webhook","Test":"TestBenchFigures"}
{"Action":"run","Package":"github.com/aigw-mtls/aigw-mtls-webhook/webhook","Test":"TestOther"}
{"Action":"output","Package":"github.com/aigw-mtls/aigw-mtls-webhook/webhook","Test":"TestOther","Output":"    x_test.go:1: openssl not found\n"}
{"Action":"skip","Package":"github.com/aigw-mtls/aigw-mtls-webhook/webhook","Test":"TestOther"}
{"Action":"run","Package":"github.com/aigw-mtls/aigw-mtls-webhook/webhook","Test":"TestFine"}
{"Action":"pass","Package":"github.com/aigw-mtls/aigw-mtls-webhook/webhook","Test":"TestFine"}
{"Action":"output","Package":"github.com/aigw-mtls/aigw-mtls-webhook/webhook","Output":"ok  \twebhook\t0.1s\n"}
{"Action":"pass","Package":"github.com/aigw-mtls/aigw-mtls-webhook/webhook"}
{"Action":"output","Package":"github.com/aigw-mtls/aigw-mtls-webhook/test/e2e","Output":"skipping end-to-end tests\n"}
{"Action":"pass","Package":"github.com/aigw-mtls/aigw-mtls-webhook/test/e2e"}
{"Action":"output","Package":"github.com/aigw-mtls/aigw-mtls-webhook/internal/aigw","Output":"?   \tinternal/aigw\t[no test files]\n"}
{"Action":"skip","Package":"github.com/aigw-mtls/aigw-mtls-webhook/internal/aigw"}
`
	list, err := parseAllowed("webhook TestBenchFigures prints figures on demand\n")
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	r := run(strings.NewReader(events), &out, list)
	if r.passed != 1 || len(r.skips) != 2 {
		t.Errorf("passed %d, skips %v; want 1 and 2", r.passed, r.skips)
	}
	if len(r.disallowed) != 1 || !strings.Contains(r.disallowed[0], "webhook TestOther: x_test.go:1: openssl not found") {
		t.Errorf("disallowed %v, want TestOther with its reason", r.disallowed)
	}
	if len(r.ranNone) != 1 || r.ranNone[0] != "test/e2e" {
		t.Errorf("ran none %v, want test/e2e (internal/aigw has no test files)", r.ranNone)
	}
	if !strings.Contains(out.String(), "skipping end-to-end tests") {
		t.Errorf("TestMain's output not passed through:\n%s", out.String())
	}
	if code := r.report(&out, nil, false); code != 1 {
		t.Errorf("strict: exit %d, want 1", code)
	}
	if code := r.report(&out, nil, true); code != 0 {
		t.Errorf("AIGW_TEST_ALLOW_MISSING=1: exit %d, want 0", code)
	}
	if code := r.report(&out, errors.New("exit status 1"), true); code != 1 {
		t.Errorf("go test failed: exit %d, want 1", code)
	}
	clean := &result{passed: 3, skips: []string{"webhook TestBenchFigures: on demand"}}
	if code := clean.report(&out, nil, false); code != 0 {
		t.Errorf("only allowed skips: exit %d, want 0", code)
	}
}

func TestSkipsFileParses(t *testing.T) {
	if _, err := parseAllowed(allowedText); err != nil {
		t.Fatal(err)
	}
	if _, err := parseAllowed("webhook TestX\n"); err == nil {
		t.Error("a line without a reason: want an error")
	}
}
