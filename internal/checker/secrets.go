package checker

import (
	"crypto/x509"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/aigw-mtls/aigw-mtls-webhook/internal/aigw"
	"github.com/aigw-mtls/aigw-mtls-webhook/internal/certs"
	"github.com/aigw-mtls/aigw-mtls-webhook/internal/rules"
)

// secretSpec is one of the three Secrets the wiring needs in a namespace.
type secretSpec struct {
	name, what, typ string
	keys            []string
	missingFix      string
	typeFix         string
}

func secretSpecs(s aigw.Settings, source string) []secretSpec {
	caFix := fmt.Sprintf("kubectl create secret generic %s --type=nginx.org/ca --from-file=%s=ca.pem", s.CASecret, s.CAKey)
	if source != "" {
		caFix = fmt.Sprintf("issue cert-manager's CA into Secret %s so the CA sync writes %s, or %s", source, s.CASecret, caFix)
	}
	return []secretSpec{
		{name: s.CASecret, what: "CA", typ: "nginx.org/ca", keys: []string{s.CAKey}, missingFix: caFix,
			typeFix: fmt.Sprintf("NIC accepts only type nginx.org/ca for trustedCertSecret: delete the Secret so the CA sync recreates it, or recreate it with --type=nginx.org/ca and key %s", s.CAKey)},
		{name: s.ServerTLSSecret, what: "aigw server TLS", typ: string(corev1.SecretTypeTLS), keys: []string{corev1.TLSCertKey, corev1.TLSPrivateKeyKey},
			missingFix: "issue the aigw server Certificate (cert-manager: spec.secretName " + s.ServerTLSSecret + ")",
			typeFix:    "re-issue it with cert-manager (which writes kubernetes.io/tls) or recreate it with kubectl create secret tls"},
		{name: s.ClientTLSSecret, what: "NIC client TLS", typ: string(corev1.SecretTypeTLS), keys: []string{corev1.TLSCertKey, corev1.TLSPrivateKeyKey},
			missingFix: "issue NIC's client Certificate (cert-manager: spec.secretName " + s.ClientTLSSecret + ")",
			typeFix:    "re-issue it with cert-manager (which writes kubernetes.io/tls) or recreate it with kubectl create secret tls"},
	}
}

// checkSecrets: the three Secrets exist with the right types and keys, and the nginx.org/ca
// Secret holds cert-manager's current CA.
func checkSecrets(s *snapshot, ns string) []Check {
	l := newLines(SectionSecrets, ns)
	for _, spec := range secretSpecs(s.o.Settings, s.o.CASyncSource) {
		obj := ref("Secret", ns, spec.name)
		sec := s.secret(ns, spec.name)
		if sec == nil {
			l.fail(obj, fmt.Sprintf("the %s Secret does not exist", spec.what), spec.missingFix)
			continue
		}
		typ := string(sec.Type)
		if typ == "" {
			typ = string(corev1.SecretTypeOpaque)
		}
		problems := 0
		if typ != spec.typ {
			l.fail(obj, fmt.Sprintf("type %s, expected %s", typ, spec.typ), spec.typeFix)
			problems++
		}
		for _, k := range spec.keys {
			if len(sec.Data[k]) == 0 {
				l.fail(obj, fmt.Sprintf("no data under key %s (the %s Secret needs %s)", k, spec.what, strings.Join(spec.keys, " and ")), spec.missingFix)
				problems++
			}
		}
		if problems == 0 {
			l.ok(obj, fmt.Sprintf("type %s with %s", typ, strings.Join(spec.keys, " and ")))
		}
	}
	checkCAMatchesSource(s, l, ns)
	return l.out
}

