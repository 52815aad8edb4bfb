package main

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
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	runtimeapi "k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/aigw-mtls/aigw-mtls-webhook/webhook"
)

// httpsLoad posts the same pod AdmissionReview to /mutate-v1-pod of our server and of the
// do-nothing servers, over keep-alive HTTPS connections, and compares requests per second.
// With -pin the server under test runs on CPU 1 and this load generator on CPU 0, so a server's
// throughput is what one core gives it and the load generator does not steal from it.
func (b *bench) httpsLoad() error {
	c := b.cfg
	serverCPUs := ""
	if c.pin {
		serverCPUs = "1"
	}
	body, err := b.podReview()
	if err != nil {
		return err
	}
	type target struct {
		name  string
		p     *proc
		check func(admissionv1.AdmissionResponse) error
		rps   []float64
		cpu   []float64 // server CPU µs per request
		lat   []time.Duration
		errs  int
	}
	allowedPatched := func(r admissionv1.AdmissionResponse) error {
		if !r.Allowed || len(r.Patch) == 0 {
			return fmt.Errorf("want allowed with a patch, got allowed=%v patch=%s result=%v", r.Allowed, r.Patch, r.Result)
		}
		return nil
	}
	allowed := func(r admissionv1.AdmissionResponse) error {
		if !r.Allowed || len(r.Patch) != 0 {
			return fmt.Errorf("want allowed without a patch, got allowed=%v patch=%s", r.Allowed, r.Patch)
		}
		return nil
	}
	ours, err := b.startServe("https-ours", serverCPUs)
	if err != nil {
		return err
	}
	nothing, err := b.startNothing("https-nothing", "cr", serverCPUs)
	if err != nil {
		return err
	}
	minimal, err := b.startNothing("https-nothing-minimal", "minimal", serverCPUs)
	if err != nil {
		return err
	}
	targets := []*target{{name: "ours", p: ours, check: allowedPatched}, {name: "nothing", p: nothing, check: allowed},
		{name: "nothing-minimal", p: minimal, check: allowed}}
	if c.pin {
		if err := pinSelf("0"); err != nil {
			return err
		}
		prev := runtime.GOMAXPROCS(1)
		defer func() { runtime.GOMAXPROCS(prev); _ = pinSelf("0-1") }()
	}
	logf("https load: %d connections, %s per arm and round, %d rounds, pinned=%v, body %d bytes", c.httpsConns, c.httpsDuration, c.httpsRounds, c.pin, len(body))
	for _, t := range targets {
		if err := post(t.p, body, t.check); err != nil {
			return fmt.Errorf("%s: %w", t.name, err)
		}
	}
	for r := 0; r < c.httpsRounds; r++ {
		for i := range targets {
			t := targets[(i+r)%len(targets)]
			res := hammer(t.p, body, c.httpsConns, c.httpsDuration)
			t.rps = append(t.rps, res.rps)
			t.cpu = append(t.cpu, res.cpuPerReq)
			t.lat = append(t.lat, res.lat...)
			t.errs += res.errs
			if res.errs > 0 {
				logf("%s: %d errors, first: %v", t.name, res.errs, res.first)
			}
			logf("round %d %-16s %8.0f req/s  server CPU %6.1f µs/req  p50 %6.2f ms  p99 %6.2f ms", r, t.name, res.rps, res.cpuPerReq,
				ms(percentile(sortDurations(res.lat), 0.5)), ms(percentile(sortDurations(res.lat), 0.99)))
		}
	}
	byName := map[string]*target{}
	for _, t := range targets {
		byName[t.name] = t
		s := sortDurations(t.lat)
		report("https_"+t.name+"_rps", round3(median(t.rps)), "req/s")
		report("https_"+t.name+"_server_cpu_per_req", round3(median(t.cpu)), "us")
		report("https_"+t.name+"_p50", round3(ms(percentile(s, 0.5))), "ms")
		report("https_"+t.name+"_p99", round3(ms(percentile(s, 0.99))), "ms")
		report("https_"+t.name+"_errors", float64(t.errs), "errors")
	}
	report("https_rps_ratio_ours_vs_nothing", round3(median(byName["ours"].rps)/median(byName["nothing"].rps)), "x")
	report("https_rps_ratio_ours_vs_nothing_minimal", round3(median(byName["ours"].rps)/median(byName["nothing-minimal"].rps)), "x")
	for _, t := range targets {
		t.p.stop()
	}
	return nil
}

