// Package nicconf models what NGINX Ingress Controller (NIC) v5.5.4 does with an egressMTLS
// Policy before and while it renders a VirtualServer:
//
//  1. Decide: NIC's decision for the Policy and the Secrets it names. A Policy that fails NIC's
//     validation is left out of the configuration and every location that references it answers
//     500; a Policy whose Secrets are missing, of the wrong type or invalid makes its locations
//     answer 500 too; otherwise NIC renders the Policy.
//  2. Directives: the proxy_ssl_* (or grpc_ssl_*) directives nginx.virtualserver.tmpl renders for
//     a rendered Policy, at server level (VirtualServer spec.policies) or at route level
//     (spec.routes[].policies), with certificate paths through $secret_dir_path as NIC renders
//     them with -ssl-dynamic-reload (its default).
//
// Every rule cites the NIC file and function it follows (github.com/nginx/kubernetes-ingress at
// tag v5.5.4). The field validation uses the same k8s.io/apimachinery functions NIC calls, so the
// reasons read as NIC reports them.
package nicconf

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// NIC's defaults for the fields a Policy leaves out (internal/configs/policy.go,
// addEgressMTLSConfig).
const (
	DefaultVerifyDepth = 1
	DefaultProtocols   = "TLSv1 TLSv1.1 TLSv1.2"
	DefaultCiphers     = "DEFAULT"
	DefaultSSLName     = "$proxy_host"
)

// NIC's defaults for where Secrets go: the secrets directory (cmd/nginx-ingress/main.go:
// staticSSLPath := nginxManager.GetSecretsDir(), internal/nginx/manager.go: <conf>/secrets) and
// the variable that replaces it in certificate paths with -ssl-dynamic-reload (on by default,
// cmd/nginx-ingress/flags.go).
const (
	StaticSSLPath    = "/etc/nginx/secrets"
	SecretDirPathVar = "$secret_dir_path"
)

// Secret types NIC knows (internal/k8s/secrets/validation.go).
const (
	SecretTypeTLS      = "kubernetes.io/tls"
	SecretTypeCA       = "nginx.org/ca"
	SecretTypeJWK      = "nginx.org/jwk"
	SecretTypeOIDC     = "nginx.org/oidc"
	SecretTypeHtpasswd = "nginx.org/htpasswd"
	SecretTypeAPIKey   = "nginx.org/apikey"
	SecretTypeLicense  = "nginx.com/license"
)

// Spec is the spec of a k8s.nginx.org/v1 Policy: egressMTLS and, to model a Policy that sets two
// types, accessControl (NIC declares more types; these two are what the table uses).
type Spec struct {
	AccessControl *AccessControl `json:"accessControl,omitempty"`
	RateLimit     *RateLimit     `json:"rateLimit,omitempty"`
	EgressMTLS    *EgressMTLS    `json:"egressMTLS,omitempty"`
}

// RateLimit is spec.rateLimit of a Policy: a type NIC does not apply to Ingresses. Its own field
// validation is not modelled (the table uses a valid one).
type RateLimit struct {
	Rate     string `json:"rate"`
	Key      string `json:"key"`
	ZoneSize string `json:"zoneSize"`
}

// AccessControl is spec.accessControl of a Policy.
type AccessControl struct {
	Allow []string `json:"allow,omitempty"`
	Deny  []string `json:"deny,omitempty"`
}

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

// Secret is a Secret in the Policy's namespace as the API server holds it.
type Secret struct {
	Type string
	Data map[string][]byte
}

// Outcome is NIC's decision for the locations that reference a Policy.
type Outcome string

const (
	// Render: NIC renders the Policy's directives.
	Render Outcome = "render"
	// Invalid: the Policy fails NIC's validation; NIC treats it as missing and the locations
	// answer 500.
	Invalid Outcome = "invalid"
	// Return500: the Policy is valid but a Secret it names is missing, of the wrong type or
	// invalid; the locations answer 500.
	Return500 Outcome = "500"
)

// Decision is NIC's decision for one Policy and its Secrets.
type Decision struct {
	Outcome Outcome
	// Reason is NIC's validation error (Invalid) or its warning (Return500).
	Reason string
	// Config is what NIC hands the template (Render only).
	Config *Config
	// Files are the files NIC writes into the secrets directory for the Secrets it looked up and
	// found valid: absolute path => content. NIC writes them whatever the outcome.
	Files map[string][]byte
}

