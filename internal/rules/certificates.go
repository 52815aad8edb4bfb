package rules

import (
	"crypto/x509"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/aigw-mtls/aigw-mtls-webhook/internal/certs"
)

// The certificate rules below are used by the Policy rules and by `check`, which judges the live
// Secrets with them.

// CABundle judges the CA bundle nginx trusts for the aigw server (ca.crt of the nginx.org/ca
// Secret, rendered as proxy_ssl_trusted_certificate). It returns the certificates, the findings
// and a summary of what holds.
//
// NIC (internal/k8s/secrets/validation.go ValidateCASecret) requires the first PEM block to be a
// CERTIFICATE that parses; otherwise the Secret is invalid and internal/configs/policy.go
// addEgressMTLSConfig answers 500 on the routes. Stricter by design: the bundle must hold a
// self-signed root (nginx's OpenSSL ends a chain only there), and a CA valid now. An expired CA
// beside a valid one is only reported: OpenSSL prefers the valid issuer, and the CA sync keeps
// the old CA until it expires on purpose.
// memo, when set, names the bundle's content (namespace/name/key@resourceVersion): it is parsed
// once per memo.
func CABundle(obj, field, memo string, bundle []byte, now time.Time) ([]*x509.Certificate, Findings, string) {
	c := &collector{obj: obj}
	reissue := "store the PEM CA certificate first under ca.crt (the CA sync copies it from cert-manager's CA Secret)"
	if found := notCertificateFirst(bundle); found != "" {
		c.add(CABundleNotCertificate, Finding{Field: field, Expected: "ca.crt starting with a PEM CERTIFICATE block (NIC reads only the first block)",
			Found: found, Fix: reissue})
		return nil, c.out, ""
	}
	cs, err := certs.ParseCached(memo, bundle)
	if tooLarge(c, field, "ca.crt", err, "keep only the CAs nginx needs in ca.crt: the aigw CA, and during a rotation the previous one (the CA sync writes exactly these)") {
		return nil, c.out, ""
	}
	if err != nil {
		c.add(CABundleUnparsable, Finding{Field: field, Expected: "PEM CA certificates under ca.crt", Found: err.Error(), Fix: reissue})
		return nil, c.out, ""
	}
	var names []string
	for _, ca := range cs {
		names = append(names, certs.Subject(ca))
	}
	if !certs.HasSelfSigned(cs) {
		c.add(CABundleNoRoot, Finding{Field: field, Expected: "the self-signed root CA in ca.crt (nginx's OpenSSL ends a chain only at a self-signed CA)",
			Found: "only " + strings.Join(names, ", ")})
	}
	latest := certs.Latest(cs)
	valid := certs.ValidAt(cs, now)
	for _, ca := range cs {
		problem, notice := certs.Expiry(ca, now)
		switch {
		case problem != "" && len(valid) == 0:
			c.add(CAExpired, Finding{Field: field, Expected: "a CA certificate valid now", Found: fmt.Sprintf("%s %s", certs.Subject(ca), problem)})
		case problem != "":
			c.add(CAExpiredBesideValid, Finding{Field: field, Found: fmt.Sprintf("CA %s %s, beside a valid CA", certs.Subject(ca), problem)})
		case notice != "" && ca == latest:
			c.add(CAExpiresSoon, Finding{Field: field, Found: fmt.Sprintf("CA %s %s", certs.Subject(ca), notice)})
		}
	}
	return cs, c.out, fmt.Sprintf("CA %s, %s", strings.Join(names, ", "), certs.DaysLeft(latest, now))
}

// notCertificateFirst is what NIC's ValidateCASecret and NGF's ValidateCA require of a CA
// bundle: its first PEM block is a CERTIFICATE. It returns what was found instead, or "".
func notCertificateFirst(bundle []byte) string {
	switch t := certs.FirstBlock(bundle); t {
	case "CERTIFICATE":
		return ""
	case "":
		return "no PEM block"
	default:
		return "a PEM block of type " + t + " first"
	}
}

// tooLarge refuses certificate data under key that is past certs' parse bounds (err a
// *certs.TooLargeError): the webhook does not parse it, so it cannot be judged, and such data has
// no place on the hop (a trust bundle of dozens of CAs lets any of them vouch for aigw).
func tooLarge(c *collector, field, key string, err error, fix string) bool {
	var tl *certs.TooLargeError
	if !errors.As(err, &tl) {
		return false
	}
	c.add(CertDataTooLarge, Finding{Field: field, Expected: fmt.Sprintf("at most %d PEM certificates and %d KiB under %s", certs.MaxBundleCerts, certs.MaxBundleBytes>>10, key),
		Found: tl.Error(), Fix: fix})
	return true
}

// ServerCertificate judges the aigw server certificate (tls.crt: the leaf, then its chain) as
// nginx's OpenSSL verifies it against trusted with proxy_ssl_verify_depth depth: it must chain to
// a self-signed CA of trusted within depth, allow server auth and be valid now. trusted nil skips
// the chain; depth < 0 skips the depth.
func ServerCertificate(obj, field string, chain []*x509.Certificate, source string, trusted []*x509.Certificate, trustedName string, depth int, now time.Time) (Findings, string) {
	return serverCertificate(obj, field, chain, source, trusted, trustedName, nicVerifyDepth(depth), now)
}

// tooDeep judges the number of intermediate CAs OpenSSL walks between the server certificate and
// the root against the proxy_ssl_verify_depth nginx is given: a finding when they are too many.
type tooDeep func(c *collector, intermediates int) bool

