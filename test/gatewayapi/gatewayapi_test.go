// Package gatewayapi runs the Gateway API side end to end on a real kube-apiserver and etcd with
// the Gateway API v1.6.0 CRDs: the chart rendered with gatewayAPI.enabled, its PKI issued as
// cert-manager would, its webhook configurations pointed at the webhook (serve --gateway-api).
package gatewayapi

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	cmapi "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/aigw-mtls/aigw-mtls-webhook/internal/checker"
	"github.com/aigw-mtls/aigw-mtls-webhook/test/harness"
	"github.com/aigw-mtls/aigw-mtls-webhook/test/tools"
	"github.com/aigw-mtls/aigw-mtls-webhook/webhook"
)

const (
	ns        = "ai-gateway"
	releaseNS = "aigw-mtls-system"
)

var (
	btpGVK     = schema.GroupVersionKind{Group: "gateway.networking.k8s.io", Version: "v1", Kind: "BackendTLSPolicy"}
	gatewayGVK = schema.GroupVersionKind{Group: "gateway.networking.k8s.io", Version: "v1", Kind: "Gateway"}
)

func TestGatewayAPIEndToEnd(t *testing.T) {
	env, err := harness.Start()
	if harness.SkipWithout(err) {
		tools.Missing(t, err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Stop() })
	tools.Helm.Need(t)
	ctx := t.Context()
	c := env.Client
	for _, n := range []string{ns, releaseNS} {
		if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: n}}); err != nil {
			t.Fatal(err)
		}
	}
	objs, err := harness.RenderChart("aigw-mtls-webhook", releaseNS, "--set", "gatewayAPI.enabled=true")
	if err != nil {
		t.Fatal(err)
	}
	issued, secrets, err := harness.IssueCertificates(objs)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range secrets {
		if s.GetNamespace() == ns {
			if err := c.Create(ctx, s); err != nil {
				t.Fatal(err)
			}
		}
	}
	o := webhook.DefaultOptions()
	o.GatewayAPI = true
	o.ExcludeNamespaces = append(o.ExcludeNamespaces, releaseNS)
	hook, err := harness.StartWebhook(env.Config, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = hook.Stop() })
	if err := harness.PointWebhooksAt(ctx, c, objs, hook.URL, hook.CABundle); err != nil {
		t.Fatal(err)
	}

	ca := issued[ns+"/aigw-ca"]
	t.Run("the CA sync keeps a labelled ConfigMap with ca.crt", func(t *testing.T) {
		eventually(t, "ConfigMap internal-ca", func() error {
			var cm corev1.ConfigMap
			if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: "internal-ca"}, &cm); err != nil {
				return err
			}
			if cm.Data["ca.crt"] != string(ca.CertPEM) || cm.Labels["aigw"] != "mtls" {
				return fmt.Errorf("ca.crt %d bytes, labels %v", len(cm.Data["ca.crt"]), cm.Labels)
			}
			return nil
		})
	})

	t.Run("a CA added to the ConfigMap by hand is removed at once, without a change of the Secrets", func(t *testing.T) {
		caCrt, _, _ := harness.SeedCertificates(ns)
		foreign, err := harness.Issue(caCrt, nil)
		if err != nil {
			t.Fatal(err)
		}
		var cm corev1.ConfigMap
		if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: "internal-ca"}, &cm); err != nil {
			t.Fatal(err)
		}
		cm.Data["ca.crt"] += string(foreign.CertPEM)
		if err := c.Update(ctx, &cm); err != nil {
			t.Fatal(err)
		}
		eventually(t, "ConfigMap internal-ca without the foreign CA", func() error {
			var cm corev1.ConfigMap
			if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: "internal-ca"}, &cm); err != nil {
				return err
			}
			if cm.Data["ca.crt"] != string(ca.CertPEM) {
				return fmt.Errorf("ca.crt holds %d bytes, want the source CA's %d", len(cm.Data["ca.crt"]), len(ca.CertPEM))
			}
			return nil
		})
	})

	t.Run("a labelled BackendTLSPolicy gets hostname and caCertificateRefs, and the API server stores it", func(t *testing.T) {
		btp := policy(t, "aigw-bare", "")
		var stored *unstructured.Unstructured
		// The webhook's cache must hold the server certificate and the CA ConfigMap first.
		eventually(t, "BackendTLSPolicy admitted", func() error {
			stored = btp.DeepCopy()
			return c.Create(ctx, stored)
		})
		v, _, _ := unstructured.NestedMap(stored.Object, "spec", "validation")
		refs, _ := v["caCertificateRefs"].([]any)
		if v["hostname"] != "aigw.ai-gateway.svc.cluster.local" || len(refs) != 1 || refs[0].(map[string]any)["kind"] != "ConfigMap" || refs[0].(map[string]any)["name"] != "internal-ca" {
			t.Errorf("stored validation %v", v)
		}
		if stored.GetAnnotations()["mtls.aigw.io/injected"] == "" {
			t.Errorf("no record annotation: %v", stored.GetAnnotations())
		}
	})

	t.Run("a hostname the server certificate does not cover is refused with the names that would match", func(t *testing.T) {
		refused(t, ctx, c, policy(t, "aigw-wrong-host", "aigw.example.com"), "spec.validation.hostname", `found "aigw.example.com"`, "one of [aigw.ai-gateway.svc.cluster.local, aigw.ai-gateway.svc]")
	})

	t.Run("a CA that does not issue the server certificate is refused", func(t *testing.T) {
		other, err := harness.Issue(caCertificate("other-ca"), nil)
		if err != nil {
			t.Fatal(err)
		}
		cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "other-ca", Namespace: ns, Labels: map[string]string{"aigw": "mtls"}},
			Data: map[string]string{"ca.crt": string(other.CertPEM)}}
		if err := c.Create(ctx, cm); err != nil {
			t.Fatal(err)
		}
		p := policy(t, "aigw-other-ca", "aigw.ai-gateway.svc.cluster.local")
		_ = unstructured.SetNestedSlice(p.Object, []any{map[string]any{"group": "", "kind": "ConfigMap", "name": "other-ca"}}, "spec", "validation", "caCertificateRefs")
		refused(t, ctx, c, p, "spec.validation (aigw server certificate)", "chains to the CA in caCertificateRefs (CN=Other CA)")
	})

	t.Run("a labelled BackendTLSPolicy for a Service an older policy already covers is refused (NGF marks it Conflicted)", func(t *testing.T) {
		legacy := policy(t, "chat-legacy", "chat.ai-gateway.svc.cluster.local")
		legacy.SetLabels(nil)
		_ = unstructured.SetNestedSlice(legacy.Object, []any{map[string]any{"group": "", "kind": "Service", "name": "chat"}}, "spec", "targetRefs")
		_ = unstructured.SetNestedField(legacy.Object, "System", "spec", "validation", "wellKnownCACertificates")
		if err := c.Create(ctx, legacy); err != nil {
			t.Fatal(err)
		}
		p := policy(t, "chat-mtls", "")
		_ = unstructured.SetNestedSlice(p.Object, []any{map[string]any{"group": "", "kind": "Service", "name": "chat"}}, "spec", "targetRefs")
		refused(t, ctx, c, p, "spec.targetRefs[0]", "BackendTLSPolicy ai-gateway/chat-legacy, older, names it too")
	})

	t.Run("a Gateway without a backend client certificate is refused; with the chart's client certificate it is admitted", func(t *testing.T) {
		refused(t, ctx, c, gateway(nil), "spec.tls.backend.clientCertificateRef", "found none")
		gw := gateway(map[string]any{"name": "aigw-nic-client-tls"})
		if err := c.Create(ctx, gw); err != nil {
			t.Errorf("the chart's client certificate: %v", err)
		}
	})

	// NGF v2.6.7's verdict on a BackendTLSPolicy: internal/controller/status/prepare_requests.go
	// PrepareBackendTLSPolicyRequests writes one ancestor per Gateway, its conditions converted with
	// observedGeneration = the policy's generation (conditions.ConvertConditions).
	verdict := func() string {
		o := checker.DefaultOptions()
		o.Namespace = ns
		r, err := checker.Run(ctx, c, o)
		if err != nil {
			t.Fatal(err)
		}
		out := ""
		for _, ch := range r.Checks {
			if ch.Object == "BackendTLSPolicy/ai-gateway/aigw-bare" {
				out += string(ch.Status) + " " + string(ch.Rule) + " " + ch.Message + "\n"
			}
		}
		return out
	}
	t.Run("check shows NGF's verdict on the BackendTLSPolicy beside its own", func(t *testing.T) {
		if l := verdict(); !strings.Contains(l, "warning NGF_STATUS_MISSING [NGF_STATUS_MISSING] status.ancestors: expected a verdict of NGINX Gateway Fabric") {
			t.Errorf("before NGF wrote anything: %q", l)
		}
		writeNGFStatus(t, ctx, c, "aigw-bare", ngfResolved, ngfAccepted)
		if l := verdict(); !strings.Contains(l, "\nok  NGF: ResolvedRefs=True (reason ResolvedRefs, generation 1): All CACertificateRefs are resolved; Accepted=True (reason Accepted, generation 1): The Policy is accepted for Gateway ai-gateway/aigw\n") || strings.Contains(l, "warning") {
			t.Errorf("accepted by NGF: %q", l)
		}
		// NGF refuses the CA reference while our rules admit the policy: one finding says so.
		writeNGFStatus(t, ctx, c, "aigw-bare",
			map[string]any{"type": "ResolvedRefs", "status": "False", "reason": "InvalidCACertificateRef", "message": "ConfigMap ai-gateway/internal-ca does not have the data or binaryData field ca.crt"},
			map[string]any{"type": "Accepted", "status": "False", "reason": "NoValidCACertificate", "message": "No valid CACertificateRef found"})
		l := verdict()
		if !strings.Contains(l, "error CONTROLLER_REJECTS_ADMITTED [CONTROLLER_REJECTS_ADMITTED] status.ancestors[0] (gateway.nginx.org/nginx-gateway-controller, Gateway ai-gateway/aigw): expected Accepted=True, as our rules find nothing wrong, found NGF: ResolvedRefs=False (reason InvalidCACertificateRef, generation 1): ConfigMap ai-gateway/internal-ca does not have the data or binaryData field ca.crt; Accepted=False (reason NoValidCACertificate") ||
			strings.Count(l, "CONTROLLER_REJECTS_ADMITTED]") != 1 {
			t.Errorf("refused by NGF: %q", l)
		}
		// A change of the spec NGF has not processed yet: its conditions are about generation 1.
		writeNGFStatus(t, ctx, c, "aigw-bare", ngfResolved, ngfAccepted)
		u := &unstructured.Unstructured{}
		u.SetGroupVersionKind(btpGVK)
		if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: "aigw-bare"}, u); err != nil {
			t.Fatal(err)
		}
		_ = unstructured.SetNestedStringMap(u.Object, map[string]string{"example.com/unused": "1"}, "spec", "options")
		if err := c.Update(ctx, u); err != nil {
			t.Fatal(err)
		}
		if l := verdict(); u.GetGeneration() != 2 || !strings.Contains(l, "warning NGF_STATUS_STALE [NGF_STATUS_STALE] status.ancestors[0] (gateway.nginx.org/nginx-gateway-controller, Gateway ai-gateway/aigw): expected conditions of generation 2, found NGF: ResolvedRefs=True (reason ResolvedRefs, generation 1)") {
			t.Errorf("generation %d, stale status: %q", u.GetGeneration(), l)
		}
		writeNGFStatus(t, ctx, c, "aigw-bare", ngfResolved, ngfAccepted)
	})

	t.Run("check reports the Gateway API section, and a renewal that breaks the policy's hostname", func(t *testing.T) {
		o := checker.DefaultOptions()
		o.Namespace = ns
		lines := func() map[string]string {
			r, err := checker.Run(ctx, c, o)
			if err != nil {
				t.Fatal(err)
			}
			out := map[string]string{}
			for _, ch := range r.Checks {
				if ch.Section == checker.SectionGatewayAPI {
					out[ch.Object] += string(ch.Status) + " " + ch.Message + "\n"
				}
			}
			return out
		}
		got := lines()
		if l := got["BackendTLSPolicy/ai-gateway/aigw-bare"]; !strings.HasPrefix(l, "ok hostname aigw.ai-gateway.svc.cluster.local") {
			t.Errorf("BackendTLSPolicy line %q", l)
		}
		if l := got["Gateway/ai-gateway/aigw"]; !strings.HasPrefix(l, "ok backend client certificate aigw-nic-client-tls") {
			t.Errorf("Gateway line %q", l)
		}
		// cert-manager renews the server certificate without the Service's names: Secret writes are
		// never blocked, check reports what nginx will refuse.
		_, server, _ := harness.SeedCertificates(ns)
		server.Spec.DNSNames = []string{"aigw.example.com"}
		renewed, err := harness.Issue(server, ca)
		if err != nil {
			t.Fatal(err)
		}
		sec := renewed.Secret(server)
		var live corev1.Secret
		if err := c.Get(ctx, client.ObjectKeyFromObject(sec), &live); err != nil {
			t.Fatal(err)
		}
		live.Data = sec.Data
		if err := c.Update(ctx, &live); err != nil {
			t.Fatal(err)
		}
		l := lines()["BackendTLSPolicy/ai-gateway/aigw-bare"]
		if !strings.HasPrefix(l, "error [BTP_HOSTNAME_NOT_IN_SAN] spec.validation.hostname: expected a name the aigw server certificate") || !strings.Contains(l, "[aigw.example.com]") {
			t.Errorf("after the renewal, BackendTLSPolicy line %q", l)
		}
	})

	t.Run("NGF accepts the policy our rules now refuse, then agrees", func(t *testing.T) {
		l := verdict()
		if !strings.Contains(l, "error BTP_HOSTNAME_NOT_IN_SAN") || !strings.Contains(l, "warning CONTROLLER_ACCEPTS_REJECTED [CONTROLLER_ACCEPTS_REJECTED] status.ancestors[0] (gateway.nginx.org/nginx-gateway-controller, Gateway ai-gateway/aigw): expected NGF to refuse what our rules report as errors, found NGF: ResolvedRefs=True") {
			t.Errorf("after the renewal, accepted by NGF: %q", l)
		}
		writeNGFStatus(t, ctx, c, "aigw-bare", ngfResolved,
			map[string]any{"type": "Accepted", "status": "False", "reason": "Invalid", "message": "hostname aigw.ai-gateway.svc.cluster.local not in the certificate"})
		if l := verdict(); !strings.Contains(l, "error NGF_NOT_ACCEPTED [NGF_NOT_ACCEPTED] status.ancestors[0] (gateway.nginx.org/nginx-gateway-controller, Gateway ai-gateway/aigw): expected Accepted=True, found NGF: Accepted=False (reason Invalid, generation 2)") {
			t.Errorf("refused by NGF too: %q", l)
		}
	})

	t.Run("a CA rotation: the ConfigMap holds the new CA and keeps the old one; a hand-made ConfigMap is left alone", func(t *testing.T) {
		caCrt, _, _ := harness.SeedCertificates(ns)
		rotated, err := harness.Issue(caCrt, nil)
		if err != nil {
			t.Fatal(err)
		}
		var src corev1.Secret
		if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: "aigw-ca"}, &src); err != nil {
			t.Fatal(err)
		}
		src.Data = rotated.Secret(caCrt).Data
		if err := c.Update(ctx, &src); err != nil {
			t.Fatal(err)
		}
		eventually(t, "ConfigMap internal-ca after the rotation", func() error {
			var cm corev1.ConfigMap
			if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: "internal-ca"}, &cm); err != nil {
				return err
			}
			if !strings.HasPrefix(cm.Data["ca.crt"], string(rotated.CertPEM)) || !strings.Contains(cm.Data["ca.crt"], string(ca.CertPEM)) {
				return fmt.Errorf("ca.crt does not hold the new CA first and the old one after it")
			}
			return nil
		})

		// Another namespace with cert-manager's CA Secret and a ConfigMap internal-ca of its own.
		other := "team-b"
		if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: other}}); err != nil {
			t.Fatal(err)
		}
		own := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "internal-ca", Namespace: other}, Data: map[string]string{"ca.crt": "mine"}}
		if err := c.Create(ctx, own); err != nil {
			t.Fatal(err)
		}
		caB, _, _ := harness.SeedCertificates(other)
		issuedB, err := harness.Issue(caB, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Create(ctx, issuedB.Secret(caB)); err != nil {
			t.Fatal(err)
		}
		eventually(t, "the CA sync's Secret in "+other, func() error {
			var sec corev1.Secret
			return c.Get(ctx, client.ObjectKey{Namespace: other, Name: "internal-ca"}, &sec)
		})
		eventually(t, "Event CAConfigMapNotOwned", func() error {
			var evs corev1.EventList
			if err := c.List(ctx, &evs, client.InNamespace(other)); err != nil {
				return err
			}
			for _, e := range evs.Items {
				if e.Reason == "CAConfigMapNotOwned" {
					return nil
				}
			}
			return fmt.Errorf("no CAConfigMapNotOwned event among %d", len(evs.Items))
		})
		var cm corev1.ConfigMap
		if err := c.Get(ctx, client.ObjectKeyFromObject(own), &cm); err != nil || cm.Data["ca.crt"] != "mine" {
			t.Errorf("the hand-made ConfigMap was changed: %v %v", cm.Data, err)
		}
	})
}

