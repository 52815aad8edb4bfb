package check

import (
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"
)

// report is the JSON document of `check -o json`, decoded strictly.
type report struct {
	Checks []struct {
		Section   string `json:"section"`
		Namespace string `json:"namespace"`
		Object    string `json:"object"`
		Status    string `json:"status"`
		Message   string `json:"message"`
		Fix       string `json:"fix"`
		Rule      string `json:"rule"`
	} `json:"checks"`
	Summary struct {
		OK         int      `json:"ok"`
		Warnings   int      `json:"warnings"`
		Errors     int      `json:"errors"`
		Namespaces []string `json:"namespaces"`
	} `json:"summary"`
}

func parseReport(t *testing.T, out string) report {
	t.Helper()
	var r report
	dec := json.NewDecoder(strings.NewReader(out))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&r); err != nil {
		t.Fatalf("-o json: %v\n%s", err, out)
	}
	// Every check carries every key of the schema, even when empty.
	var raw struct {
		Checks []map[string]any `json:"checks"`
	}
	if err := json.Unmarshal([]byte(out), &raw); err != nil {
		t.Fatal(err)
	}
	for _, c := range raw.Checks {
		var keys []string
		for k := range c {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		if strings.Join(keys, ",") != "fix,message,namespace,object,rule,section,status" {
			t.Fatalf("check keys %v", keys)
		}
	}
	return r
}

func TestHealthyClusterPasses(t *testing.T) {
	sc := newScenario(t, "ai-gateway")
	expand := func(s string) string { return strings.ReplaceAll(s, "{ns}", sc.ns) }
	out, code := runCheck(t, "-n", sc.ns)
	t.Logf("check -n %s:\n%s", sc.ns, out)
	if code != 0 {
		t.Fatalf("exit code %d, want 0", code)
	}
	if strings.Contains(out, "    ✗ ") || strings.Contains(out, "    ⚠ ") {
		t.Errorf("want only ✓ lines")
	}
	for _, want := range []string{
		"namespace {ns}\n  Secrets\n",
		"✓ Secret/{ns}/internal-ca: type nginx.org/ca with ca.crt\n",
		"✓ Secret/{ns}/aigw-server-tls: type kubernetes.io/tls with tls.crt and tls.key\n",
		"✓ Secret/{ns}/aigw-nic-client-tls: type kubernetes.io/tls with tls.crt and tls.key\n",
		"✓ Secret/{ns}/internal-ca: holds cert-manager's CA from Secret aigw-ca\n",
		"✓ Secret/{ns}/internal-ca: CA CN=Internal CA, expires in 36",
		"✓ Secret/{ns}/aigw-server-tls: DNS:aigw.{ns}.svc.cluster.local,aigw.{ns}.svc, chains to internal-ca with 0 intermediate(s), server auth, expires in 36",
		"✓ Secret/{ns}/aigw-nic-client-tls: CN=nginx-ingress-client, chains to internal-ca with 0 intermediate(s), client auth, expires in 36",
		"✓ Policy/{ns}/aigw-mtls: egressMTLS passes validation: sslName aigw.{ns}.svc.cluster.local, trustedCertSecret internal-ca, tlsSecret aigw-nic-client-tls, protocols TLSv1.3\n",
		"✓ VirtualServer/{ns}/aigw-mtls: upstreams [aigw] have tls.enable; passes the webhook's VirtualServer rules\n",
		"✓ Ingress/{ns}/aigw-ingress: nginx.org/ssl-services: aigw; nginx.org/policies: aigw-mtls\n",
		"✓ Policy/{ns}/aigw-mtls: NIC: Valid (reason AddedOrUpdated): Policy {ns}/aigw-mtls was added or updated\n",
		"✓ VirtualServer/{ns}/aigw-mtls: NIC: Valid (reason AddedOrUpdated): Configuration for {ns}/aigw-mtls was added or updated\n",
		"✓ Ingress/{ns}/aigw-ingress: NIC's latest Event: Normal AddedOrUpdated: Configuration for {ns}/aigw-ingress was added or updated\n",
		"✓ ConfigMap/{ns}/aigw-config: aigw.yaml sets server.tls (/tls/server.crt, /tls/server.key) and server.mtls (/etc/internal-ca/ca.crt)\n",
		"✓ Pod/{ns}/aigw: mounts the CA Secret internal-ca at /etc/internal-ca and the server TLS Secret aigw-server-tls at /tls\n",
		"✓ Service/{ns}/aigw: all 1 pod(s) behind it are labelled aigw=mtls\n",
		"cluster-wide\n  Webhooks\n",
		fmt.Sprintf("✓ MutatingWebhookConfiguration/aigw-mtls-webhook: %d webhook(s): %s\n", len(strings.Split(webhookNames(true), ", ")), webhookNames(true)),
		fmt.Sprintf("✓ ValidatingWebhookConfiguration/aigw-mtls-webhook: %d webhook(s): %s\n", len(strings.Split(webhookNames(false), ", ")), webhookNames(false)),
		"✓ MutatingWebhookConfiguration/aigw-mtls-webhook: " + hook.URL + " answers TLS\n",
		"✓ MutatingWebhookConfiguration/aigw-mtls-webhook: caBundle verifies the serving certificate served at " + hook.URL + " (CN=aigw-mtls-webhook, expires in ",
		"✓ ValidatingWebhookConfiguration/aigw-mtls-webhook: " + hook.URL + " answers TLS\n",
		"✓ ValidatingWebhookConfiguration/aigw-mtls-webhook: caBundle verifies the serving certificate served at " + hook.URL,
		"✓ MutatingWebhookConfiguration/aigw-mtls-webhook: wires labelled pods: webhook pods.mtls.aigw.io (podInjection.engine=webhook)\n",
		"✓ 23 ok, ⚠ 0 warning(s), ✗ 0 error(s): the NIC → aigw mTLS wiring is complete\n",
	} {
		if !strings.Contains(out, expand(want)) {
			t.Errorf("missing %q", expand(want))
		}
	}

	out, code = runCheck(t, "-n", sc.ns, "-o", "json")
	if code != 0 {
		t.Fatalf("-o json: exit code %d, want 0", code)
	}
	r := parseReport(t, out)
	if r.Summary.OK != len(r.Checks) || r.Summary.Errors != 0 || r.Summary.Warnings != 0 || !slices.Equal(r.Summary.Namespaces, []string{sc.ns}) {
		t.Errorf("summary %+v over %d checks", r.Summary, len(r.Checks))
	}
	var sections []string
	for _, c := range r.Checks {
		if c.Status != "ok" || c.Fix != "" {
			t.Errorf("check %+v: want ok without a fix", c)
		}
		if !slices.Contains(sections, c.Section) {
			sections = append(sections, c.Section)
		}
	}
	if want := []string{"Secrets", "Certificates", "Policies", "VirtualServers", "Ingresses", "ConfigMaps", "Pods", "Webhooks"}; !slices.Equal(sections, want) {
		t.Errorf("sections %v, want %v", sections, want)
	}
}

