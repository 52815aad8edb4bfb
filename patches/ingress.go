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
// applies egress mTLS to Ingresses: the aigw Services it sends to are added to
// nginx.org/ssl-services (NIC then proxies to them over https://) and the EgressMTLS Policy to
// nginx.org/policies. Both lists keep their entries, in order, and gain only what they lack.
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
		return Result{Findings: rules.Findings{warning(obj, "metadata.annotations["+ingress.AnnotationMergeableType+"]",
			"master: a master Ingress has no paths, and NIC ignores nginx.org/ssl-services on it; nothing is wired", "",
			fmt.Sprintf("label the minions that send to aigw %s=%s: each gets %s and %s", s.SelectorKey, s.SelectorValue, ingress.AnnotationSSLServices, ingress.AnnotationPolicies))}}, nil
	}
	policy, problem := vsPolicyFor(s, meta.Annotations)
	if problem != nil {
		problem.Object = obj
		return Result{Findings: rules.Findings{*problem}}, nil
	}
	services, problem := ingressServices(ing, meta.Annotations)
	if problem != nil {
		problem.Object = obj
		return Result{Findings: rules.Findings{*problem}}, nil
	}
	if len(services) == 0 {
		return Result{Findings: rules.Findings{warning(obj, "spec", "no backend Service: nothing to wire", "", "")}}, nil
	}

	var res Result
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
			res.Unwired = append(res.Unwired, conflict(obj, sslField, "the aigw Service "+svc, "none", rules.PlainHTTP,
				fmt.Sprintf("re-apply the Ingress through the webhook, or add %s to %s (comma-separated, no spaces)", svc, ingress.AnnotationSSLServices)))
		}
	}
	if len(missing) > 0 {
		set[ingress.AnnotationSSLServices] = joinList(cur, has, missing)
	}

	polField := "metadata.annotations[" + ingress.AnnotationPolicies + "]"
	want := policy.key(own)
	entry := policy.Name
	if policy.Namespace != "" && policy.Namespace != own {
		entry = policy.Namespace + "/" + policy.Name
	}
	curPol, hasPol := meta.Annotations[ingress.AnnotationPolicies]
	found := false
	if hasPol {
		for _, ref := range ingress.PolicyRefs(curPol, own) {
			if ref.Key() == want {
				found = true
				continue
			}
			// NIC keeps the first egressMTLS Policy of a context and ignores the rest with a
			// warning (internal/configs/policy.go: addEgressMTLSConfig).
			if !found && isEgressMTLSPolicy(objs, ref.Namespace, ref.Name) {
				res.Findings = append(res.Findings, conflict(obj, polField,
					fmt.Sprintf("one egressMTLS Policy (%s)", want), ref.Key()+" with egressMTLS already referenced", rules.PolicyIgnored,
					fmt.Sprintf("remove %s from %s or set annotation %s: %s", ref.Entry, ingress.AnnotationPolicies, aigw.AnnotationPolicy, ref.Key())))
			}
		}
	}
	if len(res.Findings) > 0 {
		return Result{Findings: res.Findings}, nil
	}
	if !found {
		set[ingress.AnnotationPolicies] = joinList(curPol, hasPol, []string{entry})
		res.Unwired = append(res.Unwired, conflict(obj, polField, "the EgressMTLS Policy "+want, "none", rules.NoClientCert,
			fmt.Sprintf("re-apply the Ingress through the webhook, or add %s to %s", entry, ingress.AnnotationPolicies)))
	}

	res.Wiring = annotationsOps(meta, set)
	record := fmt.Sprintf("policy=%s,services=%s", want, strings.Join(services, "+"))
	withWiring := meta
	if len(set) > 0 && meta.Annotations == nil {
		withWiring.Annotations = set
	}
	res.Record = annotationOp(withWiring, aigw.AnnotationInjected, record)
	return res, nil
}

// ingressServices are the Services to wire (ingress.Ingress.AigwServices); a listed name that is
// no backend Service is a conflict.
func ingressServices(ing ingress.Ingress, ann map[string]string) ([]string, *rules.Finding) {
	selected, missing := ing.AigwServices(ann[aigw.AnnotationServices])
	if len(missing) == 0 {
		return selected, nil
	}
	existing := strings.Join(ing.Services(), ", ")
	if existing == "" {
		existing = "none"
	}
	f := conflict("", "metadata.annotations["+aigw.AnnotationServices+"]",
		fmt.Sprintf("a comma-separated list of the Ingress's backend Services (%s)", existing),
		fmt.Sprintf("%q, with no backend Service named %s", ann[aigw.AnnotationServices], strings.Join(missing, ", ")),
		rules.NotRouted, "name only backend Services of this Ingress, or remove the annotation to wire all of them")
	return nil, &f
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
