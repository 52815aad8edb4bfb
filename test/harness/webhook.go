package harness

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/aigw-mtls/aigw-mtls-webhook/webhook"
)

// Webhook is the webhook server running in this process on loopback.
type Webhook struct {
	URL      string // https://127.0.0.1:<port>
	CABundle []byte
	CertDir  string
	// MetricsURL is https://127.0.0.1:<port>/metrics when started with StartWebhookWithMetrics.
	MetricsURL string
	readyz     string
	cancel     context.CancelFunc
	done       chan error
}

// StartWebhook serves the webhook with o (host, port and certificates are chosen here; metrics
// off) and waits until it answers TLS.
func StartWebhook(cfg *rest.Config, o webhook.Options) (*Webhook, error) {
	return startWebhook(cfg, o, nil, false)
}

// StartWebhookWithFiles is StartWebhook with more files in the certificate folder (a client CA
// named by o.ClientCAName).
func StartWebhookWithFiles(cfg *rest.Config, o webhook.Options, files map[string][]byte) (*Webhook, error) {
	return startWebhook(cfg, o, files, false)
}

// StartWebhookWithMetrics is StartWebhook with the metrics server on a loopback port too.
func StartWebhookWithMetrics(cfg *rest.Config, o webhook.Options) (*Webhook, error) {
	return startWebhook(cfg, o, nil, true)
}

func startWebhook(cfg *rest.Config, o webhook.Options, files map[string][]byte, metrics bool) (*Webhook, error) {
	dir, err := os.MkdirTemp("", "aigw-webhook-certs-")
	if err != nil {
		return nil, err
	}
	ca, err := WriteServingCert(dir)
	if err != nil {
		return nil, err
	}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			return nil, err
		}
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	healthPort, err := freePort()
	if err != nil {
		return nil, err
	}
	o.Host, o.Port, o.CertDir = "127.0.0.1", port, dir
	o.MetricsAddr, o.HealthAddr = "0", "127.0.0.1:"+strconv.Itoa(healthPort)
	ctx, cancel := context.WithCancel(context.Background())
	w := &Webhook{URL: "https://127.0.0.1:" + strconv.Itoa(port), CABundle: ca, CertDir: dir, cancel: cancel, done: make(chan error, 1),
		readyz: "http://" + o.HealthAddr + "/readyz"}
	if metrics {
		metricsPort, err := freePort()
		if err != nil {
			cancel()
			return nil, err
		}
		o.MetricsAddr = "127.0.0.1:" + strconv.Itoa(metricsPort)
		scheme := "http"
		if o.MetricsSecure {
			scheme = "https"
		}
		w.MetricsURL = scheme + "://" + o.MetricsAddr + "/metrics"
	}
	go func() { w.done <- webhook.Run(ctx, cfg, o) }()
	if err := w.waitServing(30 * time.Second); err != nil {
		cancel()
		return nil, err
	}
	return w, nil
}

