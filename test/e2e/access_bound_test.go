package e2e

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"

	"github.com/aigw-mtls/aigw-mtls-webhook/test/harness"
	"github.com/aigw-mtls/aigw-mtls-webhook/webhook"
)

// sarCounter counts the SubjectAccessReviews a client sends; every request still goes to the API
// server.
type sarCounter struct {
	next http.RoundTripper
	n    *atomic.Int64
}

func (c sarCounter) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/subjectaccessreviews") {
		c.n.Add(1)
	}
	return c.next.RoundTrip(r)
}

// A labelled VirtualServer whose route references Policies in 200 other namespaces, created by a
// user who may read Policies everywhere: the webhook reviews the first 16 namespaces (16
// SubjectAccessReviews, counted on its own client) and answers that the others were not checked.
func TestOneRequestReviewsBoundedNamespaces(t *testing.T) {
	ctx := context.Background()
	nsObj := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "sar-bound-"}}
	must(t, env.Client.Create(ctx, nsObj))
	space := nsObj.Name

	var reviews atomic.Int64
	cfg := rest.CopyConfig(env.Config)
	cfg.WrapTransport = func(rt http.RoundTripper) http.RoundTripper { return sarCounter{rt, &reviews} }
	o := webhook.DefaultOptions()
	// A selector of its own, so that the shared webhook (aigw=mtls) leaves this test's objects alone.
	o.Settings.SelectorKey, o.Settings.SelectorValue = "sar-bound", "mtls"
	o.CASyncSource = ""
	w, err := harness.StartWebhook(cfg, o)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = w.Stop() }()
	_, vc, err := harness.ChartWebhooks(space, w.URL, w.CABundle)
	if err != nil {
		t.Fatal(err)
	}
	var hooks []admissionregistrationv1.ValidatingWebhook
	for _, h := range vc.Webhooks {
		if strings.HasSuffix(*h.ClientConfig.URL, webhook.PathValidateVirtualServer) {
			h.ObjectSelector = &metav1.LabelSelector{MatchLabels: map[string]string{"sar-bound": "mtls"}}
			h.NamespaceSelector = &metav1.LabelSelector{MatchLabels: map[string]string{"kubernetes.io/metadata.name": space}}
			hooks = append(hooks, h)
		}
	}
	vc.Webhooks = hooks
	must(t, env.Client.Create(ctx, vc))
	t.Cleanup(func() {
		_ = env.Client.Delete(ctx, &admissionregistrationv1.ValidatingWebhookConfiguration{ObjectMeta: metav1.ObjectMeta{Name: space}})
	})

	user := space + "-owner"
	role := &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: user}, Rules: []rbacv1.PolicyRule{
		{APIGroups: []string{"k8s.nginx.org"}, Resources: []string{"policies"}, Verbs: []string{"get", "list", "watch"}},
		{APIGroups: []string{"k8s.nginx.org"}, Resources: []string{"virtualservers"}, Verbs: []string{"create"}},
	}}
	binding := &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: user},
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: user},
		Subjects: []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: "User", Name: user}}}
	must(t, env.Client.Create(ctx, role))
	must(t, env.Client.Create(ctx, binding))
	t.Cleanup(func() {
		_ = env.Client.Delete(ctx, binding)
		_ = env.Client.Delete(ctx, role)
	})
	asUser := rest.CopyConfig(env.Config)
	asUser.Impersonate = rest.ImpersonationConfig{UserName: user}
	seen := &warningLog{}
	asUser.WarningHandler = seen
	userDyn := dynamic.NewForConfigOrDie(asUser)

	var refs []any
	for i := range 200 {
		refs = append(refs, map[string]any{"name": "p", "namespace": fmt.Sprintf("ns-%d", i+1)})
	}
	vs := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "k8s.nginx.org/v1", "kind": "VirtualServer",
		"metadata": map[string]any{"name": "many-namespaces", "namespace": space, "labels": map[string]any{"sar-bound": "mtls"}},
		"spec": map[string]any{
			"host":      "many.example.com",
			"upstreams": []any{map[string]any{"name": "aigw", "service": "aigw", "port": int64(80)}},
			"routes":    []any{map[string]any{"path": "/", "action": map[string]any{"pass": "aigw"}, "policies": refs}},
		},
	}}
	var answer string
	eventually(t, "the webhook's answer to the VirtualServer", func() error {
		mark := seen.mark()
		reviews.Store(0)
		if _, err := userDyn.Resource(vsGVR).Namespace(space).Create(ctx, vs, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}}); err != nil {
			return err
		}
		answer = seen.since(mark)
		if !strings.Contains(answer, space+"/many-namespaces") {
			return fmt.Errorf("the API server has not called the webhook yet (warnings: %q)", answer)
		}
		return nil
	})
	if n := reviews.Load(); n != webhook.DefaultNamespacesPerRequest {
		t.Errorf("%d SubjectAccessReviews for one VirtualServer naming 200 namespaces, want %d", n, webhook.DefaultNamespacesPerRequest)
	}
	for _, want := range []string{
		"VirtualServer " + space + "/many-namespaces: references in 184 other namespaces were not checked (ns-17, ns-18, ns-19, ns-20, ns-21, and 179 more)",
		"Policy ns-1/p not found yet", // within the bound: reviewed, allowed, looked up
	} {
		if !strings.Contains(answer, want) {
			t.Errorf("the answer lacks %q:\n%s", want, answer)
		}
	}
	if strings.Contains(answer, "ns-1/p cannot be checked") {
		t.Errorf("a namespace within the bound was not checked:\n%s", answer)
	}
}
