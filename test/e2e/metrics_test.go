package e2e

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	cmapi "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/aigw-mtls/aigw-mtls-webhook/test/harness"
	"github.com/aigw-mtls/aigw-mtls-webhook/test/tools"
	"github.com/aigw-mtls/aigw-mtls-webhook/webhook"
)

// Metrics are served over HTTPS to callers the API server authenticates (TokenReview) and
// authorizes (SubjectAccessReview on get /metrics): no token → 401, a ServiceAccount without the
// chart's metrics-reader ClusterRole → 403, one bound to it → the series. The series of a deleted
// Policy are removed.
func TestMetricsRequireAnAuthorizedToken(t *testing.T) {
	ctx := context.Background()
	nsObj := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "metrics-"}}
	if err := env.Client.Create(ctx, nsObj); err != nil {
		t.Fatal(err)
	}
	space := nsObj.Name

	// The chart's metrics-reader ClusterRole, bound to a "prometheus" ServiceAccount.
	tools.Helm.Need(t)
	objs, err := harness.RenderChart("aigw-mtls-webhook", "aigw-mtls-system")
	if err != nil {
		t.Fatal(err)
	}
	var reader *rbacv1.ClusterRole
	for _, o := range objs {
		if o.GetKind() == "ClusterRole" && o.GetName() == "aigw-mtls-webhook-metrics-reader" {
			reader = &rbacv1.ClusterRole{}
			if err := env.Client.Scheme().Convert(o, reader, nil); err != nil {
				t.Fatal(err)
			}
		}
	}
	if reader == nil {
		t.Fatal("the chart renders no aigw-mtls-webhook-metrics-reader ClusterRole")
	}
	reader.ObjectMeta = metav1.ObjectMeta{Name: space + "-metrics-reader"}
	must(t, env.Client.Create(ctx, reader))
	for _, sa := range []string{"prometheus", "intruder"} {
		must(t, env.Client.Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: sa, Namespace: space}}))
	}
	must(t, env.Client.Create(ctx, &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: space + "-metrics-reader"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: reader.Name},
		Subjects:   []rbacv1.Subject{{Kind: "ServiceAccount", Name: "prometheus", Namespace: space}},
	}))
	token := func(sa string) string {
		tr, err := kube.CoreV1().ServiceAccounts(space).CreateToken(ctx, sa, &authenticationv1.TokenRequest{
			Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](600)},
		}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return tr.Status.Token
	}

	o := webhook.DefaultOptions()
	o.Serving.ShutdownDelay = 0
	w, err := harness.StartWebhookWithMetrics(env.Config, o)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = w.Stop() }()
	if !strings.HasPrefix(w.MetricsURL, "https://") {
		t.Fatalf("metrics URL %s: want HTTPS by default", w.MetricsURL)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(w.CABundle)
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	scrape := func(bearer string) (int, string, error) {
		req, _ := http.NewRequest(http.MethodGet, w.MetricsURL, nil)
		if bearer != "" {
			req.Header.Set("Authorization", "Bearer "+bearer)
		}
		resp, err := c.Do(req)
		if err != nil {
			return 0, "", err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b), nil
	}
	prometheus := token("prometheus")
	eventually(t, "metrics served", func() error {
		code, _, err := scrape(prometheus)
		if err != nil {
			return err
		}
		if code != http.StatusOK {
			return fmt.Errorf("status %d", code)
		}
		return nil
	})

	if code, body, err := scrape(""); err != nil || code != http.StatusUnauthorized || strings.Contains(body, "aigw_mtls") {
		t.Errorf("no token: want 401 and no series, got %d %v %.200s", code, err, body)
	}
	// controller-runtime's filter answers 500 "Authentication failed" when the TokenReview itself
	// reports an error, as it does for a token that is not a JWT.
	if code, body, err := scrape("not-a-token"); err != nil || code == http.StatusOK || strings.Contains(body, "aigw_mtls") {
		t.Errorf("forged token: want refused and no series, got %d %v %.200s", code, err, body)
	}
	if code, body, err := scrape(token("intruder")); err != nil || code != http.StatusForbidden || strings.Contains(body, "aigw_mtls") {
		t.Errorf("ServiceAccount without get /metrics: want 403 and no series, got %d %v %.200s", code, err, body)
	}
	code, body, err := scrape(prometheus)
	if err != nil || code != http.StatusOK || !strings.Contains(body, "controller_runtime_webhook_requests_total") {
		t.Errorf("authorized ServiceAccount: want 200 and the series, got %d %v %.300s", code, err, body)
	}
	// Plain HTTP is not served.
	if resp, err := http.Get(strings.Replace(w.MetricsURL, "https://", "http://", 1)); err == nil {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if strings.Contains(string(b), "aigw_mtls") {
			t.Errorf("plain HTTP served the metrics")
		}
	}

	// A Policy's series, by rule: set by the audit when a labelled Secret of its namespace changes
	// (here a renewal that drops the Policy's sslName), removed when the Policy is deleted.
	caCrt, serverCrt, clientCrt := harness.SeedCertificates(space)
	for _, crt := range []*cmapi.Certificate{caCrt, clientCrt, serverCrt} {
		crt.Namespace = space
	}
	sslName := "aigw." + space + ".svc.cluster.local"
	serverCrt.Spec.DNSNames = []string{sslName}
	ca, err := harness.Issue(caCrt, nil)
	if err != nil {
		t.Fatal(err)
	}
	secrets := []*corev1.Secret{ca.Secret(caCrt)}
	for _, crt := range []*cmapi.Certificate{clientCrt, serverCrt} {
		i, err := harness.Issue(crt, ca)
		if err != nil {
			t.Fatal(err)
		}
		secrets = append(secrets, i.Secret(crt))
	}
	for _, s := range secrets {
		must(t, env.Client.Create(ctx, s))
	}
	if _, err := dyn.Resource(policyGVR).Namespace(space).Create(ctx, policyWith("aigw-mtls", space, sslName), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	series := fmt.Sprintf(`aigw_mtls_policy_problems{namespace=%q,policy="aigw-mtls",rule="POLICY_SSLNAME_NOT_IN_SAN"} 1`, space)
	renewed := serverCrt.DeepCopy()
	renewed.Spec.DNSNames = []string{"aigw.elsewhere.svc.cluster.local"}
	issued, err := harness.Issue(renewed, ca)
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "the Policy's series", func() error {
		// A labelled Secret change makes the audit re-check the namespace's Policies.
		var s corev1.Secret
		if err := env.Client.Get(ctx, client.ObjectKeyFromObject(secrets[2]), &s); err != nil {
			return err
		}
		s.Data = issued.Secret(renewed).Data
		if s.Annotations == nil {
			s.Annotations = map[string]string{}
		}
		s.Annotations["example.com/touched"] = time.Now().Format(time.RFC3339Nano)
		if err := env.Client.Update(ctx, &s); err != nil {
			return err
		}
		time.Sleep(200 * time.Millisecond)
		if _, body, err := scrape(prometheus); err != nil || !strings.Contains(body, series) {
			return fmt.Errorf("%s not among the metrics (%v)", series, err)
		}
		return nil
	})
	if err := dyn.Resource(policyGVR).Namespace(space).Delete(ctx, "aigw-mtls", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the deleted Policy's series removed", func() error {
		if _, body, err := scrape(prometheus); err != nil || strings.Contains(body, fmt.Sprintf(`aigw_mtls_policy_problems{namespace=%q,policy="aigw-mtls"`, space)) {
			return fmt.Errorf("%s still among the metrics (%v)", series, err)
		}
		return nil
	})
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
