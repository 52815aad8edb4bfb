package rules

import (
	"strings"
	"testing"
)

// The statuses below are written as NIC v5.5.4 and NGF v2.6.7 write them (the functions named in
// catalogue_controllers.go); each class of verdict is named by its rule, and a healthy one is OK.
func TestControllerVerdicts(t *testing.T) {
	vs := "VirtualServer/ai/aigw"
	ing := "Ingress/ai/aigw"
	btp := "BackendTLSPolicy/ai/aigw"
	ngf := func(gen int64, conds ...Condition) PolicyStatus {
		a := PolicyAncestorStatus{ControllerName: "gateway.nginx.org/nginx-gateway-controller", Conditions: conds}
		a.AncestorRef.Namespace, a.AncestorRef.Name, a.AncestorRef.Kind = "ai", "gw", "Gateway"
		for i := range a.Conditions {
			a.Conditions[i].ObservedGeneration = gen
		}
		return PolicyStatus{Ancestors: []PolicyAncestorStatus{a}}
	}
	accepted := Condition{Type: ConditionAccepted, Status: "True", Reason: "Accepted", Message: "The Policy is accepted"}
	resolved := Condition{Type: ConditionResolvedRefs, Status: "True", Reason: "ResolvedRefs", Message: "All CACertificateRefs are resolved"}
	badRef := Condition{Type: ConditionResolvedRefs, Status: "False", Reason: "InvalidCACertificateRef", Message: "ConfigMap ai/ca not found"}
	noCA := Condition{Type: ConditionAccepted, Status: "False", Reason: "NoValidCACertificate", Message: "No valid CACertificateRef found"}
	for _, tc := range []struct {
		name       string
		v          Verdict
		want       []ID // rules of the findings, in order; none: OK
		okContains string
	}{
		{"NIC Valid, ours agree", NICResourceVerdict(vs, NICStatus{State: "Valid", Reason: "AddedOrUpdated", Message: "Configuration for ai/aigw was added or updated "}, false),
			nil, "NIC: Valid (reason AddedOrUpdated): Configuration for ai/aigw was added or updated"},
		{"NIC wrote nothing", NICResourceVerdict(vs, NICStatus{}, false), []ID{NICStatusMissing.ID}, ""},
		{"NIC Invalid, ours error too", NICResourceVerdict(vs, NICStatus{State: "Invalid", Reason: "Rejected", Message: "VirtualServer ai/aigw was rejected with error: x"}, true),
			[]ID{NICStatusInvalid.ID}, ""},
		{"NIC Invalid, ours admit", NICResourceVerdict(vs, NICStatus{State: "Invalid", Reason: "Rejected", Message: "x"}, false), []ID{ControllerRejectsAdmitted.ID}, ""},
		{"NIC Warning", NICResourceVerdict(vs, NICStatus{State: "Warning", Reason: "AddedOrUpdatedWithWarning", Message: "w"}, false), []ID{NICStatusWarning.ID}, ""},
		{"NIC Valid, ours error", NICResourceVerdict(vs, NICStatus{State: "Valid", Reason: "AddedOrUpdated"}, true), []ID{ControllerAcceptsRejected.ID}, ""},
		{"NIC state unknown", NICResourceVerdict(vs, NICStatus{State: "Pending"}, false), []ID{NICStatusWarning.ID}, ""},
		{"Ingress accepted", NICIngressVerdict(ing, &NICEvent{Type: "Normal", Reason: "AddedOrUpdated", Message: "Configuration for ai/aigw was added or updated "}, false),
			nil, "NIC's latest Event: Normal AddedOrUpdated: Configuration for ai/aigw was added or updated"},
		{"Ingress without Events", NICIngressVerdict(ing, nil, false), []ID{NICIngressEventsMissing.ID}, ""},
		{"Ingress rejected, ours error", NICIngressVerdict(ing, &NICEvent{Type: "Warning", Reason: "Rejected", Message: "x"}, true), []ID{NICIngressRejected.ID}, ""},
		{"Ingress not applied", NICIngressVerdict(ing, &NICEvent{Type: "Warning", Reason: "AddedOrUpdatedWithError", Message: "x"}, true), []ID{NICIngressRejected.ID}, ""},
		{"Ingress rejected, ours admit", NICIngressVerdict(ing, &NICEvent{Type: "Warning", Reason: "Rejected", Message: "x"}, false), []ID{ControllerRejectsAdmitted.ID}, ""},
		{"Ingress warning", NICIngressVerdict(ing, &NICEvent{Type: "Warning", Reason: "AddedOrUpdatedWithWarning", Message: "x"}, false), []ID{NICIngressWarning.ID}, ""},
		{"Ingress accepted, ours error", NICIngressVerdict(ing, &NICEvent{Type: "Normal", Reason: "AddedOrUpdated"}, true), []ID{ControllerAcceptsRejected.ID}, ""},
		{"NGF accepted", NGFBackendTLSPolicyVerdict(btp, 2, ngf(2, resolved, accepted), false), nil,
			"NGF: ResolvedRefs=True (reason ResolvedRefs, generation 2): All CACertificateRefs are resolved; Accepted=True (reason Accepted, generation 2): The Policy is accepted for Gateway ai/gw"},
		{"NGF wrote nothing", NGFBackendTLSPolicyVerdict(btp, 1, PolicyStatus{}, false), []ID{NGFStatusMissing.ID}, ""},
		{"another controller only", NGFBackendTLSPolicyVerdict(btp, 1, PolicyStatus{Ancestors: []PolicyAncestorStatus{{ControllerName: "example.com/other", Conditions: []Condition{accepted}}}}, false),
			[]ID{NGFStatusMissing.ID}, ""},
		{"NGF refs unresolved, ours error", NGFBackendTLSPolicyVerdict(btp, 1, ngf(1, badRef, noCA), true), []ID{NGFRefsUnresolved.ID, NGFNotAccepted.ID}, ""},
		{"NGF refuses, ours admit", NGFBackendTLSPolicyVerdict(btp, 1, ngf(1, badRef, noCA), false), []ID{ControllerRejectsAdmitted.ID}, ""},
		{"NGF accepted, ours error", NGFBackendTLSPolicyVerdict(btp, 1, ngf(1, resolved, accepted), true), []ID{ControllerAcceptsRejected.ID}, ""},
		{"NGF stale", NGFBackendTLSPolicyVerdict(btp, 3, ngf(2, resolved, accepted), false), []ID{NGFStatusStale.ID}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []ID
			for _, f := range tc.v.Findings {
				got = append(got, f.Rule)
				if f.Object == "" || f.Field == "" || f.Found == "" || f.Consequence == "" || f.Fix == "" {
					t.Errorf("finding %+v lacks object, field, found, consequence or fix", f)
				}
			}
			if strings.Join(idStrings(got), ",") != strings.Join(idStrings(tc.want), ",") {
				t.Errorf("rules %v, want %v (%+v)", got, tc.want, tc.v.Findings)
			}
			if len(tc.want) == 0 && !strings.Contains(tc.v.OK, tc.okContains) {
				t.Errorf("OK %q, want it to contain %q", tc.v.OK, tc.okContains)
			}
			if len(tc.want) > 0 && tc.v.OK != "" {
				t.Errorf("OK %q beside findings", tc.v.OK)
			}
		})
	}
}

