package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"

	"github.com/aigw-mtls/aigw-mtls-webhook/test/harness"
)

// arm is one way pods reach etcd: no webhook, a do-nothing webhook, or ours.
type arm struct {
	name    string
	p       *proc // nil: no webhook
	mutates bool  // pods come out with our mounts
	policy  bool  // the chart's pod policies (podInjection.engine=policy) instead of a webhook
	counts  bool  // a do-nothing server: counts the reviews it answers
	lat     []time.Duration
	// per round
	p50, p99, rate []float64
	errs           int
	// CPU used during this arm's creates (all rounds): its webhook server's, kube-apiserver's, etcd's
	webhookCPU, apiserverCPU, etcdCPU time.Duration
	measured                          int
}

// apiserverArms creates c.n pods at concurrency c.c per arm and round, in namespaces of their own
// that only that arm's webhook configuration selects, and compares the create latencies.
func (b *bench) apiserverArms() error {
	c := b.cfg
	ctx := context.Background()
	ours, err := b.startServe("ours", "")
	if err != nil {
		return err
	}
	nothing, err := b.startNothing("nothing", "cr", "")
	if err != nil {
		return err
	}
	arms := []*arm{{name: "none"}, {name: "nothing", p: nothing, counts: true}}
	if c.minimalArm {
		minimal, err := b.startNothing("nothing-minimal", "minimal", "")
		if err != nil {
			return err
		}
		arms = append(arms, &arm{name: "nothing-minimal", p: minimal, counts: true})
	}
	if c.patchArm {
		same, err := b.startNothing("same-patch", "cr-patch", "")
		if err != nil {
			return err
		}
		arms = append(arms, &arm{name: "same-patch", p: same, counts: true, mutates: true})
	}
	arms = append(arms, &arm{name: "ours", p: ours, mutates: true})
	if c.policyArm {
		arms = append(arms, &arm{name: "policy", policy: true, mutates: true})
	}
	if c.binaryB != "" {
		first := b.binary
		b.binary = c.binaryB
		oursB, err := b.startServe("ours-b", "")
		b.binary = first
		if err != nil {
			return err
		}
		arms = append(arms, &arm{name: "ours-b", p: oursB, mutates: true})
	}
	for _, a := range arms {
		if a.policy {
			if err := b.createPodPolicies(ctx, a.name); err != nil {
				return err
			}
			continue
		}
		if a.p == nil {
			continue
		}
		// The chart's registration (harness.ChartWebhooks: objectSelector aigw=mtls, fail closed,
		// 5 s timeout, reinvocation IfNeeded), narrowed to this arm's namespaces.
		cfg, _, err := harness.ChartWebhooks("bench-"+a.name, a.p.url, a.p.caBundle)
		if err != nil {
			return err
		}
		for i := range cfg.Webhooks {
			cfg.Webhooks[i].NamespaceSelector = &metav1.LabelSelector{MatchLabels: map[string]string{"bench-arm": a.name}}
		}
		if err := b.env.Client.Create(ctx, cfg); err != nil {
			return err
		}
	}
	if u, err := url.Parse(b.rest.Host); err == nil {
		b.apiserverPID = findProcess("kube-apiserver", "--secure-port="+u.Port())
	}
	b.etcdPID = findProcess("etcd", "")
	logf("kube-apiserver pid %d, etcd pid %d (%s)", b.apiserverPID, b.etcdPID, b.rest.Host)
	logf("apiserver arms: n=%d c=%d rounds=%d warmup=%d chunk=%d", c.n, c.c, c.rounds, c.warmup, c.chunk)
	start := time.Now()
	chunk := c.chunk
	if chunk <= 0 || chunk > c.n {
		chunk = c.n
	}
	for r := 0; r < c.rounds; r++ {
		// Each arm gets a fresh namespace per round, checked to be in (only) its webhook's path
		// and warmed up; then the arms take turns in chunks, so that whatever else the machine
		// does during the round falls on every arm alike.
		nss := map[*arm]string{}
		before := map[*arm]int64{}
		lat := map[*arm][]time.Duration{}
		wall := map[*arm]time.Duration{}
		failed := map[*arm]int{}
		for i := range arms {
			a := arms[(i+r)%len(arms)]
			ns := fmt.Sprintf("bench-%s-r%d", a.name, r)
			nss[a] = ns
			if err := b.env.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns, Labels: map[string]string{"bench-arm": a.name}}}); err != nil {
				return err
			}
			if err := b.waitInPath(ctx, a, ns); err != nil {
				return fmt.Errorf("arm %s: %w", a.name, err)
			}
			before[a] = a.count()
			if _, errs, err := createPods(ctx, b.kube, ns, "warm", c.warmup, c.c); errs > 0 {
				return fmt.Errorf("arm %s warm-up: %d errors, first: %v", a.name, errs, err)
			}
		}
		for k := 0; k*chunk < c.n; k++ {
			size := min(chunk, c.n-k*chunk)
			for i := range arms {
				a := arms[(i+r+k)%len(arms)]
				if r == 0 && k == 0 && c.profileDir != "" {
					go b.profileAPIServer(filepath.Join(c.profileDir, "apiserver-"+a.name+".pprof"))
				}
				cpu0 := b.cpuOf(a)
				t0 := time.Now()
				l, errs, err := createPods(ctx, b.kube, nss[a], fmt.Sprintf("pod-%d", k), size, c.c)
				wall[a] += time.Since(t0)
				cpu1 := b.cpuOf(a)
				a.webhookCPU += cpu1[0] - cpu0[0]
				a.apiserverCPU += cpu1[1] - cpu0[1]
				a.etcdCPU += cpu1[2] - cpu0[2]
				a.measured += size
				lat[a] = append(lat[a], l...)
				a.errs += errs
				failed[a] += errs
				if errs > 0 {
					logf("arm %s round %d: %d errors, first: %v", a.name, r, errs, err)
				}
			}
		}
		for _, a := range arms {
			if err := b.checkArm(ctx, a, nss[a], before[a], c.warmup+c.n-failed[a]); err != nil {
				return fmt.Errorf("arm %s: %w", a.name, err)
			}
			s := sortDurations(lat[a])
			a.lat = append(a.lat, lat[a]...)
			a.p50 = append(a.p50, ms(percentile(s, 0.50)))
			a.p99 = append(a.p99, ms(percentile(s, 0.99)))
			a.rate = append(a.rate, float64(c.n)/wall[a].Seconds())
			logf("round %d %-16s p50 %7.2f ms  p99 %7.2f ms  %6.0f creates/s", r, a.name, a.p50[r], a.p99[r], a.rate[r])
		}
	}
	logf("apiserver arms took %s", time.Since(start).Round(time.Second))
	byName := map[string]*arm{}
	for _, a := range arms {
		byName[a.name] = a
		s := sortDurations(a.lat)
		report("apiserver_"+a.name+"_p50", round3(ms(percentile(s, 0.50))), "ms")
		report("apiserver_"+a.name+"_p99", round3(ms(percentile(s, 0.99))), "ms")
		report("apiserver_"+a.name+"_creates_per_s", round3(median(a.rate)), "creates/s")
		report("apiserver_"+a.name+"_errors", float64(a.errs), "errors")
		if a.measured > 0 {
			per := func(d time.Duration) float64 { return round3(float64(d.Microseconds()) / float64(a.measured)) }
			report("apiserver_"+a.name+"_cpu_per_create_kube_apiserver", per(a.apiserverCPU), "us")
			report("apiserver_"+a.name+"_cpu_per_create_etcd", per(a.etcdCPU), "us")
			report("apiserver_"+a.name+"_cpu_per_create_webhook", per(a.webhookCPU), "us")
		}
	}
	ratio := func(num, den string) {
		n, d := sortDurations(byName[num].lat), sortDurations(byName[den].lat)
		report("apiserver_p50_ratio_"+num+"_vs_"+den, round3(float64(percentile(n, 0.5))/float64(percentile(d, 0.5))), "x")
		report("apiserver_p99_ratio_"+num+"_vs_"+den, round3(float64(percentile(n, 0.99))/float64(percentile(d, 0.99))), "x")
		// The same ratios per round (arms of one round ran back to back), median over rounds.
		var r50, r99 []float64
		for r := range byName[num].p50 {
			r50 = append(r50, byName[num].p50[r]/byName[den].p50[r])
			r99 = append(r99, byName[num].p99[r]/byName[den].p99[r])
		}
		report("apiserver_p50_ratio_"+num+"_vs_"+den+"_median_of_rounds", round3(median(r50)), "x")
		report("apiserver_p99_ratio_"+num+"_vs_"+den+"_median_of_rounds", round3(median(r99)), "x")
	}
	ratio("nothing", "none")
	if c.minimalArm {
		ratio("nothing-minimal", "none")
		ratio("ours", "nothing-minimal")
	}
	if c.patchArm {
		ratio("same-patch", "nothing")
		ratio("ours", "same-patch")
	}
	ratio("ours", "nothing")
	if c.policyArm {
		ratio("policy", "none")
		ratio("policy", "ours")
	}
	if c.binaryB != "" {
		ratio("ours-b", "nothing")
		ratio("ours-b", "ours")
	}
	// The webhooks must stay out of the later phases.
	for _, a := range arms {
		if a.p != nil {
			_ = b.env.Client.Delete(ctx, &admissionregistrationv1.MutatingWebhookConfiguration{ObjectMeta: metav1.ObjectMeta{Name: "bench-" + a.name}})
		}
		if a.policy {
			for _, o := range b.podPolicies {
				_ = b.env.Client.Delete(ctx, o)
			}
		}
	}
	for _, a := range arms {
		if a.p != nil {
			a.p.stop()
		}
	}
	return nil
}

