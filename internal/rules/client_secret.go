package rules

import (
	"crypto/x509"
	"fmt"
	"time"

	"github.com/aigw-mtls/aigw-mtls-webhook/internal/aigw"
	"github.com/aigw-mtls/aigw-mtls-webhook/internal/objects"
)

// clientSecretRules are the rules and words one side of the hop judges its client certificate
// Secret with: an egressMTLS Policy's tlsSecret (NIC) or a Gateway's clientCertificateRef (NGF).
type clientSecretRules struct {
	unreadable, notFound, typ, noCert, keyMismatch Def
	unreadableFix, notFoundFix, noCertFix          string
	typeWhy                                        string // why only kubernetes.io/tls, after the expectation
	validator                                      string // the controller function that pairs tls.crt and tls.key
	chainFix                                       string // what to do when the CA Secret aigw trusts is missing
	refused                                        string // the consequence of the errors ClientCertificate reports ("": its own)
}

// checkClientCertSecret judges the client certificate Secret namespace/name as the controller
// resolves it (kubernetes.io/tls, a PEM certificate under tls.crt, its key under tls.key) and as
// aigw verifies it (ClientCertificate, against the CA Secret aigw trusts). It returns the chain.
func checkClientCertSecret(c *collector, field string, objs objects.Objects, namespace, name string, s aigw.Settings, now time.Time, r clientSecretRules) []*x509.Certificate {
	ref := fmt.Sprintf("Secret %s/%s", namespace, name)
	sec, found, err := lookupSecret(objs, namespace, name)
	switch {
	case notCheckable(c, field, ref, err):
		return nil
	case err != nil:
		c.add(r.unreadable, Finding{Field: field, Expected: "a readable Secret", Found: err.Error(), Fix: r.unreadableFix})
		return nil
	case !found:
		c.add(r.notFound, Finding{Field: field, Found: ref + " not found yet", Fix: fmt.Sprintf(r.notFoundFix, name)})
		return nil
	case sec.Type != "kubernetes.io/tls":
		c.add(r.typ, Finding{Field: field, Expected: ref + " of type kubernetes.io/tls" + r.typeWhy, Found: "type " + sec.Type,
			Fix: "issue the client certificate with cert-manager (it writes kubernetes.io/tls) or recreate the Secret with kubectl create secret tls"})
		return nil
	}
	chain, err := sec.certificates("tls.crt")
	if tooLarge(c, field, ref+" tls.crt", err, clientChainFix) {
		return nil
	}
	if err != nil {
		c.add(r.noCert, Finding{Field: field, Expected: ref + " with a PEM certificate under tls.crt (" + r.validator + ")", Found: err.Error(), Fix: r.noCertFix})
		return nil
	}
	if why := sec.keyMismatch(); why != "" {
		c.add(r.keyMismatch, Finding{Field: field, Expected: ref + " whose tls.key is the private key of tls.crt (" + r.validator + ")", Found: why,
			Fix: "re-issue the client certificate (cert-manager writes both keys together), or put the matching key in tls.key"})
	}
	roots, rootsName := aigwRoots(c, field, objs, namespace, s, r.chainFix)
	fs, _ := ClientCertificate(c.obj, field, chain, roots, rootsName, now)
	for _, f := range fs {
		if f.Severity == Error && r.refused != "" {
			f.Consequence = r.refused // every error ClientCertificate reports is one aigw refuses the certificate for
		}
		c.out = append(c.out, f)
	}
	return chain
}

// aigwRoots reads the CA Secret aigw verifies client certificates with. A Secret that cannot be
// read, is withheld or is missing leaves the chain unchecked, and the warning says which.
func aigwRoots(c *collector, field string, objs objects.Objects, namespace string, s aigw.Settings, missingFix string) ([]*x509.Certificate, string) {
	if missingFix != "" {
		missingFix = fmt.Sprintf(missingFix, s.CASecret)
	}
	name := fmt.Sprintf("Secret %s/%s", namespace, s.CASecret)
	ca, found, err := lookupSecret(objs, namespace, s.CASecret)
	switch {
	case objects.AsUnavailable(err) != nil:
		c.add(ClientChainNotChecked, Finding{Field: field, Found: fmt.Sprintf("cannot check the client certificate's chain: %s: %s", name, objects.AsUnavailable(err).Reason)})
	case err != nil:
		c.add(ClientChainNotChecked, Finding{Field: field, Found: fmt.Sprintf("cannot check the client certificate's chain: %s: %v", name, err),
			Fix: "recreate " + name + " (the CA sync writes it)"})
	case !found:
		c.add(ClientChainNotChecked, Finding{Field: field, Found: fmt.Sprintf("cannot check the client certificate's chain yet: the CA Secret aigw trusts (%s) is not found", name), Fix: missingFix})
	default:
		roots, err := ca.certificates(s.CAKey)
		if err != nil {
			c.add(ClientChainNotChecked, Finding{Field: field, Found: fmt.Sprintf("cannot check the client certificate's chain: %s: %v", name, err)})
		}
		return roots, name
	}
	return nil, name
}
