package e2e

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/aigw-mtls/aigw-mtls-webhook/test/harness"
)

const (
	loadPods        = 2000
	loadConcurrency = 50
	loadRotateAt    = loadPods / 2
)

// 2,000 pod creates at concurrency 50 through the API server, with the serving certificate
// rotated on disk halfway: no create fails, and every labelled pod read back carries the mounts.
//
// The new certificate is issued by a second CA that is added to the webhook configurations'
// caBundle before the load starts, as cainjector does when cert-manager rotates the CA (the
// bundle trusts old and new while the serving certificate changes). A probe configuration that
// trusts only the new CA then shows the API server itself meeting the new certificate.
func TestLoadWithServingCertificateRotation(t *testing.T) {
	if testing.Short() {
		t.Skip("load test skipped in -short mode")
	}
	ctx := context.Background()
	start := time.Now()
	cfg := rest.CopyConfig(env.Config)
	cfg.QPS, cfg.Burst = -1, 0 // the load is the point: no client-side throttling
	cs := kubernetes.NewForConfigOrDie(cfg)
	// A namespace of its own per run (envtest cannot delete namespaces; -count=N must work).
	nsObj := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "load-"}}
	if err := env.Client.Create(ctx, nsObj); err != nil {
		t.Fatal(err)
	}
	loadNS := nsObj.Name

	// The certificate the webhook serves now, to put back afterwards.
	oldCrt, err := os.ReadFile(filepath.Join(hook.CertDir, "tls.crt"))
	if err != nil {
		t.Fatal(err)
	}
	oldKey, err := os.ReadFile(filepath.Join(hook.CertDir, "tls.key"))
	if err != nil {
		t.Fatal(err)
	}
	oldBundle := hook.CABundle
	// The next certificate and its CA; the bundle trusts both before the rotation.
	next := t.TempDir()
	nextCA, err := harness.WriteServingCert(next)
	if err != nil {
		t.Fatal(err)
	}
	nextCrt, _ := os.ReadFile(filepath.Join(next, "tls.crt"))
	nextKey, _ := os.ReadFile(filepath.Join(next, "tls.key"))
	both := append(append([]byte{}, oldBundle...), nextCA...)
	if err := setCABundle(ctx, both); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// Serve the original certificate again, then trust only its CA (in that order: no moment
		// where the served certificate is not trusted).
		if err := rotateServingCert(hook.CertDir, oldCrt, oldKey); err != nil {
			t.Errorf("restoring the serving certificate: %v", err)
		}
		if err := waitServing(oldBundle, oldCrt); err != nil {
			t.Errorf("restoring the serving certificate: %v", err)
		}
		if err := setCABundle(ctx, oldBundle); err != nil {
			t.Errorf("restoring the caBundle: %v", err)
		}
	})
	// A probe configuration, created after the bundle update, trusts only the next CA: while the
	// old certificate is served, labelled pods of the probe namespace are refused. Once the API
	// server refuses them it has seen the probe, and so the bundle update written before it (its
	// webhook-configuration informer delivers events in order).
	probe, err := registerProbe(ctx, nextCA)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Client.Delete(ctx, probe) })
	if err := waitProbe(ctx, false); err != nil {
		t.Fatalf("before the rotation: %v", err)
	}
	if err := harness.WaitForPodMutation(ctx, env.Client, loadNS); err != nil {
		t.Fatal(err)
	}

	var created atomic.Int64
	var servedAt atomic.Int64 // creates done when the new certificate was first served
	servedAt.Store(-1)
	rotated := make(chan error, 1)
	go func() {
		for created.Load() < loadRotateAt {
			time.Sleep(5 * time.Millisecond)
		}
		if err := rotateServingCert(hook.CertDir, nextCrt, nextKey); err != nil {
			rotated <- err
			return
		}
		err := waitServing(both, nextCrt)
		servedAt.Store(created.Load())
		rotated <- err
	}()
	var mu sync.Mutex
	var failures []string
	jobs := make(chan int)
	var wg sync.WaitGroup
	loadStart := time.Now()
	for w := 0; w < loadConcurrency; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				p := pod(fmt.Sprintf("load-%04d", i), i%4 != 3) // three in four labelled
				p.Namespace = loadNS
				_, err := cs.CoreV1().Pods(loadNS).Create(ctx, p, metav1.CreateOptions{})
				created.Add(1)
				if err != nil {
					mu.Lock()
					failures = append(failures, fmt.Sprintf("%s: %v", p.Name, err))
					mu.Unlock()
				}
			}
		}()
	}
	for i := 0; i < loadPods; i++ {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	loadTime := time.Since(loadStart)
	if err := <-rotated; err != nil {
		t.Fatalf("rotating the serving certificate: %v", err)
	}
	if at := servedAt.Load(); at >= loadPods {
		t.Errorf("the new certificate was served only after the load (%d creates done): the rotation was not under load", at)
	}
	if len(failures) > 0 {
		t.Errorf("%d of %d creates failed; first: %s", len(failures), loadPods, failures[0])
	}

	// The server now presents the new certificate, and the API server meets it: the probe that
	// trusts only the next CA admits labelled pods.
	if err := waitServing(nextCA, nextCrt); err != nil {
		t.Fatalf("after the rotation: %v", err)
	}
	if err := waitProbe(ctx, true); err != nil {
		t.Errorf("after the rotation: %v", err)
	}

	// Every labelled pod carries both volumes and both mounts; no other pod does.
	list, err := cs.CoreV1().Pods(loadNS).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	labelled, wired, unlabelledTouched := 0, 0, 0
	for i := range list.Items {
		p := &list.Items[i]
		if !strings.HasPrefix(p.Name, "load-") {
			continue
		}
		if p.Labels["aigw"] == "mtls" {
			labelled++
			if podWired(p) {
				wired++
			}
		} else if len(p.Spec.Volumes) > 0 {
			unlabelledTouched++
		}
	}
	wantLabelled := loadPods - loadPods/4
	if labelled != wantLabelled || wired != wantLabelled || unlabelledTouched != 0 {
		t.Errorf("read back %d labelled pods (want %d), %d with the mounts (want all), %d unlabelled pods with volumes (want 0)",
			labelled, wantLabelled, wired, unlabelledTouched)
	}
	t.Logf("%d creates at concurrency %d in %s (%.0f/s), certificate rotated after %d, served from create %d on; %d labelled pods read back, %d with the mounts; test took %s",
		loadPods, loadConcurrency, loadTime.Round(time.Millisecond), float64(loadPods)/loadTime.Seconds(), loadRotateAt, servedAt.Load(), labelled, wired,
		time.Since(start).Round(time.Millisecond))
}