// createPodPolicies creates the chart's pod policies and bindings (podInjection.engine=policy,
// the chart's other defaults), narrowed to the namespaces of arm.
func (b *bench) createPodPolicies(ctx context.Context, arm string) error {
	objs, err := harness.RenderChart("bench-"+arm, "aigw-mtls-system", "--set", "podInjection.engine=policy",
		"--api-versions", "admissionregistration.k8s.io/v1/MutatingAdmissionPolicy")
	if err != nil {
		return err
	}
	for _, o := range objs {
		if !strings.Contains(o.GetKind(), "AdmissionPolicy") || o.GetLabels()["app.kubernetes.io/component"] != "pod-policy" {
			continue
		}
		if _, isPolicy, _ := unstructured.NestedMap(o.Object, "spec", "matchConstraints"); isPolicy {
			sel := map[string]any{"matchLabels": map[string]any{"bench-arm": arm}}
			if err := unstructured.SetNestedMap(o.Object, sel, "spec", "matchConstraints", "namespaceSelector"); err != nil {
				return err
			}
		}
		if err := b.env.Client.Create(ctx, o); err != nil {
			return fmt.Errorf("%s %s: %w", o.GetKind(), o.GetName(), err)
		}
		b.podPolicies = append(b.podPolicies, o)
	}
	if len(b.podPolicies) == 0 {
		return fmt.Errorf("the chart rendered no pod policy with podInjection.engine=policy")
	}
	return nil
}

