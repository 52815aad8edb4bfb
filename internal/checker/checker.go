// Package checker reads a live cluster and reports, object by object, whether the NGINX Ingress
// Controller → aigw mTLS wiring is complete and consistent: the Secrets and their certificates,
// the EgressMTLS Policies, the labelled VirtualServers, ConfigMaps and pods, and the webhook
// configurations. It is `aigw-mtls-webhook check`; the command parses flags and prints the Report.
//
// Every kind is listed once (per namespace scope), never fetched per object; the checks then run
// over that snapshot with the same pure functions the webhook admits with (package patches).
package checker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/aigw-mtls/aigw-mtls-webhook/internal/aigw"
	"github.com/aigw-mtls/aigw-mtls-webhook/internal/ingress"
	"github.com/aigw-mtls/aigw-mtls-webhook/internal/probe"
	"github.com/aigw-mtls/aigw-mtls-webhook/internal/rules"
	"github.com/aigw-mtls/aigw-mtls-webhook/patches"
)

// Sections of the report, in the order they are printed within a namespace.
const (
	SectionCluster        = "Cluster"
	SectionSecrets        = "Secrets"
	SectionCertificates   = "Certificates"
	SectionPolicies       = "Policies"
	SectionVirtualServers = "VirtualServers"
	SectionIngresses      = "Ingresses"
	SectionConfigMaps     = "ConfigMaps"
	SectionPods           = "Pods"
	SectionWebhooks       = "Webhooks"
	SectionGatewayAPI     = "Gateway API"
)

// Status of one check.
type Status string

const (
	StatusOK      Status = "ok"
	StatusWarning Status = "warning"
	StatusError   Status = "error"
)

// Check is one line of the report: one finding about one object. Namespace is empty for
// cluster-scoped objects.
type Check struct {
	Section   string `json:"section"`
	Namespace string `json:"namespace"`
	Object    string `json:"object"`
	Status    Status `json:"status"`
	Message   string `json:"message"`
	Fix       string `json:"fix"`
	// Rule is the ID of the rule a finding comes from (docs/rules.md); empty for the checks of
	// the cluster around the objects.
	Rule rules.ID `json:"rule"`
}

// WebhookSuffix ends the name of every webhook the chart registers.
const WebhookSuffix = ".mtls.aigw.io"

// Options say what to check and where.
type Options struct {
	Settings aigw.Settings
	// Namespace restricts the check to one namespace; empty: every namespace holding objects
	// labelled with the selector.
	Namespace string
	// CASyncSource is cert-manager's CA Secret that the nginx.org/ca Secret must hold (the CA
	// sync's source); empty skips that comparison.
	CASyncSource string
	// Service is the aigw Service: pods behind it must carry the selector label.
	Service string
	// WebhookName names the Mutating and Validating webhook configurations; empty: every
	// configuration with a webhook whose name ends in WebhookSuffix.
	WebhookName string
	// WebhookNamespace is where the webhook's serving Secret is looked for when a configuration
	// does not say (no cert-manager.io/inject-ca-from annotation); default: its Service's namespace.
	WebhookNamespace string
	// DialTimeout bounds the TLS handshake with a webhook reached by URL.
	DialTimeout time.Duration
	// Now is when certificates are judged (zero: time.Now()).
	Now time.Time
	// MaxIngressEvents bounds the Events read for NIC's verdicts on Ingresses (0:
	// DefaultMaxIngressEvents).
	MaxIngressEvents int
	// Probe, when enabled, makes the TLS handshake with the aigw endpoints (checkProbe).
	Probe ProbeOptions
	// Progress, when set, receives a line every ProgressEvery namespaces on runs checking more.
	Progress io.Writer
}

// ProgressEvery is how many namespaces a progress line stands for.
const ProgressEvery = 1000

// DefaultOptions are the command's defaults.
func DefaultOptions() Options {
	return Options{
		Settings:         aigw.DefaultSettings(),
		CASyncSource:     "aigw-ca",
		Service:          "aigw",
		DialTimeout:      5 * time.Second,
		MaxIngressEvents: DefaultMaxIngressEvents,
		Probe:            ProbeOptions{MaxEndpoints: probe.DefaultMaxEndpoints, MaxTargets: probe.DefaultMaxTargets},
	}
}

// namespaceChecks run over each namespace in scope, in report order.
var namespaceChecks = []func(*snapshot, string) []Check{
	checkSecrets,
	checkCertificates,
	withVerdicts(checkPolicies, policyVerdicts),
	withVerdicts(checkVirtualServers, routingVerdicts),
	withVerdicts(checkIngresses, ingressVerdicts),
	checkConfigMaps,
	checkPods,
	withVerdicts(checkGatewayAPI, backendTLSPolicyVerdicts),
}

// Run lists what the checks need from the cluster and runs them. An error means the cluster could
// not be read; what is wrong in it is in the Report.
func Run(ctx context.Context, c client.Reader, o Options) (*Report, error) {
	var r collected
	if err := Stream(ctx, c, o, &r); err != nil {
		return nil, err
	}
	return newReport(append(append(r.checks, r.namespaced...), r.late...), r.namespaces), nil
}

// Sink receives the checks of Stream: Begin the cluster's own and those of the cluster around
// the objects (which the report prints last), Namespace those of each namespace in turn, End the
// namespaces checked.
type Sink interface {
	Begin(cluster, late []Check) error
	Namespace(checks []Check) error
	End(namespaces []string) error
}

