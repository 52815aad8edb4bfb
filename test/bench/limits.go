package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	crclient "sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/aigw-mtls/aigw-mtls-webhook/test/harness"
)

// memLimitBytes is the chart's memory limit (resources.limits.memory: 256Mi); the process runs
// with GOMEMLIMIT at all of it, above the 80% the chart sets (goMemLimitPercent), which only
// collects sooner.
const memLimitBytes = 256 << 20

// memLimits runs the real `serve` binary with GOMEMLIMIT at the chart's memory limit, registered
// with the API server as the chart registers it, and samples its RSS from /proc while:
// (a) a 1 MiB labelled CA Secret (ca.crt: one certificate, repeated) is updated c.limitVersions
// times, each update followed by an egressMTLS Policy naming it, while /metrics is scraped;
// (b) c.limitConfigMaps labelled ConfigMaps of ~1 MiB are updated all at once.
// It fails when the peak RSS (VmHWM) passes the memory limit, when a write is not answered
// (anything but success, or 429 retried by the API server), or when the webhook stops answering.
func (b *bench) memLimits() error {
	c := b.cfg
	b.serveEnv = []string{"GOMEMLIMIT=" + strconv.Itoa(memLimitBytes)}
	var p *proc
	var err error
	if c.limitFloor {
		c.limitVersions = 0
		p, err = b.startNothing("memlimits-floor", c.floorImpl, "")
	} else {
		p, err = b.startServe("memlimits", "", "--mode=warn", "--metrics-secure=false")
	}
	if err != nil {
		return err
	}
	defer p.stop()
	ctx := context.Background()
	name := "aigw-mtls-bench-limits"
	mutating, validating, err := harness.ChartWebhooks(name, p.url, p.caBundle)
	if err != nil {
		return err
	}
	if err := b.env.Client.Create(ctx, mutating); err != nil {
		return err
	}
	if err := b.env.Client.Create(ctx, validating); err != nil {
		return err
	}
	defer func() {
		_ = b.env.Client.Delete(ctx, mutating)
		_ = b.env.Client.Delete(ctx, validating)
	}()
	if err := b.env.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "bench-limits"}}); err != nil && !apierrors.IsAlreadyExists(err) {
		return err
	}
	if c.limitFloor {
		time.Sleep(2 * time.Second) // the configurations take effect; the do-nothing webhook mutates nothing to wait for
	} else if err := harness.WaitForPodMutation(ctx, b.env.Client, "bench-limits"); err != nil {
		return err
	}
	idle, _ := memStatus(p.pid())
	logf("memlimits: serve ready, RSS %.1f MiB, GOMEMLIMIT %d", mib(idle.rss), memLimitBytes)

	var peak atomic.Int64
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		for {
			if m, err := memStatus(p.pid()); err == nil && m.rss > peak.Load() {
				peak.Store(m.rss)
			}
			select {
			case <-stop:
				return
			case <-time.After(50 * time.Millisecond):
			}
		}
	}()
	var failures []string
	fail := func(format string, args ...any) { failures = append(failures, fmt.Sprintf(format, args...)) }

	// (a) versions of a 1 MiB CA bundle, each judged by a Policy, while /metrics is scraped.
	scrapes := atomic.Int64{}
	go func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			if resp, err := http.Get(p.metrics); err == nil {
				_, _ = bytes.NewBuffer(nil).ReadFrom(resp.Body)
				resp.Body.Close()
				scrapes.Add(1)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}()
	t0 := time.Now()
	bundle := repeatedCA(1 << 20)
	sec := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "big-ca", Namespace: "bench-limits", Labels: map[string]string{"aigw": "mtls"}},
		Type: "nginx.org/ca", Data: map[string][]byte{"ca.crt": bundle}}
	if err := b.env.Client.Create(ctx, sec); err != nil {
		return err
	}
	for v := 0; v < c.limitVersions; v++ {
		patch := fmt.Sprintf(`{"metadata":{"annotations":{"bench/version":"%d"}}}`, v)
		if err := b.env.Client.Patch(ctx, sec, crclient.RawPatch(types.MergePatchType, []byte(patch))); err != nil {
			fail("Secret version %d: %v", v, err)
			continue
		}
		if err := b.applyPolicy(ctx, v); err != nil {
			fail("Policy after Secret version %d: %v", v, err)
		}
	}
	peakA := peak.Load()
	hwmA, _ := memStatus(p.pid())
	logf("memlimits (a): %d versions of a %d-byte CA Secret, each with a Policy, %d scrapes, in %s: peak RSS %.1f MiB (VmHWM %.1f MiB)",
		c.limitVersions, len(bundle), scrapes.Load(), time.Since(t0).Round(time.Millisecond), mib(peakA), mib(hwmA.hwm))

	// (b) ConfigMaps of ~1 MiB, updated all at once.
	t0 = time.Now()
	cms := make([]*corev1.ConfigMap, c.limitConfigMaps)
	for i := range cms {
		cms[i] = &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("big-config-%02d", i), Namespace: "bench-limits", Labels: map[string]string{"aigw": "mtls"}},
			Data: bigData(i, 0)}
		if err := b.env.Client.Create(ctx, cms[i]); err != nil {
			return fmt.Errorf("creating ConfigMap %d: %w", i, err)
		}
	}
	jsonSize := 0
	if j, err := json.Marshal(cms[0]); err == nil {
		jsonSize = len(j)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	start := make(chan struct{})
	for i := range cms {
		wg.Add(1)
		go func(cm *corev1.ConfigMap, i int) {
			defer wg.Done()
			cm.Data = bigData(i, 1)
			<-start
			if err := b.env.Client.Update(ctx, cm); err != nil {
				mu.Lock()
				fail("ConfigMap %s update: %v", cm.Name, err)
				mu.Unlock()
			}
		}(cms[i], i)
	}
	close(start)
	wg.Wait()
	close(stop)
	<-sampled
	end, _ := memStatus(p.pid())
	logf("memlimits (b): %d parallel updates of %d-byte ConfigMaps (JSON %d bytes) in %s: peak RSS %.1f MiB (VmHWM %.1f MiB)",
		c.limitConfigMaps, len(cms[0].Data["padding"])+len(cms[0].Data["aigw.yaml"]), jsonSize, time.Since(t0).Round(time.Millisecond), mib(peak.Load()), mib(end.hwm))

	// Still answering: a labelled ConfigMap comes back with the TLS paths.
	probe := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "after", Namespace: "bench-limits", Labels: map[string]string{"aigw": "mtls"}},
		Data: map[string]string{"aigw.yaml": "version: 1\nserver:\n  address: :4141\n"}}
	if err := b.env.Client.Create(ctx, probe); err != nil || (!c.limitFloor && probe.Annotations["mtls.aigw.io/injected"] == "") {
		fail("after the load, a labelled ConfigMap was not mutated: %v", err)
	}
	rejected := scrape(p.metrics, `aigw_mtls_requests_rejected_total{reason="overload"}`)
	report("memlimits_idle_rss", round3(mib(idle.rss)), "MiB")
	report("memlimits_a_peak_rss", round3(mib(max(peakA, hwmA.hwm))), "MiB")
	report("memlimits_peak_rss_vmhwm", round3(mib(end.hwm)), "MiB")
	report("memlimits_overload_answers", rejected, "count")
	report("memlimits_unanswered_writes", float64(len(failures)), "count")
	if end.hwm > memLimitBytes {
		fail("peak RSS %.1f MiB is over the chart's memory limit %d MiB", mib(end.hwm), memLimitBytes>>20)
	}
	if len(failures) > 0 {
		n := min(len(failures), 10)
		return fmt.Errorf("%d failures, first %d:\n  %s", len(failures), n, strings.Join(failures[:n], "\n  "))
	}
	return nil
}

