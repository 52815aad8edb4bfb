package nicconf

import "fmt"

// IngressPolicy is one Policy an Ingress's nginx.org/policies lists.
type IngressPolicy struct {
	Name string
	Spec Spec
}

// DecideIngress is NIC's decision for the Policies a regular Ingress's nginx.org/policies lists,
// in order, all in namespace (internal/configs/ingress.go generateNginxCfg → policy.go
// generatePolicies with parentType "ing"; the result goes to the server block):
//   - a Policy failing ValidatePolicy is left out by getPolicies (internal/k8s/controller.go), and
//     generatePolicies answers 500 for the reference ("Policy %s is missing or invalid");
//   - a Policy of a type IsPolicySupportedOnIngress does not allow makes the whole server answer
//     500 ("Policy %s is not supported on Ingress resources");
//   - the first egressMTLS Policy is decided as Decide decides it; addEgressMTLSConfig ignores
//     every later one ("Multiple egressMTLS policies in the same context is not valid").
func DecideIngress(namespace string, pols []IngressPolicy, secrets map[string]Secret, secretsDir string) Decision {
	var egress *Decision
	for _, p := range pols {
		key := namespace + "/" + p.Name
		if err := ValidatePolicy(p.Spec); err != nil {
			return Decision{Outcome: Invalid, Reason: fmt.Sprintf("policy %s is invalid: %v", key, err), Files: map[string][]byte{}}
		}
		if !supportedOnIngress(p.Spec) {
			return Decision{Outcome: Return500, Reason: fmt.Sprintf("Policy %s is not supported on Ingress resources", key), Files: map[string][]byte{}}
		}
		if p.Spec.EgressMTLS == nil || egress != nil {
			continue
		}
		d := Decide(namespace, p.Name, p.Spec, secrets, secretsDir)
		if d.Outcome != Render {
			return d
		}
		egress = &d
	}
	if egress == nil {
		return Decision{Outcome: Render, Files: map[string][]byte{}}
	}
	return *egress
}

// supportedOnIngress is internal/configs/policy.go IsPolicySupportedOnIngress for the types Spec
// carries.
func supportedOnIngress(s Spec) bool { return s.AccessControl != nil || s.EgressMTLS != nil }