func (d Decision) String() string {
	switch d.Outcome {
	case Invalid:
		return "NIC: Policy invalid: " + d.Reason
	case Return500:
		return "NIC: return 500: " + d.Reason
	}
	return "NIC: render"
}

// Config is version2.EgressMTLS (internal/configs/version2/http.go): what addEgressMTLSConfig
// hands the template.
type Config struct {
	Certificate    string
	CertificateKey string
	VerifyServer   bool
	VerifyDepth    int
	Protocols      string
	SessionReuse   bool
	ServerName     bool
	TrustedCert    string
	SSLName        string
	Ciphers        string
}

// ValidatePolicy is NIC's pkg/apis/configuration/validation/policy.go ValidatePolicy (open-source
// NGINX, no OIDC, no App Protect) for the policy types Spec carries.
func ValidatePolicy(spec Spec) error {
	return validatePolicySpec(spec, field.NewPath("spec")).ToAggregate()
}

// validatePolicySpec is NIC's validatePolicySpec: every type set is validated (policyFields order:
// accessControl before egressMTLS) and exactly one type must be set.
func validatePolicySpec(spec Spec, fieldPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	fieldCount := 0
	if spec.AccessControl != nil {
		allErrs = append(allErrs, validateAccessControl(spec.AccessControl, fieldPath.Child("accessControl"))...)
		fieldCount++
	}
	if spec.RateLimit != nil {
		fieldCount++
	}
	if spec.EgressMTLS != nil {
		allErrs = append(allErrs, validateEgressMTLS(spec.EgressMTLS, fieldPath.Child("egressMTLS"))...)
		fieldCount++
	}
	if fieldCount != 1 {
		msg := "must specify exactly one of: `accessControl`, `rateLimit`, `ingressMTLS`, `egressMTLS`, `basicAuth`, `apiKey`, `cache`, `cors`, `externalAuth`"
		allErrs = append(allErrs, field.Invalid(fieldPath, "", msg))
	}
	return allErrs
}

// validateAccessControl is NIC's policy.go validateAccessControl: exactly one of allow/deny, each
// entry a CIDR or an IP (validateIPorCIDR).
func validateAccessControl(ac *AccessControl, fieldPath *field.Path) field.ErrorList {
	allErrs := field.ErrorList{}
	fieldCount := 0
	for _, l := range []struct {
		name string
		list []string
	}{{"allow", ac.Allow}, {"deny", ac.Deny}} {
		if l.list == nil {
			continue
		}
		for i, ipOrCIDR := range l.list {
			if _, _, err := net.ParseCIDR(ipOrCIDR); err != nil && net.ParseIP(ipOrCIDR) == nil {
				allErrs = append(allErrs, field.Invalid(fieldPath.Child(l.name).Index(i), ipOrCIDR, "must be a CIDR or IP"))
			}
		}
		fieldCount++
	}
	if fieldCount != 1 {
		allErrs = append(allErrs, field.Invalid(fieldPath, "", "must specify exactly one of: `allow` or `deny`"))
	}
	return allErrs
}

// validateEgressMTLS is NIC's policy.go validateEgressMTLS:
//   - tlsSecret: validateSecretName (common.go), a DNS-1123 subdomain when set;
//   - verifyServer without trustedCertSecret: an error, and NIC returns right there (the
//     trustedCertSecret, verifyDepth and sslName checks do not run);
//   - trustedCertSecret: validateSecretName;
//   - verifyDepth: validatePositiveIntOrZero (virtualserver.go), >= 0;
//   - sslName: validateSSLName, a DNS-1123 subdomain when set (so no upper case, no port, no
//     trailing dot).
func validateEgressMTLS(e *EgressMTLS, fieldPath *field.Path) field.ErrorList {
	allErrs := validateSecretName(e.TLSSecret, fieldPath.Child("tlsSecret"))
	if e.VerifyServer && e.TrustedCertSecret == "" {
		return append(allErrs, field.Required(fieldPath.Child("trustedCertSecret"), "must be set when verifyServer is 'true'"))
	}
	allErrs = append(allErrs, validateSecretName(e.TrustedCertSecret, fieldPath.Child("trustedCertSecret"))...)
	if e.VerifyDepth != nil && *e.VerifyDepth < 0 {
		allErrs = append(allErrs, field.Invalid(fieldPath.Child("verifyDepth"), *e.VerifyDepth, "must be positive"))
	}
	if e.SSLName != "" {
		for _, msg := range validation.IsDNS1123Subdomain(e.SSLName) {
			allErrs = append(allErrs, field.Invalid(fieldPath.Child("sslName"), e.SSLName, msg))
		}
	}
	return allErrs
}

