// Command bench measures the webhook against a real kube-apiserver and etcd (envtest), as issue 7
// asks: pod-create latency through the API server with no webhook, a do-nothing webhook and ours
// (apiserver); HTTPS throughput of /mutate-v1-pod against a do-nothing server (https); RSS of the
// real `serve` binary with many unlabelled and labelled Secrets in the API server (memory).
//
//	go run ./test/bench [all|apiserver|https|memory] [flags]
//
// Every figure ends as a line `BENCH <name> <value> <unit>`. The webhook runs as the real binary
// (built here from ./cmd/aigw-mtls-webhook into a temporary folder), the do-nothing webhook as this
// program re-executed (`bench nothing`), each in its own process with the same TLS setup.
package main

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	crlog "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/aigw-mtls/aigw-mtls-webhook/test/harness"
)

type config struct {
	// apiserver arms
	n, c, rounds, warmup int
	chunk                int
	minimalArm, patchArm bool
	policyArm            bool
	profileDir           string
	// https load
	httpsConns    int
	httpsDuration time.Duration
	httpsRounds   int
	pin           bool
	// memory
	secrets, labelled, memRuns int
	settle                     time.Duration
	// memlimits
	limitVersions, limitConfigMaps int
	limitFloor                     bool
	floorImpl                      string
	// scale
	scaleSizes    []int
	scaleReviews  int
	scaleMemLimit string
	// common
	binary  string
	binaryB string
	keep    bool
	hold    bool
}

type bench struct {
	cfg        config
	env        *harness.Env
	rest       *rest.Config
	kube       kubernetes.Interface
	dir        string // temporary folder: kubeconfig, cert dirs, logs
	kubeconfig string
	binary     string
	self       string
	procs      []*proc
	serveEnv   []string // more environment for the serve processes
	// envtest's processes, for their CPU time
	apiserverPID, etcdPID int
	podPolicies           []*unstructured.Unstructured // the policy arm's, deleted after the arms
}