// profileAPIServer saves a 2 s CPU profile of kube-apiserver (its /debug/pprof).
func (b *bench) profileAPIServer(path string) {
	out, err := b.kube.CoreV1().RESTClient().Get().AbsPath("/debug/pprof/profile").Param("seconds", "2").DoRaw(context.Background())
	if err != nil {
		logf("profiling kube-apiserver: %v", err)
		return
	}
	if err := os.WriteFile(path, out, 0o644); err != nil {
		logf("profiling kube-apiserver: %v", err)
	}
}

// cpuOf returns the CPU time used so far by a's webhook server, kube-apiserver and etcd.
func (b *bench) cpuOf(a *arm) [3]time.Duration {
	var out [3]time.Duration
	if a.p != nil {
		out[0] = cpuTime(a.p.pid())
	}
	out[1], out[2] = cpuTime(b.apiserverPID), cpuTime(b.etcdPID)
	return out
}

// count is how many reviews a do-nothing server answered (-1 for the others).
func (a *arm) count() int64 {
	if !a.counts {
		return -1
	}
	resp, err := http.Get(a.p.health + "/count")
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	n, _ := strconv.ParseInt(strings.TrimSpace(string(body)), 10, 64)
	return n
}

// waitInPath waits until the API server sends labelled pods of ns through a's webhook: its
// webhook-configuration and namespace informers lag the writes by a moment.
func (b *bench) waitInPath(ctx context.Context, a *arm, ns string) error {
	if a.p == nil && !a.policy {
		return nil
	}
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		before := a.count()
		p := podFor(ns, "registration-probe")
		out, err := b.kube.CoreV1().Pods(ns).Create(ctx, p, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		if err == nil {
			if a.counts && a.count() > before {
				return nil
			}
			if !a.counts && len(out.Spec.Volumes) > len(p.Spec.Volumes) {
				return nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("webhook not in the admission path of %s after 30s", ns)
}

// checkArm checks the arm did what it claims: our pods carry the mounts, the do-nothing webhook
// saw every create, and pods without a webhook are untouched.
func (b *bench) checkArm(ctx context.Context, a *arm, ns string, countBefore int64, created int) error {
	if a.counts {
		if got := a.count() - countBefore; got < int64(created) {
			return fmt.Errorf("do-nothing webhook answered %d reviews for %d creates", got, created)
		}
	}
	list, err := b.kube.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return err
	}
	mounted := 0
	for _, p := range list.Items {
		for _, v := range p.Spec.Volumes {
			if v.Name == "internal-ca-volume" {
				mounted++
			}
		}
	}
	want := 0
	if a.mutates {
		want = created
	}
	if len(list.Items) != created || mounted != want {
		return fmt.Errorf("%d pods in %s, %d with the CA volume: want %d and %d", len(list.Items), ns, mounted, created, want)
	}
	return nil
}

// createPods creates n labelled pods in ns with c workers and returns each create's latency.
func createPods(ctx context.Context, kube kubernetes.Interface, ns, prefix string, n, c int) ([]time.Duration, int, error) {
	lat := make([]time.Duration, n)
	jobs := make(chan int)
	var mu sync.Mutex
	errs := 0
	var first error
	var wg sync.WaitGroup
	for w := 0; w < c; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				p := podFor(ns, fmt.Sprintf("%s-%d", prefix, i))
				t0 := time.Now()
				_, err := kube.CoreV1().Pods(ns).Create(ctx, p, metav1.CreateOptions{})
				lat[i] = time.Since(t0)
				if err != nil {
					mu.Lock()
					errs++
					if first == nil {
						first = err
					}
					mu.Unlock()
				}
			}
		}()
	}
	for i := 0; i < n; i++ {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	return lat, errs, first
}

