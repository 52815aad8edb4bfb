package patches

import (
	"encoding/json"
	"fmt"

	"github.com/aigw-mtls/aigw-mtls-webhook/internal/aigw"
	"github.com/aigw-mtls/aigw-mtls-webhook/internal/objects"
	"github.com/aigw-mtls/aigw-mtls-webhook/internal/rules"
)

// PatchBackendTLSPolicy completes a gateway.networking.k8s.io/v1 BackendTLSPolicy labelled with
// the selector: without validation.hostname it gets the DNS name of the Service it targets
// (<service>.<namespace>.svc.cluster.local, the name the chart's server certificate carries);
// without caCertificateRefs (and without wellKnownCACertificates) it gets the ConfigMap of the CA
// aigw's certificates come from (named like the CA Secret, kept by the CA sync with
// serve --gateway-api). Everything the policy sets itself is left as written.
func PatchBackendTLSPolicy(raw []byte, namespace string, s aigw.Settings, _ objects.Objects) (Result, error) {
	top, err := rawObject(raw, "BackendTLSPolicy")
	if err != nil {
		return Result{}, err
	}
	meta, err := rawMeta(top["metadata"])
	if err != nil {
		return Result{}, fmt.Errorf("BackendTLSPolicy: %w", err)
	}
	if !s.Selected(meta.Labels) {
		return Result{}, nil
	}
	obj := meta.Ref("BackendTLSPolicy", namespace)
	ns := meta.In(namespace)
	spec, err := rawObject(top["spec"], "spec")
	if err != nil {
		return Result{}, err
	}
	var targets []rules.BTPTarget
	if t, ok := spec["targetRefs"]; ok && string(t) != "null" {
		if err := objects.Decode(t, &targets); err != nil {
			return Result{}, fmt.Errorf("spec.targetRefs: expected a list of references: %w", err)
		}
	}
	validation, err := rawObject(spec["validation"], "spec.validation")
	if err != nil {
		return Result{}, err
	}
	hostname, err := rawString(validation, "hostname", "spec.validation.hostname")
	if err != nil {
		return Result{}, err
	}
	caRefs, err := rawList(validation["caCertificateRefs"], "spec.validation.caCertificateRefs")
	if err != nil {
		return Result{}, err
	}
	_, wellKnown := validation["wellKnownCACertificates"]
	if wellKnown && string(validation["wellKnownCACertificates"]) == "null" {
		wellKnown = false
	}

	var res Result
	missing := map[string]any{}
	if hostname == "" {
		service := ""
		for _, t := range targets {
			if t.IsService() && t.Name != "" {
				service = t.Name
				break
			}
		}
		if service == "" {
			res.Findings = append(res.Findings, rules.BTPHostnameUnderivable.New(rules.Finding{Object: obj, Field: "spec.validation.hostname", Expected: "a hostname, or a targetRef of kind Service to derive it from",
				Found: "neither", Fix: "set hostname to the name the aigw server certificate covers, for example aigw." + ns + ".svc.cluster.local"}))
			return res, nil
		}
		hostname = service + "." + ns + ".svc.cluster.local"
		missing["hostname"] = hostname
		res.Unwired = append(res.Unwired, rules.BTPHostnameUnwired.New(rules.Finding{Object: obj, Field: "spec.validation.hostname", Expected: fmt.Sprintf("%q, the targeted Service's DNS name", hostname),
			Found: "none", Fix: "re-apply the BackendTLSPolicy through the webhook, or set hostname: " + hostname}))
	}
	ca := "wellKnownCACertificates"
	if !wellKnown && len(caRefs) == 0 {
		ref := map[string]any{"group": "", "kind": "ConfigMap", "name": s.CASecret}
		missing["caCertificateRefs"] = []any{ref}
		ca = "ConfigMap/" + s.CASecret
		res.Unwired = append(res.Unwired, rules.BTPCAUnwired.New(rules.Finding{Object: obj, Field: "spec.validation.caCertificateRefs", Expected: "a reference to ConfigMap " + s.CASecret + " (ca.crt: the aigw CA)",
			Found: "none", Fix: fmt.Sprintf("re-apply the BackendTLSPolicy through the webhook, or set caCertificateRefs: [{group: \"\", kind: ConfigMap, name: %s}]", s.CASecret)}))
	} else if len(caRefs) > 0 {
		var first struct {
			Kind string `json:"kind"`
			Name string `json:"name"`
		}
		_ = json.Unmarshal(caRefs[0], &first)
		ca = first.Kind + "/" + first.Name
	}
	switch {
	case len(missing) == 0:
	case validation == nil:
		res.Wiring = append(res.Wiring, add("/spec/validation", missing))
	default:
		for _, k := range []string{"hostname", "caCertificateRefs"} {
			if v, ok := missing[k]; ok {
				op := add("/spec/validation/"+k, v)
				if _, present := validation[k]; present {
					op.Operation = "replace" // an empty hostname or a null list
				}
				res.Wiring = append(res.Wiring, op)
			}
		}
	}
	res.Record = annotationOp(meta, aigw.AnnotationInjected, fmt.Sprintf("hostname=%s,ca=%s", hostname, ca))
	return res, nil
}
