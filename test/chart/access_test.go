package chart_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/aigw-mtls/aigw-mtls-webhook/test/harness"
	"github.com/aigw-mtls/aigw-mtls-webhook/webhook"
)

const (
	victimNS   = "victim"
	tenantNS   = "tenant-a"
	unrelated  = "unrelated"
	tenantUser = "tenant-user"
)

// What only the victim namespace knows. No message or warning to a tenant or a direct caller may
// hold any of them.
var victimMarkers = []string{
	"victim-only.internal.example", // the victim Policy's sslName
	"victim-san.internal.example",  // a SAN of the victim's server certificate
	"victim-client-tls",            // Secrets the victim Policy names
	"victim-ca",
	"2031",                                // the victim certificate's expiry year
	victimNS + "/victim-policy not found", // existence
	victimNS + "/ghost-policy not found",
	"expected one egressMTLS Policy", // a conflict tells the Policy is egressMTLS
}

// TestAccessOnAPIServer installs the chart's own RBAC and admission policies on a real API server
// and checks what they promise: the webhook's ServiceAccount (impersonated) cannot create a token
// Secret or any Secret but the CA sync's, cannot read Secrets outside the namespaces it serves;
// a tenant with rights only in its namespace, and a direct caller of the webhook port, learn
// nothing about another namespace's Policies, Secrets or certificates.
func TestAccessOnAPIServer(t *testing.T) {
	t.Parallel() // an API server of its own; these tests mostly wait on it, so they run together
	helmBinary(t)
	env, err := harness.Start()
	if harness.SkipWithout(err) {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Stop() })
	ctx := t.Context()
	admin := env.Client
	for _, ns := range []string{defaultNamespace, aigwNS, victimNS, tenantNS, unrelated} {
		if err := admin.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
			t.Fatal(err)
		}
	}
	_, objs := render(t, valueSetNamed("defaults"))
	for _, o := range objs {
		switch o.GetKind() {
		case "ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding", "ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding":
			if err := apply(ctx, admin, o); err != nil {
				t.Fatalf("%s: %v", objectKey(o), err)
			}
		}
	}

	t.Run("the ServiceAccount writes no Secret but the CA sync's and reads none outside its namespaces", func(t *testing.T) {
		sa := impersonate(t, env.Config, "system:serviceaccount:"+defaultNamespace+":"+defaultRelease,
			"system:serviceaccounts", "system:serviceaccounts:"+defaultNamespace, "system:authenticated")
		token := &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: "minted-token", Namespace: aigwNS,
				Annotations: map[string]string{corev1.ServiceAccountNameKey: "default"}},
			Type: corev1.SecretTypeServiceAccountToken,
		}
		// The API server's policy informer lags the write: wait until the policy refuses.
		waitFor(t, nil, 30*time.Second, "the ValidatingAdmissionPolicy refusing a token Secret", func() error {
			err := sa.Create(ctx, token.DeepCopy(), client.DryRunAll)
			if err == nil {
				return fmt.Errorf("a token Secret was admitted (dry run)")
			}
			if !apierrors.IsForbidden(err) && !apierrors.IsInvalid(err) {
				return err
			}
			return nil
		})
		for _, s := range []*corev1.Secret{
			token,
			{ObjectMeta: metav1.ObjectMeta{Name: "planted", Namespace: aigwNS}, Type: corev1.SecretTypeOpaque},
			{ObjectMeta: metav1.ObjectMeta{Name: "internal-ca", Namespace: aigwNS}, Type: corev1.SecretTypeOpaque},
			{ObjectMeta: metav1.ObjectMeta{Name: "planted-ca", Namespace: aigwNS}, Type: "nginx.org/ca"},
		} {
			err := sa.Create(ctx, s.DeepCopy())
			if err == nil {
				t.Errorf("the ServiceAccount created Secret %s/%s of type %s", s.Namespace, s.Name, s.Type)
				continue
			}
			if !strings.Contains(err.Error(), "expected the CA sync's Secret internal-ca of type nginx.org/ca") {
				t.Errorf("Secret %s (type %s): refused, but not by the chart's policy with its message: %v", s.Name, s.Type, err)
			}
		}
		// In a namespace without a CA sync, RBAC refuses any create.
		if err := sa.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "internal-ca", Namespace: unrelated}, Type: "nginx.org/ca"}); !apierrors.IsForbidden(err) {
			t.Errorf("create Secret internal-ca in %s: want Forbidden, got %v", unrelated, err)
		}
		// The CA sync's own Secret is allowed.
		own := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "internal-ca", Namespace: aigwNS}, Type: "nginx.org/ca", Data: map[string][]byte{"ca.crt": []byte("x")}}
		if err := sa.Create(ctx, own); err != nil {
			t.Errorf("the CA sync's Secret refused: %v", err)
		} else {
			own.Type = corev1.SecretTypeOpaque
			if err := sa.Update(ctx, own, client.DryRunAll); err == nil {
				t.Errorf("the ServiceAccount updated the CA Secret to type Opaque")
			}
			_ = admin.Delete(ctx, own)
		}
		// A hand-made internal-ca of another type: the ServiceAccount may not update it, even
		// keeping its type (the API server refuses a type change whatever the policy says).
		handMade := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "internal-ca", Namespace: aigwNS}, Type: corev1.SecretTypeOpaque, Data: map[string][]byte{"ca.crt": []byte("x")}}
		if err := admin.Create(ctx, handMade); err != nil {
			t.Fatal(err)
		}
		handMade.Data = map[string][]byte{"ca.crt": []byte("planted")}
		if err := sa.Update(ctx, handMade, client.DryRunAll); err == nil {
			t.Errorf("the ServiceAccount updated a hand-made Opaque Secret %s/internal-ca", aigwNS)
		} else if !strings.Contains(err.Error(), "expected the CA sync's Secret internal-ca of type nginx.org/ca") {
			t.Errorf("update of a hand-made Opaque internal-ca: refused, but not by the chart's policy with its message: %v", err)
		}
		_ = admin.Delete(ctx, handMade)
		// Reads: the namespaces served, nothing else.
		if err := sa.List(ctx, &corev1.SecretList{}, client.InNamespace(aigwNS)); err != nil {
			t.Errorf("list Secrets in %s: %v", aigwNS, err)
		}
		for _, ns := range []string{unrelated, victimNS, ""} {
			if err := sa.List(ctx, &corev1.SecretList{}, client.InNamespace(ns)); !apierrors.IsForbidden(err) {
				t.Errorf("list Secrets in %q: want Forbidden, got %v", ns, err)
			}
		}
		if err := sa.Get(ctx, client.ObjectKey{Namespace: unrelated, Name: "anything"}, &corev1.Secret{}); !apierrors.IsForbidden(err) {
			t.Errorf("get a Secret in %s: want Forbidden, got %v", unrelated, err)
		}
	})

	t.Run("a tenant and a direct caller learn nothing about another namespace", func(t *testing.T) {
		testNoDisclosure(t, ctx, env)
	})
}