// podFor is a labelled pod shaped like a Deployment's aigw pod: two containers with env,
// resources, probes and a config volume.
func podFor(ns, name string) *corev1.Pod {
	res := func(cpu, mem string) corev1.ResourceList {
		return corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(cpu), corev1.ResourceMemory: resource.MustParse(mem)}
	}
	probe := func(path string) *corev1.Probe {
		return &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: path, Port: intstr.FromInt32(9090)}}, PeriodSeconds: 10}
	}
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns,
			Labels:      map[string]string{"aigw": "mtls", "app.kubernetes.io/name": "aigw", "app.kubernetes.io/instance": "aigw", "pod-template-hash": "7d9c5b8f4"},
			Annotations: map[string]string{"prometheus.io/scrape": "true", "prometheus.io/port": "9090"}},
		Spec: corev1.PodSpec{
			Volumes: []corev1.Volume{{Name: "config", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "aigw-config"}}}}},
			Containers: []corev1.Container{
				{Name: "aigw", Image: "private-registry.f5.com/aigw/aigw:v1.0.2", Args: []string{"--config", "/etc/aigw/aigw.yaml"},
					Ports: []corev1.ContainerPort{{Name: "https", ContainerPort: 4141}, {Name: "metrics", ContainerPort: 9090}},
					Env: []corev1.EnvVar{{Name: "AIGW_LOG_LEVEL", Value: "info"},
						{Name: "AIGW_POD_NAME", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}},
						{Name: "OPENAI_API_KEY", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "aigw-llm-keys"}, Key: "openai"}}}},
					Resources:     corev1.ResourceRequirements{Limits: res("2", "2Gi"), Requests: res("500m", "512Mi")},
					VolumeMounts:  []corev1.VolumeMount{{Name: "config", MountPath: "/etc/aigw", ReadOnly: true}},
					LivenessProbe: probe("/healthz"), ReadinessProbe: probe("/readyz")},
				{Name: "otel-collector", Image: "otel/opentelemetry-collector-contrib:0.120.0", Args: []string{"--config=/conf/otel.yaml"},
					Resources: corev1.ResourceRequirements{Limits: res("200m", "256Mi"), Requests: res("50m", "64Mi")}},
			},
		},
	}
}