var (
	ngfResolved = map[string]any{"type": "ResolvedRefs", "status": "True", "reason": "ResolvedRefs", "message": "All CACertificateRefs are resolved"}
	ngfAccepted = map[string]any{"type": "Accepted", "status": "True", "reason": "Accepted", "message": "The Policy is accepted"}
)

// writeNGFStatus writes the BackendTLSPolicy's status as NGF v2.6.7 does (status_setters.go
// newBackendTLSPolicyStatusSetter: other controllers' ancestors kept, its own replaced; the
// conditions of conditions.go NewBackendTLSPolicyResolvedRefs, NewPolicyAccepted, ... with
// observedGeneration and lastTransitionTime from ConvertConditions), through the status
// subresource. A second ancestor, another controller's, must not count as NGF's.
func writeNGFStatus(t *testing.T, ctx context.Context, c client.Client, name string, conds ...map[string]any) {
	t.Helper()
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(btpGVK)
	if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, u); err != nil {
		t.Fatal(err)
	}
	var conditions []any
	for _, cond := range conds {
		full := map[string]any{"observedGeneration": u.GetGeneration(), "lastTransitionTime": time.Now().UTC().Format(time.RFC3339)}
		for k, v := range cond {
			full[k] = v
		}
		conditions = append(conditions, full)
	}
	u.Object["status"] = map[string]any{"ancestors": []any{
		map[string]any{
			"ancestorRef":    map[string]any{"group": "gateway.networking.k8s.io", "kind": "Gateway", "namespace": ns, "name": "aigw"},
			"controllerName": "gateway.nginx.org/nginx-gateway-controller",
			"conditions":     conditions,
		},
		map[string]any{
			"ancestorRef":    map[string]any{"group": "gateway.networking.k8s.io", "kind": "Gateway", "namespace": ns, "name": "other"},
			"controllerName": "example.com/other-controller",
			"conditions": []any{map[string]any{"type": "Accepted", "status": "False", "reason": "Invalid", "message": "not ours",
				"observedGeneration": u.GetGeneration(), "lastTransitionTime": time.Now().UTC().Format(time.RFC3339)}},
		},
	}}
	if err := c.Status().Update(ctx, u); err != nil {
		t.Fatal(err)
	}
}

