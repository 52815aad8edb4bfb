package webhook

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
	"sigs.k8s.io/controller-runtime/pkg/recorder"

	"github.com/aigw-mtls/aigw-mtls-webhook/internal/aigw"
	"github.com/aigw-mtls/aigw-mtls-webhook/internal/kinds"
	"github.com/aigw-mtls/aigw-mtls-webhook/internal/objects"
	"github.com/aigw-mtls/aigw-mtls-webhook/internal/probe"
	"github.com/aigw-mtls/aigw-mtls-webhook/internal/rules"
)

// ProbeOptions configure the live TLS probe of the aigw endpoints (serve --probe, chart
// probe.enabled): off by default.
type ProbeOptions struct {
	Enabled bool
	// Interval between two probe cycles, jittered by up to a tenth either way.
	Interval time.Duration
	// Timeout bounds each handshake (connection and TLS).
	Timeout time.Duration
	// MaxEndpoints are the ready endpoints probed per Policy and Service port.
	MaxEndpoints int
	// MaxTargets are the Policy × Service ports probed per cycle (namespaces, and the Policies of
	// each, taking turns, at most a quarter of them for one namespace: probe.Limits): the others
	// wait for a cycle with fewer.
	MaxTargets int
}

// Probe defaults: a cycle handshakes with at most DefaultProbeMaxTargets × MaxEndpoints
// endpoints, probe.DefaultMaxConcurrent at a time, each bounded by Timeout; a cycle is cut off
// at half the interval.
const (
	DefaultProbeInterval    = 5 * time.Minute
	DefaultProbeMaxTargets  = probe.DefaultMaxTargets
	maxProbedVirtualServers = 2048 // labelled VirtualServers read per cycle
	maxProbedIngresses      = 2048 // labelled Ingresses read per cycle
	maxProbedEndpointSlices = 16   // EndpointSlices read per Service
	maxProbeEventsPerPolicy = 5    // HandshakeFailed Events per Policy per cycle, then one "and N more"
	probeListPage           = 50   // VirtualServers or Ingresses per list call
	// maxProbedListBytes bounds the JSON of the VirtualServers and Ingresses a cycle holds (a
	// VirtualServer may be 1.5 MiB): past it the cycle stops listing and logs that not all were
	// read. An eighth of the chart's 256Mi memory limit.
	maxProbedListBytes       = 32 << 20
	probeEventReasonVerified = "HandshakeVerified"
	probeEventReasonFailed   = "HandshakeFailed"
)

// DefaultProbeOptions: off; when on, every 5 minutes, 2 s per handshake, 16 endpoints per Policy
// and Service port, 64 of those per cycle.
func DefaultProbeOptions() ProbeOptions {
	return ProbeOptions{Interval: DefaultProbeInterval, Timeout: probe.DefaultDialTimeout, MaxEndpoints: probe.DefaultMaxEndpoints, MaxTargets: DefaultProbeMaxTargets}
}

var (
	probeSuccess = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "aigw_mtls_probe_success",
		Help: "1 when every aigw endpoint a labelled egressMTLS Policy serves passed the last TLS probe (served certificate verified as nginx verifies it, the Secret's certificate, a client-certificate request naming NIC's CA), else 0. One series per probed Policy (kind Policy, or BackendTLSPolicy with Gateway API).",
	}, []string{"namespace", "kind", "policy"})
	probeServedExpiry = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "aigw_mtls_probe_served_certificate_expiry_timestamp_seconds",
		Help: "Expiry (notAfter, Unix seconds) of the certificate aigw serves, the earliest among the probed endpoints of a Policy. It differs from aigw_mtls_certificate_expiry_timestamp_seconds of the Secret while aigw has not reloaded.",
	}, []string{"namespace", "kind", "policy"})
	probeFailedEndpoints = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "aigw_mtls_probe_failed_endpoints",
		Help: "aigw endpoints of a Policy that failed the last TLS probe (a Service port without a ready endpoint counts one).",
	}, []string{"namespace", "kind", "policy"})
)

func init() { metrics.Registry.MustRegister(probeSuccess, probeServedExpiry, probeFailedEndpoints) }