func main() {
	crlog.SetLogger(zap.New(zap.WriteTo(io.Discard)))
	cmd, args := "all", os.Args[1:]
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		cmd, args = args[0], args[1:]
	}
	if cmd == "nothing" {
		os.Exit(runNothing(args))
	}
	var c config
	fs := flag.NewFlagSet(cmd, flag.ExitOnError)
	fs.IntVar(&c.n, "n", 2000, "apiserver: pod creates per arm and round")
	fs.IntVar(&c.c, "c", 20, "apiserver: concurrent creates")
	fs.IntVar(&c.rounds, "rounds", 5, "apiserver: rounds; the arms run in a rotated order each round")
	fs.IntVar(&c.warmup, "warmup", 100, "apiserver: unmeasured creates per arm before each measured batch")
	fs.IntVar(&c.chunk, "chunk", 500, "apiserver: the arms take turns every this many creates within a round")
	fs.BoolVar(&c.minimalArm, "minimal-arm", true, "apiserver: also measure a minimal net/http do-nothing webhook (no controller-runtime)")
	fs.BoolVar(&c.policyArm, "policy-arm", true, "apiserver: also measure the chart's pod policies (podInjection.engine=policy): the API server wires pods itself, no webhook")
	fs.BoolVar(&c.patchArm, "patch-arm", true, "apiserver: also measure a do-nothing webhook that answers our patch, computed once (the floor of a mutating webhook)")
	fs.StringVar(&c.profileDir, "profile-dir", "", "apiserver: save kube-apiserver CPU profiles of each arm's first round here")
	fs.IntVar(&c.httpsConns, "https-conns", 16, "https: keep-alive connections (one goroutine each)")
	fs.DurationVar(&c.httpsDuration, "https-duration", 5*time.Second, "https: measured time per arm and round")
	fs.IntVar(&c.httpsRounds, "https-rounds", 5, "https: rounds, arms interleaved")
	fs.BoolVar(&c.pin, "pin", true, "https: pin the server under test to CPU 1 and the load generator to CPU 0 (taskset)")
	fs.IntVar(&c.secrets, "secrets", 10000, "memory: unlabelled 2 KiB Secrets")
	fs.IntVar(&c.labelled, "labelled", 1000, "memory: labelled 2 KiB Secrets")
	fs.IntVar(&c.memRuns, "mem-runs", 3, "memory: serve processes started per state (median RSS reported)")
	fs.DurationVar(&c.settle, "settle", 10*time.Second, "memory: wait after readiness before reading RSS")
	fs.IntVar(&c.limitVersions, "limit-versions", 200, "memlimits: versions of the 1 MiB CA Secret, each followed by a Policy naming it")
	fs.IntVar(&c.limitConfigMaps, "limit-configmaps", 64, "memlimits: ~1 MiB ConfigMaps updated at once")
	fs.BoolVar(&c.limitFloor, "limit-floor", false, "memlimits: run (b) against the do-nothing webhook (controller-runtime, no limits) instead of serve: the floor any webhook pays for the burst on this machine")
	fs.StringVar(&c.floorImpl, "floor-impl", "cr-patch", "memlimits -limit-floor: the do-nothing build, cr (no patch) or cr-patch (our ConfigMap patch, computed once)")
	sizes := fs.String("tenants", "50,1000", "scale: cluster sizes in tenants, ascending (each tenant: 7 labelled and 4 unlabelled objects)")
	fs.StringVar(&c.scaleMemLimit, "gomemlimit", "214748364", "scale, secretns: GOMEMLIMIT of serve, as the chart sets it: goMemLimitPercent (80) of resources.limits.memory (256Mi) (empty: none)")
	fs.IntVar(&c.scaleReviews, "reviews", 300, "scale: VirtualServer admission reviews per size (p50 reported)")
	fs.StringVar(&c.binary, "binary", "", "the aigw-mtls-webhook binary (default: built from ./cmd/aigw-mtls-webhook into a temporary folder)")
	fs.StringVar(&c.binaryB, "binary-b", "", "apiserver: also measure this aigw-mtls-webhook binary, as arm ours-b interleaved with ours (two builds compared in one run)")
	fs.BoolVar(&c.keep, "keep", false, "keep the temporary folder (logs of the servers)")
	fs.BoolVar(&c.hold, "hold", false, "scale, secretns: keep the filled API server running until interrupted, its kubeconfig printed (to profile serve or check against it)")
	_ = fs.Parse(args)
	for _, s := range strings.Split(*sizes, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n <= 0 || (len(c.scaleSizes) > 0 && n <= c.scaleSizes[len(c.scaleSizes)-1]) {
			fmt.Fprintf(os.Stderr, "bench: -tenants %q: want ascending positive numbers\n", *sizes)
			os.Exit(2)
		}
		c.scaleSizes = append(c.scaleSizes, n)
	}

	b := &bench{cfg: c}
	err := b.run(cmd)
	b.close()
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func (b *bench) run(cmd string) error {
	switch cmd {
	case "all", "apiserver", "https", "memory", "memlimits", "scale", "secretns":
	default:
		return fmt.Errorf("unknown command %q: all, apiserver, https, memory, memlimits, scale or secretns", cmd)
	}
	var err error
	if b.dir, err = os.MkdirTemp("", "aigw-bench-"); err != nil {
		return err
	}
	if b.self, err = os.Executable(); err != nil {
		return err
	}
	b.binary = b.cfg.binary
	if b.binary == "" {
		b.binary = filepath.Join(b.dir, "aigw-mtls-webhook")
		start := time.Now()
		build := exec.Command("go", "build", "-trimpath", "-o", b.binary, "./cmd/aigw-mtls-webhook")
		build.Dir, build.Stdout, build.Stderr = harness.RepoRoot(), os.Stderr, os.Stderr
		build.Env = append(os.Environ(), "CGO_ENABLED=0")
		if err := build.Run(); err != nil {
			return fmt.Errorf("building the webhook: %w", err)
		}
		logf("built %s in %s", b.binary, time.Since(start).Round(time.Millisecond))
	}
	start := time.Now()
	if b.env, err = harness.Start(); err != nil {
		return err
	}
	logf("envtest up in %s", time.Since(start).Round(time.Millisecond))
	b.rest = rest.CopyConfig(b.env.Config)
	b.rest.QPS, b.rest.Burst = -1, 0 // no client-side throttling
	b.kube = kubernetes.NewForConfigOrDie(b.rest)
	if b.kubeconfig, err = writeKubeconfig(b.env.Config, filepath.Join(b.dir, "kubeconfig")); err != nil {
		return err
	}
	machine()
	if cmd == "all" || cmd == "memory" {
		if err := b.memory(); err != nil {
			return fmt.Errorf("memory: %w", err)
		}
	}
	if cmd == "all" || cmd == "memlimits" {
		if err := b.memLimits(); err != nil {
			return fmt.Errorf("memlimits: %w", err)
		}
	}
	if cmd == "secretns" { // not part of all: it fills the API server with tenants
		if err := b.secretNamespaces(); err != nil {
			return fmt.Errorf("secretns: %w", err)
		}
	}
	if cmd == "scale" { // not part of all: it fills the API server with tenants
		if err := b.scale(); err != nil {
			return fmt.Errorf("scale: %w", err)
		}
	}
	if b.cfg.hold && (cmd == "scale" || cmd == "secretns") {
		logf("holding the API server: KUBECONFIG=%s; interrupt to stop", b.kubeconfig)
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
		<-sig
	}
	if cmd == "all" || cmd == "apiserver" {
		if err := b.apiserverArms(); err != nil {
			return fmt.Errorf("apiserver: %w", err)
		}
	}
	if cmd == "all" || cmd == "https" {
		if err := b.httpsLoad(); err != nil {
			return fmt.Errorf("https: %w", err)
		}
	}
	return nil
}

