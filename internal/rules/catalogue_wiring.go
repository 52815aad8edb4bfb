package rules

// The rules of the wiring the mutations add (package patches): an error stops the mutation. The
// *_UNWIRED and POD_NOT_MOUNTED rules are what `check` reports about an object admitted without the
// webhook: what its wiring would add.

const (
	webhookWiring = "the webhook's wiring (package patches)"
)

var (
	PodNoContainer = define(Def{ID: "POD_NO_CONTAINER", Severity: Error,
		Checks: "a labelled pod has a container to wire", Consequence: NotMounted,
		Source: webhookWiring,
		Fix:    "add the aigw container"})
	PodContainerNotFound = define(Def{ID: "POD_CONTAINER_NOT_FOUND", Severity: Error,
		Checks: "mtls.aigw.io/container names one of spec.containers", Consequence: NotMounted,
		Source: webhookWiring,
		Fix:    "name an existing container (init and ephemeral containers are not injected) or remove the annotation"})
	PodMountVolumeMissing = define(Def{ID: "POD_MOUNT_VOLUME_MISSING", Severity: Error,
		Checks: "a mount at the CA or server certificate path has its volume", Consequence: NotMounted,
		Source: "Kubernetes pod validation (a volumeMount names a volume of spec.volumes)",
		Fix:    "add the volume or remove the mount"})
	PodMountConflict = define(Def{ID: "POD_MOUNT_CONFLICT", Severity: Error,
		Checks: "what is mounted at the CA or server certificate path is that Secret, as a directory with its files", Consequence: NotMounted,
		Source: webhookWiring,
		Fix:    "move that mount off the path, or remove it and let the webhook mount the Secret there"})
	PodVolumeConflict = define(Def{ID: "POD_VOLUME_CONFLICT", Severity: Error,
		Checks: "a volume named like the webhook's is that Secret with its files", Consequence: NotMounted,
		Source: webhookWiring,
		Fix:    "rename that volume, or remove it so the webhook can add its own"})
	PodNotMounted = define(Def{ID: "POD_NOT_MOUNTED", Severity: Error,
		Checks: "a labelled pod mounts the CA and server certificate Secrets", Consequence: NotMounted,
		Source: webhookWiring,
		Fix:    "delete the pod (or roll out its workload) so it is created again through the webhook: a pod's volumes cannot change"})
	ConfigKeyMissing = define(Def{ID: "CONFIGMAP_KEY_MISSING", Severity: Warning,
		Checks: "a labelled ConfigMap holds the aigw config under the configured key", Consequence: ConfigUnwired,
		Source: webhookWiring,
		Fix:    "put the aigw config under that key, or set the webhook's config key to the key aigw reads"})
	ConfigYAMLInvalid = define(Def{ID: "CONFIGMAP_YAML_INVALID", Severity: Error,
		Checks: "the aigw config is valid YAML with a mapping at the top", Consequence: ConfigUnwired,
		Source: webhookWiring,
		Fix:    "correct the YAML at that line"})
	ConfigTooLarge = define(Def{ID: "CONFIGMAP_CONFIG_TOO_LARGE", Severity: Error,
		Checks: "the aigw config is within the bytes and YAML nodes the mutation parses (patches.MaxAIGWConfigBytes, MaxAIGWConfigNodes)", Consequence: ConfigUnwired,
		Source: webhookWiring,
		Fix:    "keep aigw's config small (a real one is a few KiB): move large data out of it"})
	ConfigTLSUnwired = define(Def{ID: "CONFIGMAP_TLS_UNWIRED", Severity: Error,
		Checks: "the aigw config's server.tls and server.mtls paths are the mounted files", Consequence: ConfigUnwired,
		Source: webhookWiring,
		Fix:    "re-apply the ConfigMap through the webhook so it sets them, then restart aigw"})
	WiringPolicyAnnotationInvalid = define(Def{ID: "WIRING_POLICY_ANNOTATION_INVALID", Severity: Error,
		Checks: "mtls.aigw.io/policy (or --policy) is a Policy name or namespace/name", Consequence: NotRouted,
		Source: webhookWiring,
		Fix:    "name the EgressMTLS Policy, e.g. aigw-mtls or ai-gateway/aigw-mtls"})
	VSUpstreamsAnnotationUnknown = define(Def{ID: "VS_UPSTREAMS_ANNOTATION_UNKNOWN", Severity: Error,
		Checks: "mtls.aigw.io/upstreams names only upstreams of the object", Consequence: NotRouted,
		Source: webhookWiring,
		Fix:    "name only existing upstreams, or remove the annotation to wire all of them"})
	VSOtherEgressPolicy = define(Def{ID: "VS_OTHER_EGRESS_POLICY", Severity: Error,
		Checks:      "a route to aigw references no egressMTLS Policy other than the one to wire, before it",
		Consequence: PolicyIgnored,
		Source:      "NIC v5.5.4 internal/configs/policy.go addEgressMTLSConfig (the first egressMTLS Policy only)",
		Fix:         "remove the other reference, or set annotation mtls.aigw.io/policy to it"})
	VSUpstreamTLSUnwired = define(Def{ID: "VS_UPSTREAM_TLS_UNWIRED", Severity: Error,
		Checks: "an aigw upstream sets tls.enable: true", Consequence: PlainHTTP,
		Source: "NIC v5.5.4 internal/configs/virtualserver.go generateProxyPass, generateProxyPassProtocol (http:// unless tls.enable)",
		Fix:    "re-apply the object through the webhook, or set tls.enable: true on the upstream"})
	VSRoutePolicyUnwired = define(Def{ID: "VS_ROUTE_POLICY_UNWIRED", Severity: Error,
		Checks: "a route to an aigw upstream references the EgressMTLS Policy", Consequence: NoClientCert,
		Source: "NIC v5.5.4 internal/configs/policy.go generatePolicies",
		Fix:    "re-apply the object through the webhook, or add the Policy to the route's policies"})
	VSRInheritsPolicies = define(Def{ID: "VSR_INHERITS_POLICIES", Severity: Warning,
		Checks:      "a subroute to aigw has policies of its own, or inherits the Policy from the VirtualServer route that delegates to it",
		Consequence: "the subroute gets the Policy only if that VirtualServer route references it",
		Source:      "NIC v5.5.4 internal/configs/virtualserver.go GenerateVirtualServerConfig (vsrPoliciesFromVs: a subroute without policies gets the route's)",
		Fix:         "make sure the delegating route references the Policy (the webhook adds it when the VirtualServer is labelled)"})
	IngressMasterNotWired = define(Def{ID: "INGRESS_MASTER_NOT_WIRED", Severity: Warning,
		Checks:      "the labelled Ingress is not a mergeable master (a master has no paths)",
		Consequence: "the master stays as it is: its minions, once labelled, are wired instead",
		Source:      "NIC v5.5.4 internal/configs/ingress.go generateNginxCfgForMergeableIngresses; annotations.go filterMasterAnnotations (masterDenylist: nginx.org/ssl-services is ignored on a master)",
		Fix:         "label the minions that send to aigw"})
	IngressNoBackend = define(Def{ID: "INGRESS_NO_BACKEND", Severity: Warning,
		Checks: "a labelled Ingress has a backend Service", Consequence: "the Ingress stays as it is",
		Source: webhookWiring,
		Fix:    "add the paths to aigw, or remove the label"})
	IngressServicesAnnotationUnknown = define(Def{ID: "INGRESS_SERVICES_ANNOTATION_UNKNOWN", Severity: Error,
		Checks: "mtls.aigw.io/services names only backend Services of the Ingress", Consequence: NotRouted,
		Source: webhookWiring,
		Fix:    "name only backend Services of this Ingress, or remove the annotation to wire those the Policy's sslName names"})
	IngressNoAigwService = define(Def{ID: "INGRESS_NO_AIGW_SERVICE", Severity: Warning,
		Checks: "the Policy's sslName names a backend Service of the Ingress (the aigw Service)", Consequence: LeftAsIs,
		Source: webhookWiring,
		Fix:    "apply the Policy first and re-apply the Ingress, or name the aigw Services in mtls.aigw.io/services"})
	IngressServicesLeftOut = define(Def{ID: "INGRESS_SERVICES_LEFT_OUT", Severity: Warning,
		Checks: "every backend Service of the Ingress is aigw, or named in mtls.aigw.io/services", Consequence: LeftAsIs,
		Source: webhookWiring,
		Fix:    "if one of them is aigw, name it in mtls.aigw.io/services"})
	IngressOtherEgressPolicy = define(Def{ID: "INGRESS_OTHER_EGRESS_POLICY", Severity: Error,
		Checks:      "nginx.org/policies references no egressMTLS Policy other than the one to wire, before it",
		Consequence: PolicyIgnored,
		Source:      "NIC v5.5.4 internal/configs/policy.go addEgressMTLSConfig (the first egressMTLS Policy only)",
		Fix:         "remove the other Policy from nginx.org/policies, or set annotation mtls.aigw.io/policy to it"})
	IngressSSLServicesUnwired = define(Def{ID: "INGRESS_SSL_SERVICES_UNWIRED", Severity: Error,
		Checks: "nginx.org/ssl-services lists the aigw Services", Consequence: PlainHTTP,
		Source: "NIC v5.5.4 internal/configs/ingress.go generateNginxCfg (isSSLEnabled)",
		Fix:    "re-apply the Ingress through the webhook, or add the aigw Services to nginx.org/ssl-services"})
	IngressPolicyUnwired = define(Def{ID: "INGRESS_POLICY_UNWIRED", Severity: Error,
		Checks: "nginx.org/policies references the EgressMTLS Policy", Consequence: NoClientCert,
		Source: "NIC v5.5.4 internal/configs/ingress.go generateNginxCfg",
		Fix:    "re-apply the Ingress through the webhook, or add the Policy to nginx.org/policies"})
	BTPHostnameUnderivable = define(Def{ID: "BTP_HOSTNAME_UNDERIVABLE", Severity: Error,
		Checks: "a labelled BackendTLSPolicy has a hostname, or a targetRef of kind Service to derive it from", Consequence: NGFInvalidBackend, // validateBackendTLSPolicy: no hostname or CA is Invalid
		Source: ngfBTPValidation,
		Fix:    "set hostname to the name the aigw server certificate covers"})
	BTPHostnameUnwired = define(Def{ID: "BTP_HOSTNAME_UNWIRED", Severity: Error,
		Checks: "a labelled BackendTLSPolicy sets validation.hostname", Consequence: NGFInvalidBackend, // validateBackendTLSPolicy: no hostname or CA is Invalid
		Source: ngfBTPValidation,
		Fix:    "re-apply the BackendTLSPolicy through the webhook, or set hostname to the targeted Service's DNS name"})
	BTPCAUnwired = define(Def{ID: "BTP_CA_UNWIRED", Severity: Error,
		Checks: "a labelled BackendTLSPolicy sets caCertificateRefs (or wellKnownCACertificates)", Consequence: NGFInvalidBackend, // validateBackendTLSPolicy: no hostname or CA is Invalid
		Source: ngfBTPValidation,
		Fix:    "re-apply the BackendTLSPolicy through the webhook, or set caCertificateRefs to the ConfigMap the CA sync keeps"})
)
