// Package nicconf renders what NGINX Ingress Controller (NIC) renders for an egressMTLS Policy:
// the proxy_ssl_* directives of the VirtualServer template, the files NIC writes for the Secrets
// the Policy names, and the upstream name a VirtualServer's upstream gets.
//
// It follows NIC (github.com/nginx/kubernetes-ingress, internal/configs/policy.go
// addEgressMTLSConfig and internal/configs/version2/nginx.virtualserver.tmpl):
//
//	Certificate/CertificateKey: the tlsSecret file (tls.crt, "\n", tls.key), both directives
//	Ciphers:      generateString(ciphers, "DEFAULT")
//	Protocols:    generateString(protocols, "TLSv1 TLSv1.1 TLSv1.2")
//	VerifyServer: verifyServer
//	VerifyDepth:  generateIntFromPointer(verifyDepth, 1)
//	SessionReuse: generateBool(sessionReuse, true)
//	ServerName:   serverName
//	TrustedCert:  the trustedCertSecret's ca.crt file
//	SSLName:      generateString(sslName, "$proxy_host")
//
// and the template:
//
//	proxy_ssl_certificate ...; proxy_ssl_certificate_key ...;   (only with tlsSecret)
//	proxy_ssl_trusted_certificate ...;                           (only with trustedCertSecret)
//	proxy_ssl_verify on|off; proxy_ssl_verify_depth N; proxy_ssl_protocols P; proxy_ssl_ciphers C;
//	proxy_ssl_session_reuse on|off; proxy_ssl_server_name on|off; proxy_ssl_name NAME;
package nicconf

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
)

// NIC's defaults for the fields a Policy leaves out.
const (
	DefaultVerifyDepth = 1
	DefaultProtocols   = "TLSv1 TLSv1.1 TLSv1.2"
	DefaultCiphers     = "DEFAULT"
	DefaultSSLName     = "$proxy_host"
)

// EgressMTLS is spec.egressMTLS of a k8s.nginx.org/v1 Policy (the fields NIC v5 declares).
type EgressMTLS struct {
	TLSSecret         string `json:"tlsSecret,omitempty"`
	TrustedCertSecret string `json:"trustedCertSecret,omitempty"`
	VerifyServer      bool   `json:"verifyServer,omitempty"`
	VerifyDepth       *int   `json:"verifyDepth,omitempty"`
	Protocols         string `json:"protocols,omitempty"`
	Ciphers           string `json:"ciphers,omitempty"`
	SessionReuse      *bool  `json:"sessionReuse,omitempty"`
	ServerName        bool   `json:"serverName,omitempty"`
	SSLName           string `json:"sslName,omitempty"`
}

// Int and Bool make the pointers of optional fields.
func Int(v int) *int    { return &v }
func Bool(v bool) *bool { return &v }

// TLSSecretFile is where NIC writes a kubernetes.io/tls Secret (<namespace>-<name> in its secrets
// directory) and TLSSecretContent what it writes there: tls.crt, a newline, tls.key.
func TLSSecretFile(dir, namespace, name string) string {
	return filepath.Join(dir, namespace+"-"+name)
}

func TLSSecretContent(tlsCrt, tlsKey []byte) []byte {
	out := append([]byte{}, tlsCrt...)
	out = append(out, '\n')
	return append(out, tlsKey...)
}

// CASecretFile is where NIC writes the ca.crt of an nginx.org/ca Secret.
func CASecretFile(dir, namespace, name string) string {
	return filepath.Join(dir, namespace+"-"+name+"-ca.crt")
}

// UpstreamName is NIC's name for upstream of VirtualServer namespace/vs: vs_<ns>_<vs>_<upstream>.
func UpstreamName(namespace, virtualServer, upstream string) string {
	return fmt.Sprintf("vs_%s_%s_%s", namespace, virtualServer, upstream)
}

// Directives returns the directives (without the trailing ';') NIC renders for e, given the files
// it wrote for the tlsSecret and the trustedCertSecret.
func Directives(e EgressMTLS, tlsSecretFile, trustedCertFile string) []string {
	var d []string
	if e.TLSSecret != "" {
		d = append(d,
			"proxy_ssl_certificate "+tlsSecretFile,
			"proxy_ssl_certificate_key "+tlsSecretFile)
	}
	if e.TrustedCertSecret != "" {
		d = append(d, "proxy_ssl_trusted_certificate "+trustedCertFile)
	}
	depth := DefaultVerifyDepth
	if e.VerifyDepth != nil {
		depth = *e.VerifyDepth
	}
	reuse := true
	if e.SessionReuse != nil {
		reuse = *e.SessionReuse
	}
	return append(d,
		"proxy_ssl_verify "+onOff(e.VerifyServer),
		fmt.Sprintf("proxy_ssl_verify_depth %d", depth),
		"proxy_ssl_protocols "+orDefault(e.Protocols, DefaultProtocols),
		"proxy_ssl_ciphers "+orDefault(e.Ciphers, DefaultCiphers),
		"proxy_ssl_session_reuse "+onOff(reuse),
		"proxy_ssl_server_name "+onOff(e.ServerName),
		"proxy_ssl_name "+orDefault(e.SSLName, DefaultSSLName),
	)
}

// Block renders directives as lines of an nginx block, each indented by indent and ended by ';'.
func Block(directives []string, indent string) string {
	var b strings.Builder
	for _, d := range directives {
		b.WriteString(indent + d + ";\n")
	}
	return b.String()
}

// PolicyJSON is the k8s.nginx.org/v1 Policy namespace/name with labels and spec.egressMTLS e.
func PolicyJSON(namespace, name string, labels map[string]string, e EgressMTLS) []byte {
	obj := map[string]any{
		"apiVersion": "k8s.nginx.org/v1",
		"kind":       "Policy",
		"metadata":   map[string]any{"name": name, "namespace": namespace, "labels": labels},
		"spec":       map[string]any{"egressMTLS": e},
	}
	raw, err := json.Marshal(obj)
	if err != nil {
		panic(err)
	}
	return raw
}

// generateString in NIC: the value, or the default when empty.
func orDefault(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}