// Without -n, check covers every namespace holding a labelled object, and only those.
func TestAllNamespacesHoldingLabelledObjects(t *testing.T) {
	a, b := newScenario(t, "all-ns-a").ns, newScenario(t, "all-ns-b").ns
	out, _ := runCheck(t, "-o", "json")
	r := parseReport(t, out)
	for _, ns := range []string{a, b} {
		if !slices.Contains(r.Summary.Namespaces, ns) {
			t.Errorf("namespaces %v: want %s", r.Summary.Namespaces, ns)
		}
	}
	for _, ns := range []string{"default", "kube-system", "svc-hook-system"} {
		if slices.Contains(r.Summary.Namespaces, ns) {
			t.Errorf("namespaces %v: %s holds no labelled object", r.Summary.Namespaces, ns)
		}
	}
	for _, c := range r.Checks {
		if (c.Namespace == a || c.Namespace == b) && c.Status != "ok" {
			t.Errorf("%s %s: %s", c.Status, c.Object, c.Message)
		}
	}
}

func TestUsageAndConnectionErrorsExit2(t *testing.T) {
	for _, tc := range []struct {
		args   []string
		stderr string
	}{
		{[]string{"check", "--kubeconfig", kubeconfig, "--context", "envtest", "-o", "yaml"}, `-o "yaml": expected text or json`},
		{[]string{"check", "--kubeconfig", kubeconfig, "--context", "envtest", "extra"}, `unexpected argument "extra"`},
		{[]string{"check", "--kubeconfig", kubeconfig, "--context", "envtest", "--selector", "nolabel"}, `--selector "nolabel": expected key=value`},
		{[]string{"check", "--kubeconfig", kubeconfig, "--context", "missing"}, `context "missing" does not exist`},
		// The current context's API server does not answer.
		{[]string{"check", "--kubeconfig", kubeconfig, "--timeout", "10s"}, "check: cannot read the cluster:"},
	} {
		stdout, stderr, code := runBinary(t, tc.args...)
		if code != 2 || !strings.Contains(stderr, tc.stderr) || stdout != "" {
			t.Errorf("%v: exit %d, stderr %q, stdout %q; want exit 2 and %q", tc.args[1:], code, stderr, stdout, tc.stderr)
		}
	}
}
