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
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/aigw-mtls/aigw-mtls-webhook/internal/aigw"
	"github.com/aigw-mtls/aigw-mtls-webhook/internal/objects"
	"github.com/aigw-mtls/aigw-mtls-webhook/internal/rules"
	"github.com/aigw-mtls/aigw-mtls-webhook/internal/rules/fixtures"
	"github.com/aigw-mtls/aigw-mtls-webhook/patches"
	"github.com/aigw-mtls/aigw-mtls-webhook/test/harness"
	"github.com/aigw-mtls/aigw-mtls-webhook/webhook"
)

// btpCluster is an API server of its own (the fixtures live in namespace ai-gateway, which the
// shared one's tests use) with the Gateway API CRDs, and a webhook with Gateway API on.
type btpCluster struct {
	c    client.Client
	hook *harness.Webhook
	pki  map[string]*fixtures.Cert
	// made are the objects the current case created, deleted before the next one.
	made []*unstructured.Unstructured
}

func startBTPCluster(t *testing.T) *btpCluster {
	t.Helper()
	cm, err := harness.CertManagerCRDDir()
	if err != nil {
		t.Fatal(err)
	}
	te := &envtest.Environment{BinaryAssetsDirectory: harness.AssetsDir(), ErrorIfCRDPathMissing: true,
		CRDDirectoryPaths: []string{cm, harness.GatewayAPICRDDir()}}
	cfg, err := te.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = te.Stop() })
	c, err := client.New(cfg, client.Options{Scheme: harness.Scheme()})
	if err != nil {
		t.Fatal(err)
	}
	for _, space := range []string{"ai-gateway", "apps"} {
		if err := c.Create(t.Context(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: space}}); err != nil {
			t.Fatal(err)
		}
	}
	o := webhook.DefaultOptions()
	o.GatewayAPI = true
	o.CASyncSource = ""
	hook, err := harness.StartWebhook(cfg, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = hook.Stop() })
	return &btpCluster{c: c, hook: hook, pki: fixtures.PKI(t)}
}

// load creates a fixture's objects (deleting the previous case's first) and returns the policy
// under review as a new manifest (no creationTimestamp: the newest policy) and the case's objects.
func (b *btpCluster) load(t *testing.T, name string) (policy []byte, objs [][]byte) {
	t.Helper()
	ctx := t.Context()
	for _, u := range b.made {
		if err := b.c.Delete(ctx, u); err != nil && !apierrors.IsNotFound(err) {
			t.Fatal(err)
		}
	}
	b.made = nil
	dir := filepath.Join(harness.RepoRoot(), "internal", "rules", "testdata", "backendtlspolicy")
	i := slices.IndexFunc(fixtures.Cases(t, dir, b.pki), func(c fixtures.Case) bool { return c.Name == name })
	if i < 0 {
		t.Fatalf("no fixture %s", name)
	}
	c := fixtures.Cases(t, dir, b.pki)[i]
	for _, raw := range c.Objects {
		b.create(t, raw)
	}
	var u unstructured.Unstructured
	if err := json.Unmarshal(c.Object, &u.Object); err != nil {
		t.Fatal(err)
	}
	unstructured.RemoveNestedField(u.Object, "metadata", "creationTimestamp")
	policy, _ = json.Marshal(u.Object)
	return policy, c.Objects
}

func (b *btpCluster) create(t *testing.T, raw []byte) {
	t.Helper()
	u := &unstructured.Unstructured{}
	if err := json.Unmarshal(raw, &u.Object); err != nil {
		t.Fatal(err)
	}
	// The API server stamps the age: the fixtures' older policies are created first.
	unstructured.RemoveNestedField(u.Object, "metadata", "creationTimestamp")
	if err := b.c.Create(t.Context(), u); err != nil {
		t.Fatalf("%s %s: %v", u.GetKind(), u.GetName(), err)
	}
	b.made = append(b.made, u)
}

