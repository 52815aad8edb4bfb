package checker

import (
	"context"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"

	"github.com/aigw-mtls/aigw-mtls-webhook/internal/probe"
)

// SectionProbe holds the live TLS probe's lines (check --probe).
const SectionProbe = "Probe"

// ProbeOptions are check --probe's: the TLS handshake with each aigw endpoint the labelled
// Policies serve, made from where check runs.
type ProbeOptions struct {
	Enabled      bool
	MaxEndpoints int // per Policy and Service port
	MaxTargets   int // Policy and Service port pairs, a quarter of them per namespace unless one is in scope (Limits)
	probe.Options
}

// Limits are the probe's bounds for a check of namespace ("": every namespace): with one namespace
// in scope, that namespace may take all of MaxTargets (the quarter per namespace keeps namespaces
// from leaving each other unprobed, and the others are not reported).
func (o ProbeOptions) Limits(namespace string) probe.Limits {
	l := probe.Limits{MaxEndpoints: o.MaxEndpoints, MaxTargets: o.MaxTargets}
	if namespace != "" {
		l.MaxPerNamespace = o.MaxTargets
	}
	return l
}

// Validate refuses bounds check --probe cannot run with, as serve does (probe.Limits.Validate).
func (o ProbeOptions) Validate() error {
	if !o.Enabled {
		return nil
	}
	return o.Limits("").Validate()
}

// checkProbe probes the endpoints of the labelled egressMTLS Policies in scope and reports one line
// per endpoint (or per Service port without a ready endpoint).
func checkProbe(ctx context.Context, s *snapshot) []Check {
	plan := probe.Targets(ctx, probeCluster{s}, s.o.Settings, s.o.Probe.Limits(s.o.Namespace), s.o.Now)
	o := s.o.Probe.Options
	o.Now = s.o.Now
	var out []Check
	for _, n := range plan.NotProbed {
		if s.o.Namespace != "" && n.Namespace != s.o.Namespace {
			continue
		}
		l := newLines(SectionProbe, n.Namespace)
		l.warn(n.Object, n.Reason, "see docs/monitoring.md, Bounds of the probe")
		out = append(out, l.out...)
	}
	for _, n := range plan.LeftOutBy {
		if s.o.Namespace != "" && n.Namespace != s.o.Namespace {
			continue
		}
		l := newLines(SectionProbe, n.Namespace)
		l.warn(n.Object, n.Reason, "raise --probe-max-targets (a quarter of it per namespace)")
		out = append(out, l.out...)
	}
	for _, r := range probe.Run(ctx, plan.Targets, o) {
		ns := strings.Split(r.Target.Policy, "/")[1]
		if s.o.Namespace != "" && ns != s.o.Namespace {
			continue
		}
		l := newLines(SectionProbe, ns)
		if r.CutOff {
			l.warn(r.Target.Policy, r.Target.Service+": not probed (check was cut off)", "run check again with a longer time limit")
			out = append(out, l.out...)
			continue
		}
		where := r.Target.Service
		if r.Endpoint != "" {
			where = "endpoint " + r.Endpoint + " of " + r.Target.Service
		}
		l.findings(r.Target.Policy, "", where+": "+r.Summary, r.Findings)
		if r.Target.Skipped > 0 && r.Endpoint == r.Target.Endpoints[len(r.Target.Endpoints)-1] {
			l.warn(r.Target.Policy, fmt.Sprintf("%s: %d more ready endpoint(s) not probed (at most %d per Service port)", r.Target.Service, r.Target.Skipped, len(r.Target.Endpoints)),
				"raise --probe-max-endpoints to probe them all")
		}
		out = append(out, l.out...)
	}
	return out
}

// probeCluster serves the probe the snapshot: Secrets as check read them (private keys redacted).
type probeCluster struct{ s *snapshot }

func (c probeCluster) Get(kind, namespace, name string) ([]byte, bool) {
	return c.s.objs.Get(kind, namespace, name)
}

func (c probeCluster) List(kind, namespace string) [][]byte { return c.s.objs.List(kind, namespace) }

func (c probeCluster) VirtualServers() [][]byte {
	var out [][]byte
	for i := range c.s.vss {
		out = append(out, c.s.vss[i].raw)
	}
	return out
}

func (c probeCluster) Ingresses() [][]byte {
	var out [][]byte
	for i := range c.s.ingresses {
		out = append(out, rawTyped(&c.s.ingresses[i], "networking.k8s.io/v1", "Ingress"))
	}
	return out
}

func (c probeCluster) BackendTLSPolicies() [][]byte {
	var out [][]byte
	for i := range c.s.btps {
		out = append(out, c.s.btps[i].raw)
	}
	return out
}

func (c probeCluster) Service(namespace, name string) *corev1.Service {
	return c.s.service(namespace, name)
}

func (c probeCluster) EndpointSlices(namespace, service string) []discoveryv1.EndpointSlice {
	var out []discoveryv1.EndpointSlice
	for _, es := range c.s.slices {
		if es.Namespace == namespace && es.Labels[discoveryv1.LabelServiceName] == service {
			out = append(out, es)
		}
	}
	return out
}
