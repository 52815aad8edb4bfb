package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	runtimeapi "k8s.io/apimachinery/pkg/runtime"
	crclient "sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/aigw-mtls/aigw-mtls-webhook/internal/kinds"
	"github.com/aigw-mtls/aigw-mtls-webhook/test/harness"
)

// labelledPerTenant and unlabelledPerTenant are what each tenant namespace holds: three labelled
// Secrets with real certificates, an egressMTLS Policy, a VirtualServer naming it, an aigw
// ConfigMap and a cert-manager Certificate (labelled); two Secrets and two ConfigMaps (not).
const labelledPerTenant, unlabelledPerTenant = 7, 4

// scale grows the cluster to each size of c.scaleSizes tenants and measures, at each: the
// webhook's RSS once synced and settled and its peak, the p50 of a VirtualServer admission review
// (which reads the cached Policy and Secrets), and `check` over the whole cluster (wall time and
// peak RSS). The growth per labelled object is the RSS difference between the sizes.
func (b *bench) scale() error {
	type result struct {
		tenants              int
		ready, steady, peak  float64 // s, MiB, MiB
		anon                 float64 // MiB: the steady RSS less the binary's mapped pages
		p50                  time.Duration
		checkSecs, checkPeak float64
	}
	var results []result
	created := 0
	// As the chart runs it: GOMEMLIMIT is 80% of the container's memory limit (256Mi by default).
	if b.cfg.scaleMemLimit != "" {
		b.serveEnv = append(b.serveEnv, "GOMEMLIMIT="+b.cfg.scaleMemLimit)
	}
	for _, n := range b.cfg.scaleSizes {
		t0 := time.Now()
		if err := b.createTenants(created, n); err != nil {
			return err
		}
		logf("scale: %d tenants created in %s", n-created, time.Since(t0).Round(time.Second))
		created = n
		r := result{tenants: n}
		start := time.Now()
		p, err := b.startServe(fmt.Sprintf("scale-%d", n), "")
		if err != nil {
			return err
		}
		r.ready = time.Since(start).Seconds()
		time.Sleep(b.cfg.settle)
		m, err := memStatus(p.pid())
		if err != nil {
			return err
		}
		r.steady, r.anon = mib(m.rss), mib(m.anon)
		body, err := vsReview("tenant-0")
		if err != nil {
			return err
		}
		var lat []time.Duration
		cl := client(p, 1)
		for i := 0; i < b.cfg.scaleReviews; i++ {
			t := time.Now()
			if err := postTo(cl, p.url+kinds.VirtualServer.ValidatePath(), body); err != nil {
				return fmt.Errorf("admission review: %w", err)
			}
			lat = append(lat, time.Since(t))
		}
		sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
		r.p50 = lat[len(lat)/2]
		if m, err = memStatus(p.pid()); err != nil {
			return err
		}
		r.peak = mib(m.hwm)
		p.stop()
		if r.checkSecs, r.checkPeak, err = b.runCheck(); err != nil {
			return err
		}
		logf("scale %d tenants: serve ready %.1fs, RSS %.1f MiB steady (%.1f anonymous), %.1f MiB peak; admission p50 %s; check %.1fs, %.1f MiB peak",
			n, r.ready, r.steady, r.anon, r.peak, r.p50, r.checkSecs, r.checkPeak)
		results = append(results, r)
	}
	for _, r := range results {
		pre := fmt.Sprintf("scale_%d_", r.tenants)
		report(pre+"labelled_objects", float64(r.tenants*labelledPerTenant), "objects")
		report(pre+"serve_ready", round3(r.ready), "s")
		report(pre+"serve_rss_steady", round3(r.steady), "MiB")
		report(pre+"serve_rss_peak", round3(r.peak), "MiB")
		report(pre+"serve_rss_anon_steady", round3(r.anon), "MiB")
		report(pre+"admission_p50", round3(float64(r.p50.Microseconds())/1000), "ms")
		report(pre+"check_wall", round3(r.checkSecs), "s")
		report(pre+"check_rss_peak", round3(r.checkPeak), "MiB")
	}
	if len(results) >= 2 {
		lo, hi := results[0], results[len(results)-1]
		objs := float64((hi.tenants - lo.tenants) * labelledPerTenant)
		report("scale_serve_rss_steady_per_labelled_object", round3((hi.steady-lo.steady)*1024/objs), "KiB")
		report("scale_serve_rss_peak_per_labelled_object", round3((hi.peak-lo.peak)*1024/objs), "KiB")
		report("scale_check_rss_peak_per_labelled_object", round3((hi.checkPeak-lo.checkPeak)*1024/objs), "KiB")
		report("scale_check_wall_per_tenant", round3((hi.checkSecs-lo.checkSecs)*1000/float64(hi.tenants-lo.tenants)), "ms")
		report("scale_admission_p50_ratio", round3(float64(hi.p50)/float64(lo.p50)), "x")
	}
	return nil
}