func (w *Webhook) waitServing(timeout time.Duration) error {
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(w.CABundle)
	deadline := time.Now().Add(timeout)
	for {
		select {
		case err := <-w.done:
			return fmt.Errorf("webhook exited: %v", err)
		default:
		}
		conn, err := tls.Dial("tcp", w.URL[len("https://"):], &tls.Config{RootCAs: pool})
		if err == nil {
			conn.Close()
			// Serving TLS; ready once the informer cache has synced.
			resp, rerr := http.Get(w.readyz)
			if rerr == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					return nil
				}
				err = fmt.Errorf("readyz: %s", resp.Status)
			} else {
				err = rerr
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("webhook not serving after %s: %v", timeout, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Stop stops the server as SIGTERM does (after its shutdown delay) and waits until it has exited.
func (w *Webhook) Stop() error {
	w.cancel()
	return w.Wait()
}

// Terminate starts the shutdown as SIGTERM does and returns at once; Wait waits for the exit.
func (w *Webhook) Terminate() { w.cancel() }

// Wait waits until the server has exited (at most a minute) and removes its certificates.
func (w *Webhook) Wait() error {
	select {
	case err := <-w.done:
		_ = os.RemoveAll(w.CertDir)
		return err
	case <-time.After(time.Minute):
		return fmt.Errorf("webhook did not stop")
	}
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// MutatingConfiguration registers the pod and ConfigMap mutations at baseURL the way the chart
// does: objectSelector aigw=mtls, system namespaces excluded, fail closed, 5 s timeout.
func MutatingConfiguration(name, baseURL string, caBundle []byte) *admissionregistrationv1.MutatingWebhookConfiguration {
	hook := func(hookName, path, group, resource string) admissionregistrationv1.MutatingWebhook {
		h := commonHook(baseURL+path, caBundle, group, resource)
		reinvoke := admissionregistrationv1.IfNeededReinvocationPolicy
		return admissionregistrationv1.MutatingWebhook{
			Name: hookName, ClientConfig: h.ClientConfig, AdmissionReviewVersions: h.AdmissionReviewVersions,
			SideEffects: h.SideEffects, FailurePolicy: h.FailurePolicy, TimeoutSeconds: h.TimeoutSeconds,
			ObjectSelector: h.ObjectSelector, NamespaceSelector: h.NamespaceSelector, Rules: h.Rules,
			ReinvocationPolicy: &reinvoke,
		}
	}
	pods := hook("pods.mtls.aigw.io", webhook.PathMutatePod, "", "pods")
	pods.Rules[0].Operations = []admissionregistrationv1.OperationType{admissionregistrationv1.Create}
	// Pod updates are only warned about: never fail closed on them.
	podUpdates := hook("pod-updates.mtls.aigw.io", webhook.PathMutatePod, "", "pods")
	podUpdates.Rules[0].Operations = []admissionregistrationv1.OperationType{admissionregistrationv1.Update}
	ignore := admissionregistrationv1.Ignore
	podUpdates.FailurePolicy = &ignore
	return &admissionregistrationv1.MutatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Webhooks: []admissionregistrationv1.MutatingWebhook{
			pods, podUpdates,
			hook("configmaps.mtls.aigw.io", webhook.PathMutateConfigMap, "", "configmaps"),
			hook("virtualservers.mtls.aigw.io", webhook.PathMutateVirtualServer, "k8s.nginx.org", "virtualservers"),
			hook("virtualserverroutes.mtls.aigw.io", webhook.PathMutateVirtualServerRoute, "k8s.nginx.org", "virtualserverroutes"),
			hook("ingresses.mtls.aigw.io", webhook.PathMutateIngress, "networking.k8s.io", "ingresses"),
		},
	}
}

// ValidatingConfiguration registers the validations at baseURL the way the chart does.
func ValidatingConfiguration(name, baseURL string, caBundle []byte) *admissionregistrationv1.ValidatingWebhookConfiguration {
	hook := func(hookName, path, group, resource string) admissionregistrationv1.ValidatingWebhook {
		h := commonHook(baseURL+path, caBundle, group, resource)
		h.Name = hookName
		return h
	}
	return &admissionregistrationv1.ValidatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Webhooks: []admissionregistrationv1.ValidatingWebhook{
			hook("policies.mtls.aigw.io", webhook.PathValidatePolicy, "k8s.nginx.org", "policies"),
			hook("virtualservers.validate.mtls.aigw.io", webhook.PathValidateVirtualServer, "k8s.nginx.org", "virtualservers"),
			hook("virtualserverroutes.validate.mtls.aigw.io", webhook.PathValidateVirtualServerRoute, "k8s.nginx.org", "virtualserverroutes"),
			hook("certificates.mtls.aigw.io", webhook.PathValidateCertificate, "cert-manager.io", "certificates"),
			hook("ingresses.validate.mtls.aigw.io", webhook.PathValidateIngress, "networking.k8s.io", "ingresses"),
		},
	}
}

// commonHook holds what every webhook of the product shares: labelled objects only, system
// namespaces excluded, fail closed, 5 s timeout, no side effects.
func commonHook(url string, caBundle []byte, group, resource string) admissionregistrationv1.ValidatingWebhook {
	fail := admissionregistrationv1.Fail
	none := admissionregistrationv1.SideEffectClassNone
	timeout := int32(5)
	version := "v1"
	return admissionregistrationv1.ValidatingWebhook{
		ClientConfig:            admissionregistrationv1.WebhookClientConfig{URL: &url, CABundle: caBundle},
		AdmissionReviewVersions: []string{"v1"},
		SideEffects:             &none,
		FailurePolicy:           &fail,
		TimeoutSeconds:          &timeout,
		ObjectSelector:          &metav1.LabelSelector{MatchLabels: map[string]string{"aigw": "mtls"}},
		NamespaceSelector: &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{
			Key: "kubernetes.io/metadata.name", Operator: metav1.LabelSelectorOpNotIn,
			Values: []string{"kube-system", "kube-node-lease"},
		}}},
		Rules: []admissionregistrationv1.RuleWithOperations{{
			Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create, admissionregistrationv1.Update},
			Rule:       admissionregistrationv1.Rule{APIGroups: []string{group}, APIVersions: []string{version}, Resources: []string{resource}},
		}},
	}
}

// WaitForPodMutation waits until the API server sends labelled pods in namespace through the
// webhook: its webhook-configuration informer lags the write by a moment.
func WaitForPodMutation(ctx context.Context, c client.Client, namespace string) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		p := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: "registration-probe", Namespace: namespace, Labels: map[string]string{"aigw": "mtls"}},
			Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "aigw", Image: "aigw"}}},
		}
		err := c.Create(ctx, p, client.DryRunAll)
		if err == nil && len(p.Spec.Volumes) > 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("webhook not in the admission path after 30s (last error: %v)", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
