package patches

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/aigw-mtls/aigw-mtls-webhook/internal/aigw"
	"github.com/aigw-mtls/aigw-mtls-webhook/internal/objects"
)

// egressMTLSView is spec.egressMTLS of an NGINX Ingress Controller Policy.
type egressMTLSView struct {
	TLSSecret         string `json:"tlsSecret"`
	TrustedCertSecret string `json:"trustedCertSecret"`
	VerifyServer      bool   `json:"verifyServer"`
	VerifyDepth       *int   `json:"verifyDepth"`
	Protocols         string `json:"protocols"`
	SSLName           string `json:"sslName"`
}

type policyView struct {
	Metadata objectMeta `json:"metadata"`
	Spec     struct {
		EgressMTLS *egressMTLSView `json:"egressMTLS"`
	} `json:"spec"`
}

// nicDefaultVerifyDepth and nicDefaultProtocols are what NIC renders when the Policy leaves them out.
const (
	nicDefaultVerifyDepth = 1
	nicDefaultProtocols   = "TLSv1 TLSv1.1 TLSv1.2"
)

// findings collects the refusals and warnings about one object.
type findings struct {
	obj string
	res Result
}

func (f *findings) refuse(field, expected, found, fix string) {
	f.res.Conflicts = append(f.res.Conflicts, conflict(f.obj, field, expected, found, fix))
}

func (f *findings) warn(field, msg string) {
	f.res.Warnings = append(f.res.Warnings, fmt.Sprintf("%s: %s: %s", f.obj, field, msg))
}

// ValidatePolicy checks an egressMTLS Policy labelled with the selector against what nginx will
// meet at run time: the Secrets it names, the aigw server certificate and NIC's own rules.
// Conflicts are refusals, Warnings are allowed. Policies without egressMTLS are not checked.
func ValidatePolicy(raw []byte, namespace string, s aigw.Settings, objs objects.Objects, now time.Time) (Result, error) {
	var p policyView
	if err := json.Unmarshal(raw, &p); err != nil {
		return Result{}, fmt.Errorf("decoding Policy: %w", err)
	}
	if !s.Selected(p.Metadata.Labels) {
		return Result{}, nil
	}
	return validatePolicy(p, namespace, s, objs, now), nil
}

func validatePolicy(p policyView, namespace string, s aigw.Settings, objs objects.Objects, now time.Time) Result {
	e := p.Spec.EgressMTLS
	if e == nil {
		return Result{}
	}
	if p.Metadata.Namespace != "" {
		namespace = p.Metadata.Namespace
	}
	f := &findings{obj: p.Metadata.ref("Policy", namespace)}
	checkProtocols(f, e.Protocols)
	serverSecret := s.ServerTLSSecret
	if v := p.Metadata.Annotations[aigw.AnnotationServerTLSSecret]; v != "" {
		serverSecret = v
	}
	server := findServerCertificate(objs, namespace, serverSecret)
	if server.err != "" {
		f.refuse("spec.egressMTLS (aigw server certificate)", "a readable certificate in "+server.source, server.err, "re-issue the server certificate")
	}

	var trusted []*x509.Certificate
	if e.VerifyServer {
		trusted = checkTrustedCertSecret(f, objs, namespace, e.TrustedCertSecret, now)
		checkSSLName(f, e, server)
		if server.leaf != nil && server.issued {
			checkServerChain(f, e, server, trusted, now)
		}
	} else {
		f.warn("spec.egressMTLS.verifyServer", "false: nginx does not authenticate the aigw server (set verifyServer: true with sslName and trustedCertSecret)")
	}
	checkClientSecret(f, objs, namespace, e.TLSSecret, s, now)
	return f.res
}

func checkProtocols(f *findings, protocols string) {
	if strings.TrimSpace(protocols) == "" {
		f.warn("spec.egressMTLS.protocols", fmt.Sprintf("unset: NIC's default is %q, which offers TLS versions below 1.2; set protocols: TLSv1.3 (or \"TLSv1.2 TLSv1.3\")", nicDefaultProtocols))
		return
	}
	for _, tok := range strings.Fields(protocols) {
		if tok != "TLSv1.2" && tok != "TLSv1.3" {
			f.refuse("spec.egressMTLS.protocols", "only TLSv1.2 and TLSv1.3", fmt.Sprintf("%q in %q", tok, protocols), "set protocols: TLSv1.3 (or \"TLSv1.2 TLSv1.3\")")
		}
	}
}

