package rules

import (
	"fmt"
	"strings"
	"time"

	"github.com/aigw-mtls/aigw-mtls-webhook/internal/aigw"
	"github.com/aigw-mtls/aigw-mtls-webhook/internal/ingress"
	"github.com/aigw-mtls/aigw-mtls-webhook/internal/objects"
)

// ingressPolicyTypes are the policy types NIC applies to an Ingress (internal/configs/policy.go
// IsPolicySupportedOnIngress), as Policy spec fields.
const ingressPolicyTypes = "accessControl, cors, externalAuth, ingressMTLS, egressMTLS, waf"

// ingressPolicies judges the Policies nginx.org/policies references as NIC v5.5.4 applies them to
// an Ingress (internal/configs/ingress.go generateNginxCfg, policy.go generatePolicies) and returns
// the egressMTLS Policy NIC applies, "" when none is known:
//   - duplicates count once (getIngressPolicyRefs);
//   - the first egressMTLS Policy (EgressMTLSInUse) is judged in full;
//   - a later egressMTLS Policy is ignored by NIC (addEgressMTLSConfig): a warning, and only NIC's
//     own validation of it counts (getPolicies leaves an invalid Policy out, and generatePolicies
//     answers 500 for a Policy it cannot find);
//   - a Policy of a type NIC does not apply to Ingresses (IsPolicySupportedOnIngress), or a WAF
//     Policy in nginx.org/policies (filterIngressPolicyRefs: Plus-only, nginx.com/policies), makes
//     NIC answer 500 on the whole Ingress.
func ingressPolicies(c *collector, field string, refs []ingress.PolicyRef, typ ingress.Type, s aigw.Settings, objs objects.Objects, now time.Time) (string, error) {
	var keys []PolicyKey
	var entries []string
	seen := map[string]bool{}
	for _, ref := range refs {
		if !seen[ref.Key()] {
			seen[ref.Key()] = true
			keys = append(keys, PolicyKey{Namespace: ref.Namespace, Name: ref.Name})
			entries = append(entries, ref.Entry)
		}
	}
	whole := Host500
	if typ == ingress.Minion {
		whole = Minion500
	}
	inUse := EgressMTLSInUse(objs, keys)
	for i, k := range keys {
		at := fmt.Sprintf("%s (%s)", field, entries[i])
		p := lookupPolicy(objs, k)
		if i == inUse || p == nil {
			// The Policy NIC applies, or one that cannot be read: referencedPolicy judges it, or says
			// why it cannot.
			if _, err := referencedPolicy(c, at, k.Namespace, k.Name, s, objs, now); err != nil {
				return "", err
			}
			continue
		}
		types := p.setTypes()
		switch {
		case len(types) != 1:
			referencedFindings(c, at, p.nicFindings(k.Namespace))
		case p.egress != nil:
			c.add(PolicyNotFirst, Finding{Field: at, Found: fmt.Sprintf("Policy %s is an egressMTLS Policy listed after %s, the one NIC applies: ignored by NIC (internal/configs/policy.go addEgressMTLSConfig)", k, keys[inUse]),
				Fix: fmt.Sprintf("remove %s from %s", entries[i], ingress.AnnotationPolicies)})
			referencedFindings(c, at, p.nicFindings(k.Namespace))
		case types[0] == "waf":
			c.add(IngressPolicyWAF, Finding{Field: at, Expected: "no WAF Policy in " + ingress.AnnotationPolicies + " (internal/configs/ingress.go filterIngressPolicyRefs: WAF Policies only through nginx.com/policies)",
				Found: fmt.Sprintf("Policy %s of type waf", k), Consequence: whole, Fix: fmt.Sprintf("move %s to nginx.com/policies (NGINX Plus)", entries[i])})
		case !p.supportedOnIngress():
			c.add(IngressPolicyTypeUnsupported, Finding{Field: at, Expected: "a Policy of a type NIC applies to Ingresses (" + ingressPolicyTypes + ": internal/configs/policy.go IsPolicySupportedOnIngress)",
				Found: fmt.Sprintf("Policy %s of type %s: generatePolicies renders return 500 instead of the Ingress's Policies", k, types[0]), Consequence: whole,
				Fix: fmt.Sprintf("remove %s from %s, or serve these paths from a VirtualServer, where NIC applies %s Policies", entries[i], ingress.AnnotationPolicies, types[0])})
		}
	}
	if inUse < 0 {
		return "", nil
	}
	return keys[inUse].String(), nil
}

// referencedFindings adds a referenced Policy's findings as the referencing object's, prefixed
// with where it is referenced.
func referencedFindings(c *collector, at string, fs Findings) {
	for _, f := range fs {
		f.Object = fmt.Sprintf("%s: %s references %s", c.obj, at, f.Object)
		c.out = append(c.out, f)
	}
}

// ingressPolicyKey splits the namespace/name ingressPolicies returns.
func ingressPolicyKey(key string) PolicyKey {
	ns, name, _ := strings.Cut(key, "/")
	return PolicyKey{Namespace: ns, Name: name}
}
