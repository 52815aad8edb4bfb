package webhook

import (
	"context"
	"crypto/x509"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/aigw-mtls/aigw-mtls-webhook/internal/objects"
	"github.com/aigw-mtls/aigw-mtls-webhook/internal/probe"
	"github.com/aigw-mtls/aigw-mtls-webhook/internal/rules"
)

// TestProbeReportOncePerChange: HandshakeVerified is reported once while the outcome holds,
// HandshakeFailed once per new set of problems, and a Policy no longer probed loses its series.
func TestProbeReportOncePerChange(t *testing.T) {
	pol := []byte(`{"apiVersion":"k8s.nginx.org/v1","kind":"Policy","metadata":{"name":"p","namespace":"probe-unit","uid":"u1"}}`)
	events := &kindLog{}
	loop := &ProbeLoop{Objects: objects.NewObjectSet("", pol), Events: events}
	target := &probe.Target{Policy: "Policy/probe-unit/p", Service: "Service/probe-unit/aigw", Endpoints: []string{"10.0.0.1:8443"}}
	served := &x509.Certificate{NotAfter: time.Unix(1900000000, 0)}
	ok := []probe.Result{{Target: target, Endpoint: "10.0.0.1:8443", Summary: "serves CN=aigw", Served: served}}
	stale := rules.ProbeStaleServerCert.New(rules.Finding{Object: target.Policy, Field: "endpoint 10.0.0.1:8443", Found: "old"})
	bad := []probe.Result{{Target: target, Endpoint: "10.0.0.1:8443", Findings: rules.Findings{stale}, Served: served}}
	ctx := context.Background()

	loop.report(ctx, ok)
	loop.report(ctx, ok)
	if got := events.take(); len(got) != 1 || !strings.Contains(got[0], "Normal HandshakeVerified") {
		t.Errorf("two verified cycles: events %q, want one HandshakeVerified", got)
	}
	if v := testutil.ToFloat64(probeSuccess.WithLabelValues("probe-unit", "Policy", "p")); v != 1 {
		t.Errorf("success %v, want 1", v)
	}
	loop.report(ctx, bad)
	loop.report(ctx, bad)
	if got := events.take(); len(got) != 1 || !strings.Contains(got[0], "Warning HandshakeFailed") || !strings.Contains(got[0], "PROBE_STALE_SERVER_CERT") {
		t.Errorf("two failed cycles: events %q, want one HandshakeFailed naming the rule", got)
	}
	if v := testutil.ToFloat64(probeSuccess.WithLabelValues("probe-unit", "Policy", "p")); v != 0 {
		t.Errorf("success %v, want 0", v)
	}
	if v := testutil.ToFloat64(probeServedExpiry.WithLabelValues("probe-unit", "Policy", "p")); v != 1900000000 {
		t.Errorf("served expiry %v", v)
	}
	loop.report(ctx, ok)
	if got := events.take(); len(got) != 1 || !strings.Contains(got[0], "HandshakeVerified") {
		t.Errorf("fixed: events %q, want one HandshakeVerified", got)
	}
	// A BackendTLSPolicy of the same name: its own series, its Events on it, not on the Policy.
	btp := []byte(`{"apiVersion":"gateway.networking.k8s.io/v1","kind":"BackendTLSPolicy","metadata":{"name":"p","namespace":"probe-unit","uid":"u2"}}`)
	loop.Objects = objects.NewObjectSet("", pol, btp)
	btpTarget := &probe.Target{Kind: "BackendTLSPolicy", Policy: "BackendTLSPolicy/probe-unit/p", Service: "Service/probe-unit/aigw", Endpoints: []string{"10.0.0.1:8443"}}
	btpBad := []probe.Result{{Target: btpTarget, Endpoint: "10.0.0.1:8443", Findings: rules.Findings{stale}}}
	loop.report(ctx, append(append([]probe.Result{}, ok...), btpBad...))
	if got := events.take(); len(got) != 1 || !strings.Contains(got[0], "Warning HandshakeFailed") || events.kinds[0] != "BackendTLSPolicy" {
		t.Errorf("BackendTLSPolicy failing beside a verified Policy: events %q on %v, want one HandshakeFailed on the BackendTLSPolicy", got, events.kinds)
	}
	if v := testutil.ToFloat64(probeSuccess.WithLabelValues("probe-unit", "BackendTLSPolicy", "p")); v != 0 {
		t.Errorf("BackendTLSPolicy success %v, want 0", v)
	}
	if v := testutil.ToFloat64(probeSuccess.WithLabelValues("probe-unit", "Policy", "p")); v != 1 {
		t.Errorf("Policy success %v, want 1 beside the failing BackendTLSPolicy", v)
	}
	loop.report(ctx, nil)
	if n := testutil.CollectAndCount(probeSuccess); n != 0 {
		t.Errorf("%d success series after the Policy is no longer probed, want 0", n)
	}
}

// kindLog is eventLog that also records the kind of each Event's object.
type kindLog struct {
	eventLog
	kinds []string
}

func (l *kindLog) Eventf(regarding, related runtime.Object, eventtype, reason, action, note string, args ...any) {
	l.kinds = append(l.kinds, regarding.GetObjectKind().GroupVersionKind().Kind)
	l.eventLog.Eventf(regarding, related, eventtype, reason, action, note, args...)
}

