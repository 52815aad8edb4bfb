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
	switch apiVersion + " " + kind {
	case "v1 Pod":
		return PatchPod
	case "v1 ConfigMap":
		return PatchConfigMap
	case "k8s.nginx.org/v1 VirtualServer":
		return PatchVirtualServer
	case "k8s.nginx.org/v1 VirtualServerRoute":
		return PatchVirtualServerRoute
	}
	return nil
}
