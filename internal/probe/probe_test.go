package probe

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/aigw-mtls/aigw-mtls-webhook/internal/aigw"
	"github.com/aigw-mtls/aigw-mtls-webhook/internal/objects"
	"github.com/aigw-mtls/aigw-mtls-webhook/internal/rules"
)

func TestVersions(t *testing.T) {
	for _, tc := range []struct {
		in     string
		lo, hi uint16
		ok     bool
	}{
		{"TLSv1.2 TLSv1.3", tls.VersionTLS12, tls.VersionTLS13, true},
		{"TLSv1 TLSv1.1 TLSv1.2", tls.VersionTLS10, tls.VersionTLS12, true},
		{"tlsv1.3", tls.VersionTLS13, tls.VersionTLS13, true},
		{"SSLv3", 0, 0, false},
	} {
		lo, hi, ok := Versions(tc.in)
		if lo != tc.lo || hi != tc.hi || ok != tc.ok {
			t.Errorf("Versions(%q) = %x %x %v, want %x %x %v", tc.in, lo, hi, ok, tc.lo, tc.hi, tc.ok)
		}
	}
}

// cluster is an in-memory Cluster.
type cluster struct {
	*objects.ObjectSet
	vss      [][]byte
	ings     [][]byte
	btps     [][]byte
	services map[string]*corev1.Service
	slices   map[string][]discoveryv1.EndpointSlice
}

func (c *cluster) VirtualServers() [][]byte     { return c.vss }
func (c *cluster) Ingresses() [][]byte          { return c.ings }
func (c *cluster) BackendTLSPolicies() [][]byte { return c.btps }
func (c *cluster) Service(ns, name string) *corev1.Service {
	return c.services[ns+"/"+name]
}
func (c *cluster) EndpointSlices(ns, svc string) []discoveryv1.EndpointSlice {
	return c.slices[ns+"/"+svc]
}

func js(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func policy(t *testing.T, name string, labelled bool) []byte {
	labels := map[string]string{}
	if labelled {
		labels["aigw"] = "mtls"
	}
	return js(t, map[string]any{"apiVersion": "k8s.nginx.org/v1", "kind": "Policy",
		"metadata": map[string]any{"name": name, "namespace": "ai", "labels": labels},
		"spec": map[string]any{"egressMTLS": map[string]any{"tlsSecret": "aigw-nic-client-tls", "trustedCertSecret": "internal-ca",
			"verifyServer": true, "sslName": "aigw.ai.svc", "protocols": "TLSv1.3"}}})
}

func newCluster(t *testing.T, ready, notReady int) *cluster {
	key := "-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEI\n-----END EC PRIVATE KEY-----\n"
	c := &cluster{ObjectSet: objects.NewObjectSet("ai",
		policy(t, "aigw-mtls", true), policy(t, "unlabelled", false),
		js(t, map[string]any{"apiVersion": "v1", "kind": "Secret", "metadata": map[string]any{"name": "aigw-server-tls", "namespace": "ai"},
			"data": map[string][]byte{"tls.key": []byte(key)}})),
		services: map[string]*corev1.Service{
			"ai/aigw":  {Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "https", Port: 443}}}},
			"ai/other": {Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Port: 80}}}},
		},
		slices: map[string][]discoveryv1.EndpointSlice{},
	}
	name, port := "https", int32(8443)
	var eps []discoveryv1.Endpoint
	for i := range ready + notReady {
		r := i < ready
		eps = append(eps, discoveryv1.Endpoint{Addresses: []string{fmt.Sprintf("10.0.1.%d", i+1)}, Conditions: discoveryv1.EndpointConditions{Ready: &r}})
	}
	c.slices["ai/aigw"] = []discoveryv1.EndpointSlice{{ObjectMeta: metav1.ObjectMeta{Name: "s"}, Endpoints: eps, Ports: []discoveryv1.EndpointPort{{Name: &name, Port: &port}}}}
	c.vss = [][]byte{js(t, map[string]any{"metadata": map[string]any{"name": "vs", "namespace": "ai"}, "spec": map[string]any{
		"upstreams": []any{
			map[string]any{"name": "gw", "service": "aigw", "port": 443, "tls": map[string]any{"enable": true}},
			map[string]any{"name": "plain", "service": "other", "port": 80},
		},
		"routes": []any{
			map[string]any{"path": "/", "policies": []any{map[string]any{"name": "aigw-mtls"}, map[string]any{"name": "unlabelled"}},
				"splits": []any{map[string]any{"weight": 100, "action": map[string]any{"pass": "gw"}}}},
			map[string]any{"path": "/plain", "policies": []any{map[string]any{"name": "aigw-mtls"}}, "action": map[string]any{"pass": "plain"}},
		}}})}
	return c
}

