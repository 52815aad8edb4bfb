package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/aigw-mtls/aigw-mtls-webhook/internal/checker"
	"github.com/aigw-mtls/aigw-mtls-webhook/internal/probe"
)

// defaultCheckMemoryLimit keeps check over a cluster of 10,000 tenants at about 350 MiB
// (BENCHMARKS.md "Many tenants"): it holds every tenant's Secrets, Policies, Certificates and
// labelled objects at once, about 16 KiB of live heap per tenant, and Go's collector would let the
// heap grow to twice that and more.
const defaultCheckMemoryLimit = "320Mi"

// checkGCPercent is check's GOGC under --memory-limit.
const checkGCPercent = 400

// minCheckMemoryLimit refuses limits no check fits in (the heap would be collected without end):
// "300m" is 300 thousandths of a byte in Kubernetes' notation, not 300 MB.
const minCheckMemoryLimit = 32 << 20

// parseMemoryLimit reads --memory-limit: a size in Kubernetes' notation (384Mi, 1G) of at least
// 32Mi, or 0 for none.
func parseMemoryLimit(v string) (int64, error) {
	q, err := resource.ParseQuantity(v)
	if err != nil {
		return 0, errors.New("expected a size such as 384Mi, or 0 for none")
	}
	if q.IsZero() {
		return 0, nil
	}
	if q.Value() < minCheckMemoryLimit {
		return 0, errors.New("expected at least 32Mi (Kubernetes' m means thousandths: write Mi or M), or 0 for none")
	}
	return q.Value(), nil
}

