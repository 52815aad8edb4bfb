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
	if t := certs.FirstBlock(bundle); t != "CERTIFICATE" {
		found := "no PEM block"
		if t != "" {
			found = "a PEM block of type " + t + " first"
		}
		c.refuse(field, "ca.crt starting with a PEM CERTIFICATE block (NIC reads only the first block)", found, Route500, reissue)
		return nil, c.out, ""
	}
	cs, err := certs.ParseCached(memo, bundle)
	if tooLarge(c, field, "ca.crt", err, "keep only the CAs nginx needs in ca.crt: the aigw CA, and during a rotation the previous one (the CA sync writes exactly these)") {
		return nil, c.out, ""
	}
	if err != nil {
		c.refuse(field, "PEM CA certificates under ca.crt", err.Error(), Route500, reissue)
		return nil, c.out, ""
	}
	var names []string
	for _, ca := range cs {
		names = append(names, certs.Subject(ca))
	}
	if !certs.HasSelfSigned(cs) {
		c.refuse(field, "the self-signed root CA in ca.crt (nginx's OpenSSL ends a chain only at a self-signed CA)",
			"only "+strings.Join(names, ", "), Nginx502, "add the root CA certificate to ca.crt")
	}
	latest := certs.Latest(cs)
	valid := certs.ValidAt(cs, now)
	for _, ca := range cs {
		problem, notice := certs.Expiry(ca, now)
		switch {
		case problem != "" && len(valid) == 0:
			c.refuse(field, "a CA certificate valid now", fmt.Sprintf("%s %s", certs.Subject(ca), problem), Nginx502,
				"rotate the CA (cert-manager: renew the CA Certificate) and re-issue the certificates it signs")
		case problem != "":
			c.warn(field, fmt.Sprintf("CA %s %s, beside a valid CA", certs.Subject(ca), problem),
				"nginx verifies only with the valid CA; certificates still issued by the expired one fail", "drop it from ca.crt once nothing it issued is in use (the CA sync does so itself)")
		case notice != "" && ca == latest:
			c.warn(field, fmt.Sprintf("CA %s %s", certs.Subject(ca), notice), ExpiresSoon, "rotate the CA (cert-manager: renew the CA Certificate)")
		}
	}
	return cs, c.out, fmt.Sprintf("CA %s, %s", strings.Join(names, ", "), certs.DaysLeft(latest, now))
}

// tooLarge refuses certificate data under key that is past certs' parse bounds (err a
// *certs.TooLargeError): the webhook does not parse it, so it cannot be judged, and such data has
// no place on the hop (a trust bundle of dozens of CAs lets any of them vouch for aigw).
func tooLarge(c *collector, field, key string, err error, fix string) bool {
	var tl *certs.TooLargeError
	if !errors.As(err, &tl) {
		return false
	}
	c.refuse(field, fmt.Sprintf("at most %d PEM certificates and %d KiB under %s", certs.MaxBundleCerts, certs.MaxBundleBytes>>10, key),
		tl.Error(), TooLarge, fix)
	return true
}

