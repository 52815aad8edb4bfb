package rules

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// What NGINX Ingress Controller and NGINX Gateway Fabric themselves decided about an object, judged
// beside our own findings about it: `check` shows both, and says so when they disagree.

// NIC v5.5.4's states: pkg/apis/configuration/v1/types.go StateValid, StateWarning, StateInvalid.
const (
	NICStateValid   = "Valid"
	NICStateWarning = "Warning"
	NICStateInvalid = "Invalid"
)

// NIC v5.5.4's Event reasons on Ingresses: internal/logger/events.go.
const (
	NICReasonAddedOrUpdated            = "AddedOrUpdated"
	NICReasonAddedOrUpdatedWithWarning = "AddedOrUpdatedWithWarning"
	NICReasonAddedOrUpdatedWithError   = "AddedOrUpdatedWithError"
	NICReasonRejected                  = "Rejected"
	NICReasonRejectedWithError         = "RejectedWithError"
)

// NICEventSource is the source component of NIC's Events (cmd/nginx-ingress/main.go:
// api_v1.EventSource{Component: "nginx-ingress-controller"}).
const NICEventSource = "nginx-ingress-controller"

// NGFControllerDomain starts the controllerName of every NGINX Gateway Fabric (cmd/gateway/validation.go
// validateGatewayControllerName: DOMAIN/PATH with DOMAIN gateway.nginx.org).
const NGFControllerDomain = "gateway.nginx.org/"

// Gateway API policy condition types NGF v2.6.7 writes on a BackendTLSPolicy
// (internal/controller/state/conditions/conditions.go NewPolicyAccepted, NewPolicyInvalid,
// NewPolicyConflicted, NewBackendTLSPolicyResolvedRefs, NewBackendTLSPolicyInvalidCACertificateRef,
// NewBackendTLSPolicyInvalidKind, NewBackendTLSPolicyNoValidCACertificate).
const (
	ConditionAccepted     = "Accepted"
	ConditionResolvedRefs = "ResolvedRefs"
)

// The reasons of NGF v2.6.7's Accepted=False on a BackendTLSPolicy (conditions.go
// NewPolicyInvalid, NewBackendTLSPolicyNoValidCACertificate, NewPolicyConflicted).
const (
	NGFReasonInvalid              = "Invalid"
	NGFReasonNoValidCACertificate = "NoValidCACertificate"
	NGFReasonConflicted           = "Conflicted"
)

// ngfRefusalConsequence is what NGF v2.6.7 renders for the Service port of a BackendTLSPolicy it
// refuses with conds (the False ones of one ancestor): an invalid policy makes the backendRefs
// invalid, answered 500 (backend_refs.go createBackendRef, the invalid-backend-ref upstream); a
// Conflicted one leaves the port to the older policy (findBackendTLSPolicyForService).
func ngfRefusalConsequence(conds ...Condition) string {
	for _, c := range conds {
		switch {
		case c.Type == ConditionResolvedRefs,
			c.Type == ConditionAccepted && (c.Reason == NGFReasonInvalid || c.Reason == NGFReasonNoValidCACertificate):
			return NGFInvalidBackend
		case c.Type == ConditionAccepted && c.Reason == NGFReasonConflicted:
			return NGFConflicted
		}
	}
	return NGFNotAccepted.Consequence
}

// MaxStatusMessage bounds a controller's message as check keeps and prints it (the CRDs allow
// 32 KiB per condition message and do not bound NIC's status.message).
const MaxStatusMessage = 1024

// MaxStatusConditions bounds the conditions kept per ancestor (Gateway API's CRD: 8).
const MaxStatusConditions = 8

// MaxStatusAncestors bounds the ancestors kept per policy (Gateway API's CRD: 16).
const MaxStatusAncestors = 16

// NICStatus is what NIC writes in status of a VirtualServer, VirtualServerRoute or Policy
// (pkg/apis/configuration/v1/types.go VirtualServerStatus, VirtualServerRouteStatus, PolicyStatus),
// the fields check reads.
type NICStatus struct {
	State   string `json:"state,omitempty"`
	Reason  string `json:"reason,omitempty"`
	Message string `json:"message,omitempty"`
}

// NICEvent is the latest Event NIC recorded on an Ingress.
type NICEvent struct {
	Type    string // Normal or Warning
	Reason  string
	Message string
}

// PolicyStatus is Gateway API's status of a policy (sigs.k8s.io/gateway-api apis/v1
// PolicyStatus), the fields check reads.
type PolicyStatus struct {
	Ancestors []PolicyAncestorStatus `json:"ancestors,omitempty"`
}

