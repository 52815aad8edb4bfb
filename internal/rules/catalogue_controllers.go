package rules

// The controllers' own verdicts, as `check` reads them beside the rules above
// (controller_verdicts.go): the status NIC v5.5.4 writes on VirtualServers, VirtualServerRoutes and
// Policies, the Events it records on Ingresses, and the conditions NGF v2.6.7 writes on
// BackendTLSPolicies.

const (
	nicStatusWriters = "NIC v5.5.4 internal/k8s/status.go UpdateVirtualServerStatus, UpdateVirtualServerRouteStatusWithReferencedBy, UpdatePolicyStatus; " +
		"written by internal/k8s/controller.go updateVirtualServerStatusAndEvents, processProblems, UpdateVirtualServerStatusAndEventsOnDelete and internal/k8s/policy.go syncPolicy"
	nicIngressEvents = "NIC v5.5.4 internal/k8s/controller.go updateRegularIngressStatusAndEvents, updateMergeableIngressStatusAndEvents, processProblems, UpdateIngressStatusAndEventsOnDelete " +
		"(reasons in internal/logger/events.go; source component nginx-ingress-controller: cmd/nginx-ingress/main.go)"
	ngfBTPStatus = "NGF v2.6.7 internal/controller/status/prepare_requests.go PrepareBackendTLSPolicyRequests, status_setters.go newBackendTLSPolicyStatusSetter; " +
		"conditions from internal/controller/state/graph/backend_tls_policy.go validateBackendTLSPolicy and backend_refs.go findBackendTLSPolicyForService"
	// ngfInvalidBackend is where NGF v2.6.7 sends the requests of a backendRef whose
	// BackendTLSPolicy is not valid: the backendRef is invalid, its upstream is invalid-backend-ref,
	// whose one server is nginx's own, answering 500.
	ngfInvalidBackend = "NGF v2.6.7 internal/controller/state/graph/backend_refs.go createBackendRef (Valid false when findBackendTLSPolicyForService finds the policy invalid); " +
		"internal/controller/nginx/config/split_clients.go backendGroupName (invalid-backend-ref), upstreams.go createInvalidBackendRefUpstream " +
		"(server unix:/var/run/nginx/nginx-500-server.sock), servers_template.go (that server: return 500)"
	// ngfConflictWinner is how NGF v2.6.7 picks the one BackendTLSPolicy of a Service port and
	// what it renders for it.
	ngfConflictWinner = "NGF v2.6.7 internal/controller/state/graph/backend_refs.go findBackendTLSPolicyForService (the oldest policy naming the Service and port wins, " +
		"the others get Accepted False reason Conflicted); dataplane/configuration.go convertBackendTLS (no TLS for a policy without a target of kind Service)"
	// nicUnknown is what a missing verdict of NIC means at run time.
	nicUnknown = "nothing shows NIC serves it: when NIC does not watch it, nginx has no configuration for it and its requests never reach aigw"
)

var (
	NICStatusMissing = define(Def{ID: "NIC_STATUS_MISSING", Severity: Warning,
		Checks:      "NIC has written its verdict (status.state) on the VirtualServer, VirtualServerRoute or Policy",
		Consequence: nicUnknown,
		Source:      nicStatusWriters,
		Fix: "make sure NGINX Ingress Controller runs with -enable-custom-resources, watches this namespace (-watch-namespace, -watch-namespace-label) and that spec.ingressClassName " +
			"is its -ingress-class (or empty); with leader election only the leader writes statuses"})
	NICStatusInvalid = define(Def{ID: "NIC_STATUS_INVALID", Severity: Error,
		Checks:      "NIC's status.state is not Invalid",
		Consequence: "NIC rejected the object: a VirtualServer or VirtualServerRoute has none of its routes served, a Policy answers 500 on every route that references it",
		Source:      nicStatusWriters,
		Fix:         "correct what NIC's message names, then re-apply; kubectl describe shows NIC's Events"})
	NICStatusWarning = define(Def{ID: "NIC_STATUS_WARNING", Severity: Warning,
		Checks:      "NIC's status.state is not Warning",
		Consequence: "NIC serves the object in a degraded state: what its message names is left out of nginx's configuration",
		Source:      nicStatusWriters,
		Fix:         "correct what NIC's message names, then re-apply"})
	NICIngressEventsMissing = define(Def{ID: "NIC_INGRESS_EVENTS_MISSING", Severity: Warning,
		Checks: "NIC has recorded an Event on the Ingress",
		Consequence: nicUnknown + "; Events expire (kube-apiserver --event-ttl, 1h by default), so an Ingress " +
			"unchanged for longer has none even when NIC serves it",
		Source: nicIngressEvents,
		Fix: "re-apply the Ingress and run check again; if NIC still records nothing, make sure it watches this namespace (-watch-namespace) " +
			"and that spec.ingressClassName is its -ingress-class"})
	NICIngressRejected = define(Def{ID: "NIC_INGRESS_REJECTED", Severity: Error,
		Checks:      "NIC's latest Event on the Ingress is not Rejected, RejectedWithError or AddedOrUpdatedWithError",
		Consequence: "NIC serves none of the Ingress's paths (Rejected) or nginx kept its previous configuration (…WithError)",
		Source:      nicIngressEvents,
		Fix:         "correct what NIC's Event names, then re-apply; kubectl describe ingress shows NIC's Events"})
	NICIngressWarning = define(Def{ID: "NIC_INGRESS_WARNING", Severity: Warning,
		Checks:      "NIC's latest Event on the Ingress is not a warning (AddedOrUpdatedWithWarning)",
		Consequence: "NIC serves the Ingress in a degraded state: what its Event names is left out of nginx's configuration",
		Source:      nicIngressEvents,
		Fix:         "correct what NIC's Event names, then re-apply"})
	NGFStatusMissing = define(Def{ID: "NGF_STATUS_MISSING", Severity: Warning,
		Checks: "NGINX Gateway Fabric (controllerName gateway.nginx.org/…) has written an ancestor status on the BackendTLSPolicy",
		Consequence: "nothing shows NGF applies it: NGF writes a BackendTLSPolicy's status only when an HTTPRoute or GRPCRoute attached to its Gateway sends to the Service; " +
			"without that, nginx speaks plain HTTP to aigw or has no route to it",
		Source: ngfBTPStatus,
		Fix:    "make sure NGINX Gateway Fabric runs and a route attached to its Gateway has the aigw Service as backendRef"})
	NGFNotAccepted = define(Def{ID: "NGF_NOT_ACCEPTED", Severity: Error,
		Checks:      "NGF's condition Accepted is not False",
		Consequence: "by NGF's reason: Invalid or NoValidCACertificate: " + NGFInvalidBackend + "; Conflicted: " + NGFConflicted,
		Source:      ngfBTPStatus + "; " + ngfInvalidBackend + "; " + ngfConflictWinner,
		Fix:         "correct what NGF's message names (a conflict: one BackendTLSPolicy per Service port), then re-apply"})
	NGFRefsUnresolved = define(Def{ID: "NGF_REFS_UNRESOLVED", Severity: Error,
		Checks:      "NGF's condition ResolvedRefs is not False",
		Consequence: "NGF cannot read the CA the BackendTLSPolicy names (reason NoValidCACertificate), so " + NGFInvalidBackend,
		Source:      ngfBTPStatus + "; " + ngfInvalidBackend,
		Fix:         "make validation.caCertificateRefs name a ConfigMap (or Secret) in the policy's namespace holding ca.crt"})
	NGFStatusStale = define(Def{ID: "NGF_STATUS_STALE", Severity: Warning,
		Checks:      "NGF's conditions observed the BackendTLSPolicy's current generation",
		Consequence: "NGF's verdict is about an earlier spec: whether it applies the current one is not known yet",
		Source:      ngfBTPStatus + "; conditions.ConvertConditions sets observedGeneration",
		Fix:         "wait for NGF to process the change; if it stays stale, NGF is not running or not processing it"})
	ControllerRejectsAdmitted = define(Def{ID: "CONTROLLER_REJECTS_ADMITTED", Severity: Error,
		Checks: "the controller accepts what our rules admit",
		Consequence: "the controller does not serve the object although our rules find nothing wrong: either a rule of ours misses what the controller checks, " +
			"or the controller's status predates the last change",
		Source: nicStatusWriters + "; " + nicIngressEvents + "; " + ngfBTPStatus,
		Fix:    "correct what the controller's message names and re-apply; if the message is about something our rules should catch, report it as a missing rule"})
	ControllerAcceptsRejected = define(Def{ID: "CONTROLLER_ACCEPTS_REJECTED", Severity: Warning,
		Checks: "the controller does not accept what our rules refuse",
		Consequence: "the controller serves the object although our rules find errors in it: what they find fails at run time (a certificate nginx cannot verify, a route " +
			"without the client certificate), or the controller's verdict predates the change that broke it",
		Source: nicStatusWriters + "; " + nicIngressEvents + "; " + ngfBTPStatus,
		Fix:    "fix the errors reported for this object"})
)
