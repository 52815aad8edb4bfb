package check

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// NGINX Ingress Controller v5.5.4 writes its verdicts through the status subresource and as
// Events; these helpers write them exactly as it does, so check reads what a cluster running NIC
// holds.

// writeNICStatus sets status.state, reason and message as internal/k8s/status.go
// UpdateVirtualServerStatus and UpdatePolicyStatus do (a copy of the object, its status replaced,
// UpdateStatus); on a VirtualServer also the externalEndpoints it writes beside them.
func writeNICStatus(t *testing.T, gvr schema.GroupVersionResource, ns, name, state, reason, message string) {
	t.Helper()
	ctx := context.Background()
	u, err := dyn.Resource(gvr).Namespace(ns).Get(ctx, name, metav1.GetOptions{})
	must(t, err)
	st := map[string]any{"state": state, "reason": reason, "message": message}
	if gvr == vsGVR {
		st["externalEndpoints"] = []any{map[string]any{"ip": "203.0.113.10", "ports": "[80,443]"}}
	}
	u.Object["status"] = st
	_, err = dyn.Resource(gvr).Namespace(ns).UpdateStatus(ctx, u, metav1.UpdateOptions{})
	must(t, err)
}

// recordNICEvent records an Event on the Ingress as client-go's recorder does for NIC
// (cmd/nginx-ingress/main.go: source component nginx-ingress-controller; internal/k8s/controller.go
// updateRegularIngressStatusAndEvents, processProblems: lbc.recorder.Event(ing, type, reason, msg)):
// involvedObject from the Ingress's reference, named <ingress>.<hex nanoseconds>.
func recordNICEvent(t *testing.T, ns, ingress, eventType, reason, message string, at time.Time) {
	t.Helper()
	ctx := context.Background()
	var ing networkingv1.Ingress
	must(t, kube.Get(ctx, client.ObjectKey{Namespace: ns, Name: ingress}, &ing))
	ts := metav1.NewTime(at)
	must(t, kube.Create(ctx, &corev1.Event{
		ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("%s.%x", ingress, at.UnixNano()), Namespace: ns},
		InvolvedObject: corev1.ObjectReference{Kind: "Ingress", Namespace: ns, Name: ingress, UID: ing.UID,
			APIVersion: "networking.k8s.io/v1", ResourceVersion: ing.ResourceVersion},
		Reason: reason, Message: message, Type: eventType,
		Source:         corev1.EventSource{Component: "nginx-ingress-controller"},
		FirstTimestamp: ts, LastTimestamp: ts, Count: 1,
	}))
}

// acceptAsNIC writes what NIC writes once it has configured nginx for the scenario's objects
// (internal/k8s/policy.go syncPolicy; internal/k8s/controller.go updateVirtualServerStatusAndEvents,
// updateRegularIngressStatusAndEvents: "Configuration for ns/name was added or updated " with
// its trailing space when there is no warning).
func acceptAsNIC(t *testing.T, ns string, at time.Time) {
	t.Helper()
	writeNICStatus(t, policyGVR, ns, "aigw-mtls", "Valid", "AddedOrUpdated", fmt.Sprintf("Policy %s/aigw-mtls was added or updated", ns))
	writeNICStatus(t, vsGVR, ns, "aigw-mtls", "Valid", "AddedOrUpdated", fmt.Sprintf("Configuration for %s/aigw-mtls was added or updated ", ns))
	recordNICEvent(t, ns, "aigw-ingress", "Normal", "AddedOrUpdated", fmt.Sprintf("Configuration for %s/aigw-ingress was added or updated ", ns), at)
}

// verdictRows are the checks of check -n ns -o json about the scenario's Policy, VirtualServer
// and Ingress, one "status [RULE] message" per line, by object.
func verdictRows(t *testing.T, ns string) (rows map[string]string, code int) {
	t.Helper()
	out, code := runCheck(t, "-n", ns, "-o", "json")
	r := parseReport(t, out)
	rows = map[string]string{}
	for _, c := range r.Checks {
		if c.Namespace == ns {
			rows[c.Object] += c.Status + " " + c.Rule + " " + c.Message + "\n"
		}
	}
	return rows, code
}

