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
	"strings"
	"sync"
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
	// A port is picked free and bound later by webhook.Run, so a test running beside this one may
	// take it in between: such a start is retried on fresh ports.
	var lastErr error
	for attempt := 0; attempt < 5; attempt++ {
		w, err := startOnFreePorts(cfg, o, dir, ca, metrics)
		if err == nil {
			return w, nil
		}
		lastErr = err
		if !strings.Contains(err.Error(), "address already in use") {
			break
		}
	}
	_ = os.RemoveAll(dir)
	return nil, lastErr
}

func startOnFreePorts(cfg *rest.Config, o webhook.Options, dir string, ca []byte, metrics bool) (*Webhook, error) {
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

// ChartWebhookValues are the chart values the webhook configurations of ChartWebhooks are
// rendered with: every kind of internal/kinds, the Gateway API ones included.
var ChartWebhookValues = []string{"--set", "gatewayAPI.enabled=true"}

var chartWebhooks struct {
	once sync.Once
	m    *admissionregistrationv1.MutatingWebhookConfiguration
	v    *admissionregistrationv1.ValidatingWebhookConfiguration
	err  error
}

// ChartWebhooks are the chart's own webhook configurations (rendered once, with
// ChartWebhookValues, as release aigw-mtls-webhook in aigw-mtls-system), named name, each webhook
// calling baseURL + its service path and trusting caBundle. Everything else is the chart's:
// rules, failurePolicy, selectors, timeout, reinvocation.
func ChartWebhooks(name, baseURL string, caBundle []byte) (*admissionregistrationv1.MutatingWebhookConfiguration, *admissionregistrationv1.ValidatingWebhookConfiguration, error) {
	chartWebhooks.once.Do(func() {
		objs, err := RenderChart("aigw-mtls-webhook", "aigw-mtls-system", ChartWebhookValues...)
		if err != nil {
			chartWebhooks.err = err
			return
		}
		chartWebhooks.m, chartWebhooks.v, chartWebhooks.err = webhookConfigurations(objs)
	})
	if chartWebhooks.err != nil {
		return nil, nil, chartWebhooks.err
	}
	m, v := chartWebhooks.m.DeepCopy(), chartWebhooks.v.DeepCopy()
	m.ObjectMeta, v.ObjectMeta = metav1.ObjectMeta{Name: name}, metav1.ObjectMeta{Name: name}
	for i := range m.Webhooks {
		cc, err := pointClientConfig(m.Webhooks[i].ClientConfig, baseURL, caBundle)
		if err != nil {
			return nil, nil, err
		}
		m.Webhooks[i].ClientConfig = cc
	}
	for i := range v.Webhooks {
		cc, err := pointClientConfig(v.Webhooks[i].ClientConfig, baseURL, caBundle)
		if err != nil {
			return nil, nil, err
		}
		v.Webhooks[i].ClientConfig = cc
	}
	return m, v, nil
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