// check reads a live cluster and reports, one line per object, whether the NIC → aigw mTLS wiring
// is complete (package checker). Exit 0: nothing broken (warnings may be printed); 1: something
// broken; 2: bad flags or a cluster that cannot be read.
func check(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	o := checker.DefaultOptions()
	var kubeconfig, kubecontext, output string
	timeout := time.Minute
	fs.StringVar(&kubeconfig, "kubeconfig", "", "kubeconfig file (default: $KUBECONFIG, ~/.kube/config, then the in-cluster config)")
	fs.StringVar(&kubecontext, "context", "", "kubeconfig context (default: the current context)")
	fs.StringVar(&o.Namespace, "n", "", "namespace to check (default: every namespace holding objects with the selector label)")
	fs.StringVar(&o.Namespace, "namespace", "", "same as -n")
	fs.StringVar(&output, "o", "text", "output: text or json")
	fs.StringVar(&output, "output", "text", "same as -o")
	fs.StringVar(&o.CASyncSource, "ca-sync-source-secret", o.CASyncSource, "cert-manager's CA Secret that the CA Secret (--ca-secret) must hold; empty skips that check")
	fs.StringVar(&o.Service, "service", o.Service, "the aigw Service: every pod behind it must carry the selector label")
	fs.StringVar(&o.WebhookName, "webhook-name", "", "name of the Mutating and Validating webhook configurations (default: those with a webhook named *"+checker.WebhookSuffix+")")
	fs.StringVar(&o.WebhookNamespace, "webhook-namespace", "", "namespace of the webhook's serving Secret when a configuration has no cert-manager.io/inject-ca-from annotation (default: its Service's)")
	fs.DurationVar(&o.DialTimeout, "dial-timeout", o.DialTimeout, "TLS handshake timeout for a webhook reached by URL")
	fs.IntVar(&o.MaxIngressEvents, "max-ingress-events", o.MaxIngressEvents, "read at most this many of NGINX Ingress Controller's Events about Ingresses (its verdicts); past it, Ingresses whose Event was not read show no verdict (0: the default)")
	fs.DurationVar(&timeout, "timeout", timeout, "give up reading the cluster after this long")
	memoryLimit := fs.String("memory-limit", defaultCheckMemoryLimit, "soft limit of check's memory (Go's GOMEMLIMIT, which wins when set): past it the heap is collected more often, trading time for memory; 0: none")
	fs.BoolVar(&o.Probe.Enabled, "probe", false, "also make the TLS handshake nginx makes with each aigw endpoint the labelled Policies serve (from this machine, which must reach the endpoints' addresses: run it inside the cluster or through a route to the pod network), and judge the certificate aigw serves and the client CAs it asks for; no private key is read")
	fs.DurationVar(&o.Probe.DialTimeout, "probe-timeout", probe.DefaultDialTimeout, "bound on each probe handshake (connection and TLS)")
	fs.IntVar(&o.Probe.MaxEndpoints, "probe-max-endpoints", probe.DefaultMaxEndpoints, "ready endpoints probed per Policy and Service port; the others are reported as not probed")
	fs.IntVar(&o.Probe.MaxTargets, "probe-max-targets", probe.DefaultMaxTargets, "Policy (or BackendTLSPolicy) and Service port pairs probed (the namespaces, and the Policies of each, taking turns; at most a quarter of them for one namespace, all of them with -n; 0 or less is refused); the others are reported as not probed")
	sf := bindSettings(fs)
	if err := fs.Parse(args); err != nil {
		return parseExit(err)
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "check: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	if output != "text" && output != "json" {
		fmt.Fprintf(stderr, "check: -o %q: expected text or json\n", output)
		return 2
	}
	if err := o.Probe.Validate(); err != nil {
		fmt.Fprintln(stderr, "check:", err)
		return 2
	}
	s, err := sf.settings()
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 2
	}
	limit, err := parseMemoryLimit(*memoryLimit)
	if err != nil {
		fmt.Fprintf(stderr, "check: --memory-limit %q: %v\n", *memoryLimit, err)
		return 2
	}
	if os.Getenv("GOMEMLIMIT") == "" && limit > 0 {
		defer debug.SetMemoryLimit(debug.SetMemoryLimit(limit))
		// Under a limit, the limit decides when to collect: while what is live stays well under
		// it (the listing), the heap may grow to five times it instead of twice, and the
		// collector runs a fraction as often. GOGC, when set, wins.
		if os.Getenv("GOGC") == "" {
			defer debug.SetGCPercent(debug.SetGCPercent(checkGCPercent))
		}
	}
	o.Settings = s
	o.Progress = stderr
	c, err := checkClient(kubeconfig, kubecontext)
	if err != nil {
		fmt.Fprintln(stderr, "check:", err)
		return 2
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	// The report is printed as the namespaces are checked: a whole cluster's is tens of MB.
	var sink interface {
		checker.Sink
		Failed() bool
	} = checker.NewTextWriter(stdout)
	if output == "json" {
		sink = checker.NewJSONWriter(stdout)
	}
	if err := checker.Stream(ctx, c, o, sink); err != nil {
		if errors.Is(err, checker.ErrSink) {
			fmt.Fprintln(stderr, "check:", err)
		} else {
			fmt.Fprintln(stderr, "check: cannot read the cluster:", err)
		}
		return 2
	}
	if sink.Failed() {
		return 1
	}
	return 0
}

// checkClient is a plain (uncached) client for the kubeconfig and context given, or the usual
// defaults: $KUBECONFIG, ~/.kube/config, then the in-cluster config.
func checkClient(kubeconfig, kubecontext string) (client.Client, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = kubeconfig
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{CurrentContext: kubecontext}).ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("loading kubeconfig: %w", err)
	}
	cfg = rest.CopyConfig(cfg)
	if cfg.Timeout == 0 {
		cfg.Timeout = 30 * time.Second
	}
	// A burst that lists a cluster of 10,000 tenants (about 200 pages of 500) without waiting on
	// the client's own rate limit; the API server's priority and fairness still applies.
	cfg.QPS, cfg.Burst = 50, 300
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		return nil, err
	}
	return client.New(cfg, client.Options{Scheme: scheme})
}
