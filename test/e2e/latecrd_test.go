package e2e

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	crmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/aigw-mtls/aigw-mtls-webhook/test/harness"
	"github.com/aigw-mtls/aigw-mtls-webhook/webhook"
)

// TestLateCRDs: NGINX Ingress Controller is installed after the webhook started. The webhook
// becomes ready without NIC's CRDs, starts the Policy informer once the CRD appears, and then
// judges a VirtualServer by the Policy it references (refused), never as if the Policy were
// missing (which would only warn).
func TestLateCRDs(t *testing.T) {
	t.Parallel() // on an API server of its own (main_test.go, "Parallel tests")
	cm, err := harness.CertManagerCRDDir()
	if err != nil {
		t.Fatal(err)
	}
	te := &envtest.Environment{BinaryAssetsDirectory: harness.AssetsDir(), CRDDirectoryPaths: []string{cm}, ErrorIfCRDPathMissing: true}
	cfg, err := te.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = te.Stop() })
	c, err := client.New(cfg, client.Options{Scheme: harness.Scheme()})
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	const space = "late-nic"
	if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: space}}); err != nil {
		t.Fatal(err)
	}
	o := webhook.DefaultOptions()
	o.CASyncSource = ""
	late, err := harness.StartWebhook(cfg, o) // returns once /readyz answers 200
	if err != nil {
		t.Fatalf("the webhook must become ready without NIC's CRDs: %v", err)
	}
	t.Cleanup(func() { _ = late.Stop() })

	// Until then, a reference to a Policy says which kind is not served, group and version included.
	early := map[string]any{
		"apiVersion": "k8s.nginx.org/v1", "kind": "VirtualServer",
		"metadata": map[string]any{"name": "early", "namespace": space, "labels": map[string]any{"aigw": "mtls"}},
		"spec": map[string]any{
			"host":      "aigw.example.com",
			"upstreams": []any{map[string]any{"name": "aigw", "service": "aigw", "port": 80}},
			"routes":    []any{map[string]any{"path": "/", "action": map[string]any{"pass": "aigw"}, "policies": []any{map[string]any{"name": "any"}}}},
		},
	}
	resp, err := review(late, webhook.PathValidateVirtualServer, early)
	if err != nil {
		t.Fatal(err)
	}
	if said := resp.Result.Message + strings.Join(resp.Warnings, "\n"); !strings.Contains(said, "k8s.nginx.org/v1, Kind=Policy not served by the API server (CRD not installed)") {
		t.Errorf("before NIC's CRDs: want the Policy reference reported as not served, naming k8s.nginx.org/v1; got %q", said)
	}

	if _, err := envtest.InstallCRDs(cfg, envtest.CRDInstallOptions{Paths: []string{harness.NICCRDDir()}, ErrorIfPathMissing: true}); err != nil {
		t.Fatal(err)
	}
	broken := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "k8s.nginx.org/v1", "kind": "Policy",
		"metadata": map[string]any{"name": "broken", "namespace": space},
		"spec":     map[string]any{"egressMTLS": map[string]any{"tlsSecret": "aigw-nic-client-tls", "verifyServer": true, "sslName": "aigw.late-nic.svc"}},
	}}
	if err := c.Create(ctx, broken); err != nil {
		t.Fatal(err)
	}
	vs := map[string]any{
		"apiVersion": "k8s.nginx.org/v1", "kind": "VirtualServer",
		"metadata": map[string]any{"name": "aigw", "namespace": space, "labels": map[string]any{"aigw": "mtls"}},
		"spec": map[string]any{
			"host":      "aigw.example.com",
			"upstreams": []any{map[string]any{"name": "aigw", "service": "aigw", "port": 80}},
			"routes":    []any{map[string]any{"path": "/", "action": map[string]any{"pass": "aigw"}, "policies": []any{map[string]any{"name": "broken"}}}},
		},
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := review(late, webhook.PathValidateVirtualServer, vs)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(strings.Join(resp.Warnings, "\n"), "Policy late-nic/broken not found") {
			t.Fatalf("a Policy that exists reads as not found: %v", resp.Warnings)
		}
		if !resp.Allowed && strings.Contains(resp.Result.Message, "Policy/late-nic/broken: [POLICY_TRUSTED_CERT_SECRET_MISSING] spec.egressMTLS.trustedCertSecret") {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after NIC's CRDs appeared: want the VirtualServer refused for its Policy's missing trustedCertSecret, got allowed=%v %+v warnings %v",
				resp.Allowed, resp.Result, resp.Warnings)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// review sends obj to the webhook as the API server would (a CREATE by a cluster admin) and
// returns the answer.
func review(w *harness.Webhook, path string, obj map[string]any) (*admissionv1.AdmissionResponse, error) {
	raw, _ := json.Marshal(obj)
	meta := obj["metadata"].(map[string]any)
	body, _ := json.Marshal(map[string]any{
		"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
		"request": map[string]any{
			"uid": "late-crd", "kind": map[string]any{"group": "k8s.nginx.org", "version": "v1", "kind": obj["kind"]},
			"resource": map[string]any{"group": "k8s.nginx.org", "version": "v1", "resource": strings.ToLower(fmt.Sprint(obj["kind"])) + "s"},
			"name":     meta["name"], "namespace": meta["namespace"], "operation": "CREATE",
			"userInfo": map[string]any{"username": "admin", "groups": []any{"system:masters"}},
			"object":   json.RawMessage(raw),
		},
	})
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(w.CABundle)
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	req, _ := http.NewRequestWithContext(context.Background(), http.MethodPost, w.URL+path, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var out admissionv1.AdmissionReview
	if err := json.Unmarshal(b, &out); err != nil || out.Response == nil {
		return nil, fmt.Errorf("answer %s: %s", resp.Status, b)
	}
	if out.Response.Result == nil {
		out.Response.Result = &metav1.Status{}
	}
	return out.Response, nil
}

// TestLateCRDsPolicySeriesGoWithTheirPolicy: with NGINX Ingress Controller installed after the
// webhook started, the series the audit sets for a broken Policy still goes as soon as the Policy
// is deleted (its informer, started when the CRD appeared, reports the delete), not only at the
// next audit of its namespace.
func TestLateCRDsPolicySeriesGoWithTheirPolicy(t *testing.T) {
	t.Parallel() // on an API server of its own (main_test.go, "Parallel tests")
	cm, err := harness.CertManagerCRDDir()
	if err != nil {
		t.Fatal(err)
	}
	te := &envtest.Environment{BinaryAssetsDirectory: harness.AssetsDir(), CRDDirectoryPaths: []string{cm}, ErrorIfCRDPathMissing: true}
	cfg, err := te.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = te.Stop() })
	c, err := client.New(cfg, client.Options{Scheme: harness.Scheme()})
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	const space = "late-nic-series"
	if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: space}}); err != nil {
		t.Fatal(err)
	}
	o := webhook.DefaultOptions()
	o.CASyncSource = ""
	late, err := harness.StartWebhook(cfg, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = late.Stop() })
	// Until then, a reference to a Policy says which kind is not served, group and version included.
	early := map[string]any{
		"apiVersion": "k8s.nginx.org/v1", "kind": "VirtualServer",
		"metadata": map[string]any{"name": "early", "namespace": space, "labels": map[string]any{"aigw": "mtls"}},
		"spec": map[string]any{
			"host":      "aigw.example.com",
			"upstreams": []any{map[string]any{"name": "aigw", "service": "aigw", "port": 80}},
			"routes":    []any{map[string]any{"path": "/", "action": map[string]any{"pass": "aigw"}, "policies": []any{map[string]any{"name": "any"}}}},
		},
	}
	resp, err := review(late, webhook.PathValidateVirtualServer, early)
	if err != nil {
		t.Fatal(err)
	}
	if said := resp.Result.Message + strings.Join(resp.Warnings, "\n"); !strings.Contains(said, "k8s.nginx.org/v1, Kind=Policy not served by the API server (CRD not installed)") {
		t.Errorf("before NIC's CRDs: want the Policy reference reported as not served, naming k8s.nginx.org/v1; got %q", said)
	}

	if _, err := envtest.InstallCRDs(cfg, envtest.CRDInstallOptions{Paths: []string{harness.NICCRDDir()}, ErrorIfPathMissing: true}); err != nil {
		t.Fatal(err)
	}
	broken := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "k8s.nginx.org/v1", "kind": "Policy",
		"metadata": map[string]any{"name": "broken", "namespace": space, "labels": map[string]any{"aigw": "mtls"}},
		"spec":     map[string]any{"egressMTLS": map[string]any{"tlsSecret": "aigw-nic-client-tls", "verifyServer": true, "sslName": "aigw.late-nic-series.svc"}},
	}}
	if err := c.Create(ctx, broken); err != nil {
		t.Fatal(err)
	}
	// A labelled Secret write in the namespace makes the audit re-check its Policies.
	touched := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "touched", Namespace: space, Labels: map[string]string{"aigw": "mtls"}}}
	if err := c.Create(ctx, touched); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the broken Policy's series", func() error {
		touched.Annotations = map[string]string{"example.com/touched": time.Now().Format(time.RFC3339Nano)}
		if err := c.Update(ctx, touched); err != nil {
			return err
		}
		time.Sleep(200 * time.Millisecond)
		if n := policyProblemSeries(t, space, "broken"); n == 0 {
			return errorf("no aigw_mtls_policy_problems series for Policy %s/broken", space)
		}
		return nil
	})
	if err := c.Delete(ctx, broken); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the deleted Policy's series removed, with no audit in between", func() error {
		if n := policyProblemSeries(t, space, "broken"); n > 0 {
			return errorf("%d aigw_mtls_policy_problems series for the deleted Policy %s/broken", n, space)
		}
		return nil
	})
}

// policyProblemSeries counts the aigw_mtls_policy_problems series of a Policy in the registry
// every webhook of this process exports on /metrics.
func policyProblemSeries(t *testing.T, namespace, policy string) int {
	t.Helper()
	families, err := crmetrics.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, f := range families {
		if f.GetName() != "aigw_mtls_policy_problems" {
			continue
		}
		for _, m := range f.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["namespace"] == namespace && labels["policy"] == policy {
				n++
			}
		}
	}
	return n
}
