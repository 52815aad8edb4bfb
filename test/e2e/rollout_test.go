package e2e

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/aigw-mtls/aigw-mtls-webhook/test/harness"
	"github.com/aigw-mtls/aigw-mtls-webhook/webhook"
)

// serviceLB stands in for a Service's ClusterIP as kube-proxy implements it: every new TCP
// connection goes to one of the endpoints published at that moment (round robin), and an
// established connection stays with its endpoint after the endpoint is removed (conntrack). A
// connection to an endpoint that refuses it is reset, as a DNAT to a closed port is.
type serviceLB struct {
	ln        net.Listener
	mu        sync.Mutex
	endpoints []string
	next      int
	conns     map[string]*atomic.Int64 // new connections per endpoint
	refused   atomic.Int64
}

func newServiceLB(t *testing.T) *serviceLB {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	lb := &serviceLB{ln: ln, conns: map[string]*atomic.Int64{}}
	t.Cleanup(func() { ln.Close() })
	go lb.serve()
	return lb
}

func (lb *serviceLB) URL() string { return "https://" + lb.ln.Addr().String() }

func (lb *serviceLB) add(endpoint string) {
	lb.mu.Lock()
	defer lb.mu.Unlock()
	lb.endpoints = append(lb.endpoints, endpoint)
	lb.conns[endpoint] = &atomic.Int64{}
}

func (lb *serviceLB) remove(endpoint string) {
	lb.mu.Lock()
	defer lb.mu.Unlock()
	for i, e := range lb.endpoints {
		if e == endpoint {
			lb.endpoints = append(lb.endpoints[:i], lb.endpoints[i+1:]...)
			return
		}
	}
}

func (lb *serviceLB) connections(endpoint string) int64 {
	lb.mu.Lock()
	defer lb.mu.Unlock()
	return lb.conns[endpoint].Load()
}

func (lb *serviceLB) pick() string {
	lb.mu.Lock()
	defer lb.mu.Unlock()
	if len(lb.endpoints) == 0 {
		return ""
	}
	e := lb.endpoints[lb.next%len(lb.endpoints)]
	lb.next++
	lb.conns[e].Add(1)
	return e
}

func (lb *serviceLB) serve() {
	for {
		c, err := lb.ln.Accept()
		if err != nil {
			return
		}
		go lb.proxy(c)
	}
}

func (lb *serviceLB) proxy(c net.Conn) {
	defer c.Close()
	e := lb.pick()
	if e == "" {
		lb.refused.Add(1)
		return
	}
	b, err := net.DialTimeout("tcp", e, 2*time.Second)
	if err != nil {
		lb.refused.Add(1)
		if tc, ok := c.(*net.TCPConn); ok {
			_ = tc.SetLinger(0) // RST, as the kernel answers a SYN to a closed port
		}
		return
	}
	defer b.Close()
	done := make(chan struct{}, 2)
	cp := func(dst, src net.Conn) {
		_, _ = io.Copy(dst, src)
		if tc, ok := dst.(*net.TCPConn); ok {
			_ = tc.CloseWrite()
		}
		done <- struct{}{}
	}
	go cp(b, c)
	go cp(c, b)
	<-done
	<-done
}

// A rolling update of the webhook (maxSurge 1, maxUnavailable 0, as the chart's Deployment) while
// labelled pods are created without pause: each old replica gets SIGTERM at the moment a new one is
// ready, and its endpoint leaves the Service a moment later (the endpoint controller and
// kube-proxy race the kubelet). With the shutdown delay, no create fails; without it, creates fail
// closed (the control below).
func TestRolloutUnderLoadFailsNoCreate(t *testing.T) {
	if testing.Short() {
		t.Skip("rollout test skipped in -short mode")
	}
	t.Run("shutdown delay (default)", func(t *testing.T) {
		r := rollout(t, webhook.DefaultServingLimits().ShutdownDelay)
		if r.failed != 0 {
			t.Errorf("%d of %d labelled creates failed during the rollout, want 0", r.failed, r.created+r.failed)
		}
		if r.probesFailed != 0 {
			t.Errorf("%d of %d reviews on fresh connections failed during the rollout, want 0", r.probesFailed, r.probes)
		}
		if r.created < 200 {
			t.Errorf("only %d creates during the rollout: the load did not cover it", r.created)
		}
		if r.servedAfterTerm == 0 {
			t.Errorf("no connection reached a terminating replica before its endpoint was removed: the race was not exercised")
		}
	})
	// Without the delay, connections opened while the endpoint is still published are refused.
	// The API server's own creates fail only sometimes (its HTTP client often finds another idle
	// connection before a refused dial fails the request), so the control asserts on the probes
	// and reports the creates.
	t.Run("control: no shutdown delay", func(t *testing.T) {
		r := rollout(t, 0)
		if r.probesFailed == 0 {
			t.Errorf("0 of %d reviews on fresh connections failed without a shutdown delay: the rollout does not exercise the race", r.probes)
		}
	})
}

type rolloutResult struct {
	// labelled pod creates through the API server
	created, failed int64
	// reviews posted to the Service on a fresh connection each, as from API servers that hold no
	// idle connection
	probes, probesFailed int64
	// connections terminating replicas accepted after their SIGTERM
	servedAfterTerm int64
}