// validateSecretName is NIC's common.go validateSecretName (validateK8SName): empty is fine,
// otherwise validation.IsDNS1123Subdomain.
func validateSecretName(name string, fieldPath *field.Path) field.ErrorList {
	allErrs := field.ErrorList{}
	if name == "" {
		return allErrs
	}
	for _, msg := range validation.IsDNS1123Subdomain(name) {
		allErrs = append(allErrs, field.Invalid(fieldPath, name, msg))
	}
	return allErrs
}

// secretRef is NIC's secrets.SecretReference (internal/k8s/secrets/store.go).
type secretRef struct {
	typ  string
	path string
	err  error
}

// supportedType is NIC's secrets.IsSupportedSecretType: Secrets of other types never reach NIC's
// secret store (internal/k8s/handlers.go createSecretHandlers, controller.go preSyncSecrets).
func supportedType(t string) bool {
	switch t {
	case SecretTypeTLS, SecretTypeCA, SecretTypeJWK, SecretTypeOIDC, SecretTypeHtpasswd, SecretTypeAPIKey, SecretTypeLicense:
		return true
	}
	return false
}

// getSecret is NIC's LocalSecretStore.GetSecret (internal/k8s/secrets/store.go) over a store
// filled by AddOrUpdateSecret: an absent Secret (or one of an unsupported type, which the store
// never holds) is an error; a stored one carries ValidateSecret's error; a valid one is written to
// the secrets directory (Configurator.AddOrUpdateSecret, internal/configs/configurator.go) and
// its path returned.
func getSecret(namespace, name string, secrets map[string]Secret, dir string, files map[string][]byte) secretRef {
	s, ok := secrets[name]
	if !ok || !supportedType(s.Type) {
		return secretRef{err: errors.New("secret doesn't exist or of an unsupported type")}
	}
	ref := secretRef{typ: s.Type, err: validateSecret(s)}
	if ref.err != nil {
		return ref
	}
	base := filepath.Join(dir, namespace+"-"+name) // objectMetaToFileName
	switch s.Type {
	case SecretTypeCA:
		// AddOrUpdateCASecret: <ns>-<name>-ca.crt and <ns>-<name>-ca.crl, path "<crt> <crl>".
		files[base+"-ca.crt"] = s.Data["ca.crt"]
		files[base+"-ca.crl"] = s.Data["ca.crl"]
		ref.path = base + "-ca.crt " + base + "-ca.crl"
	case SecretTypeTLS:
		// addOrUpdateTLSSecret: GenerateCertAndKeyFileContent.
		files[base] = TLSSecretContent(s.Data["tls.crt"], s.Data["tls.key"])
		ref.path = base
	default:
		// The other types get files of their own; an egressMTLS Policy refuses them by type.
		ref.path = base
	}
	return ref
}

// validateSecret is NIC's secrets.ValidateSecret (internal/k8s/secrets/validation.go) for the two
// types an egressMTLS Policy uses. Secrets of the other supported types are refused by
// addEgressMTLSConfig's type check before their validation error is looked at, so it is not
// modelled.
func validateSecret(s Secret) error {
	switch s.Type {
	case SecretTypeTLS:
		// ValidateTLSSecret: tls.X509KeyPair(tls.crt, tls.key) must succeed (key matches cert).
		if _, err := tls.X509KeyPair(s.Data["tls.crt"], s.Data["tls.key"]); err != nil {
			return fmt.Errorf("failed to validate TLS cert and key: %w", err)
		}
	case SecretTypeCA:
		// ValidateCASecret: ca.crt present, its FIRST PEM block a parseable CERTIFICATE.
		caCrt, exists := s.Data["ca.crt"]
		if !exists {
			return fmt.Errorf("CA secret must have the data field %v", "ca.crt")
		}
		block, _ := pem.Decode(caCrt)
		if block == nil {
			return fmt.Errorf("the data field %s must hold a valid CERTIFICATE PEM block", "ca.crt")
		}
		if block.Type != "CERTIFICATE" {
			return fmt.Errorf("the data field %s must hold a valid CERTIFICATE PEM block, but got '%s'", "ca.crt", block.Type)
		}
		if _, err := x509.ParseCertificate(block.Bytes); err != nil {
			return fmt.Errorf("failed to validate certificate: %w", err)
		}
	}
	return nil
}

