package certs

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"reflect"
	"sync"
	"testing"
	"time"
)

// hcSpec describes a certificate for the host-check tests.
type hcSpec struct {
	cns   []string // subject CNs, in order
	dns   []string
	ips   []string
	email []string
}

var hcKey = sync.OnceValue(func() *ecdsa.PrivateKey {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(err)
	}
	return k
})

// hcCert builds, signs and parses a certificate, so the tests see what ParseCertificate gives.
func hcCert(t *testing.T, s hcSpec) *x509.Certificate {
	t.Helper()
	tmpl := &x509.Certificate{
		SerialNumber:   big.NewInt(1),
		NotBefore:      time.Now().Add(-time.Hour),
		NotAfter:       time.Now().Add(time.Hour),
		DNSNames:       s.dns,
		EmailAddresses: s.email,
	}
	for _, cn := range s.cns {
		tmpl.Subject.ExtraNames = append(tmpl.Subject.ExtraNames, pkix.AttributeTypeAndValue{Type: oidCommonName, Value: cn})
	}
	for _, ip := range s.ips {
		tmpl.IPAddresses = append(tmpl.IPAddresses, net.ParseIP(ip))
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, hcKey().Public(), hcKey())
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

func TestCheckHost(t *testing.T) {
	dns := func(names ...string) hcSpec { return hcSpec{cns: []string{"cn.example.com"}, dns: names} }
	cn := func(names ...string) hcSpec { return hcSpec{cns: names} }
	tests := []struct {
		why  string
		cert hcSpec
		name string
		want bool
	}{
		{"exact", dns("api.example.com"), "api.example.com", true},
		{"ASCII case-insensitive (name)", dns("api.example.com"), "API.Example.COM", true},
		{"ASCII case-insensitive (SAN)", dns("AIGW.Example.com"), "aigw.example.com", true},
		{"no Unicode folding: the Kelvin sign is not k", dns("k.example.com"), "\u212a.example.com", false},
		{"other names do not match", dns("api.example.com"), "web.example.com", false},
		{"no suffix match", dns("api.example.com"), "x.api.example.com", false},
		{"a port is not stripped (nginx does that before)", dns("api.example.com"), "api.example.com:443", false},
		{"trailing dot in the name is not ignored", dns("api.example.com"), "api.example.com.", false},
		{"trailing dot in the SAN is not ignored", dns("api.example.com."), "api.example.com", false},
		{"trailing dots on both sides", dns("api.example.com."), "api.example.com.", true},
		{"empty name", dns("api.example.com"), "", false},
		{"one trailing NUL is tolerated", dns("api.example.com"), "api.example.com\x00", true},
		{"embedded NUL", dns("api.example.com"), "api\x00.example.com", false},
		{"lone NUL", dns("api.example.com"), "\x00", false},
		{"several SANs", dns("a.example.com", "b.example.com"), "b.example.com", true},

		{"CN ignored when a DNS SAN exists", dns("san.example.com"), "cn.example.com", false},
		{"CN used without SAN", cn("cn.example.com"), "CN.example.com", true},
		{"every CN is tried", cn("one.example.com", "two.example.com"), "one.example.com", true},
		{"every CN is tried (last)", cn("one.example.com", "two.example.com"), "two.example.com", true},
		{"wildcard CN", cn("*.example.com"), "api.example.com", true},
		{"no names at all", hcSpec{}, "api.example.com", false},
		{"IP SAN does not disable the CN", hcSpec{cns: []string{"cn.example.com"}, ips: []string{"10.0.0.1"}}, "cn.example.com", true},
		{"e-mail SAN does not disable the CN", hcSpec{cns: []string{"cn.example.com"}, email: []string{"a@example.com"}}, "cn.example.com", true},
		{"IP SANs are never consulted", hcSpec{cns: []string{"cn"}, ips: []string{"10.0.0.1"}}, "10.0.0.1", false},
		{"IP literal vs DNS SAN: compared as text", dns("10.0.0.1"), "10.0.0.1", true},
		{"IP literal vs CN: compared as text", hcSpec{cns: []string{"10.0.0.1"}, ips: []string{"10.0.0.1"}}, "10.0.0.1", true},

		{"wildcard covers one label", dns("*.example.com"), "api.example.com", true},
		{"wildcard is case-insensitive", dns("*.EXAMPLE.com"), "Api.example.COM", true},
		{"wildcard does not cover two labels", dns("*.example.com"), "a.b.example.com", false},
		{"wildcard does not cover the parent", dns("*.example.com"), "example.com", false},
		{"wildcard label: letters, digits, hyphens only", dns("*.example.com"), "a_b.example.com", false},
		{"wildcard matches a literal star", dns("*.example.com"), "*.example.com", true},
		{"wildcard two labels deep", dns("*.ns.svc.cluster.local"), "aigw.ns.svc.cluster.local", true},
		{"partial wildcard ai*", dns("ai*.example.com"), "aigw.example.com", true},
		{"partial wildcard ai* may match nothing", dns("ai*.example.com"), "ai.example.com", true},
		{"partial wildcard *gw", dns("*gw.example.com"), "aigw.example.com", true},
		{"partial wildcard *gw may match nothing", dns("*gw.example.com"), "gw.example.com", true},
		{"star inside a label is literal", dns("a*w.example.com"), "aigw.example.com", false},
		{"star inside a label, literal match", dns("a*w.example.com"), "A*W.example.com", true},
		{"star after a hyphen is literal", dns("gw-*.example.com"), "gw-a.example.com", false},
		{"star outside the first label is literal", dns("api.*.example.com"), "api.x.example.com", false},
		{"too few labels: *.com is literal", dns("*.com"), "example.com", false},
		{"too few labels: *.com literal match", dns("*.com"), "*.COM", true},
		{"trailing dot makes the wildcard literal", dns("*.example.com."), "a.example.com.", false},
		{"two stars are literal", dns("*.*.example.com"), "a.b.example.com", false},

		{"no wildcard in an IDNA pattern label", dns("xn--*.example.com"), "xn--abc.example.com", false},
		{"full-label wildcard covers an IDNA label", dns("*.example.com"), "xn--bcher-kva.example.com", true},
		{"partial wildcard never matches an IDNA name", dns("x*.example.com"), "xn--abc.example.com", false},
		{"partial wildcard, IDNA check is on the name's prefix", dns("*gw.example.com"), "XN--gw.example.com", false},
		{"partial wildcard, non-IDNA xn", dns("x*.example.com"), "xn.example.com", true},

		{"leading-dot name: sub-domain match", dns("api.example.com"), ".example.com", true},
		{"leading-dot name matches a wildcard's tail", dns("*.example.com"), ".example.com", true},
		{"leading-dot name: deeper", dns("a.b.example.com"), ".example.com", true},
		{"leading-dot name: must be a tail", dns("api.example.com"), ".example.org", false},
		{"lone dot", dns("api.example.com"), ".", false},
	}
	for _, tt := range tests {
		if got := CheckHost(hcCert(t, tt.cert), tt.name); got != tt.want {
			t.Errorf("%s: CheckHost(%+v, %q) = %v, want %v", tt.why, tt.cert, tt.name, got, tt.want)
		}
	}
}

func TestCheckHostTemplate(t *testing.T) {
	// A certificate built from a cert-manager Certificate spec, never marshalled: only
	// Subject.CommonName is set, not Subject.Names.
	tmpl := &x509.Certificate{Subject: pkix.Name{CommonName: "cn.example.com"}, IPAddresses: []net.IP{net.ParseIP("10.0.0.1")}}
	if !CheckHost(tmpl, "cn.example.com") {
		t.Error("template CN not matched")
	}
	tmpl.DNSNames = []string{"ai*.example.com"}
	if CheckHost(tmpl, "cn.example.com") || !CheckHost(tmpl, "aigw.example.com") {
		t.Error("template DNS names not used instead of the CN")
	}
	if CheckHost(nil, "cn.example.com") {
		t.Error("nil certificate matched")
	}
}

func TestHostNames(t *testing.T) {
	tests := []struct {
		cert hcSpec
		want []string
	}{
		{hcSpec{cns: []string{"cn.example.com"}, dns: []string{"API.example.com", "*.example.com"}}, []string{"API.example.com", "*.example.com"}},
		{hcSpec{cns: []string{"one.example.com", "Two.example.com"}}, []string{"one.example.com", "Two.example.com"}},
		{hcSpec{cns: []string{"cn.example.com"}, ips: []string{"10.0.0.1"}, email: []string{"a@example.com"}}, []string{"cn.example.com"}},
		{hcSpec{ips: []string{"10.0.0.1"}}, nil},
	}
	for _, tt := range tests {
		if got := HostNames(hcCert(t, tt.cert)); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("HostNames(%+v) = %q, want %q", tt.cert, got, tt.want)
		}
	}
	tmpl := &x509.Certificate{Subject: pkix.Name{CommonName: "cn.example.com"}}
	if got := HostNames(tmpl); !reflect.DeepEqual(got, []string{"cn.example.com"}) {
		t.Errorf("HostNames(template) = %q", got)
	}
	if got := HostNames(nil); got != nil {
		t.Errorf("HostNames(nil) = %q", got)
	}
	// The result is a copy: callers may sort or edit it.
	c := hcCert(t, hcSpec{dns: []string{"a.example.com"}})
	HostNames(c)[0] = "x"
	if c.DNSNames[0] != "a.example.com" {
		t.Error("HostNames returned the certificate's own slice")
	}
}