// testNoDisclosure: the victim namespace holds a Policy whose sslName its server certificate does
// not cover (an admin referencing it is refused with both names), and names Secrets that do not
// exist. A tenant who may not read the victim namespace references it, through the API server
// and by calling the webhook port directly: every answer says only that the reference cannot be
// checked.
func testNoDisclosure(t *testing.T, ctx context.Context, env *harness.Env) {
	admin := env.Client
	policy := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "k8s.nginx.org/v1", "kind": "Policy",
		"metadata": map[string]any{"name": "victim-policy", "namespace": victimNS},
		"spec": map[string]any{"egressMTLS": map[string]any{
			"tlsSecret": "victim-client-tls", "trustedCertSecret": "victim-ca", "verifyServer": true,
			"sslName": "victim-only.internal.example", "protocols": "TLSv1.3",
		}},
	}}
	if err := admin.Create(ctx, policy); err != nil {
		t.Fatal(err)
	}
	server := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "aigw-server-tls", Namespace: victimNS, Labels: map[string]string{"aigw": "mtls"}},
		Type:       corev1.SecretTypeTLS,
		Data:       victimServerCert(t),
	}
	if err := admin.Create(ctx, server); err != nil {
		t.Fatal(err)
	}
	tenantRBAC(t, ctx, admin)

	o := webhook.DefaultOptions()
	o.CASyncSource = ""
	hook, err := harness.StartWebhook(env.Config, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = hook.Stop() })
	registerWebhooks(t, ctx, admin, hook)

	vs := func(name, ref string) *unstructured.Unstructured {
		return &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "k8s.nginx.org/v1", "kind": "VirtualServer",
			"metadata": map[string]any{"name": name, "namespace": tenantNS, "labels": map[string]any{"aigw": "mtls"},
				"annotations": map[string]any{"mtls.aigw.io/policy": ref}},
			"spec": map[string]any{
				"host":      name + ".example.com",
				"upstreams": []any{map[string]any{"name": "aigw", "service": "aigw", "port": int64(80)}},
				"routes":    []any{map[string]any{"path": "/", "action": map[string]any{"pass": "aigw"}}},
			},
		}}
	}

	// Control: an admin learns what the victim's Policy is (the test detects a disclosure).
	adminWarnings := &warnings{}
	adminClient := withWarnings(t, env.Config, adminWarnings)
	err = adminClient.Create(ctx, vs("admin-view", victimNS+"/victim-policy"), client.DryRunAll)
	if err == nil || !strings.Contains(err.Error(), "victim-only.internal.example") || !strings.Contains(err.Error(), "victim-san.internal.example") {
		t.Fatalf("an admin referencing the victim's Policy: want a refusal naming its sslName and the certificate's names, got %v", err)
	}

	vsr := func(name string) *unstructured.Unstructured {
		return &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "k8s.nginx.org/v1", "kind": "VirtualServerRoute",
			"metadata": map[string]any{"name": name, "namespace": tenantNS, "labels": map[string]any{"aigw": "mtls"},
				"annotations": map[string]any{"mtls.aigw.io/policy": victimNS + "/victim-policy"}},
			"spec": map[string]any{
				"host":      "tenant.example.com",
				"upstreams": []any{map[string]any{"name": "aigw", "service": "aigw", "port": int64(80)}},
				"subroutes": []any{map[string]any{"path": "/ai", "action": map[string]any{"pass": "aigw"},
					"policies": []any{map[string]any{"name": "victim-policy", "namespace": victimNS}}}},
			},
		}}
	}
	// A route already referencing the victim's Policy, and the annotation naming one of the
	// tenant's own: whether that is a conflict depends on the victim's Policy being egressMTLS.
	conflict := func(name string) *unstructured.Unstructured {
		o := vs(name, "aigw-mtls")
		_ = unstructured.SetNestedSlice(o.Object, []any{map[string]any{"path": "/", "action": map[string]any{"pass": "aigw"},
			"policies": []any{map[string]any{"name": "victim-policy", "namespace": victimNS}}}}, "spec", "routes")
		return o
	}
	if err := adminClient.Create(ctx, vsr("admin-view"), client.DryRunAll); err == nil || !strings.Contains(err.Error(), "victim-san.internal.example") {
		t.Errorf("an admin's VirtualServerRoute subroute referencing the victim's Policy: want a refusal naming the certificate's names, got %v", err)
	}
	if err := adminClient.Create(ctx, conflict("admin-conflict"), client.DryRunAll); err == nil || !strings.Contains(err.Error(), "expected one egressMTLS Policy") {
		t.Errorf("an admin's route referencing the victim's egressMTLS Policy and the annotation another: want the conflict, got %v", err)
	}

	// The tenant, through the API server.
	tenantWarnings := &warnings{}
	tenant := withWarnings(t, impersonateConfig(env.Config, tenantUser, "system:authenticated"), tenantWarnings)
	answers := map[string]string{}
	for _, ref := range []string{"victim-policy", "ghost-policy"} {
		mark := tenantWarnings.mark()
		err := tenant.Create(ctx, vs("tenant-"+ref, victimNS+"/"+ref), client.DryRunAll)
		if err != nil {
			t.Errorf("the tenant's VirtualServer referencing %s/%s: want admitted with a warning, got %v", victimNS, ref, err)
		}
		got := tenantWarnings.since(mark)
		assertNoDisclosure(t, "tenant via the API server, "+ref, got)
		if !strings.Contains(got, "cannot be checked") {
			t.Errorf("tenant referencing %s: want a warning that the reference cannot be checked, got %q", ref, got)
		}
		answers[ref] = strings.ReplaceAll(got, ref, "REF")
	}
	for what, obj := range map[string]*unstructured.Unstructured{"VirtualServerRoute subroute": vsr("tenant-vsr"), "route with a conflict": conflict("tenant-conflict")} {
		mark := tenantWarnings.mark()
		err := tenant.Create(ctx, obj, client.DryRunAll)
		got := tenantWarnings.since(mark)
		if err != nil {
			got += "\n" + err.Error()
		}
		assertNoDisclosure(t, "tenant via the API server, "+what, got)
		if !strings.Contains(got, "Policy "+victimNS+"/victim-policy cannot be checked") {
			t.Errorf("tenant, %s: want a warning that the reference cannot be checked, got %q", what, got)
		}
	}
	// An existing Policy and a missing one read the same: not even existence is disclosed.
	if answers["victim-policy"] != answers["ghost-policy"] {
		t.Errorf("the answers tell an existing Policy from a missing one:\n%s\n%s", answers["victim-policy"], answers["ghost-policy"])
	}

	// A direct caller of the webhook port, with a forged AdmissionReview naming no user, or the
	// tenant: the same object, already holding the reference.
	obj := vs("direct", victimNS+"/victim-policy")
	_ = unstructured.SetNestedSlice(obj.Object, []any{map[string]any{"path": "/", "action": map[string]any{"pass": "aigw"},
		"policies": []any{map[string]any{"name": "victim-policy", "namespace": victimNS}}}}, "spec", "routes")
	for _, user := range []map[string]any{{}, {"username": tenantUser, "groups": []any{"system:authenticated"}}} {
		for _, path := range []string{webhook.PathValidateVirtualServer, webhook.PathMutateVirtualServer} {
			got := postReview(t, hook.URL+path, nil, obj, user)
			assertNoDisclosure(t, fmt.Sprintf("direct caller as %v on %s", user, path), got)
		}
	}

	// A review naming no user (the API server always names one) learns nothing even about the
	// namespace it claims: a labelled Policy "in" the victim namespace, checked against the
	// victim's server certificate, tells neither its names nor its expiry.
	claimed := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "k8s.nginx.org/v1", "kind": "Policy",
		"metadata": map[string]any{"name": "probe", "namespace": victimNS, "labels": map[string]any{"aigw": "mtls"}},
		"spec": map[string]any{"egressMTLS": map[string]any{"tlsSecret": "probe-tls", "trustedCertSecret": "probe-ca", "verifyServer": true,
			"sslName": "guess.example", "protocols": "TLSv1.3"}},
	}}
	got := postReview(t, hook.URL+webhook.PathValidatePolicy, nil, claimed, map[string]any{})
	for _, m := range []string{"victim-san.internal.example", "2031", "probe-tls not found", "probe-ca not found"} {
		if strings.Contains(got, m) {
			t.Errorf("a review naming no user, claiming namespace %s, learns %q:\n%s", victimNS, m, got)
		}
	}
	if !strings.Contains(got, "cannot be checked") {
		t.Errorf("a review naming no user: want the references reported as not checkable, got %s", got)
	}

	// With client authentication on, a caller without the API server's client certificate is
	// refused before it can send anything; the API server's certificate is answered.
	clientCA, clientCert, otherCert := clientCertificate(t)
	o.ClientCAName = "client-ca.crt"
	authed, err := harness.StartWebhookWithFiles(env.Config, o, map[string][]byte{"client-ca.crt": clientCA})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = authed.Stop() })
	if got, err := tryReview(authed.URL+webhook.PathValidateVirtualServer, nil, obj, map[string]any{}); err == nil {
		t.Errorf("client authentication on: a caller without a client certificate was answered: %s", got)
	}
	got = postReview(t, authed.URL+webhook.PathValidateVirtualServer, &clientCert, obj, map[string]any{})
	assertNoDisclosure(t, "authenticated caller naming no user", got)
	// Another certificate the same CA signed (a node's, say) is refused too: it does not name the
	// API server (--client-allowed-subjects, default kube-apiserver), so claiming system:masters
	// with it learns nothing.
	master := map[string]any{"username": "admin", "groups": []any{"system:masters", "system:authenticated"}}
	if got, err := tryReview(authed.URL+webhook.PathValidateVirtualServer, &otherCert, obj, master); err == nil {
		t.Errorf("client authentication on: a certificate of the client CA not naming the API server was answered: %s", got)
	}
}