func TestControllerVerdicts(t *testing.T) {
	sc := newScenario(t, "nic-verdicts", func(c *scenarioConfig) { c.noControllerVerdicts = true })
	ns := sc.ns
	policy, vs, ing := "Policy/"+ns+"/aigw-mtls", "VirtualServer/"+ns+"/aigw-mtls", "Ingress/"+ns+"/aigw-ingress"
	// Event timestamps have a second's resolution: each step's Events come later than the last.
	clock := time.Now().Add(-time.Hour).Truncate(time.Second)
	tick := func() time.Time { clock = clock.Add(time.Minute); return clock }
	expect := func(t *testing.T, rows map[string]string, want map[string][]string) {
		t.Helper()
		for obj, parts := range want {
			for _, p := range parts {
				if !strings.Contains(rows[obj], p) {
					t.Errorf("%s: missing %q in:\n%s", obj, p, rows[obj])
				}
			}
		}
	}

	t.Run("nothing written yet: NIC has not processed the objects", func(t *testing.T) {
		rows, code := verdictRows(t, ns)
		if code != 0 {
			t.Errorf("exit code %d: a missing verdict is a warning", code)
		}
		expect(t, rows, map[string][]string{
			policy: {"warning NIC_STATUS_MISSING [NIC_STATUS_MISSING] status.state: expected NIC's verdict (Valid, Warning or Invalid), found none written"},
			vs:     {"warning NIC_STATUS_MISSING [NIC_STATUS_MISSING] status.state"},
			ing:    {"warning NIC_INGRESS_EVENTS_MISSING [NIC_INGRESS_EVENTS_MISSING] Events: expected an Event from nginx-ingress-controller, found none"},
		})
	})

	t.Run("NIC accepted every object: each hop is ✓", func(t *testing.T) {
		acceptAsNIC(t, ns, tick())
		out, code := runCheck(t, "-n", ns)
		if code != 0 || strings.Contains(out, "    ✗ ") || strings.Contains(out, "    ⚠ ") {
			t.Errorf("exit code %d, want 0 and only ✓ lines:\n%s", code, out)
		}
		for _, want := range []string{
			// Each verdict follows the object's own line.
			"✓ " + policy + ": egressMTLS passes validation: sslName aigw." + ns + ".svc.cluster.local, trustedCertSecret internal-ca, tlsSecret aigw-nic-client-tls, protocols TLSv1.3\n" +
				"    ✓ " + policy + ": NIC: Valid (reason AddedOrUpdated): Policy " + ns + "/aigw-mtls was added or updated\n",
			"✓ " + vs + ": upstreams [aigw] have tls.enable; passes the webhook's VirtualServer rules\n" +
				"    ✓ " + vs + ": NIC: Valid (reason AddedOrUpdated): Configuration for " + ns + "/aigw-mtls was added or updated\n",
			"✓ " + ing + ": nginx.org/ssl-services: aigw; nginx.org/policies: aigw-mtls\n" +
				"    ✓ " + ing + ": NIC's latest Event: Normal AddedOrUpdated: Configuration for " + ns + "/aigw-ingress was added or updated\n",
		} {
			if !strings.Contains(out, want) {
				t.Errorf("missing %q in:\n%s", want, out)
			}
		}
	})

	t.Run("NIC rejects what our rules admit: check says they disagree", func(t *testing.T) {
		writeNICStatus(t, vsGVR, ns, "aigw-mtls", "Invalid", "Rejected",
			fmt.Sprintf(`VirtualServer %s/aigw-mtls was rejected with error: spec.upstreams[0].service: Invalid value: "aigw": service not found`, ns))
		writeNICStatus(t, policyGVR, ns, "aigw-mtls", "Invalid", "Rejected",
			fmt.Sprintf("Policy %s/aigw-mtls is invalid and was rejected: spec.egressMTLS.sslName: Invalid value", ns))
		// The Rejected Event is the latest: the earlier AddedOrUpdated one no longer counts.
		recordNICEvent(t, ns, "aigw-ingress", "Warning", "Rejected", `spec.rules[0].host: Duplicate value: "aigw-ingress.example.com"`, tick())
		rows, code := verdictRows(t, ns)
		if code != 1 {
			t.Errorf("exit code %d, want 1", code)
		}
		expect(t, rows, map[string][]string{
			vs: {"error CONTROLLER_REJECTS_ADMITTED [CONTROLLER_REJECTS_ADMITTED] status.state: expected Valid, as our rules find nothing wrong, found NIC: Invalid (reason Rejected): VirtualServer " +
				ns + "/aigw-mtls was rejected with error: spec.upstreams[0].service: Invalid value: \"aigw\": service not found; either a rule of ours misses what NIC checks, or NIC's status predates the last change"},
			policy: {"error CONTROLLER_REJECTS_ADMITTED [CONTROLLER_REJECTS_ADMITTED] status.state: expected Valid, as our rules find nothing wrong, found NIC: Invalid (reason Rejected): Policy " + ns + "/aigw-mtls is invalid and was rejected"},
			ing:    {"error CONTROLLER_REJECTS_ADMITTED [CONTROLLER_REJECTS_ADMITTED] Events: expected AddedOrUpdated, as our rules find nothing wrong, found NIC's latest Event: Warning Rejected: spec.rules[0].host: Duplicate value"},
		})
		for obj, r := range rows {
			if strings.Contains(r, "NIC_STATUS_INVALID") || (obj == ing && strings.Contains(r, "Normal AddedOrUpdated")) {
				t.Errorf("%s: a disagreement is one finding, about the latest verdict:\n%s", obj, r)
			}
		}
	})

	t.Run("NIC serves with warnings", func(t *testing.T) {
		writeNICStatus(t, vsGVR, ns, "aigw-mtls", "Warning", "AddedOrUpdatedWithWarning",
			fmt.Sprintf("Configuration for %s/aigw-mtls was added or updated ; with warning(s): TLS secret aigw-tls is invalid", ns))
		recordNICEvent(t, ns, "aigw-ingress", "Warning", "AddedOrUpdatedWithWarning",
			fmt.Sprintf("Configuration for %s/aigw-ingress was added or updated ; with warning(s): annotation nginx.org/proxy-buffering ignored", ns), tick())
		rows, _ := verdictRows(t, ns)
		expect(t, rows, map[string][]string{
			vs:  {"warning NIC_STATUS_WARNING [NIC_STATUS_WARNING] status.state: expected Valid, found NIC: Warning (reason AddedOrUpdatedWithWarning): Configuration for " + ns + "/aigw-mtls was added or updated ; with warning(s): TLS secret aigw-tls is invalid"},
			ing: {"warning NIC_INGRESS_WARNING [NIC_INGRESS_WARNING] Events: expected AddedOrUpdated, found NIC's latest Event: Warning AddedOrUpdatedWithWarning"},
		})
	})

	t.Run("our rules refuse what NIC accepts, and NIC agrees once it rejects", func(t *testing.T) {
		// aigw's server certificate from another CA: our rules report it about the Policy, the
		// VirtualServer and the Ingress; NIC does not check certificates.
		other := sc.caCrt.DeepCopy()
		other.Spec.CommonName = "Other CA"
		server := issue(t, sc.serverCrt, issue(t, other, nil))
		replaceSecretData(t, ns, "aigw-server-tls", server.Secret(sc.serverCrt).Data)
		acceptAsNIC(t, ns, tick())
		rows, code := verdictRows(t, ns)
		if code != 1 {
			t.Errorf("exit code %d, want 1", code)
		}
		accepts := "warning CONTROLLER_ACCEPTS_REJECTED [CONTROLLER_ACCEPTS_REJECTED] "
		expect(t, rows, map[string][]string{
			policy: {"error SERVER_CERT_UNTRUSTED", accepts + "status.state: expected NIC to refuse what our rules report as errors, found NIC: Valid (reason AddedOrUpdated)"},
			vs:     {"error SERVER_CERT_UNTRUSTED", accepts + "status.state"},
			ing:    {"error SERVER_CERT_UNTRUSTED", accepts + "Events: expected NIC to refuse what our rules report as errors, found NIC's latest Event: Normal AddedOrUpdated"},
		})

		writeNICStatus(t, vsGVR, ns, "aigw-mtls", "Invalid", "AddedOrUpdatedWithError",
			fmt.Sprintf("Configuration for %s/aigw-mtls was added or updated ; but was not applied: nginx reload failed", ns))
		recordNICEvent(t, ns, "aigw-ingress", "Warning", "AddedOrUpdatedWithError",
			fmt.Sprintf("Configuration for %s/aigw-ingress was added or updated ; but was not applied: nginx reload failed", ns), tick())
		rows, _ = verdictRows(t, ns)
		expect(t, rows, map[string][]string{
			vs:  {"error NIC_STATUS_INVALID [NIC_STATUS_INVALID] status.state: expected Valid, found NIC: Invalid (reason AddedOrUpdatedWithError)"},
			ing: {"error NIC_INGRESS_REJECTED [NIC_INGRESS_REJECTED] Events: expected AddedOrUpdated, found NIC's latest Event: Warning AddedOrUpdatedWithError"},
		})
	})
}

