package checker

import (
	"bytes"
	"context"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	"github.com/aigw-mtls/aigw-mtls-webhook/internal/rules"
)

// The end-to-end tests (test/check) run the command against a real API server; these cover what
// they do not: the report's layout, kinds whose CRDs are missing, VirtualServerRoutes.

func TestWriteTextGroupsByNamespaceThenClusterWide(t *testing.T) {
	r := newReport([]Check{
		{Section: SectionCluster, Object: "k8s.nginx.org/v1 Policy", Status: StatusWarning, Message: "not served", Fix: "install the CRDs"},
		{Section: SectionSecrets, Namespace: "b", Object: "Secret/b/internal-ca", Status: StatusOK, Message: "fine", Fix: "never shown"},
		{Section: SectionPods, Namespace: "b", Object: "Pod/b/aigw", Status: StatusError, Message: "not mounted", Fix: "roll it out"},
		{Section: SectionWebhooks, Object: "MutatingWebhookConfiguration/x", Status: StatusOK, Message: "ok"},
	}, []string{"b"})
	var b bytes.Buffer
	if err := r.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	want := `namespace b
  Secrets
    ✓ Secret/b/internal-ca: fine
  Pods
    ✗ Pod/b/aigw: not mounted
        fix: roll it out
cluster-wide
  Cluster
    ⚠ k8s.nginx.org/v1 Policy: not served
        fix: install the CRDs
  Webhooks
    ✓ MutatingWebhookConfiguration/x: ok

✓ 2 ok, ⚠ 1 warning(s), ✗ 1 error(s): the NIC → aigw mTLS wiring is broken
`
	if b.String() != want {
		t.Errorf("got:\n%s\nwant:\n%s", b.String(), want)
	}
	if !r.Failed() {
		t.Error("an error must fail the check")
	}
	if newReport([]Check{{Status: StatusWarning}}, nil).Failed() {
		t.Error("a warning must not fail the check")
	}
}

// A cluster without NIC's and cert-manager's CRDs, and without anything labelled: check says so
// instead of failing to read the cluster.
func TestClusterWithoutCRDsOrLabelledObjects(t *testing.T) {
	// As a real client answers for kinds the API server does not serve.
	noCRDs := interceptor.Funcs{List: func(ctx context.Context, c client.WithWatch, list client.ObjectList, opts ...client.ListOption) error {
		if u, ok := list.(*unstructured.UnstructuredList); ok {
			gvk := u.GroupVersionKind()
			return &meta.NoKindMatchError{GroupKind: gvk.GroupKind(), SearchedVersions: []string{gvk.Version}}
		}
		return c.List(ctx, list, opts...)
	}}
	c := fake.NewClientBuilder().WithScheme(coreScheme(t)).WithInterceptorFuncs(noCRDs).Build()
	r, err := Run(context.Background(), c, DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	_ = r.WriteText(&b)
	for _, want := range []string{
		"⚠ k8s.nginx.org/v1 Policy: not served by the API server (CRD not installed)",
		"⚠ cert-manager.io/v1 Certificate: not served by the API server",
		"⚠ namespaces: no object labelled aigw=mtls in any namespace: nothing is wired",
		"✗ MutatingWebhookConfiguration: none with a webhook named *.mtls.aigw.io: labelled pods, ConfigMaps, VirtualServers and Ingresses are not wired",
		"✗ ValidatingWebhookConfiguration: none with a webhook named *.mtls.aigw.io",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("missing %q in:\n%s", want, b.String())
		}
	}
}

// A VirtualServerRoute's subroutes are checked like a VirtualServer's routes.
func TestVirtualServerRouteSubrouteWithoutThePolicy(t *testing.T) {
	vsr := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "k8s.nginx.org/v1", "kind": "VirtualServerRoute",
		"metadata": map[string]any{"name": "chat", "namespace": "ai", "labels": map[string]any{"aigw": "mtls"}},
		"spec": map[string]any{
			"host":      "aigw.example.com",
			"upstreams": []any{map[string]any{"name": "aigw", "service": "aigw", "port": int64(80), "tls": map[string]any{"enable": true}}},
			"subroutes": []any{map[string]any{"path": "/chat", "policies": []any{map[string]any{"name": "jwt"}},
				"action": map[string]any{"pass": "aigw"}}},
		},
	}}
	c := fake.NewClientBuilder().WithScheme(coreScheme(t)).WithRESTMapper(restMapper()).WithObjects(vsr).Build()
	r, err := Run(context.Background(), c, Options{Settings: DefaultOptions().Settings, Namespace: "ai", Service: "aigw"})
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, ch := range r.Checks {
		if ch.Object == "VirtualServerRoute/ai/chat" && ch.Rule != rules.NICStatusMissing.ID {
			found = true
			want := "[VS_ROUTE_POLICY_UNWIRED] spec.subroutes[0] (path /chat): expected a reference to the EgressMTLS Policy ai/aigw-mtls: the subroute sends traffic to the aigw upstream, found none"
			if ch.Status != StatusError || !strings.HasPrefix(ch.Message, want) || !strings.Contains(ch.Fix, "spec.subroutes[0].policies") {
				t.Errorf("got %+v, want an error %q", ch, want)
			}
		}
	}
	if !found {
		t.Errorf("no check of VirtualServerRoute/ai/chat in %+v", r.Checks)
	}
}

// restMapper knows the kinds check lists: built-in ones, NIC's and cert-manager's.
func restMapper() meta.RESTMapper {
	m := meta.NewDefaultRESTMapper(nil)
	for _, gvk := range []schema.GroupVersionKind{corev1.SchemeGroupVersion.WithKind("Secret"), corev1.SchemeGroupVersion.WithKind("Pod"),
		corev1.SchemeGroupVersion.WithKind("Service"), corev1.SchemeGroupVersion.WithKind("ConfigMap"),
		{Group: "networking.k8s.io", Version: "v1", Kind: "Ingress"},
		{Group: "discovery.k8s.io", Version: "v1", Kind: "EndpointSlice"}} {
		m.Add(gvk, meta.RESTScopeNamespace)
	}
	for _, kind := range []string{"MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"} {
		m.Add(schema.GroupVersionKind{Group: "admissionregistration.k8s.io", Version: "v1", Kind: kind}, meta.RESTScopeRoot)
	}
	for _, gvk := range []schema.GroupVersionKind{policyGVK, vsGVK, vsrGVK, certificateGVK} {
		m.Add(gvk, meta.RESTScopeNamespace)
	}
	return m
}

func coreScheme(t testing.TB) *runtime.Scheme {
	t.Helper()
	s := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	return s
}

// Kinds are listed page by page; objects of every page are kept.
func TestListsEveryPage(t *testing.T) {
	pages := interceptor.Funcs{List: func(ctx context.Context, c client.WithWatch, list client.ObjectList, opts ...client.ListOption) error {
		sl, ok := list.(*corev1.SecretList)
		if !ok {
			return c.List(ctx, list, opts...)
		}
		var lo client.ListOptions
		lo.ApplyOptions(opts)
		name, next := "first", "page-2"
		if lo.Continue == "page-2" {
			name, next = "second", ""
		}
		sl.Items = []corev1.Secret{{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns"}}}
		sl.Continue = next
		return nil
	}}
	c := fake.NewClientBuilder().WithScheme(coreScheme(t)).WithInterceptorFuncs(pages).Build()
	s, err := collect(context.Background(), c, DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	if s.secret("ns", "first") == nil || s.secret("ns", "second") == nil || s.secret("ns", "first").Name != "first" {
		t.Errorf("secrets %v", s.secrets)
	}
}