func assertNoDisclosure(t *testing.T, who, answer string) {
	t.Helper()
	for _, m := range victimMarkers {
		if strings.Contains(answer, m) {
			t.Errorf("%s learns %q about namespace %s:\n%s", who, m, victimNS, answer)
		}
	}
}

// tenantRBAC: the tenant may do anything with Secrets and NIC resources in its namespace, nothing
// elsewhere.
func tenantRBAC(t *testing.T, ctx context.Context, c client.Client) {
	t.Helper()
	role := &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "tenant", Namespace: tenantNS}, Rules: []rbacv1.PolicyRule{
		{APIGroups: []string{""}, Resources: []string{"secrets", "configmaps", "pods"}, Verbs: []string{"*"}},
		{APIGroups: []string{"k8s.nginx.org"}, Resources: []string{"*"}, Verbs: []string{"*"}},
		{APIGroups: []string{"cert-manager.io"}, Resources: []string{"*"}, Verbs: []string{"*"}},
	}}
	binding := &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "tenant", Namespace: tenantNS},
		RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: "tenant"},
		Subjects: []rbacv1.Subject{{Kind: "User", APIGroup: "rbac.authorization.k8s.io", Name: tenantUser}}}
	for _, o := range []client.Object{role, binding} {
		if err := c.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
}