// podWired: the CA and server-TLS volumes, mounted read-only at their paths in the aigw container.
func podWired(p *corev1.Pod) bool {
	vols := map[string]corev1.Volume{}
	for _, v := range p.Spec.Volumes {
		vols[v.Name] = v
	}
	ca, tlsVol := vols["internal-ca-volume"], vols["aigw-server-tls"]
	if ca.Secret == nil || ca.Secret.SecretName != "internal-ca" || tlsVol.Secret == nil || tlsVol.Secret.SecretName != "aigw-server-tls" {
		return false
	}
	mounts := map[string]corev1.VolumeMount{}
	for _, c := range p.Spec.Containers {
		if c.Name == "aigw" {
			for _, m := range c.VolumeMounts {
				mounts[m.MountPath] = m
			}
		}
	}
	return mounts["/etc/internal-ca"].Name == "internal-ca-volume" && mounts["/etc/internal-ca"].ReadOnly &&
		mounts["/tls"].Name == "aigw-server-tls" && mounts["/tls"].ReadOnly &&
		p.Annotations["mtls.aigw.io/injected"] != ""
}

// setCABundle sets the caBundle of every webhook in the test's configurations.
func setCABundle(ctx context.Context, bundle []byte) error {
	var m admissionregistrationv1.MutatingWebhookConfiguration
	if err := env.Client.Get(ctx, client.ObjectKey{Name: configName}, &m); err != nil {
		return err
	}
	for i := range m.Webhooks {
		m.Webhooks[i].ClientConfig.CABundle = bundle
	}
	if err := env.Client.Update(ctx, &m); err != nil {
		return err
	}
	var v admissionregistrationv1.ValidatingWebhookConfiguration
	if err := env.Client.Get(ctx, client.ObjectKey{Name: configName}, &v); err != nil {
		return err
	}
	for i := range v.Webhooks {
		v.Webhooks[i].ClientConfig.CABundle = bundle
	}
	return env.Client.Update(ctx, &v)
}

