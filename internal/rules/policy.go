package rules

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"fmt"
	"net"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/aigw-mtls/aigw-mtls-webhook/internal/aigw"
	"github.com/aigw-mtls/aigw-mtls-webhook/internal/certs"
	"github.com/aigw-mtls/aigw-mtls-webhook/internal/objects"
)

// egressMTLS is spec.egressMTLS of an NGINX Ingress Controller Policy.
type egressMTLS struct {
	TLSSecret         string `json:"tlsSecret"`
	TrustedCertSecret string `json:"trustedCertSecret"`
	VerifyServer      bool   `json:"verifyServer"`
	VerifyDepth       *int   `json:"verifyDepth"`
	Protocols         string `json:"protocols"`
	Ciphers           string `json:"ciphers"`
	SSLName           string `json:"sslName"`
	ServerName        bool   `json:"serverName"`
}

type policy struct {
	Metadata objects.Meta               `json:"metadata"`
	Spec     map[string]json.RawMessage `json:"spec"`
	egress   *egressMTLS
}

// nicPolicyTypes are the policy types of NIC's PolicySpec (pkg/apis/configuration/validation/policy.go
// policyFields): a Policy must set exactly one of them.
var nicPolicyTypes = []string{"accessControl", "rateLimit", "jwt", "basicAuth", "ingressMTLS", "egressMTLS", "externalAuth", "oidc", "apiKey", "waf", "cache", "cors"}

// NIC's defaults for what a Policy leaves out (internal/configs/policy.go addEgressMTLSConfig).
const (
	nicDefaultVerifyDepth = 1
	nicDefaultProtocols   = "TLSv1 TLSv1.1 TLSv1.2"
)

func decodePolicy(raw []byte) (*policy, error) {
	var p policy
	if err := objects.Decode(raw, &p); err != nil {
		return nil, fmt.Errorf("decoding Policy: %w", err)
	}
	if e, ok := p.Spec["egressMTLS"]; ok && string(e) != "null" {
		p.egress = &egressMTLS{}
		if err := objects.Decode(e, p.egress); err != nil {
			return nil, fmt.Errorf("decoding Policy spec.egressMTLS: %w", err)
		}
	}
	return &p, nil
}

// PolicyEgress decodes the egressMTLS of a Policy in namespace (when its metadata names none) as
// NIC renders it, defaults filled in; nil when it has none. It is what the probe dials with and what
// check shows.
func PolicyEgress(raw []byte, namespace string, s aigw.Settings) (*Egress, error) {
	p, err := decodePolicy(raw)
	if err != nil || p.egress == nil {
		return nil, err
	}
	e := p.egress
	return &Egress{Name: p.Metadata.Name, Namespace: p.Metadata.In(namespace), Selected: s.Selected(p.Metadata.Labels), ServerTLSSecret: p.serverSecret(s),
		TLSSecret: e.TLSSecret, TrustedCertSecret: e.TrustedCertSecret, VerifyServer: e.VerifyServer,
		Depth: nicInt(e.VerifyDepth, nicDefaultVerifyDepth), Protocols: nicString(e.Protocols, nicDefaultProtocols), SSLName: e.SSLName, ServerName: e.ServerName}, nil
}

