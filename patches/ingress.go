package patches

import (
	"fmt"
	"slices"
	"strings"

	"gomodules.xyz/jsonpatch/v2"

	"github.com/aigw-mtls/aigw-mtls-webhook/internal/aigw"
	"github.com/aigw-mtls/aigw-mtls-webhook/internal/ingress"
	"github.com/aigw-mtls/aigw-mtls-webhook/internal/objects"
	"github.com/aigw-mtls/aigw-mtls-webhook/internal/rules"
)

// PatchIngress wires a networking.k8s.io/v1 Ingress labelled with the selector the way NIC v5.5.4
// applies egress mTLS to Ingresses: the aigw Services it sends to (ingressServices: those
// mtls.aigw.io/services names, else those the Policy's sslName names) are added to
// nginx.org/ssl-services (NIC then proxies to them over https://) and the EgressMTLS Policy to
// nginx.org/policies, unless the first egressMTLS Policy listed already is one for aigw
// (ingressPolicyInUse). Both lists keep their entries, in order, and gain only what they lack.
//
// Mergeable Ingresses (internal/configs/ingress.go generateNginxCfgForMergeableIngresses): a
// master has no paths, and NIC drops nginx.org/ssl-services from it (annotations.go
// masterDenylist), so a master is left as it is; a minion is wired like a regular Ingress, and
// NIC renders its Policy in each of its locations.
func PatchIngress(raw []byte, namespace string, s aigw.Settings, objs objects.Objects) (Result, error) {
	ing, err := ingress.Decode(raw)
	if err != nil {
		return Result{}, err
	}
	meta := ing.Metadata
	if !s.Selected(meta.Labels) {
		return Result{}, nil
	}
	obj := meta.Ref("Ingress", namespace)
	own := meta.In(namespace)
	if ing.Type() == ingress.Master {
		return Result{Findings: rules.Findings{rules.IngressMasterNotWired.New(rules.Finding{Object: obj, Field: "metadata.annotations[" + ingress.AnnotationMergeableType + "]",
			Found: "master: a master Ingress has no paths, and NIC ignores nginx.org/ssl-services on it; nothing is wired",
			Fix:   fmt.Sprintf("label the minions that send to aigw %s=%s: each gets %s and %s", s.SelectorKey, s.SelectorValue, ingress.AnnotationSSLServices, ingress.AnnotationPolicies)})}}, nil
	}
	policy, problem := vsPolicyFor(s, meta.Annotations)
	if problem != nil {
		problem.Object = obj
		return Result{Findings: rules.Findings{*problem}}, nil
	}
	want := policy.key(own)
	using, found, problem := ingressPolicyInUse(ing, own, want, s, objs)
	if problem != nil {
		problem.Object = obj
		return Result{Findings: rules.Findings{*problem}}, nil
	}
	services, notes, problem := ingressServices(ing, own, using, objs)
	if problem != nil {
		problem.Object = obj
		return Result{Findings: rules.Findings{*problem}}, nil
	}
	res := Result{Findings: notes}
	for i := range res.Findings {
		res.Findings[i].Object = obj
	}
	if len(services) == 0 && !found {
		return res, nil
	}

	set := map[string]string{}
	sslField := "metadata.annotations[" + ingress.AnnotationSSLServices + "]"
	cur, has := meta.Annotations[ingress.AnnotationSSLServices]
	var listed []string
	if has {
		listed = ingress.ServiceList(cur)
	}
	var missing []string
	for _, svc := range services {
		if !slices.Contains(listed, svc) {
			missing = append(missing, svc)
			res.Unwired = append(res.Unwired, rules.IngressSSLServicesUnwired.New(rules.Finding{Object: obj, Field: sslField, Expected: "the aigw Service " + svc,
				Found: "none", Fix: fmt.Sprintf("re-apply the Ingress through the webhook, or add %s to %s (comma-separated, no spaces)", svc, ingress.AnnotationSSLServices)}))
		}
	}
	if len(missing) > 0 {
		set[ingress.AnnotationSSLServices] = joinList(cur, has, missing)
	}
	if !found {
		entry := policy.Name
		if policy.Namespace != "" && policy.Namespace != own {
			entry = policy.Namespace + "/" + policy.Name
		}
		curPol, hasPol := meta.Annotations[ingress.AnnotationPolicies]
		set[ingress.AnnotationPolicies] = joinList(curPol, hasPol, []string{entry})
		res.Unwired = append(res.Unwired, rules.IngressPolicyUnwired.New(rules.Finding{Object: obj, Field: "metadata.annotations[" + ingress.AnnotationPolicies + "]", Expected: "the EgressMTLS Policy " + want,
			Found: "none", Fix: fmt.Sprintf("re-apply the Ingress through the webhook, or add %s to %s", entry, ingress.AnnotationPolicies)}))
	}

	res.Wiring = annotationsOps(meta, set)
	record := "policy=" + using.String()
	if len(services) > 0 {
		record += ",services=" + strings.Join(services, "+")
	}
	withWiring := meta
	if len(set) > 0 && meta.Annotations == nil {
		withWiring.Annotations = set
	}
	res.Record = annotationOp(withWiring, aigw.AnnotationInjected, record)
	return res, nil
}

