package rules

import (
	"crypto/x509"
	"time"

	"github.com/aigw-mtls/aigw-mtls-webhook/internal/aigw"
)

// Egress is what a Policy's spec.egressMTLS makes nginx do in the TLS handshake with aigw
// (NIC v5.5.4 internal/configs/policy.go addEgressMTLSConfig, rendered by
// internal/configs/version2/nginx-plus.virtualserver.tmpl as proxy_ssl_*).
type Egress struct {
	Name, Namespace              string
	Selected                     bool   // the Policy carries the selector label
	ServerTLSSecret              string // the aigw server TLS Secret in the Policy's namespace
	TLSSecret, TrustedCertSecret string
	VerifyServer                 bool
	Depth                        int    // proxy_ssl_verify_depth (NIC's default 1)
	Protocols                    string // proxy_ssl_protocols (NIC's default "TLSv1 TLSv1.1 TLSv1.2")
	SSLName                      string // proxy_ssl_name; "" when unset ($proxy_host)
	ServerName                   bool   // proxy_ssl_server_name: nginx sends SNI = proxy_ssl_name
}

// PolicyEgress decodes the egressMTLS of a Policy in namespace (when its metadata names none);
// nil when it has none.
func PolicyEgress(raw []byte, namespace string, s aigw.Settings) (*Egress, error) {
	p, err := decodePolicy(raw)
	if err != nil || p.egress == nil {
		return nil, err
	}
	e := p.egress
	out := &Egress{Name: p.Metadata.Name, Namespace: p.Metadata.In(namespace), Selected: s.Selected(p.Metadata.Labels), ServerTLSSecret: p.serverSecret(s),
		TLSSecret: e.TLSSecret, TrustedCertSecret: e.TrustedCertSecret, VerifyServer: e.VerifyServer,
		Depth: nicDefaultVerifyDepth, Protocols: e.Protocols, SSLName: e.SSLName, ServerName: e.ServerName}
	if e.VerifyDepth != nil {
		out.Depth = *e.VerifyDepth
	}
	if out.Protocols == "" {
		out.Protocols = "TLSv1 TLSv1.1 TLSv1.2"
	}
	return out, nil
}

// ServedCertificate judges the chain an aigw endpoint serves as nginx's OpenSSL verifies it with
// the Policy: chain to trusted within depth, server auth, expiry (ServerCertificate) and the host
// check on sslName (empty: not checked). source names the endpoint.
func ServedCertificate(obj, field string, chain []*x509.Certificate, source string, trusted []*x509.Certificate, trustedName string, depth int, sslName string, now time.Time) (Findings, string) {
	fs, summary := ServerCertificate(obj, field, chain, source, trusted, trustedName, depth, now)
	if sslName != "" {
		c := &collector{obj: obj}
		checkServerName(c, field, "sslName", sslName, serverCert{leaf: chain[0], pool: chain[1:], issued: true, source: source}, PolicySSLNameNotInSAN)
		fs = append(fs, c.out...)
	}
	return fs, summary
}