func idStrings(ids []ID) []string {
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = string(id)
	}
	return out
}

// A controller's message is printed on one line and bounded.
func TestClipStatusMessage(t *testing.T) {
	got := ClipStatusMessage("line one\nline two\x1b[31m " + strings.Repeat("é", MaxStatusMessage))
	if strings.ContainsAny(got, "\n\x1b") || !strings.HasPrefix(got, "line one line two [31m") || !strings.HasSuffix(got, "… (clipped)") {
		t.Errorf("got %q", got)
	}
	if n := len(strings.TrimSuffix(got, "… (clipped)")); n > MaxStatusMessage {
		t.Errorf("kept %d bytes, bound %d", n, MaxStatusMessage)
	}
	if !strings.HasSuffix(strings.TrimSuffix(got, "… (clipped)"), "é") {
		t.Errorf("clipped inside a character: %q", got[len(got)-20:])
	}
}

// Every part of a controller's verdict is printed clipped, on one line.
func TestVerdictPartsAreClipped(t *testing.T) {
	long := strings.Repeat("x", 3*MaxStatusMessage)
	for _, v := range []Verdict{
		NICResourceVerdict("VirtualServer/ai/aigw", NICStatus{State: "Valid", Reason: "AddedOrUpdated\n" + long, Message: "ok\r\n" + long}, false),
		NICIngressVerdict("Ingress/ai/aigw", &NICEvent{Type: "Normal\n", Reason: "AddedOrUpdated", Message: long}, false),
	} {
		if strings.ContainsAny(v.OK, "\r\n") || len(v.OK) > 3*(MaxStatusMessage+len("… (clipped)"))+100 {
			t.Errorf("OK line of %d bytes: %.80q", len(v.OK), v.OK)
		}
	}
}