// nicVerifyDepth is a Policy's egressMTLS.verifyDepth (depth < 0: not judged).
func nicVerifyDepth(depth int) tooDeep {
	return func(c *collector, n int) bool {
		if depth < 0 || n <= depth {
			return false
		}
		c.add(PolicyVerifyDepthTooLow, Finding{Field: "spec.egressMTLS.verifyDepth", Expected: fmt.Sprintf("at least %d for the server chain (%d intermediate CA(s) between the leaf and the self-signed root, counted as OpenSSL does)", n, n),
			Found: fmt.Sprint(depth), Fix: fmt.Sprintf("set verifyDepth: %d", n)})
		return true
	}
}

func serverCertificate(obj, field string, chain []*x509.Certificate, source string, trusted []*x509.Certificate, trustedName string, deep tooDeep, now time.Time) (Findings, string) {
	c := &collector{obj: obj}
	leaf := chain[0]
	parts := []string{certs.Subject(leaf)}
	if names := certs.HostNames(leaf); len(names) > 0 && !strings.HasPrefix(certs.Subject(leaf), "DNS:") {
		parts[0] += " [" + strings.Join(names, ", ") + "]"
	}
	what := fmt.Sprintf("%s in %s", certs.Subject(leaf), source)
	if problem, notice := certs.Expiry(leaf, now); problem != "" {
		c.add(ServerCertExpired, Finding{Field: field, Expected: "a server certificate valid now", Found: what + " " + problem})
	} else if notice != "" {
		c.add(ServerCertExpiresSoon, Finding{Field: field, Found: "server certificate " + what + " " + notice})
	}
	if len(trusted) > 0 {
		anchors := certs.ValidAt(trusted, now)
		n := certs.OpenSSLIntermediates(leaf, chain[1:], anchors)
		switch {
		case !certs.HasSelfSigned(trusted):
			// CABundle reports it.
		case n < 0 && certs.OpenSSLIntermediates(leaf, chain[1:], trusted) >= 0:
			c.add(ServerCertCAExpired, Finding{Field: field, Expected: fmt.Sprintf("a server certificate issued by a CA in %s that is valid now", trustedName),
				Found: fmt.Sprintf("%s, which chains only to an expired CA", what)})
		case n < 0:
			c.add(ServerCertUntrusted, Finding{Field: field, Expected: fmt.Sprintf("a server certificate that chains to the CA in %s (%s) as nginx's OpenSSL verifies it", trustedName, certs.Subject(trusted[0])),
				Found: fmt.Sprintf("%s issued by %s", what, certs.IssuerName(leaf)),
				Fix:   fmt.Sprintf("issue the server certificate from the CA in %s (cert-manager: the aigw CA Issuer), or put its issuing CA there", trustedName)})
		case deep(c, n):
		default:
			parts = append(parts, fmt.Sprintf("chains to %s with %d intermediate(s)", trustedName, n))
		}
	}
	if certs.AllowsUsage(leaf, x509.ExtKeyUsageServerAuth) {
		parts = append(parts, "server auth")
	} else {
		c.add(ServerCertNoServerAuth, Finding{Field: field, Expected: "a server certificate whose extended key usage allows server auth",
			Found: what + " with extended key usages that exclude it"})
	}
	return c.out, strings.Join(append(parts, certs.DaysLeft(leaf, now)), ", ")
}

// ClientCertificate judges NIC's client certificate (tls.crt of the tlsSecret) against the CA aigw
// trusts for clients: it must allow client auth, be valid now and chain to roots (Go's crypto/tls
// on the aigw side accepts any certificate of its pool as an anchor). roots nil skips the chain.
func ClientCertificate(obj, field string, chain []*x509.Certificate, roots []*x509.Certificate, rootsName string, now time.Time) (Findings, string) {
	c := &collector{obj: obj}
	leaf := chain[0]
	parts := []string{certs.Subject(leaf)}
	if problem, notice := certs.Expiry(leaf, now); problem != "" {
		c.add(ClientCertExpired, Finding{Field: field, Expected: "a client certificate valid now", Found: certs.Subject(leaf) + " " + problem})
	} else if notice != "" {
		c.add(ClientCertExpiresSoon, Finding{Field: field, Found: "client certificate " + certs.Subject(leaf) + " " + notice})
	}
	if roots != nil {
		if n := certs.Intermediates(leaf, chain[1:], roots); n < 0 {
			c.add(ClientCertUntrusted, Finding{Field: field, Expected: fmt.Sprintf("a client certificate that chains to the CA aigw trusts (%s, %s)", rootsName, certs.Subject(roots[0])),
				Found: fmt.Sprintf("%s issued by %s", certs.Subject(leaf), certs.IssuerName(leaf)),
				Fix:   fmt.Sprintf("issue the client certificate from the CA in %s (cert-manager: the aigw CA Issuer)", rootsName)})
		} else {
			parts = append(parts, fmt.Sprintf("chains to %s with %d intermediate(s)", rootsName, n))
		}
	}
	if !certs.AllowsUsage(leaf, x509.ExtKeyUsageClientAuth) {
		c.add(ClientCertNoClientAuth, Finding{Field: field, Expected: "a client certificate whose extended key usage allows client auth",
			Found: certs.Subject(leaf) + " with extended key usages that exclude it"})
	} else {
		parts = append(parts, "client auth")
	}
	return c.out, strings.Join(append(parts, certs.DaysLeft(leaf, now)), ", ")
}
