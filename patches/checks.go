package patches

import (
	"crypto/x509"
	"fmt"
	"strings"
	"time"

	"gomodules.xyz/jsonpatch/v2"
)

// This file holds the pure checks behind `aigw-mtls-webhook check`, which reports on a live
// cluster with the same rules the validations apply at admission: certificates parsed and judged
// here, formatted and grouped by the command.

// Severity of a check finding.
type Severity string

const (
	SeverityError   Severity = "error"
	SeverityWarning Severity = "warning"
)

// Finding is one problem found about an object: what is wrong, and how to fix it.
type Finding struct {
	Severity Severity
	Message  string
	Fix      string
}

// CertReport is what a certificate check found: Summary describes what holds (for the line that
// says so when there are no findings).
type CertReport struct {
	Summary  string
	Findings []Finding
}

func (r *CertReport) add(sev Severity, msg, fix string) {
	r.Findings = append(r.Findings, Finding{Severity: sev, Message: msg, Fix: fix})
}

// expiryFinding adds the expiry of c to r and returns the "expires in N days" text.
func (r *CertReport) expiry(what string, c *x509.Certificate, now time.Time, fix string) string {
	refusal, warning := expiry(c, now)
	switch {
	case refusal != "":
		r.add(SeverityError, fmt.Sprintf("%s %s %s", what, CertSubject(c), refusal), fix)
	case warning != "":
		r.add(SeverityWarning, fmt.Sprintf("%s %s %s", what, CertSubject(c), warning), fix)
	}
	return DaysLeft(c, now)
}

// DaysLeft says when c expires, relative to now: "expires in 364 days (2027-05-01)".
func DaysLeft(c *x509.Certificate, now time.Time) string {
	left := c.NotAfter.Sub(now)
	switch {
	case left < 0:
		return fmt.Sprintf("expired on %s", c.NotAfter.UTC().Format(time.DateOnly))
	case left < 48*time.Hour:
		return fmt.Sprintf("expires in %d hours (%s)", int(left.Hours()), c.NotAfter.UTC().Format(time.RFC3339))
	}
	return fmt.Sprintf("expires in %d days (%s)", int(left.Hours()/24), c.NotAfter.UTC().Format(time.DateOnly))
}

// ParseCertificates parses every PEM CERTIFICATE block of data.
func ParseCertificates(data []byte) ([]*x509.Certificate, error) { return parsePEMCertificates(data) }

// CertSubject names a certificate in messages: CN=..., else its full subject, else its DNS names
// (cert-manager issues server certificates without a subject when spec.commonName is unset).
func CertSubject(c *x509.Certificate) string { return subject(c) }

// CheckCA checks the CA bundle NIC trusts (ca.crt of the nginx.org/ca Secret): it must hold a
// self-signed root (nginx's OpenSSL ends a chain only there) and a CA valid now. The expiry is
// judged on the CA that lasts longest: after a rotation the bundle keeps the old CA until it
// expires, which is expected.
func CheckCA(bundle []byte, where string, now time.Time) ([]*x509.Certificate, CertReport) {
	var r CertReport
	certs, err := parsePEMCertificates(bundle)
	if err != nil {
		r.add(SeverityError, fmt.Sprintf("%s: %v", where, err), "store the PEM CA certificate there (the CA sync copies it from cert-manager's CA Secret)")
		return nil, r
	}
	latest := certs[0]
	var names []string
	for _, c := range certs {
		names = append(names, CertSubject(c))
		if c.NotAfter.After(latest.NotAfter) {
			latest = c
		}
	}
	if !hasSelfSigned(certs) {
		r.add(SeverityError, fmt.Sprintf("%s holds no self-signed root CA (only %s): nginx's OpenSSL ends a chain only at a self-signed CA, so no certificate verifies",
			where, strings.Join(names, ", ")), "add the root CA certificate to "+where)
	}
	left := r.expiry("CA", latest, now, "rotate the CA (cert-manager: renew the CA Certificate) and re-issue the certificates it signs")
	r.Summary = fmt.Sprintf("CA %s, %s", strings.Join(names, ", "), left)
	return certs, r
}

// CheckServerCert checks the aigw server certificate (tls.crt: the leaf, then its chain) against
// the CA bundle NIC trusts, as nginx's OpenSSL verifies it: it must chain to a self-signed CA of
// trusted, allow server auth and be valid now. trusted nil skips the chain (the CA is reported on
// its own).
func CheckServerCert(tlsCrt []byte, trusted []*x509.Certificate, trustedName string, now time.Time) CertReport {
	return checkLeaf(tlsCrt, leafCheck{
		what: "server certificate", usage: x509.ExtKeyUsageServerAuth, usageName: "server auth",
		usageRefusal: " (nginx fails it with \"unsuitable certificate purpose\")",
		chainRefusal: " as nginx's OpenSSL verifies it", chainFix: ", or put its issuing CA there",
		chainTo: opensslIntermediates, showNames: true,
	}, trusted, trustedName, now)
}

