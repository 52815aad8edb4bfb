package chart_test

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/aigw-mtls/aigw-mtls-webhook/internal/kinds"
	"github.com/aigw-mtls/aigw-mtls-webhook/patches"
)

// servesPodPolicies is what a cluster must serve for podInjection.engine=policy.
const servesPodPolicies = "admissionregistration.k8s.io/v1/MutatingAdmissionPolicy"

func (r rendering) podEngine() string { return r.value("podInjection.engine", "webhook") }

// checkPodPolicies: the pod policies are rendered exactly with podInjection.engine=policy, and
// then select what the pod hook would (the selector and excluded namespaces of the other hooks,
// pods on CREATE), carry the generated CEL with the settings of values.wiring, follow
// failurePolicy, and refuse (mode enforce) or warn (mode warn).
func checkPodPolicies(t *testing.T, r rendering) {
	t.Helper()
	on := r.podEngine() == "policy"
	name, updates := r.fullname()+"-pods", r.fullname()+"-pod-updates"
	for _, kind := range []string{"MutatingAdmissionPolicy", "MutatingAdmissionPolicyBinding", "ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding"} {
		if got := r.named(kind, "", name) != nil; got != on {
			t.Errorf("%s %s rendered: %v; want it exactly with podInjection.engine=policy (%v)", kind, name, got, on)
		}
	}
	for _, kind := range []string{"ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding"} {
		if got := r.named(kind, "", updates) != nil; got != on {
			t.Errorf("%s %s rendered: %v; want it exactly with podInjection.engine=policy (%v)", kind, updates, got, on)
		}
	}
	if !on {
		return
	}
	gen := patches.GeneratePodPolicy()
	// Any other hook of the mutating configuration: its selection is the pod hook's.
	hook := slice(r.one(t, "MutatingWebhookConfiguration").Object, "webhooks")[0].(map[string]any)
	mutating, validating, onUpdate := r.named("MutatingAdmissionPolicy", "", name), r.named("ValidatingAdmissionPolicy", "", name), r.named("ValidatingAdmissionPolicy", "", updates)
	settings := map[string]string{"selectorKey": r.value("selector.key", "aigw"), "selectorValue": r.value("selector.value", "mtls")}
	for _, key := range gen.Settings {
		if _, ok := settings[key]; !ok {
			settings[key] = r.wiring(key)
		}
	}
	for _, p := range []*unstructured.Unstructured{mutating, validating, onUpdate} {
		operation, failurePolicy := "CREATE", r.value("failurePolicy", "Fail")
		if p == onUpdate {
			operation, failurePolicy = "UPDATE", "Ignore" // as the webhook's pod-updates hook
		}
		match := mapAt(p.Object, "spec", "matchConstraints")
		for _, sel := range []string{"objectSelector", "namespaceSelector"} {
			if !equalJSON(t, match[sel], hook[sel]) {
				t.Errorf("%s %s: %s %v, want the webhooks' %v", p.GetKind(), name, sel, match[sel], hook[sel])
			}
		}
		if rules := fmt.Sprint(match["resourceRules"]); !strings.Contains(rules, "resources:[pods]") || !strings.Contains(rules, "operations:["+operation+"]") {
			t.Errorf("%s %s: resourceRules %s, want pods on %s", p.GetKind(), p.GetName(), rules, operation)
		}
		if got := str(p, "spec", "failurePolicy"); got != failurePolicy {
			t.Errorf("%s %s: failurePolicy %s, want %s", p.GetKind(), p.GetName(), got, failurePolicy)
		}
		vars := slice(p.Object, "spec", "variables")
		if len(vars) != len(gen.Settings)+len(gen.Variables) {
			t.Fatalf("%s %s: %d variables, want the %d settings and the %d generated", p.GetKind(), name, len(vars), len(gen.Settings), len(gen.Variables))
		}
		for i, key := range gen.Settings {
			v := vars[i].(map[string]any)
			if want := fmt.Sprintf("%q", settings[key]); v["name"] != key || v["expression"] != want {
				t.Errorf("%s %s: variable %d is %v, want %s = %s (from the values)", p.GetKind(), p.GetName(), i, v, key, want)
			}
		}
		if !equalJSON(t, vars[len(gen.Settings):], plain(t, gen.Variables)) {
			t.Errorf("%s %s: its variables are not the generated ones (patches.GeneratePodPolicy)", p.GetKind(), name)
		}
	}
	if !equalJSON(t, slice(mutating.Object, "spec", "mutations"), plain(t, gen.Mutations)) {
		t.Errorf("MutatingAdmissionPolicy %s: its mutations are not the generated ones", name)
	}
	want, action := gen.Enforce, "Deny"
	if r.value("mode", "enforce") == "warn" {
		want, action = gen.Warn, "Warn"
	}
	if !equalJSON(t, slice(validating.Object, "spec", "validations"), plain(t, want)) {
		t.Errorf("ValidatingAdmissionPolicy %s: validations are not the generated ones of mode %s", name, r.value("mode", "enforce"))
	}
	if got := fmt.Sprint(slice(r.named("ValidatingAdmissionPolicyBinding", "", name).Object, "spec", "validationActions")); got != "["+action+"]" {
		t.Errorf("ValidatingAdmissionPolicyBinding %s: validationActions %s, want [%s]", name, got, action)
	}
	if !equalJSON(t, slice(onUpdate.Object, "spec", "validations"), plain(t, gen.Update)) {
		t.Errorf("ValidatingAdmissionPolicy %s: validations are not the generated ones of an update", updates)
	}
	if got := fmt.Sprint(slice(r.named("ValidatingAdmissionPolicyBinding", "", updates).Object, "spec", "validationActions")); got != "[Warn]" {
		t.Errorf("ValidatingAdmissionPolicyBinding %s: validationActions %s, want [Warn]", updates, got)
	}
	for _, b := range []struct{ kind, name string }{{"MutatingAdmissionPolicyBinding", name}, {"ValidatingAdmissionPolicyBinding", name}, {"ValidatingAdmissionPolicyBinding", updates}} {
		if got := str(r.named(b.kind, "", b.name), "spec", "policyName"); got != b.name {
			t.Errorf("%s %s binds %q, want %s", b.kind, b.name, got, b.name)
		}
	}
	// The webhook's pod hooks are gone, and only they.
	for _, h := range kinds.Pod.MutateHooks {
		for _, w := range slice(r.one(t, "MutatingWebhookConfiguration").Object, "webhooks") {
			if w.(map[string]any)["name"] == h.Name {
				t.Errorf("pod hook %s rendered with podInjection.engine=policy", h.Name)
			}
		}
	}
}

