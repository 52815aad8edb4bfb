package probe

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/aigw-mtls/aigw-mtls-webhook/internal/checker"
	"github.com/aigw-mtls/aigw-mtls-webhook/internal/rules"
)

const sslName = "aigw.ai-gateway.svc"

// standIn is what one aigw stand-in serves.
type standIn struct {
	served     *cert // the certificate aigw loaded
	clientAuth tls.ClientAuthType
	clientCA   *cert // the CA aigw trusts for clients
	plain      bool  // a plain-HTTP listener instead of TLS
	maxVersion uint16
	sni        *sniLog
}

type sniLog struct {
	mu    sync.Mutex
	names []string
}

func (l *sniLog) add(n string) { l.mu.Lock(); l.names = append(l.names, n); l.mu.Unlock() }

func (l *sniLog) all() []string { l.mu.Lock(); defer l.mu.Unlock(); return slices.Clone(l.names) }

func (s standIn) serve(t *testing.T, ln net.Listener) {
	hello := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("aigw\n")) })
	// The stand-in refusing the probe's empty client certificate is expected: not logged.
	srv := &http.Server{Handler: hello, ReadHeaderTimeout: 5 * time.Second, ErrorLog: log.New(io.Discard, "", 0)}
	t.Cleanup(func() { _ = srv.Close() })
	if s.plain {
		go func() { _ = srv.Serve(ln) }()
		return
	}
	pool := x509.NewCertPool()
	if s.clientCA != nil {
		pool.AddCert(s.clientCA.x509)
	}
	cfg := &tls.Config{Certificates: []tls.Certificate{s.served.tls()}, ClientAuth: s.clientAuth, ClientCAs: pool, MaxVersion: s.maxVersion,
		GetConfigForClient: func(h *tls.ClientHelloInfo) (*tls.Config, error) { s.sni.add(h.ServerName); return nil, nil }}
	go func() { _ = srv.Serve(tls.NewListener(ln, cfg)) }()
}