// Stream is Run handing the checks to sink as the namespaces are checked instead of holding them:
// a whole cluster's report is tens of MB.
func Stream(ctx context.Context, c client.Reader, o Options, sink Sink) error {
	if o.Now.IsZero() {
		o.Now = time.Now()
	}
	if o.DialTimeout == 0 {
		o.DialTimeout = DefaultOptions().DialTimeout
	}
	if err := o.Probe.Validate(); err != nil {
		return err
	}
	s, err := collect(ctx, c, o)
	if err != nil {
		return err
	}
	late := checkNGINXIngress(ctx, c, grpcIngresses(s))
	late = append(late, checkWebhooks(s)...)
	if o.Probe.Enabled {
		late = append(late, checkProbe(ctx, s)...)
	}
	if err := sink.Begin(checkCluster(s), late); err != nil {
		return fmt.Errorf("%w: %w", ErrSink, err)
	}
	if err := checkNamespaces(s, o.Progress, sink.Namespace); err != nil {
		return fmt.Errorf("%w: %w", ErrSink, err)
	}
	if err := sink.End(s.namespaces); err != nil {
		return fmt.Errorf("%w: %w", ErrSink, err)
	}
	return nil
}

// ErrSink wraps the errors of Stream's sink (writing the report), as opposed to reading the cluster.
var ErrSink = errors.New("writing the report")

// collected is a Sink that keeps everything (Run).
type collected struct {
	checks, namespaced, late []Check
	namespaces               []string
}

func (r *collected) Begin(cluster, late []Check) error {
	r.checks, r.late = cluster, late
	return nil
}

func (r *collected) Namespace(checks []Check) error {
	r.namespaced = append(r.namespaced, checks...)
	return nil
}

func (r *collected) End(namespaces []string) error {
	r.namespaces = namespaces
	return nil
}

// namespaceBatch is how many namespaces are checked before their checks go to the sink.
const namespaceBatch = 256

// checkNamespaces runs the namespace checks of each namespace in scope, one worker per CPU (they
// only read the snapshot, and each namespace's objects are its own), and hands each namespace's
// checks to emit in the order of the namespaces, a batch at a time.
func checkNamespaces(s *snapshot, progress io.Writer, emit func([]Check) error) error {
	done := 0
	for from := 0; from < len(s.namespaces); from += namespaceBatch {
		batch := s.namespaces[from:min(from+namespaceBatch, len(s.namespaces))]
		out := make([][]Check, len(batch))
		var next atomic.Int64
		var wg sync.WaitGroup
		for range min(runtime.GOMAXPROCS(0), len(batch)) {
			wg.Go(func() {
				for {
					i := int(next.Add(1) - 1)
					if i >= len(batch) {
						return
					}
					for _, run := range namespaceChecks {
						out[i] = append(out[i], run(s, batch[i])...)
					}
				}
			})
		}
		wg.Wait()
		for _, cs := range out {
			if err := emit(cs); err != nil {
				return err
			}
			if done++; progress != nil && done%ProgressEvery == 0 {
				fmt.Fprintf(progress, "check: %d of %d namespaces checked\n", done, len(s.namespaces))
			}
		}
	}
	return nil
}

// checkCluster reports what limits the check as a whole: kinds the API server does not serve,
// and a cluster without any labelled object.
func checkCluster(s *snapshot) []Check {
	l := newLines(SectionCluster, "")
	for _, k := range s.notServed {
		l.warn(k, "not served by the API server (CRD not installed): objects of this kind are not checked",
			"install the CRDs (NGINX Ingress Controller: k8s.nginx.org; cert-manager: cert-manager.io)")
	}
	if len(s.namespaces) == 0 {
		l.warn("namespaces", "no object labelled "+s.selector()+" in any namespace: nothing is wired",
			"label the aigw pods, ConfigMap, VirtualServer and EgressMTLS Policy "+s.selector()+" (or pass -n NAMESPACE)")
	}
	l.out = append(l.out, s.unencoded...)
	return append(l.out, verdictLimits(s)...)
}

// lines collects the checks of one section of one namespace.
type lines struct {
	section, namespace string
	out                []Check
}

func newLines(section, namespace string) *lines {
	return &lines{section: section, namespace: namespace}
}

func (l *lines) add(obj string, st Status, msg, fix string) {
	l.out = append(l.out, Check{Section: l.section, Namespace: l.namespace, Object: obj, Status: st, Message: msg, Fix: fix})
}

func (l *lines) ok(obj, msg string)        { l.add(obj, StatusOK, msg, "") }
func (l *lines) warn(obj, msg, fix string) { l.add(obj, StatusWarning, msg, fix) }
func (l *lines) fail(obj, msg, fix string) { l.add(obj, StatusError, msg, fix) }

// findings adds one line per finding (prefixed by prefix), or a ✓ line with okMsg when there is
// none and okMsg is set.
func (l *lines) findings(obj, prefix, okMsg string, fs rules.Findings) {
	for _, f := range fs {
		st := StatusError
		if f.Severity == rules.Warning {
			st = StatusWarning
		}
		l.add(obj, st, prefix+f.Problem(), f.Fix)
		l.out[len(l.out)-1].Rule = f.Rule
	}
	if len(fs) == 0 && okMsg != "" {
		l.ok(obj, okMsg)
	}
}

// result adds the findings of a mutation about obj and reports whether there was any.
func (l *lines) result(obj string, r patches.Result) bool {
	l.findings(obj, "", "", r.Findings)
	return len(r.Findings) > 0
}

func ref(kind, namespace, name string) string {
	if namespace == "" {
		return kind + "/" + name
	}
	return kind + "/" + namespace + "/" + name
}

// grpcIngresses are the labelled Ingresses with nginx.org/grpc-services.
func grpcIngresses(s *snapshot) []string {
	var out []string
	for i := range s.ingresses {
		if _, ok := s.ingresses[i].Annotations[ingress.AnnotationGRPCServices]; ok {
			out = append(out, ref("Ingress", s.ingresses[i].Namespace, s.ingresses[i].Name))
		}
	}
	return out
}