// plain is v as decoded JSON (maps with sorted keys), as a rendering holds it.
func plain(t *testing.T, v any) any {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var out any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// A cluster that does not serve MutatingAdmissionPolicy v1 gets no pod policies: the chart refuses
// podInjection.engine=policy there, saying why, instead of rendering objects it would refuse or
// leaving pods unwired.
func TestPodPolicyEngineNeedsTheAPI(t *testing.T) {
	v := valueSetNamed("pod-policy")
	v.apiVersions = nil
	out, err := runHelm(t, append([]string{"template", v.release, chartDir(), "--namespace", v.namespace}, v.args()...)...)
	if err == nil || !strings.Contains(out, "does not serve admissionregistration.k8s.io/v1 MutatingAdmissionPolicy") {
		t.Errorf("engine policy without the API: want helm to refuse, naming the API; got err %v\n%s", err, out)
	}
	v.set = []string{"podInjection.engine=daemon"}
	if out, err := runHelm(t, append([]string{"template", v.release, chartDir(), "--namespace", v.namespace}, v.args()...)...); err == nil {
		t.Errorf("engine daemon: want the schema to refuse it; got\n%.300s", out)
	}
}

// The generated file the chart embeds parses as the generator's value (nothing lost by YAML).
func TestPodPolicyFileRoundTrips(t *testing.T) {
	b, err := patches.RenderPodPolicy()
	if err != nil {
		t.Fatal(err)
	}
	var got patches.PodPolicy
	if err := yaml.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, patches.GeneratePodPolicy()) {
		t.Error("the rendered pod policy does not parse back to the generated one")
	}
}
