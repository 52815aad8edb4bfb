package rules

// The rules of the objects that route to aigw through NIC: VirtualServers, VirtualServerRoutes and
// Ingresses (virtualserver.go, ingress.go, ingress_policies.go).

const nicValidatePolicies = "NIC v5.5.4 pkg/apis/configuration/validation/virtualserver.go validatePolicies"

var (
	PolicyNotFirst = define(Def{ID: "POLICY_NOT_FIRST_EGRESS_MTLS", Severity: Warning,
		Checks:      "an egressMTLS Policy is the first egressMTLS Policy of its list (Ingress nginx.org/policies, a VirtualServer's spec.policies or a route's policies)",
		Consequence: PolicyIgnored,
		Source:      "NIC v5.5.4 internal/configs/policy.go addEgressMTLSConfig; internal/k8s/controller.go getPolicies",
		Fix:         "remove the reference to the Policy NIC ignores"})
	PolicyRefNotFound = define(Def{ID: "POLICY_REF_NOT_FOUND", Severity: Warning,
		Checks:      "a referenced Policy exists (a warning: GitOps tools apply objects in any order)",
		Consequence: "NIC answers 500 on the routes that reference it until it exists",
		Source:      "NIC v5.5.4 internal/configs/policy.go generatePolicies",
		Fix:         "apply the Policy"})
	VSGRPCRouteInheritsPolicy = define(Def{ID: "VS_GRPC_ROUTE_INHERITS_POLICY", Severity: Error,
		Checks:      "a route to a type: grpc upstream that inherits an egressMTLS Policy from spec.policies references it itself",
		Consequence: AigwRefuses,
		Source:      "NIC v5.5.4 internal/configs/version2/nginx.virtualserver.tmpl (server-level EgressMTLS block vs the location's $proxyOrGRPC)",
		Fix:         "add the Policy to the route's policies (NIC renders a route's Policy as grpc_ssl_* for gRPC upstreams)"})
	VSPolicyRefDuplicate = define(Def{ID: "VS_POLICY_REF_DUPLICATE", Severity: Error,
		Checks: "a policies list references each Policy once", Consequence: VSInvalid,
		Source: nicValidatePolicies,
		Fix:    "remove the duplicate reference"})
	VSPolicyRefNameMissing = define(Def{ID: "VS_POLICY_REF_NAME_MISSING", Severity: Error,
		Checks: "a policies entry has a name", Consequence: VSInvalid,
		Source: nicValidatePolicies,
		Fix:    "set name"})
	VSPolicyRefNameInvalid = define(Def{ID: "VS_POLICY_REF_NAME_INVALID", Severity: Error,
		Checks: "a policies entry's name is a DNS-1123 subdomain", Consequence: VSInvalid,
		Source: nicValidatePolicies,
		Fix:    "use the Policy's metadata.name; put its namespace in namespace"})
	VSPolicyRefNamespaceInvalid = define(Def{ID: "VS_POLICY_REF_NAMESPACE_INVALID", Severity: Error,
		Checks: "a policies entry's namespace is a DNS-1123 label", Consequence: VSInvalid,
		Source: nicValidatePolicies,
		Fix:    "set the Policy's namespace"})
	IngressSSLServicesMissing = define(Def{ID: "INGRESS_SSL_SERVICES_MISSING", Severity: Error,
		Checks:      "a labelled Ingress referencing an egressMTLS Policy lists its aigw Services in nginx.org/ssl-services",
		Consequence: PlainHTTP,
		Source:      "NIC v5.5.4 internal/configs/ingress.go generateNginxCfg (isSSLEnabled)",
		Fix:         "add the aigw Services to nginx.org/ssl-services (comma-separated, no spaces)"})
	IngressGRPCUnderServerPolicy = define(Def{ID: "INGRESS_GRPC_SERVICE_UNDER_SERVER_POLICY", Severity: Error,
		Checks:      "no aigw Service in nginx.org/grpc-services of a regular Ingress with an egressMTLS Policy",
		Consequence: GRPCFails,
		Source:      "NIC v5.5.4 internal/configs/version1/nginx.ingress.tmpl ($server.EgressMTLS vs $location.EgressMTLS); internal/configs/ingress.go generateNginxCfg",
		Fix:         "move the gRPC paths to a minion Ingress that references the Policy itself, with http2: \"true\" in NIC's ConfigMap"})
	IngressPoliciesEmpty = define(Def{ID: "INGRESS_POLICIES_EMPTY", Severity: Error,
		Checks: "nginx.org/policies is not empty", Consequence: IngressRejected,
		Source: "NIC v5.5.4 internal/k8s/validation.go validateCommaSeparatedList",
		Fix:    "list the Policies, or remove the annotation"})
	IngressPolicyRefInvalid = define(Def{ID: "INGRESS_POLICY_REF_INVALID", Severity: Error,
		Checks: "every nginx.org/policies entry is name or namespace/name, DNS-1123 subdomains", Consequence: IngressRejected,
		Source: "NIC v5.5.4 internal/k8s/validation.go validatePolicyNames",
		Fix:    "write each Policy as name or namespace/name"})
	IngressSSLServicesUnknown = define(Def{ID: "INGRESS_SSL_SERVICES_UNKNOWN", Severity: Error,
		Checks:      "nginx.org/ssl-services names only this Ingress's backend Services, split on ',' without trimming",
		Consequence: IngressRejected,
		Source:      "NIC v5.5.4 internal/k8s/validation.go validateServiceListAnnotation; internal/configs/parsing_helpers.go ParseServiceList",
		Fix:         "list only this Ingress's backend Services, without spaces (NIC does not trim them)"})
	IngressPolicyWAF = define(Def{ID: "INGRESS_POLICY_WAF", Severity: Error,
		Checks:      "no WAF Policy in nginx.org/policies (WAF only through nginx.com/policies)",
		Consequence: Host500 + " (of this minion, on a minion)",
		Source:      "NIC v5.5.4 internal/configs/ingress.go filterIngressPolicyRefs",
		Fix:         "move the Policy to nginx.com/policies (NGINX Plus)"})
	IngressPolicyTypeUnsupported = define(Def{ID: "INGRESS_POLICY_TYPE_UNSUPPORTED", Severity: Error,
		Checks:      "nginx.org/policies lists only Policy types NIC applies to Ingresses (" + ingressPolicyTypes + ")",
		Consequence: Host500 + " (of this minion, on a minion)",
		Source:      "NIC v5.5.4 internal/configs/policy.go IsPolicySupportedOnIngress, generatePolicies",
		Fix:         "remove the Policy from nginx.org/policies, or serve these paths from a VirtualServer"})
)