// podReview is an AdmissionReview for a pod CREATE as the API server sends it: the pod is what a
// dry-run create returns (defaults applied) without the fields set after admission.
func (b *bench) podReview() ([]byte, error) {
	ctx := context.Background()
	ns := "bench-https"
	if err := b.env.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		return nil, err
	}
	pod := podFor(ns, "")
	pod.GenerateName = "aigw-7d9c5b8f4-"
	p, err := b.kube.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
	if err != nil {
		return nil, err
	}
	p.UID, p.CreationTimestamp, p.Status, p.ManagedFields = "", metav1.Time{}, corev1.PodStatus{}, nil
	p.Name, p.GenerateName = "", "aigw-7d9c5b8f4-"
	p.APIVersion, p.Kind = "v1", "Pod"
	raw, err := json.Marshal(p)
	if err != nil {
		return nil, err
	}
	return json.Marshal(admissionv1.AdmissionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
		Request: &admissionv1.AdmissionRequest{
			UID:       "705ab4f5-6393-11e8-b7cc-42010a800002",
			Kind:      metav1.GroupVersionKind{Version: "v1", Kind: "Pod"},
			Resource:  metav1.GroupVersionResource(schema.GroupVersionResource{Version: "v1", Resource: "pods"}),
			Namespace: ns, Operation: admissionv1.Create,
			UserInfo: authenticationv1.UserInfo{Username: "system:serviceaccount:kube-system:replicaset-controller"},
			Object:   runtimeapi.RawExtension{Raw: raw},
			Options:  runtimeapi.RawExtension{Raw: []byte(`{"kind":"CreateOptions","apiVersion":"meta.k8s.io/v1"}`)},
		},
	})
}

func client(p *proc, conns int) *http.Client {
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(p.caBundle)
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig:     &tls.Config{RootCAs: pool},
		MaxIdleConnsPerHost: conns, MaxConnsPerHost: conns, DisableCompression: true,
	}}
}

// post sends one review and checks the answer.
func post(p *proc, body []byte, check func(admissionv1.AdmissionResponse) error) error {
	resp, err := client(p, 1).Post(p.url+webhook.PathMutatePod, "application/json", bytes.NewReader(body))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	var review admissionv1.AdmissionReview
	if err := json.Unmarshal(out, &review); err != nil || review.Response == nil {
		return fmt.Errorf("status %d, body %s", resp.StatusCode, out)
	}
	if resp.ProtoMajor != 1 {
		return fmt.Errorf("spoke HTTP/%d", resp.ProtoMajor)
	}
	return check(*review.Response)
}

type hammerResult struct {
	rps, cpuPerReq float64
	lat            []time.Duration
	errs           int
	first          error
}

// hammer runs conns keep-alive clients against p for d (after one unmeasured second).
func hammer(p *proc, body []byte, conns int, d time.Duration) hammerResult {
	cl := client(p, conns)
	var stop atomic.Bool
	var measuring atomic.Bool
	var n atomic.Int64
	var mu sync.Mutex
	var res hammerResult
	var wg sync.WaitGroup
	lats := make([][]time.Duration, conns)
	for w := 0; w < conns; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for !stop.Load() {
				req, _ := http.NewRequest(http.MethodPost, p.url+webhook.PathMutatePod, bytes.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
				t0 := time.Now()
				resp, err := cl.Do(req)
				if err == nil {
					_, err = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if err == nil && resp.StatusCode != http.StatusOK {
						err = fmt.Errorf("status %d", resp.StatusCode)
					}
				}
				if !measuring.Load() {
					continue
				}
				if err != nil {
					mu.Lock()
					res.errs++
					if res.first == nil {
						res.first = err
					}
					mu.Unlock()
					continue
				}
				lats[w] = append(lats[w], time.Since(t0))
				n.Add(1)
			}
		}(w)
	}
	time.Sleep(time.Second)
	cpu0 := cpuTime(p.pid())
	n0 := n.Load()
	measuring.Store(true)
	t0 := time.Now()
	time.Sleep(d)
	measuring.Store(false)
	elapsed := time.Since(t0)
	done := n.Load() - n0
	cpu1 := cpuTime(p.pid())
	stop.Store(true)
	wg.Wait()
	cl.CloseIdleConnections()
	res.rps = float64(done) / elapsed.Seconds()
	if done > 0 {
		res.cpuPerReq = float64((cpu1 - cpu0).Microseconds()) / float64(done)
	}
	for _, l := range lats {
		res.lat = append(res.lat, l...)
	}
	return res
}

// cpuTime is the user+system CPU time pid has used (/proc/<pid>/stat, in clock ticks of 10 ms).
func cpuTime(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndex(s, ")")+2:])
	// fields after the command: state(0) ... utime(11) stime(12)
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * 10 * time.Millisecond
}
