package webhook

import (
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/aigw-mtls/aigw-mtls-webhook/internal/kinds"
	"github.com/aigw-mtls/aigw-mtls-webhook/internal/objects"
)

// Serving paths, as internal/kinds derives them (kubebuilder's convention); the chart calls each
// (test/chart TestChartMatchesKinds).
var (
	PathMutatePod                  = kinds.Pod.MutatePath()
	PathMutateConfigMap            = kinds.ConfigMap.MutatePath()
	PathMutateVirtualServer        = kinds.VirtualServer.MutatePath()
	PathMutateVirtualServerRoute   = kinds.VirtualServerRoute.MutatePath()
	PathValidatePolicy             = kinds.Policy.ValidatePath()
	PathValidateVirtualServer      = kinds.VirtualServer.ValidatePath()
	PathValidateVirtualServerRoute = kinds.VirtualServerRoute.ValidatePath()
	PathValidateCertificate        = kinds.Certificate.ValidatePath()
	PathMutateIngress              = kinds.Ingress.MutatePath()
	PathValidateIngress            = kinds.Ingress.ValidatePath()
	PathMutateBackendTLSPolicy     = kinds.BackendTLSPolicy.MutatePath()
	PathValidateBackendTLSPolicy   = kinds.BackendTLSPolicy.ValidatePath()
	PathValidateGateway            = kinds.Gateway.ValidatePath()
)

// Handlers returns the admission handlers by serving path, one for each mutation and each rule of
// internal/kinds; objs is where they look up other objects (the informer cache when serving).
func Handlers(o Options, objs objects.Objects) map[string]admission.Handler {
	excluded := map[string]bool{}
	for _, ns := range o.ExcludeNamespaces {
		excluded[ns] = true
	}
	out := map[string]admission.Handler{}
	for _, k := range kinds.All {
		if k.Mutate != nil {
			out[k.MutatePath()] = &Mutator{Kind: k.Kind, Patch: k.Mutate, CreateOnly: k.CreateOnly, Settings: o.Settings, Objects: objs, Excluded: excluded}
		}
		if k.Validate != nil {
			out[k.ValidatePath()] = &Validator{Kind: k.Kind, Validate: k.Validate, Settings: o.Settings, Objects: objs, Excluded: excluded}
		}
	}
	return out
}