// Past --max-ingress-events, check stops reading Events and says so; an Ingress whose Event was
// not read shows no verdict rather than a missing one.
func TestIngressEventsBound(t *testing.T) {
	sc := newScenario(t, "nic-verdicts-bound", func(c *scenarioConfig) { c.noControllerVerdicts = true })
	at := time.Now().Add(-time.Hour)
	for i := range 3 {
		recordNICEvent(t, sc.ns, "aigw-ingress", "Normal", "AddedOrUpdated", "Configuration for "+sc.ns+"/aigw-ingress was added or updated ", at.Add(time.Duration(i)*time.Minute))
	}
	out, _ := runCheck(t, "-n", sc.ns, "--max-ingress-events", "2")
	if !strings.Contains(out, "⚠ Events: check read the first 2 of NGINX Ingress Controller's Events about Ingresses (its bound): Ingresses without an Event among them show no verdict") {
		t.Errorf("no line about the bound:\n%s", out)
	}
	if !strings.Contains(out, "✓ Ingress/"+sc.ns+"/aigw-ingress: NIC's latest Event: Normal AddedOrUpdated") {
		t.Errorf("the Events read hold the Ingress's verdict:\n%s", out)
	}
	out, _ = runCheck(t, "-n", sc.ns)
	if strings.Contains(out, "⚠ Events:") {
		t.Errorf("within the default bound:\n%s", out)
	}
}