// ProbeLoop probes the aigw endpoints of the labelled egressMTLS Policies (and BackendTLSPolicies)
// every interval (on the elected replica only), and reports per Policy: Events (HandshakeVerified once per change,
// HandshakeFailed with each reason when the findings change), the probe metrics and the log.
type ProbeLoop struct {
	Options  ProbeOptions
	Settings aigw.Settings
	Objects  objects.Objects // Policies and Secrets from the cache: certificates only
	API      client.Reader   // VirtualServers, Services and EndpointSlices, read per cycle
	Events   recorder.EventRecorder
	Now      func() time.Time
	// GatewayAPI: the cache holds BackendTLSPolicies and their CA ConfigMaps, which are probed too.
	GatewayAPI bool
	// Ready reports whether the cache's informers have synced: the first cycle waits for it (an
	// unsynced cache holds no Policy yet).
	Ready func() bool

	mu    sync.Mutex
	state map[string]string // Policy ref → its last reported outcome
}

func (p *ProbeLoop) NeedLeaderElection() bool { return true }

// Start runs a cycle once the cache has synced, then every jittered interval, until ctx ends.
func (p *ProbeLoop) Start(ctx context.Context) error {
	for p.Ready != nil && !p.Ready() {
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(200 * time.Millisecond):
		}
	}
	for {
		p.Cycle(ctx)
		jitter := time.Duration((rand.Float64()*0.2 - 0.1) * float64(p.Options.Interval))
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(p.Options.Interval + jitter):
		}
	}
}

// Cycle probes once and reports.
func (p *ProbeLoop) Cycle(ctx context.Context) {
	now := time.Now
	if p.Now != nil {
		now = p.Now
	}
	ctx, cancel := context.WithTimeout(ctx, max(p.Options.Interval/2, p.Options.Timeout))
	defer cancel()
	c := &probeCluster{ctx: ctx, Objects: p.Objects, api: p.API, settings: p.Settings, gatewayAPI: p.GatewayAPI}
	plan := probe.Targets(ctx, c, p.Settings, probe.Limits{MaxEndpoints: p.Options.MaxEndpoints, MaxTargets: p.Options.MaxTargets}, now())
	if plan.LeftOut > 0 {
		log.FromContext(ctx).Info("probe: more Policy and Service ports than probed per cycle", "probed", len(plan.Targets), "left out", plan.LeftOut,
			"max", plan.Limits.MaxTargets, "max per namespace", plan.Limits.MaxPerNamespace)
	}
	for _, n := range plan.NotProbed {
		log.FromContext(ctx).Info("probe: not probed", "object", n.Object, "reason", n.Reason)
	}
	for _, n := range c.notRead {
		log.FromContext(ctx).Info("probe: not probed", "reason", n)
	}
	results := probe.Run(ctx, plan.Targets, probe.Options{DialTimeout: p.Options.Timeout, Now: now()})
	p.report(ctx, results)
}

// outcome is what the probe found about one Policy in a cycle.
type outcome struct {
	failed   int
	findings rules.Findings
	summary  []string
	expiry   time.Time
}