// registerWebhooks points the product's webhook configurations (as the chart registers them) at hook.
func registerWebhooks(t *testing.T, ctx context.Context, c client.Client, hook *harness.Webhook) {
	t.Helper()
	mutating, validating, err := harness.ChartWebhooks("access-test", hook.URL, hook.CABundle)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Create(ctx, mutating); err != nil {
		t.Fatal(err)
	}
	if err := c.Create(ctx, validating); err != nil {
		t.Fatal(err)
	}
	if err := harness.WaitForPodMutation(ctx, c, tenantNS); err != nil {
		t.Fatal(err)
	}
}

func impersonateConfig(cfg *rest.Config, user string, groups ...string) *rest.Config {
	c := rest.CopyConfig(cfg)
	c.Impersonate = rest.ImpersonationConfig{UserName: user, Groups: groups}
	return c
}

func impersonate(t *testing.T, cfg *rest.Config, user string, groups ...string) client.Client {
	t.Helper()
	c, err := client.New(impersonateConfig(cfg, user, groups...), client.Options{Scheme: harness.Scheme()})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// warnings collects the warnings the API server returns to one client.
type warnings struct {
	mu   sync.Mutex
	msgs []string
}

func (w *warnings) HandleWarningHeader(_ int, _ string, text string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.msgs = append(w.msgs, text)
}

func (w *warnings) mark() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.msgs)
}

