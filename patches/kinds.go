package patches

import (
	"github.com/aigw-mtls/aigw-mtls-webhook/internal/aigw"
	"github.com/aigw-mtls/aigw-mtls-webhook/internal/objects"
)

// Mutation is the signature every mutation shares.
// objs is where the mutation looks up other objects (Policies for a VirtualServer); it may be nil
// for kinds that consult none.
type Mutation func(raw []byte, namespace string, s aigw.Settings, objs objects.Objects) (Result, error)

// MutationFor returns the mutation for an object's apiVersion and kind, or nil for kinds the
// webhook does not mutate.
func MutationFor(apiVersion, kind string) Mutation {
	switch aigw.Kind(apiVersion, kind) {
	case aigw.KindPod:
		return PatchPod
	case aigw.KindConfigMap:
		return PatchConfigMap
	case aigw.KindVirtualServer:
		return PatchVirtualServer
	case aigw.KindVirtualServerRoute:
		return PatchVirtualServerRoute
	case aigw.KindIngress:
		return PatchIngress
	case aigw.KindBackendTLSPolicy:
		return PatchBackendTLSPolicy
	}
	return nil
}