// PolicyAncestorStatus is one controller's verdict about a policy for one ancestor (a Gateway).
type PolicyAncestorStatus struct {
	AncestorRef struct {
		Namespace string `json:"namespace,omitempty"`
		Name      string `json:"name"`
		Kind      string `json:"kind,omitempty"`
	} `json:"ancestorRef"`
	ControllerName string      `json:"controllerName"`
	Conditions     []Condition `json:"conditions,omitempty"`
}

// Condition is a metav1.Condition, the fields check reads.
type Condition struct {
	Type               string `json:"type"`
	Status             string `json:"status"`
	ObservedGeneration int64  `json:"observedGeneration,omitempty"`
	Reason             string `json:"reason,omitempty"`
	Message            string `json:"message,omitempty"`
}

// Verdict is what a controller decided about one object, judged beside our own findings.
type Verdict struct {
	// Findings are the controller's refusals and warnings, and disagreements with our rules.
	Findings Findings
	// OK, when there is no finding, says what the controller accepted.
	OK string
}

// ClipStatusMessage makes a controller's message safe to keep and print: at most MaxStatusMessage
// bytes, control characters (line breaks included) replaced by spaces.
func ClipStatusMessage(s string) string {
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, strings.ToValidUTF8(s, "?"))
	if len(s) <= MaxStatusMessage {
		return strings.TrimSpace(s)
	}
	cut := MaxStatusMessage
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return strings.TrimSpace(s[:cut]) + "… (clipped)"
}

// NICResourceVerdict judges the status NIC wrote on obj (VirtualServer, VirtualServerRoute or
// Policy, "Kind/namespace/name"); oursFailed says whether our rules report an error about it.
func NICResourceVerdict(obj string, st NICStatus, oursFailed bool) Verdict {
	c := collector{obj: obj}
	said := fmt.Sprintf("NIC: %s (reason %s): %s", ClipStatusMessage(st.State), ClipStatusMessage(st.Reason), ClipStatusMessage(st.Message))
	consequence := VSInvalid
	if strings.HasPrefix(obj, "Policy/") {
		consequence = PolicyInvalid
	}
	switch st.State {
	case "":
		c.add(NICStatusMissing, Finding{Field: "status.state", Expected: "NIC's verdict (Valid, Warning or Invalid)", Found: "none written"})
	case NICStateValid:
		if !oursFailed {
			return Verdict{OK: said}
		}
		c.add(ControllerAcceptsRejected, Finding{Field: "status.state", Expected: "NIC to refuse what our rules report as errors",
			Found: said + "; our rules report errors about it (above), which NIC does not check or which came after NIC's verdict"})
	case NICStateInvalid:
		if oursFailed {
			c.add(NICStatusInvalid, Finding{Field: "status.state", Expected: NICStateValid, Found: said, Consequence: consequence})
			break
		}
		c.add(ControllerRejectsAdmitted, Finding{Field: "status.state", Expected: NICStateValid + ", as our rules find nothing wrong",
			Found: said + "; either a rule of ours misses what NIC checks, or NIC's status predates the last change", Consequence: consequence})
	case NICStateWarning:
		c.add(NICStatusWarning, Finding{Field: "status.state", Expected: NICStateValid, Found: said})
	default:
		c.add(NICStatusWarning, Finding{Field: "status.state", Expected: "Valid, Warning or Invalid",
			Found: fmt.Sprintf("state %q, which NIC v5.5.4 does not write: %s", ClipStatusMessage(st.State), said)})
	}
	return Verdict{Findings: c.out}
}

// NICIngressVerdict judges NIC's latest Event on the Ingress obj; e is nil when there is none.
func NICIngressVerdict(obj string, e *NICEvent, oursFailed bool) Verdict {
	c := collector{obj: obj}
	if e == nil {
		c.add(NICIngressEventsMissing, Finding{Field: "Events", Expected: "an Event from " + NICEventSource, Found: "none"})
		return Verdict{Findings: c.out}
	}
	said := fmt.Sprintf("NIC's latest Event: %s %s: %s", ClipStatusMessage(e.Type), ClipStatusMessage(e.Reason), ClipStatusMessage(e.Message))
	switch {
	case e.Reason == NICReasonRejected || e.Reason == NICReasonRejectedWithError || e.Reason == NICReasonAddedOrUpdatedWithError:
		if oursFailed {
			c.add(NICIngressRejected, Finding{Field: "Events", Expected: NICReasonAddedOrUpdated, Found: said, Consequence: IngressRejected})
			break
		}
		c.add(ControllerRejectsAdmitted, Finding{Field: "Events", Expected: NICReasonAddedOrUpdated + ", as our rules find nothing wrong",
			Found: said + "; either a rule of ours misses what NIC checks, or the Event predates the last change", Consequence: IngressRejected})
	case e.Reason == NICReasonAddedOrUpdatedWithWarning || e.Type == "Warning":
		c.add(NICIngressWarning, Finding{Field: "Events", Expected: NICReasonAddedOrUpdated, Found: said})
	case oursFailed:
		c.add(ControllerAcceptsRejected, Finding{Field: "Events", Expected: "NIC to refuse what our rules report as errors",
			Found: said + "; our rules report errors about it (above), which NIC does not check or which came after NIC's Event"})
	default:
		return Verdict{OK: said}
	}
	return Verdict{Findings: c.out}
}

