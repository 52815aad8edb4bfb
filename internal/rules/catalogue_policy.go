package rules

// The rules of an egressMTLS Policy (policy.go, policy_secrets.go, directives.go).

const (
	nicPolicyValidation = "NIC v5.5.4 pkg/apis/configuration/validation/policy.go validateEgressMTLS"
	nicEgressConfig     = "NIC v5.5.4 internal/configs/policy.go addEgressMTLSConfig"
	nicRendersVerbatim  = "NIC v5.5.4 internal/configs/policy.go addEgressMTLSConfig, internal/configs/version2/nginx.virtualserver.tmpl (rendered verbatim, not validated)"
)

var (
	PolicyTypeCount = define(Def{ID: "POLICY_TYPE_COUNT", Severity: Error,
		Checks: "a Policy sets exactly one policy type", Consequence: PolicyInvalid,
		Source: "NIC v5.5.4 pkg/apis/configuration/validation/policy.go validatePolicySpec",
		Fix:    "keep spec.egressMTLS only and move other policy types into Policies of their own"})
	PolicySecretNameInvalid = define(Def{ID: "POLICY_SECRET_NAME_INVALID", Severity: Error,
		Checks: "tlsSecret and trustedCertSecret are Secret names (DNS-1123 subdomains), not namespace/name", Consequence: PolicyInvalid,
		Source: "NIC v5.5.4 pkg/apis/configuration/validation/common.go validateSecretName",
		Fix:    "name the Secret alone: NIC reads it from the Policy's own namespace"})
	PolicyTrustedCertSecretMissing = define(Def{ID: "POLICY_TRUSTED_CERT_SECRET_MISSING", Severity: Error,
		Checks: "trustedCertSecret is set when verifyServer is true", Consequence: PolicyInvalid,
		Source: nicPolicyValidation,
		Fix:    "set trustedCertSecret: internal-ca (the nginx.org/ca copy of the CA kept by the CA sync)"})
	PolicyVerifyDepthNegative = define(Def{ID: "POLICY_VERIFY_DEPTH_NEGATIVE", Severity: Error,
		Checks: "verifyDepth is 0 or more", Consequence: PolicyInvalid,
		Source: nicPolicyValidation,
		Fix:    "set verifyDepth to the number of intermediate CAs (1 by default)"})
	PolicySSLNameInvalid = define(Def{ID: "POLICY_SSLNAME_INVALID", Severity: Error,
		Checks: "sslName is a DNS-1123 subdomain (no upper case, no port), whatever verifyServer", Consequence: PolicyInvalid,
		Source: "NIC v5.5.4 pkg/apis/configuration/validation/policy.go validateEgressMTLS, validateSSLName",
		Fix:    "set sslName to the aigw Service's DNS name in lower case, without a port"})
	PolicySSLNameMissing = define(Def{ID: "POLICY_SSLNAME_MISSING", Severity: Error,
		Checks: "sslName is set when verifyServer is true", Consequence: Nginx502,
		Source: "stricter than NIC, which renders proxy_ssl_name $proxy_host (the upstream's internal name), which the aigw server certificate does not cover",
		Fix:    "set sslName to the aigw Service's DNS name in the server certificate"})
	PolicySSLNameNotInSAN = define(Def{ID: "POLICY_SSLNAME_NOT_IN_SAN", Severity: Error,
		Checks: "sslName is a name the aigw server certificate covers, as nginx's OpenSSL X509_check_host checks it", Consequence: Nginx502,
		Source: "nginx proxy_ssl_name with proxy_ssl_verify (OpenSSL X509_check_host); stricter than NIC, which renders any valid name",
		Fix:    "set sslName to a name of the server certificate, or add sslName to the certificate's dnsNames"})
	PolicyVerifyServerOff = define(Def{ID: "POLICY_VERIFY_SERVER_OFF", Severity: Warning,
		Checks: "verifyServer is true", Consequence: NotVerified + ": any server at the upstream's address receives NIC's client certificate and the requests",
		Source: nicEgressConfig + " (proxy_ssl_verify off)",
		Fix:    "set verifyServer: true with sslName and trustedCertSecret"})
	PolicyVerifyDepthTooLow = define(Def{ID: "POLICY_VERIFY_DEPTH_TOO_LOW", Severity: Error,
		Checks: "verifyDepth covers the intermediate CAs of the aigw server chain, counted as OpenSSL does", Consequence: Nginx502,
		Source: nicEgressConfig + " (proxy_ssl_verify_depth, 1 by default)",
		Fix:    "set verifyDepth to the number of intermediate CAs of the server chain"})
	PolicySecretUnreadable = define(Def{ID: "POLICY_SECRET_UNREADABLE", Severity: Error,
		Checks: "the Secrets the Policy names can be read", Consequence: Route500,
		Source: nicEgressConfig,
		Fix:    "recreate the Secret"})
	PolicySecretNotFound = define(Def{ID: "POLICY_SECRET_NOT_FOUND", Severity: Warning,
		Checks: "the Secrets the Policy names exist (a warning: GitOps tools apply objects in any order)", Consequence: Route500 + " until it exists",
		Source: nicEgressConfig,
		Fix:    "apply the Secret, or let cert-manager and the CA sync create it"})
	PolicyTrustedCertSecretType = define(Def{ID: "POLICY_TRUSTED_CERT_SECRET_TYPE", Severity: Error,
		Checks: "trustedCertSecret is of type nginx.org/ca (whatever verifyServer)", Consequence: Route500,
		Source: nicEgressConfig,
		Fix:    "point trustedCertSecret at the nginx.org/ca Secret the CA sync maintains (internal-ca)"})
	PolicyTrustedCertSecretNoCA = define(Def{ID: "POLICY_TRUSTED_CERT_SECRET_NO_CA_CRT", Severity: Error,
		Checks: "trustedCertSecret has key ca.crt", Consequence: Route500,
		Source: "NIC v5.5.4 internal/k8s/secrets/validation.go ValidateCASecret",
		Fix:    "store the CA certificate under key ca.crt"})
	PolicyTLSSecretMissing = define(Def{ID: "POLICY_TLS_SECRET_MISSING", Severity: Error,
		Checks: "tlsSecret is set", Consequence: AigwRefuses,
		Source: "stricter than NIC, which renders no client certificate without one: aigw requires one",
		Fix:    "set tlsSecret to the NIC client certificate Secret"})
	PolicyTLSSecretType = define(Def{ID: "POLICY_TLS_SECRET_TYPE", Severity: Error,
		Checks: "tlsSecret is of type kubernetes.io/tls", Consequence: Route500,
		Source: nicEgressConfig,
		Fix:    "issue the client certificate with cert-manager (it writes kubernetes.io/tls)"})
	PolicyTLSSecretNoCertificate = define(Def{ID: "POLICY_TLS_SECRET_NO_CERTIFICATE", Severity: Error,
		Checks: "tlsSecret holds a PEM certificate under tls.crt", Consequence: Route500,
		Source: "NIC v5.5.4 internal/k8s/secrets/validation.go ValidateTLSSecret",
		Fix:    "re-issue the client certificate"})
	PolicyTLSSecretKeyMismatch = define(Def{ID: "POLICY_TLS_SECRET_KEY_MISMATCH", Severity: Error,
		Checks: "tlsSecret's tls.key is the private key of tls.crt", Consequence: Route500,
		Source: "NIC v5.5.4 internal/k8s/secrets/validation.go ValidateTLSSecret (tls.X509KeyPair)",
		Fix:    "re-issue the client certificate (cert-manager writes both keys together)"})
	PolicyCiphersInjected = define(Def{ID: "POLICY_CIPHERS_INJECTED", Severity: Error,
		Checks: "ciphers holds no ';', '{' or '}'", Consequence: Injected,
		Source: nicRendersVerbatim,
		Fix:    "set ciphers to an OpenSSL cipher list, or remove it for OpenSSL's DEFAULT"})
	PolicyCiphersChars = define(Def{ID: "POLICY_CIPHERS_CHARACTERS", Severity: Error,
		Checks: "ciphers holds only the characters of an OpenSSL cipher list", Consequence: ReloadFails,
		Source: nicRendersVerbatim,
		Fix:    "set ciphers to an OpenSSL cipher list, or remove it for OpenSSL's DEFAULT"})
	PolicyCipherUnknown = define(Def{ID: "POLICY_CIPHER_UNKNOWN", Severity: Error,
		Checks:      "every name in ciphers is one OpenSSL 3.0 knows (case-sensitive)",
		Consequence: "OpenSSL ignores it: the cipher meant is not offered, and a list of nothing else makes nginx fail to reload",
		Source:      nicRendersVerbatim + "; stricter than nginx by design: OpenSSL silently drops a name it does not know",
		Fix:         "correct the cipher name (openssl ciphers -v 'LIST' shows what a list selects)"})
	PolicyCiphersSelectNone = define(Def{ID: "POLICY_CIPHERS_SELECT_NONE", Severity: Error,
		Checks: "ciphers selects at least one cipher", Consequence: ReloadFails + " (SSL_CTX_set_cipher_list: no cipher match)",
		Source: nicRendersVerbatim,
		Fix:    "name the ciphers to offer, not only those to remove"})
	PolicyProtocolsUnset = define(Def{ID: "POLICY_PROTOCOLS_UNSET", Severity: Warning,
		Checks: "protocols is set (NIC renders TLSv1 TLSv1.1 TLSv1.2 otherwise)", Consequence: WeakProtocols,
		Source: nicEgressConfig,
		Fix:    "set protocols: TLSv1.3 (or \"TLSv1.2 TLSv1.3\")"})
	PolicyProtocolsInjected = define(Def{ID: "POLICY_PROTOCOLS_INJECTED", Severity: Error,
		Checks: "protocols holds no characters that end an nginx directive", Consequence: Injected,
		Source: nicRendersVerbatim,
		Fix:    "set protocols: TLSv1.3 (or \"TLSv1.2 TLSv1.3\")"})
	PolicyProtocolsBelowTLS12 = define(Def{ID: "POLICY_PROTOCOLS_BELOW_TLS12", Severity: Error,
		Checks: "protocols lists only TLSv1.2 and TLSv1.3", Consequence: WeakProtocols + " (refused by design: TLS below 1.2 is deprecated, RFC 8996)",
		Source: nicRendersVerbatim + "; stricter by design (RFC 8996)",
		Fix:    "set protocols: TLSv1.3 (or \"TLSv1.2 TLSv1.3\")"})
	PolicyProtocolsUnknown = define(Def{ID: "POLICY_PROTOCOLS_UNKNOWN", Severity: Error,
		Checks: "protocols lists only protocol names nginx knows", Consequence: ReloadFails,
		Source: nicRendersVerbatim,
		Fix:    "set protocols: TLSv1.3 (or \"TLSv1.2 TLSv1.3\")"})
)
