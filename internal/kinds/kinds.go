// Package kinds is the one table of the kinds of objects the webhook admits or reads. The serving
// paths and handlers (webhook.Handlers), the mutation and rule of a kind (inject, validate,
// admission), the informer cache and the RBAC it needs derive from it; the chart's
// webhooks.yaml and rbac.yaml are held equal to it by test/chart (TestChartMatchesKinds).
package kinds

import (
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/aigw-mtls/aigw-mtls-webhook/internal/aigw"
	"github.com/aigw-mtls/aigw-mtls-webhook/internal/objects"
	"github.com/aigw-mtls/aigw-mtls-webhook/internal/rules"
	"github.com/aigw-mtls/aigw-mtls-webhook/patches"
)

// Kind is one row of the table.
type Kind struct {
	Group, Version, Kind string
	// Resource is the API resource the webhook configurations match (the CRD's plural).
	Resource string

	// Mutate is the mutation (nil: not mutated), registered by MutateHooks.
	Mutate      patches.Mutation
	MutateHooks []Hook
	// CreateOnly objects (Pods) are patched on CREATE only: an UPDATE is answered with a warning.
	CreateOnly bool

	// Validate is the rule (nil: not validated), registered by ValidateHooks.
	Validate      rules.Rule
	ValidateHooks []Hook

	// GatewayAPI kinds are registered only with Gateway API on (chart value gatewayAPI.enabled):
	// their CRDs may be absent.
	GatewayAPI bool

	// Cache is what the informer cache holds of the kind (nil: nothing).
	Cache *Cache
}

// Hook is one webhook of a configuration: the chart's stanza for a kind's path.
type Hook struct {
	Name       string   // the webhook's name in the chart
	Operations []string // CREATE, UPDATE
	// Ignore: failurePolicy Ignore whatever the chart's failurePolicy value (what the webhook only
	// ever warns about must not fail closed); otherwise the value (default Fail).
	Ignore bool
}

// Cache says which objects of a kind the informer cache holds.
type Cache struct {
	// Labelled: only objects carrying the selector label (chart values selector.key/value).
	Labelled bool
	// CertificatesOnly: Secrets keep only their certificates (webhook.KeepCertificates).
	CertificatesOnly bool
	// SecretNamespaces: held only in the namespaces of access.secretNamespaces (flag
	// --secret-namespaces), read through a Role in each; otherwise cluster wide (the ClusterRole).
	SecretNamespaces bool
	// GatewayAPI: cached only with Gateway API on.
	GatewayAPI bool
	// Status: the rules read the object's status. Otherwise it is dropped before the object
	// enters the cache, with managedFields and kubectl's last-applied copy of the object, which
	// no rule reads either (webhook.TrimCached).
	Status bool
	// Keep: the cache holds only these fields of each object (KeepAll: everything but the above).
	Keep Keep
}

// Keep is what the cache holds of an object beyond its identity, version and age
// (webhook.TrimCached applies it, with the metadata webhook's keptMetaFields lists).
type Keep int

const (
	// KeepAll: the whole object, less what Cache.Status and TrimCached drop.
	KeepAll Keep = iota
	// KeepServicePorts: spec.ports[].name and .port (a Service's labels, annotations, selector,
	// IPs and status go).
	KeepServicePorts
	// KeepBackendRefs: the group, kind, name, namespace and port of spec.rules[].backendRefs[] and
	// of spec.rules[].filters[].requestMirror.backendRef (a route's labels, annotations,
	// parentRefs, hostnames, matches, other filters and status go).
	KeepBackendRefs
	// KeepSpec: the spec (labels, annotations and status go).
	KeepSpec
)

// Reinvocation is every mutating webhook's reinvocationPolicy: a mutation is idempotent, and a
// later mutating webhook (a sidecar injector) may add what it wires.
const Reinvocation = "IfNeeded"

// SideEffects is every webhook's sideEffects: dry runs are answered like real requests.
const SideEffects = "None"

// CacheVerbs are what RBAC must grant on a cached kind: the informer lists and watches it.
var CacheVerbs = []string{"get", "list", "watch"}

// APIVersion is the kind's apiVersion as objects spell it.
func (k *Kind) APIVersion() string {
	if k.Group == "" {
		return k.Version
	}
	return k.Group + "/" + k.Version
}

// GroupVersionKind of the kind.
func (k *Kind) GroupVersionKind() schema.GroupVersionKind {
	return schema.GroupVersionKind{Group: k.Group, Version: k.Version, Kind: k.Kind}
}

// MutatePath is the serving path of the mutation (kubebuilder's convention), "" without one.
func (k *Kind) MutatePath() string {
	if k.Mutate == nil {
		return ""
	}
	return k.path("mutate")
}

// ValidatePath is the serving path of the rule, "" without one.
func (k *Kind) ValidatePath() string {
	if k.Validate == nil {
		return ""
	}
	return k.path("validate")
}

func (k *Kind) path(verb string) string {
	p := "/" + verb + "-"
	if k.Group != "" {
		p += strings.ReplaceAll(k.Group, ".", "-") + "-"
	}
	return p + k.Version + "-" + strings.ToLower(k.Kind)
}

// Of is the row of an object's apiVersion and kind, nil for kinds the webhook does not know.
func Of(apiVersion, kind string) *Kind {
	for _, k := range All {
		if k.Kind == kind && k.APIVersion() == apiVersion {
			return k
		}
	}
	return nil
}

// Named is the row of a kind by its name alone (objects.Objects lookups name kinds so), nil if none.
func Named(kind string) *Kind {
	for _, k := range All {
		if k.Kind == kind {
			return k
		}
	}
	return nil
}

// MutationFor is the mutation of an object's apiVersion and kind, nil if it is not mutated.
func MutationFor(apiVersion, kind string) patches.Mutation {
	if k := Of(apiVersion, kind); k != nil {
		return k.Mutate
	}
	return nil
}

// RuleFor is the rule of an object's apiVersion and kind, nil if it is not validated.
func RuleFor(apiVersion, kind string) rules.Rule {
	if k := Of(apiVersion, kind); k != nil {
		return k.Validate
	}
	return nil
}

// Cached are the kinds the informer cache holds, with Gateway API on or off.
func Cached(gatewayAPI bool) []*Kind {
	var out []*Kind
	for _, k := range All {
		if k.Cache != nil && (gatewayAPI || !k.Cache.GatewayAPI) {
			out = append(out, k)
		}
	}
	return out
}

// ignoreOld is a rule that judges the new object alone.
func ignoreOld(r func([]byte, string, aigw.Settings, objects.Objects, time.Time) (rules.Findings, error)) rules.Rule {
	return func(raw, _ []byte, ns string, s aigw.Settings, objs objects.Objects, now time.Time) (rules.Findings, error) {
		return r(raw, ns, s, objs, now)
	}
}