// serverCert is the aigw server certificate as far as it is known: the issued Secret, or the
// names a cert-manager Certificate will issue.
type serverCert struct {
	leaf      *x509.Certificate
	pool      []*x509.Certificate // the rest of tls.crt: intermediates sent with the leaf
	issued    bool                // leaf comes from the Secret (else from a Certificate's spec)
	source    string
	namespace string
	err       string
}

func findServerCertificate(objs objects.Objects, namespace, secretName string) serverCert {
	sec, found, err := lookupSecret(objs, namespace, secretName)
	source := fmt.Sprintf("Secret %s/%s", namespace, secretName)
	if err != nil {
		return serverCert{source: source, err: err.Error()}
	}
	if found {
		certs, err := sec.certificates("tls.crt")
		if err != nil {
			return serverCert{source: source, err: err.Error()}
		}
		return serverCert{leaf: certs[0], pool: certs[1:], issued: true, source: source, namespace: namespace}
	}
	if c, ok := certificateForSecret(objs, namespace, secretName); ok {
		return serverCert{leaf: c.template(), source: fmt.Sprintf("Certificate %s/%s (spec, not issued yet)", namespace, c.Metadata.Name)}
	}
	return serverCert{source: source}
}

// certificateView is the part of a cert-manager Certificate that decides the names it issues.
type certificateView struct {
	Metadata objectMeta `json:"metadata"`
	Spec     struct {
		SecretName  string   `json:"secretName"`
		CommonName  string   `json:"commonName"`
		DNSNames    []string `json:"dnsNames"`
		IPAddresses []string `json:"ipAddresses"`
	} `json:"spec"`
}

// template is the certificate the spec will produce, as far as host names go.
func (c certificateView) template() *x509.Certificate {
	t := &x509.Certificate{Subject: pkix.Name{CommonName: c.Spec.CommonName}, DNSNames: c.Spec.DNSNames}
	for _, ip := range c.Spec.IPAddresses {
		if parsed := net.ParseIP(ip); parsed != nil {
			t.IPAddresses = append(t.IPAddresses, parsed)
		}
	}
	return t
}

func certificateForSecret(objs objects.Objects, namespace, secretName string) (certificateView, bool) {
	for _, raw := range objects.List(objs, "Certificate", namespace) {
		var c certificateView
		if json.Unmarshal(raw, &c) == nil && c.Spec.SecretName == secretName {
			return c, true
		}
	}
	return certificateView{}, false
}

func checkSSLName(f *findings, e *egressMTLSView, server serverCert) {
	if e.SSLName == "" {
		fix := "set sslName to the aigw Service's DNS name in the server certificate"
		if server.leaf != nil {
			if names := HostNames(server.leaf); len(names) > 0 {
				fix = "set sslName: " + concreteName(names[0])
			}
		}
		f.refuse("spec.egressMTLS.sslName", "the aigw server certificate's name when verifyServer is true",
			"none (nginx would verify against $proxy_host, the upstream's internal name, and every request would fail with 502)", fix)
		return
	}
	if server.leaf == nil {
		f.warn("spec.egressMTLS.sslName", fmt.Sprintf("cannot be checked yet: neither %s nor a cert-manager Certificate with that secretName exists; it is checked when the Policy is next applied", server.source))
		return
	}
	if CheckHost(server.leaf, nginxHostPart(e.SSLName)) {
		return
	}
	names := HostNames(server.leaf)
	f.refuse("spec.egressMTLS.sslName",
		fmt.Sprintf("a name the aigw server certificate (%s) covers as nginx checks it, one of [%s]", server.source, strings.Join(names, ", ")),
		fmt.Sprintf("%q", e.SSLName),
		fmt.Sprintf("set sslName to %s, or add %q to the server certificate's dnsNames", quoteFirst(names), e.SSLName))
}

func quoteFirst(names []string) string {
	if len(names) == 0 {
		return "the aigw Service's DNS name (the certificate has no DNS name)"
	}
	return concreteName(names[0])
}