// nicString and nicInt are NIC's generateString and generateIntFromPointer
// (internal/configs/virtualserver.go): the value when set, else NIC's default.
func nicString(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

func nicInt(v *int, def int) int {
	if v == nil {
		return def
	}
	return *v
}

// Policy judges a Policy labelled with the selector: NIC's own validation of an egressMTLS Policy,
// the Secrets it names as NIC reads them, and the certificates nginx and aigw will meet.
// Unlabelled Policies, and labelled Policies of another type, are not judged.
func Policy(raw []byte, namespace string, s aigw.Settings, objs objects.Objects, now time.Time) (Findings, error) {
	p, err := decodePolicy(raw)
	if err != nil {
		return nil, err
	}
	if !s.Selected(p.Metadata.Labels) {
		return nil, nil
	}
	if p.egress == nil && p.types() > 0 {
		return nil, nil
	}
	return p.judge(p.Metadata.In(namespace), s, objs, now), nil
}

func (p *policy) types() int {
	n := 0
	for _, t := range nicPolicyTypes {
		if v, ok := p.Spec[t]; ok && string(v) != "null" {
			n++
		}
	}
	return n
}

// nicFindings are the findings of NIC's own validation of the Policy
// (pkg/apis/configuration/validation/policy.go ValidatePolicy): a Policy failing it is left out by
// NIC, and every route that references it answers 500.
func (p *policy) nicFindings(namespace string) Findings {
	c := &collector{obj: p.Metadata.Ref("Policy", namespace)}
	p.nicValid(c)
	return c.out
}

func (p *policy) nicValid(c *collector) {
	if n := p.types(); n != 1 {
		// validatePolicySpec: "must specify exactly one of ...".
		expected, fix := "exactly one policy type (egressMTLS)", "keep spec.egressMTLS only and move other policy types into Policies of their own"
		if p.egress == nil && n > 1 {
			expected, fix = "exactly one policy type", "keep one policy type per Policy"
		}
		c.add(PolicyTypeCount, Finding{Field: "spec", Expected: expected, Found: fmt.Sprintf("%d policy types", n), Fix: fix})
	}
	if p.egress != nil {
		nicValidation(c, p.egress)
	}
}

func (p *policy) judge(namespace string, s aigw.Settings, objs objects.Objects, now time.Time) Findings {
	c := &collector{obj: p.Metadata.Ref("Policy", namespace)}
	p.nicValid(c)
	e := p.egress
	if e == nil {
		return c.out
	}
	checkCiphers(c, "spec.egressMTLS.ciphers", e.Ciphers)
	checkProtocols(c, "spec.egressMTLS.protocols", e.Protocols)

	trusted := checkTrustedCertSecret(c, objs, namespace, e, now)
	checkClientSecret(c, objs, namespace, e.TLSSecret, s, now)
	if !e.VerifyServer {
		c.add(PolicyVerifyServerOff, Finding{Field: "spec.egressMTLS.verifyServer", Found: "false"})
		return c.out
	}
	serverSecret := p.serverSecret(s)
	server := findServerCertificate(objs, namespace, serverSecret)
	if !tooLarge(c, "spec.egressMTLS (aigw server certificate)", server.source+" tls.crt", server.parseErr, serverChainFix) && server.err != "" {
		c.add(ServerCertUnreadable, Finding{Field: "spec.egressMTLS (aigw server certificate)", Expected: "a readable certificate in " + server.source,
			Found: server.err})
	}
	checkSSLName(c, e, server)
	if server.leaf != nil && server.issued {
		checkServerChain(c, e, server, trusted, now)
	}
	return c.out
}

// nicValidation follows pkg/apis/configuration/validation/policy.go validateEgressMTLS (and
// common.go validateSecretName, policy.go validateSSLName): a Policy failing any of these is
// marked Invalid by NIC, and every route that references it answers 500.
func nicValidation(c *collector, e *egressMTLS) {
	secretName := func(field, name string) {
		for _, msg := range dns1123Subdomain(name) {
			c.add(PolicySecretNameInvalid, Finding{Field: field, Expected: "the name of a Secret in the Policy's namespace (a DNS-1123 subdomain)",
				Found: fmt.Sprintf("%q: %s", name, msg),
				Fix:   "name the Secret alone (NIC reads it from the Policy's own namespace; \"namespace/name\" is not a Secret name)"})
		}
	}
	secretName("spec.egressMTLS.tlsSecret", e.TLSSecret)
	if e.VerifyServer && e.TrustedCertSecret == "" {
		// validateEgressMTLS returns here: NIC reports nothing else about this Policy.
		c.add(PolicyTrustedCertSecretMissing, Finding{Field: "spec.egressMTLS.trustedCertSecret", Expected: "a Secret of type nginx.org/ca when verifyServer is true",
			Found: "none"})
		return
	}
	secretName("spec.egressMTLS.trustedCertSecret", e.TrustedCertSecret)
	if e.VerifyDepth != nil && *e.VerifyDepth < 0 {
		c.add(PolicyVerifyDepthNegative, Finding{Field: "spec.egressMTLS.verifyDepth", Expected: "0 or more", Found: fmt.Sprint(*e.VerifyDepth)})
	}
	for _, msg := range dns1123Subdomain(e.SSLName) {
		c.add(PolicySSLNameInvalid, Finding{Field: "spec.egressMTLS.sslName", Expected: "a DNS-1123 subdomain: lower case, no port",
			Found: fmt.Sprintf("%q: %s", e.SSLName, msg),
			Fix:   "set sslName to the aigw Service's DNS name in lower case, without a port (for example aigw.ai-gateway.svc.cluster.local)"})
	}
}

// dns1123Subdomain is validation.IsDNS1123Subdomain for a set value, as NIC calls it.
func dns1123Subdomain(v string) []string {
	if v == "" {
		return nil
	}
	return validation.IsDNS1123Subdomain(v)
}

const serverChainFix = "keep only the leaf and its intermediates in the aigw server's tls.crt (cert-manager writes exactly these)"

// serverCert is the aigw server certificate as far as it is known: the issued Secret, or the
// names a cert-manager Certificate will issue.
type serverCert struct {
	leaf      *x509.Certificate
	pool      []*x509.Certificate // the rest of tls.crt: intermediates sent with the leaf
	issued    bool                // leaf comes from the Secret (else from a Certificate's spec)
	source    string
	namespace string
	err       string
	parseErr  error  // the error err renders, when tls.crt did not parse
	withheld  string // why the certificate cannot be read at all
}

func findServerCertificate(objs objects.Objects, namespace, secretName string) serverCert {
	sec, found, err := lookupSecret(objs, namespace, secretName)
	source := fmt.Sprintf("Secret %s/%s", namespace, secretName)
	if u := objects.AsUnavailable(err); u != nil {
		return serverCert{source: source, withheld: u.Reason}
	}
	if err != nil {
		return serverCert{source: source, err: err.Error()}
	}
	if found {
		cs, err := sec.certificates("tls.crt")
		if err != nil {
			return serverCert{source: source, err: err.Error(), parseErr: err}
		}
		return serverCert{leaf: cs[0], pool: cs[1:], issued: true, source: source, namespace: namespace}
	}
	if err := objects.Available(objs, "Certificate", namespace); err != nil {
		return serverCert{source: source, withheld: objects.AsUnavailable(err).Reason}
	}
	if crt, ok := certificateForSecret(objs, namespace, secretName); ok {
		return serverCert{leaf: crt.template(), source: fmt.Sprintf("Certificate %s/%s (spec, not issued yet)", namespace, crt.Metadata.Name)}
	}
	return serverCert{source: source}
}

// certificate is the part of a cert-manager Certificate that decides the names it issues.
type certificate struct {
	Metadata objects.Meta `json:"metadata"`
	Spec     struct {
		SecretName  string   `json:"secretName"`
		CommonName  string   `json:"commonName"`
		DNSNames    []string `json:"dnsNames"`
		IPAddresses []string `json:"ipAddresses"`
	} `json:"spec"`
}

// template is the certificate the spec will produce, as far as host names go.
func (c certificate) template() *x509.Certificate {
	t := &x509.Certificate{Subject: pkix.Name{CommonName: c.Spec.CommonName}, DNSNames: c.Spec.DNSNames}
	for _, ip := range c.Spec.IPAddresses {
		if parsed := net.ParseIP(ip); parsed != nil {
			t.IPAddresses = append(t.IPAddresses, parsed)
		}
	}
	return t
}

func certificateForSecret(objs objects.Objects, namespace, secretName string) (certificate, bool) {
	for _, raw := range objects.List(objs, "Certificate", namespace) {
		var c certificate
		if objects.Decode(raw, &c) == nil && c.Spec.SecretName == secretName {
			return c, true
		}
	}
	return certificate{}, false
}

// checkSSLName: nginx checks proxy_ssl_name against the aigw server certificate with OpenSSL's
// X509_check_host. Stricter than NIC, which renders any valid name.
func checkSSLName(c *collector, e *egressMTLS, server serverCert) {
	field := "spec.egressMTLS.sslName"
	if e.SSLName == "" {
		fix := "set sslName to the aigw Service's DNS name in the server certificate"
		if server.leaf != nil {
			if names := certs.HostNames(server.leaf); len(names) > 0 {
				fix = "set sslName: " + concreteName(names[0])
			}
		}
		c.add(PolicySSLNameMissing, Finding{Field: field, Expected: "the aigw server certificate's name when verifyServer is true",
			Found: "none: NIC renders proxy_ssl_name " + NICDefaultSSLName + ", the upstream's internal name", Fix: fix})
		return
	}
	if len(dns1123Subdomain(e.SSLName)) > 0 {
		return // refused by NIC's validation already
	}
	checkServerName(c, field, "sslName", e.SSLName, server, PolicySSLNameNotInSAN)
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
