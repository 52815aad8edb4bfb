// Package openssl_test checks certs.CheckHost (internal/certs/hostcheck.go) against the real
// OpenSSL: nginx verifies proxy_ssl_name with X509_check_host, and `openssl x509 -checkhost NAME`
// calls the same function with the same flags (0), so the CLI is the oracle.
package openssl_test

import (
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/aigw-mtls/aigw-mtls-webhook/internal/certs"
	"github.com/aigw-mtls/aigw-mtls-webhook/test/tools"
)

// certCase is one certificate (subject, subjectAltName) and the names checked against it.
type certCase struct {
	subj  string
	san   string // value of -addext subjectAltName=..., "" for no SAN extension
	names []string
}

// common is checked against every certificate.
var common = []string{"api.example.com"}

// withEmptyish adds empty-ish names to names, for a few certificates.
func withEmptyish(names ...string) []string {
	return append(names, "", ".", "..", "*", "*.", ".*", "example.com")
}

var corpus = []certCase{
	// Exact DNS SAN; the CN is ignored because a DNS SAN exists.
	{"/CN=ignored.example.com", "DNS:api.example.com", withEmptyish(
		"API.EXAMPLE.COM", "Api.Example.Com", "api.example.com.", "ignored.example.com", "x.api.example.com",
		"apiexample.com", "api.example.co", "api.example.com:443", ".example.com", ".api.example.com",
		".xample.com", "api", "10.0.0.1", "api..example.com", "..example.com")},
	// Upper case in the SAN.
	{"/CN=upper", "DNS:AIGW.Example.COM", []string{
		"aigw.example.com", "AIGW.EXAMPLE.COM", "aigw.example.com.", "aigw.example.org", ".Example.com"}},
	// Trailing dot in the SAN.
	{"/CN=dot", "DNS:dot.example.com.", []string{
		"dot.example.com", "dot.example.com.", "DOT.EXAMPLE.COM.", "x.dot.example.com.", ".example.com."}},
	// Full-label wildcard, one label deep.
	{"/CN=wild", "DNS:*.example.com", withEmptyish(
		"API.example.com", "a.b.example.com", ".example.com", "*.example.com", "*.EXAMPLE.COM",
		"x*.example.com", "api.example.com.", "xn--bcher-kva.example.com", "a-b.example.com", "a_b.example.com",
		"-.example.com", "-gw.example.com", "a.example.org", "aexample.com", "..example.com", "**.example.com")},
	// Full-label wildcard, deeper patterns.
	{"/CN=wild2", "DNS:*.svc.cluster.local", []string{
		"aigw.svc.cluster.local", "aigw.ns.svc.cluster.local", "svc.cluster.local", "x.svc.cluster.local.",
		".cluster.local", ".svc.cluster.local", "AIGW.SVC.CLUSTER.LOCAL", "aigw.svc.cluster"}},
	{"/CN=wild3", "DNS:*.aigw.ns.svc.cluster.local", []string{
		"a.aigw.ns.svc.cluster.local", "aigw.ns.svc.cluster.local", "a.b.aigw.ns.svc.cluster.local",
		"ns.svc.cluster.local", ".ns.svc.cluster.local"}},
	// Partial wildcards: star at the end of the first label ...
	{"/CN=partial1", "DNS:ai*.example.com", []string{
		"ai.example.com", "aigw.example.com", "AIgw.example.com", "xai.example.com", "ai.gw.example.com",
		"aigw.example.org", "ai-gw.example.com", "ai*.example.com", "ai_gw.example.com", "a.example.com"}},
	// ... at the start of the first label ...
	{"/CN=partial2", "DNS:*gw.example.com", []string{
		"aigw.example.com", "gw.example.com", "a.gw.example.com", "xn--gw.example.com", "x-gw.example.com",
		"GW.example.com", "aigw.example.com.", "xn-gw.example.com"}},
	// ... and in the middle, which OpenSSL refuses as a wildcard (compared literally).
	{"/CN=partial3", "DNS:a*w.example.com", []string{
		"aw.example.com", "aiw.example.com", "a*w.example.com", "A*W.example.com", "aigw.example.com"}},
	// Hyphens next to the star.
	{"/CN=hyphen1", "DNS:*-gw.example.com", []string{
		"ai-gw.example.com", "-gw.example.com", "aigw.example.com", "*-gw.example.com"}},
	{"/CN=hyphen2", "DNS:gw-*.example.com", []string{
		"gw-a.example.com", "gw-*.example.com", "gw-.example.com"}},
	// Partial wildcard and IDNA names.
	{"/CN=partial4", "DNS:x*.example.com", []string{
		"xn--abc.example.com", "XN--abc.example.com", "xyz.example.com", "xn.example.com", "xn-.example.com",
		"x.example.com", "xn--.example.com"}},
	// Wildcard outside the first label: literal only.
	{"/CN=middle", "DNS:api.*.example.com", []string{
		"api.x.example.com", "api.*.example.com", "API.*.EXAMPLE.COM", "api..example.com"}},
	// Too few labels after the star: literal only.
	{"/CN=short1", "DNS:*.com", []string{"x.com", "*.com", "*.COM", ".com", "a.b.com"}},
	{"/CN=short2", "DNS:*.local", []string{"aigw.local", "*.local", ".local"}},
	// A trailing dot makes the wildcard literal.
	{"/CN=wilddot", "DNS:*.example.com.", []string{
		"a.example.com.", "a.example.com", "*.example.com.", ".example.com.", ".example.com"}},
	// Upper-case wildcard SAN.
	{"/CN=wildupper", "DNS:*.EXAMPLE.com", []string{"a.example.com", "A.Example.COM", "a.b.example.com"}},
	// Several stars.
	{"/CN=stars", "DNS:**.example.com,DNS:*.*.example.com", []string{
		"a.example.com", "**.example.com", "*.*.example.com", "a.b.example.com", "ab.example.com"}},
	// Subject CN only (no SAN extension).
	{"/CN=cn.example.com", "", withEmptyish(
		"cn.example.com", "CN.EXAMPLE.COM", "cn.example.com.", "x.cn.example.com", ".example.com", "cn")},
	{"/O=Org/CN=*.cn.example.com", "", []string{
		"a.cn.example.com", "cn.example.com", "a.b.cn.example.com", "A.CN.example.com", ".cn.example.com"}},
	{"/CN=aigw*.example.com", "", []string{"aigw.example.com", "aigw-1.example.com", "x.example.com"}},
	{"/CN=one.example.com/CN=two.example.com", "", []string{"one.example.com", "two.example.com", "three.example.com"}},
	{"/O=No Names", "", []string{"No Names", "no.example.com"}},
	// CN and DNS SANs: the CN is never consulted.
	{"/CN=cn.example.com", "DNS:san.example.com", []string{"cn.example.com", "san.example.com", "SAN.example.com"}},
	{"/CN=*.example.com", "DNS:san.example.com", []string{"a.example.com", "san.example.com", "cn.example.com"}},
	// IP SANs are never consulted, and do not disable the CN fallback.
	{"/CN=cn.example.com", "IP:10.0.0.1", []string{"cn.example.com", "10.0.0.1", "10.0.0.2", "CN.example.com"}},
	{"/CN=10.0.0.1", "IP:10.0.0.1", []string{"10.0.0.1", "10.0.0.2", "010.000.000.001"}},
	{"/CN=ipdns", "IP:10.0.0.1,DNS:aigw.example.com", []string{"10.0.0.1", "aigw.example.com", "ipdns"}},
	// An IP literal is compared as text with DNS SANs.
	{"/CN=ipasdns", "DNS:10.0.0.1,DNS:*.0.0.1", []string{"10.0.0.1", "10.0.0.01", "11.0.0.1", "0.0.1"}},
	{"/CN=::1", "IP:::1,DNS:v6.example.com", []string{"::1", "[::1]", "0:0:0:0:0:0:0:1", "v6.example.com", "v6.example.com:443"}},
	// e-mail and URI SANs do not disable the CN fallback either.
	{"/CN=mail.example.com", "email:a@example.com", []string{"mail.example.com", "a@example.com", "MAIL.EXAMPLE.COM"}},
	{"/CN=spiffe.example.com", "URI:spiffe://cluster.local/ns/a/sa/b", []string{"spiffe.example.com", "cluster.local"}},
	// Several SANs.
	{"/CN=several", "DNS:a.example.com,DNS:*.b.example.com,DNS:c.example.org,IP:192.168.0.1,DNS:localhost", withEmptyish(
		"a.example.com", "x.b.example.com", "b.example.com", "C.EXAMPLE.ORG", "192.168.0.1", "localhost",
		"LOCALHOST", "localhost.", "several", "d.example.org", ".example.org", ".b.example.com")},
	// Punycode.
	{"/CN=idna", "DNS:xn--bcher-kva.example.com", []string{
		"xn--bcher-kva.example.com", "XN--BCHER-KVA.example.com", "bücher.example.com", "bcher-kva.example.com"}},
	{"/CN=idnawild", "DNS:xn--*.example.com", []string{"xn--abc.example.com", "xn--*.example.com", "xn--.example.com"}},
	{"/CN=idnaparent", "DNS:*.xn--bcher-kva.example", []string{
		"a.xn--bcher-kva.example", "xn--a.xn--bcher-kva.example", "xn--bcher-kva.example"}},
	{"/CN=idnapartial", "DNS:*n--abc.example.com", []string{"xn--abc.example.com", "an--abc.example.com"}},
	// Non-ASCII CN (UTF8String): compared byte for byte, ASCII letters folded only.
	{"/CN=café.example.com", "", []string{"café.example.com", "CAFé.EXAMPLE.COM", "CAFÉ.example.com", "cafe.example.com"}},
}