func (b *bench) close() {
	for _, p := range b.procs {
		p.stop()
	}
	if b.env != nil {
		_ = b.env.Stop()
	}
	if b.dir != "" {
		if b.cfg.keep {
			logf("kept %s", b.dir)
		} else {
			_ = os.RemoveAll(b.dir)
		}
	}
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, time.Now().Format("15:04:05 ")+format+"\n", args...)
}

func report(name string, value float64, unit string) {
	fmt.Printf("BENCH %s %s %s\n", name, strconv.FormatFloat(value, 'f', -1, 64), unit)
}

// machine prints what the figures were measured on.
func machine() {
	model := "unknown"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(l, "model name") {
				model = strings.TrimSpace(l[strings.Index(l, ":")+1:])
				break
			}
		}
	}
	load, _ := os.ReadFile("/proc/loadavg")
	logf("machine: %d CPUs (%s), %s, load %s", runtime.NumCPU(), model, runtime.Version(), strings.TrimSpace(string(load)))
}

// writeKubeconfig writes cfg (envtest's admin client certificate) as a kubeconfig file.
func writeKubeconfig(cfg *rest.Config, path string) (string, error) {
	kc := clientcmdapi.NewConfig()
	kc.Clusters["envtest"] = &clientcmdapi.Cluster{Server: cfg.Host, CertificateAuthorityData: cfg.CAData}
	kc.AuthInfos["envtest"] = &clientcmdapi.AuthInfo{ClientCertificateData: cfg.CertData, ClientKeyData: cfg.KeyData, Token: cfg.BearerToken}
	kc.Contexts["envtest"] = &clientcmdapi.Context{Cluster: "envtest", AuthInfo: "envtest"}
	kc.CurrentContext = "envtest"
	return path, clientcmd.WriteToFile(*kc, path)
}

// proc is a webhook server in its own process.
type proc struct {
	name     string
	cmd      *exec.Cmd
	url      string // https://127.0.0.1:port
	health   string // http://127.0.0.1:port
	metrics  string // http://127.0.0.1:port/metrics (serve only)
	caBundle []byte
	done     chan error
}

func freePort() int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// startServe runs the real binary: `aigw-mtls-webhook serve` against envtest.
func (b *bench) startServe(name string, cpus string, extra ...string) (*proc, error) {
	metrics := "127.0.0.1:" + strconv.Itoa(freePort())
	p, err := b.start(name, cpus, func(certDir string, port, health int) []string {
		return append([]string{b.binary, "serve", "--kubeconfig", b.kubeconfig, "--cert-dir", certDir,
			"--webhook-port", strconv.Itoa(port),
			"--metrics-bind-address", metrics,
			"--health-probe-bind-address", "127.0.0.1:" + strconv.Itoa(health)}, extra...)
	})
	if p != nil {
		p.metrics = "http://" + metrics + "/metrics"
	}
	return p, err
}

