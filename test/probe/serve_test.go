package probe

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/aigw-mtls/aigw-mtls-webhook/internal/rules"
	"github.com/aigw-mtls/aigw-mtls-webhook/test/harness"
	"github.com/aigw-mtls/aigw-mtls-webhook/webhook"
)

// TestServeProbeReportsAndRecovers: serve --probe on a real API server finds that aigw serves the
// certificate the Secret held before its renewal (HandshakeFailed on the Policy, success 0, the
// served certificate's expiry), then, once aigw serves the renewed one (restarted), reports
// HandshakeVerified and success 1.
func TestServeProbeReportsAndRecovers(t *testing.T) {
	n, err := newNetns()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := n.delete(); err != nil {
			t.Error(err)
		}
	})
	now := time.Now()
	day := 24 * time.Hour
	ca := issue(t, "aigw-ca", nil, true, nil, 0, now.Add(-365*day), now.Add(365*day))
	client := issue(t, "nic-client", ca, false, nil, x509.ExtKeyUsageClientAuth, now.Add(-day), now.Add(90*day))
	loaded := issue(t, "aigw", ca, false, []string{sslName}, x509.ExtKeyUsageServerAuth, now.Add(-60*day), now.Add(30*day))
	renewed := issue(t, "aigw", ca, false, []string{sslName}, x509.ExtKeyUsageServerAuth, now.Add(-time.Hour), now.Add(90*day))

	ln, err := n.listen()
	if err != nil {
		t.Fatal(err)
	}
	var serving atomic.Pointer[tls.Certificate]
	first := loaded.tls()
	serving.Store(&first)
	pool := x509.NewCertPool()
	pool.AddCert(ca.x509)
	cfg := &tls.Config{ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: pool,
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return serving.Load(), nil }}
	srv := &http.Server{Handler: http.NotFoundHandler(), ReadHeaderTimeout: 5 * time.Second, ErrorLog: log.New(io.Discard, "", 0)}
	go func() { _ = srv.Serve(tls.NewListener(ln, cfg)) }()
	t.Cleanup(func() { _ = srv.Close() })

	ctx := context.Background()
	ns := "probe-serve"
	apply(t, ctx, ns, n.ip, ln.Addr().(*net.TCPAddr).Port, false, "", ca, client, renewed)

	o := webhook.DefaultOptions()
	o.Probe.Enabled, o.Probe.Interval = true, 500*time.Millisecond
	o.CASyncSource = ""
	hook, err := harness.StartWebhook(env.Config, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = hook.Stop() })
	events := kubernetes.NewForConfigOrDie(env.Config).EventsV1().Events(ns)

	waitEvent := func(reason, note string) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			evs, err := events.List(ctx, metav1.ListOptions{})
			if err != nil {
				t.Fatal(err)
			}
			var seen []string
			for _, e := range evs.Items {
				if e.Reason == reason && e.Regarding.Kind == "Policy" && e.Regarding.Name == "aigw-mtls" && strings.Contains(e.Note, note) {
					return
				}
				seen = append(seen, e.Reason+": "+e.Note)
			}
			if time.Now().After(deadline) {
				t.Fatalf("no %s event naming %q on Policy %s/aigw-mtls; events:\n%s", reason, note, ns, strings.Join(seen, "\n"))
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	waitEvent("HandshakeFailed", string(rules.ProbeStaleServerCert.ID))
	if v, err := gauge("aigw_mtls_probe_success", ns); err != nil || v != 0 {
		t.Errorf("aigw_mtls_probe_success while aigw has not reloaded: %v, %v; want 0", v, err)
	}
	if v, err := gauge("aigw_mtls_probe_served_certificate_expiry_timestamp_seconds", ns); err != nil || int64(v) != loaded.x509.NotAfter.Unix() {
		t.Errorf("served certificate expiry %v (%v), want the loaded certificate's %d", int64(v), err, loaded.x509.NotAfter.Unix())
	}

	// aigw restarts: it serves the renewed certificate.
	next := renewed.tls()
	serving.Store(&next)
	waitEvent("HandshakeVerified", "asks for a client certificate from [CN=aigw-ca]")
	deadline := time.Now().Add(10 * time.Second)
	for {
		v, err := gauge("aigw_mtls_probe_success", ns)
		if err == nil && v == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("aigw_mtls_probe_success after the restart: %v, %v; want 1", v, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// gauge reads the series of name for the Policy aigw-mtls of namespace from the process's
// registry (the webhook runs in this process).
func gauge(name, namespace string) (float64, error) {
	mfs, err := metrics.Registry.Gather()
	if err != nil {
		return 0, err
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if label(m, "namespace") == namespace && label(m, "kind") == "Policy" && label(m, "policy") == "aigw-mtls" {
				return m.GetGauge().GetValue(), nil
			}
		}
	}
	return 0, fmt.Errorf("no %s series for %s/aigw-mtls", name, namespace)
}

func label(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}
