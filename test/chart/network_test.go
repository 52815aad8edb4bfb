package chart_test

import (
	"strings"
	"testing"
)

// checkNetworkPolicy: the webhook port admits exactly networkPolicy.webhookFrom, every source only
// with networkPolicy.allowAnySource; no NetworkPolicy only with allowAnySource too.
func checkNetworkPolicy(t *testing.T, r rendering) {
	t.Helper()
	nps := r.all("NetworkPolicy")
	if r.value("networkPolicy.enabled", "true") == "false" {
		if len(nps) != 0 {
			t.Errorf("networkPolicy.enabled=false: %d NetworkPolicies rendered", len(nps))
		}
		return
	}
	if len(nps) != 1 {
		t.Fatalf("want one NetworkPolicy, got %d", len(nps))
	}
	var webhook map[string]any
	for _, x := range slice(nps[0].Object, "spec", "ingress") {
		rule := x.(map[string]any)
		for _, p := range slice(rule, "ports") {
			if p.(map[string]any)["port"] == "webhook" {
				webhook = rule
			}
		}
	}
	if webhook == nil {
		t.Fatal("NetworkPolicy: no rule for the webhook port")
	}
	from := slice(webhook, "from")
	var cidrs []string
	for _, peer := range from {
		if c, _ := mapAt(peer.(map[string]any), "ipBlock")["cidr"].(string); c != "" {
			cidrs = append(cidrs, c)
		}
	}
	switch {
	case r.value("networkPolicy.allowAnySource", "false") == "true" && r.value("networkPolicy.webhookFrom[0].ipBlock.cidr", "") == "":
		if from != nil {
			t.Errorf("networkPolicy.allowAnySource: the webhook port admits only %v, want every source", from)
		}
	case r.v.setsExposure():
		want := r.value("networkPolicy.webhookFrom[0].ipBlock.cidr", "")
		if len(cidrs) == 0 || cidrs[0] != want {
			t.Errorf("webhook port from %v, want the ipBlock %s of networkPolicy.webhookFrom", from, want)
		}
		if ns := r.value("networkPolicy.webhookFrom[1].podSelector.matchLabels.k8s-app", ""); ns != "" {
			if len(from) != 2 || mapAt(from[1].(map[string]any), "podSelector", "matchLabels")["k8s-app"] != ns {
				t.Errorf("webhook port from %v, want the second peer of networkPolicy.webhookFrom too", from)
			}
		}
	default:
		if len(from) != 1 || len(cidrs) != 1 || cidrs[0] != placeholderControlPlane {
			t.Errorf("webhook port from %v, want only %s", from, placeholderControlPlane)
		}
	}
}

// Closed by default: without networkPolicy.webhookFrom, or with the NetworkPolicy off, the chart
// does not render unless networkPolicy.allowAnySource says every source may reach the webhook port;
// the message names both values.
func TestNetworkExposureNeedsAChoice(t *testing.T) {
	for _, set := range [][]string{
		nil,
		{"networkPolicy.enabled=false"},
		{"networkPolicy.allowAnySource=false"},
		{"networkPolicy.enabled=false", "networkPolicy.webhookFrom[0].ipBlock.cidr=10.0.0.0/24"},
	} {
		t.Run(strings.Join(append([]string{"values"}, set...), " "), func(t *testing.T) {
			args := []string{"template", defaultRelease, chartDir(), "--namespace", defaultNamespace}
			for _, s := range set {
				args = append(args, "--set", s)
			}
			out, err := runHelm(t, args...)
			if err == nil {
				t.Fatal("helm template rendered with the webhook port open to every source")
			}
			for _, want := range []string{"networkPolicy.webhookFrom", "networkPolicy.allowAnySource=true", "forged admission reviews"} {
				if !strings.Contains(out, want) {
					t.Errorf("the refusal does not name %s:\n%s", want, out)
				}
			}
		})
	}
}

// Chart.yaml's kubeVersion: the ValidatingAdmissionPolicy the chart ships is GA from 1.30.
func TestKubeVersion(t *testing.T) {
	base := append([]string{"template", defaultRelease, chartDir(), "--namespace", defaultNamespace}, valueSetNamed("defaults").args()...)
	out, err := runHelm(t, append(base, "--kube-version", "1.29.9")...)
	if err == nil {
		t.Error("helm template --kube-version 1.29.9 rendered")
	} else if !strings.Contains(out, ">=1.30.0-0") {
		t.Errorf("helm template --kube-version 1.29.9: the refusal does not name the required version:\n%s", out)
	}
	for _, v := range []string{"1.30.0", "1.37.2"} {
		if _, err := runHelm(t, append(base, "--kube-version", v)...); err != nil {
			t.Errorf("helm template --kube-version %s: %v", v, err)
		}
	}
}