// startNothing runs the do-nothing webhook (impl "cr": controller-runtime's webhook server with the
// product's TLS settings; "minimal": net/http with the same TLS settings).
func (b *bench) startNothing(name, impl, cpus string) (*proc, error) {
	return b.start(name, cpus, func(certDir string, port, health int) []string {
		return []string{b.self, "nothing", "-impl", impl, "-cert-dir", certDir, "-port", strconv.Itoa(port), "-health", "127.0.0.1:" + strconv.Itoa(health)}
	})
}

func (b *bench) start(name, cpus string, argv func(certDir string, port, health int) []string) (*proc, error) {
	certDir := filepath.Join(b.dir, fmt.Sprintf("%s-%d-certs", name, time.Now().UnixNano()))
	ca, err := harness.WriteServingCert(certDir)
	if err != nil {
		return nil, err
	}
	port, health := freePort(), freePort()
	args := argv(certDir, port, health)
	if cpus != "" {
		args = append([]string{"taskset", "-c", cpus}, args...)
	}
	logFile, err := os.Create(filepath.Join(b.dir, fmt.Sprintf("%s-%d.log", name, time.Now().UnixNano())))
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.Env = append(os.Environ(), b.serveEnv...)
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &proc{name: name, cmd: cmd, url: "https://127.0.0.1:" + strconv.Itoa(port), health: "http://127.0.0.1:" + strconv.Itoa(health),
		caBundle: ca, done: make(chan error, 1)}
	go func() { p.done <- cmd.Wait(); logFile.Close() }()
	b.procs = append(b.procs, p)
	if err := p.waitReady(60 * time.Second); err != nil {
		p.stop()
		return nil, fmt.Errorf("%s (log %s): %w", name, logFile.Name(), err)
	}
	return p, nil
}

func (p *proc) pid() int { return p.cmd.Process.Pid }

func (p *proc) waitReady(timeout time.Duration) error {
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(p.caBundle)
	deadline := time.Now().Add(timeout)
	var last error
	for time.Now().Before(deadline) {
		select {
		case err := <-p.done:
			p.done <- err
			return fmt.Errorf("exited: %v", err)
		default:
		}
		resp, err := http.Get(p.health + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				conn, err := tls.Dial("tcp", strings.TrimPrefix(p.url, "https://"), &tls.Config{RootCAs: pool})
				if err == nil {
					conn.Close()
					return nil
				}
				last = err
			} else {
				last = errors.New(resp.Status)
			}
		} else {
			last = err
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("not ready after %s: %v", timeout, last)
}

func (p *proc) stop() {
	if p.cmd.ProcessState != nil {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-p.done:
		p.done <- err
	case <-time.After(15 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// rssKiB reads VmRSS of pid from /proc.
func rssKiB(pid int) (int, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "VmRSS:") {
			f := strings.Fields(l)
			return strconv.Atoi(f[1])
		}
	}
	return 0, errors.New("no VmRSS")
}

// pinSelf restricts every thread of this process to cpus (taskset -a -p).
func pinSelf(cpus string) error {
	out, err := exec.Command("taskset", "-a", "-p", "-c", cpus, strconv.Itoa(os.Getpid())).CombinedOutput()
	if err != nil {
		return fmt.Errorf("taskset: %v: %s", err, out)
	}
	return nil
}

func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(float64(len(sorted))*p+0.5) - 1
	if i < 0 {
		i = 0
	}
	if i >= len(sorted) {
		i = len(sorted) - 1
	}
	return sorted[i]
}

func sortDurations(d []time.Duration) []time.Duration {
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s
}

func median(v []float64) float64 {
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	if len(s) == 0 {
		return 0
	}
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func round3(f float64) float64 {
	v, _ := strconv.ParseFloat(strconv.FormatFloat(f, 'f', 3, 64), 64)
	return v
}

// findProcess returns the pid of a process of ours whose command is name and whose command line
// holds arg (0 when none). Only children of this process count: the machine may run other
// control planes.
func findProcess(name, arg string) int {
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue
		}
		f := strings.Fields(string(stat[strings.LastIndex(string(stat), ")")+2:]))
		if len(f) < 2 || f[1] != strconv.Itoa(os.Getpid()) {
			continue
		}
		cmd, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		args := strings.Split(string(cmd), "\x00")
		if filepath.Base(args[0]) == name && (arg == "" || strings.Contains(string(cmd), arg)) {
			return pid
		}
	}
	return 0
}
