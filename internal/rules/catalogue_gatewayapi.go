package rules

// The rules of the Gateway API side of the hop, as NGINX Gateway Fabric (NGF) v2.6.7 implements it
// (backendtlspolicy.go, backendtlspolicy_conflicts.go, gateway.go).

const (
	ngfBTPValidation = "NGF v2.6.7 internal/controller/state/graph/backend_tls_policy.go validateBackendTLSPolicy"
	ngfCARef         = "NGF v2.6.7 internal/controller/state/graph/backend_tls_policy.go validateBackendTLSCACertRef"
	ngfSecrets       = "NGF v2.6.7 internal/controller/state/resolver/secrets.go validate"
	ngfGatewayTLS    = "NGF v2.6.7 internal/controller/state/graph/gateway.go validateGatewayTLSBackend; resolver/secrets.go validate"
)

var (
	BTPNoServiceTarget = define(Def{ID: "BTP_NO_SERVICE_TARGET", Severity: Error,
		Checks:      "targetRefs include a target of kind Service (NGF reads the kind alone)",
		Consequence: "NGF applies the policy to no backend: nginx speaks plain HTTP to aigw, which answers 400",
		Source:      "NGF v2.6.7 internal/controller/state/graph/backend_tls_policy.go collectOrderedGateways; dataplane/configuration.go convertBackendTLS",
		Fix:         "add {group: \"\", kind: Service, name: aigw}"})
	BTPTargetGroupIgnored = define(Def{ID: "BTP_TARGET_GROUP_IGNORED", Severity: Warning,
		Checks:      "a target of kind Service has group \"\" (NGF ignores the group and applies the policy to the Service anyway)",
		Consequence: "NGF applies the policy to the Service of that name; another Gateway API implementation may not",
		Source:      "NGF v2.6.7 internal/controller/state/graph/backend_tls_policy.go collectOrderedGateways (kind only), backend_refs.go findBackendTLSPolicyForService (name only)",
		Fix:         "set group: \"\""})
	BTPSectionNameUnused = define(Def{ID: "BTP_SECTION_NAME_UNUSED", Severity: Error,
		Checks:      "a target's sectionName names a port of the Service that an HTTPRoute or GRPCRoute sends to (judged when the Service and its routes are known)",
		Consequence: "NGF applies the policy to no port a route uses: nginx speaks plain HTTP to aigw, which answers 400",
		Source:      "NGF v2.6.7 internal/controller/state/graph/backend_refs.go findBackendTLSPolicyForService (sectionName against the port name of backendRefs[].port), getPortFromRef",
		Fix:         "set sectionName to the port the routes use, or remove it"})
	BTPHostnameInvalid = define(Def{ID: "BTP_HOSTNAME_INVALID", Severity: Error,
		Checks: "validation.hostname is set, a DNS-1123 subdomain", Consequence: NGFInvalidBackend,
		Source: "NGF v2.6.7 internal/controller/state/graph/backend_tls_policy.go validateBackendTLSHostname, validation.go validateHostname",
		Fix:    "set hostname to the aigw Service's DNS name in lower case"})
	BTPSubjectAltNamesUnused = define(Def{ID: "BTP_SUBJECT_ALT_NAMES_UNUSED", Severity: Warning,
		Checks: "validation.subjectAltNames is empty (NGF verifies against hostname only)", Consequence: "NGF verifies the aigw server certificate against hostname only",
		Source: "NGF v2.6.7 internal/controller/nginx/config/dataplane/configuration.go convertBackendTLS",
		Fix:    "make sure hostname is a name the certificate covers; subjectAltNames may stay"})
	BTPHostnameNotInSAN = define(Def{ID: "BTP_HOSTNAME_NOT_IN_SAN", Severity: Error,
		Checks: "validation.hostname is a name the aigw server certificate covers, as nginx's OpenSSL X509_check_host checks it", Consequence: Nginx502,
		Source: "nginx proxy_ssl_name, rendered by NGF v2.6.7 servers_template.go (OpenSSL X509_check_host)",
		Fix:    "set hostname to a name of the server certificate, or add hostname to the certificate's dnsNames"})
	BTPServerChainTooDeep = define(Def{ID: "BTP_SERVER_CHAIN_TOO_DEEP", Severity: Error,
		Checks: "at most 4 intermediate CAs between the aigw server certificate and the root", Consequence: Nginx502,
		Source: "NGF v2.6.7 internal/controller/nginx/config/servers_template.go (proxy_ssl_verify_depth 4, always)",
		Fix:    "issue the server certificate from a CA closer to the root"})
	BTPCABoth = define(Def{ID: "BTP_CA_BOTH", Severity: Error,
		Checks: "not both caCertificateRefs and wellKnownCACertificates", Consequence: NGFInvalidBackend,
		Source: ngfBTPValidation,
		Fix:    "remove wellKnownCACertificates"})
	BTPWellKnownCAInvalid = define(Def{ID: "BTP_WELL_KNOWN_CA_INVALID", Severity: Error,
		Checks: "wellKnownCACertificates is System, the only value NGF supports", Consequence: NGFInvalidBackend,
		Source: "NGF v2.6.7 internal/controller/state/graph/backend_tls_policy.go validateBackendTLSWellKnownCACerts",
		Fix:    "replace it with caCertificateRefs naming the aigw CA"})
	BTPWellKnownCAPublic = define(Def{ID: "BTP_WELL_KNOWN_CA_PUBLIC", Severity: Error,
		Checks: "the CA is named by caCertificateRefs, not wellKnownCACertificates", Consequence: Nginx502,
		Source: "stricter than NGF: convertBackendTLS renders the image's public roots (AlpineSSLRootCAPath), which never hold the CA that issued aigw's certificate",
		Fix:    "replace it with caCertificateRefs naming the aigw CA"})
	BTPCARefMissing = define(Def{ID: "BTP_CA_REF_MISSING", Severity: Error,
		Checks: "caCertificateRefs names the CA", Consequence: NGFInvalidBackend,
		Source: ngfBTPValidation,
		Fix:    "set caCertificateRefs to the ConfigMap the CA sync keeps, or label the policy and let the webhook add it"})
	BTPCARefMultiple = define(Def{ID: "BTP_CA_REF_MULTIPLE", Severity: Error,
		Checks: "exactly one caCertificateRefs entry", Consequence: NGFInvalidBackend,
		Source: ngfCARef,
		Fix:    "keep only the reference to the aigw CA"})
	BTPCARefKind = define(Def{ID: "BTP_CA_REF_KIND", Severity: Error,
		Checks: "the caCertificateRefs entry is of kind ConfigMap or Secret", Consequence: NGFInvalidBackend,
		Source: ngfCARef,
		Fix:    "reference the ConfigMap the CA sync keeps"})
	BTPCARefGroup = define(Def{ID: "BTP_CA_REF_GROUP", Severity: Error,
		Checks: "the caCertificateRefs entry is of group \"\"", Consequence: NGFInvalidBackend,
		Source: ngfCARef,
		Fix:    "set group: \"\""})
	BTPCANotFound = define(Def{ID: "BTP_CA_NOT_FOUND", Severity: Warning,
		Checks: "the referenced CA ConfigMap or Secret exists (a warning: GitOps tools apply objects in any order)", Consequence: NGFInvalidBackend + " until it exists",
		Source: "NGF v2.6.7 internal/controller/state/resolver/configmaps.go, secrets.go",
		Fix:    "let the CA sync keep it (chart: gatewayAPI.enabled), or apply it"})
	BTPCAUnreadable = define(Def{ID: "BTP_CA_UNREADABLE", Severity: Error,
		Checks: "the referenced CA ConfigMap or Secret can be read", Consequence: NGFInvalidBackend,
		Source: "NGF v2.6.7 internal/controller/state/resolver/configmaps.go, secrets.go",
		Fix:    "recreate it"})
	BTPCANoCACrt = define(Def{ID: "BTP_CA_NO_CA_CRT", Severity: Error,
		Checks: "the referenced ConfigMap has key ca.crt (data or binaryData)", Consequence: NGFInvalidBackend,
		Source: "NGF v2.6.7 internal/controller/state/resolver/configmaps.go validate",
		Fix:    "store the PEM CA certificate under ca.crt"})
	BTPCASecretType = define(Def{ID: "BTP_CA_SECRET_TYPE", Severity: Error,
		Checks: "a referenced Secret is of type kubernetes.io/tls (nginx.org/ca and Opaque are unsupported)", Consequence: NGFInvalidBackend,
		Source: ngfSecrets,
		Fix:    "reference the ConfigMap the CA sync keeps"})
	BTPCASecretKeyMismatch = define(Def{ID: "BTP_CA_SECRET_KEY_MISMATCH", Severity: Error,
		Checks: "a referenced Secret's tls.key is the private key of its tls.crt", Consequence: NGFInvalidBackend,
		Source: ngfSecrets + " (ValidateTLS)",
		Fix:    "reference the ConfigMap the CA sync keeps"})
	BTPCASecretNoCACrt = define(Def{ID: "BTP_CA_SECRET_NO_CA_CRT", Severity: Error,
		Checks: "a referenced Secret has key ca.crt", Consequence: Nginx502,
		Source: "stricter than NGF: " + ngfSecrets + " accepts a kubernetes.io/tls Secret without ca.crt, and nginx then trusts an empty bundle and fails every handshake",
		Fix:    "reference the ConfigMap the CA sync keeps"})
	BTPCANotCertificate = define(Def{ID: "BTP_CA_NOT_CERTIFICATE_FIRST", Severity: Error,
		Checks: "the referenced ca.crt starts with a PEM CERTIFICATE block", Consequence: NGFInvalidBackend,
		Source: "NGF v2.6.7 internal/controller/state/graph/shared/secrets/secrets.go ValidateCA",
		Fix:    "store the PEM CA certificate first under ca.crt"})
	BTPConflicted = define(Def{ID: "BTP_CONFLICTED", Severity: Error,
		Checks:      "no older BackendTLSPolicy (labelled or not, any target kind) names the same Service, on a port a route uses",
		Consequence: "NGF uses the older policy and marks this one Conflicted: its hostname and CA are not used (and when the older one has no target of kind Service, NGF renders no TLS: nginx speaks plain HTTP to aigw, which answers 400)",
		Source:      "NGF v2.6.7 internal/controller/state/graph/backend_refs.go findBackendTLSPolicyForService (target name and sectionName only), ngfsort.LessClientObject; dataplane/configuration.go convertBackendTLS",
		Fix:         "edit the older BackendTLSPolicy instead, or delete it first"})
	BTPConflictUnjudged = define(Def{ID: "BTP_CONFLICT_UNJUDGED", Severity: Warning,
		Checks:      "no older BackendTLSPolicy names one port of the Service while no route to it is known: none exists yet, validate -f was not given them, the requesting user may not list the routes in a namespace a ReferenceGrant opens to them, or more routes send to the Service than the webhook reads for one request (256)",
		Consequence: "if a route sends to that port, NGF uses the older policy there and marks this one Conflicted",
		Source:      "NGF v2.6.7 internal/controller/state/graph/backend_refs.go findBackendTLSPolicyForService (per port a route uses)",
		Fix:         "run check, or validate -f with the Service, its routes and ReferenceGrants"})
	GatewayClientCertMissing = define(Def{ID: "GATEWAY_CLIENT_CERT_MISSING", Severity: Error,
		Checks: "the Gateway sets spec.tls.backend.clientCertificateRef", Consequence: AigwRefusesGateway,
		Source: "NGF v2.6.7 base_http_config_template.go (proxy_ssl_certificate only from clientCertificateRef); aigw requires a client certificate",
		Fix:    "set spec.tls.backend.clientCertificateRef to the client certificate Secret in the Gateway's namespace"})
	GatewayClientCertRefKind = define(Def{ID: "GATEWAY_CLIENT_CERT_REF_KIND", Severity: Error,
		Checks: "clientCertificateRef is of kind Secret", Consequence: GatewayRefBad,
		Source: ngfGatewayTLS,
		Fix:    "set kind: Secret"})
	GatewayClientCertRefGroup = define(Def{ID: "GATEWAY_CLIENT_CERT_REF_GROUP", Severity: Error,
		Checks: "clientCertificateRef is of group \"\"", Consequence: GatewayRefBad,
		Source: ngfGatewayTLS,
		Fix:    "set group: \"\""})
	GatewayClientCertOtherNamespace = define(Def{ID: "GATEWAY_CLIENT_CERT_OTHER_NAMESPACE", Severity: Warning,
		Checks:      "clientCertificateRef names a Secret in the Gateway's namespace (the webhook does not read across namespaces)",
		Consequence: "NGF uses it only when a ReferenceGrant in that namespace allows the Gateway",
		Source:      ngfGatewayTLS,
		Fix:         "keep the client certificate in the Gateway's namespace to have it checked"})
	GatewaySecretUnreadable = define(Def{ID: "GATEWAY_SECRET_UNREADABLE", Severity: Error,
		Checks: "the client certificate Secret can be read", Consequence: GatewayRefBad,
		Source: ngfGatewayTLS,
		Fix:    "recreate the Secret"})
	GatewaySecretNotFound = define(Def{ID: "GATEWAY_SECRET_NOT_FOUND", Severity: Warning,
		Checks: "the client certificate Secret exists (a warning: GitOps tools apply objects in any order)", Consequence: GatewayRefBad + " until it exists",
		Source: ngfGatewayTLS,
		Fix:    "issue the client Certificate"})
	GatewaySecretType = define(Def{ID: "GATEWAY_SECRET_TYPE", Severity: Error,
		Checks: "the client certificate Secret is of type kubernetes.io/tls", Consequence: GatewayRefBad,
		Source: ngfGatewayTLS,
		Fix:    "issue the client certificate with cert-manager (it writes kubernetes.io/tls)"})
	GatewaySecretNoCertificate = define(Def{ID: "GATEWAY_SECRET_NO_CERTIFICATE", Severity: Error,
		Checks: "the client certificate Secret holds a PEM certificate under tls.crt", Consequence: GatewayRefBad,
		Source: ngfGatewayTLS + " (ValidateTLS)",
		Fix:    "re-issue the client certificate"})
	GatewaySecretKeyMismatch = define(Def{ID: "GATEWAY_SECRET_KEY_MISMATCH", Severity: Error,
		Checks: "the client certificate Secret's tls.key is the private key of tls.crt", Consequence: GatewayRefBad,
		Source: ngfGatewayTLS + " (ValidateTLS)",
		Fix:    "re-issue the client certificate (cert-manager writes both keys together)"})
)