func TestCheckHostMatchesOpenSSL(t *testing.T) {
	bin := tools.OpenSSL.Need(t) // the oracle for X509_check_host
	version, _ := exec.Command(bin, "version").Output()
	t.Logf("oracle: %s", strings.TrimSpace(string(version)))

	dir := t.TempDir()
	parsed := make([]*x509.Certificate, len(corpus))
	paths := make([]string, len(corpus))
	parallel(len(corpus), func(i int) {
		paths[i] = filepath.Join(dir, fmt.Sprintf("cert%02d.pem", i))
		var err error
		if parsed[i], err = makeCert(bin, paths[i], corpus[i]); err != nil {
			t.Errorf("cert %d (%s, %s): %v", i, corpus[i].subj, corpus[i].san, err)
		}
	})
	if t.Failed() {
		t.FailNow()
	}

	type pair struct {
		cert int
		name string
		want bool
	}
	var pairs []pair
	for i, c := range corpus {
		names := append(append([]string(nil), common...), c.names...)
		for _, n := range names {
			pairs = append(pairs, pair{cert: i, name: n})
		}
	}
	parallel(len(pairs), func(k int) {
		p := &pairs[k]
		out, err := exec.Command(bin, "x509", "-noout", "-in", paths[p.cert], "-checkhost", p.name).Output()
		switch s := strings.TrimSpace(string(out)); {
		case err != nil:
			t.Errorf("openssl -checkhost %q: %v", p.name, err)
		case strings.HasSuffix(s, " does NOT match certificate"):
		case strings.HasSuffix(s, " does match certificate"):
			p.want = true
		default:
			t.Errorf("openssl -checkhost %q: unexpected output %q", p.name, s)
		}
	})

	matches := 0
	for _, p := range pairs {
		c := corpus[p.cert]
		if got := certs.CheckHost(parsed[p.cert], p.name); got != p.want {
			t.Errorf("CheckHost(subject %q, SAN %q; %q) = %v, openssl says %v", c.subj, c.san, p.name, got, p.want)
		}
		if p.want {
			matches++
		}
	}
	t.Logf("compared %d (certificate, name) pairs over %d certificates: %d match, %d do not",
		len(pairs), len(parsed), matches, len(pairs)-matches)
	if len(pairs) < 200 || matches < 50 || len(pairs)-matches < 50 {
		t.Errorf("corpus too small or one-sided: %d pairs, %d matches", len(pairs), matches)
	}
}

// makeCert writes a self-signed certificate for c with the openssl CLI and parses it.
func makeCert(bin, path string, c certCase) (*x509.Certificate, error) {
	args := []string{"req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
		"-keyout", path + ".key", "-out", path, "-days", "2", "-utf8", "-subj", c.subj}
	if c.san != "" {
		args = append(args, "-addext", "subjectAltName="+c.san)
	}
	if out, err := exec.Command(bin, args...).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("%v: %s", err, out)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	block, _ := pem.Decode(raw)
	if block == nil {
		return nil, fmt.Errorf("no PEM block in %s", path)
	}
	return x509.ParseCertificate(block.Bytes)
}

// parallel runs fn(0..n-1) on a few goroutines: each call forks openssl, which dominates run time.
func parallel(n int, fn func(int)) {
	next := make(chan int)
	var wg sync.WaitGroup
	for w := 0; w < 2*runtime.NumCPU(); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				fn(i)
			}
		}()
	}
	for i := 0; i < n; i++ {
		next <- i
	}
	close(next)
	wg.Wait()
}