// The consequence of NGF's refusal follows what NGF v2.6.7 renders for the reason it gives: an
// Invalid policy (or one without a valid CA) makes the backendRefs invalid, which nginx answers
// 500 (invalid-backend-ref); a Conflicted one leaves the Service port to the older policy.
func TestNGFRefusalConsequence(t *testing.T) {
	btp := "BackendTLSPolicy/ai/aigw"
	ngf := func(conds ...Condition) PolicyStatus {
		a := PolicyAncestorStatus{ControllerName: "gateway.nginx.org/nginx-gateway-controller", Conditions: conds}
		a.AncestorRef.Namespace, a.AncestorRef.Name = "ai", "gw"
		return PolicyStatus{Ancestors: []PolicyAncestorStatus{a}}
	}
	// As NGF writes them: conditions.go NewPolicyInvalid (validateBackendTLSHostname's message),
	// NewBackendTLSPolicyInvalidCACertificateRef with NewBackendTLSPolicyNoValidCACertificate, and
	// NewPolicyConflicted (backend_refs.go findBackendTLSPolicyForService).
	invalid := Condition{Type: ConditionAccepted, Status: "False", Reason: "Invalid", Message: `Invalid hostname: tls.hostname: Invalid value: "AIGW": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters`}
	badRef := Condition{Type: ConditionResolvedRefs, Status: "False", Reason: "InvalidCACertificateRef", Message: "validation.caCertificateRefs[0]: Invalid value: ConfigMap ai/ca not found"}
	noCA := Condition{Type: ConditionAccepted, Status: "False", Reason: "NoValidCACertificate", Message: "No valid CACertificateRef found"}
	conflicted := Condition{Type: ConditionAccepted, Status: "False", Reason: "Conflicted", Message: "Conflicts with another BackendTLSPolicy targeting the same Service"}
	other := Condition{Type: ConditionAccepted, Status: "False", Reason: "SomethingNew", Message: "x"}

	for _, tc := range []struct {
		name string
		v    Verdict
		want []ID
		says []string // the consequence of each finding
	}{
		{"Invalid, ours error", NGFBackendTLSPolicyVerdict(btp, 0, ngf(invalid), true), []ID{NGFNotAccepted.ID}, []string{NGFInvalidBackend}},
		{"CA unresolved, ours error", NGFBackendTLSPolicyVerdict(btp, 0, ngf(badRef, noCA), true), []ID{NGFRefsUnresolved.ID, NGFNotAccepted.ID}, []string{NGFRefsUnresolved.Consequence, NGFInvalidBackend}},
		{"Conflicted, ours error", NGFBackendTLSPolicyVerdict(btp, 0, ngf(conflicted), true), []ID{NGFNotAccepted.ID}, []string{NGFConflicted}},
		{"Invalid, ours admit", NGFBackendTLSPolicyVerdict(btp, 0, ngf(invalid), false), []ID{ControllerRejectsAdmitted.ID}, []string{NGFInvalidBackend}},
		{"Conflicted, ours admit", NGFBackendTLSPolicyVerdict(btp, 0, ngf(conflicted), false), []ID{ControllerRejectsAdmitted.ID}, []string{NGFConflicted}},
		{"unknown reason", NGFBackendTLSPolicyVerdict(btp, 0, ngf(other), true), []ID{NGFNotAccepted.ID}, []string{NGFNotAccepted.Consequence}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if len(tc.v.Findings) != len(tc.want) {
				t.Fatalf("findings %+v, want rules %v", tc.v.Findings, tc.want)
			}
			for i, f := range tc.v.Findings {
				if f.Rule != tc.want[i] {
					t.Errorf("finding %d: rule %s, want %s", i, f.Rule, tc.want[i])
				}
				if f.Consequence != tc.says[i] {
					t.Errorf("finding %d (%s): consequence %q, want %q", i, f.Rule, f.Consequence, tc.says[i])
				}
			}
		})
	}
}

// What a rule predicts for a policy NGF refuses as Invalid is what check reports once NGF has
// refused it: one consequence, not two wordings of it.
func TestBTPRulesPredictNGFsRefusal(t *testing.T) {
	refused := ngfRefusalConsequence(Condition{Type: ConditionAccepted, Status: "False", Reason: NGFReasonInvalid})
	for _, d := range []Def{BTPHostnameInvalid, BTPCABoth, BTPWellKnownCAInvalid, BTPCARefMissing, BTPCARefMultiple,
		BTPCARefKind, BTPCARefGroup, BTPCAUnreadable, BTPCANoCACrt, BTPCASecretType, BTPCASecretKeyMismatch} {
		if d.Consequence != refused {
			t.Errorf("%s: consequence %q, NGF's refusal %q", d.ID, d.Consequence, refused)
		}
	}
}