// concreteName turns a wildcard pattern into an example a user could paste.
func concreteName(pattern string) string {
	if strings.HasPrefix(pattern, "*.") {
		return "aigw" + pattern[1:]
	}
	return pattern
}

// checkTrustedCertSecret returns the CA certificates nginx will trust for the server.
func checkTrustedCertSecret(f *findings, objs objects.Objects, namespace, name string, now time.Time) []*x509.Certificate {
	field := "spec.egressMTLS.trustedCertSecret"
	if name == "" {
		f.refuse(field, "a Secret of type nginx.org/ca when verifyServer is true", "none", "set trustedCertSecret: internal-ca (the nginx.org/ca copy of the CA kept by the CA sync)")
		return nil
	}
	sec, found, err := lookupSecret(objs, namespace, name)
	switch {
	case err != nil:
		f.refuse(field, "a readable Secret", err.Error(), "recreate the Secret")
		return nil
	case !found:
		f.warn(field, fmt.Sprintf("Secret %s/%s not found yet: NIC marks the Policy Invalid until it exists", namespace, name))
		return nil
	case sec.Type != "nginx.org/ca":
		f.refuse(field, fmt.Sprintf("Secret %s/%s of type nginx.org/ca (NIC rejects any other type here)", namespace, name), "type "+sec.Type,
			"point trustedCertSecret at the nginx.org/ca Secret the CA sync maintains (internal-ca), or recreate the Secret with type nginx.org/ca and key ca.crt")
		return nil
	}
	certs, err := sec.certificates("ca.crt")
	if err != nil {
		f.refuse(field, fmt.Sprintf("Secret %s/%s with PEM certificates under ca.crt", namespace, name), err.Error(), "store the CA certificate under key ca.crt")
		return nil
	}
	for _, c := range certs {
		if refusal, warning := expiry(c, now); refusal != "" {
			f.refuse(field, "a CA certificate valid now", fmt.Sprintf("%s %s", subject(c), refusal), "rotate the CA and re-issue the certificates it signs")
		} else if warning != "" {
			f.warn(field, fmt.Sprintf("CA %s %s", subject(c), warning))
		}
	}
	return certs
}

func checkServerChain(f *findings, e *egressMTLSView, server serverCert, trusted []*x509.Certificate, now time.Time) {
	field := "spec.egressMTLS (aigw server certificate)"
	if refusal, warning := expiry(server.leaf, now); refusal != "" {
		f.refuse(field, "a server certificate valid now", fmt.Sprintf("%s in %s %s", subject(server.leaf), server.source, refusal), "renew the server certificate (cert-manager: kubectl cert-manager renew)")
	} else if warning != "" {
		f.warn(field, fmt.Sprintf("%s in %s %s", subject(server.leaf), server.source, warning))
	}
	if len(trusted) == 0 {
		return
	}
	depth := nicDefaultVerifyDepth
	if e.VerifyDepth != nil {
		depth = *e.VerifyDepth
	}
	if !allowsUsage(server.leaf, x509.ExtKeyUsageServerAuth) {
		f.refuse(field, "a server certificate whose extended key usage allows server auth (nginx fails it with \"unsuitable certificate purpose\")",
			fmt.Sprintf("%s in %s with extended key usages that exclude it", subject(server.leaf), server.source), "re-issue it with usages [server auth] (cert-manager: spec.usages)")
	}
	n := opensslIntermediates(server.leaf, server.pool, trusted)
	switch {
	case n < 0 && !hasSelfSigned(trusted):
		f.refuse("spec.egressMTLS.trustedCertSecret", fmt.Sprintf("the self-signed root CA in %s/%s ca.crt (nginx's OpenSSL ends a chain only at a self-signed CA)", server.namespace, e.TrustedCertSecret),
			fmt.Sprintf("only %s", subject(trusted[0])), "add the root CA certificate to ca.crt")
	case n < 0:
		f.refuse(field, fmt.Sprintf("a server certificate that chains to the CA in trustedCertSecret %s (%s)", e.TrustedCertSecret, subject(trusted[0])),
			fmt.Sprintf("%s issued by %s", subject(server.leaf), server.leaf.Issuer.String()),
			"issue the server certificate from the CA in trustedCertSecret, or put its issuing CA there")
	case n > depth:
		f.refuse("spec.egressMTLS.verifyDepth", fmt.Sprintf("at least %d for the server chain (%d intermediate CA(s) between the leaf and the self-signed root, counted as OpenSSL does)", n, n),
			fmt.Sprintf("%d", depth), fmt.Sprintf("set verifyDepth: %d", n))
	}
}