// rollout runs the rolling update with the given shutdown delay.
func rollout(t *testing.T, delay time.Duration) (r rolloutResult) {
	ctx := context.Background()
	nsObj := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "rollout-"}}
	if err := env.Client.Create(ctx, nsObj); err != nil {
		t.Fatal(err)
	}
	rolloutNS := nsObj.Name
	o := webhook.DefaultOptions()
	o.Serving.ShutdownDelay = delay
	start := func() *harness.Webhook {
		w, err := harness.StartWebhook(env.Config, o)
		if err != nil {
			t.Fatal(err)
		}
		return w
	}
	lb := newServiceLB(t)
	old := []*harness.Webhook{start(), start()}
	newer := []*harness.Webhook{start(), start()}
	var bundle []byte
	for _, w := range append(append([]*harness.Webhook{}, old...), newer...) {
		bundle = append(bundle, w.CABundle...)
	}
	for _, w := range old {
		lb.add(strings.TrimPrefix(w.URL, "https://"))
	}
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			for _, w := range old {
				_ = w.Stop()
			}
		}
		for _, w := range newer {
			_ = w.Stop()
		}
	})

	// The pod webhook of the chart, scoped to this namespace, at the Service.
	cfg, _, err := harness.ChartWebhooks(rolloutNS, lb.URL(), bundle)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Webhooks = cfg.Webhooks[:1]
	cfg.Webhooks[0].NamespaceSelector = &metav1.LabelSelector{MatchLabels: map[string]string{"kubernetes.io/metadata.name": rolloutNS}}
	if err := env.Client.Create(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = env.Client.Delete(ctx, &admissionregistrationv1.MutatingWebhookConfiguration{ObjectMeta: metav1.ObjectMeta{Name: rolloutNS}})
	})
	eventually(t, "the rollout configuration in the admission path", func() error {
		p := pod("probe", true)
		p.Namespace = rolloutNS
		if err := env.Client.Create(ctx, p, client.DryRunAll); err != nil {
			return err
		}
		if lb.connections(strings.TrimPrefix(old[0].URL, "https://"))+lb.connections(strings.TrimPrefix(old[1].URL, "https://")) == 0 {
			return errors.New("the API server has not called the Service yet")
		}
		return nil
	})

	rc := rest.CopyConfig(env.Config)
	rc.QPS, rc.Burst = -1, 0
	cs := kubernetes.NewForConfigOrDie(rc)
	loadCtx, stopLoad := context.WithCancel(ctx)
	var wg sync.WaitGroup
	var failures sync.Map
	var ok, bad, seq atomic.Int64
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(bundle)
	fresh := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true, TLSClientConfig: &tls.Config{RootCAs: pool}}}
	var probes, probesBad atomic.Int64
	wg.Add(1)
	go func() {
		defer wg.Done()
		for loadCtx.Err() == nil {
			probes.Add(1)
			resp, err := fresh.Post(lb.URL()+webhook.PathMutatePod, "application/json", strings.NewReader(validReview))
			if err != nil {
				probesBad.Add(1)
				failures.Store("probe: "+err.Error(), true)
			} else {
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					probesBad.Add(1)
					failures.Store("probe: "+resp.Status, true)
				}
			}
			time.Sleep(10 * time.Millisecond)
		}
	}()
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for loadCtx.Err() == nil {
				p := pod(fmt.Sprintf("rollout-%d", seq.Add(1)), true)
				p.Namespace = rolloutNS
				got, err := cs.CoreV1().Pods(rolloutNS).Create(ctx, p, metav1.CreateOptions{})
				switch {
				case err != nil:
					bad.Add(1)
					failures.Store(err.Error(), true)
				case len(got.Spec.Volumes) == 0:
					bad.Add(1)
					failures.Store("created without the mTLS mounts: "+got.Name, true)
				default:
					ok.Add(1)
				}
				time.Sleep(5 * time.Millisecond)
			}
		}()
	}

	// maxSurge 1: the new replica is ready and published, then the old one is terminated; its
	// endpoint goes 1 s later, while the kubelet has already sent SIGTERM.
	time.Sleep(time.Second)
	for i, w := range old {
		lb.add(strings.TrimPrefix(newer[i].URL, "https://"))
		time.Sleep(500 * time.Millisecond)
		ep := strings.TrimPrefix(w.URL, "https://")
		before := lb.connections(ep)
		w.Terminate()
		time.Sleep(time.Second)
		lb.remove(ep)
		r.servedAfterTerm += lb.connections(ep) - before
		if err := w.Wait(); err != nil {
			t.Errorf("old replica %d: %v", i, err)
		}
	}
	stopped = true
	time.Sleep(time.Second)
	stopLoad()
	wg.Wait()
	logged := 0
	failures.Range(func(k, _ any) bool {
		t.Logf("failure: %s", k)
		logged++
		return logged < 5
	})
	r.created, r.failed, r.probes, r.probesFailed = ok.Load(), bad.Load(), probes.Load(), probesBad.Load()
	t.Logf("shutdown delay %s: %d labelled creates, %d failed; %d fresh-connection reviews, %d failed; %d connections reached terminating replicas; %d connections refused",
		delay, r.created, r.failed, r.probes, r.probesFailed, r.servedAfterTerm, lb.refused.Load())
	return r
}