func policy(t *testing.T, name, hostname string) *unstructured.Unstructured {
	t.Helper()
	doc := fmt.Sprintf(`apiVersion: gateway.networking.k8s.io/v1
kind: BackendTLSPolicy
metadata:
  name: %s
  namespace: %s
  labels: {aigw: mtls}
spec:
  targetRefs:
  - {group: "", kind: Service, name: aigw}
`, name, ns)
	if hostname != "" {
		doc += "  validation:\n    hostname: " + hostname + "\n"
	}
	u := &unstructured.Unstructured{}
	if err := yaml.Unmarshal([]byte(doc), &u.Object); err != nil {
		t.Fatal(err)
	}
	u.SetGroupVersionKind(btpGVK)
	return u
}

func gateway(ref map[string]any) *unstructured.Unstructured {
	u := &unstructured.Unstructured{Object: map[string]any{
		"metadata": map[string]any{"name": "aigw", "namespace": ns, "labels": map[string]any{"aigw": "mtls"}},
		"spec": map[string]any{
			"gatewayClassName": "nginx",
			"listeners":        []any{map[string]any{"name": "http", "port": int64(80), "protocol": "HTTP"}},
		},
	}}
	if ref != nil {
		_ = unstructured.SetNestedMap(u.Object, map[string]any{"clientCertificateRef": ref}, "spec", "tls", "backend")
	}
	u.SetGroupVersionKind(gatewayGVK)
	return u
}

// refused creates obj until the webhook (its cache synced) refuses it with every part of want.
func refused(t *testing.T, ctx context.Context, c client.Client, obj *unstructured.Unstructured, want ...string) {
	t.Helper()
	eventually(t, "refusal of "+obj.GetName(), func() error {
		err := c.Create(ctx, obj.DeepCopy())
		if err == nil {
			_ = c.Delete(ctx, obj)
			return fmt.Errorf("admitted")
		}
		for _, w := range want {
			if !strings.Contains(err.Error(), w) {
				return err
			}
		}
		return nil
	})
}

// caCertificate is a self-signed CA Certificate of its own.
func caCertificate(name string) *cmapi.Certificate {
	crt, _, _ := harness.SeedCertificates(ns)
	crt.Name, crt.Spec.SecretName, crt.Spec.CommonName = name, name, "Other CA"
	return crt
}

func eventually(t *testing.T, what string, f func() error) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %v", what, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
