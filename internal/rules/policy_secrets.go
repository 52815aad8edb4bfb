package rules

import (
	"crypto/x509"
	"fmt"
	"time"

	"github.com/aigw-mtls/aigw-mtls-webhook/internal/aigw"
	"github.com/aigw-mtls/aigw-mtls-webhook/internal/objects"
)

// The Secrets an egressMTLS Policy names, as NIC reads them: internal/configs/policy.go
// addEgressMTLSConfig answers 500 on every route that references the Policy when a named Secret
// is missing, of the wrong type, or invalid (internal/k8s/secrets/validation.go). A missing Secret
// is only a warning here: GitOps tools apply objects in any order.

// checkTrustedCertSecret returns the CA certificates nginx will trust for the server. NIC checks
// the type whatever verifyServer is.
func checkTrustedCertSecret(c *collector, objs objects.Objects, namespace string, e *egressMTLS, now time.Time) []*x509.Certificate {
	field := "spec.egressMTLS.trustedCertSecret"
	name := e.TrustedCertSecret
	if name == "" || len(dns1123Subdomain(name)) > 0 {
		return nil
	}
	sec, found, err := lookupSecret(objs, namespace, name)
	ref := fmt.Sprintf("Secret %s/%s", namespace, name)
	switch {
	case notCheckable(c, field, ref, err):
		return nil
	case err != nil:
		c.add(PolicySecretUnreadable, Finding{Field: field, Expected: "a readable Secret", Found: err.Error()})
		return nil
	case !found:
		c.add(PolicySecretNotFound, Finding{Field: field, Found: ref + " not found yet", Fix: "let the CA sync create it, or apply it"})
		return nil
	case sec.Type != "nginx.org/ca":
		c.add(PolicyTrustedCertSecretType, Finding{Field: field, Expected: ref + " of type nginx.org/ca (addEgressMTLSConfig accepts no other type)",
			Found: "type " + sec.Type,
			Fix:   "point trustedCertSecret at the nginx.org/ca Secret the CA sync maintains (internal-ca), or recreate the Secret with type nginx.org/ca and key ca.crt"})
		return nil
	}
	if _, ok := sec.Data["ca.crt"]; !ok {
		c.add(PolicyTrustedCertSecretNoCA, Finding{Field: field, Expected: ref + " with key ca.crt (ValidateCASecret)", Found: "no key ca.crt"})
		return nil
	}
	trusted, fs, _ := CABundle(c.obj, field, sec.memo("ca.crt"), sec.Data["ca.crt"], now)
	c.out = append(c.out, fs...)
	if !e.VerifyServer {
		return nil
	}
	return trusted
}

const clientChainFix = "keep only the leaf and its intermediates in tls.crt (cert-manager writes exactly these)"

// checkClientSecret judges the tlsSecret. Stricter than NIC, which renders no client certificate
// without one: aigw requires one.
func checkClientSecret(c *collector, objs objects.Objects, namespace, name string, s aigw.Settings, now time.Time) []*x509.Certificate {
	field := "spec.egressMTLS.tlsSecret"
	if name == "" {
		c.add(PolicyTLSSecretMissing, Finding{Field: field, Expected: "the NIC client certificate Secret (kubernetes.io/tls) aigw requires for mTLS",
			Found: "none", Fix: "set tlsSecret: " + s.ClientTLSSecret})
		return nil
	}
	if len(dns1123Subdomain(name)) > 0 {
		return nil
	}
	return checkClientCertSecret(c, field, objs, namespace, name, s, now, clientSecretRules{
		unreadable: PolicySecretUnreadable, notFound: PolicySecretNotFound, typ: PolicyTLSSecretType, noCert: PolicyTLSSecretNoCertificate, keyMismatch: PolicyTLSSecretKeyMismatch,
		notFoundFix: "issue NIC's client Certificate (cert-manager: spec.secretName %s)",
		typeWhy:     " (addEgressMTLSConfig accepts no other type)",
		// internal/k8s/secrets/validation.go ValidateTLSSecret: tls.X509KeyPair must succeed.
		validator: "ValidateTLSSecret",
	})
}

func checkServerChain(c *collector, e *egressMTLS, server serverCert, trusted []*x509.Certificate, now time.Time) {
	depth := nicInt(e.VerifyDepth, nicDefaultVerifyDepth)
	fs, _ := ServerCertificate(c.obj, "spec.egressMTLS (aigw server certificate)", append([]*x509.Certificate{server.leaf}, server.pool...), server.source,
		trusted, "trustedCertSecret "+e.TrustedCertSecret, depth, now)
	c.out = append(c.out, fs...)
}

// notCheckable reports a Secret that cannot be read (withheld from the requesting user, or not
// watched by the webhook) as a warning that says only that: nothing about the Secret itself.
func notCheckable(c *collector, field, ref string, err error) bool {
	u := objects.AsUnavailable(err)
	if u == nil {
		return false
	}
	c.add(ObjectNotCheckable, Finding{Field: field, Found: ref + " cannot be checked: " + u.Reason})
	return true
}