// CheckClientCert checks NIC's client certificate against the CA aigw trusts (the CA Secret
// mounted into aigw pods): it must chain to it, allow client auth and be valid now. roots nil
// skips the chain.
func CheckClientCert(tlsCrt []byte, roots []*x509.Certificate, rootsName string, now time.Time) CertReport {
	return checkLeaf(tlsCrt, leafCheck{
		what: "client certificate", usage: x509.ExtKeyUsageClientAuth, usageName: "client auth",
		chainRefusal: ": aigw refuses NIC's handshake", chainTo: intermediatesToRoot, chainCA: "the CA aigw trusts",
	}, roots, rootsName, now)
}

// leafCheck is what differs between the server and the client certificate checks.
type leafCheck struct {
	what         string
	usage        x509.ExtKeyUsage
	usageName    string
	usageRefusal string // appended to the usage error
	chainRefusal string // appended to the chain error
	chainFix     string // appended to the chain error's fix
	chainCA      string // how the chain error names the CA; empty: "the CA in <name>"
	chainTo      func(leaf *x509.Certificate, pool, roots []*x509.Certificate) int
	showNames    bool // list the host names the certificate answers to
}

func checkLeaf(tlsCrt []byte, lc leafCheck, roots []*x509.Certificate, rootsName string, now time.Time) CertReport {
	var r CertReport
	renew := fmt.Sprintf("renew the %s (cert-manager: kubectl cert-manager renew)", lc.what)
	certs, err := parsePEMCertificates(tlsCrt)
	if err != nil {
		r.add(SeverityError, "tls.crt: "+err.Error(), "re-issue the "+lc.what+" (cert-manager: kubectl cert-manager renew)")
		return r
	}
	leaf := certs[0]
	parts := []string{CertSubject(leaf)}
	if names := HostNames(leaf); lc.showNames && len(names) > 0 && !strings.HasPrefix(subject(leaf), "DNS:") {
		parts[0] += " [" + strings.Join(names, ", ") + "]"
	}
	if roots != nil {
		if n := lc.chainTo(leaf, certs[1:], roots); n < 0 {
			ca := fmt.Sprintf("the CA in %s (%s)", rootsName, CertSubject(roots[0]))
			if lc.chainCA != "" {
				ca = fmt.Sprintf("%s (%s, %s)", lc.chainCA, rootsName, CertSubject(roots[0]))
			}
			r.add(SeverityError, fmt.Sprintf("%s %s (issued by %s) does not chain to %s%s", lc.what, CertSubject(leaf), issuerName(leaf), ca, lc.chainRefusal),
				fmt.Sprintf("issue the %s from the CA in %s (cert-manager: the aigw CA Issuer)%s", lc.what, rootsName, lc.chainFix))
		} else {
			parts = append(parts, fmt.Sprintf("chains to %s with %d intermediate(s)", rootsName, n))
		}
	}
	if allowsUsage(leaf, lc.usage) {
		parts = append(parts, lc.usageName)
	} else {
		r.add(SeverityError, fmt.Sprintf("%s %s has extended key usages that exclude %s%s", lc.what, CertSubject(leaf), lc.usageName, lc.usageRefusal),
			fmt.Sprintf("re-issue it with usages [%s] (cert-manager: spec.usages)", lc.usageName))
	}
	parts = append(parts, r.expiry(lc.what, leaf, now, renew))
	r.Summary = strings.Join(parts, ", ")
	return r
}

// MissingCAs returns the CA certificates of source (a cert-manager CA Secret's tls.crt) that
// bundle does not hold: the CAs the CA sync would write into the nginx.org/ca Secret.
func MissingCAs(bundle []*x509.Certificate, source []byte) ([]*x509.Certificate, error) {
	src, err := parsePEMCertificates(source)
	if err != nil {
		return nil, err
	}
	want := issuingCAs(src)
	held := map[string]bool{}
	for _, c := range bundle {
		held[string(c.Raw)] = true
	}
	var missing []*x509.Certificate
	for _, c := range want {
		if !held[string(c.Raw)] {
			missing = append(missing, c)
		}
	}
	return missing, nil
}

// WiringOps returns the operations of r that wire an object (everything but the record kept in
// metadata): a labelled object whose mutation still yields such operations is not wired.
func WiringOps(r Result) []jsonpatch.Operation {
	var ops []jsonpatch.Operation
	for _, op := range r.Patch {
		if !strings.HasPrefix(op.Path, "/metadata/") {
			ops = append(ops, op)
		}
	}
	return ops
}

func issuerName(c *x509.Certificate) string {
	if c.Issuer.CommonName != "" {
		return "CN=" + c.Issuer.CommonName
	}
	return c.Issuer.String()
}