func (w *warnings) since(mark int) string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return strings.Join(w.msgs[mark:], "\n")
}

func withWarnings(t *testing.T, cfg *rest.Config, w *warnings) client.Client {
	t.Helper()
	cfg = rest.CopyConfig(cfg)
	cfg.WarningHandler = w
	c, err := client.New(cfg, client.Options{Scheme: harness.Scheme()})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// postReview sends a forged AdmissionReview (CREATE of obj in its namespace, by user) and returns
// everything the answer says: status, message and warnings, patch included.
func postReview(t *testing.T, url string, cert *tls.Certificate, obj *unstructured.Unstructured, user map[string]any) string {
	t.Helper()
	got, err := tryReview(url, cert, obj, user)
	if err != nil {
		t.Fatalf("POST %s: %v", url, err)
	}
	return got
}

func tryReview(url string, cert *tls.Certificate, obj *unstructured.Unstructured, user map[string]any) (string, error) {
	raw, err := json.Marshal(obj.Object)
	if err != nil {
		return "", err
	}
	review := map[string]any{
		"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
		"request": map[string]any{
			"uid":       "00000000-0000-0000-0000-000000000001",
			"kind":      map[string]any{"group": "k8s.nginx.org", "version": "v1", "kind": obj.GetKind()},
			"resource":  map[string]any{"group": "k8s.nginx.org", "version": "v1", "resource": map[string]string{"Policy": "policies"}[obj.GetKind()] + map[string]string{"VirtualServer": "virtualservers"}[obj.GetKind()]},
			"name":      obj.GetName(),
			"namespace": obj.GetNamespace(),
			"operation": "CREATE",
			"userInfo":  user,
			"object":    json.RawMessage(raw),
		},
	}
	body, _ := json.Marshal(review)
	tr := &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}} // a caller that trusts anything
	if cert != nil {
		tr.TLSClientConfig.Certificates = []tls.Certificate{*cert}
	}
	c := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	resp, err := c.Post(url, "application/json", bytes.NewReader(body))
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	var out admissionv1.AdmissionReview
	if err := json.Unmarshal(b, &out); err != nil || out.Response == nil {
		return "", fmt.Errorf("answer %s: %s", resp.Status, b)
	}
	// The patch is base64 in the JSON: decode it so markers in it are seen.
	return string(b) + "\n" + string(out.Response.Patch), nil
}

// victimServerCert is a self-signed server certificate for victim-san.internal.example, valid
// until 2031.
func victimServerCert(t *testing.T) map[string][]byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "victim-san.internal.example"},
		DNSNames:  []string{"victim-san.internal.example"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Date(2031, 7, 19, 0, 0, 0, 0, time.UTC),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, KeyUsage: x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, _ := x509.MarshalPKCS8PrivateKey(key)
	return map[string][]byte{
		"tls.crt": pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		"tls.key": pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}),
	}
}

// clientCertificate is a CA and a client certificate it signed (what the API server presents
// when its admission kubeconfig names one).
func clientCertificate(t *testing.T) (caPEM []byte, apiserver, other tls.Certificate) {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "apiserver client CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	issue := func(serial int64, cn string) tls.Certificate {
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: cn},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
			ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, KeyUsage: x509.KeyUsageDigitalSignature}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), issue(2, "kube-apiserver"), issue(3, "system:node:worker-1")
}