// runCheck runs `check` over the whole cluster and returns its wall time and peak RSS. It exits
// 1 here (no webhook is registered): only 2, a cluster it could not read, is an error.
func (b *bench) runCheck() (float64, float64, error) {
	cmd := exec.Command(b.binary, "check", "--kubeconfig", b.kubeconfig, "-o", "json", "--timeout", "10m")
	cmd.Stdout = io.Discard
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	t := time.Now()
	err := cmd.Run()
	wall := time.Since(t).Seconds()
	if cmd.ProcessState == nil || cmd.ProcessState.ExitCode() == 2 {
		return 0, 0, fmt.Errorf("check: %v: %s", err, stderr.String())
	}
	ru := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	return wall, float64(ru.Maxrss) / 1024, nil
}

func postTo(cl *http.Client, url string, body []byte) error {
	resp, err := cl.Post(url, "application/json", bytes.NewReader(body))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	var review admissionv1.AdmissionReview
	if err := json.Unmarshal(out, &review); err != nil || review.Response == nil {
		return fmt.Errorf("status %d, body %s", resp.StatusCode, out)
	}
	return nil
}

func vsReview(ns string) ([]byte, error) {
	raw, err := json.Marshal(tenantVirtualServer(ns).Object)
	if err != nil {
		return nil, err
	}
	return json.Marshal(admissionv1.AdmissionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
		Request: &admissionv1.AdmissionRequest{
			UID:      "5f8c7d2e-6393-11e8-b7cc-42010a800002",
			Kind:     metav1.GroupVersionKind{Group: "k8s.nginx.org", Version: "v1", Kind: "VirtualServer"},
			Resource: metav1.GroupVersionResource{Group: "k8s.nginx.org", Version: "v1", Resource: "virtualservers"},
			Name:     "aigw", Namespace: ns, Operation: admissionv1.Create,
			Object:  runtimeapi.RawExtension{Raw: raw},
			Options: runtimeapi.RawExtension{Raw: []byte(`{"kind":"CreateOptions","apiVersion":"meta.k8s.io/v1"}`)},
		},
	})
}

var labelled = map[string]string{"aigw": "mtls"}

// applied is kubectl apply's copy of an object, as objects applied with kubectl carry it.
func applied(obj any) map[string]string {
	raw, _ := json.Marshal(obj)
	return map[string]string{"kubectl.kubernetes.io/last-applied-configuration": string(raw)}
}

func tenantVirtualServer(ns string) *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "k8s.nginx.org/v1", "kind": "VirtualServer",
		"metadata": map[string]any{"name": "aigw", "namespace": ns, "labels": map[string]any{"aigw": "mtls"}},
		"spec": map[string]any{
			"host":      ns + ".example.com",
			"upstreams": []any{map[string]any{"name": "aigw", "service": "aigw", "port": int64(443), "tls": map[string]any{"enable": true}}},
			"routes": []any{map[string]any{"path": "/", "policies": []any{map[string]any{"name": "aigw-mtls"}},
				"action": map[string]any{"pass": "aigw"}}},
		},
	}}
}