// An Event about an earlier Ingress of the same name (another UID) is not this Ingress's verdict.
func TestEventOfAnEarlierIngressIsIgnored(t *testing.T) {
	sc := newScenario(t, "nic-verdicts-uid", func(c *scenarioConfig) { c.noControllerVerdicts = true })
	ctx := context.Background()
	ing := &unstructured.Unstructured{}
	ing.SetGroupVersionKind(schema.GroupVersionKind{Group: "networking.k8s.io", Version: "v1", Kind: "Ingress"})
	must(t, kube.Get(ctx, client.ObjectKey{Namespace: sc.ns, Name: "aigw-ingress"}, ing))
	at := metav1.NewTime(time.Now())
	must(t, kube.Create(ctx, &corev1.Event{
		ObjectMeta:     metav1.ObjectMeta{Name: "aigw-ingress.earlier", Namespace: sc.ns},
		InvolvedObject: corev1.ObjectReference{Kind: "Ingress", Namespace: sc.ns, Name: "aigw-ingress", UID: "00000000-0000-0000-0000-000000000000", APIVersion: "networking.k8s.io/v1"},
		Reason:         "Rejected", Message: "about the Ingress deleted before", Type: "Warning",
		Source: corev1.EventSource{Component: "nginx-ingress-controller"}, FirstTimestamp: at, LastTimestamp: at, Count: 1,
	}))
	rows, _ := verdictRows(t, sc.ns)
	got := rows["Ingress/"+sc.ns+"/aigw-ingress"]
	if !strings.Contains(got, "warning NIC_INGRESS_EVENTS_MISSING") || strings.Contains(got, "deleted before") {
		t.Errorf("Ingress rows:\n%s", got)
	}
}