// Decide is NIC's decision for the Policy namespace/name with spec, referenced by a VirtualServer
// in the same namespace, given the Secrets of that namespace (by name). secretsDir is NIC's
// secrets directory (StaticSSLPath in a real NIC).
func Decide(namespace, name string, spec Spec, secrets map[string]Secret, secretsDir string) Decision {
	d := Decision{Files: map[string][]byte{}}
	polKey := namespace + "/" + name

	// internal/k8s/controller.go getPolicies: a Policy failing validation.ValidatePolicy is left
	// out ("policy %s is invalid"); internal/configs/policy.go generatePolicies then finds no
	// Policy for the reference ("Policy %s is missing or invalid") and sets ErrorReturn 500.
	if err := ValidatePolicy(spec); err != nil {
		d.Outcome, d.Reason = Invalid, err.Error()
		return d
	}
	e := spec.EgressMTLS
	if e == nil {
		d.Outcome = Render
		return d
	}

	// internal/k8s/controller.go addEgressMTLSSecretRefs: tlsSecret, then trustedCertSecret,
	// through the secret store; it stops at the first Secret with an error.
	refs := map[string]secretRef{}
	for _, n := range []string{e.TLSSecret, e.TrustedCertSecret} {
		if n == "" {
			continue
		}
		ref := getSecret(namespace, n, secrets, secretsDir, d.Files)
		refs[n] = ref
		if ref.err != nil {
			break
		}
	}

	// internal/configs/policy.go addEgressMTLSConfig: for each Secret set, a missing reference,
	// a Secret of another type or a Secret with an error is isError, and generatePolicies turns
	// isError into ErrorReturn 500.
	check := func(n, wantType string) (string, bool) {
		key := namespace + "/" + n
		ref, ok := refs[n]
		if !ok {
			d.Outcome, d.Reason = Return500, fmt.Sprintf("EgressMTLS policy %s references an invalid secret %s: secret doesn't exist", polKey, key)
			return "", false
		}
		if ref.typ != "" && ref.typ != wantType {
			d.Outcome, d.Reason = Return500, fmt.Sprintf("EgressMTLS policy %s references a secret %s of a wrong type '%s', must be '%s'", polKey, key, ref.typ, wantType)
			return "", false
		}
		if ref.err != nil {
			d.Outcome, d.Reason = Return500, fmt.Sprintf("EgressMTLS policy %s references an invalid secret %s: %v", polKey, key, ref.err)
			return "", false
		}
		return ref.path, true
	}
	var tlsPath, trustedPath string
	if e.TLSSecret != "" {
		p, ok := check(e.TLSSecret, SecretTypeTLS)
		if !ok {
			return d
		}
		tlsPath = p
	}
	if e.TrustedCertSecret != "" {
		p, ok := check(e.TrustedCertSecret, SecretTypeCA)
		if !ok {
			return d
		}
		// "CA secret refs can include an optional CRL path after the bundle path": the first
		// field only.
		trustedPath = strings.Fields(p)[0]
	}

	// addEgressMTLSConfig: version2.EgressMTLS with NIC's defaults (generateString,
	// generateIntFromPointer, generateBool).
	depth := DefaultVerifyDepth
	if e.VerifyDepth != nil {
		depth = *e.VerifyDepth
	}
	reuse := true
	if e.SessionReuse != nil {
		reuse = *e.SessionReuse
	}
	d.Outcome = Render
	d.Config = &Config{
		Certificate:    tlsPath,
		CertificateKey: tlsPath,
		Ciphers:        orDefault(e.Ciphers, DefaultCiphers),
		Protocols:      orDefault(e.Protocols, DefaultProtocols),
		VerifyServer:   e.VerifyServer,
		VerifyDepth:    depth,
		SessionReuse:   reuse,
		ServerName:     e.ServerName,
		TrustedCert:    trustedPath,
		SSLName:        orDefault(e.SSLName, DefaultSSLName),
	}
	return d
}

// Level is where a VirtualServer references the Policy.
type Level string

const (
	// ServerLevel: VirtualServer spec.policies; NIC renders the Policy in the server block.
	ServerLevel Level = "server"
	// RouteLevel: spec.routes[].policies; NIC renders the Policy in the route's location. A
	// route's own policies replace the server's for that route (internal/configs/virtualserver.go:
	// generatePolicies for r.Policies, then addPoliciesCfgToLocation), and nginx's location-level
	// directives override the server-level ones they repeat.
	RouteLevel Level = "route"
)