// NGFBackendTLSPolicyVerdict judges the ancestor statuses NGINX Gateway Fabric wrote on the
// BackendTLSPolicy obj at metadata.generation generation.
func NGFBackendTLSPolicyVerdict(obj string, generation int64, st PolicyStatus, oursFailed bool) Verdict {
	c := collector{obj: obj}
	var oks []string
	seen := false
	for i, a := range st.Ancestors {
		if !strings.HasPrefix(a.ControllerName, NGFControllerDomain) {
			continue
		}
		gw := ClipStatusMessage(a.AncestorRef.Name)
		if a.AncestorRef.Namespace != "" {
			gw = ClipStatusMessage(a.AncestorRef.Namespace) + "/" + gw
		}
		field := fmt.Sprintf("status.ancestors[%d] (%s, Gateway %s)", i, ClipStatusMessage(a.ControllerName), gw)
		var accepted bool
		var held, refused []Condition
		stale := false
		for j := range a.Conditions {
			cond := a.Conditions[j]
			if cond.Type != ConditionAccepted && cond.Type != ConditionResolvedRefs {
				continue
			}
			if cond.ObservedGeneration != 0 && cond.ObservedGeneration < generation {
				stale = true
			}
			switch cond.Status {
			case "False":
				refused = append(refused, cond)
			case "True":
				held = append(held, cond)
				accepted = accepted || cond.Type == ConditionAccepted
			}
		}
		if !accepted && len(refused) == 0 {
			continue
		}
		seen = true
		said := func(conds ...Condition) string {
			var parts []string
			for _, cond := range conds {
				parts = append(parts, fmt.Sprintf("%s=%s (reason %s, generation %d): %s", cond.Type, cond.Status, ClipStatusMessage(cond.Reason), cond.ObservedGeneration, ClipStatusMessage(cond.Message)))
			}
			return "NGF: " + strings.Join(parts, "; ")
		}
		all := append(held, refused...)
		switch {
		case stale:
			c.add(NGFStatusStale, Finding{Field: field, Expected: fmt.Sprintf("conditions of generation %d", generation), Found: said(all...)})
		case len(refused) > 0 && !oursFailed:
			c.add(ControllerRejectsAdmitted, Finding{Field: field, Expected: "Accepted=True, as our rules find nothing wrong",
				Found: said(refused...) + "; either a rule of ours misses what NGF checks, or NGF's status predates the last change", Consequence: ngfRefusalConsequence(refused...)})
		case len(refused) > 0:
			for _, cond := range refused {
				if cond.Type == ConditionResolvedRefs {
					c.add(NGFRefsUnresolved, Finding{Field: field, Expected: cond.Type + "=True", Found: said(cond)})
					continue
				}
				c.add(NGFNotAccepted, Finding{Field: field, Expected: cond.Type + "=True", Found: said(cond), Consequence: ngfRefusalConsequence(cond)})
			}
		case oursFailed:
			c.add(ControllerAcceptsRejected, Finding{Field: field, Expected: "NGF to refuse what our rules report as errors",
				Found: said(all...) + "; our rules report errors about it (above), which NGF does not check or which came after NGF's verdict"})
		default:
			oks = append(oks, said(all...)+" for Gateway "+gw)
		}
	}
	if !seen {
		c.add(NGFStatusMissing, Finding{Field: "status.ancestors", Expected: "a verdict of NGINX Gateway Fabric (controllerName " + NGFControllerDomain + "…)", Found: "none written"})
	}
	if len(c.out) > 0 {
		return Verdict{Findings: c.out}
	}
	return Verdict{OK: strings.Join(oks, "; ")}
}