// TestProbeNamesEachFailure: for each way the hop breaks outside the objects, the probe (through
// check --probe) names it with its rule, and a healthy hop is ✓.
func TestProbeNamesEachFailure(t *testing.T) {
	n, err := newNetns()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := n.delete(); err != nil {
			t.Error(err)
		}
	})
	now := time.Now()
	day := 24 * time.Hour
	ca := issue(t, "aigw-ca", nil, true, nil, 0, now.Add(-365*day), now.Add(365*day))
	otherCA := issue(t, "other-ca", nil, true, nil, 0, now.Add(-day), now.Add(365*day))
	client := issue(t, "nic-client", ca, false, nil, x509.ExtKeyUsageClientAuth, now.Add(-day), now.Add(90*day))
	server := func(names ...string) *cert {
		return issue(t, "aigw", ca, false, names, x509.ExtKeyUsageServerAuth, now.Add(-day), now.Add(90*day))
	}
	loaded, renewed := server(sslName), server(sslName)
	otherHost := server("other.example")
	expired := issue(t, "aigw", ca, false, []string{sslName}, x509.ExtKeyUsageServerAuth, now.Add(-90*day), now.Add(-day))
	require := tls.RequireAndVerifyClientCert

	cases := []struct {
		name     string
		stand    standIn
		secret   *cert // tls.crt of aigw-server-tls
		notReady bool
		closed   bool   // the endpoint's port has no listener
		via      string // what sends to aigw: a VirtualServer (""), an Ingress (nginx.org/ssl-services, a named port), a BackendTLSPolicy (NGF)
		want     []rules.ID
	}{
		{name: "healthy", stand: standIn{served: loaded, clientAuth: require, clientCA: ca}, secret: loaded},
		{name: "not-reloaded", stand: standIn{served: loaded, clientAuth: require, clientCA: ca}, secret: renewed, want: []rules.ID{rules.ProbeStaleServerCert.ID}},
		{name: "no-client-cert-request", stand: standIn{served: loaded, clientAuth: tls.NoClientCert}, secret: loaded, want: []rules.ID{rules.ProbeNoClientCertRequest.ID}},
		{name: "other-client-ca", stand: standIn{served: loaded, clientAuth: require, clientCA: otherCA}, secret: loaded, want: []rules.ID{rules.ProbeClientCANotAccepted.ID}},
		{name: "wrong-host", stand: standIn{served: otherHost, clientAuth: require, clientCA: ca}, secret: otherHost, want: []rules.ID{rules.PolicySSLNameNotInSAN.ID}},
		{name: "expired", stand: standIn{served: expired, clientAuth: require, clientCA: ca}, secret: expired, want: []rules.ID{rules.ServerCertExpired.ID}},
		{name: "tls11-only", stand: standIn{served: loaded, clientAuth: require, clientCA: ca, maxVersion: tls.VersionTLS11}, secret: loaded, want: []rules.ID{rules.ProbeHandshakeFailed.ID}},
		{name: "plain-http", stand: standIn{plain: true}, secret: loaded, want: []rules.ID{rules.ProbeNotTLS.ID}},
		{name: "no-ready-endpoint", stand: standIn{served: loaded, clientAuth: require, clientCA: ca}, secret: loaded, notReady: true, want: []rules.ID{rules.ProbeNoReadyEndpoint.ID}},
		{name: "refused", secret: loaded, closed: true, want: []rules.ID{rules.ProbeUnreachable.ID}},
		{name: "ingress-not-reloaded", stand: standIn{served: loaded, clientAuth: require, clientCA: ca}, secret: renewed, via: "ingress", want: []rules.ID{rules.ProbeStaleServerCert.ID}},
		{name: "backendtlspolicy-not-reloaded", stand: standIn{served: loaded, clientAuth: require, clientCA: ca}, secret: renewed, via: "btp", want: []rules.ID{rules.ProbeStaleServerCert.ID}},
		{name: "backendtlspolicy-wrong-host", stand: standIn{served: otherHost, clientAuth: require, clientCA: ca}, secret: otherHost, via: "btp", want: []rules.ID{rules.BTPHostnameNotInSAN.ID}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			ln, err := n.listen()
			if err != nil {
				t.Fatal(err)
			}
			port := ln.Addr().(*net.TCPAddr).Port
			if !strings.HasPrefix(ln.Addr().String(), n.ip+":") {
				t.Fatalf("listening on %s, expected the namespace's address %s", ln.Addr(), n.ip)
			}
			tc.stand.sni = &sniLog{}
			if tc.closed {
				_ = ln.Close()
			} else {
				tc.stand.serve(t, ln)
			}
			ns := "probe-" + tc.name
			apply(t, ctx, ns, n.ip, port, tc.notReady, tc.via, ca, client, tc.secret)

			o := checker.DefaultOptions()
			o.Namespace = ns
			o.Probe.Enabled = true
			report, err := checker.Run(ctx, kube, o)
			if err != nil {
				t.Fatal(err)
			}
			var got []rules.ID
			var lines []string
			for _, c := range report.Checks {
				if c.Section != checker.SectionProbe {
					continue
				}
				lines = append(lines, fmt.Sprintf("%s %s: %s", c.Status, c.Object, c.Message))
				if c.Status != checker.StatusOK {
					got = append(got, c.Rule)
				}
			}
			if len(lines) == 0 {
				t.Fatalf("no probe line in the report")
			}
			if !slices.Equal(got, tc.want) {
				t.Fatalf("probe rules %v, want %v; lines:\n%s", got, tc.want, strings.Join(lines, "\n"))
			}
			endpoint := net.JoinHostPort(n.ip, strconv.Itoa(port))
			if !tc.notReady && !strings.Contains(strings.Join(lines, "\n"), endpoint) {
				t.Errorf("the lines do not name the endpoint %s:\n%s", endpoint, strings.Join(lines, "\n"))
			}
			if tc.name == "healthy" {
				if len(lines) != 1 || !strings.Contains(lines[0], "asks for a client certificate from [CN=aigw-ca]") {
					t.Errorf("healthy hop: want one ✓ line naming the client CA, got:\n%s", strings.Join(lines, "\n"))
				}
				if sni := tc.stand.sni.all(); len(sni) == 0 || sni[0] != sslName {
					t.Errorf("the stand-in received SNI %q, want %q (serverName: true)", sni, sslName)
				}
			}
			if tc.name == "not-reloaded" && !strings.Contains(lines[0], "it has not reloaded") {
				t.Errorf("the finding does not say aigw has not reloaded: %s", lines[0])
			}
			t.Logf("probe:\n%s", strings.Join(lines, "\n"))
		})
	}
}