// tenant are the objects of one tenant namespace, with certificates issued for it.
func tenant(ns string) ([]crclient.Object, error) {
	caCrt, serverCrt, clientCrt := harness.SeedCertificates(ns)
	ca, err := harness.Issue(caCrt, nil)
	if err != nil {
		return nil, err
	}
	server, err := harness.Issue(serverCrt, ca)
	if err != nil {
		return nil, err
	}
	cl, err := harness.Issue(clientCrt, ca)
	if err != nil {
		return nil, err
	}
	serverSecret, clientSecret := server.Secret(serverCrt), cl.Secret(clientCrt)
	serverSecret.Labels, clientSecret.Labels = labelled, labelled
	policySpec := map[string]any{"egressMTLS": map[string]any{
		"tlsSecret": "aigw-nic-client-tls", "trustedCertSecret": "internal-ca", "verifyServer": true,
		"sslName": "aigw." + ns + ".svc", "protocols": "TLSv1.3", "verifyDepth": int64(1)}}
	policy := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "k8s.nginx.org/v1", "kind": "Policy",
		"metadata": map[string]any{"name": "aigw-mtls", "namespace": ns, "labels": map[string]any{"aigw": "mtls"},
			"annotations": toAny(applied(policySpec))},
		"spec": policySpec,
	}}
	vs := tenantVirtualServer(ns)
	vs.SetAnnotations(applied(vs.Object["spec"]))
	certificate := &unstructured.Unstructured{}
	rawCrt, _ := runtimeapi.DefaultUnstructuredConverter.ToUnstructured(serverCrt)
	certificate.Object = rawCrt
	certificate.SetAPIVersion("cert-manager.io/v1")
	certificate.SetKind("Certificate")
	certificate.SetAnnotations(applied(rawCrt["spec"]))
	delete(certificate.Object, "status")
	config := "server:\n  tls:\n    cert: /etc/aigw/tls/tls.crt\n    key: /etc/aigw/tls/tls.key\n  mtls:\n    clientCA: /etc/aigw/ca/ca.crt\n"
	objs := []crclient.Object{
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "internal-ca", Namespace: ns, Labels: labelled}, Type: "nginx.org/ca",
			Data: map[string][]byte{"ca.crt": ca.CertPEM}},
		serverSecret, clientSecret, policy, vs, certificate,
		&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "aigw", Namespace: ns, Labels: labelled, Annotations: applied(config)},
			Data: map[string]string{"aigw.yaml": config}},
	}
	for i := range 2 {
		objs = append(objs,
			&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "app-" + strconv.Itoa(i), Namespace: ns}, Data: map[string][]byte{"password": bytes.Repeat([]byte("x"), 1024)}},
			&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "app-" + strconv.Itoa(i), Namespace: ns}, Data: map[string]string{"settings": strings.Repeat("y", 1024)}})
	}
	return objs, nil
}

func toAny(m map[string]string) map[string]any {
	out := map[string]any{}
	for k, v := range m {
		out[k] = v
	}
	return out
}

// createTenants creates tenants from..to-1 (namespace tenant-i), 20 at a time.
func (b *bench) createTenants(from, to int) error {
	ctx := context.Background()
	jobs := make(chan int)
	var mu sync.Mutex
	var first error
	var wg sync.WaitGroup
	for w := 0; w < 20; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				ns := fmt.Sprintf("tenant-%d", i)
				err := b.env.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})
				objs, terr := tenant(ns)
				if err == nil {
					err = terr
				}
				for _, o := range objs {
					if err != nil {
						break
					}
					err = b.env.Client.Create(ctx, o)
				}
				if err != nil {
					mu.Lock()
					if first == nil {
						first = fmt.Errorf("tenant %s: %w", ns, err)
					}
					mu.Unlock()
				}
			}
		}()
	}
	for i := from; i < to; i++ {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	return first
}
