// Package rules is the one rule set that judges the objects of the NGINX Ingress Controller → AI
// gateway mTLS hop. Each rule returns structured findings; admission, `validate`, `check` and the
// Policy audit render the same findings.
//
// Where a rule follows NGINX Ingress Controller (NIC) v5.5.4, the comment next to it names the NIC
// file and function; where a rule is stricter than NIC by design, it says why.
package rules

import (
	"fmt"
	"strings"

	"github.com/aigw-mtls/aigw-mtls-webhook/internal/aigw"
)

// Severity says whether a finding refuses the object or only warns.
type Severity string

const (
	Error   Severity = "error"
	Warning Severity = "warning"
)

// What happens at run time when a finding is ignored.
const (
	PolicyInvalid   = "NIC marks the Policy Invalid and answers 500 on every route that references it"
	Route500        = "NIC answers 500 on every route that references the Policy"
	VSInvalid       = "NIC marks the whole resource Invalid and serves none of its routes"
	ReloadFails     = "nginx fails to reload: NIC marks the VirtualServer Invalid and nginx keeps its previous configuration"
	Injected        = "NIC writes the value verbatim into nginx.conf, where it ends the directive and adds directives of its own: NIC reports the resource Valid while requests never reach aigw"
	Nginx502        = "nginx answers 502: the TLS handshake with aigw fails"
	AigwRefuses     = "aigw refuses NIC's client certificate: nginx answers 502"
	NotVerified     = "nginx does not authenticate the aigw server"
	WeakProtocols   = "nginx offers TLS versions below 1.2 to aigw"
	ExpiresSoon     = "nginx answers 502 once it expires, unless it is renewed first"
	NotCheckedYet   = "checked again when the object is next applied"
	NotCheckable    = "not checked: admitted as it is; NIC answers 500 or nginx 502 at run time if it is wrong"
	CertificateDrop = "the renewed certificate no longer covers the Policy's sslName: nginx answers 502 after the renewal"
	NotMounted      = "aigw starts without the CA and server certificate: it cannot serve mTLS and nginx answers 502"
	NotRouted       = "the object stays unwired: nginx connects to aigw without the client certificate"
	PolicyIgnored   = "NIC applies only the first egressMTLS Policy it meets and ignores the others"
	ConfigUnwired   = "aigw's config gets no TLS paths: aigw does not serve mTLS with the mounted certificates"
	PlainHTTP       = "NIC speaks plain HTTP to aigw, which expects TLS"
	NoClientCert    = "NIC connects without its client certificate and aigw refuses"
	IngressRejected = "NIC rejects the whole Ingress and serves none of its paths"
	LeftAsIs        = "NIC proxies to them as before: plain HTTP, without the Policy"
	GRPCFails       = "no gRPC request reaches aigw: without the client certificate aigw refuses them (502), and over HTTP/1.1 gRPC does not work"
	Host500         = "NIC answers 500 on every path of this host"
	Minion500       = "NIC answers 500 on every path of this minion"
	TooLarge        = "not checked: the webhook does not parse certificate data past its bounds, so nothing tells whether the hop's TLS verifies with it"
)

// Finding is one problem found about an object.
type Finding struct {
	Rule        ID     // the rule that found it (catalogue.go); its Severity and Consequence come from there
	Object      string // Kind/namespace/name
	Field       string // field path in the object, e.g. spec.egressMTLS.sslName
	Severity    Severity
	Expected    string
	Found       string
	Consequence string // what happens at run time if it stays
	Fix         string
}

// String renders a finding as one line: object, rule ID, field, expected, found, consequence and
// fix.
func (f Finding) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: [%s] %s: ", f.Object, f.Rule, f.Field)
	if f.Expected != "" {
		fmt.Fprintf(&b, "expected %s, found %s", f.Expected, f.Found)
	} else {
		b.WriteString(f.Found)
	}
	if f.Consequence != "" {
		fmt.Fprintf(&b, " (%s)", f.Consequence)
	}
	if f.Fix != "" {
		fmt.Fprintf(&b, "; fix: %s", f.Fix)
	}
	return b.String()
}

// Findings are the findings about one object (and the objects it references).
type Findings []Finding

// Errors renders the findings that refuse, one line each.
func (fs Findings) Errors() []string { return fs.lines(Error) }

// Warnings renders the findings that only warn, one line each.
func (fs Findings) Warnings() []string { return fs.lines(Warning) }

func (fs Findings) lines(sev Severity) []string {
	var out []string
	for _, f := range fs {
		if f.Severity == sev {
			out = append(out, f.String())
		}
	}
	return out
}

// Decide applies mode to the findings.
func (fs Findings) Decide(mode aigw.Mode) aigw.Decision {
	return aigw.Decide(fs.Errors(), fs.Warnings(), mode)
}

// collector gathers the findings about one object.
type collector struct {
	obj string
	out Findings
}

// add records a finding of rule d about the collector's object.
func (c *collector) add(d Def, f Finding) {
	f.Object = c.obj
	c.out = append(c.out, d.New(f))
}

// Problem renders a finding without its object and fix: "[ID] field: expected X, found Y
// (consequence)".
func (f Finding) Problem() string {
	g := f
	g.Object, g.Fix = "", ""
	return strings.TrimPrefix(g.String(), ": ")
}