// ErrorReturn is what NIC renders for a Policy it does not render (generatePolicies ErrorReturn:
// {Code: 500}): nginx.virtualserver.tmpl "with $s.PoliciesErrorReturn" in the server block for
// spec.policies, "with $l.PoliciesErrorReturn" in the location for route policies.
const ErrorReturn = "return 500"

// Directives returns the directives (without the trailing ';') nginx.virtualserver.tmpl renders
// for c, with dynamic SSL reload on and staticSSLPath as NIC's secrets directory:
//   - ServerLevel ("with $s.EgressMTLS", ~line 227): always proxy_ssl_*, so a grpc_pass location
//     under it gets no grpc_ssl_* directive at all;
//   - RouteLevel ("with $l.EgressMTLS", ~line 366): $proxyOrGRPC, i.e. grpc_ssl_* when the
//     location grpc_passes (the upstream has type: grpc), proxy_ssl_* otherwise.
//
// Certificate and CertificateKey go through makeSecretPath (internal/configs/commonhelpers
// MakeSecretPath): staticSSLPath replaced by $secret_dir_path; TrustedCert is rendered as is.
// Ciphers, Protocols and SSLName are rendered verbatim.
func Directives(c Config, level Level, grpc bool, staticSSLPath string) []string {
	p := "proxy"
	if level == RouteLevel && grpc {
		p = "grpc"
	}
	var d []string
	if c.Certificate != "" {
		d = append(d,
			p+"_ssl_certificate "+MakeSecretPath(c.Certificate, staticSSLPath),
			p+"_ssl_certificate_key "+MakeSecretPath(c.CertificateKey, staticSSLPath))
	}
	if c.TrustedCert != "" {
		d = append(d, p+"_ssl_trusted_certificate "+c.TrustedCert)
	}
	return append(d,
		p+"_ssl_verify "+onOff(c.VerifyServer),
		fmt.Sprintf("%s_ssl_verify_depth %d", p, c.VerifyDepth),
		p+"_ssl_protocols "+c.Protocols,
		p+"_ssl_ciphers "+c.Ciphers,
		p+"_ssl_session_reuse "+onOff(c.SessionReuse),
		p+"_ssl_server_name "+onOff(c.ServerName),
		p+"_ssl_name "+c.SSLName,
	)
}

// MakeSecretPath is NIC's commonhelpers.MakeSecretPath with the variable $secret_dir_path and
// dynamic reload on: the first occurrence of staticSSLPath replaced by the variable.
func MakeSecretPath(path, staticSSLPath string) string {
	return strings.Replace(path, staticSSLPath, SecretDirPathVar, 1)
}

// SecretDirMap is how NIC defines $secret_dir_path in the http block of nginx.conf when dynamic
// SSL reload is on (internal/configs/version1/nginx.tmpl, "if .DynamicSSLReloadEnabled", ~line
// 64): a map whose default is the secrets directory.
func SecretDirMap(staticSSLPath string) string {
	return fmt.Sprintf("map $nginx_version $secret_dir_path {\n    default %q;\n}\n", staticSSLPath)
}

// TLSSecretContent is what NIC writes for a kubernetes.io/tls Secret
// (GenerateCertAndKeyFileContent): tls.crt, a newline, tls.key.
func TLSSecretContent(tlsCrt, tlsKey []byte) []byte {
	out := append([]byte{}, tlsCrt...)
	out = append(out, '\n')
	return append(out, tlsKey...)
}

// UpstreamName is NIC's name for upstream of VirtualServer namespace/vs: vs_<ns>_<vs>_<upstream>.
func UpstreamName(namespace, virtualServer, upstream string) string {
	return fmt.Sprintf("vs_%s_%s_%s", namespace, virtualServer, upstream)
}

// Block renders directives as lines of an nginx block, each indented by indent and ended by ';'.
func Block(directives []string, indent string) string {
	var b strings.Builder
	for _, d := range directives {
		b.WriteString(indent + d + ";\n")
	}
	return b.String()
}

// PolicyJSON is the k8s.nginx.org/v1 Policy namespace/name with labels and spec.
func PolicyJSON(namespace, name string, labels map[string]string, spec Spec) []byte {
	obj := map[string]any{
		"apiVersion": "k8s.nginx.org/v1",
		"kind":       "Policy",
		"metadata":   map[string]any{"name": name, "namespace": namespace, "labels": labels},
		"spec":       spec,
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