func (l *kindLog) take() []string {
	l.kinds = l.kinds[len(l.kinds)-len(l.eventLog.events):]
	return l.eventLog.take()
}

// TestProbeReportCutOff: a Policy whose targets the cycle did not reach keeps its last outcome
// (no HandshakeFailed, success stays 1, its series stay).
func TestProbeReportCutOff(t *testing.T) {
	pol := []byte(`{"apiVersion":"k8s.nginx.org/v1","kind":"Policy","metadata":{"name":"cut","namespace":"probe-cut","uid":"u3"}}`)
	events := &kindLog{}
	loop := &ProbeLoop{Objects: objects.NewObjectSet("", pol), Events: events}
	target := &probe.Target{Policy: "Policy/probe-cut/cut", Service: "Service/probe-cut/aigw", Endpoints: []string{"10.0.0.1:8443"}}
	ctx := context.Background()
	loop.report(ctx, []probe.Result{{Target: target, Endpoint: "10.0.0.1:8443", Summary: "serves CN=aigw"}})
	events.take()
	loop.report(ctx, []probe.Result{{Target: target, Endpoint: "10.0.0.1:8443", CutOff: true}})
	if got := events.take(); len(got) != 0 {
		t.Errorf("cut-off cycle: events %q, want none", got)
	}
	if v := testutil.ToFloat64(probeSuccess.WithLabelValues("probe-cut", "Policy", "cut")); v != 1 {
		t.Errorf("success %v after a cut-off cycle, want the last outcome 1", v)
	}
	loop.report(ctx, nil)
}

// TestProbeReportEventCap: a Policy with many problems gets at most maxProbeEventsPerPolicy
// HandshakeFailed Events and one saying how many more.
func TestProbeReportEventCap(t *testing.T) {
	pol := []byte(`{"apiVersion":"k8s.nginx.org/v1","kind":"Policy","metadata":{"name":"many","namespace":"probe-many","uid":"u4"}}`)
	events := &kindLog{}
	loop := &ProbeLoop{Objects: objects.NewObjectSet("", pol), Events: events}
	target := &probe.Target{Policy: "Policy/probe-many/many", Service: "Service/probe-many/aigw"}
	ctx := context.Background()
	var bad []probe.Result
	for i := range 20 {
		ep := fmt.Sprintf("10.0.0.%d:8443", i+1)
		f := rules.ProbeUnreachable.New(rules.Finding{Object: target.Policy, Field: "endpoint " + ep, Found: "refused"})
		bad = append(bad, probe.Result{Target: target, Endpoint: ep, Findings: rules.Findings{f}})
	}
	loop.report(ctx, bad)
	got := events.take()
	if len(got) != maxProbeEventsPerPolicy+1 || !strings.Contains(got[len(got)-1], fmt.Sprintf("and %d more", 20-maxProbeEventsPerPolicy)) {
		t.Errorf("20 problems: %d events %q, want %d and one saying %d more", len(got), got, maxProbeEventsPerPolicy+1, 20-maxProbeEventsPerPolicy)
	}
	loop.report(ctx, nil)
}

// TestProbeListByteBudget: the VirtualServers and Ingresses a cycle keeps stop at
// maxProbedListBytes, and the cycle says what it left unread.
func TestProbeListByteBudget(t *testing.T) {
	c := &probeCluster{}
	var out [][]byte
	item := []byte(`{"metadata":{"name":"vs","namespace":"ai"},"spec":{"upstreams":[],"x":"` + strings.Repeat("a", 1<<20-64) + `"}}`)
	n := 0
	for c.keep("VirtualServer", &out, item, probe.TrimVirtualServer) {
		n++
		if n > 1000 {
			t.Fatal("no byte budget")
		}
	}
	if len(out) > 0 && len(out[0]) > 1024 {
		t.Errorf("kept %d bytes of a VirtualServer, want the trimmed part the probe reads", len(out[0]))
	}
	if c.listBytes > maxProbedListBytes || len(out) < maxProbedListBytes>>20-1 || len(out) > maxProbedListBytes>>20 || len(c.notRead) != 1 || !strings.Contains(c.notRead[0], "VirtualServer") {
		t.Errorf("kept %d items (%d bytes), not read %q; want about %d items within %d bytes and one line", len(out), c.listBytes, c.notRead, maxProbedListBytes>>20, maxProbedListBytes)
	}
}

// TestProbeOptionsRefuseNonPositiveBounds: serve refuses a probe bound of 0 or less with the same
// check check --probe makes (probe.Limits.Validate).
func TestProbeOptionsRefuseNonPositiveBounds(t *testing.T) {
	for _, mod := range []func(*ProbeOptions){func(o *ProbeOptions) { o.MaxTargets = 0 }, func(o *ProbeOptions) { o.MaxEndpoints = -1 }, func(o *ProbeOptions) { o.Interval = 0 }} {
		o := DefaultProbeOptions()
		o.Enabled = true
		mod(&o)
		if err := o.validate(); err == nil || !strings.Contains(err.Error(), "must be positive") {
			t.Errorf("%+v: %v, want refused", o, err)
		}
	}
	o := DefaultProbeOptions()
	o.Enabled = true
	if err := o.validate(); err != nil {
		t.Errorf("defaults refused: %v", err)
	}
}
