package patches

import (
	"github.com/aigw-mtls/aigw-mtls-webhook/internal/aigw"
	"github.com/aigw-mtls/aigw-mtls-webhook/internal/objects"
)

// Mutation is the signature every mutation shares (internal/kinds names each kind's).
// objs is where the mutation looks up other objects (Policies for a VirtualServer); it may be nil
// for kinds that consult none.
type Mutation func(raw []byte, namespace string, s aigw.Settings, objs objects.Objects) (Result, error)