// ingressPolicyInUse decides which egressMTLS Policy NIC will apply to the Ingress
// (rules.EgressMTLSInUse, as the validation decides it): found when nginx.org/policies already
// lists ours before any other egressMTLS Policy, or when the first one it lists is one for aigw
// (rules.EgressMTLSForAigw: wired by hand, in any namespace); using is that Policy, else ours. Any
// other egressMTLS Policy first is a conflict: NIC would ignore ours.
func ingressPolicyInUse(ing ingress.Ingress, own, want string, s aigw.Settings, objs objects.Objects) (using rules.PolicyKey, found bool, problem *rules.Finding) {
	wantNS, wantName, _ := strings.Cut(want, "/")
	using = rules.PolicyKey{Namespace: wantNS, Name: wantName}
	v, has := ing.Metadata.Annotations[ingress.AnnotationPolicies]
	if !has {
		return using, false, nil
	}
	refs := ingress.PolicyRefs(v, own)
	keys := make([]rules.PolicyKey, len(refs))
	ours := -1
	for i, ref := range refs {
		keys[i] = rules.PolicyKey{Namespace: ref.Namespace, Name: ref.Name}
		if ours < 0 && ref.Key() == want {
			ours = i
		}
	}
	inUse := rules.EgressMTLSInUse(objs, keys)
	switch {
	case ours >= 0 && (inUse < 0 || ours <= inUse):
		return using, true, nil
	case inUse < 0:
		return using, false, nil
	case rules.EgressMTLSForAigw(objs, keys[inUse], s):
		return keys[inUse], true, nil
	}
	f := rules.IngressOtherEgressPolicy.New(rules.Finding{Field: "metadata.annotations[" + ingress.AnnotationPolicies + "]", Expected: fmt.Sprintf("one egressMTLS Policy (%s, or one whose sslName the aigw server certificate covers)", want),
		Found: keys[inUse].String() + " with egressMTLS already referenced",
		Fix:   fmt.Sprintf("remove %s from %s or set annotation %s: %s", refs[inUse].Entry, ingress.AnnotationPolicies, aigw.AnnotationPolicy, keys[inUse])})
	return using, false, &f
}

// ingressServices are the aigw Services to wire (ingress.Ingress.AigwServices): those
// mtls.aigw.io/services lists, else the backend Services whose DNS name the sslName of the
// egressMTLS Policy names. A listed name that is no backend Service is a conflict; backend
// Services left out (not aigw, and not already in nginx.org/ssl-services) are said in a warning,
// as is a Policy whose sslName cannot be read.
func ingressServices(ing ingress.Ingress, own string, policy rules.PolicyKey, objs objects.Objects) ([]string, rules.Findings, *rules.Finding) {
	ann := ing.Metadata.Annotations
	backends := ing.Services()
	if len(backends) == 0 {
		return nil, rules.Findings{rules.IngressNoBackend.New(rules.Finding{Field: "spec", Found: "no backend Service: nothing to wire"})}, nil
	}
	field := "metadata.annotations[" + aigw.AnnotationServices + "]"
	if strings.TrimSpace(ann[aigw.AnnotationServices]) != "" {
		selected, missing := ing.AigwServices(ann[aigw.AnnotationServices], "", own)
		if len(missing) == 0 {
			return selected, nil, nil
		}
		f := rules.IngressServicesAnnotationUnknown.New(rules.Finding{Field: field, Expected: fmt.Sprintf("a comma-separated list of the Ingress's backend Services (%s)", strings.Join(backends, ", ")),
			Found: fmt.Sprintf("%q, with no backend Service named %s", ann[aigw.AnnotationServices], strings.Join(missing, ", ")),
			Fix:   "name only backend Services of this Ingress, or remove the annotation to wire those the Policy's sslName names"})
		return nil, nil, &f
	}
	name := fmt.Sprintf("name the aigw Services in %s (comma-separated)", aigw.AnnotationServices)
	sslName, known := rules.EgressMTLSSSLName(objs, policy)
	if !known || sslName == "" {
		why := "which cannot be read"
		switch {
		case known:
			why = "which sets no sslName"
		case objects.Available(objs, "Policy", policy.Namespace) == nil:
			why = "which is not found (or is no egressMTLS Policy)"
		}
		return nil, rules.Findings{rules.IngressNoAigwService.New(rules.Finding{Field: field,
			Found: fmt.Sprintf("no backend Service is wired: the aigw Services are those whose DNS name the sslName of the egressMTLS Policy %s names, %s", policy, why),
			Fix:   "apply the Policy first and re-apply the Ingress (check reports it until it is wired), or " + name})}, nil
	}
	selected, _ := ing.AigwServices("", sslName, own)
	var listed []string
	if v, ok := ann[ingress.AnnotationSSLServices]; ok {
		listed = ingress.ServiceList(v)
	}
	var others []string
	for _, svc := range backends {
		if !slices.Contains(selected, svc) && !slices.Contains(listed, svc) {
			others = append(others, svc)
		}
	}
	if len(others) == 0 {
		return selected, nil, nil
	}
	return selected, rules.Findings{rules.IngressServicesLeftOut.New(rules.Finding{Field: field,
		Found: fmt.Sprintf("%s: not aigw (the sslName %s of the egressMTLS Policy %s names no such Service in %s), left out of %s", strings.Join(others, ", "), sslName, policy, own, ingress.AnnotationSSLServices),
		Fix:   "if one of them is aigw, " + name})}, nil
}

// joinList appends entries to a comma-separated annotation value, keeping what is there as
// written.
func joinList(cur string, has bool, entries []string) string {
	add := strings.Join(entries, ",")
	if !has || strings.TrimSpace(cur) == "" {
		return add
	}
	return cur + "," + add
}

// annotationsOps sets several annotations, creating the map when the object has none.
func annotationsOps(m objectMeta, set map[string]string) []jsonpatch.Operation {
	if len(set) == 0 {
		return nil
	}
	if m.Annotations == nil {
		return []jsonpatch.Operation{add("/metadata/annotations", set)}
	}
	keys := make([]string, 0, len(set))
	for k := range set {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var ops []jsonpatch.Operation
	for _, k := range keys {
		ops = append(ops, annotationOp(m, k, set[k])...)
	}
	return ops
}