// ServerCertificate judges the aigw server certificate (tls.crt: the leaf, then its chain) as
// nginx's OpenSSL verifies it against trusted with proxy_ssl_verify_depth depth: it must chain to
// a self-signed CA of trusted within depth, allow server auth and be valid now. trusted nil skips
// the chain; depth < 0 skips the depth.
func ServerCertificate(obj, field string, chain []*x509.Certificate, source string, trusted []*x509.Certificate, trustedName string, depth int, now time.Time) (Findings, string) {
	c := &collector{obj: obj}
	leaf := chain[0]
	parts := []string{certs.Subject(leaf)}
	if names := certs.HostNames(leaf); len(names) > 0 && !strings.HasPrefix(certs.Subject(leaf), "DNS:") {
		parts[0] += " [" + strings.Join(names, ", ") + "]"
	}
	what := fmt.Sprintf("%s in %s", certs.Subject(leaf), source)
	if problem, notice := certs.Expiry(leaf, now); problem != "" {
		c.refuse(field, "a server certificate valid now", what+" "+problem, Nginx502, "renew the server certificate (cert-manager: cmctl renew)")
	} else if notice != "" {
		c.warn(field, "server certificate "+what+" "+notice, ExpiresSoon, "renew the server certificate (cert-manager renews it before expiry when renewBefore allows)")
	}
	if len(trusted) > 0 {
		anchors := certs.ValidAt(trusted, now)
		n := certs.OpenSSLIntermediates(leaf, chain[1:], anchors)
		switch {
		case !certs.HasSelfSigned(trusted):
			// CABundle reports it.
		case n < 0 && certs.OpenSSLIntermediates(leaf, chain[1:], trusted) >= 0:
			c.refuse(field, fmt.Sprintf("a server certificate issued by a CA in %s that is valid now", trustedName),
				fmt.Sprintf("%s, which chains only to an expired CA", what), Nginx502, "re-issue the server certificate from the current CA")
		case n < 0:
			c.refuse(field, fmt.Sprintf("a server certificate that chains to the CA in %s (%s) as nginx's OpenSSL verifies it", trustedName, certs.Subject(trusted[0])),
				fmt.Sprintf("%s issued by %s", what, certs.IssuerName(leaf)), Nginx502,
				fmt.Sprintf("issue the server certificate from the CA in %s (cert-manager: the aigw CA Issuer), or put its issuing CA there", trustedName))
		case depth >= 0 && n > depth:
			c.refuse("spec.egressMTLS.verifyDepth", fmt.Sprintf("at least %d for the server chain (%d intermediate CA(s) between the leaf and the self-signed root, counted as OpenSSL does)", n, n),
				fmt.Sprint(depth), Nginx502, fmt.Sprintf("set verifyDepth: %d", n))
		default:
			parts = append(parts, fmt.Sprintf("chains to %s with %d intermediate(s)", trustedName, n))
		}
	}
	if certs.AllowsUsage(leaf, x509.ExtKeyUsageServerAuth) {
		parts = append(parts, "server auth")
	} else {
		c.refuse(field, "a server certificate whose extended key usage allows server auth", what+" with extended key usages that exclude it",
			Nginx502+" (\"unsuitable certificate purpose\")", "re-issue it with usages [server auth] (cert-manager: spec.usages)")
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
		c.refuse(field, "a client certificate valid now", certs.Subject(leaf)+" "+problem, AigwRefuses, "renew the client certificate (cert-manager: cmctl renew)")
	} else if notice != "" {
		c.warn(field, "client certificate "+certs.Subject(leaf)+" "+notice, ExpiresSoon, "renew the client certificate")
	}
	if roots != nil {
		if n := certs.Intermediates(leaf, chain[1:], roots); n < 0 {
			c.refuse(field, fmt.Sprintf("a client certificate that chains to the CA aigw trusts (%s, %s)", rootsName, certs.Subject(roots[0])),
				fmt.Sprintf("%s issued by %s", certs.Subject(leaf), certs.IssuerName(leaf)), AigwRefuses,
				fmt.Sprintf("issue the client certificate from the CA in %s (cert-manager: the aigw CA Issuer)", rootsName))
		} else {
			parts = append(parts, fmt.Sprintf("chains to %s with %d intermediate(s)", rootsName, n))
		}
	}
	if !certs.AllowsUsage(leaf, x509.ExtKeyUsageClientAuth) {
		c.refuse(field, "a client certificate whose extended key usage allows client auth", certs.Subject(leaf)+" with extended key usages that exclude it",
			AigwRefuses, "re-issue it with usages [client auth] (cert-manager: spec.usages)")
	} else {
		parts = append(parts, "client auth")
	}
	return c.out, strings.Join(append(parts, certs.DaysLeft(leaf, now)), ", ")
}
