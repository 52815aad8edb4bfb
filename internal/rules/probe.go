package rules

import (
	"crypto/x509"
	"time"

	"github.com/aigw-mtls/aigw-mtls-webhook/internal/aigw"
	"github.com/aigw-mtls/aigw-mtls-webhook/internal/objects"
)

// Egress is what a Policy's spec.egressMTLS makes nginx do in the TLS handshake with aigw
// (NIC v5.5.4 internal/configs/policy.go addEgressMTLSConfig, rendered by
// internal/configs/version2/nginx.virtualserver.tmpl and nginx-plus.virtualserver.tmpl as
// proxy_ssl_*).
type Egress struct {
	Name, Namespace              string
	Selected                     bool   // the Policy carries the selector label
	ServerTLSSecret              string // the aigw server TLS Secret in the Policy's namespace
	TLSSecret, TrustedCertSecret string
	VerifyServer                 bool
	Depth                        int    // proxy_ssl_verify_depth (NIC's default 1)
	Protocols                    string // proxy_ssl_protocols (NIC's default "TLSv1 TLSv1.1 TLSv1.2")
	SSLName                      string // spec.egressMTLS.sslName; "" when unset (proxy_ssl_name NICDefaultSSLName)
	ServerName                   bool   // proxy_ssl_server_name: nginx sends SNI = proxy_ssl_name; none when off, nginx's default
}

// NICDefaultSSLName is the proxy_ssl_name NIC renders for an egressMTLS Policy without sslName:
// nginx's variable holding the upstream's name, NIC's internal upstream name (NIC v5.5.4
// internal/configs/policy.go addEgressMTLSConfig: generateString(egressMTLS.SSLName,
// "$proxy_host")).
const NICDefaultSSLName = "$proxy_host"

// SNIIsUpstreamName reports whether nginx sends NIC's internal upstream name as SNI: serverName
// on (proxy_ssl_server_name on) without sslName, so proxy_ssl_name is NICDefaultSSLName.
func (e *Egress) SNIIsUpstreamName() bool { return e.ServerName && e.SSLName == "" }

// ServedCertificate judges the chain an aigw endpoint serves as nginx's OpenSSL verifies it: chain
// to trusted within depth, server auth, expiry (ServerCertificate) and the host check on host
// (empty: not checked), a Policy's sslName (kind Policy) or a BackendTLSPolicy's hostname.
// source names the endpoint.
func ServedCertificate(obj, kind, field string, chain []*x509.Certificate, source string, trusted []*x509.Certificate, trustedName string, depth int, host string, now time.Time) (Findings, string) {
	deep := nicVerifyDepth(depth)
	if kind == "BackendTLSPolicy" {
		deep = ngfDepth(field)
	}
	fs, summary := serverCertificate(obj, field, chain, source, trusted, trustedName, deep, now)
	if host != "" {
		c := &collector{obj: obj}
		key, rule := "sslName", PolicySSLNameNotInSAN
		if kind == "BackendTLSPolicy" {
			key, rule = "hostname", BTPHostnameNotInSAN
		}
		checkServerName(c, field, key, host, serverCert{leaf: chain[0], pool: chain[1:], issued: true, source: source}, rule)
		fs = append(fs, c.out...)
	}
	return fs, summary
}

// BackendTLS is what a BackendTLSPolicy makes NGINX Gateway Fabric do in the TLS handshake with
// aigw (the ProxySSLVerify block this file's package comment on backendtlspolicy.go quotes): SNI
// and proxy_ssl_name validation.hostname, proxy_ssl_verify_depth 4, the CA of caCertificateRefs,
// nginx's default protocols (TLSv1.2 TLSv1.3).
type BackendTLS struct {
	Name, Namespace string
	Selected        bool
	Hostname        string              // "" when NGF refuses it
	Trusted         []*x509.Certificate // the CA NGF resolves; nil when it cannot
	TrustedName     string
	Depth           int
	ServerTLSSecret string
	Services        []BTPService // the Service targets
}

// BTPService is a Service a BackendTLSPolicy targets; Port names the Service port (sectionName),
// "" for all of them.
type BTPService struct{ Name, Port string }

// BackendTLSOf decodes a BackendTLSPolicy in namespace (when its metadata names none) as NGF
// applies it, resolving its CA from objs as the BackendTLSPolicy rule does (checkBTPCA); nil
// with an error when it cannot be decoded.
func BackendTLSOf(raw []byte, namespace string, s aigw.Settings, objs objects.Objects, now time.Time) (*BackendTLS, error) {
	var p backendTLSPolicy
	if err := objects.Decode(raw, &p); err != nil {
		return nil, err
	}
	namespace = p.Metadata.In(namespace)
	out := &BackendTLS{Name: p.Metadata.Name, Namespace: namespace, Selected: s.Selected(p.Metadata.Labels), Depth: ngfVerifyDepth,
		ServerTLSSecret: s.ServerTLSSecret}
	if a := p.Metadata.Annotations[aigw.AnnotationServerTLSSecret]; a != "" {
		out.ServerTLSSecret = a
	}
	if ngfHostname(p.Spec.Validation.Hostname) == "" {
		out.Hostname = p.Spec.Validation.Hostname
	}
	out.Trusted = checkBTPCA(&collector{}, p.Spec.Validation, objs, namespace, s, now)
	if refs := p.Spec.Validation.CACertificateRefs; len(refs) > 0 {
		out.TrustedName = "caCertificateRefs " + refs[0].Kind + " " + refs[0].Name
	}
	for _, t := range p.Spec.TargetRefs {
		if !t.IsService() {
			continue
		}
		port := ""
		if t.SectionName != nil {
			port = *t.SectionName
		}
		out.Services = append(out.Services, BTPService{t.Name, port})
	}
	return out, nil
}
