package rules

import (
	"time"

	"github.com/aigw-mtls/aigw-mtls-webhook/internal/aigw"
	"github.com/aigw-mtls/aigw-mtls-webhook/internal/objects"
)

// Rule judges one object: raw is the object, oldRaw the object it replaces (nil on CREATE).
type Rule func(raw, oldRaw []byte, namespace string, s aigw.Settings, objs objects.Objects, now time.Time) (Findings, error)

// For returns the rule for an object's apiVersion and kind, or nil for kinds without one.
func For(apiVersion, kind string) Rule {
	ignoreOld := func(r func([]byte, string, aigw.Settings, objects.Objects, time.Time) (Findings, error)) Rule {
		return func(raw, _ []byte, ns string, s aigw.Settings, objs objects.Objects, now time.Time) (Findings, error) {
			return r(raw, ns, s, objs, now)
		}
	}
	switch aigw.Kind(apiVersion, kind) {
	case aigw.KindPolicy:
		return ignoreOld(Policy)
	case aigw.KindVirtualServer:
		return ignoreOld(VirtualServer)
	case aigw.KindVirtualServerRoute:
		return ignoreOld(VirtualServerRoute)
	case aigw.KindCertificate:
		return Certificate
	case aigw.KindIngress:
		return ignoreOld(Ingress)
	case aigw.KindBackendTLSPolicy:
		return ignoreOld(BackendTLSPolicy)
	case aigw.KindGateway:
		return ignoreOld(Gateway)
	}
	return nil
}