// applyPolicy creates or updates the egressMTLS Policy that names the big CA Secret.
func (b *bench) applyPolicy(ctx context.Context, v int) error {
	u := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "k8s.nginx.org/v1", "kind": "Policy",
		"metadata": map[string]any{"name": "aigw-mtls", "namespace": "bench-limits", "labels": map[string]any{"aigw": "mtls"},
			"annotations": map[string]any{"bench/version": strconv.Itoa(v)}},
		"spec": map[string]any{"egressMTLS": map[string]any{
			"tlsSecret": "aigw-nic-client-tls", "trustedCertSecret": "big-ca", "verifyServer": true,
			"sslName": "aigw.bench-limits.svc.cluster.local", "protocols": "TLSv1.3",
		}},
	}}
	var cur unstructured.Unstructured
	cur.SetGroupVersionKind(u.GroupVersionKind())
	err := b.env.Client.Get(ctx, crclient.ObjectKeyFromObject(u), &cur)
	if apierrors.IsNotFound(err) {
		return b.env.Client.Create(ctx, u)
	}
	if err != nil {
		return err
	}
	u.SetResourceVersion(cur.GetResourceVersion())
	return b.env.Client.Update(ctx, u)
}

// repeatedCA is one self-signed CA certificate's PEM, repeated up to size bytes.
func repeatedCA(size int) []byte {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Bench CA"}, IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		panic(err)
	}
	one := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	return bytes.Repeat(one, size/len(one))
}

// bigData is aigw's config (small: the mutation parses at most 256 KiB of it) beside quoted
// padding lines that bring the ConfigMap to just under the API server's 1 MiB bound (quotes make
// its JSON larger still); version v changes both.
func bigData(i, v int) map[string]string {
	var b strings.Builder
	fmt.Fprintf(&b, "# config %d version %d\n", i, v)
	line := `# "padding" "padding" "padding" "padding" "padding" "padding" "padding"` + "\n"
	for b.Len()+len(line) < 1_040_000 {
		b.WriteString(line)
	}
	return map[string]string{"aigw.yaml": fmt.Sprintf("# config %d version %d\nversion: 1\nserver:\n  address: :4141\n", i, v), "padding": b.String()}
}

// memSample is a process's resident memory in bytes: all of it, its peak, and its anonymous part
// (what the Go runtime allocates, beside the binary's mapped pages).
type memSample struct{ rss, hwm, anon int64 }

// memStatus reads VmRSS, VmHWM (the peak RSS) and RssAnon of pid from /proc.
func memStatus(pid int) (memSample, error) {
	var m memSample
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return m, err
	}
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		if len(f) < 2 {
			continue
		}
		kib, _ := strconv.ParseInt(f[1], 10, 64)
		switch f[0] {
		case "VmRSS:":
			m.rss = kib << 10
		case "VmHWM:":
			m.hwm = kib << 10
		case "RssAnon:":
			m.anon = kib << 10
		}
	}
	return m, nil
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }
