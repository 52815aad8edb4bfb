package kinds

import (
	"github.com/aigw-mtls/aigw-mtls-webhook/internal/rules"
	"github.com/aigw-mtls/aigw-mtls-webhook/patches"
)

var createUpdate = []string{"CREATE", "UPDATE"}

// The table. Adding a kind: its row here and in All, its rule (internal/rules) and mutation
// (patches), their fixtures (internal/rules/testdata, patches), and its stanza in the chart's
// webhooks.yaml (and rbac.yaml when it is cached). docs/architecture.md, "Adding a kind", lists
// the files.
var (
	Pod = &Kind{Version: "v1", Kind: "Pod", Resource: "pods",
		Mutate: patches.PatchPod, CreateOnly: true,
		MutateHooks: []Hook{
			{Name: "pods.mtls.aigw.io", Operations: []string{"CREATE"}},
			// An UPDATE is only ever answered with a warning (the pod is wired at its next
			// rollout): with the webhook down, label edits and finalizer removals must go through.
			{Name: "pod-updates.mtls.aigw.io", Operations: []string{"UPDATE"}, Ignore: true},
		}}
	ConfigMap = &Kind{Version: "v1", Kind: "ConfigMap", Resource: "configmaps",
		Mutate:      patches.PatchConfigMap,
		MutateHooks: []Hook{{Name: "configmaps.mtls.aigw.io", Operations: createUpdate}},
		// The CA ConfigMaps BackendTLSPolicies reference (the CA sync labels its own).
		Cache: &Cache{Labelled: true, GatewayAPI: true}}
	// Secret is read, never admitted: the certificates the rules check.
	Secret = &Kind{Version: "v1", Kind: "Secret", Resource: "secrets",
		Cache: &Cache{Labelled: true, CertificatesOnly: true, SecretNamespaces: true}}
	// Policy is cached whole: Policies are small, hold no key material, and a labelled
	// VirtualServer or Ingress may reference an unlabelled one.
	Policy = &Kind{Group: "k8s.nginx.org", Version: "v1", Kind: "Policy", Resource: "policies",
		Validate:      ignoreOld(rules.Policy),
		ValidateHooks: []Hook{{Name: "policies.mtls.aigw.io", Operations: createUpdate}},
		Cache:         &Cache{}}
	VirtualServer = &Kind{Group: "k8s.nginx.org", Version: "v1", Kind: "VirtualServer", Resource: "virtualservers",
		Mutate:        patches.PatchVirtualServer,
		MutateHooks:   []Hook{{Name: "virtualservers.mtls.aigw.io", Operations: createUpdate}},
		Validate:      ignoreOld(rules.VirtualServer),
		ValidateHooks: []Hook{{Name: "virtualservers.validate.mtls.aigw.io", Operations: createUpdate}}}
	VirtualServerRoute = &Kind{Group: "k8s.nginx.org", Version: "v1", Kind: "VirtualServerRoute", Resource: "virtualserverroutes",
		Mutate:        patches.PatchVirtualServerRoute,
		MutateHooks:   []Hook{{Name: "virtualserverroutes.mtls.aigw.io", Operations: createUpdate}},
		Validate:      ignoreOld(rules.VirtualServerRoute),
		ValidateHooks: []Hook{{Name: "virtualserverroutes.validate.mtls.aigw.io", Operations: createUpdate}}}
	Ingress = &Kind{Group: "networking.k8s.io", Version: "v1", Kind: "Ingress", Resource: "ingresses",
		Mutate:        patches.PatchIngress,
		MutateHooks:   []Hook{{Name: "ingresses.mtls.aigw.io", Operations: createUpdate}},
		Validate:      ignoreOld(rules.Ingress),
		ValidateHooks: []Hook{{Name: "ingresses.validate.mtls.aigw.io", Operations: createUpdate}}}
	Certificate = &Kind{Group: "cert-manager.io", Version: "v1", Kind: "Certificate", Resource: "certificates",
		Validate: rules.Certificate,
		ValidateHooks: []Hook{
			// An update that would drop a DNS name a live Policy's sslName needs is refused.
			{Name: "certificates.mtls.aigw.io", Operations: []string{"UPDATE"}},
			// A new Certificate is only ever warned about, so CREATE does not fail closed: the
			// chart's own labelled Certificates may be created before any replica answers.
			{Name: "new-certificates.mtls.aigw.io", Operations: []string{"CREATE"}, Ignore: true},
		},
		Cache: &Cache{Labelled: true}}
	// BackendTLSPolicy is cached whole: small, keyless, and an unlabelled one targeting the aigw
	// Service conflicts with a labelled one.
	BackendTLSPolicy = &Kind{Group: "gateway.networking.k8s.io", Version: "v1", Kind: "BackendTLSPolicy", Resource: "backendtlspolicies",
		GatewayAPI:    true,
		Mutate:        patches.PatchBackendTLSPolicy,
		MutateHooks:   []Hook{{Name: "backendtlspolicies.mtls.aigw.io", Operations: createUpdate}},
		Validate:      ignoreOld(rules.BackendTLSPolicy),
		ValidateHooks: []Hook{{Name: "backendtlspolicies.validate.mtls.aigw.io", Operations: createUpdate}},
		Cache:         &Cache{GatewayAPI: true}}
	// Service, HTTPRoute, GRPCRoute and ReferenceGrant are read, never admitted: which ports of
	// the Service the routes send to decides a BackendTLSPolicy's conflicts and sectionName
	// (rules.BackendTLSPolicy). Every one is cached, unlabelled, but only what that reads (Keep).
	Service = &Kind{Version: "v1", Kind: "Service", Resource: "services",
		Cache: &Cache{GatewayAPI: true, Keep: KeepServicePorts}}
	HTTPRoute = &Kind{Group: "gateway.networking.k8s.io", Version: "v1", Kind: "HTTPRoute", Resource: "httproutes",
		GatewayAPI: true,
		Cache:      &Cache{GatewayAPI: true, Keep: KeepBackendRefs}}
	GRPCRoute = &Kind{Group: "gateway.networking.k8s.io", Version: "v1", Kind: "GRPCRoute", Resource: "grpcroutes",
		GatewayAPI: true,
		Cache:      &Cache{GatewayAPI: true, Keep: KeepBackendRefs}}
	// ReferenceGrant v1beta1: the one version every Gateway API release NGF v2.6.7 supports serves
	// (its README: v1.2.1 to v1.5.x; go.mod sigs.k8s.io/gateway-api v1.5.1). Releases before v1.5.0
	// serve v1beta1 alone; v1.5.x and v1.6 serve v1 and v1beta1 (still the stored version), the
	// same fields. NGF reads v1 when that CRD version is served and falls back to v1beta1 otherwise (NGF v2.6.7
	// internal/controller/manager.go registerControllers, "ReferenceGrant v1 CRD not found, falling
	// back to v1beta1", and prepareFirstEventBatchPreparerArgs; state/change_processor.go
	// refGrantTrackingCfg with state/store.go convertingReferenceGrantStore), so both read the same
	// grants.
	ReferenceGrant = &Kind{Group: "gateway.networking.k8s.io", Version: "v1beta1", Kind: "ReferenceGrant", Resource: "referencegrants",
		GatewayAPI: true,
		Cache:      &Cache{GatewayAPI: true, Keep: KeepSpec}}
	// Gateway is validated from the request and the cached Secrets alone.
	Gateway = &Kind{Group: "gateway.networking.k8s.io", Version: "v1", Kind: "Gateway", Resource: "gateways",
		GatewayAPI:    true,
		Validate:      ignoreOld(rules.Gateway),
		ValidateHooks: []Hook{{Name: "gateways.validate.mtls.aigw.io", Operations: createUpdate}}}
)

// All rows, in the chart's order.
var All = []*Kind{Pod, ConfigMap, Secret, Policy, VirtualServer, VirtualServerRoute, Ingress, Certificate, BackendTLSPolicy, Gateway,
	Service, HTTPRoute, GRPCRoute, ReferenceGrant}
