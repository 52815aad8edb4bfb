package rules

// The rules of the certificates on the hop (certificates.go, certificate.go), shared by the Policy,
// BackendTLSPolicy and Gateway rules and by `check`, and the findings that say what could not be
// checked.

const (
	nginxVerifies = "nginx proxy_ssl_verify (OpenSSL X509_verify_cert)"
	aigwVerifies  = "aigw's client verification (Go crypto/tls, ClientAuth RequireAndVerifyClientCert)"
)

var (
	ObjectNotCheckable = define(Def{ID: "OBJECT_NOT_CHECKABLE", Severity: Warning,
		Checks:      "an object a rule needs can be read (by the webhook's cache or the user running check)",
		Consequence: NotCheckable,
		Source:      "the webhook's own reads: objects it does not watch, or that the requesting user may not read, are not judged",
		Fix:         "run `aigw-mtls-webhook check` as a user who may read it"})
	CertDataTooLarge = define(Def{ID: "CERT_DATA_TOO_LARGE", Severity: Error,
		Checks:      "certificate data is within the parse bounds (internal/certs MaxBundleCerts and MaxBundleBytes)",
		Consequence: TooLarge,
		Source:      "the webhook's bounds: a bundle of dozens of CAs lets any of them vouch for aigw",
		Fix:         "keep only the certificates the hop needs (cert-manager and the CA sync write exactly these)"})
	ServerCertUnreadable = define(Def{ID: "SERVER_CERT_UNREADABLE", Severity: Error,
		Checks: "the aigw server certificate Secret holds a PEM certificate under tls.crt", Consequence: Nginx502,
		Source: nginxVerifies,
		Fix:    "re-issue the server certificate"})
	ServerCertNotFound = define(Def{ID: "SERVER_CERT_NOT_FOUND", Severity: Warning,
		Checks: "the aigw server certificate exists (its Secret, or a cert-manager Certificate that will issue it)", Consequence: NotCheckedYet,
		Source: nginxVerifies,
		Fix:    "issue the aigw server certificate"})
	ClientChainNotChecked = define(Def{ID: "CLIENT_CHAIN_NOT_CHECKED", Severity: Warning,
		Checks: "the CA Secret aigw trusts for clients can be read, so that the client certificate's chain is checked", Consequence: NotCheckedYet,
		Source: aigwVerifies,
		Fix:    "keep the client certificate in the namespace of the aigw PKI, where the CA sync keeps the CA Secret"})
	CABundleNotCertificate = define(Def{ID: "CA_BUNDLE_NOT_CERTIFICATE_FIRST", Severity: Error,
		Checks: "ca.crt starts with a PEM CERTIFICATE block", Consequence: Route500,
		Source: "NIC v5.5.4 internal/k8s/secrets/validation.go ValidateCASecret (the first block only)",
		Fix:    "store the PEM CA certificate first under ca.crt (the CA sync copies it from cert-manager's CA Secret)"})
	CABundleUnparsable = define(Def{ID: "CA_BUNDLE_UNPARSABLE", Severity: Error,
		Checks: "ca.crt holds PEM CA certificates that parse", Consequence: Route500,
		Source: "NIC v5.5.4 internal/k8s/secrets/validation.go ValidateCASecret",
		Fix:    "store the PEM CA certificate first under ca.crt (the CA sync copies it from cert-manager's CA Secret)"})
	CABundleNoRoot = define(Def{ID: "CA_BUNDLE_NO_ROOT", Severity: Error,
		Checks: "ca.crt holds a self-signed root CA", Consequence: Nginx502,
		Source: nginxVerifies + ": OpenSSL ends a chain only at a self-signed CA; stricter than NIC",
		Fix:    "add the root CA certificate to ca.crt"})
	CAExpired = define(Def{ID: "CA_EXPIRED", Severity: Error,
		Checks: "ca.crt holds a CA certificate valid now", Consequence: Nginx502,
		Source: nginxVerifies,
		Fix:    "rotate the CA (cert-manager: renew the CA Certificate) and re-issue the certificates it signs"})
	CAExpiredBesideValid = define(Def{ID: "CA_EXPIRED_BESIDE_VALID", Severity: Warning,
		Checks:      "no CA in ca.crt has expired beside a valid one",
		Consequence: "nginx verifies only with the valid CA; certificates still issued by the expired one fail",
		Source:      nginxVerifies + ": OpenSSL prefers the valid issuer",
		Fix:         "drop it from ca.crt once nothing it issued is in use (the CA sync does so itself)"})
	CAExpiresSoon = define(Def{ID: "CA_EXPIRES_SOON", Severity: Warning,
		Checks: "the newest CA in ca.crt does not expire soon", Consequence: ExpiresSoon,
		Source: nginxVerifies,
		Fix:    "rotate the CA (cert-manager: renew the CA Certificate)"})
	ServerCertExpired = define(Def{ID: "SERVER_CERT_EXPIRED", Severity: Error,
		Checks: "the aigw server certificate is valid now", Consequence: Nginx502,
		Source: nginxVerifies,
		Fix:    "renew the server certificate (cert-manager: cmctl renew)"})
	ServerCertExpiresSoon = define(Def{ID: "SERVER_CERT_EXPIRES_SOON", Severity: Warning,
		Checks: "the aigw server certificate does not expire soon", Consequence: ExpiresSoon,
		Source: nginxVerifies,
		Fix:    "renew the server certificate (cert-manager renews it before expiry when renewBefore allows)"})
	ServerCertCAExpired = define(Def{ID: "SERVER_CERT_CA_EXPIRED", Severity: Error,
		Checks: "the aigw server certificate chains to a trusted CA that is valid now", Consequence: Nginx502,
		Source: nginxVerifies,
		Fix:    "re-issue the server certificate from the current CA"})
	ServerCertUntrusted = define(Def{ID: "SERVER_CERT_UNTRUSTED", Severity: Error,
		Checks: "the aigw server certificate chains to the CA nginx trusts, as nginx's OpenSSL verifies it", Consequence: Nginx502,
		Source: nginxVerifies,
		Fix:    "issue the server certificate from the trusted CA (cert-manager: the aigw CA Issuer), or trust its issuing CA"})
	ServerCertNoServerAuth = define(Def{ID: "SERVER_CERT_NO_SERVER_AUTH", Severity: Error,
		Checks: "the aigw server certificate's extended key usage allows server auth", Consequence: Nginx502 + " (\"unsuitable certificate purpose\")",
		Source: nginxVerifies,
		Fix:    "re-issue it with usages [server auth] (cert-manager: spec.usages)"})
	ClientCertExpired = define(Def{ID: "CLIENT_CERT_EXPIRED", Severity: Error,
		Checks: "the client certificate is valid now", Consequence: AigwRefuses,
		Source: aigwVerifies,
		Fix:    "renew the client certificate (cert-manager: cmctl renew)"})
	ClientCertExpiresSoon = define(Def{ID: "CLIENT_CERT_EXPIRES_SOON", Severity: Warning,
		Checks: "the client certificate does not expire soon", Consequence: ExpiresSoon,
		Source: aigwVerifies,
		Fix:    "renew the client certificate"})
	ClientCertUntrusted = define(Def{ID: "CLIENT_CERT_UNTRUSTED", Severity: Error,
		Checks: "the client certificate chains to the CA aigw trusts", Consequence: AigwRefuses,
		Source: aigwVerifies,
		Fix:    "issue the client certificate from the CA aigw trusts (cert-manager: the aigw CA Issuer)"})
	ClientCertNoClientAuth = define(Def{ID: "CLIENT_CERT_NO_CLIENT_AUTH", Severity: Error,
		Checks: "the client certificate's extended key usage allows client auth", Consequence: AigwRefuses,
		Source: aigwVerifies,
		Fix:    "re-issue it with usages [client auth] (cert-manager: spec.usages)"})
	CertificateDropsSSLName = define(Def{ID: "CERTIFICATE_DROPS_SSLNAME", Severity: Error,
		Checks:      "an update of the aigw server Certificate keeps the names live Policies' sslName need",
		Consequence: CertificateDrop,
		Source:      "nginx proxy_ssl_name (OpenSSL X509_check_host) after cert-manager renews the certificate",
		Fix:         "keep those names in spec.dnsNames, or change those Policies' sslName first"})
	CertificateMissesSSLName = define(Def{ID: "CERTIFICATE_MISSES_SSLNAME", Severity: Warning,
		Checks:      "a new aigw server Certificate has the names live Policies' sslName need (a warning: it breaks nothing that works today)",
		Consequence: CertificateDrop,
		Source:      "nginx proxy_ssl_name (OpenSSL X509_check_host) once cert-manager issues the certificate",
		Fix:         "add those names to spec.dnsNames, or change those Policies' sslName"})
)
