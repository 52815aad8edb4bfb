package probe

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/aigw-mtls/aigw-mtls-webhook/internal/certs"
	"github.com/aigw-mtls/aigw-mtls-webhook/internal/rules"
)

// judge turns what one handshake showed into findings about the target's Policy.
func judge(t *Target, endpoint string, ob observation, now time.Time) Result {
	r := Result{Target: t, Endpoint: endpoint}
	field := "endpoint " + endpoint + " of " + t.Service
	add := func(d rules.Def, f rules.Finding) {
		f.Object, f.Field = t.Policy, field
		r.Findings = append(r.Findings, d.New(f))
	}
	switch {
	case ob.dialErr != nil:
		add(rules.ProbeUnreachable, rules.Finding{Expected: "a TCP connection within the dial timeout", Found: ob.dialErr.Error()})
		return r
	case ob.parseErr != nil:
		add(rules.ProbeHandshakeFailed, rules.Finding{Expected: "an X.509 certificate served", Found: "a served certificate that does not parse: " + ob.parseErr.Error()})
		return r
	case len(ob.chain) == 0 && ob.tlsErr != nil && notTLS(ob.tlsErr):
		add(rules.ProbeNotTLS, rules.Finding{Expected: "a TLS server", Found: "an answer that is not TLS (a plain HTTP listener?): " + ob.tlsErr.Error()})
		return r
	case len(ob.chain) == 0 && ob.tlsErr != nil:
		add(rules.ProbeHandshakeFailed, rules.Finding{Expected: fmt.Sprintf("a TLS handshake with %s", t.offer()), Found: ob.tlsErr.Error()})
		return r
	case len(ob.chain) == 0:
		add(rules.ProbeHandshakeFailed, rules.Finding{Expected: "a server certificate", Found: "none served"})
		return r
	}
	r.Served = ob.chain[0]
	source := "the certificate served at " + endpoint
	fs, summary := rules.ServedCertificate(t.Policy, t.Kind, field, ob.chain, source, t.Trusted, t.TrustedName, t.Depth, t.SSLName, now)
	r.Findings = append(r.Findings, fs...)
	if f, ok := stale(t, ob.chain[0], now); ok {
		add(rules.ProbeStaleServerCert, f)
	}
	requested := "asks for a client certificate"
	switch {
	case !ob.requested:
		add(rules.ProbeNoClientCertRequest, rules.Finding{Expected: "a CertificateRequest for NIC's client certificate", Found: "a handshake without one: aigw does not require client certificates"})
	case len(ob.acceptable) > 0 && len(t.Client) > 0 && !accepts(ob.acceptable, t.Client):
		add(rules.ProbeClientCANotAccepted, rules.Finding{
			Expected: fmt.Sprintf("the issuer of NIC's client certificate (%s, %s) among the CAs aigw accepts", t.ClientName, certs.IssuerName(t.Client[0])),
			Found:    "only " + names(ob.acceptable) + ": aigw will refuse NIC's client certificate"})
	case len(ob.acceptable) > 0:
		requested += " from " + names(ob.acceptable)
	}
	r.Summary = fmt.Sprintf("serves %s; %s", summary, requested)
	return r
}

// stale: the served leaf is not the aigw server TLS Secret's leaf.
func stale(t *Target, served *x509.Certificate, now time.Time) (rules.Finding, bool) {
	if len(t.Secret) == 0 || bytes.Equal(t.Secret[0].Raw, served.Raw) {
		return rules.Finding{}, false
	}
	secret := t.Secret[0]
	what := fmt.Sprintf("the certificate the Secret held before its renewal on %s", day(secret.NotBefore))
	if served.NotAfter.Before(now) {
		what = fmt.Sprintf("the certificate that expired on %s (the Secret was renewed on %s)", day(served.NotAfter), day(secret.NotBefore))
	}
	if secret.NotBefore.Before(served.NotBefore) {
		what = fmt.Sprintf("a certificate issued on %s, newer than the Secret's", day(served.NotBefore))
	}
	return rules.Finding{
		Expected: fmt.Sprintf("the certificate of Secret %s (%s, serial %s, issued %s)", t.SecretName, certs.Subject(secret), secret.SerialNumber, day(secret.NotBefore)),
		Found: fmt.Sprintf("%s, serial %s, valid until %s: aigw serves %s; it has not reloaded",
			certs.Subject(served), served.SerialNumber, day(served.NotAfter), what),
	}, true
}

// accepts: aigw's acceptable CAs name an issuer in NIC's client chain.
func accepts(acceptable [][]byte, client []*x509.Certificate) bool {
	for _, c := range client {
		for _, ca := range acceptable {
			if bytes.Equal(c.RawIssuer, ca) {
				return true
			}
		}
	}
	return false
}

// names renders DER distinguished names.
func names(dns [][]byte) string {
	var out []string
	for _, der := range dns {
		var seq pkix.RDNSequence
		if rest, err := asn1.Unmarshal(der, &seq); err != nil || len(rest) > 0 {
			out = append(out, "(unparsable name)")
			continue
		}
		var n pkix.Name
		n.FillFromRDNSequence(&seq)
		out = append(out, n.String())
	}
	return "[" + strings.Join(out, "; ") + "]"
}

// offer describes what nginx offers in the handshake.
func (t *Target) offer() string {
	sni := "no SNI"
	if t.SNI != "" {
		sni = "SNI " + t.SNI
	}
	return fmt.Sprintf("%s, %s to %s", sni, versionName(t.MinVersion), versionName(t.MaxVersion))
}

func versionName(v uint16) string {
	if v == 0 {
		return "Go's default"
	}
	return tls.VersionName(v)
}

func day(t time.Time) string { return t.UTC().Format("2006-01-02") }

func itoa(n int32) string { return strconv.Itoa(int(n)) }

// Versions maps proxy_ssl_protocols to the lowest and highest TLS version nginx offers; ok false
// when none is a TLS version Go speaks (SSLv2, SSLv3 or unknown tokens only).
func Versions(protocols string) (lo, hi uint16, ok bool) {
	for _, tok := range strings.Fields(protocols) {
		var v uint16
		switch strings.ToLower(tok) {
		case "tlsv1":
			v = tls.VersionTLS10
		case "tlsv1.1":
			v = tls.VersionTLS11
		case "tlsv1.2":
			v = tls.VersionTLS12
		case "tlsv1.3":
			v = tls.VersionTLS13
		default:
			continue
		}
		if lo == 0 || v < lo {
			lo = v
		}
		hi = max(hi, v)
	}
	return lo, hi, lo != 0
}