// checkCAMatchesSource: the nginx.org/ca Secret holds the CA cert-manager issued into the CA
// sync's source Secret (so NIC trusts what the aigw server certificate is signed with today).
func checkCAMatchesSource(s *snapshot, l *lines, ns string) {
	set := s.o.Settings
	if s.o.CASyncSource == "" {
		return
	}
	bundle := s.caCertificates(ns)
	if bundle == nil {
		return // reported above
	}
	obj := ref("Secret", ns, set.CASecret)
	src := s.secret(ns, s.o.CASyncSource)
	if src == nil {
		l.warn(obj, fmt.Sprintf("cannot compare with cert-manager's CA: Secret %s/%s not found", ns, s.o.CASyncSource),
			"pass --ca-sync-source-secret with the name of cert-manager's CA Secret (empty to skip this check)")
		return
	}
	pem := src.Data[corev1.TLSCertKey]
	if len(pem) == 0 {
		pem = src.Data["ca.crt"]
	}
	missing, err := certs.MissingCAs(bundle, pem)
	switch {
	case err != nil:
		l.fail(ref("Secret", ns, s.o.CASyncSource), "cert-manager's CA Secret: tls.crt: "+err.Error(), "re-issue the CA Certificate")
	case len(missing) > 0:
		var held []string
		for _, c := range bundle {
			held = append(held, certs.Subject(c))
		}
		fix := fmt.Sprintf("delete Secret %s so the CA sync recreates it from %s, or annotate it %s=%s so the CA sync manages it",
			set.CASecret, s.o.CASyncSource, annotationCASyncSource, s.o.CASyncSource)
		if sec := s.secret(ns, set.CASecret); sec.Annotations[annotationCASyncSource] == s.o.CASyncSource {
			fix = "the CA sync has not caught up: check that the webhook runs with --ca-sync-source-secret=" + s.o.CASyncSource + " and its events (reason CASynced)"
		}
		l.fail(obj, fmt.Sprintf("does not hold cert-manager's current CA %s (Secret %s): it holds %s, so NIC does not trust certificates from the current CA",
			certs.Subject(missing[0]), s.o.CASyncSource, strings.Join(held, ", ")), fix)
	default:
		l.ok(obj, fmt.Sprintf("holds cert-manager's CA from Secret %s", s.o.CASyncSource))
	}
}

// annotationCASyncSource marks the nginx.org/ca Secrets the webhook's CA sync owns.
const annotationCASyncSource = "mtls.aigw.io/ca-sync-source"

// caCertificates are the CA certificates of the nginx.org/ca Secret of ns, or nil when that Secret
// is missing, of another type or unreadable (reported by checkSecrets and checkCertificates).
func (s *snapshot) caCertificates(ns string) []*x509.Certificate {
	set := s.o.Settings
	sec := s.secret(ns, set.CASecret)
	if sec == nil || sec.Type != "nginx.org/ca" {
		return nil
	}
	certs, err := secretCertificates(sec, set.CAKey)
	if err != nil {
		return nil
	}
	return certs
}

// checkCertificates: the CA is valid; the server certificate chains to it as nginx's OpenSSL
// counts, allows server auth and is valid; the client certificate chains to the CA aigw trusts
// (the same Secret, mounted into aigw), allows client auth and is valid.
func checkCertificates(s *snapshot, ns string) []Check {
	l := newLines(SectionCertificates, ns)
	set := s.o.Settings
	var trusted []*x509.Certificate
	if sec := s.secret(ns, set.CASecret); sec != nil && len(sec.Data[set.CAKey]) > 0 {
		obj := ref("Secret", ns, set.CASecret)
		var fs rules.Findings
		var summary string
		trusted, fs, summary = rules.CABundle(obj, "data."+set.CAKey, "", sec.Data[set.CAKey], s.o.Now)
		l.findings(obj, "", summary, fs)
		if sec.Type != "nginx.org/ca" {
			trusted = nil // NIC does not load it; reported under Secrets
		}
	}
	if trusted == nil {
		l.warn(ref("Secret", ns, set.CASecret), fmt.Sprintf("the chains of %s and %s are not checked: no usable nginx.org/ca Secret %s (see Secrets)",
			set.ServerTLSSecret, set.ClientTLSSecret, set.CASecret), "fix Secret "+set.CASecret+" as reported under Secrets")
	}
	for _, name := range []string{set.ServerTLSSecret, set.ClientTLSSecret} {
		sec := s.secret(ns, name)
		if sec == nil || len(sec.Data[corev1.TLSCertKey]) == 0 {
			continue // reported under Secrets
		}
		obj := ref("Secret", ns, name)
		chain, err := secretCertificates(sec, corev1.TLSCertKey)
		if err != nil {
			l.fail(obj, "data.tls.crt: "+err.Error(), "re-issue the certificate (cert-manager: cmctl renew)")
			continue
		}
		var fs rules.Findings
		var summary string
		if name == set.ServerTLSSecret {
			// The depth is judged per Policy (under Policies): here only the chain itself.
			fs, summary = rules.ServerCertificate(obj, "data.tls.crt", chain, "Secret "+ns+"/"+name, trusted, set.CASecret, -1, s.o.Now)
		} else {
			fs, summary = rules.ClientCertificate(obj, "data.tls.crt", chain, trusted, set.CASecret, s.o.Now)
		}
		l.findings(obj, "", summary, fs)
	}
	return l.out
}

// secretCertificates parses the certificates under key of sec once per resourceVersion, in the
// cache the rules read the same Secret's certificates through.
func secretCertificates(sec *corev1.Secret, key string) ([]*x509.Certificate, error) {
	return certs.ParseCached(rules.SecretMemo(sec.Namespace, sec.Name, key, sec.ResourceVersion), sec.Data[key])
}