// validateF is what `validate -f` decides for policy with objs: the rule over the files' objects.
func validateF(t *testing.T, policy []byte, objs [][]byte) aigw.Decision {
	t.Helper()
	s := aigw.DefaultSettings()
	fs, err := rules.BackendTLSPolicy(policy, "ai-gateway", s, objects.NewObjectSet("ai-gateway", objs...), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return patches.Result{Findings: rules.Silence(policy, fs)}.Decide(s.Mode).Decision
}

// judged waits until the webhook's answer for policy, reviewed for user, is want (its cache
// catching up with the objects just created), and fails with the last answer otherwise.
func (b *btpCluster) judged(t *testing.T, policy []byte, user string, want aigw.Decision) *admissionv1.AdmissionResponse {
	t.Helper()
	var last *admissionv1.AdmissionResponse
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := reviewBTP(b.hook, policy, user)
		if err != nil {
			t.Fatal(err)
		}
		last = resp
		if sameDecision(resp, want) {
			return resp
		}
		if time.Now().After(deadline) {
			t.Fatalf("admission answers allowed=%v %q warnings %q;\nvalidate -f decides allowed=%v %q warnings %q",
				last.Allowed, last.Result.Message, last.Warnings, want.Allowed, want.Denial, want.Warnings)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func sameDecision(resp *admissionv1.AdmissionResponse, want aigw.Decision) bool {
	if resp.Allowed != want.Allowed || !want.Allowed && !strings.Contains(resp.Result.Message, want.Denial) {
		return false
	}
	got, exp := slices.Clone(resp.Warnings), slices.Clone(want.Warnings)
	slices.Sort(got)
	slices.Sort(exp)
	return slices.Equal(got, exp)
}

// reviewBTP sends a CREATE of policy to the webhook's BackendTLSPolicy validation as the API
// server would, by user (groups system:masters when user is "admin", else none).
func reviewBTP(w *harness.Webhook, policy []byte, user string) (*admissionv1.AdmissionResponse, error) {
	var m struct {
		Metadata objects.Meta `json:"metadata"`
	}
	_ = json.Unmarshal(policy, &m)
	userInfo := map[string]any{"username": user}
	if user == "admin" {
		userInfo["groups"] = []any{"system:masters"}
	}
	body, _ := json.Marshal(map[string]any{
		"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
		"request": map[string]any{
			"uid": "btp-ports", "kind": map[string]any{"group": "gateway.networking.k8s.io", "version": "v1", "kind": "BackendTLSPolicy"},
			"resource": map[string]any{"group": "gateway.networking.k8s.io", "version": "v1", "resource": "backendtlspolicies"},
			"name":     m.Metadata.Name, "namespace": m.Metadata.Namespace, "operation": "CREATE",
			"userInfo": userInfo,
			"object":   json.RawMessage(policy),
		},
	})
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(w.CABundle)
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	req, _ := http.NewRequestWithContext(context.Background(), http.MethodPost, w.URL+webhook.PathValidateBackendTLSPolicy, bytes.NewReader(body))
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

// TestBackendTLSPolicyPortsAtAdmission runs the cases below, in order, on one API server.
func TestBackendTLSPolicyPortsAtAdmission(t *testing.T) {
	t.Parallel() // on an API server of its own (main_test.go, "Parallel tests")
	b := startBTPCluster(t)
	t.Run("AsValidate", func(t *testing.T) { admissionJudgesPortsAsValidate(t, b) })
	t.Run("RouteAddedLater", func(t *testing.T) { admissionSeesARouteAddedLater(t, b) })
	t.Run("GrantedRoutesOnlyForUsersWhoMay", func(t *testing.T) { admissionReadsGrantedRoutesOnlyForUsersWhoMay(t, b) })
	t.Run("RouteBound", func(t *testing.T) { admissionReadsAtMostTheRouteBound(t, b) })
}

// Admission reads only the routes to the policy's Services (the cache indexes them by Service), at
// most webhook.DefaultRoutesPerRequest: 300 routes to another Service do not count, and the
// conflict is judged as validate -f judges it; once more routes than the bound send to aigw, the
// policy is admitted with BTP_CONFLICT_UNJUDGED naming the bound, never judged on part of them.
func admissionReadsAtMostTheRouteBound(t *testing.T, b *btpCluster) {
	policy, objs := b.load(t, "conflict-metrics-port-routed")
	route := func(name, service string) []byte {
		return fmt.Appendf(nil, `{"apiVersion":"gateway.networking.k8s.io/v1","kind":"HTTPRoute","metadata":{"name":%q,"namespace":"ai-gateway"},`+
			`"spec":{"parentRefs":[{"name":"gateway"}],"rules":[{"backendRefs":[{"name":%q,"port":443}]}]}}`, name, service)
	}
	for i := range 300 {
		b.create(t, route(fmt.Sprintf("other-%d", i), "other"))
	}
	b.judged(t, policy, "admin", validateF(t, policy, objs))
	// The fixture's route "ai" and these send to aigw: one more than the bound.
	for i := range webhook.DefaultRoutesPerRequest {
		b.create(t, route(fmt.Sprintf("aigw-%d", i), "aigw"))
	}
	want := fmt.Sprintf("more than %d routes send to Service ai-gateway/aigw", webhook.DefaultRoutesPerRequest)
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := reviewBTP(b.hook, policy, "admin")
		if err != nil {
			t.Fatal(err)
		}
		all := strings.Join(resp.Warnings, "\n")
		if resp.Allowed && strings.Contains(all, string(rules.BTPConflictUnjudged.ID)) && strings.Contains(all, want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("with %d routes to aigw: want admitted with %s naming the bound (%q), got allowed=%v %q %q",
				webhook.DefaultRoutesPerRequest+1, rules.BTPConflictUnjudged.ID, want, resp.Allowed, resp.Result.Message, resp.Warnings)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// Admission judges a BackendTLSPolicy's targets per Service port as `validate -f` does with the
// same objects, and as NGF v2.6.7 decides (the fixture's expectation: refused when it has a
// .deny.txt): from the Services, routes and ReferenceGrants in the webhook's cache. GRPCRoute's
// CRD is not installed here, which tells that no GRPCRoute exists.
func admissionJudgesPortsAsValidate(t *testing.T, b *btpCluster) {
	for _, name := range []string{
		"conflict-older-deployment",      // an older policy with a non-Service target wins the conflict
		"conflict-other-port",            // an older policy on another port does not conflict
		"conflict-metrics-port-unrouted", // nor on a port no route uses
		"conflict-metrics-port-routed",   // but does on a port a route uses
		"section-name-unused",            // sectionName on a port no route uses: refused
		"section-name-used",              // sectionName on a routed port: admitted
		"section-name-granted-route",     // routed from another namespace a ReferenceGrant opens
		"section-name-ungranted-route",   // routed from another namespace without one: not a use
		"section-name-mirrored",          // a RequestMirror filter's backendRef is a use
	} {
		t.Run(name, func(t *testing.T) {
			policy, objs := b.load(t, name)
			want := validateF(t, policy, objs)
			_, denied := os.Stat(filepath.Join(harness.RepoRoot(), "internal", "rules", "testdata", "backendtlspolicy", name+".deny.txt"))
			if want.Allowed != (denied != nil) {
				t.Fatalf("validate -f allowed=%v %q, the fixture (NGF's decision) says refused=%v", want.Allowed, want.Denial, denied == nil)
			}
			for _, w := range want.Warnings {
				if strings.Contains(w, string(rules.BTPConflictUnjudged.ID)) {
					t.Fatalf("validate -f, given the Service and its routes, leaves a conflict unjudged: %s", w)
				}
			}
			b.judged(t, policy, "admin", want)
		})
	}
}

// A route added after the policy's neighbours reaches the next admission through the informer: a
// policy for every port of aigw is admitted while only https is routed (the older policy names
// metrics), and refused as Conflicted once an HTTPRoute sends to metrics too.
func admissionSeesARouteAddedLater(t *testing.T, b *btpCluster) {
	policy, objs := b.load(t, "conflict-metrics-port-unrouted")
	b.judged(t, policy, "admin", validateF(t, policy, objs))
	route := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
		"metadata": map[string]any{"name": "metrics", "namespace": "ai-gateway"},
		"spec": map[string]any{"parentRefs": []any{map[string]any{"name": "gateway"}},
			"rules": []any{map[string]any{"backendRefs": []any{map[string]any{"name": "aigw", "port": int64(9090)}}}}},
	}}
	raw, _ := json.Marshal(route.Object)
	b.create(t, raw)
	want := validateF(t, policy, append(objs, raw))
	if want.Allowed || !strings.Contains(want.Denial, string(rules.BTPConflicted.ID)) {
		t.Fatalf("validate -f with the metrics route: want refused as %s, got allowed=%v %q", rules.BTPConflicted.ID, want.Allowed, want.Denial)
	}
	b.judged(t, policy, "admin", want)
}

// A tenant who may not list HTTPRoutes in the namespace a ReferenceGrant opens learns nothing of
// the routes there: its policy is not refused for a conflict only those routes make, it is warned
// that the conflict could not be judged, and the warning names no route. An admin's is refused.
func admissionReadsGrantedRoutesOnlyForUsersWhoMay(t *testing.T, b *btpCluster) {
	policy, _ := b.load(t, "conflict-metrics-port-unrouted")
	for _, raw := range [][]byte{
		[]byte(`{"apiVersion":"gateway.networking.k8s.io/v1","kind":"HTTPRoute","metadata":{"name":"secret-metrics","namespace":"apps"},` +
			`"spec":{"parentRefs":[{"name":"gateway","namespace":"ai-gateway"}],"rules":[{"backendRefs":[{"name":"aigw","namespace":"ai-gateway","port":9090}]}]}}`),
		[]byte(`{"apiVersion":"gateway.networking.k8s.io/v1beta1","kind":"ReferenceGrant","metadata":{"name":"apps-routes","namespace":"ai-gateway"},` +
			`"spec":{"from":[{"group":"gateway.networking.k8s.io","kind":"HTTPRoute","namespace":"apps"}],"to":[{"group":"","kind":"Service"}]}}`),
	} {
		b.create(t, raw)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		admin, err := reviewBTP(b.hook, policy, "admin")
		if err != nil {
			t.Fatal(err)
		}
		if !admin.Allowed && strings.Contains(admin.Result.Message, string(rules.BTPConflicted.ID)) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("admin: want refused as %s through the granted route, got allowed=%v %q %q", rules.BTPConflicted.ID, admin.Allowed, admin.Result.Message, admin.Warnings)
		}
		time.Sleep(200 * time.Millisecond)
	}
	tenant, err := reviewBTP(b.hook, policy, "tenant")
	if err != nil {
		t.Fatal(err)
	}
	all := tenant.Result.Message + strings.Join(tenant.Warnings, "\n")
	if !tenant.Allowed || !strings.Contains(all, string(rules.BTPConflictUnjudged.ID)) || !strings.Contains(all, "may not list httproutes in namespace apps") {
		t.Fatalf("tenant: want admitted with %s naming the routes it may not list, got allowed=%v %q %q", rules.BTPConflictUnjudged.ID, tenant.Allowed, tenant.Result.Message, tenant.Warnings)
	}
	if strings.Contains(all, "secret-metrics") {
		t.Errorf("tenant: the answer names a route in a namespace it may not read: %s", all)
	}
}