// rotateServingCert replaces tls.crt and tls.key in dir, each by an atomic rename (the watcher
// may see the new certificate with the old key for a moment; it keeps serving the last good pair).
func rotateServingCert(dir string, crt, key []byte) error {
	for _, f := range []struct {
		name string
		data []byte
	}{{"tls.crt", crt}, {"tls.key", key}} {
		tmp := filepath.Join(dir, "."+f.name+".new")
		if err := os.WriteFile(tmp, f.data, 0o600); err != nil {
			return err
		}
		if err := os.Rename(tmp, filepath.Join(dir, f.name)); err != nil {
			return err
		}
	}
	return nil
}

// waitServing waits until the webhook presents the certificate crt (PEM), verified with bundle.
func waitServing(bundle, crt []byte) error {
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(bundle)
	want, _ := pem.Decode(crt)
	if want == nil {
		return fmt.Errorf("no certificate in %q", crt)
	}
	addr := strings.TrimPrefix(hook.URL, "https://")
	deadline := time.Now().Add(30 * time.Second)
	var last error
	for time.Now().Before(deadline) {
		conn, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: pool})
		if err == nil {
			leaf := conn.ConnectionState().PeerCertificates[0].Raw
			conn.Close()
			if bytes.Equal(leaf, want.Bytes) {
				return nil
			}
			last = fmt.Errorf("still serving the previous certificate")
		} else {
			last = err
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("certificate not served after 30s: %v", last)
}

const probeNS = "load-probe"

// registerProbe registers the pod webhook for the probe namespace only, trusting only caPEM.
func registerProbe(ctx context.Context, caPEM []byte) (*admissionregistrationv1.MutatingWebhookConfiguration, error) {
	if err := env.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: probeNS}}); err != nil && !apierrors.IsAlreadyExists(err) {
		return nil, err
	}
	probe, _, err := harness.ChartWebhooks("load-rotation-probe", hook.URL, caPEM)
	if err != nil {
		return nil, err
	}
	probe.Webhooks = probe.Webhooks[:1] // pods
	probe.Webhooks[0].Name = "rotation-probe.mtls.aigw.io"
	probe.Webhooks[0].NamespaceSelector = &metav1.LabelSelector{MatchLabels: map[string]string{"kubernetes.io/metadata.name": probeNS}}
	return probe, env.Client.Create(ctx, probe)
}

// waitProbe waits until a labelled pod of the probe namespace (dry run) is admitted (admitted
// true) or refused by the probe webhook (admitted false).
func waitProbe(ctx context.Context, admitted bool) error {
	deadline := time.Now().Add(30 * time.Second)
	var last error
	for time.Now().Before(deadline) {
		p := pod("rotation-probe", true)
		p.Namespace = probeNS
		err := env.Client.Create(ctx, p, client.DryRunAll)
		switch {
		case admitted && err == nil && len(p.Spec.Volumes) > 0:
			return nil
		case !admitted && err != nil && strings.Contains(err.Error(), `failed calling webhook "rotation-probe.mtls.aigw.io"`):
			return nil
		}
		last = err
		time.Sleep(100 * time.Millisecond)
	}
	if admitted {
		return fmt.Errorf("probe trusting only the new CA still refused after 30s: %v", last)
	}
	return fmt.Errorf("probe trusting only the new CA not refused after 30s (last error: %v)", last)
}