func (p *ProbeLoop) report(ctx context.Context, results []probe.Result) {
	byPolicy := map[string]*outcome{}
	var order []string
	cutOff := map[string]bool{}
	for _, r := range results {
		if r.CutOff {
			cutOff[r.Target.Policy] = true
			continue
		}
		o := byPolicy[r.Target.Policy]
		if o == nil {
			o = &outcome{}
			byPolicy[r.Target.Policy] = o
			order = append(order, r.Target.Policy)
		}
		if !r.OK() {
			o.failed++
		}
		o.findings = append(o.findings, r.Findings...)
		if r.OK() {
			o.summary = append(o.summary, "endpoint "+r.Endpoint+" of "+r.Target.Service+": "+r.Summary)
		}
		if r.Served != nil && (o.expiry.IsZero() || r.Served.NotAfter.Before(o.expiry)) {
			o.expiry = r.Served.NotAfter
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for ref := range cutOff {
		if byPolicy[ref] == nil {
			log.FromContext(ctx).Info("probe: not probed this cycle (cycle cut off)", "policy", ref)
		}
	}
	for ref := range p.state {
		if byPolicy[ref] == nil && !cutOff[ref] {
			kind, ns, name := splitRef(ref)
			probeSuccess.DeleteLabelValues(ns, kind, name)
			probeServedExpiry.DeleteLabelValues(ns, kind, name)
			probeFailedEndpoints.DeleteLabelValues(ns, kind, name)
			delete(p.state, ref)
		}
	}
	if p.state == nil {
		p.state = map[string]string{}
	}
	for _, ref := range order {
		o := byPolicy[ref]
		kind, ns, name := splitRef(ref)
		ok := o.failed == 0
		probeSuccess.WithLabelValues(ns, kind, name).Set(map[bool]float64{true: 1, false: 0}[ok])
		probeFailedEndpoints.WithLabelValues(ns, kind, name).Set(float64(o.failed))
		if o.expiry.IsZero() {
			probeServedExpiry.DeleteLabelValues(ns, kind, name)
		} else {
			probeServedExpiry.WithLabelValues(ns, kind, name).Set(float64(o.expiry.Unix()))
		}
		var lines []string
		for _, f := range o.findings {
			if f.Severity == rules.Error {
				lines = append(lines, f.String())
			}
		}
		sort.Strings(lines)
		state := "failed\n" + strings.Join(lines, "\n")
		if ok {
			state = "verified"
		}
		if p.state[ref] == state {
			continue
		}
		p.state[ref] = state
		pol := p.object(kind, ns, name)
		if ok {
			log.FromContext(ctx).Info("probe: handshake verified", "policy", ref, "endpoints", o.summary)
			if pol != nil {
				p.Events.Eventf(pol, nil, corev1.EventTypeNormal, probeEventReasonVerified, "Probe", "%s", strings.Join(o.summary, "; "))
			}
			continue
		}
		for i, l := range lines {
			log.FromContext(ctx).Info("probe: handshake failed", "policy", ref, "problem", l)
			if pol == nil || i > maxProbeEventsPerPolicy {
				continue
			}
			if i == maxProbeEventsPerPolicy {
				l = fmt.Sprintf("and %d more problem(s): see the webhook's log", len(lines)-maxProbeEventsPerPolicy)
			}
			p.Events.Eventf(pol, nil, corev1.EventTypeWarning, probeEventReasonFailed, "Probe", "%s", l)
		}
	}
}

// object is the cached Policy or BackendTLSPolicy the Events go to.
func (p *ProbeLoop) object(kind, ns, name string) *unstructured.Unstructured {
	k := kinds.Policy
	if kind == kinds.BackendTLSPolicy.Kind {
		k = kinds.BackendTLSPolicy
	}
	raw, ok := p.Objects.Get(k.Kind, ns, name)
	if !ok {
		return nil
	}
	u := &unstructured.Unstructured{}
	if json.Unmarshal(raw, &u.Object) != nil {
		return nil
	}
	u.SetGroupVersionKind(k.GroupVersionKind())
	return u
}

// splitRef splits Kind/namespace/name.
func splitRef(ref string) (kind, namespace, name string) {
	parts := strings.SplitN(ref, "/", 3)
	if len(parts) != 3 {
		return "", "", ref
	}
	return parts[0], parts[1], parts[2]
}

// probeCluster serves the probe the cache's Policies and Secrets (certificates only) and reads
// the VirtualServers, Services and EndpointSlices it needs from the API server, bounded.
type probeCluster struct {
	ctx context.Context
	objects.Objects
	api        client.Reader
	settings   aigw.Settings
	gatewayAPI bool
	listBytes  int      // JSON of the VirtualServers and Ingresses read this cycle
	notRead    []string // what the byte budget left unread
}

// keep adds the part of raw the probe reads (trim) to out while the cycle's byte budget of listed
// JSON lasts; false once it is spent.
func (c *probeCluster) keep(kind string, out *[][]byte, raw []byte, trim func([]byte) []byte) bool {
	if c.listBytes+len(raw) > maxProbedListBytes {
		c.notRead = append(c.notRead, fmt.Sprintf("not all labelled %ss read: their JSON passed %d MiB this cycle (%d read)", kind, maxProbedListBytes>>20, len(*out)))
		return false
	}
	c.listBytes += len(raw)
	if small := trim(raw); small != nil {
		*out = append(*out, small)
	}
	return true
}

// BackendTLSPolicies are the cached BackendTLSPolicies (the probe keeps the labelled ones), at
// most maxProbedVirtualServers.
func (c *probeCluster) BackendTLSPolicies() [][]byte {
	if !c.gatewayAPI {
		return nil
	}
	l := c.List("BackendTLSPolicy", "")
	return l[:min(len(l), maxProbedVirtualServers)]
}

func (c *probeCluster) VirtualServers() [][]byte {
	var out [][]byte
	cont := ""
	for len(out) < maxProbedVirtualServers {
		l := &unstructured.UnstructuredList{}
		l.SetGroupVersionKind(kinds.VirtualServer.GroupVersionKind().GroupVersion().WithKind("VirtualServerList"))
		err := c.api.List(c.ctx, l, client.MatchingLabels{c.settings.SelectorKey: c.settings.SelectorValue},
			client.Limit(int64(min(probeListPage, maxProbedVirtualServers-len(out)))), client.Continue(cont))
		if err != nil {
			log.FromContext(c.ctx).Info("probe: cannot list VirtualServers", "error", err.Error())
			return out
		}
		for i := range l.Items {
			if raw, err := l.Items[i].MarshalJSON(); err == nil && !c.keep("VirtualServer", &out, raw, probe.TrimVirtualServer) {
				return out
			}
		}
		if cont = l.GetContinue(); cont == "" {
			break
		}
	}
	return out
}

func (c *probeCluster) Ingresses() [][]byte {
	var out [][]byte
	cont := ""
	for len(out) < maxProbedIngresses {
		var l networkingv1.IngressList
		err := c.api.List(c.ctx, &l, client.MatchingLabels{c.settings.SelectorKey: c.settings.SelectorValue},
			client.Limit(int64(min(probeListPage, maxProbedIngresses-len(out)))), client.Continue(cont))
		if err != nil {
			log.FromContext(c.ctx).Info("probe: cannot list Ingresses", "error", err.Error())
			return out
		}
		for i := range l.Items {
			l.Items[i].APIVersion, l.Items[i].Kind = "networking.k8s.io/v1", "Ingress"
			if raw, err := json.Marshal(&l.Items[i]); err == nil && !c.keep("Ingress", &out, raw, probe.TrimIngress) {
				return out
			}
		}
		if cont = l.GetContinue(); cont == "" {
			break
		}
	}
	return out
}

func (c *probeCluster) Service(namespace, name string) *corev1.Service {
	var svc corev1.Service
	if err := c.api.Get(c.ctx, client.ObjectKey{Namespace: namespace, Name: name}, &svc); err != nil {
		return nil
	}
	return &svc
}

func (c *probeCluster) EndpointSlices(namespace, service string) []discoveryv1.EndpointSlice {
	var l discoveryv1.EndpointSliceList
	if err := c.api.List(c.ctx, &l, client.InNamespace(namespace), client.MatchingLabels{discoveryv1.LabelServiceName: service},
		client.Limit(maxProbedEndpointSlices)); err != nil {
		log.FromContext(c.ctx).Info("probe: cannot list EndpointSlices", "service", namespace+"/"+service, "error", err.Error())
		return nil
	}
	return l.Items
}

// validate refuses options a probe cannot run with.
func (o ProbeOptions) validate() error {
	if !o.Enabled {
		return nil
	}
	if o.Interval <= 0 || o.Timeout <= 0 {
		return fmt.Errorf("probe: interval and timeout must be positive (got %s, %s)", o.Interval, o.Timeout)
	}
	return probe.Limits{MaxEndpoints: o.MaxEndpoints, MaxTargets: o.MaxTargets}.Validate()
}