// TestTargets: a route's labelled Policy is paired with the TLS upstream its split passes to (not
// the plain one, not for the unlabelled Policy), with the ready endpoints on the Service port's
// endpoint port, at most maxEndpoints of them.
func TestTargets(t *testing.T) {
	ts := Targets(context.Background(), newCluster(t, 5, 2), aigw.DefaultSettings(), Limits{MaxEndpoints: 3}, time.Now()).Targets
	if len(ts) != 1 {
		t.Fatalf("%d targets, want 1: %+v", len(ts), ts)
	}
	tg := ts[0]
	if tg.Policy != "Policy/ai/aigw-mtls" || tg.Service != "Service/ai/aigw" || tg.Port != 443 {
		t.Errorf("target %s %s %d", tg.Policy, tg.Service, tg.Port)
	}
	if want := []string{"10.0.1.1:8443", "10.0.1.2:8443", "10.0.1.3:8443"}; !reflect.DeepEqual(tg.Endpoints, want) || tg.Skipped != 2 {
		t.Errorf("endpoints %v (skipped %d), want %v (skipped 2)", tg.Endpoints, tg.Skipped, want)
	}
	if tg.SNI != "" || tg.SSLName != "aigw.ai.svc" || tg.MinVersion != tls.VersionTLS13 {
		t.Errorf("SNI %q sslName %q min %x: serverName unset sends no SNI, the host check uses sslName", tg.SNI, tg.SSLName, tg.MinVersion)
	}
	c := newCluster(t, 1, 0)
	c.vss = nil
	c.ings = [][]byte{js(t, map[string]any{"metadata": map[string]any{"name": "ing", "namespace": "ai", "annotations": map[string]string{
		"nginx.org/policies": "aigw-mtls", "nginx.org/ssl-services": "aigw"}},
		"spec": map[string]any{"rules": []any{map[string]any{"http": map[string]any{"paths": []any{
			map[string]any{"path": "/", "backend": map[string]any{"service": map[string]any{"name": "aigw", "port": map[string]any{"name": "https"}}}},
			map[string]any{"path": "/plain", "backend": map[string]any{"service": map[string]any{"name": "other", "port": map[string]any{"number": 80}}}},
		}}}}}})}
	if ts := Targets(context.Background(), c, aigw.DefaultSettings(), Limits{MaxEndpoints: 3}, time.Now()).Targets; len(ts) != 1 || ts[0].Service != "Service/ai/aigw" || ts[0].Port != 443 || len(ts[0].Endpoints) != 1 {
		t.Errorf("Ingress: targets %+v, want the ssl-services backend aigw, its port named https (443)", ts)
	}
	if none := Targets(context.Background(), newCluster(t, 0, 2), aigw.DefaultSettings(), Limits{MaxEndpoints: 3}, time.Now()).Targets[0]; len(none.Endpoints) != 0 || !strings.Contains(none.NoEndpoint, "no ready endpoint") {
		t.Errorf("without ready endpoints: %v, %q", none.Endpoints, none.NoEndpoint)
	}
}

// TestTargetsHoldNoPrivateKey: a Secret served with a private key (which the caches never do) still
// gives the probe nothing but certificates: a Target has no field a key could sit in.
func TestTargetsHoldNoPrivateKey(t *testing.T) {
	ts := Targets(context.Background(), newCluster(t, 1, 0), aigw.DefaultSettings(), Limits{MaxEndpoints: 3}, time.Now()).Targets
	if len(ts) == 0 {
		t.Fatal("no target")
	}
	var walk func(path string, v reflect.Value)
	walk = func(path string, v reflect.Value) {
		switch v.Kind() {
		case reflect.Pointer, reflect.Interface:
			if !v.IsNil() {
				walk(path, v.Elem())
			}
		case reflect.Struct:
			if v.Type().String() == "x509.Certificate" {
				return // a parsed certificate: public data only
			}
			for i := range v.NumField() {
				walk(path+"."+v.Type().Field(i).Name, v.Field(i))
			}
		case reflect.Slice, reflect.Array:
			if v.Type().Elem().Kind() == reflect.Uint8 && strings.Contains(string(v.Bytes()), "PRIVATE KEY") {
				t.Errorf("%s holds a private key", path)
			}
			for i := range v.Len() {
				walk(fmt.Sprintf("%s[%d]", path, i), v.Index(i))
			}
		case reflect.String:
			if strings.Contains(v.String(), "PRIVATE KEY") {
				t.Errorf("%s holds a private key", path)
			}
		}
	}
	walk("Target", reflect.ValueOf(ts[0]))
	if ts[0].Secret != nil {
		t.Errorf("a Secret without tls.crt gave certificates: %v", ts[0].Secret)
	}
}

// TestRunBounds: at most MaxConcurrent handshakes are in flight, and an endpoint that accepts but
// never answers is reported once the dial timeout has passed.
func TestRunBounds(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var accepted atomic.Int32
	var wg sync.WaitGroup
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted.Add(1)
			wg.Go(func() {
				_, _ = io.Copy(io.Discard, c) // never answers: until the probe gives up
				_ = c.Close()
			})
		}
	}()
	tg := Target{Policy: "Policy/ai/p", Service: "Service/ai/aigw"}
	for range 6 {
		tg.Endpoints = append(tg.Endpoints, ln.Addr().String())
	}
	done := make(chan []Result)
	go func() {
		done <- Run(context.Background(), []Target{tg}, Options{DialTimeout: time.Second, MaxConcurrent: 2})
	}()
	// Halfway through the first handshakes' timeout, only the first two have connected.
	time.Sleep(500 * time.Millisecond)
	if n := accepted.Load(); n > 2 {
		t.Errorf("%d connections before the first handshakes timed out, want at most 2 (MaxConcurrent)", n)
	}
	res := <-done
	wg.Wait()
	if n := accepted.Load(); n != 6 {
		t.Errorf("%d connections in all, want 6", n)
	}
	if len(res) != 6 {
		t.Fatalf("%d results, want 6", len(res))
	}
	for _, r := range res {
		if len(r.Findings) != 1 || r.Findings[0].Rule != rules.ProbeHandshakeFailed.ID || !strings.Contains(r.Findings[0].Found, "timeout") && !strings.Contains(r.Findings[0].Found, "deadline") {
			t.Errorf("%s: %v, want one %s naming the timeout", r.Endpoint, r.Findings, rules.ProbeHandshakeFailed.ID)
		}
	}
}
