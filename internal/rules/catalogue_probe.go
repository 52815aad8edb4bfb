package rules

// The rules of the live TLS probe of aigw's endpoints (internal/probe): what aigw serves, as
// opposed to what the objects say. The served certificate itself is judged with the certificate
// rules (SERVER_CERT_*, POLICY_VERIFY_DEPTH_TOO_LOW, POLICY_SSLNAME_NOT_IN_SAN), with the endpoint
// named in the field.

// probeSource says where the probe's SNI comes from: nginx sends one only with
// proxy_ssl_server_name on (its default is off), which NIC renders from egressMTLS.serverName and
// NGF always renders for a BackendTLSPolicy (test/nginx/sni_test.go shows both on real nginx).
const probeSource = "the webhook's TLS probe: the handshake nginx makes (SNI when serverName is true, the Policy's protocols), without NIC's client key; " +
	"SNI: NIC v5.5.4 internal/configs/policy.go addEgressMTLSConfig (ServerName), version2/nginx.virtualserver.tmpl " +
	"proxy_ssl_server_name {{ if .ServerName }}on{{else}}off{{end}}, proxy_ssl_name {{ .SSLName }}; nginx's default off " +
	"(ngx_http_proxy_module.c ngx_http_proxy_merge_loc_conf); for a BackendTLSPolicy, NGF v2.6.7 internal/controller/nginx/config/servers_template.go " +
	"proxy_ssl_server_name on, proxy_ssl_name validation.hostname (servers.go createProxySSLVerify)"

var (
	ProbeNoReadyEndpoint = define(Def{ID: "PROBE_NO_READY_ENDPOINT", Severity: Error,
		Checks:      "the aigw Service a Policy serves has a ready endpoint on the upstream's port (its EndpointSlices)",
		Consequence: "nginx has no aigw endpoint to connect to: it answers 502",
		Source:      probeSource + "; NIC resolves upstreams from the Service's EndpointSlices",
		Fix:         "start aigw, or correct the Service's selector and port"})
	ProbeUnreachable = define(Def{ID: "PROBE_UNREACHABLE", Severity: Error,
		Checks:      "the endpoint accepts a TCP connection within the probe's dial timeout",
		Consequence: "nginx cannot connect to this aigw endpoint: it answers 502 for the requests sent there",
		Source:      probeSource,
		Fix:         "check that aigw listens on the endpoint's port and that no NetworkPolicy blocks it"})
	ProbeNotTLS = define(Def{ID: "PROBE_NOT_TLS", Severity: Error,
		Checks:      "the endpoint answers TLS on the upstream's port",
		Consequence: "nginx's TLS handshake with aigw fails: it answers 502",
		Source:      probeSource,
		Fix:         "point the Service's port at aigw's TLS listener (server.tls in aigw's config)"})
	ProbeHandshakeFailed = define(Def{ID: "PROBE_HANDSHAKE_FAILED", Severity: Error,
		Checks:      "the endpoint completes the TLS handshake nginx starts: its SNI and the Policy's protocols",
		Consequence: Nginx502,
		Source:      probeSource,
		Fix:         "let aigw serve one of the Policy's protocols (spec.egressMTLS.protocols: TLSv1.2 TLSv1.3)"})
	ProbeStaleServerCert = define(Def{ID: "PROBE_STALE_SERVER_CERT", Severity: Error,
		Checks:      "the endpoint serves the certificate of the aigw server TLS Secret (tls.crt)",
		Consequence: "aigw still serves the certificate it loaded at start: it has not reloaded since the Secret was renewed, and nginx answers 502 once the served certificate expires or its CA is rotated out",
		Source:      probeSource + "; aigw reads its certificate at start only",
		Fix:         "restart aigw (kubectl rollout restart deployment/aigw) and annotate its Deployment mtls.aigw.io/restart-on-renewal: \"true\" (chart: restartOnRenewal)"})
	ProbeNoClientCertRequest = define(Def{ID: "PROBE_NO_CLIENT_CERT_REQUEST", Severity: Error,
		Checks:      "the endpoint asks for a client certificate (a TLS CertificateRequest)",
		Consequence: "aigw does not authenticate NIC: any client that reaches it is served",
		Source:      probeSource + "; aigw asks for one only with server.mtls.enabled: true",
		Fix:         "set server.mtls.enabled: true with the client CA in aigw's config (the labelled ConfigMap), then restart aigw"})
	ProbeClientCANotAccepted = define(Def{ID: "PROBE_CLIENT_CA_NOT_ACCEPTED", Severity: Error,
		Checks:      "the CAs aigw names in its CertificateRequest include the issuer of NIC's client certificate (spec.egressMTLS.tlsSecret)",
		Consequence: AigwRefuses,
		Source:      probeSource + "; " + aigwVerifies + " names the subjects of its client CA pool",
		Fix:         "point aigw's server.mtls client CA at the CA that issued NIC's client certificate, then restart aigw"})
)
