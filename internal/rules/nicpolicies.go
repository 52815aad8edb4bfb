package rules

import (
	"github.com/aigw-mtls/aigw-mtls-webhook/internal/aigw"
	"github.com/aigw-mtls/aigw-mtls-webhook/internal/certs"
	"github.com/aigw-mtls/aigw-mtls-webhook/internal/objects"
)

// PolicyKey is a policy reference with its effective namespace.
type PolicyKey struct {
	Namespace string
	Name      string
}

// String is namespace/name.
func (k PolicyKey) String() string { return k.Namespace + "/" + k.Name }

// lookupPolicy reads the Policy a reference names; nil when it is withheld, not found or cannot
// be decoded (the rules say which elsewhere).
func lookupPolicy(objs objects.Objects, k PolicyKey) *policy {
	if objects.Available(objs, "Policy", k.Namespace) != nil {
		return nil
	}
	raw, ok := objects.Get(objs, "Policy", k.Namespace, k.Name)
	if !ok {
		return nil
	}
	p, err := decodePolicy(raw)
	if err != nil {
		return nil
	}
	return p
}

// EgressMTLSInUse is the index of the egressMTLS Policy NIC applies among one context's policy
// references (a VirtualServer's spec.policies, one route's policies, an Ingress's
// nginx.org/policies), -1 when none is known to be one. NIC walks the references in order
// (internal/configs/policy.go generatePolicies) and addEgressMTLSConfig keeps the first
// egressMTLS Policy, ignoring every later one with a warning. A reference to a Policy that cannot
// be read (not applied yet, or withheld) is not known to be one.
//
// Each distinct Policy is read once, so a list repeating one name costs one lookup per name.
func EgressMTLSInUse(objs objects.Objects, refs []PolicyKey) int {
	seen := make(map[PolicyKey]bool, len(refs))
	for i, k := range refs {
		if seen[k] {
			continue
		}
		seen[k] = true
		if p := lookupPolicy(objs, k); p != nil && p.egress != nil {
			return i
		}
	}
	return -1
}

// EgressMTLSForAigw reports whether the Policy k is an egressMTLS Policy NIC accepts whose sslName
// the aigw server certificate covers: a reference to it already wires the context for aigw. The
// rest of the Policy (its Secrets and chains) is judged by the validation, like any other
// referenced Policy.
func EgressMTLSForAigw(objs objects.Objects, k PolicyKey, s aigw.Settings) bool {
	p := lookupPolicy(objs, k)
	if p == nil || p.egress == nil || p.types() != 1 || p.egress.SSLName == "" {
		return false
	}
	c := &collector{}
	nicValidation(c, p.egress)
	if len(c.out) > 0 {
		return false
	}
	server := findServerCertificate(objs, k.Namespace, p.serverSecret(s))
	return server.leaf != nil && certs.CheckHost(server.leaf, p.egress.SSLName)
}

// EgressMTLSSSLName is the sslName of the egressMTLS Policy k; ok is false when the Policy cannot
// be read or is no egressMTLS Policy.
func EgressMTLSSSLName(objs objects.Objects, k PolicyKey) (sslName string, ok bool) {
	p := lookupPolicy(objs, k)
	if p == nil || p.egress == nil {
		return "", false
	}
	return p.egress.SSLName, true
}

// serverSecret is the aigw server certificate Secret the Policy's sslName is checked against.
func (p *policy) serverSecret(s aigw.Settings) string {
	if v := p.Metadata.Annotations[aigw.AnnotationServerTLSSecret]; v != "" {
		return v
	}
	return s.ServerTLSSecret
}

// supportedOnIngress follows internal/configs/policy.go IsPolicySupportedOnIngress: the policy
// types NIC applies to an Ingress. For any other, generatePolicies renders "return 500;" for the
// whole Ingress.
func (p *policy) supportedOnIngress() bool {
	for _, t := range []string{"accessControl", "cors", "externalAuth", "ingressMTLS", "egressMTLS", "waf"} {
		if v, ok := p.Spec[t]; ok && string(v) != "null" {
			return true
		}
	}
	return false
}

// setTypes are the policy types the Policy sets, in NIC's order.
func (p *policy) setTypes() []string {
	var out []string
	for _, t := range nicPolicyTypes {
		if v, ok := p.Spec[t]; ok && string(v) != "null" {
			out = append(out, t)
		}
	}
	return out
}