func checkClientSecret(f *findings, objs objects.Objects, namespace, name string, s aigw.Settings, now time.Time) {
	field := "spec.egressMTLS.tlsSecret"
	if name == "" {
		f.refuse(field, "the NIC client certificate Secret (kubernetes.io/tls) that aigw requires for mTLS", "none", "set tlsSecret: "+s.ClientTLSSecret)
		return
	}
	sec, found, err := lookupSecret(objs, namespace, name)
	switch {
	case err != nil:
		f.refuse(field, "a readable Secret", err.Error(), "recreate the Secret")
		return
	case !found:
		f.warn(field, fmt.Sprintf("Secret %s/%s not found yet: NIC marks the Policy Invalid until it exists", namespace, name))
		return
	case sec.Type != "kubernetes.io/tls":
		f.refuse(field, fmt.Sprintf("Secret %s/%s of type kubernetes.io/tls", namespace, name), "type "+sec.Type, "issue the client certificate with cert-manager (it writes kubernetes.io/tls) or recreate the Secret with kubectl create secret tls")
		return
	}
	certs, err := sec.certificates("tls.crt")
	if err != nil {
		f.refuse(field, fmt.Sprintf("Secret %s/%s with a PEM certificate under tls.crt", namespace, name), err.Error(), "re-issue the client certificate")
		return
	}
	leaf := certs[0]
	if !allowsUsage(leaf, x509.ExtKeyUsageClientAuth) {
		f.refuse(field, "a client certificate whose extended key usage allows client auth", fmt.Sprintf("%s with extended key usages that exclude it", subject(leaf)),
			"re-issue it with usages [client auth] (cert-manager: spec.usages)")
	}
	if refusal, warning := expiry(leaf, now); refusal != "" {
		f.refuse(field, "a client certificate valid now", fmt.Sprintf("%s %s", subject(leaf), refusal), "renew the client certificate")
	} else if warning != "" {
		f.warn(field, fmt.Sprintf("client certificate %s %s", subject(leaf), warning))
	}
	ca, found, err := lookupSecret(objs, namespace, s.CASecret)
	if err != nil || !found {
		f.warn(field, fmt.Sprintf("cannot check the client certificate's chain yet: the CA Secret aigw trusts (%s/%s) is not found", namespace, s.CASecret))
		return
	}
	roots, err := ca.certificates(s.CAKey)
	if err != nil {
		f.warn(field, fmt.Sprintf("cannot check the client certificate's chain: CA Secret %s/%s: %v", namespace, s.CASecret, err))
		return
	}
	if intermediatesToRoot(leaf, certs[1:], roots) < 0 {
		f.refuse(field, fmt.Sprintf("a client certificate that chains to the CA aigw trusts (Secret %s/%s, %s)", namespace, s.CASecret, subject(roots[0])),
			fmt.Sprintf("%s issued by %s", subject(leaf), leaf.Issuer.String()),
			"issue the client certificate from the CA in "+s.CASecret+" (cert-manager: the aigw CA Issuer)")
	}
}

func hasSelfSigned(certs []*x509.Certificate) bool {
	for _, c := range certs {
		if selfSigned(c) {
			return true
		}
	}
	return false
}

// nginxHostPart is what nginx checks of proxy_ssl_name: the name up to a ":port" (after an
// optional "[...]" literal), as ngx_http_upstream_ssl_name cuts it.
func nginxHostPart(name string) string {
	start := 0
	if strings.HasPrefix(name, "[") {
		if i := strings.IndexByte(name, ']'); i >= 0 {
			start = i
		}
	}
	if i := strings.IndexByte(name[start:], ':'); i >= 0 {
		return name[:start+i]
	}
	return name
}