// apply writes one hop in ns: the PKI Secrets, the labelled EgressMTLS Policy and VirtualServer,
// the aigw Service and its EndpointSlice with the stand-in's address.
func apply(t *testing.T, ctx context.Context, ns, ip string, port int, notReady bool, via string, ca, nicClient, server *cert) {
	t.Helper()
	label := map[string]string{"aigw": "mtls"}
	objs := []client.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "internal-ca", Namespace: ns, Labels: label}, Type: "nginx.org/ca",
			Data: map[string][]byte{"ca.crt": ca.pem()}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "aigw-server-tls", Namespace: ns, Labels: label}, Type: corev1.SecretTypeTLS,
			Data: map[string][]byte{"tls.crt": server.pem(), "tls.key": server.keyPEM(t)}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "aigw-nic-client-tls", Namespace: ns, Labels: label}, Type: corev1.SecretTypeTLS,
			Data: map[string][]byte{"tls.crt": nicClient.pem(), "tls.key": nicClient.keyPEM(t)}},
		&corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "aigw", Namespace: ns},
			Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "aigw"}, Ports: []corev1.ServicePort{{Name: "https", Port: 8443, TargetPort: intstr.FromInt(port)}}}},
	}
	ready := !notReady
	name, proto, p32 := "https", corev1.ProtocolTCP, int32(port)
	objs = append(objs, &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Name: "aigw-1", Namespace: ns, Labels: map[string]string{discoveryv1.LabelServiceName: "aigw"}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints:   []discoveryv1.Endpoint{{Addresses: []string{ip}, Conditions: discoveryv1.EndpointConditions{Ready: &ready}}},
		Ports:       []discoveryv1.EndpointPort{{Name: &name, Protocol: &proto, Port: &p32}},
	})
	objs = append(objs, custom("Policy", ns, map[string]any{"egressMTLS": map[string]any{
		"tlsSecret": "aigw-nic-client-tls", "trustedCertSecret": "internal-ca", "verifyServer": true, "verifyDepth": int64(1),
		"sslName": sslName, "serverName": true, "protocols": "TLSv1.2 TLSv1.3"}}))
	switch via {
	case "btp":
		objs = append(objs, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "internal-ca", Namespace: ns, Labels: label}, Data: map[string]string{"ca.crt": string(ca.pem())}})
		btp := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "gateway.networking.k8s.io/v1", "kind": "BackendTLSPolicy",
			"metadata": map[string]any{"name": "aigw-mtls", "namespace": ns, "labels": map[string]any{"aigw": "mtls"}},
			"spec": map[string]any{
				"targetRefs": []any{map[string]any{"group": "", "kind": "Service", "name": "aigw", "sectionName": "https"}},
				"validation": map[string]any{"hostname": sslName, "caCertificateRefs": []any{map[string]any{"group": "", "kind": "ConfigMap", "name": "internal-ca"}}},
			}}}
		objs = append(objs, btp)
	case "ingress":
		prefix := networkingv1.PathTypePrefix
		objs = append(objs, &networkingv1.Ingress{ObjectMeta: metav1.ObjectMeta{Name: "ai", Namespace: ns, Labels: label,
			Annotations: map[string]string{"nginx.org/policies": "aigw-mtls", "nginx.org/ssl-services": "aigw"}},
			Spec: networkingv1.IngressSpec{Rules: []networkingv1.IngressRule{{Host: "ai.example.com", IngressRuleValue: networkingv1.IngressRuleValue{
				HTTP: &networkingv1.HTTPIngressRuleValue{Paths: []networkingv1.HTTPIngressPath{{Path: "/", PathType: &prefix,
					Backend: networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{Name: "aigw", Port: networkingv1.ServiceBackendPort{Name: "https"}}}}}}}}}}})
	default:
		objs = append(objs, custom("VirtualServer", ns, map[string]any{
			"host":      "ai.example.com",
			"policies":  []any{map[string]any{"name": "aigw-mtls"}},
			"upstreams": []any{map[string]any{"name": "aigw", "service": "aigw", "port": int64(8443), "tls": map[string]any{"enable": true}}},
			"routes":    []any{map[string]any{"path": "/", "action": map[string]any{"pass": "aigw"}}},
		}))
	}
	for _, o := range objs {
		if err := kube.Create(ctx, o); err != nil {
			t.Fatalf("creating %T %s: %v", o, o.GetName(), err)
		}
	}
}

func custom(kind, ns string, spec map[string]any) *unstructured.Unstructured {
	name := "aigw-mtls"
	if kind == "VirtualServer" {
		name = "ai"
	}
	u := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "k8s.nginx.org/v1", "kind": kind,
		"metadata": map[string]any{"name": name, "namespace": ns, "labels": map[string]any{"aigw": "mtls"}}, "spec": spec}}
	return u
}
